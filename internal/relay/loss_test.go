package relay

import (
	"encoding/binary"
	"net"
	"sync"
	"testing"
	"time"
)

// lossyConn drops a share of video RTP packets the first time each is
// seen, in both directions, like a lossy network between the relay and its
// peers. Retransmissions (same SSRC and sequence number) pass.
type lossyConn struct {
	net.PacketConn
	videoPT       byte
	everyIn       int // drop one in everyIn publisher→relay video packets
	everyOut      int // and one in everyOut relay→subscriber ones
	mu            sync.Mutex
	seen          map[uint64]bool
	nIn, nOut     int
	dropIn, dropO int
}

func (c *lossyConn) drop(b []byte, in bool) bool {
	if len(b) < 12 || b[0]>>6 != 2 || b[1]&0x7f != c.videoPT {
		return false
	}
	key := uint64(binary.BigEndian.Uint32(b[8:]))<<16 | uint64(binary.BigEndian.Uint16(b[2:]))
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen[key] {
		return false
	}
	c.seen[key] = true
	if in {
		c.nIn++
		if c.nIn%c.everyIn == 0 {
			c.dropIn++
			return true
		}
	} else {
		c.nOut++
		if c.nOut%c.everyOut == 0 {
			c.dropO++
			return true
		}
	}
	return false
}

func (c *lossyConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(b)
		if err != nil || !c.drop(b[:n], true) {
			return n, addr, err
		}
	}
}

func (c *lossyConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if c.drop(b, false) {
		return len(b), nil
	}
	return c.PacketConn.WriteTo(b, addr)
}

// TestLossRecoveredByNACK drops 1 in 10 video packets from the publisher
// and 1 in 15 towards each subscriber: the relay's NACKs get the first
// kind resent by the publisher, its cache answers the subscribers' NACKs
// for the second, and the subscribers see every sequence number.
func TestLossRecoveredByNACK(t *testing.T) {
	lc := &lossyConn{videoPT: 96, everyIn: 10, everyOut: 15, seen: map[uint64]bool{}}
	r := newTestRelay(t, Config{wrapConn: func(pc net.PacketConn) net.PacketConn { lc.PacketConn = pc; return lc }})
	start := time.Now()
	pub := startPublisher(t, r, "lossy", "alice", nil)
	defer pub.Close()
	wsSub, wsSess := subscribeWS(t, r, "lossy", "bob")
	defer wsSess.Close()
	defer wsSub.Close()
	whepSub, whepSess := subscribeWHEP(t, r, "lossy", "carol")
	defer whepSess.Close()
	defer whepSub.Close()

	// Let about 300 video packets through to each subscriber (the clip
	// sends ~130 a second), then allow the last repairs to land.
	deadline := time.Now().Add(15 * time.Second)
	for _, s := range []*testSubscriber{wsSub, whepSub} {
		for {
			s.mu.Lock()
			n := s.videoPkts
			s.mu.Unlock()
			if n >= 300 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("only %d video packets reached a subscriber", n)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	t.Logf("300 packets after %s", time.Since(start))
	time.Sleep(500 * time.Millisecond)

	lc.mu.Lock()
	dropIn, dropOut := lc.dropIn, lc.dropO
	lc.mu.Unlock()
	if dropIn < 10 || dropOut < 10 {
		t.Fatalf("the lossy layer dropped only %d inbound and %d outbound packets; the test did not exercise loss", dropIn, dropOut)
	}
	for name, s := range map[string]*testSubscriber{"ws": wsSub, "whep": whepSub} {
		s.mu.Lock()
		var lo, hi uint16
		first := true
		for seq := range s.videoSeqs {
			if first || int16(seq-lo) < 0 {
				lo = seq
			}
			if first || int16(seq-hi) > 0 {
				hi = seq
			}
			first = false
		}
		// Packets near the newest may still be in repair; look before them.
		var missing []uint16
		for seq := lo; int16(hi-20-seq) >= 0; seq++ {
			if !s.videoSeqs[seq] {
				missing = append(missing, seq)
			}
		}
		n := len(s.videoSeqs)
		s.mu.Unlock()
		if len(missing) > 0 {
			t.Errorf("%s subscriber: %d of %d video packets never arrived: %v", name, len(missing), n, missing[:min(len(missing), 20)])
		}
	}
	st := r.Stats()
	if st.Retransmits == 0 || st.NACKs == 0 {
		t.Errorf("relay answered no NACKs: %+v", st)
	}
	if st.PacketsLost > 2 {
		t.Errorf("relay counts %d publisher packets lost after NACK recovery (dropped %d)", st.PacketsLost, dropIn)
	}
	t.Logf("dropped in %d out %d; relay: nacks %d retransmits %d lost %d", dropIn, dropOut, st.NACKs, st.Retransmits, st.PacketsLost)
}
