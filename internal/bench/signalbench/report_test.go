package signalbench

import (
	"bytes"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/livectl/livectl/internal/bench"
	"github.com/livectl/livectl/internal/metrics/hist"

	"github.com/livectl/livectl/internal/metrics/threshold"
	"github.com/livectl/livectl/internal/report"
	"github.com/livectl/livectl/internal/server"
)

func runOnce(t *testing.T, wsURL string, conns int, offset int) *Report {
	t.Helper()
	rep := runSignal(t, Options{URL: wsURL, Conns: conns, Rate: 2000, Duration: 200 * time.Millisecond,
		PingInterval: 50 * time.Millisecond, Offset: offset, RunID: "merge"})
	return rep
}

// Two halves written to files and merged count exactly what one run of the
// whole counts, and their histograms merge exactly.
func TestMergeOfFilesEqualsOneRun(t *testing.T) {
	wsURL, _, _ := startServer(t, server.Config{})
	a, b := runOnce(t, wsURL, 60, 0), runOnce(t, wsURL, 40, 60)
	whole := runOnce(t, wsURL, 100, 0)
	files := throughFiles(t, a, b)
	m, err := files[0].Merge(files[1:]...)
	if err != nil {
		t.Fatal(err)
	}
	if m.Connections.Attempted != whole.Connections.Attempted || m.Connections.Established != whole.Connections.Established ||
		m.Connections.PeakOpen != 100 || m.Runs != 2 {
		t.Errorf("merged connections %+v runs %d, one run %+v", m.Connections, m.Runs, whole.Connections)
	}
	for _, name := range []string{LatConnect, LatJoin, LatSetup} {
		if m.Latency[name].Count != whole.Latency[name].Count {
			t.Errorf("%s: merged count %d, one run %d", name, m.Latency[name].Count, whole.Latency[name].Count)
		}
	}
	// The time series: every attempt and join in some second, in each
	// run and in the merge; open sessions add up where the runs overlap.
	for name, r := range map[string]*Report{"first": a, "second": b, "one run": whole, "merged": m} {
		att, joins := seriesTotals(t, r)
		if att != r.Connections.Attempted || joins != r.Latency[LatJoin].Count {
			t.Errorf("%s: series count %d attempts and %d joins, report %d and %d", name, att, joins, r.Connections.Attempted, r.Latency[LatJoin].Count)
		}
	}
	if b := files[0].Brief().Series; b == nil || len(b.Points) == 0 || b.Points[0].Latency[LatJoin].HDR != "" {
		t.Errorf("brief series %+v: want points without their full distributions", b)
	}
	// Exactness: the merged histogram is what recording both runs' values
	// into one histogram gives.
	for _, name := range LatencyNames {
		h := a.Histograms[name]
		h.Merge(b.Histograms[name])
		if h.Summary() != m.Latency[name] {
			t.Errorf("%s: merged from files %+v, merged in memory %+v", name, m.Latency[name], h.Summary())
		}
	}
}

// throughFiles writes reports as --out does and reads them back.
func throughFiles(t *testing.T, reports ...*Report) []*Report {
	t.Helper()
	dir := t.TempDir()
	var out []*Report
	for i, r := range reports {
		p := filepath.Join(dir, strconv.Itoa(i)+".json")
		if err := report.WriteJSONFile(p, r); err != nil {
			t.Fatal(err)
		}
		var back Report
		if err := report.ReadJSONFile(p, &back); err != nil {
			t.Fatal(err)
		}
		out = append(out, &back)
	}
	return out
}

func TestMergeRefusesReportsWithoutHistograms(t *testing.T) {
	r := &Report{Kind: KindSignal, Latency: map[string]hist0{LatJoin: {Count: 3}}}
	if _, err := r.Merge(); !errors.Is(err, ErrNoHistograms) {
		t.Errorf("err = %v, want ErrNoHistograms", err)
	}
	if _, err := (&Report{Kind: "media"}).Merge(); err == nil {
		t.Error("merged a report of another kind")
	}
}

func TestCompareAndTables(t *testing.T) {
	wsURL, _, _ := startServer(t, server.Config{})
	a, b := runOnce(t, wsURL, 20, 0), runOnce(t, wsURL, 30, 20)
	c := a.Compare(b)
	found := false
	for _, r := range c.Rows {
		if r.Metric == "connections.established" {
			found = true
			if r.A != 20 || r.B != 30 || r.Delta != 10 || r.DeltaPct == nil || *r.DeltaPct != 50 {
				t.Errorf("row %+v", r)
			}
		}
	}
	if !found {
		t.Fatal("no connections.established row")
	}
	var buf bytes.Buffer
	if err := c.WriteTable(&buf, "a.json", "b.json"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "+50.0%") || !strings.Contains(buf.String(), "join.p99_ms") {
		t.Errorf("comparison table:\n%s", buf.String())
	}
	buf.Reset()
	if err := a.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"20 established", "join", "rtt", "errors    none"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, buf.String())
		}
	}
	if strings.Contains(buf.String(), "interrupted") {
		t.Errorf("a whole run's table says interrupted:\n%s", buf.String())
	}
	// A heap that shrank over the ramp (a GC) is not a negative cost.
	a.Server = &ServerCost{Sessions: 20, HeapBytesPerSession: -20325}
	buf.Reset()
	if err := a.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "heap n/a") || strings.Contains(buf.String(), "-20") {
		t.Errorf("negative heap per session shown:\n%s", buf.String())
	}
	a.Server = nil
	// A run stopped early says so in the table too, not only in its JSON.
	a.Interrupted = true
	buf.Reset()
	if err := a.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "interrupted  yes") {
		t.Errorf("an interrupted run's table does not say so:\n%s", buf.String())
	}
}

func TestReportMetricsForAssertions(t *testing.T) {
	r := &Report{
		Connections: Connections{Attempted: 1000, Established: 990, Failed: 10},
		Errors:      map[string]int64{KindTimeout: 7, KindRefused: 3},
		Latency:     map[string]hist0{LatJoin: {Count: 990, P99: 42}},
	}
	exprs, err := threshold.Parse("join.p99<50ms,errors<1.5%,errors.timeout<=7,connections.established>=990,errors<10")
	if err != nil {
		t.Fatal(err)
	}
	if err := threshold.Check(exprs, r.Metrics()); err != nil {
		t.Fatal(err)
	}
	failed := threshold.Failed(threshold.Evaluate(exprs, r.Metrics()))
	if len(failed) != 1 || !strings.HasPrefix(failed[0], "errors<10: FAILED (10)") {
		t.Errorf("failed = %q", failed)
	}
}

type hist0 = hist.Summary

// TestAssertPercentNeedsBase checks which signal metrics take a percentage:
// only counts out of the attempts. A % on a rate, a peak or a latency's
// sample count is refused before the run, naming the metric.
func TestAssertPercentNeedsBase(t *testing.T) {
	tests := []struct {
		expr    string
		refused bool
	}{
		{"errors<1%", false},
		{"errors.timeout<1%", false},
		{"connections.failed<1%", false},
		{"connections.established>=99%", false},
		{"connections.peak_open>=50%", true},
		{"connections.attempted>=50%", true},
		{"rate.connects_per_s>10%", true},
		{"join.count>=90%", true},
		{"connections.peak_open>=50", false},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			exprs, err := threshold.Parse(tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			err = threshold.Check(exprs, (&Report{}).Metrics())
			metric := exprs[0].Metric
			switch {
			case tt.refused && (err == nil || !strings.Contains(err.Error(), metric+" is a plain number")):
				t.Errorf("err = %v, want a refusal naming %s", err, metric)
			case !tt.refused && err != nil:
				t.Errorf("err = %v, want none", err)
			}
		})
	}
}

// seriesTotals sums a report's series: attempts, and joins over the
// steps' join distributions.
func seriesTotals(t *testing.T, r *Report) (attempts, joins int64) {
	t.Helper()
	if r.Series == nil || r.Series.StepS != 1 || len(r.Series.Points) == 0 || len(r.Series.Points) > bench.MaxSeriesPoints {
		t.Fatalf("series %+v", r.Series)
	}
	for _, p := range r.Series.Points {
		attempts += p.Attempts
		joins += p.Latency[LatJoin].Summary.Count
	}
	return attempts, joins
}
