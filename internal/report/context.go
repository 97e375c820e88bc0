package report

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"sort"
	"time"
)

// Envelope is what every report of a run (bench signal, bench media,
// probe) carries besides its figures: where, when and how it was made, and
// the outcome of its --assert thresholds. A report embeds it, so its
// fields sit at the report's top level.
type Envelope struct {
	Context    *Context    `json:"context,omitempty"`
	Assertions []Assertion `json:"assertions,omitempty"`
}

// Env returns e: the one accessor every embedding report shares (the
// embedded field itself is named Envelope).
func (e *Envelope) Env() *Envelope { return e }

// Context says where, when and how a run was made, so that a report file
// read later (compared, merged, gated on) says what it measured.
type Context struct {
	Start   time.Time `json:"start"`
	End     time.Time `json:"end"`
	Version string    `json:"version"`
	Commit  string    `json:"commit,omitempty"`
	Host    string    `json:"host"`
	CPUs    int       `json:"cpus"`
	Target  string    `json:"target"`
	// Settings are the run's full options as JSON (credentials redacted
	// by the caller).
	Settings map[string]any `json:"settings,omitempty"`
}

// NewContext describes a run of target with settings (any value that
// marshals to a JSON object) started at start, on this host.
func NewContext(version, commit, target string, settings any, start time.Time) (*Context, error) {
	host, _ := os.Hostname()
	c := &Context{Start: start.UTC(), Version: version, Commit: commit, Host: host, CPUs: runtime.NumCPU(), Target: target}
	b, err := json.Marshal(settings)
	if err != nil {
		return nil, fmt.Errorf("recording settings: %w", err)
	}
	if err := json.Unmarshal(b, &c.Settings); err != nil {
		return nil, fmt.Errorf("recording settings: %w", err)
	}
	return c, nil
}

// SettingsDiff lists the settings in which a and b differ, as
// "name: A vs B", sorted; keys in ignore (names of one run, such as its
// run id) are left out. A report without a context differs in nothing
// that can be told.
func SettingsDiff(a, b *Context, ignore ...string) []string {
	if a == nil || b == nil {
		return nil
	}
	skip := map[string]bool{}
	for _, k := range ignore {
		skip[k] = true
	}
	keys := map[string]bool{}
	for k := range a.Settings {
		keys[k] = true
	}
	for k := range b.Settings {
		keys[k] = true
	}
	var out []string
	for k := range keys {
		if skip[k] {
			continue
		}
		va, _ := json.Marshal(a.Settings[k])
		vb, _ := json.Marshal(b.Settings[k])
		if string(va) != string(vb) {
			out = append(out, fmt.Sprintf("%s: %s vs %s", k, va, vb))
		}
	}
	if a.Target != b.Target {
		out = append(out, fmt.Sprintf("target: %s vs %s", a.Target, b.Target))
	}
	sort.Strings(out)
	return out
}

// Span is the context of runs merged into one: the first's, over the
// earliest start to the latest end, or nil when none has a context.
func Span(cs ...*Context) *Context {
	var out *Context
	for _, c := range cs {
		if c == nil {
			continue
		}
		if out == nil {
			cp := *c
			out = &cp
			continue
		}
		if c.Start.Before(out.Start) {
			out.Start = c.Start
		}
		if c.End.After(out.End) {
			out.End = c.End
		}
	}
	return out
}

// Assertion is the outcome of one --assert threshold in a report.
type Assertion struct {
	Expression string `json:"expression"`
	// Value is the measured value, written like the threshold.
	Value string `json:"value"`
	Pass  bool   `json:"pass"`
}
