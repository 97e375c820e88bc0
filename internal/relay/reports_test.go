package relay

import (
	"encoding/binary"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

func TestNTPTime(t *testing.T) {
	for _, tc := range []struct {
		t    time.Time
		want uint64
	}{
		{time.Unix(0, 0), 2208988800 << 32},
		{time.Unix(0, 500_000_000), 2208988800<<32 | 1<<31},
		{time.Unix(1, 250_000_000), 2208988801<<32 | 1<<30},
	} {
		if got := ntpTime(tc.t); got != tc.want {
			t.Errorf("ntpTime(%v) = %#x, want %#x", tc.t, got, tc.want)
		}
	}
}

func TestTicksSince(t *testing.T) {
	for _, tc := range []struct {
		el   time.Duration
		rate uint32
		want uint32
	}{
		{0, 90000, 0},
		{-time.Second, 90000, 0}, // a reference from the future counts as now
		{100 * time.Millisecond, 90000, 9000},
		{20 * time.Millisecond, 48000, 960},
		{1500 * time.Millisecond, 90000, 135000},
		// 100 hours: the product of nanoseconds and rate would overflow
		// 64 bits; the timestamp wraps as RTP's does.
		{100 * time.Hour, 90000, uint32(32_400_000_000 % (1 << 32))},
	} {
		if got := ticksSince(1000, 1000+int64(tc.el), tc.rate); got != tc.want {
			t.Errorf("ticksSince(%v at %d Hz) = %d, want %d", tc.el, tc.rate, got, tc.want)
		}
	}
}

func TestSRClockPairsOneFrame(t *testing.T) {
	var c srClock
	if _, _, _, _, ok := c.load(); ok {
		t.Fatal("a clock with nothing published loads")
	}
	// The writer publishes frames whose timestamp and arrival move
	// together (ts = at/1000); a reader must never see one frame's
	// timestamp with another's arrival.
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := int64(1); ; i++ {
			select {
			case <-done:
				return
			default:
			}
			c.publish(uint32(i), i*1000, uint32(3*i), uint32(2*i))
		}
	})
	loads := 0
	for deadline := time.Now().Add(200 * time.Millisecond); time.Now().Before(deadline); {
		ts, at, packets, octets, ok := c.load()
		if !ok {
			continue
		}
		loads++
		if int64(ts)*1000 != at || packets != 3*ts || octets != 2*ts {
			close(done)
			wg.Wait()
			t.Fatalf("loaded ts %d, arrival %d, packets %d, octets %d: not one frame's", ts, at, packets, octets)
		}
	}
	close(done)
	wg.Wait()
	if loads == 0 {
		t.Fatal("no load succeeded while the writer published")
	}
}

// srSeen is a sender report and what the receiver had of its track when
// the report arrived.
type srSeen struct {
	sr       rtcp.SenderReport
	at       time.Time
	lastTS   uint32
	lastAt   time.Time
	packets  int
	payloads int
	// frameStarts holds the packets and payload bytes received up to each
	// frame's first packet: a report's counts are those of some frame.
	frameStarts map[[2]int]bool
}

// TestSenderReports subscribes a real pion receiver and checks the
// reports of both tracks against the media it received: each names its
// track's SSRC; its RTP time is the receiver's latest timestamp moved on
// by the time since that packet came; its NTP and RTP times advance
// together; and its counts are the packets and payload bytes received.
func TestSenderReports(t *testing.T) {
	r := newTestRelay(t, Config{})
	pub := startPublisher(t, r, "sr", "alice", nil)
	defer pub.Close()

	pc, err := clientAPI(t).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := map[string][]srSeen{} // by kind
	ssrcs := map[string]uint32{}  // by kind
	rates := map[string]float64{} // by kind
	state := map[string]*srSeen{} // the receiver's running figures, by kind
	var wg sync.WaitGroup
	pc.OnTrack(func(tr *webrtc.TrackRemote, rx *webrtc.RTPReceiver) {
		kind := tr.Kind().String()
		mu.Lock()
		ssrcs[kind] = uint32(tr.SSRC())
		rates[kind] = float64(tr.Codec().ClockRate)
		st := &srSeen{frameStarts: map[[2]int]bool{}}
		state[kind] = st
		mu.Unlock()
		wg.Go(func() {
			for {
				pkts, _, err := rx.ReadRTCP()
				if err != nil {
					return
				}
				now := time.Now()
				for _, p := range pkts {
					if sr, ok := p.(*rtcp.SenderReport); ok {
						mu.Lock()
						s := *st
						s.sr, s.at = *sr, now
						seen[kind] = append(seen[kind], s)
						mu.Unlock()
					}
				}
			}
		})
		for {
			p, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			mu.Lock()
			newFrame := st.packets == 0 || p.Timestamp != st.lastTS
			st.lastTS, st.lastAt = p.Timestamp, time.Now()
			st.packets++
			st.payloads += len(p.Payload)
			if newFrame {
				st.frameStarts[[2]int{st.packets, st.payloads}] = true
			}
			mu.Unlock()
		}
	})
	sess, answer, err := r.SubscribeOffer("sr", "viewer", recvOnlyOffer(t, pc))
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		enough := len(seen["video"]) >= 3 && len(seen["audio"]) >= 3
		mu.Unlock()
		if enough {
			break
		}
		if time.Now().After(deadline) {
			mu.Lock()
			t.Fatalf("after 10 s: %d video and %d audio sender reports, want 3 of each", len(seen["video"]), len(seen["audio"]))
		}
		time.Sleep(50 * time.Millisecond)
	}
	pc.Close()
	sess.Close()
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	for _, kind := range []string{"video", "audio"} {
		rate, st := rates[kind], state[kind]
		var prev *srSeen
		var offs []float64
		for i := range seen[kind] {
			s := &seen[kind][i]
			if s.sr.SSRC != ssrcs[kind] {
				t.Errorf("%s report %d: SSRC %d, the track's is %d", kind, i, s.sr.SSRC, ssrcs[kind])
			}
			if s.packets == 0 {
				continue // before the track's first packet reached the receiver
			}
			// Where the receiver's latest packet puts the media clock now.
			expect := float64(s.lastTS) + s.at.Sub(s.lastAt).Seconds()*rate
			off := float64(int32(s.sr.RTPTime-uint32(expect))) / rate
			offs = append(offs, math.Abs(off))
			if math.Abs(off) > 0.1 {
				t.Errorf("%s report %d: RTP time %d is %.0f ms off the received media's clock", kind, i, s.sr.RTPTime, off*1000)
			}
			if counts := [2]int{int(s.sr.PacketCount), int(s.sr.OctetCount)}; !st.frameStarts[counts] || counts[0] == 0 {
				t.Errorf("%s report %d: %d packets and %d payload bytes, which the receiver never had at a frame's first packet (it had %d and %d)",
					kind, i, counts[0], counts[1], s.packets, s.payloads)
			}
			if prev != nil && prev.packets > 0 {
				wall := ntpSeconds(s.sr.NTPTime) - ntpSeconds(prev.sr.NTPTime)
				media := float64(s.sr.RTPTime-prev.sr.RTPTime) / rate
				if wall < 0.5 || math.Abs(media-wall) > 0.03 {
					t.Errorf("%s reports %d and %d: %.3f s apart in NTP time, %.3f s in RTP time", kind, i-1, i, wall, media)
				}
			}
			prev = s
		}
		// A report's time taken from the last frame without moving it on
		// is 10-16 ms behind on average; a late receipt makes single
		// reports look off, not most of them.
		if len(offs) > 0 {
			slices.Sort(offs)
			if med := offs[len(offs)/2]; med > 0.006 {
				t.Errorf("%s reports: RTP time off the received media's clock by %.1f ms (median)", kind, med*1000)
			}
		}
	}
}

func ntpSeconds(ntp uint64) float64 { return float64(ntp>>32) + float64(ntp&0xffffffff)/(1<<32) }

// TestMalformedRTCPKeepsReading sends the relay, from a real subscriber,
// an RTCP datagram that cannot be parsed (a transport-wide feedback
// packet with a valid header and garbage inside) and then a picture loss
// indication: the PLI must still reach the publisher. pion's ReadRTCP
// returns the parse error, and a reader that stopped on it left the
// viewer without NACKs and keyframe requests for the rest of its session.
func TestMalformedRTCPKeepsReading(t *testing.T) {
	r := newTestRelay(t, Config{})
	pub := startPublisher(t, r, "bad-rtcp", "alice", nil)
	defer pub.Close()
	ts, sess := subscribeWHEP(t, r, "bad-rtcp", "viewer")
	defer sess.Close()
	defer ts.Close()
	waitChan(t, ts.firstFrame, 10*time.Second, "first frame")

	var ssrc uint32
	for _, d := range sess.downTracks() {
		if d.video {
			ssrc = d.ssrc
		}
	}
	// RTPFB, FMT 15 (transport-wide feedback), 5 words: sender SSRC,
	// media SSRC (the relay routes on it), then a base sequence number
	// and a status count of 0xffff whose chunks are missing.
	garbage := []byte{0x8f, 205, 0, 4, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xde, 0xad, 0xbe, 0xef}
	binary.BigEndian.PutUint32(garbage[8:], ssrc)
	if _, err := rtcp.Unmarshal(garbage); err == nil {
		t.Fatal("the garbage packet parses: it tests nothing")
	}
	time.Sleep(time.Second) // past the keyframe request throttle of the join
	for range 3 {
		if err := ts.pc.WriteRTCP([]rtcp.Packet{&rtcp.RawPacket{0x80, 201, 0, 1, 0, 0, 0, 1}, (*rtcp.RawPacket)(&garbage)}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(200 * time.Millisecond)
	before := pub.plis.Load()
	if err := ts.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for pub.plis.Load() == before {
		if time.Now().After(deadline) {
			t.Fatal("a PLI sent after malformed RTCP never reached the publisher")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
