package bench

import (
	"html/template"
	"io"

	"github.com/livectl/livectl/internal/report"
)

// htmlPage is `bench report --html` for every kind of report: one
// self-contained page (inline SVG and CSS, no script, nothing fetched)
// with the runs' series over time overlaid, their summaries and their
// assertions.
var htmlPage = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}} report</title>
<style>
body{font-family:sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th:first-child,td:first-child{text-align:left}
.charts{display:flex;flex-wrap:wrap;gap:1em}
.fail{color:#b00;font-weight:bold}.pass{color:#070}
</style></head><body>
<h1>{{.Title}}</h1>
<h2>Summary</h2>
<table><tr><th>run</th><th>start</th>{{range .Columns}}<th>{{.}}</th>{{end}}</tr>
{{range .Runs}}<tr><td>{{.Name}}</td><td>{{.Start}}</td>{{range .Cells}}<td>{{.}}</td>{{end}}</tr>
{{end}}</table>
<h2>Over time</h2>
<div class="charts">{{range .Charts}}{{.SVG}}{{end}}</div>
{{range .Runs}}{{if .Assertions}}<h2>Assertions: {{.Name}}</h2>
<table><tr><th>threshold</th><th>value</th><th>outcome</th></tr>
{{range .Assertions}}<tr><td>{{.Expression}}</td><td>{{.Value}}</td>{{if .Pass}}<td class="pass">pass</td>{{else}}<td class="fail">fail</td>{{end}}</tr>
{{end}}</table>{{end}}{{end}}
</body></html>
`))

// HTMLPage is a report page: a summary table (a row per run, Columns
// after its name and start), the charts, and each run's assertions.
type HTMLPage struct {
	Title   string
	Columns []string
	Runs    []HTMLRun
	Charts  []Chart
}

// HTMLRun is one run's row and assertions.
type HTMLRun struct {
	Name       string
	Start      string
	Cells      []any
	Assertions []report.Assertion
}

// NewHTMLRun is the row of the run named name with env's start and
// assertions, cells in the page's Columns.
func NewHTMLRun(name string, env *report.Envelope, cells ...any) HTMLRun {
	run := HTMLRun{Name: name, Cells: cells, Assertions: env.Assertions}
	if c := env.Context; c != nil {
		run.Start = c.Start.Format("2006-01-02 15:04:05Z07:00")
	}
	return run
}

// Write renders the page.
func (p HTMLPage) Write(w io.Writer) error { return htmlPage.Execute(w, p) }

// SeriesLine is the line of label over s: y says false for a step
// without the figure (no join in it), which the line then passes by
// rather than dropping to zero.
func SeriesLine(label string, s *Series, y func(step float64, p Point) (float64, bool)) Line {
	l := Line{Label: label}
	for j, p := range s.Points {
		if v, ok := y(float64(s.StepS), p); ok {
			l.X = append(l.X, float64(int64(j)*s.StepS))
			l.Y = append(l.Y, v)
		}
	}
	return l
}

// OpenOf is a point's sessions (or subscribers) open, for SeriesLine.
func OpenOf(_ float64, p Point) (float64, bool) { return float64(p.Open), true }

// AttemptsPerS and FailuresPerS are a point's attempts and failures per
// second, for SeriesLine.
func AttemptsPerS(step float64, p Point) (float64, bool) { return float64(p.Attempts) / step, true }

// FailuresPerS: see AttemptsPerS.
func FailuresPerS(step float64, p Point) (float64, bool) { return float64(p.Failures) / step, true }

// LatencyStat is the statistic stat (p50, p99…) of a point's latency
// name, in ms, for SeriesLine; steps without that latency have none.
func LatencyStat(name, stat string) func(float64, Point) (float64, bool) {
	return func(_ float64, p Point) (float64, bool) {
		sum := p.Latency[name].Summary
		v, _ := sum.Stat(stat)
		return v, sum.Count > 0
	}
}

// CountPerS is a point's count name per second times scale, for
// SeriesLine (bytes·8/1000: kbit/s).
func CountPerS(name string, scale float64) func(float64, Point) (float64, bool) {
	return func(step float64, p Point) (float64, bool) { return float64(p.Counts[name]) * scale / step, true }
}

// SeriesCharts are the charts every generator's series has: open
// (titled open), attempts and failures per second, and p50 and p99 of
// each latency in latencies (titled by titles). names label the series'
// lines; nil series draw nothing.
func SeriesCharts(names []string, series []*Series, open string, latencies []string, titles map[string]string) []Chart {
	openC := Chart{Title: open}
	att := Chart{Title: "attempts and failures per second", Unit: "/s"}
	lat := make([]Chart, len(latencies))
	for k, name := range latencies {
		lat[k] = Chart{Title: titles[name] + " p50 and p99", Unit: "ms"}
	}
	for i, s := range series {
		if s == nil {
			continue
		}
		openC.Lines = append(openC.Lines, SeriesLine(names[i]+" open", s, OpenOf))
		att.Lines = append(att.Lines, SeriesLine(names[i]+" attempts", s, AttemptsPerS), SeriesLine(names[i]+" failures", s, FailuresPerS))
		for k, name := range latencies {
			lat[k].Lines = append(lat[k].Lines, SeriesLine(names[i]+" p50", s, LatencyStat(name, "p50")), SeriesLine(names[i]+" p99", s, LatencyStat(name, "p99")))
		}
	}
	return append([]Chart{openC, att}, lat...)
}
