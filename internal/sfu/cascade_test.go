package sfu

import (
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livectl/livectl/internal/auth"
	"github.com/livectl/livectl/internal/media"
	"github.com/livectl/livectl/internal/probe"
	"github.com/livectl/livectl/internal/publish"
	"github.com/livectl/livectl/internal/server"
	"github.com/livectl/livectl/internal/signal"
	"github.com/livectl/livectl/internal/testkit"
)

// directory is the cluster's room directory over a map, as the control
// plane keeps it in Redis: a room's origin is the node where its first
// publisher arrived.
type directory struct {
	mu      sync.Mutex
	origins map[string]int // room → node index
	nodes   []*testServer
	// host replaces 127.0.0.1 in the URLs the directory hands out, so that
	// a redirect can lead to another host name.
	host string
}

func (d *directory) originOf(self int) func(context.Context, string) (OriginInfo, error) {
	return func(_ context.Context, room string) (OriginInfo, error) {
		d.mu.Lock()
		defer d.mu.Unlock()
		i, ok := d.origins[room]
		if !ok {
			return OriginInfo{}, ErrNoOrigin
		}
		base := d.nodes[i].http.URL
		if d.host != "" {
			base = strings.Replace(base, "127.0.0.1", d.host, 1)
		}
		return OriginInfo{WHEPBase: base, WHIPURL: base + "/whip/" + room, Self: i == self}, nil
	}
}

func (d *directory) claim(self int) func(string) {
	return func(room string) {
		d.mu.Lock()
		defer d.mu.Unlock()
		if _, ok := d.origins[room]; !ok {
			d.origins[room] = self
		}
	}
}

// forget drops room's origin, as its lease expiring would.
func (d *directory) forget(room string) {
	d.mu.Lock()
	delete(d.origins, room)
	d.mu.Unlock()
}

// newCluster starts n nodes sharing a directory and a cluster secret, each
// with cfg (its auth secret, for one).
func newCluster(t *testing.T, n int, cfg server.Config) (*directory, []*testServer) {
	t.Helper()
	d := &directory{origins: map[string]int{}}
	secret := []byte(rand.Text() + rand.Text())
	for i := range n {
		d.nodes = append(d.nodes, newMediaServer(t, cfg, Config{
			Origin: d.originOf(i), OnOrigin: d.claim(i), ClusterSecret: secret, NodeID: string(rune('a' + i)),
		}))
	}
	return d, d.nodes
}

// roomSubscribers is the relay's count of subscriber peer connections in room.
func roomSubscribers(ts *testServer, room string) int {
	for _, r := range ts.sfu.relay.Stats().Rooms {
		if r.Name == room {
			return r.Subscribers
		}
	}
	return 0
}

// TestCascade publishes on node A and watches from WHEP and /ws viewers on
// edges B and C: each edge pulls the room from A once, whatever its
// viewers, and lets the upstream go with its last viewer.
func TestCascade(t *testing.T) {
	d, nodes := newCluster(t, 3, server.Config{})
	a, b, c := nodes[0], nodes[1], nodes[2]
	pub, err := publish.Start(ctxT(t), publish.Options{URL: a.http.URL + "/whip/live"})
	if err != nil {
		t.Fatalf("publishing on the origin: %v", err)
	}
	defer pub.Close()
	if !a.sfu.Publishes("live") {
		t.Fatal("the origin does not count its publisher")
	}
	if info, err := d.originOf(1)(context.Background(), "live"); err != nil || info.WHEPBase != a.http.URL {
		t.Fatalf("the directory says %+v, %v; want node A (OnOrigin not called)", info, err)
	}

	// Viewers that stay while the others probe, so the counts can be read
	// with every viewer on.
	hold := make(chan struct{})
	var wg sync.WaitGroup
	frames := make([]int, 4)
	watch := func(i int, o probe.Options) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o.Timeout, o.Observe, o.NoImage = 10*time.Second, time.Hour, true
			ctx, cancel := context.WithCancel(context.Background())
			go func() { <-hold; cancel() }()
			var mu sync.Mutex
			o.OnFrame = func(time.Time, media.Frame) { mu.Lock(); frames[i]++; mu.Unlock() }
			r := probe.Attempt(ctx, o)
			if !r.OK() {
				t.Errorf("viewer %d (%s): %s", i, o.URL, r.Error)
			}
		}()
	}
	watch(0, probe.Options{URL: b.http.URL + "/whep/live"})
	watch(1, probe.Options{URL: b.http.URL + "/whep/live"})
	watch(2, probe.Options{URL: b.wsURL, Room: "live"})
	watch(3, probe.Options{URL: c.http.URL + "/whep/live"})
	// More viewers that decode the first keyframe and leave.
	probeAll(t, []probe.Options{{URL: b.http.URL + "/whep/live"}, {URL: b.wsURL, Room: "live"}, {URL: c.wsURL, Room: "live"}})

	waitFor(t, func() bool {
		bs, cs := b.sfu.Cascade(), c.sfu.Cascade()
		return bs.Upstreams == 1 && bs.Tracks == 2 && len(bs.Rooms) == 1 && bs.Rooms[0].Viewers == 3 &&
			cs.Upstreams == 1 && cs.Tracks == 2
	})
	bs := b.sfu.Cascade()
	if bs.Rooms[0].Origin != a.http.URL || bs.Started != 1 {
		t.Errorf("edge B's cascade: %+v; want one upstream from %s, started once", bs, a.http.URL)
	}
	// The origin serves the edges' two upstreams, not their viewers.
	if n := roomSubscribers(a, "live"); n != 2 {
		t.Errorf("the origin has %d subscribers; want 2 (one upstream per edge)", n)
	}
	if a.sfu.Cascade().Upstreams != 0 {
		t.Error("the origin pulls from somewhere")
	}
	time.Sleep(500 * time.Millisecond) // frames flow to every held viewer
	close(hold)
	wg.Wait()
	for i, n := range frames {
		if n < 5 {
			t.Errorf("viewer %d got %d frames", i, n)
		}
	}

	// The last viewer gone, each edge lets its upstream go, and the origin
	// its side of it.
	waitFor(t, func() bool {
		bs, cs := b.sfu.Cascade(), c.sfu.Cascade()
		return bs.Upstreams == 0 && len(bs.Rooms) == 0 && cs.Upstreams == 0 && len(cs.Rooms) == 0 && roomSubscribers(a, "live") == 0
	})
	if st := b.sfu.Cascade(); st.BytesIn == 0 {
		t.Error("edge B counted no upstream bytes")
	}
	for _, n := range []*testServer{b, c} {
		if len(n.sfu.relay.Stats().Rooms) != 0 {
			t.Errorf("edge %s still has the room: %+v", n.http.URL, n.sfu.relay.Stats().Rooms)
		}
	}
}

// TestPublishOnAnotherNode: a WHIP POST to a node that is not the room's
// origin is redirected there (307), and the Go publisher follows it with
// its token, also to another host name; /ws publish there is refused with
// the origin's URL.
func TestPublishOnAnotherNode(t *testing.T) {
	secret := []byte(rand.Text() + rand.Text())
	d, nodes := newCluster(t, 2, server.Config{AuthSecret: secret})
	a, b := nodes[0], nodes[1]
	token := func(identity string) string {
		tok, err := auth.Mint(secret, auth.Grant{Room: "live", Identity: identity, Publish: true, Subscribe: true}, time.Minute, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	first, err := publish.Start(ctxT(t), publish.Options{URL: a.http.URL + "/whip/live", Token: token("one")})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()

	// The redirect itself.
	req, _ := http.NewRequest(http.MethodPost, b.http.URL+"/whip/live", strings.NewReader(sendOffer(t)))
	req.Header.Set("Content-Type", "application/sdp")
	req.Header.Set("Authorization", "Bearer "+token("two"))
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect || resp.Header.Get("Location") != a.http.URL+"/whip/live" {
		t.Fatalf("WHIP POST to an edge: %d Location %q; want 307 to %s", resp.StatusCode, resp.Header.Get("Location"), a.http.URL+"/whip/live")
	}

	// The Go publisher follows it, keeping its token on the way to
	// "localhost" (another host name for Go's redirect rules).
	d.mu.Lock()
	d.host = "localhost"
	d.mu.Unlock()
	second, err := publish.Start(ctxT(t), publish.Options{URL: b.http.URL + "/whip/live", Token: token("two")})
	if err != nil {
		t.Fatalf("publishing through the edge's redirect: %v", err)
	}
	defer second.Close()
	waitFor(t, func() bool { return len(a.sfu.relay.Tracks("live")) == 4 })
	if b.sfu.Publishes("live") {
		t.Error("the edge publishes the room")
	}

	// /ws publish on the edge is refused, naming the origin.
	cl := dial(t, b.wsURL, nil)
	if _, err := cl.Join(ctxT(t), "live", "three", token("three")); err != nil {
		t.Fatal(err)
	}
	_, err = cl.Call(ctxT(t), &signal.Message{Type: signal.TypePublish, SDP: sendOffer(t)})
	var se *signal.Error
	if !errors.As(err, &se) || se.Code != signal.CodeNotOrigin || !strings.Contains(se.Reason, "localhost") {
		t.Fatalf("/ws publish on an edge: %v; want not_origin naming the origin", err)
	}
}

// TestFailover: the origin goes away; the publisher (publish.Keep, through
// a node that redirected it to the origin) publishes again and its node
// becomes the origin; the edge's WHEP viewers get frames again without
// re-joining. (A /ws viewer gets the new tracks by renegotiation, as when a
// publisher re-publishes; the probe follows only its first track, so it
// cannot watch that here.)
func TestFailover(t *testing.T) {
	d, nodes := newCluster(t, 3, server.Config{})
	a, b, c := nodes[0], nodes[1], nodes[2]
	d.claim(0)("live") // A is the origin; the publisher reaches C, which redirects

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	retries := make(chan error, 10)
	kept := make(chan error, 1)
	go func() {
		_, err := publish.Keep(ctx, publish.Options{URL: c.http.URL + "/whip/live"}, 0,
			publish.Backoff{Min: 50 * time.Millisecond, Max: 200 * time.Millisecond},
			func(err error, _ time.Duration) { retries <- err })
		kept <- err
	}()
	waitFor(t, func() bool { return a.sfu.Publishes("live") })

	var mu sync.Mutex
	var killed time.Time
	var after []time.Time // frames each viewer saw after the kill
	seen := make([]bool, 2)
	var wg sync.WaitGroup
	for i, o := range []probe.Options{{URL: b.http.URL + "/whep/live"}, {URL: b.http.URL + "/whep/live"}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o.Timeout, o.Observe, o.NoImage = 10*time.Second, time.Hour, true
			o.OnFrame = func(at time.Time, _ media.Frame) {
				mu.Lock()
				defer mu.Unlock()
				if !killed.IsZero() && !seen[i] {
					seen[i] = true
					after = append(after, at)
				}
			}
			r := probe.Attempt(ctx, o)
			if !r.OK() {
				t.Errorf("viewer %d (%s): %s", i, o.URL, r.Error)
			}
		}()
	}
	waitFor(t, func() bool { return b.sfu.Cascade().Tracks == 2 && roomSubscribers(b, "live") == 2 })
	time.Sleep(300 * time.Millisecond)

	// The origin goes: its lease is dropped and it shuts down.
	mu.Lock()
	killed = time.Now()
	mu.Unlock()
	d.forget("live")
	a.Close()
	if err := testkit.Next(t, retries); err == nil {
		t.Error("the publisher's session ended without a reason")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(after)
		mu.Unlock()
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of 2 edge viewers (%v) got frames again within 10 s of the origin's end; edge: %+v", n, seen, b.sfu.Cascade())
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	for i, at := range after {
		t.Logf("viewer %d: frames again %v after the origin went", i, at.Sub(killed).Round(time.Millisecond))
	}
	mu.Unlock()
	if !c.sfu.Publishes("live") {
		t.Error("the publisher is not on C, the new origin")
	}
	if st := b.sfu.Cascade(); st.Started != 2 || st.Upstreams != 1 || st.Rooms[0].Origin != c.http.URL {
		t.Errorf("edge B after failover: %+v; want a second upstream, from C", st)
	}
	stop()
	wg.Wait()
	if err := <-kept; err != nil {
		t.Errorf("publish.Keep: %v", err)
	}
}
