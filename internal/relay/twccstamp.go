package relay

import (
	"sync/atomic"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
)

// twccStamp numbers a simulcast subscriber's outgoing video packets with
// the transport-wide sequence number that the viewer's feedback reports
// back to the train meter (trains.go). It does what pion's
// twcc.HeaderExtensionInterceptor does without marshaling the extension
// into a new slice per packet: each stream reuses its two bytes. That is
// safe because a down-track's packets are written one at a time by its
// subscriber's writer goroutine (downTrack.send reuses its header the same
// way), and the extension is marshaled into the packet before the write
// returns.
type twccStamp struct {
	interceptor.NoOp
	next atomic.Uint32 // the peer's transport-wide sequence number
}

type twccStampFactory struct{}

func (twccStampFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &twccStamp{}, nil
}

// BindLocalStream implements interceptor.Interceptor.
func (t *twccStamp) BindLocalStream(info *interceptor.StreamInfo, writer interceptor.RTPWriter) interceptor.RTPWriter {
	var id uint8
	for _, e := range info.RTPHeaderExtensions {
		if e.URI == sdp.TransportCCURI {
			id = uint8(e.ID)
			break
		}
	}
	if id == 0 {
		return writer
	}
	var ext [2]byte
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		seq := uint16(t.next.Add(1) - 1)
		ext[0], ext[1] = byte(seq>>8), byte(seq)
		if err := h.SetExtension(id, ext[:]); err != nil {
			return 0, err
		}
		return writer.Write(h, payload, a)
	})
}
