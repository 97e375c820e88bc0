package server

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/livectl/livectl/internal/signal"
)

// peerView is what one client learned about its room.
type peerView struct {
	mu     sync.Mutex
	room   string
	joined map[string]int // session id → participant_joined count (or listed in joined)
	left   map[string]int
	wrong  []string
}

func (v *peerView) onEvent(m *signal.Message) {
	v.mu.Lock()
	defer v.mu.Unlock()
	switch m.Type {
	case signal.TypeParticipantJoined:
		v.joined[m.Participant.SessionID]++
	case signal.TypeParticipantLeft:
		v.left[m.Participant.SessionID]++
	default:
		v.wrong = append(v.wrong, m.Type)
		return
	}
	if m.Room != v.room {
		v.wrong = append(v.wrong, "event for room "+m.Room)
	}
}

// TestFanout1000: 1,000 concurrent sessions in 50 rooms; every joined and
// left event reaches exactly the other members of the room, once.
func TestFanout1000(t *testing.T) {
	const sessions, rooms = 1000, 50
	ts := newTestServer(t, Config{})
	clients := make([]*signal.Client, sessions)
	views := make([]*peerView, sessions)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	g := newGroup(64)
	for i := range sessions {
		v := &peerView{room: fmt.Sprintf("room-%02d", i%rooms), joined: map[string]int{}, left: map[string]int{}}
		views[i] = v
		g.Go(func() error {
			c, err := signal.Dial(ctx, ts.wsURL, &signal.DialOptions{OnEvent: v.onEvent})
			if err != nil {
				return err
			}
			clients[i] = c
			j, err := c.Join(ctx, v.room, fmt.Sprintf("user-%d", i), "")
			if err != nil {
				return err
			}
			v.mu.Lock()
			for _, p := range j.Participants {
				v.joined[p.SessionID]++
			}
			v.mu.Unlock()
			return nil
		})
	}
	err := g.Wait()
	defer func() {
		for _, c := range clients {
			if c != nil {
				c.Close()
			}
		}
	}()
	if err != nil {
		t.Fatal(err)
	}
	members := map[string][]string{} // room → session ids
	for i, c := range clients {
		members[views[i].room] = append(members[views[i].room], c.SessionID())
	}

	// Phase 1: everyone knows every other member of its room, once.
	waitFor(t, func() bool {
		for _, v := range views {
			v.mu.Lock()
			n := len(v.joined)
			v.mu.Unlock()
			if n < sessions/rooms-1 {
				return false
			}
		}
		return true
	})
	for i, v := range views {
		v.mu.Lock()
		for _, id := range members[v.room] {
			want := 1
			if id == clients[i].SessionID() {
				want = 0
			}
			if v.joined[id] != want {
				t.Errorf("client %d saw %s join %d times, want %d", i, id, v.joined[id], want)
			}
		}
		if len(v.joined) != sessions/rooms-1 || len(v.wrong) > 0 {
			t.Errorf("client %d: %d peers, unexpected %v", i, len(v.joined), v.wrong)
		}
		v.mu.Unlock()
	}
	if st := ts.Stats(); st.Participants != sessions || st.RoomCount != rooms || st.Connections != sessions {
		t.Fatalf("stats: %d participants %d rooms %d connections", st.Participants, st.RoomCount, st.Connections)
	}

	// Phase 2: half of each room leaves concurrently; the others see each
	// leaver once and nothing else.
	leaves := func(i int) bool { return (i/rooms)%2 == 0 }
	leavers := map[string]bool{}
	for i := range sessions {
		if leaves(i) {
			leavers[clients[i].SessionID()] = true
			g.Go(func() error { return clients[i].Leave(ctx) })
		}
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		for i := range sessions {
			if leaves(i) {
				continue
			}
			views[i].mu.Lock()
			n := len(views[i].left)
			views[i].mu.Unlock()
			if n < sessions/rooms/2 {
				return false
			}
		}
		return true
	})
	time.Sleep(50 * time.Millisecond) // let any duplicate arrive
	for i, v := range views {
		v.mu.Lock()
		for id, n := range v.left {
			if !leavers[id] || n != 1 {
				t.Errorf("client %d saw %s leave %d times (a leaver: %v)", i, id, n, leavers[id])
			}
		}
		if !leaves(i) {
			for _, id := range members[v.room] {
				if leavers[id] && v.left[id] != 1 {
					t.Errorf("client %d missed %s leaving", i, id)
				}
			}
		}
		if len(v.wrong) > 0 {
			t.Errorf("client %d: unexpected %v", i, v.wrong)
		}
		v.mu.Unlock()
	}
	if st := ts.Stats(); st.Participants != sessions/2 || st.RoomCount != rooms {
		t.Fatalf("stats after leaves: %d participants %d rooms", st.Participants, st.RoomCount)
	}
}

// TestNoLeakAfterDisconnect: once clients are gone, no goroutine of theirs
// remains on the server (no idle writer, no read loop).
func TestNoLeakAfterDisconnect(t *testing.T) {
	ts := newTestServer(t, Config{})
	base := goleak.IgnoreCurrent()
	var cs []*signal.Client
	for i := range 20 {
		c, err := signal.Dial(context.Background(), ts.wsURL, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Join(ctxT(t), "r", fmt.Sprint(i), ""); err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	for _, c := range cs {
		c.Close()
	}
	waitFor(t, func() bool { return ts.Connections() == 0 })
	goleak.VerifyNone(t, base)
}

// TestIdleSessionHasOneGoroutine: an idle joined session runs its read loop
// only; the write loop exits when the queue is empty.
func TestIdleSessionHasOneGoroutine(t *testing.T) {
	ts := newTestServer(t, Config{})
	c := dial(t, ts.wsURL, nil)
	if _, err := c.Join(ctxT(t), "r", "a", ""); err != nil {
		t.Fatal(err)
	}
	var sess *session
	for _, s := range ts.snapshotSessions() {
		sess = s
	}
	waitFor(t, func() bool {
		sess.mu.Lock()
		defer sess.mu.Unlock()
		return !sess.writing && sess.queue == nil
	})
}

// group runs functions with bounded parallelism and keeps the first error.
type group struct {
	wg  sync.WaitGroup
	sem chan struct{}
	mu  sync.Mutex
	err error
}

func newGroup(n int) *group { return &group{sem: make(chan struct{}, n)} }

func (g *group) Go(f func() error) {
	g.wg.Add(1)
	g.sem <- struct{}{}
	go func() {
		defer func() { <-g.sem; g.wg.Done() }()
		if err := f(); err != nil {
			g.mu.Lock()
			if g.err == nil {
				g.err = err
			}
			g.mu.Unlock()
		}
	}()
}

func (g *group) Wait() error {
	g.wg.Wait()
	return g.err
}
