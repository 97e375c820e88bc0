package bench

import (
	"fmt"
	"html/template"
	"math"
	"strconv"
	"strings"
)

// A Chart is a line chart over time drawn as inline SVG: a page holding
// it needs nothing from the network to show it.
type Chart struct {
	Title string
	Unit  string
	Lines []Line
}

// Line is one curve of a Chart: X in seconds from its run's start.
type Line struct {
	Label string
	X, Y  []float64
}

// chartPalette tells a chart's lines apart, in their order.
var chartPalette = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"}

const (
	chartW, chartH         = 640, 220
	padL, padR, padT, padB = 56, 12, 24, 28
)

// SVG renders c: axes with their extremes, one polyline per line (class
// "line"), and a legend.
func (c Chart) SVG() template.HTML {
	var xmax, ymax float64
	for _, l := range c.Lines {
		for i := range l.X {
			xmax, ymax = math.Max(xmax, l.X[i]), math.Max(ymax, l.Y[i])
		}
	}
	if xmax == 0 {
		xmax = 1
	}
	if ymax == 0 {
		ymax = 1
	}
	ymax *= 1.05
	pw, ph := float64(chartW-padL-padR), float64(chartH-padT-padB)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" width="%d" height="%d" font-family="sans-serif" font-size="11">`, chartW, chartH, chartW, chartH)
	fmt.Fprintf(&b, `<text x="%d" y="14" font-size="13" font-weight="bold">%s</text>`, padL, template.HTMLEscapeString(c.Title))
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%g" height="%g" fill="none" stroke="#bbb"/>`, padL, padT, pw, ph)
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`, padL-4, padT+8, template.HTMLEscapeString(axisLabel(ymax, c.Unit)))
	fmt.Fprintf(&b, `<text x="%d" y="%g" text-anchor="end">0</text>`, padL-4, float64(padT)+ph)
	fmt.Fprintf(&b, `<text x="%d" y="%d">0 s</text>`, padL, chartH-10)
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s s</text>`, chartW-padR, chartH-10, strconv.FormatFloat(xmax, 'f', -1, 64))
	for i, l := range c.Lines {
		colour := chartPalette[i%len(chartPalette)]
		var pts strings.Builder
		for j := range l.X {
			fmt.Fprintf(&pts, "%.1f,%.1f ", float64(padL)+l.X[j]/xmax*pw, float64(padT)+ph-l.Y[j]/ymax*ph)
		}
		fmt.Fprintf(&b, `<polyline class="line" fill="none" stroke="%s" stroke-width="1.5" points="%s"><title>%s</title></polyline>`,
			colour, strings.TrimSpace(pts.String()), template.HTMLEscapeString(l.Label))
		fmt.Fprintf(&b, `<text x="%d" y="%d" fill="%s" text-anchor="end">%s</text>`, chartW-padR-4, padT+14+13*i, colour, template.HTMLEscapeString(l.Label))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // every text in it was escaped above
}

func axisLabel(v float64, unit string) string {
	s := strconv.FormatFloat(v, 'g', 3, 64)
	if unit != "" {
		s += " " + unit
	}
	return s
}
