package mediabench

import (
	"math"

	"github.com/livectl/livectl/internal/bench"
)

// serverSubscribers is how many of receiving subscribers the sampled
// server serves, as serverReport wants it: all of them with one target;
// with several the sampled server (one of them, or another) serves a
// share that the generator cannot tell, so 0 leaves the per-subscriber
// figures out rather than divide one server's cost by every subscriber.
func (o *Options) serverSubscribers(receiving int64) int64 {
	if len(o.Targets()) > 1 {
		return 0
	}
	return receiving
}

// serverReport sums up the server's side from what srv (bench's one server
// sampler) saw; hold holds the hold's start and end marks (fewer when the
// hold was never reached); receiving is the number of subscribers getting
// media in the hold. It is nil when there was nothing to sample.
func serverReport(srv *bench.Sampler, hold []bench.Mark, receiving int64) *Server {
	if !srv.Active() {
		return nil
	}
	p := srv.Stop()
	out := &Server{Samples: p.Samples, CPUCoresMax: round2(p.CPUCoresMax), RSSPeakBytes: p.RSSMax,
		HeapPeakBytes: p.HeapMax, GoroutinesPeak: p.GoroutinesMax, TracksSubscribedPeak: p.TracksSubscribedMax}
	if p.First != nil && p.Last != nil {
		out.PacketsLost = p.Last.PacketsLost - min(p.First.PacketsLost, p.Last.PacketsLost)
		out.NACKs = p.Last.NACKs - min(p.First.NACKs, p.Last.NACKs)
		out.PLIs = p.Last.PLIs - min(p.First.PLIs, p.Last.PLIs)
	}
	if len(hold) >= 2 {
		a, b := hold[0], hold[len(hold)-1]
		dt := b.At.Sub(a.At).Seconds()
		if dt > 0 && a.CPUOK && b.CPUOK {
			out.CPUCoresHold = round2((b.CPU - a.CPU).Seconds() / dt)
			if receiving > 0 {
				out.MillicoresPerSubscriber = round2(out.CPUCoresHold * 1000 / float64(receiving))
			}
		}
		if dt > 0 && a.Snap != nil && b.Snap != nil && b.Snap.BytesOut >= a.Snap.BytesOut {
			out.BitrateOutKbps = math.Round(float64(b.Snap.BytesOut-a.Snap.BytesOut) * 8 / 1000 / dt)
		}
		if receiving > 0 && p.First != nil && a.Snap != nil {
			out.GoroutinesPerSubscriber = round2(float64(a.Snap.Goroutines-p.First.Goroutines) / float64(receiving))
			out.HeapBytesPerSubscriberKB = round2(float64(int64(a.Snap.HeapBytes)-int64(p.First.HeapBytes)) / 1024 / float64(receiving))
		}
	}
	return out
}
