package signalbench

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/livectl/livectl/internal/bench"
	"github.com/livectl/livectl/internal/metrics/hist"
	"github.com/livectl/livectl/internal/report"
)

func seriesReport(open ...int64) *Report {
	s := &bench.Series{StartUnix: 1000, StepS: 1}
	for _, n := range open {
		h := hist.New()
		h.Record(time.Duration(n) * time.Millisecond)
		s.Points = append(s.Points, bench.Point{Open: n, Attempts: n, Latency: map[string]hist.Snapshot{LatJoin: h.Snapshot()}})
	}
	return &Report{Kind: KindSignal, Target: "ws://x/ws", Series: s,
		Envelope: report.Envelope{Assertions: []report.Assertion{{Expression: "join.p99<5ms", Value: "7ms", Pass: false}}}}
}

// The page overlays every report's lines on each chart, escapes what the
// files say, and lists the assertions.
func TestWriteHTML(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteHTML(&buf, []string{"a.json", "<b>.json"}, []*Report{seriesReport(1, 5, 9), seriesReport(2, 4)}); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	if n := strings.Count(page, "<svg"); n != 4 {
		t.Errorf("%d charts, want 4", n)
	}
	// open 1 line, attempts+failures 2, join and rtt 2 each: 7 per report.
	lines := regexp.MustCompile(`<polyline class="line"[^>]* points="([^"]*)"`).FindAllStringSubmatch(page, -1)
	if len(lines) != 14 {
		t.Errorf("%d lines, want 14", len(lines))
	}
	for _, l := range lines[:1] {
		if strings.Count(l[1], ",") != 3 {
			t.Errorf("first line's points %q: want the 3 points of a.json", l[1])
		}
	}
	if strings.Contains(page, "<b>.json") || !strings.Contains(page, "&lt;b&gt;.json") {
		t.Error("a file name is not escaped")
	}
	if !strings.Contains(page, "join.p99&lt;5ms") || !strings.Contains(page, `class="fail"`) {
		t.Error("the assertion is missing")
	}
	if strings.Contains(page, "http://") || strings.Contains(page, "https://") || strings.Contains(page, "<script") {
		t.Error("the page refers to something outside itself")
	}
}

// A run with chat adds a chart of each second's chat p50 and p99.
func TestWriteHTMLChat(t *testing.T) {
	r := seriesReport(1, 5)
	r.Chat = &Chat{}
	h := hist.New()
	h.Record(40 * time.Millisecond)
	r.Series.Points[1].Latency[LatChat] = h.Snapshot()
	var buf bytes.Buffer
	if err := WriteHTML(&buf, []string{"chat.json", "plain.json"}, []*Report{r, seriesReport(2)}); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	if n := strings.Count(page, "<svg"); n != 5 || !strings.Contains(page, "chat p50 and p99") {
		t.Fatalf("%d charts, want 5 with chat's", n)
	}
	chat := page[strings.Index(page, "chat p50 and p99"):]
	if !regexp.MustCompile(`points="[0-9.]+,[0-9.]+"`).MatchString(chat) {
		t.Error("chat's one second is not drawn")
	}
}
