package mediabench

import (
	"fmt"
	"io"

	"github.com/livectl/livectl/internal/bench"
)

// WriteHTML writes `bench report --html`'s page of media reports (named
// by names, e.g. their files) to w: subscribers receiving, started and
// failed, first-frame p50/p99, received bitrate, loss and freezes over
// time. Runs without a series still appear in the summary.
func WriteHTML(w io.Writer, names []string, reports []*Report) error {
	if len(names) != len(reports) {
		return fmt.Errorf("%d names for %d reports", len(names), len(reports))
	}
	page := bench.HTMLPage{Title: "livectl bench media",
		Columns: []string{"target", "subscribers", "ok", "failed", "dropped", "first frame p50 ms", "first frame p99 ms",
			"bitrate kbit/s", "loss %", "freezes", "duration s"}}
	series := make([]*bench.Series, len(reports))
	bitrate := bench.Chart{Title: "bitrate received", Unit: "kbit/s"}
	loss := bench.Chart{Title: "packets lost (after NACK recovery)", Unit: "%"}
	freezes := bench.Chart{Title: "freezes per second", Unit: "/s"}
	for i, r := range reports {
		page.Runs = append(page.Runs, bench.NewHTMLRun(names[i], &r.Envelope, r.Target, r.Subscribers.Attempted,
			r.Subscribers.OK, r.Subscribers.Failed, r.Subscribers.Dropped, r.FirstFrameMS.P50, r.FirstFrameMS.P99,
			r.Totals.BitrateKbps, r.Totals.LossPct, r.Totals.Freezes, r.DurationS))
		s := r.Series
		series[i] = s
		if s == nil {
			continue
		}
		bitrate.Lines = append(bitrate.Lines, bench.SeriesLine(names[i]+" kbit/s", s, bench.CountPerS(CountBytes, 8.0/1000)))
		loss.Lines = append(loss.Lines, bench.SeriesLine(names[i]+" loss", s, lossPct))
		freezes.Lines = append(freezes.Lines, bench.SeriesLine(names[i]+" freezes", s, bench.CountPerS(CountFreezes, 1)))
	}
	page.Charts = append(bench.SeriesCharts(names, series, "subscribers receiving", []string{SeriesFirstFrame},
		map[string]string{SeriesFirstFrame: "first frame"}), bitrate, loss, freezes)
	return page.Write(w)
}

// lossPct is a step's packets lost over those expected, in percent; a step
// with no packets has none. A step where retransmissions filled more
// gaps than opened shows as 0.
func lossPct(_ float64, p bench.Point) (float64, bool) {
	lost, got := p.Counts[CountLost], p.Counts[CountPackets]
	if got+max(lost, 0) <= 0 {
		return 0, false
	}
	return 100 * float64(max(lost, 0)) / float64(got+max(lost, 0)), true
}
