package report

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestContextRoundTrip: a report's context written to a file reads back
// the same, and settings differences are named, leaving out volatile keys.
func TestContextRoundTrip(t *testing.T) {
	type settings struct {
		Conns int               `json:"conns"`
		Rate  float64           `json:"rate"`
		RunID string            `json:"run_id"`
		Hdr   map[string]string `json:"header,omitempty"`
	}
	start := time.Date(2026, 12, 7, 4, 0, 0, 0, time.UTC)
	c, err := NewContext("v1.2.3", "abc123", "ws://h/ws", settings{Conns: 100, Rate: 50, RunID: "x", Hdr: map[string]string{"A": "b"}}, start)
	if err != nil {
		t.Fatal(err)
	}
	c.End = start.Add(time.Minute)
	if c.Host == "" || c.CPUs != runtime.NumCPU() || c.Settings["conns"] != float64(100) {
		t.Fatalf("context %+v", c)
	}
	type doc struct {
		Kind string `json:"kind"`
		Envelope
	}
	path := filepath.Join(t.TempDir(), "r.json")
	in := doc{Kind: "signal", Envelope: Envelope{Context: c, Assertions: []Assertion{{Expression: "errors<1", Value: "0", Pass: true}}}}
	if err := WriteJSONFile(path, in); err != nil {
		t.Fatal(err)
	}
	var out doc
	if err := ReadJSONFile(path, &out); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		a, _ := json.Marshal(in)
		b, _ := json.Marshal(out)
		t.Fatalf("round trip:\n%s\n%s", a, b)
	}

	other, _ := NewContext("v1.2.3", "abc123", "ws://h/ws", settings{Conns: 200, Rate: 50, RunID: "y", Hdr: map[string]string{"A": "b"}}, start)
	diff := SettingsDiff(c, other, "run_id")
	if len(diff) != 1 || !strings.Contains(diff[0], "conns: 100 vs 200") {
		t.Errorf("SettingsDiff = %q, want conns only", diff)
	}
	if d := SettingsDiff(c, c); d != nil {
		t.Errorf("a context differs from itself: %q", d)
	}
	if d := SettingsDiff(nil, c); d != nil {
		t.Errorf("a report without context: %q", d)
	}
	later := *c
	later.Start, later.End = c.Start.Add(time.Second), c.End.Add(time.Hour)
	if s := Span(nil, c, &later); !s.Start.Equal(c.Start) || !s.End.Equal(later.End) {
		t.Errorf("Span %v–%v", s.Start, s.End)
	}
}
