package cli

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// scopedResult is what `livectl group leaf` resolved.
type scopedResult struct {
	Rate   int
	Target string
	Output string
	Code   int
	Stderr string
}

// resolveScoped runs `livectl group leaf [args]` in dir, on a tree where
// group declares --target for its subcommands, leaf has --rate (and the
// hidden --child of bench generators) and a sibling command other has
// --rate too.
func resolveScoped(t *testing.T, dir string, env map[string]string, args ...string) scopedResult {
	t.Helper()
	var r scopedResult
	group := &cobra.Command{Use: "group"}
	group.PersistentFlags().StringVar(&r.Target, "target", "default-target", "")
	leaf := &cobra.Command{Use: "leaf", RunE: func(*cobra.Command, []string) error { return nil }}
	leaf.Flags().IntVar(&r.Rate, "rate", 100, "")
	addBenchHiddenFlags(leaf.Flags(), &benchHidden{})
	group.AddCommand(leaf)
	other := &cobra.Command{Use: "other", RunE: func(*cobra.Command, []string) error { return nil }}
	other.Flags().Int("rate", 1, "")
	f, code, stderr := executeIn(t, dir, env, []*cobra.Command{group, other}, append([]string{"group", "leaf"}, args...))
	r.Code, r.Output, r.Stderr = code, f.Globals.Output, stderr
	return r
}

func TestScopedConfigKeys(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		env     map[string]string
		args    []string
		rate    int
		target  string
		output  string
		warnKey string // the scoped key a warning must name; "" for no warning
	}{
		{name: "scoped key", file: "group:\n  leaf:\n    rate: 5\n", rate: 5},
		{name: "dotted scoped key", file: "group.leaf.rate: 8\n", rate: 8},
		{name: "flat key still works, with a warning", file: "rate: 6\n", rate: 6, warnKey: "group.leaf.rate"},
		{name: "scoped key beats flat key", file: "rate: 6\ngroup:\n  leaf:\n    rate: 7\n", rate: 7},
		{name: "another command's key is not this one's", file: "other:\n  rate: 9\n", rate: 100},
		{name: "enclosing command's key for its persistent flag", file: "group:\n  target: t1\n", rate: 100, target: "t1"},
		{name: "own key beats the enclosing command's", file: "group:\n  target: t1\n  leaf:\n    target: t2\n", rate: 100, target: "t2"},
		{name: "flat persistent flag warns with the most specific key", file: "target: t3\n", rate: 100, target: "t3", warnKey: "group.leaf.target"},
		{name: "global flags stay flat, without a warning", file: "output: json\n", rate: 100, output: "json"},
		{name: "environment beats scoped key", file: "group:\n  leaf:\n    rate: 5\n", env: map[string]string{"LIVECTL_RATE": "3"}, rate: 3},
		{name: "flag beats scoped key", file: "group:\n  leaf:\n    rate: 5\n", args: []string{"--rate", "4"}, rate: 4},
		{name: "flat key overridden is not warned about", file: "rate: 6\n", args: []string{"--rate", "4"}, rate: 4},
		{name: "quiet silences the warning", file: "rate: 6\nquiet: true\n", rate: 6},
		{name: "a --procs child does not repeat the warning", file: "rate: 6\n", args: []string{"--child"}, rate: 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir, DefaultConfigFile, tt.file)
			r := resolveScoped(t, dir, tt.env, tt.args...)
			if r.Code != ExitOK {
				t.Fatalf("exit %d, stderr: %s", r.Code, r.Stderr)
			}
			target, output := tt.target, tt.output
			if target == "" {
				target = "default-target"
			}
			if output == "" {
				output = "table"
			}
			if r.Rate != tt.rate || r.Target != target || r.Output != output {
				t.Errorf("rate %d target %q output %q, want %d %q %q", r.Rate, r.Target, r.Output, tt.rate, target, output)
			}
			if warned := strings.Contains(r.Stderr, "warning:"); warned != (tt.warnKey != "") || warned && !strings.Contains(r.Stderr, `"`+tt.warnKey+`"`) {
				t.Errorf("stderr %q, want a warning (%v) naming %q", r.Stderr, tt.warnKey != "", tt.warnKey)
			}
		})
	}
}

func TestScopedConfigKeyErrors(t *testing.T) {
	tests := []struct {
		name     string
		file     string
		contains []string
	}{
		{"bad value names the scoped key", "group:\n  leaf:\n    rate: fast\n", []string{`config key "group.leaf.rate"`, "fast", "--rate"}},
		{"bad value from a flat key names it", "rate: fast\n", []string{`config key "rate"`, "fast"}},
		{"no such flag in that command", "group:\n  leaf:\n    rat: 1\n", []string{`config key "group.leaf.rat"`, "not a flag"}},
		{"a flag of another command", "other:\n  target: x\n", []string{`config key "other.target"`}},
		{"global flags are not scoped", "group:\n  leaf:\n    output: json\n", []string{`config key "group.leaf.output"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir, DefaultConfigFile, tt.file)
			r := resolveScoped(t, dir, nil)
			if r.Code != ExitUsage {
				t.Fatalf("exit %d, want %d; stderr: %s", r.Code, ExitUsage, r.Stderr)
			}
			for _, c := range tt.contains {
				if !strings.Contains(r.Stderr, c) {
					t.Errorf("stderr %q does not mention %q", r.Stderr, c)
				}
			}
		})
	}
}
