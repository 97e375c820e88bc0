package mediabench

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/livectl/livectl/internal/bench"
	"github.com/livectl/livectl/internal/metrics/threshold"
	"github.com/livectl/livectl/internal/report"
)

// TestAssertLossPct checks the media metrics' units: loss_pct is a
// percentage already (1% and 1 mean one percent), per-subscriber figures
// and total counters have no base and refuse %, and a loss taken over no
// packets never passes.
func TestAssertLossPct(t *testing.T) {
	lossy := &Report{
		Totals:        Totals{Packets: 900, PacketsLost: 100, LossPct: 10},
		PerSubscriber: map[string]Dist{"loss_pct": {Count: 2, Min: 5, Max: 15, Mean: 10}},
	}
	clean := &Report{
		Totals:        Totals{Packets: 1000, LossPct: 0},
		PerSubscriber: map[string]Dist{"loss_pct": {Count: 2}},
	}
	tests := []struct {
		name    string
		expr    string
		rep     *Report
		refused string // Check's error mentions it; empty: accepted
		pass    bool
	}{
		{"10% loss is not under 1%", "loss_pct<1%", lossy, "", false},
		{"10% loss is not under 1", "loss_pct<1", lossy, "", false},
		{"10% loss is under 11%", "loss_pct<11%", lossy, "", true},
		{"no loss is under 1%", "loss_pct<1%", clean, "", true},
		{"no packets is no base", "loss_pct<1%", &Report{}, "", false},
		{"worst subscriber 15%", "loss_pct.max<1%", lossy, "", false},
		{"packets_lost as a share", "packets_lost<5%", lossy, "", false},
		{"packets_lost as a share passes", "packets_lost<20%", lossy, "", true},
		{"bitrate has no base", "bitrate_kbps.min>10%", lossy, "bitrate_kbps.min is a plain number", false},
		{"nacks total has no base", "nacks<1%", lossy, "nacks is a plain number", false},
		{"first_frame.count has no base", "first_frame.count>=90%", lossy, "first_frame.count is a plain number", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exprs, err := threshold.Parse(tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			err = threshold.Check(exprs, (&Report{}).Metrics())
			if tt.refused != "" {
				if err == nil || !strings.Contains(err.Error(), tt.refused) {
					t.Fatalf("Check: err = %v, want mention of %q", err, tt.refused)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r := threshold.Evaluate(exprs, tt.rep.Metrics())[0]; r.Pass != tt.pass {
				t.Errorf("%v: pass = %v, want %v", r, r.Pass, tt.pass)
			}
		})
	}
}

// TestProcsKeepSurvivors checks that bench media --procs keeps the
// subscribers of the children that finished when another fails, counts the
// failure in the report's errors, returns the error with the report, and
// that merging such a report again keeps the failure.
func TestProcsKeepSurvivors(t *testing.T) {
	exe := filepath.Join(t.TempDir(), "child.sh")
	// The second child's options carry an offset; it fails as a child does.
	script := `#!/bin/sh
opts=$(cat)
case "$opts" in
*'"offset":'*) echo '{"error":"opening a UDP socket: boom"}'; exit 4;;
esac
echo '{"report":{"kind":"media","subscribers":{"attempted":1,"ok":1},"errors":{},"results":[{"id":0,"first_frame_ms":12,"phases_ms":{},"packets":10}]}}'
`
	if err := os.WriteFile(exe, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	p, err := NewProcs(exe, Options{WHEP: "http://127.0.0.1:1/whep/r", Subscribers: 2, Rate: 10, StatsURL: "none"}, 2, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := p.Execute(context.Background())
	if rep == nil {
		t.Fatalf("no report: %v", err)
	}
	ces := bench.ChildErrors(err)
	if len(ces) != 1 || ces[0].Child != 2 || ces[0].Exit != "exit status 4" || !strings.Contains(err.Error(), "boom") {
		t.Errorf("err = %v, want child 2's failure (exit status 4, boom)", err)
	}
	again, merr := rep.Merge()
	if merr != nil {
		t.Fatal(merr)
	}
	for name, r := range map[string]*Report{"run": rep, "merged again": again} {
		if r.Subscribers.OK != 1 || r.Errors[bench.KindChildFailed] != 1 || len(r.ErrorDetail) != 1 {
			t.Errorf("%s: subscribers %+v errors %v detail %v; want the survivor's one and child 2's failure", name, r.Subscribers, r.Errors, r.ErrorDetail)
		}
	}
}

// Media reports' series survive the --out file and merge exactly with
// the reports: points of one second add, counts included.
func TestMergeSeriesOfReports(t *testing.T) {
	series := func(bytes int64) *bench.Series {
		return &bench.Series{StartUnix: 50, StepS: 1, Points: []bench.Point{
			{Open: 1, Attempts: 1, Counts: map[string]int64{CountBytes: bytes, CountFreezes: 1}}}}
	}
	dir := t.TempDir()
	var reps []*Report
	for i, b := range []int64{100, 250} {
		path := filepath.Join(dir, "r"+string(rune('0'+i))+".json")
		if err := report.WriteJSONFile(path, &Report{Kind: KindMedia, Series: series(b)}); err != nil {
			t.Fatal(err)
		}
		r := new(Report)
		if err := report.ReadJSONFile(path, r); err != nil {
			t.Fatal(err)
		}
		reps = append(reps, r)
	}
	m, err := reps[0].Merge(reps[1])
	if err != nil {
		t.Fatal(err)
	}
	if s := m.Series; s == nil || len(s.Points) != 1 || s.Points[0].Open != 2 || s.Points[0].Counts[CountBytes] != 350 || s.Points[0].Counts[CountFreezes] != 2 {
		t.Errorf("merged series %+v", m.Series)
	}
}
