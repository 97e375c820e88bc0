package server

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/livectl/livectl/internal/auth"
	"github.com/livectl/livectl/internal/signal"
	"github.com/livectl/livectl/internal/stats"
)

// fakeMedia is a MediaPlane that records calls, to test the seam before
// the SFU exists. It answers publish with an answer, subscribe with a
// server offer pushed through Send, and fails trickle with bad_sdp.
type fakeMedia struct {
	mu       sync.Mutex
	joins    []MediaParticipant
	closed   int
	sessions []*fakeSession
}

type fakeSession struct {
	m *fakeMedia
	p MediaParticipant
}

func (f *fakeMedia) Join(p MediaParticipant) (MediaSession, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.joins = append(f.joins, p)
	// Sent before Join returns: must arrive after the joined reply.
	p.Send(&signal.Message{Type: signal.TypeTrackPublished, Track: &signal.Track{ID: "early", Kind: "video", Publisher: "x"}})
	s := &fakeSession{m: f, p: p}
	f.sessions = append(f.sessions, s)
	return s, nil
}

func (f *fakeMedia) Stats() MediaStats {
	return MediaStats{TracksPublished: 2, BytesIn: 1000, PLIs: 3,
		Rooms: []MediaRoomStats{{Name: "r", Publishers: 1, Tracks: 2, BitrateInBps: 5000}, {Name: "whip-only", Publishers: 1, Tracks: 1}}}
}

func (f *fakeMedia) Close() error { return nil }

func (s *fakeSession) Tracks() []signal.Track {
	return []signal.Track{{ID: "t1", Kind: "video", Publisher: "pub"}}
}

func (s *fakeSession) Handle(_ context.Context, m *signal.Message) (*signal.Message, error) {
	switch m.Type {
	case signal.TypePublish:
		return &signal.Message{Type: signal.TypeAnswer, SDP: "answer-sdp"}, nil
	case signal.TypeSubscribe:
		s.p.Send(&signal.Message{Type: signal.TypeOffer, SDP: "offer-sdp"})
		return nil, nil
	case signal.TypeTrickle:
		return nil, &signal.Error{Code: signal.CodeBadSDP, Reason: "no such peer"}
	}
	return nil, errors.New("boom")
}

func (s *fakeSession) Close() {
	s.m.mu.Lock()
	s.m.closed++
	s.m.mu.Unlock()
}

func TestMediaSeam(t *testing.T) {
	fm := &fakeMedia{}
	secret := []byte("k")
	ts := newTestServer(t, Config{MediaPlane: fm, AuthSecret: secret})
	tok, _ := auth.Mint(secret, auth.Grant{Room: "r", Identity: "sub", Subscribe: true}, time.Hour, time.Now())
	events := make(chan *signal.Message, 8)
	c := dial(t, ts.wsURL, &signal.DialOptions{OnEvent: func(m *signal.Message) { events <- m }})
	ctx := ctxT(t)

	// Before joining, media requests need a room.
	if _, err := c.Call(ctx, &signal.Message{Type: signal.TypeSubscribe}); !errors.Is(err, &signal.Error{Code: signal.CodeNotJoined}) {
		t.Fatalf("subscribe before join = %v", err)
	}
	j, err := c.Join(ctx, "r", "sub", tok)
	if err != nil {
		t.Fatal(err)
	}
	if len(j.Tracks) != 1 || j.Tracks[0].ID != "t1" {
		t.Fatalf("joined tracks = %+v", j.Tracks)
	}
	if ev := next(t, events); ev.Type != signal.TypeTrackPublished || ev.Track.ID != "early" {
		t.Fatalf("held media message = %+v", ev)
	}
	fm.mu.Lock()
	p := fm.joins[0]
	fm.mu.Unlock()
	if p.Room != "r" || p.Identity != "sub" || p.SessionID != c.SessionID() || !p.Grant.Subscribe || p.Grant.Publish {
		t.Fatalf("participant = %+v", p)
	}

	// Pushed messages arrive as events (the fake sends no reply to
	// subscribe, so Send rather than Call).
	if err := c.Send(&signal.Message{Type: signal.TypeSubscribe, ID: "s1"}); err != nil {
		t.Fatal(err)
	}
	if ev := next(t, events); ev.Type != signal.TypeOffer || ev.SDP != "offer-sdp" {
		t.Fatalf("pushed offer = %+v", ev)
	}
	// Grants are enforced before the media plane sees the request.
	if _, err := c.Call(ctx, &signal.Message{Type: signal.TypePublish, SDP: "x"}); !errors.Is(err, &signal.Error{Code: signal.CodeForbidden}) {
		t.Fatalf("publish without grant = %v", err)
	}
	cand := &signal.ICECandidate{Candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host"}
	if _, err := c.Call(ctx, &signal.Message{Type: signal.TypeTrickle, Target: signal.TargetSubscriber, Candidate: cand}); !errors.Is(err, &signal.Error{Code: signal.CodeBadSDP}) {
		t.Fatalf("trickle = %v, want the media plane's bad_sdp", err)
	}
	if _, err := c.Call(ctx, &signal.Message{Type: signal.TypeUnpublish}); !errors.Is(err, &signal.Error{Code: signal.CodeInternal}) {
		t.Fatalf("unpublish = %v, want internal", err)
	}

	// Stats: media totals, and rooms are the union by name.
	st := ts.Stats()
	if st.TracksPublished != 2 || st.BytesIn != 1000 || st.PLIs != 3 {
		t.Fatalf("media totals = %+v", st)
	}
	want := []stats.Room{
		{Name: "r", Participants: 1, Publishers: 1, Viewers: 1, Tracks: 2, BitrateInBps: 5000},
		{Name: "whip-only", Publishers: 1, Tracks: 1},
	}
	if len(st.Rooms) != 2 || st.Rooms[0] != want[0] || st.Rooms[1] != want[1] || st.RoomCount != 2 {
		t.Fatalf("rooms = %+v", st.Rooms)
	}

	// Leaving closes the media session.
	if err := c.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	fm.mu.Lock()
	closed := fm.closed
	fm.mu.Unlock()
	if closed != 1 {
		t.Fatalf("media sessions closed = %d, want 1", closed)
	}
	// A Send func of a finished membership fails, even after a new join.
	if p.Send(&signal.Message{Type: signal.TypeTrackPublished, Track: &signal.Track{ID: "stale"}}) {
		t.Fatal("Send after leave reported success")
	}
	if _, err := c.Join(ctx, "r", "sub", tok); err != nil {
		t.Fatal(err)
	}
	if ev := next(t, events); ev.Track == nil || ev.Track.ID != "early" {
		t.Fatalf("after rejoin got %+v, want the new membership's held message", ev)
	}
	if p.Send(&signal.Message{Type: signal.TypeTrackPublished, Track: &signal.Track{ID: "stale"}}) {
		t.Fatal("old Send func works for the new membership")
	}
	if _, _, err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-events:
		t.Fatalf("unexpected event %+v", ev)
	default:
	}
}

func TestPublishGrant(t *testing.T) {
	fm := &fakeMedia{}
	ts := newTestServer(t, Config{MediaPlane: fm}) // no auth: everything granted
	c := dial(t, ts.wsURL, nil)
	if _, err := c.Join(ctxT(t), "r", "pub", ""); err != nil {
		t.Fatal(err)
	}
	r, err := c.Call(ctxT(t), &signal.Message{Type: signal.TypePublish, SDP: "offer"})
	if err != nil || r.Type != signal.TypeAnswer || r.SDP != "answer-sdp" {
		t.Fatalf("publish = %+v, %v", r, err)
	}
	c.Close()
	waitFor(t, func() bool { fm.mu.Lock(); defer fm.mu.Unlock(); return fm.closed == 1 })
}
