package relay

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
	pionmedia "github.com/pion/webrtc/v4/pkg/media"

	"github.com/livectl/livectl/internal/media"
)

// clipFrames holds the built-in clip in memory, read once per test binary.
var clipFrames = sync.OnceValues(func() (video [][]byte, audio [][]byte) {
	vr := media.ClipVP8()
	for {
		f, err := vr.Next()
		if err != nil {
			break
		}
		video = append(video, f.Data)
	}
	ar := media.ClipOpus()
	for {
		p, err := ar.Next()
		if err != nil {
			break
		}
		audio = append(audio, p)
	}
	return video, audio
})

// clientAPI builds a pion API like a real client's (default codecs and
// interceptors: NACK, reports, TWCC), gathering only on loopback.
func clientAPI(t testing.TB) *webrtc.API {
	t.Helper()
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
		t.Fatal(err)
	}
	// Number outgoing packets for transport-wide congestion control, as
	// browsers do, so the relay has something to send feedback about.
	if err := webrtc.ConfigureTWCCHeaderExtensionSender(m, ir); err != nil {
		t.Fatal(err)
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetSRTPReplayProtectionWindow(1024) // as browsers: late retransmissions are accepted
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
}

func offerWithCandidates(t testing.TB, pc *webrtc.PeerConnection) string {
	t.Helper()
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	done := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-done
	return pc.LocalDescription().SDP
}

// testPublisher sends the built-in clip (VP8 + Opus) in real time, looping,
// and jumps to the next keyframe when the relay sends a PLI.
type testPublisher struct {
	pc       *webrtc.PeerConnection
	sess     *Publisher
	plis     atomic.Int64
	twcc     atomic.Int64 // transport-wide congestion feedback from the relay
	rrs      atomic.Int64 // receiver reports from the relay
	wantKey  atomic.Bool
	keys     atomic.Int64 // keyframes written
	lastKey  atomic.Int64 // when the last one was written (UnixNano)
	stop     chan struct{}
	wg       sync.WaitGroup
	stopOnce sync.Once
}

// pubOpts make a test publisher act like a fixed-GOP encoder: frameDur
// stretches the clip's 30-frame GOPs (1/15 s: a keyframe every 2 s), and
// ignorePLI leaves keyframe requests unanswered.
type pubOpts struct {
	frameDur  time.Duration
	ignorePLI bool
}

func startPublisher(t testing.TB, r *Relay, room, identity string, api *webrtc.API) *testPublisher {
	t.Helper()
	return startPublisherOpts(t, r, room, identity, api, pubOpts{})
}

func startPublisherOpts(t testing.TB, r *Relay, room, identity string, api *webrtc.API, o pubOpts) *testPublisher {
	t.Helper()
	if o.frameDur == 0 {
		o.frameDur = time.Second / 30
	}
	if api == nil {
		api = clientAPI(t)
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	vt, _ := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "video", identity)
	at, _ := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", identity)
	vs, err := pc.AddTrack(vt)
	if err != nil {
		t.Fatal(err)
	}
	as, err := pc.AddTrack(at)
	if err != nil {
		t.Fatal(err)
	}
	p := &testPublisher{pc: pc, stop: make(chan struct{})}
	sess, answer, err := r.Publish(room, identity, offerWithCandidates(t, pc))
	if err != nil {
		pc.Close()
		t.Fatalf("publishing: %v", err)
	}
	p.sess = sess
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*webrtc.RTPSender{vs, as} {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			for {
				pkts, _, err := s.ReadRTCP()
				if err != nil {
					return
				}
				for _, pk := range pkts {
					switch pk.(type) {
					case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
						p.plis.Add(1)
						p.wantKey.Store(true)
					case *rtcp.TransportLayerCC:
						p.twcc.Add(1)
					case *rtcp.ReceiverReport:
						p.rrs.Add(1)
					}
				}
			}
		}()
	}
	video, audio := clipFrames()
	p.wg.Add(2)
	go func() {
		defer p.wg.Done()
		tick := time.NewTicker(o.frameDur)
		defer tick.Stop()
		for i := 0; ; i = (i + 1) % len(video) {
			if p.wantKey.Swap(false) && i%30 != 0 && !o.ignorePLI {
				i = (i/30 + 1) * 30 % len(video) // next keyframe of the clip
			}
			if err := vt.WriteSample(pionmedia.Sample{Data: video[i], Duration: o.frameDur}); err != nil && !errors.Is(err, io.ErrClosedPipe) {
				return
			}
			if i%30 == 0 {
				p.lastKey.Store(time.Now().UnixNano())
				p.keys.Add(1)
			}
			select {
			case <-tick.C:
			case <-p.stop:
				return
			}
		}
	}()
	go func() {
		defer p.wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i = (i + 1) % len(audio) {
			_ = at.WriteSample(pionmedia.Sample{Data: audio[i], Duration: 20 * time.Millisecond})
			select {
			case <-tick.C:
			case <-p.stop:
				return
			}
		}
	}()
	return p
}

func (p *testPublisher) Close() {
	p.stopOnce.Do(func() {
		close(p.stop)
		p.pc.Close()
		p.wg.Wait()
	})
}

// testSubscriber receives tracks, reassembles VP8 frames and decodes the
// first keyframe; it records the video sequence numbers it saw.
type testSubscriber struct {
	pc *webrtc.PeerConnection

	mu         sync.Mutex
	decoded    bool
	decodeErr  error
	width      int
	audioPkts  int
	videoPkts  int
	videoSeqs  map[uint16]bool
	firstFrame chan struct{} // closed when a keyframe decoded
	connAt     time.Time     // peer connection connected
	firstAt    time.Time     // first keyframe decoded
	gotAudio   chan struct{}
	onceF      sync.Once
	onceA      sync.Once
	wg         sync.WaitGroup
	closed     chan struct{}
}

func newTestSubscriber(t testing.TB, api *webrtc.API) *testSubscriber {
	t.Helper()
	if api == nil {
		api = clientAPI(t)
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	s := &testSubscriber{pc: pc, videoSeqs: map[uint16]bool{}, firstFrame: make(chan struct{}), gotAudio: make(chan struct{}), closed: make(chan struct{})}
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		if st == webrtc.PeerConnectionStateConnected {
			s.mu.Lock()
			s.connAt = time.Now()
			s.mu.Unlock()
		}
	})
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		s.wg.Add(1)
		defer s.wg.Done()
		if tr.Kind() == webrtc.RTPCodecTypeAudio {
			for {
				if _, _, err := tr.ReadRTP(); err != nil {
					return
				}
				s.mu.Lock()
				s.audioPkts++
				s.mu.Unlock()
				s.onceA.Do(func() { close(s.gotAudio) })
			}
		}
		asm, err := media.NewAssembler(tr.Codec().MimeType)
		if err != nil {
			s.mu.Lock()
			s.decodeErr = err
			s.mu.Unlock()
			return
		}
		for {
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.videoPkts++
			s.videoSeqs[pkt.SequenceNumber] = true
			s.mu.Unlock()
			f, ok := asm.Push(pkt)
			if !ok || !f.Keyframe {
				continue
			}
			s.mu.Lock()
			done := s.decoded
			s.mu.Unlock()
			if done {
				continue
			}
			img, err := media.DecodeVP8(f.Data)
			s.mu.Lock()
			if err != nil {
				s.decodeErr = err
			} else {
				s.decoded, s.width, s.firstAt = true, img.Bounds().Dx(), time.Now()
			}
			s.mu.Unlock()
			if err == nil {
				s.onceF.Do(func() { close(s.firstFrame) })
			}
		}
	})
	return s
}

// answer is the subscriber's side of a server-offered negotiation.
func (s *testSubscriber) answer(offer string) (string, error) {
	if err := s.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", fmt.Errorf("applying relay offer: %w", err)
	}
	ans, err := s.pc.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("creating answer: %w", err)
	}
	done := webrtc.GatheringCompletePromise(s.pc)
	if err := s.pc.SetLocalDescription(ans); err != nil {
		return "", fmt.Errorf("setting answer: %w", err)
	}
	<-done
	return s.pc.LocalDescription().SDP, nil
}

// subscribeWS subscribes through the server-offered path (as /ws does).
func subscribeWS(t testing.TB, r *Relay, room, identity string) (*testSubscriber, *Subscriber) {
	t.Helper()
	ts := newTestSubscriber(t, nil)
	offers := make(chan string, 8)
	sess, first, err := r.Subscribe(room, identity, func(sdp string) { offers <- sdp })
	if err != nil {
		t.Fatal(err)
	}
	offers <- first
	ts.wg.Add(1)
	go func() {
		defer ts.wg.Done()
		for {
			select {
			case o := <-offers:
				a, err := ts.answer(o)
				if err == nil {
					err = sess.SetAnswer(a)
				}
				// A renegotiation can still be under way when the test ends
				// the session (Done closes once Close has finished): only a
				// failure while both sides live on counts.
				if err != nil && !closedWithin(time.Second, sess.Done(), ts.closed) {
					t.Errorf("answering the relay's offer: %v", err)
				}
			case <-sess.Done():
				return
			case <-ts.closed:
				return
			}
		}
	}()
	return ts, sess
}

// subscribeWHEP subscribes through the client-offered path (as WHEP does).
func subscribeWHEP(t testing.TB, r *Relay, room, identity string) (*testSubscriber, *Subscriber) {
	t.Helper()
	ts := newTestSubscriber(t, nil)
	sess, answer, err := r.SubscribeOffer(room, identity, recvOnlyOffer(t, ts.pc))
	if err != nil {
		t.Fatalf("WHEP-style subscribe: %v", err)
	}
	if err := ts.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	return ts, sess
}

// recvOnlyOffer adds receive-only video and audio to pc, as a WHEP viewer
// does, and returns its offer with candidates.
func recvOnlyOffer(t testing.TB, pc *webrtc.PeerConnection) string {
	t.Helper()
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	return offerWithCandidates(t, pc)
}

func (s *testSubscriber) Close() {
	close(s.closed)
	s.pc.Close()
	s.wg.Wait()
}

func waitChan(t testing.TB, ch <-chan struct{}, d time.Duration, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(d):
		t.Fatalf("timed out after %s waiting for %s", d, what)
	}
}

// closedWithin reports whether a or b is closed within d.
func closedWithin(d time.Duration, a, b <-chan struct{}) bool {
	select {
	case <-a:
		return true
	case <-b:
		return true
	case <-time.After(d):
		return false
	}
}
