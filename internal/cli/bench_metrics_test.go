package cli

import (
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/livectl/livectl/internal/server/servertest"
)

// --metrics-listen serves a run's live figures while it goes: scraped
// during a short bench signal run against a loopback server, the text
// parses, sessions are open and join latency counted from the run's
// histograms; once the run ends nothing listens there.
func TestBenchSignalMetricsListen(t *testing.T) {
	url := benchServer(t)
	addr := servertest.FreePort(t, "tcp")
	done := make(chan string, 1)
	go func() {
		code, _, stderr := runCLI(t, nil, "bench", "signal", "--url", url, "--conns", "20", "--rate", "200",
			"--duration", "3s", "--ping-interval", "100ms", "--quiet", "--metrics-listen", addr)
		if code != ExitOK {
			done <- stderr
		}
		close(done)
	}()
	var open, joins float64
	deadline := time.Now().Add(8 * time.Second)
	for (open < 20 || joins < 20) && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			continue // not listening yet
		}
		parser := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := parser.TextToMetricFamilies(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("the scrape does not parse: %v", err)
		}
		if f := fams["livectl_bench_sessions_open"]; f != nil {
			open = f.GetMetric()[0].GetGauge().GetValue()
		}
		for _, m := range fams["livectl_bench_latency_seconds"].GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "name" && l.GetValue() == "join" {
					joins = float64(m.GetSummary().GetSampleCount())
				}
			}
		}
	}
	if open != 20 || joins != 20 {
		t.Errorf("scraped %g sessions open and %g joins, want 20 and 20", open, joins)
	}
	if stderr, failed := <-done; failed {
		t.Fatalf("run failed: %s", stderr)
	}
	http.DefaultClient.CloseIdleConnections()
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Error("still listening after the run")
	}
}
