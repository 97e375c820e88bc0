// Package peertest is a minimal WHIP/WHEP server built directly on pion, for
// tests of livectl's clients. It is deliberately not livectl's server: the
// publish and probe tests prove their WHIP/WHEP clients against a second,
// independent implementation. It forwards the publisher's RTP to every WHEP
// viewer of the room and relays viewers' PLIs to the publisher.
package peertest

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/livectl/livectl/internal/peer"
)

// Server is a running test WHIP/WHEP server. URL is its base (http://127.0.0.1:port).
type Server struct {
	URL string

	// OnRTP, if set before traffic starts, sees every packet the server
	// receives from publishers (on the track's read goroutine).
	OnRTP func(room string, kind webrtc.RTPCodecType, p *rtp.Packet)
	// DropPLI stops relaying viewers' PLIs to publishers.
	DropPLI atomic.Bool

	PLIsRelayed atomic.Int64

	api  *webrtc.API
	http *httptest.Server

	mu       sync.Mutex
	rooms    map[string]*room
	sessions map[string]*webrtc.PeerConnection
	nextID   int
	wg       sync.WaitGroup
}

type room struct {
	pub    *webrtc.PeerConnection
	tracks map[webrtc.RTPCodecType]*webrtc.TrackLocalStaticRTP
	ssrc   map[webrtc.RTPCodecType]uint32
	ready  chan struct{} // closed when the video track exists
}

// Start starts a server on loopback for a test, which fails if it cannot;
// the server is closed when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s, err := New()
	if err != nil {
		t.Fatalf("starting the pion WHIP/WHEP test server: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// New starts a server on loopback. Close it when done.
func New() (*Server, error) {
	api, err := peer.NewAPI(peer.Options{DisableReplayProtection: true})
	if err != nil {
		return nil, err
	}
	s := &Server{api: api, rooms: map[string]*room{}, sessions: map[string]*webrtc.PeerConnection{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /whip/{room}", s.whip)
	mux.HandleFunc("POST /whep/{room}", s.whep)
	mux.HandleFunc("DELETE /session/{id}", s.del)
	s.http = httptest.NewServer(mux)
	s.URL = s.http.URL
	return s, nil
}

func (s *Server) room(name string) *room {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rooms[name]
	if r == nil {
		r = &room{tracks: map[webrtc.RTPCodecType]*webrtc.TrackLocalStaticRTP{}, ssrc: map[webrtc.RTPCodecType]uint32{}, ready: make(chan struct{})}
		s.rooms[name] = r
	}
	return r
}

func (s *Server) register(pc *webrtc.PeerConnection) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	id := fmt.Sprint(s.nextID)
	s.sessions[id] = pc
	return id
}

func readOffer(w http.ResponseWriter, r *http.Request) (string, bool) {
	b, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil || !strings.HasPrefix(string(b), "v=0") {
		http.Error(w, "body must be an SDP offer", http.StatusBadRequest)
		return "", false
	}
	return string(b), true
}

func (s *Server) answer(w http.ResponseWriter, r *http.Request, pc *webrtc.PeerConnection, offer string) {
	ans, err := peer.Answer(r.Context(), pc, offer)
	if err != nil {
		pc.Close()
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	id := s.register(pc)
	w.Header().Set("Content-Type", "application/sdp")
	w.Header().Set("Location", "/session/"+id)
	w.WriteHeader(http.StatusCreated)
	io.WriteString(w, ans)
}

func (s *Server) whip(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("room")
	offer, ok := readOffer(w, r)
	if !ok {
		return
	}
	pc, err := s.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	rm := s.room(name)
	pc.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		local, err := webrtc.NewTrackLocalStaticRTP(t.Codec().RTPCodecCapability, t.Kind().String(), "peertest")
		if err != nil {
			return
		}
		s.mu.Lock()
		rm.pub = pc
		rm.tracks[t.Kind()] = local
		rm.ssrc[t.Kind()] = uint32(t.SSRC())
		if t.Kind() == webrtc.RTPCodecTypeVideo {
			select {
			case <-rm.ready: // a second publisher's video replaces the first's
			default:
				close(rm.ready)
			}
		}
		s.mu.Unlock()
		for {
			p, _, err := t.ReadRTP()
			if err != nil {
				return
			}
			if s.OnRTP != nil {
				s.OnRTP(name, t.Kind(), p)
			}
			if err := local.WriteRTP(p); err != nil && !errors.Is(err, io.ErrClosedPipe) {
				return
			}
		}
	})
	s.answer(w, r, pc, offer)
}

func (s *Server) whep(w http.ResponseWriter, r *http.Request) {
	rm := s.room(r.PathValue("room"))
	offer, ok := readOffer(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	ready := rm.ready // replaced when the publisher leaves
	s.mu.Unlock()
	select {
	case <-ready:
	case <-time.After(2 * time.Second):
		http.Error(w, "no publisher in this room", http.StatusNotFound)
		return
	}
	pc, err := s.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	s.mu.Lock()
	tracks := map[webrtc.RTPCodecType]*webrtc.TrackLocalStaticRTP{}
	for k, t := range rm.tracks {
		tracks[k] = t
	}
	s.mu.Unlock()
	for kind, t := range tracks {
		sender, err := pc.AddTrack(t)
		if err != nil {
			pc.Close()
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		s.wg.Add(1)
		go s.relayRTCP(rm, kind, sender)
	}
	s.answer(w, r, pc, offer)
}

// relayRTCP forwards a viewer's keyframe requests to the publisher.
func (s *Server) relayRTCP(rm *room, kind webrtc.RTPCodecType, sender *webrtc.RTPSender) {
	defer s.wg.Done()
	for {
		pkts, _, err := sender.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			switch p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				if s.DropPLI.Load() {
					continue
				}
				s.mu.Lock()
				pub, ssrc := rm.pub, rm.ssrc[kind]
				s.mu.Unlock()
				if pub != nil {
					s.PLIsRelayed.Add(1)
					pub.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}})
				}
			}
		}
	}
}

// SendRTCP sends RTCP to the publisher of room (tests use it for PLI and
// NACK); build gets the publisher's video SSRC to put in each packet.
func (s *Server) SendRTCP(roomName string, build func(videoSSRC uint32) []rtcp.Packet) error {
	s.mu.Lock()
	rm := s.rooms[roomName]
	var pub *webrtc.PeerConnection
	var ssrc uint32
	if rm != nil {
		pub, ssrc = rm.pub, rm.ssrc[webrtc.RTPCodecTypeVideo]
	}
	s.mu.Unlock()
	if pub == nil {
		return errors.New("no publisher in room " + roomName)
	}
	return pub.WriteRTCP(build(ssrc))
}

func (s *Server) del(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	pc := s.sessions[r.PathValue("id")]
	delete(s.sessions, r.PathValue("id"))
	s.mu.Unlock()
	if pc == nil {
		http.NotFound(w, r)
		return
	}
	pc.Close()
	s.mu.Lock()
	for _, rm := range s.rooms {
		if rm.pub == pc { // the room has no publisher until the next one
			rm.pub = nil
			clear(rm.tracks)
			clear(rm.ssrc)
			rm.ready = make(chan struct{})
		}
	}
	s.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// Sessions is the number of live WHIP/WHEP resources.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// Close stops the server and every peer connection.
func (s *Server) Close() {
	s.http.Close()
	s.mu.Lock()
	pcs := make([]*webrtc.PeerConnection, 0, len(s.sessions))
	for _, pc := range s.sessions {
		pcs = append(pcs, pc)
	}
	s.sessions = map[string]*webrtc.PeerConnection{}
	s.mu.Unlock()
	for _, pc := range pcs {
		pc.Close()
	}
	s.wg.Wait()
}
