//go:build e2e

package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/livectl/livectl/internal/cluster/redistest"
	"github.com/livectl/livectl/internal/server/servertest"
	"github.com/livectl/livectl/internal/signal"
)

// TestClusterE2E runs three `livectl serve --cluster` processes on
// loopback with a real redis-server: chat sent on C reaches members on A
// and B once each in seq order; the room's members converge in
// /v1/cluster; Redis stopped and restarted; a node killed with SIGKILL
// leaves /v1/cluster after its record expires. LIVECTL_BIN may name a
// prebuilt binary.
func TestClusterE2E(t *testing.T) {
	rs := redistest.Start(t)
	bin := servertest.Binary(t)
	// No keep-alives: no idle connection outlives the test (goleak).
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	procs := rs.Nodes(t, ctx, bin, "a", "b", "c")
	view := func(id string) (View, int) {
		resp, err := hc.Get(procs["a"].HTTP() + "/v1/cluster")
		if id != "a" {
			resp, err = hc.Get(procs[id].HTTP() + "/v1/cluster")
		}
		if err != nil {
			return View{}, 0
		}
		defer resp.Body.Close()
		var v View
		_ = json.NewDecoder(resp.Body).Decode(&v)
		return v, resp.StatusCode
	}
	nodeIDs := func(v View) string {
		var ids []string
		for _, n := range v.Nodes {
			ids = append(ids, n.ID)
		}
		return strings.Join(ids, ",")
	}
	eventually(t, "every node sees three nodes", func() bool {
		for _, id := range []string{"a", "b", "c"} {
			if v, _ := view(id); nodeIDs(v) != "a,b,c" {
				return false
			}
		}
		return true
	})

	members := map[string]*member{}
	for _, id := range []string{"a", "b", "c"} {
		m := &member{}
		c, err := signal.Dial(ctx, procs[id].WS(), &signal.DialOptions{OnEvent: m.onEvent})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		m.c = c
		jctx, jcancel := context.WithTimeout(ctx, 10*time.Second)
		if _, err := c.Join(jctx, "live", "on-"+id, ""); err != nil {
			t.Fatalf("join on %s: %v", id, err)
		}
		jcancel()
		members[id] = m
	}
	// Counts converge: every node's view lists the room with one member on each node.
	eventually(t, "room members in /v1/cluster", func() bool {
		v, _ := view("b")
		for _, r := range v.Rooms {
			if r.Room == "live" {
				return r.Members["a"] == 1 && r.Members["b"] == 1 && r.Members["c"] == 1
			}
		}
		return false
	})
	// A later joiner on A is told the cluster-wide viewers.
	late := &member{}
	lc, err := signal.Dial(ctx, procs["a"].WS(), &signal.DialOptions{OnEvent: late.onEvent})
	if err != nil {
		t.Fatal(err)
	}
	defer lc.Close()
	eventually(t, "joined reply counts every node's viewers", func() bool {
		j, err := lc.Join(ctx, "live", fmt.Sprint("late", time.Now().UnixNano()), "")
		if err != nil {
			t.Fatalf("late join: %v", err)
		}
		lc.Leave(ctx)
		return j.Viewers == 4
	})

	// Chat from C reaches A and B (and C) once each, in seq order. The
	// channels are subscribed by the time the counts crossed nodes.
	const msgs = 10
	for i := range msgs {
		sctx, scancel := context.WithTimeout(ctx, 5*time.Second)
		if _, err := members["c"].c.Chat(sctx, fmt.Sprint("hello ", i), 0); err != nil {
			t.Fatalf("chat %d: %v", i, err)
		}
		scancel()
		time.Sleep(200 * time.Millisecond) // the sender's own rate limit: 5/s
	}
	for _, id := range []string{"a", "b", "c"} {
		m := members[id]
		eventually(t, "chat on "+id, func() bool { got, _ := m.seen(); return len(got) >= msgs })
		got, _ := m.seen()
		if len(got) != msgs {
			t.Fatalf("on %s: %d messages, want %d once each", id, len(got), msgs)
		}
		for i, cm := range got {
			if cm.Seq != uint64(i+1) || cm.Text != fmt.Sprint("hello ", i) {
				t.Fatalf("on %s message %d: %+v", id, i, cm)
			}
		}
	}

	// Media: a WHIP publisher on A makes A the room's origin; probes on
	// B and C (edges) decode frames pulled from A.
	pub := exec.CommandContext(ctx, bin, "publish", "--url", procs["a"].HTTP()+"/whip/media", "--duration", "60s", "-q")
	if err := pub.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Process.Kill(); _ = pub.Wait() })
	eventually(t, "A is the origin of the media room", func() bool {
		v, _ := view("c")
		for _, r := range v.Rooms {
			if r.Room == "media" {
				return r.Origin == "a"
			}
		}
		return false
	})
	for _, id := range []string{"b", "c"} {
		out, err := exec.CommandContext(ctx, bin, "probe", "--url", procs[id].HTTP()+"/whep/media", "--count", "1", "-o", "json", "-q").Output()
		var rep struct {
			OK         int `json:"ok"`
			FirstFrame struct {
				P50 float64 `json:"p50"`
			} `json:"first_frame_ms"`
		}
		if jerr := json.Unmarshal(out, &rep); err != nil || jerr != nil || rep.OK != 1 {
			t.Fatalf("probe through edge %s: %v %v: %s", id, err, jerr, out)
		}
		t.Logf("probe through edge %s: first frame %.1f ms", id, rep.FirstFrame.P50)
	}

	// Redis down: /readyz says why; back: ready again.
	rs.Stop()
	readyz := func(id string) (int, string) {
		resp, err := hc.Get(procs[id].HTTP() + "/readyz")
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	eventually(t, "a not ready while Redis is down", func() bool {
		code, body := readyz("a")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "cluster unavailable")
	})
	if _, code := view("a"); code != http.StatusServiceUnavailable {
		t.Errorf("/v1/cluster with Redis down: %d, want 503", code)
	}
	rs.Restart()
	eventually(t, "ready again", func() bool {
		for _, id := range []string{"a", "b", "c"} {
			if code, _ := readyz(id); code != http.StatusOK {
				return false
			}
		}
		return true
	})
	eventually(t, "registry rebuilt after the restart", func() bool { v, _ := view("a"); return nodeIDs(v) == "a,b,c" })

	// SIGKILL: C disappears from the others' view after its record expires.
	killed := time.Now()
	procs["c"].Kill()
	eventually(t, "c gone", func() bool { v, _ := view("a"); return nodeIDs(v) == "a,b" })
	t.Logf("killed node gone from /v1/cluster after %v (expiry %v)", time.Since(killed).Round(100*time.Millisecond), DefaultExpiry)
}
