package signalbench

import (
	"fmt"
	"html/template"
	"io"

	"github.com/livectl/livectl/internal/bench"
)

// htmlPage is `bench report --html`: one self-contained page (inline SVG
// and CSS, no script, nothing fetched) with the runs' series over time
// overlaid, their summaries and their assertions.
var htmlPage = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>livectl bench signal report</title>
<style>
body{font-family:sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th:first-child,td:first-child{text-align:left}
.charts{display:flex;flex-wrap:wrap;gap:1em}
.fail{color:#b00;font-weight:bold}.pass{color:#070}
</style></head><body>
<h1>livectl bench signal</h1>
<h2>Summary</h2>
<table><tr><th>run</th><th>start</th><th>target</th><th>sessions</th><th>established</th><th>failed</th><th>errors</th>
<th>join p50 ms</th><th>join p99 ms</th><th>rtt p50 ms</th><th>rtt p99 ms</th><th>duration s</th></tr>
{{range .Runs}}<tr><td>{{.Name}}</td><td>{{.Start}}</td><td>{{.R.Target}}</td><td>{{.R.Connections.Attempted}}</td>
<td>{{.R.Connections.Established}}</td><td>{{.R.Connections.Failed}}</td><td>{{.R.ErrorCount}}</td>
<td>{{.Join.P50}}</td><td>{{.Join.P99}}</td><td>{{.RTT.P50}}</td><td>{{.RTT.P99}}</td><td>{{.R.DurationS}}</td></tr>
{{end}}</table>
<h2>Over time</h2>
<div class="charts">{{range .Charts}}{{.SVG}}{{end}}</div>
{{range .Runs}}{{if .R.Assertions}}<h2>Assertions: {{.Name}}</h2>
<table><tr><th>threshold</th><th>value</th><th>outcome</th></tr>
{{range .R.Assertions}}<tr><td>{{.Expression}}</td><td>{{.Value}}</td>{{if .Pass}}<td class="pass">pass</td>{{else}}<td class="fail">fail</td>{{end}}</tr>
{{end}}</table>{{end}}{{end}}
</body></html>
`))

type htmlRun struct {
	Name      string
	Start     string
	R         *Report
	Join, RTT any
}

// WriteHTML writes the page of reports (named by names, e.g. their
// files) to w. Runs without a series still appear in the summary.
func WriteHTML(w io.Writer, names []string, reports []*Report) error {
	if len(names) != len(reports) {
		return fmt.Errorf("%d names for %d reports", len(names), len(reports))
	}
	var page struct {
		Runs   []htmlRun
		Charts []bench.Chart
	}
	open := bench.Chart{Title: "sessions open"}
	att := bench.Chart{Title: "attempts and failures per second", Unit: "/s"}
	join := bench.Chart{Title: "join p50 and p99", Unit: "ms"}
	rtt := bench.Chart{Title: "rtt p50 and p99", Unit: "ms"}
	for i, r := range reports {
		run := htmlRun{Name: names[i], R: r, Join: r.Latency[LatJoin], RTT: r.Latency[LatRTT]}
		if c := r.Context; c != nil {
			run.Start = c.Start.Format("2006-01-02 15:04:05Z07:00")
		}
		page.Runs = append(page.Runs, run)
		s := r.Series
		if s == nil {
			continue
		}
		// y says false for a step without the figure (no join in it):
		// the line passes it by rather than dropping to zero.
		line := func(what string, y func(bench.Point) (float64, bool)) bench.Line {
			l := bench.Line{Label: names[i] + " " + what}
			for j, p := range s.Points {
				if v, ok := y(p); ok {
					l.X = append(l.X, float64(int64(j)*s.StepS))
					l.Y = append(l.Y, v)
				}
			}
			return l
		}
		step := float64(s.StepS)
		count := func(n func(bench.Point) int64) func(bench.Point) (float64, bool) {
			return func(p bench.Point) (float64, bool) { return float64(n(p)), true }
		}
		lat := func(name, stat string) func(bench.Point) (float64, bool) {
			return func(p bench.Point) (float64, bool) {
				sum := p.Latency[name].Summary
				v, _ := sum.Stat(stat)
				return v, sum.Count > 0
			}
		}
		open.Lines = append(open.Lines, line("open", count(func(p bench.Point) int64 { return p.Open })))
		att.Lines = append(att.Lines,
			line("attempts", func(p bench.Point) (float64, bool) { return float64(p.Attempts) / step, true }),
			line("failures", func(p bench.Point) (float64, bool) { return float64(p.Failures) / step, true }))
		join.Lines = append(join.Lines, line("p50", lat(LatJoin, "p50")), line("p99", lat(LatJoin, "p99")))
		rtt.Lines = append(rtt.Lines, line("p50", lat(LatRTT, "p50")), line("p99", lat(LatRTT, "p99")))
	}
	page.Charts = []bench.Chart{open, att, join, rtt}
	return htmlPage.Execute(w, page)
}
