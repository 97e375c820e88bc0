package publish

import (
	"sync"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
)

// ridTagger puts the MID and RTP stream id header extensions on the
// packets of simulcast layers. pion sends each layer of a sender with
// several encodings on its own SSRC but leaves the extensions to the
// application, and a receiver cannot tell the layers apart (nor match
// them to the offer's a=rid lines) without them.
type ridTagger struct {
	interceptor.NoOp

	mu   sync.Mutex
	tags map[uint32]ridTag // by SSRC
}

type ridTag struct{ mid, rid []byte }

// tag makes packets on ssrc carry mid and rid from now on.
func (r *ridTagger) tag(ssrc uint32, mid, rid string) {
	r.mu.Lock()
	if r.tags == nil {
		r.tags = map[uint32]ridTag{}
	}
	r.tags[ssrc] = ridTag{[]byte(mid), []byte(rid)}
	r.mu.Unlock()
}

// NewInterceptor lets ridTagger serve as its own factory: one publisher,
// one peer connection.
func (r *ridTagger) NewInterceptor(string) (interceptor.Interceptor, error) { return r, nil }

func (r *ridTagger) BindLocalStream(info *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	var midID, ridID uint8
	for _, e := range info.RTPHeaderExtensions {
		switch e.URI {
		case sdp.SDESMidURI:
			midID = uint8(e.ID)
		case sdp.SDESRTPStreamIDURI:
			ridID = uint8(e.ID)
		}
	}
	if midID == 0 || ridID == 0 {
		return w
	}
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		r.mu.Lock()
		t, ok := r.tags[h.SSRC]
		r.mu.Unlock()
		if ok {
			if err := h.SetExtension(midID, t.mid); err != nil {
				return 0, err
			}
			if err := h.SetExtension(ridID, t.rid); err != nil {
				return 0, err
			}
		}
		return w.Write(h, payload, a)
	})
}
