package mediabench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/livectl/livectl/internal/server"
	"github.com/livectl/livectl/internal/server/servertest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func execute(t *testing.T, o Options) *Report {
	t.Helper()
	r, err := NewRun(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rep, err := r.Execute(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func logReport(t *testing.T, rep *Report) {
	t.Helper()
	t.Logf("%s %s: attempted %d ok %d failed %d dropped %d; first frame p50 %.1fms p95 %.1fms; errors %v",
		rep.Protocol, rep.Target, rep.Subscribers.Attempted, rep.Subscribers.OK, rep.Subscribers.Failed, rep.Subscribers.Dropped,
		rep.FirstFrameMS.P50, rep.FirstFrameMS.P95, rep.ErrorDetail)
	t.Logf("totals %+v", rep.Totals)
	for _, f := range Figures {
		t.Logf("  %-13s %+v", f, rep.PerSubscriber[f])
	}
	t.Logf("client %+v server %+v", rep.Client, rep.Server)
}

func TestMediaFanOut(t *testing.T) {
	srv := servertest.Start(t, server.Config{})
	ws, base := srv.WS, srv.HTTP
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"ws", Options{URL: ws, Room: "fan-ws", Publishers: 1}},
		{"whep", Options{WHEP: base + "/whep/fan-whep", WHIP: base + "/whip/fan-whep", Publishers: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.opts
			o.Subscribers, o.Rate, o.Duration = 50, 100, 2*time.Second
			rep := execute(t, o)
			logReport(t, rep)
			if rep.Subscribers.OK != 50 || rep.Subscribers.Failed != 0 || rep.Subscribers.Dropped != 0 {
				t.Fatalf("want 50 subscribers with frames, got %+v (errors %v)", rep.Subscribers, rep.ErrorDetail)
			}
			// Every subscriber decodes the clip; the frame counts are over
			// the 2 s window, which a subscriber starved into a late start
			// (go test -race with every package at once on 2 cores) sees
			// only the end of: the median, not each, must be a stream.
			for _, r := range rep.Results {
				if r.Frames < 1 || r.Codec != "video/VP8" || r.Width != 640 || r.BitrateKbps <= 0 {
					t.Fatalf("subscriber %d: %+v", r.ID, r)
				}
			}
			if m := rep.PerSubscriber["frames"].P50; m < 10 {
				t.Errorf("median subscriber got %.0f frames in 2 s, want at least 10", m)
			}
			if rep.Totals.PacketsLost != 0 {
				t.Errorf("loss on loopback: %d packets lost", rep.Totals.PacketsLost)
			}
			if rep.FirstFrameMS.Count != 50 {
				t.Errorf("first-frame count %d", rep.FirstFrameMS.Count)
			}
		})
	}
}

// lossyConn drops a share of the RTP packets arriving at a subscriber's
// socket: a lossy network in the path between the SFU and the subscriber.
type lossyConn struct {
	net.PacketConn
	share float64
	mu    sync.Mutex
	rng   *rand.Rand
}

func (c *lossyConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(b)
		// Only SRTP (first byte 128–191, RFC 7983; RTCP types 192–223
		// excluded): STUN and DTLS pass, so the connection comes up and
		// only media suffers.
		rtp := err == nil && n > 1 && b[0] >= 128 && b[0] <= 191 && (b[1] < 192 || b[1] > 223)
		if rtp {
			c.mu.Lock()
			drop := c.rng.Float64() < c.share
			c.mu.Unlock()
			if drop {
				continue
			}
		}
		return n, addr, err
	}
}

func TestMediaLossShowsInReport(t *testing.T) {
	ws := servertest.Start(t, server.Config{}).WS
	o := Options{URL: ws, Room: "lossy", Publishers: 1, Subscribers: 5, Rate: 50, Duration: 3 * time.Second,
		WrapConn: func(c net.PacketConn) net.PacketConn {
			return &lossyConn{PacketConn: c, share: 0.05, rng: rand.New(rand.NewPCG(1, 2))}
		}}
	rep := execute(t, o)
	logReport(t, rep)
	if rep.Subscribers.OK != 5 {
		t.Fatalf("want 5 subscribers with frames, got %+v (errors %v)", rep.Subscribers, rep.ErrorDetail)
	}
	if rep.Totals.NACKs == 0 || rep.Totals.NACKedPackets == 0 {
		t.Errorf("5%% loss but no NACKs sent: %+v", rep.Totals)
	}
	if rep.Totals.Late == 0 {
		t.Errorf("5%% loss but no packet recovered: %+v", rep.Totals)
	}
	if rep.PerSubscriber["nacks"].Min == 0 {
		t.Errorf("a subscriber sent no NACK: %+v", rep.PerSubscriber["nacks"])
	}
}

func TestMediaUnreachableWHEP(t *testing.T) {
	// A port that was just free: nothing listens there.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	start := time.Now()
	rep := execute(t, Options{WHEP: "http://" + addr + "/whep/none", Subscribers: 3, Rate: 100, Duration: time.Second})
	logReport(t, rep)
	if rep.Subscribers.Failed != 3 || rep.Errors["signal"] != 3 || rep.ErrorDetail["signal:refused"] != 3 {
		t.Fatalf("want 3 failures at signal:refused, got %+v %v", rep.Subscribers, rep.ErrorDetail)
	}
	if len(rep.Worst) == 0 || rep.Worst[0].Error == "" {
		t.Fatalf("worst subscribers do not show the error: %+v", rep.Worst)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("failing run took %v", d)
	}
}

// TestMediaSimulcast: a run with a simulcast built-in publisher. With
// Layer "q" every subscriber, over /ws (set_quality) and WHEP (?layer=),
// ends on 320x180 (over /ws the first frames may come before set_quality)
// and reports its time there; with some subscribers
// shaped, each result says whether it was and the layer mix is given for
// both groups.
func TestMediaSimulcast(t *testing.T) {
	srv := servertest.Start(t, server.Config{})
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"ws q", Options{URL: srv.WS, Room: "sc-ws", Layer: "q"}},
		{"whep q", Options{WHEP: srv.HTTP + "/whep/sc-whep", WHIP: srv.HTTP + "/whip/sc-whep", Layer: "q"}},
		{"shaped", Options{WHEP: srv.HTTP + "/whep/sc-shaped", WHIP: srv.HTTP + "/whip/sc-shaped", ShapeRateBps: 700_000, Shaped: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.opts
			o.Publishers, o.Simulcast, o.Subscribers, o.Rate, o.Duration = 1, true, 4, 20, 3*time.Second
			rep := execute(t, o)
			if rep.Subscribers.OK != 4 {
				t.Fatalf("want 4 subscribers with frames, got %+v (errors %v)", rep.Subscribers, rep.ErrorDetail)
			}
			for _, r := range rep.Results {
				t.Logf("subscriber %d shaped %v: layers %v, %d switches, time at each %v", r.ID, r.Shaped, r.Layers, r.LayerSwitches, r.TimeAtLayerMS)
				if len(r.Layers) == 0 || r.TimeAtLayerMS[r.Layers[len(r.Layers)-1].Size] <= 0 {
					t.Errorf("subscriber %d: no layers reported: %+v", r.ID, r)
				}
				if r.Shaped != (o.ShapeRateBps > 0 && r.ID < 2) {
					t.Errorf("subscriber %d: shaped %v", r.ID, r.Shaped)
				}
				if o.Layer != "q" {
					continue
				}
				for i, sp := range r.Layers {
					if sp.Size != "320x180" && (i > 0 || o.WHEP != "") {
						t.Errorf("subscriber %d asked for q and received %s", r.ID, sp.Size)
					}
				}
			}
			var groups []string
			for _, g := range rep.LayerMix {
				groups = append(groups, fmt.Sprintf("%s:%d", g.Group, g.Subscribers))
				t.Logf("layer mix %+v", g)
			}
			// Without shaping there is a mix only if some subscriber switched.
			want := "[shaped:2 unshaped:2]"
			if o.ShapeRateBps == 0 {
				want = map[bool]string{true: "[all:4]", false: "[]"}[rep.LayerMix != nil]
			}
			if fmt.Sprint(groups) != want {
				t.Errorf("layer mix groups %v, want %s", groups, want)
			}
		})
	}
}
