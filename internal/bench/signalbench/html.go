package signalbench

import (
	"fmt"
	"io"

	"github.com/livectl/livectl/internal/bench"
)

// htmlTitles title the latency charts of the page.
var htmlTitles = map[string]string{LatJoin: "join", LatRTT: "rtt", LatChat: "chat"}

// WriteHTML writes `bench report --html`'s page of reports (named by
// names, e.g. their files) to w: sessions open, attempts and failures,
// join and rtt p50/p99 over time (and chat's when a run sent chat).
// Runs without a series still appear in the summary.
func WriteHTML(w io.Writer, names []string, reports []*Report) error {
	if len(names) != len(reports) {
		return fmt.Errorf("%d names for %d reports", len(names), len(reports))
	}
	page := bench.HTMLPage{Title: "livectl bench signal",
		Columns: []string{"target", "sessions", "established", "failed", "errors",
			"join p50 ms", "join p99 ms", "rtt p50 ms", "rtt p99 ms", "duration s"}}
	series := make([]*bench.Series, len(reports))
	latencies := []string{LatJoin, LatRTT}
	chat := false
	for i, r := range reports {
		join, rtt := r.Latency[LatJoin], r.Latency[LatRTT]
		page.Runs = append(page.Runs, bench.NewHTMLRun(names[i], &r.Envelope, r.Target, r.Connections.Attempted,
			r.Connections.Established, r.Connections.Failed, r.ErrorCount, join.P50, join.P99, rtt.P50, rtt.P99, r.DurationS))
		series[i] = r.Series
		chat = chat || r.Chat != nil
	}
	if chat {
		latencies = append(latencies, LatChat)
	}
	page.Charts = bench.SeriesCharts(names, series, "sessions open", latencies, htmlTitles)
	return page.Write(w)
}
