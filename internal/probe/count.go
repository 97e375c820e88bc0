package probe

import (
	"context"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/livectl/livectl/internal/media"
)

// countFrames observes the stream after the first keyframe (RTP timestamp
// keyTS, complete at first) until until, ctx's end, or the stream's end,
// counting frames with a media.FrameCounter: each packet is read into one
// reused buffer and only its header and first payload bytes are looked at
// (a keyframe's size too, which layers follows).
// (A frame whose first packets reached the assembler before the keyframe
// completed is not counted: at most one, and only with reordering or a
// retransmitted keyframe packet.)
func (a *attempt) countFrames(ctx context.Context, t *webrtc.TrackRemote, codec string, keyTS uint32, first, until time.Time, layers *media.LayerTracker) Result {
	fc, err := media.NewFrameCounter(codec)
	if err != nil { // the assembler took the codec, and so does the counter
		return a.fail(PhaseFirstKeyframe, err)
	}
	fc.After(keyTS)
	buf := make([]byte, 1500)
	var p rtp.Packet
	frames, last := 1, first
	var maxGap time.Duration
	t.SetReadDeadline(until)
	for ctx.Err() == nil { // ctx's end moves the read deadline to now
		n, _, err := t.Read(buf)
		if err != nil {
			break // observation over, or the stream ended
		}
		if p.Unmarshal(buf[:n]) != nil {
			continue
		}
		f, ok := fc.Push(&p)
		if !ok {
			continue
		}
		now := time.Now()
		maxGap = max(maxGap, now.Sub(last))
		frames, last = frames+1, now
		layers.Frame(now, f)
		if a.o.OnFrame != nil {
			a.o.OnFrame(now, f)
		}
	}
	maxGap = max(maxGap, time.Since(last))
	a.noteLayers(layers, time.Now())
	a.mu.Lock()
	defer a.mu.Unlock()
	a.res.Frames = frames
	a.res.MaxGapMS = float64(maxGap.Microseconds()) / 1000
	a.res.Frozen = maxGap > a.o.FreezeThreshold
	return a.res
}
