package bench

import (
	"fmt"
	"math"
	"strings"
)

// Helpers that bench signal's and bench media's reports share: merging the
// generator's figures and targets, comparing two reports, and formatting
// numbers for tables.

// Add folds the generator figures of run i (numbered from 0) of a merge
// into g: figures of one process (CPU, memory, descriptors, goroutines) add
// up, as the runs went side by side; figures of the machine or of the worst
// moment take the largest; reasons are kept, prefixed with the run.
func (g *Generator) Add(i int, r Generator) {
	g.CPUCoresMax += r.CPUCoresMax
	g.Cores = max(g.Cores, r.Cores)
	g.HostBusyMax = max(g.HostBusyMax, r.HostBusyMax)
	g.OthersCoresAtHostMax = max(g.OthersCoresAtHostMax, r.OthersCoresAtHostMax)
	g.GCPauseMaxMS = max(g.GCPauseMaxMS, r.GCPauseMaxMS)
	g.ScheduleLagMaxMS = max(g.ScheduleLagMaxMS, r.ScheduleLagMaxMS)
	g.PingLagMaxMS = max(g.PingLagMaxMS, r.PingLagMaxMS)
	g.RSSPeakBytes += r.RSSPeakBytes
	g.OpenFilesMax += r.OpenFilesMax
	g.GoroutinesMax += r.GoroutinesMax
	g.Bottleneck = g.Bottleneck || r.Bottleneck
	for _, reason := range r.Reasons {
		g.Reasons = append(g.Reasons, fmt.Sprintf("run %d: %s", i+1, reason))
	}
}

// AddTarget appends target (one URL, or a comma-separated list of a run
// over several) to the comma-separated targets of a merged report, leaving
// out those already there.
func AddTarget(targets, target string) string {
	have := map[string]bool{}
	var list []string
	for _, l := range []string{targets, target} {
		for _, t := range strings.Split(l, ",") {
			if t != "" && !have[t] {
				have[t] = true
				list = append(list, t)
			}
		}
	}
	return strings.Join(list, ",")
}

// ComparisonOf is two reports of type R side by side, with one row of type
// W per compared figure (each report kind keeps its own row fields).
type ComparisonOf[R, W any] struct {
	A    *R  `json:"a"`
	B    *R  `json:"b"`
	Rows []W `json:"rows"`
}

// Change is the change from a to b: b−a and, when a is not zero, the same
// relative to a in percent, rounded to two decimals.
func Change(a, b float64) (delta, pct float64, hasPct bool) {
	if a == 0 {
		return b - a, 0, false
	}
	return b - a, round2((b - a) / a * 100), true
}

// Verdicts of a compared figure's change.
const (
	Better = "better"
	Worse  = "worse"
)

// Verdict says whether a change of delta in the named figure of a
// comparison is Better or Worse, or "" when it did not move or has no
// good direction (attempts asked for). Throughput and success counts are
// better higher; latencies, errors, losses and costs lower. One rule for
// every generator's figures, by name.
func Verdict(metric string, delta float64) string {
	higher := false
	switch {
	case delta == 0 || strings.Contains(metric, "attempted"):
		return ""
	case strings.HasSuffix(metric, "_per_s"), strings.Contains(metric, "bitrate"), strings.Contains(metric, "fps"),
		strings.HasPrefix(metric, "frames"),
		strings.HasSuffix(metric, ".established"), strings.HasSuffix(metric, ".ok"),
		strings.HasSuffix(metric, ".accepted"), strings.HasSuffix(metric, ".delivered"):
		higher = true
	}
	if (delta > 0) == higher {
		return Better
	}
	return Worse
}

// Num renders a table figure: whole numbers without decimals, others with two.
func Num(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e12 {
		return fmt.Sprintf("%d", int64(v))
	}
	return fmt.Sprintf("%.2f", v)
}

// Bytes renders a size for tables in binary units: "512 B", "1.5 MiB",
// "2.25 GiB" (one format for every generator's tables).
func Bytes(b float64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.2f GiB", b/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", b/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1f KiB", b/(1<<10))
	}
	return fmt.Sprintf("%.0f B", b)
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }
