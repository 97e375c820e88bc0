package bench

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/goleak"

	"github.com/livectl/livectl/internal/metrics/hist"
)

// What a PromWriter writes is Prometheus text the Prometheus parser
// reads back: gauges, counters by label, latency summaries in seconds.
func TestPromWriterParses(t *testing.T) {
	join := hist.New()
	for _, ms := range []int{10, 20, 30, 40} {
		join.Record(time.Duration(ms) * time.Millisecond)
	}
	var b strings.Builder
	p := NewPromWriter(&b)
	p.Gauge("sessions_open", "sessions open now", 7)
	p.CountersBy("errors_total", "errors by kind", "kind", map[string]int64{"join": 2, "connect": 1})
	p.Latencies(map[string]*hist.Histogram{"join": join, "rtt": hist.New()})
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(b.String()))
	if err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	tests := []struct {
		name string
		got  func() float64
		want float64
	}{
		{"open", func() float64 { return fams["livectl_bench_sessions_open"].GetMetric()[0].GetGauge().GetValue() }, 7},
		{"errors by kind", func() float64 { return float64(len(fams["livectl_bench_errors_total"].GetMetric())) }, 2},
		{"connect errors", func() float64 { return fams["livectl_bench_errors_total"].GetMetric()[0].GetCounter().GetValue() }, 1},
		{"join count", func() float64 {
			return float64(fams["livectl_bench_latency_seconds"].GetMetric()[0].GetSummary().GetSampleCount())
		}, 4},
		{"join p99 in seconds", func() float64 {
			q := fams["livectl_bench_latency_seconds"].GetMetric()[0].GetSummary().GetQuantile()
			return q[len(q)-1].GetValue()
		}, 0.04},
	}
	for _, tc := range tests {
		if got := tc.got(); got < tc.want*0.99 || got > tc.want*1.01 {
			t.Errorf("%s: %g, want %g", tc.name, got, tc.want)
		}
	}
}

// The server answers each scrape with fresh figures and is gone after
// Close, its goroutine with it.
func TestServeMetrics(t *testing.T) {
	defer goleak.VerifyNone(t)
	n := 0
	m, err := ServeMetrics("127.0.0.1:0", func(p *PromWriter) { n++; p.Counter("scrapes_total", "scrapes", float64(n)) })
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + m.Addr().String() + "/metrics"
	for want := 1; want <= 2; want++ {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), "livectl_bench_scrapes_total "+string(rune('0'+want))) {
			t.Errorf("scrape %d: %s", want, body)
		}
	}
	http.DefaultClient.CloseIdleConnections()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if c, err := net.Dial("tcp", m.Addr().String()); err == nil {
		c.Close()
		t.Error("still listening after Close")
	}
}
