package relay

import (
	"testing"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
)

// TestTWCCStamp: packets of every stream of a peer carry one transport-wide
// sequence, and a write allocates nothing.
func TestTWCCStamp(t *testing.T) {
	i, err := twccStampFactory{}.NewInterceptor("")
	if err != nil {
		t.Fatal(err)
	}
	info := &interceptor.StreamInfo{RTPHeaderExtensions: []interceptor.RTPHeaderExtension{{URI: sdp.TransportCCURI, ID: 5}}}
	var seqs []uint16
	next := interceptor.RTPWriterFunc(func(h *rtp.Header, _ []byte, _ interceptor.Attributes) (int, error) {
		var ext rtp.TransportCCExtension
		if err := ext.Unmarshal(h.GetExtension(5)); err != nil {
			t.Fatalf("no transport-wide extension: %v", err)
		}
		if len(seqs) < 4 {
			seqs = append(seqs, ext.TransportSequence)
		}
		return 1, nil
	})
	video, audio := i.BindLocalStream(info, next), i.BindLocalStream(info, next)
	var hv, ha rtp.Header
	for _, w := range []struct {
		wr interceptor.RTPWriter
		h  *rtp.Header
	}{{video, &hv}, {video, &hv}, {audio, &ha}, {video, &hv}} {
		w.h.Extensions = w.h.Extensions[:0]
		if _, err := w.wr.Write(w.h, []byte{1}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if want := []uint16{0, 1, 2, 3}; len(seqs) != 4 || seqs[0] != want[0] || seqs[1] != want[1] || seqs[2] != want[2] || seqs[3] != want[3] {
		t.Errorf("sequence numbers %v, want %v", seqs, want)
	}
	sink := i.BindLocalStream(info, interceptor.RTPWriterFunc(func(*rtp.Header, []byte, interceptor.Attributes) (int, error) {
		return 1, nil
	}))
	payload := []byte{1}
	allocs := testing.AllocsPerRun(100, func() {
		hv.Extensions = hv.Extensions[:0]
		_, _ = sink.Write(&hv, payload, nil)
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per write, want 0", allocs)
	}
	var plain rtp.Header
	noExt := i.BindLocalStream(&interceptor.StreamInfo{}, interceptor.RTPWriterFunc(func(h *rtp.Header, _ []byte, _ interceptor.Attributes) (int, error) {
		return 1, nil
	}))
	if _, err := noExt.Write(&plain, []byte{1}, nil); err != nil || plain.Extension {
		t.Errorf("a stream without the extension negotiated: err %v, header extension %v", err, plain.Extension)
	}
}
