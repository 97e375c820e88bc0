package signalbench

import (
	"encoding/json"
	"io"
	"testing"
	"time"

	"github.com/livectl/livectl/internal/metrics/hist"
)

// FuzzReportFile feeds `bench report` input: any file must either fail to
// load or merge, compare and print without panicking.
func FuzzReportFile(f *testing.F) {
	h := hist.New()
	h.Record(3 * time.Millisecond)
	good, _ := json.Marshal(&Report{Kind: KindSignal, Target: "ws://x/ws", Runs: 1,
		Connections: Connections{Attempted: 1, Established: 1},
		Latency:     map[string]hist.Summary{LatJoin: h.Summary()},
		Histograms:  map[string]*hist.Histogram{LatJoin: h}})
	f.Add(good)
	f.Add([]byte(`{"kind":"signal","latency_ms":{"join":{"count":5}}}`))
	f.Add([]byte(`{"kind":"signal","histograms":{"join":{"unit":"us","hdr":"HISTFAAAA"}}}`))
	f.Add([]byte(`{"kind":"signal","errors":{"timeout":-3},"connections":{"attempted":-1}}`))
	f.Add([]byte(`{"kind":"signal","histograms":{"join":null,"x":null}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Report
		if err := json.Unmarshal(b, &r); err != nil {
			return
		}
		m, err := r.Merge(&r)
		if err != nil {
			return
		}
		_ = m.WriteTable(io.Discard)
		_ = r.Compare(m).WriteTable(io.Discard, "a", "b")
		_ = r.Metrics()
	})
}
