package bench

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/livectl/livectl/internal/metrics/hist"
)

// A run's live figures as Prometheus text (--metrics-listen): the
// generators write them with a PromWriter; ServeMetrics serves what they
// write at /metrics while the run goes.

// PromWriter writes metrics in the Prometheus text exposition format
// (version 0.0.4). Every name gets the prefix livectl_bench_.
type PromWriter struct {
	w    io.Writer
	seen map[string]bool // names whose HELP and TYPE are written
}

// NewPromWriter writes to w.
func NewPromWriter(w io.Writer) *PromWriter { return &PromWriter{w: w, seen: map[string]bool{}} }

func (p *PromWriter) header(name, kind, help string) string {
	name = "livectl_bench_" + name
	if !p.seen[name] {
		p.seen[name] = true
		fmt.Fprintf(p.w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, kind)
	}
	return name
}

// labels renders k=v pairs (kv alternates names and values).
func labels(kv ...string) string {
	if len(kv) < 2 {
		return ""
	}
	var b strings.Builder
	b.WriteByte('{')
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(kv[i] + "=" + strconv.Quote(kv[i+1]))
	}
	b.WriteByte('}')
	return b.String()
}

// Gauge writes a value that goes up and down (sessions open).
func (p *PromWriter) Gauge(name, help string, v float64, kv ...string) {
	fmt.Fprintf(p.w, "%s%s %s\n", p.header(name, "gauge", help), labels(kv...), strconv.FormatFloat(v, 'g', -1, 64))
}

// Counter writes a total so far; name should end in _total.
func (p *PromWriter) Counter(name, help string, v float64, kv ...string) {
	fmt.Fprintf(p.w, "%s%s %s\n", p.header(name, "counter", help), labels(kv...), strconv.FormatFloat(v, 'g', -1, 64))
}

// CountersBy writes one counter per key of m (label key), in key order.
func (p *PromWriter) CountersBy(name, help, key string, m map[string]int64) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		p.Counter(name, help, float64(m[k]), key, k)
	}
}

// summaryQuantiles are the quantiles a latency summary exposes.
var summaryQuantiles = []struct {
	q, stat string
}{{"0.5", "p50"}, {"0.9", "p90"}, {"0.99", "p99"}}

// Latencies writes each histogram of hs as one summary,
// livectl_bench_latency_seconds{name=…}: its p50, p90 and p99 and count
// since the run started (no _sum: the HDR histograms keep none).
func (p *PromWriter) Latencies(hs map[string]*hist.Histogram) {
	names := make([]string, 0, len(hs))
	for n := range hs {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		s := hs[n].Summary()
		name := p.header("latency_seconds", "summary", "latencies since the run started, from its HDR histograms")
		for _, q := range summaryQuantiles {
			v, _ := s.Stat(q.stat)
			fmt.Fprintf(p.w, "%s%s %s\n", name, labels("name", n, "quantile", q.q), strconv.FormatFloat(v/1000, 'g', -1, 64))
		}
		fmt.Fprintf(p.w, "%s_count%s %d\n", name, labels("name", n), s.Count)
	}
}

// MetricsServer serves a run's figures at /metrics until Close.
type MetricsServer struct {
	srv  *http.Server
	addr net.Addr
	done chan struct{}
}

// ServeMetrics listens on addr and serves what write writes at
// /metrics (a PromWriter's text), each scrape a fresh call.
func ServeMetrics(addr string, write func(*PromWriter)) (*MetricsServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		write(NewPromWriter(w))
	})
	m := &MetricsServer{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, addr: ln.Addr(), done: make(chan struct{})}
	go func() {
		defer close(m.done)
		_ = m.srv.Serve(ln)
	}()
	return m, nil
}

// Addr is where it listens (with port 0 the kernel picked one).
func (m *MetricsServer) Addr() net.Addr { return m.addr }

// Close stops serving and waits for the server's goroutine.
func (m *MetricsServer) Close() error {
	err := m.srv.Close()
	<-m.done
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// LiveHistograms is a runner that exposes its latency histograms while
// it runs (a run in this process; not a --procs parent, whose children
// keep theirs).
type LiveHistograms interface {
	LiveHistograms() map[string]*hist.Histogram
}
