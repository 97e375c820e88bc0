package relay

import (
	"slices"
	"sync"
	"sync/atomic"

	"github.com/livectl/livectl/internal/media"
	"github.com/livectl/livectl/internal/stats"
)

// A simulcast publisher sends one video track as several layers (encodings
// of the same picture at different sizes and bitrates), each on its own
// SSRC with an RTP stream id (RID). Each layer is an upTrack of its own
// (read loop, packet cache, GOP cache); they share a layerGroup. The room
// lists only the group's first layer to arrive (its primary): that is the
// track subscribers are offered and /ws announces. Each subscriber's
// down-track then forwards one layer at a time, chosen by the relay's
// adapt loop (adapt.go), and switches on a keyframe of the new layer.

// layerGroup is the layers of one simulcast track, lowest first.
type layerGroup struct {
	mu     sync.Mutex
	layers []*upTrack
	// list is layers for readers without the lock (copy on write).
	list atomic.Pointer[[]*upTrack]
}

// ridRank orders the RIDs publishers use, lowest layer first
// (stats.LayerRank, which tools that show the layer mix share). An unknown
// RID sorts after the known ones, in arrival order.
func ridRank(rid string) int { return stats.LayerRank(rid) }

// add inserts a layer in rank order.
func (g *layerGroup) add(t *upTrack) {
	g.mu.Lock()
	defer g.mu.Unlock()
	i := len(g.layers)
	for j, x := range g.layers {
		if ridRank(t.info.RID) < ridRank(x.info.RID) {
			i = j
			break
		}
	}
	l := slices.Insert(slices.Clone(g.layers), i, t)
	g.layers = l
	g.list.Store(&l)
}

// remove drops a layer whose read loop has ended.
func (g *layerGroup) remove(t *upTrack) {
	g.mu.Lock()
	defer g.mu.Unlock()
	l := slices.DeleteFunc(slices.Clone(g.layers), func(x *upTrack) bool { return x == t })
	g.layers = l
	g.list.Store(&l)
}

// all returns the layers, lowest first (do not modify).
func (g *layerGroup) all() []*upTrack {
	if l := g.list.Load(); l != nil {
		return *l
	}
	return nil
}

// index is t's position in the group, -1 when it is not (or no longer) in it.
func (g *layerGroup) index(t *upTrack) int { return slices.Index(g.all(), t) }

// joinLayerGroup is called by the publisher for each track it receives with
// a RID. It adds t to the group of the same stream and kind among the
// publisher's earlier tracks, or makes t the primary of a new group; it
// reports whether t is a primary (the room lists it). p.mu is held.
func (p *Publisher) joinLayerGroup(t *upTrack) bool {
	for _, x := range p.tracks {
		if x.group != nil && x.info.StreamID == t.info.StreamID && x.info.Kind == t.info.Kind {
			t.group = x.group
			t.info.ID = x.info.ID // a layer of the same track
			t.layer = true
			t.group.add(t)
			return false
		}
	}
	t.group = &layerGroup{}
	t.group.add(t)
	return true
}

// noteSize records a layer's picture size from its keyframe (read loop).
func (t *upTrack) noteSize(p *packet) {
	if w, h, ok := media.VP8KeyframeSize(p.payload()); ok {
		t.width.Store(int32(w))
		t.height.Store(int32(h))
	}
}

// layerState is a down-track's simulcast state. next and paused are set
// by the adapt loop and read by the writer; the rest is written by one
// side only, as noted.
type layerState struct {
	next   atomic.Pointer[upTrack] // the layer being switched to, until its keyframe
	paused atomic.Bool             // below the lowest layer: video pauses
	// capWait: the viewer's cap rules out every layer that has arrived
	// (it asked for q, and h came first): video waits, paused, for a
	// layer within the cap (adapt loop, capWaitMax at most).
	capWait atomic.Bool

	// Requested maximum (set_quality, WHEP ?layer= / ?max_width=):
	// maxRank+1 (0: none) and a maximum width (0: none).
	maxRank  atomic.Int32
	maxWidth atomic.Int32

	switches atomic.Uint64 // layer switches done (writer)
	fracLost atomic.Uint32 // the newest receiver report's fraction lost (of 256)

	// Owned by the writer goroutine: video was paused, so the next packet
	// sent must be a keyframe.
	wasPaused bool

	// Owned by the adapt loop.
	sel selector
}

// follows reports whether the down-track forwards t or another layer of
// t's simulcast group.
func (d *downTrack) follows(t *upTrack) bool {
	src := d.src.Load()
	return src == t || (src != nil && src.group != nil && src.group == t.group)
}

// gate runs on the writer goroutine before a packet of e.src is sent. It
// completes a pending layer switch on the new layer's keyframe, holds video
// back while paused, and restarts it on a keyframe after a pause. It
// reports whether the packet may go on to be sent.
func (d *downTrack) gate(e qentry) bool {
	src := d.src.Load()
	if e.src != src {
		return e.p != nil && !e.rtx && e.p.keyframe && d.switchTo(e.src, src)
	}
	if !d.video || src.group == nil {
		return true
	}
	if d.layers.paused.Load() {
		d.layers.wasPaused = true
		return false
	}
	if d.layers.wasPaused && e.p != nil {
		if e.rtx || !e.p.keyframe {
			return false
		}
		d.layers.wasPaused = false
		d.mapping.Store(nil) // rebase on this keyframe: continuous numbers, a decodable start
	}
	return true
}

// switchTo makes to, the layer being switched to, the source from its
// keyframe on; deliver then rebases onto it, so sequence numbers and
// timestamps continue where the old layer's left off.
func (d *downTrack) switchTo(to, from *upTrack) bool {
	if from == nil || d.layers.next.Load() != to || !d.src.CompareAndSwap(from, to) {
		return false
	}
	d.layers.next.CompareAndSwap(to, nil)
	from.removeDown(d)
	d.layers.switches.Add(1)
	d.layers.wasPaused = false
	d.layers.paused.Store(false) // a switch chosen while paused resumes here (chooseLayer)
	return true
}

// beginSwitch starts forwarding to: it joins to's down-tracks and asks for
// its keyframe (the read loop repeats the request, throttled, while the
// track waits); the current layer goes on until that keyframe arrives. A
// switch already pending to another layer is abandoned. Adapt loop only.
func (d *downTrack) beginSwitch(to *upTrack) {
	if old := d.layers.next.Swap(to); old != nil && old != to {
		old.removeDown(d)
		d.stopWaiting(old)
	}
	to.addDown(d)
	d.startWaiting(to)
	if to.removed.Load() || d.src.Load() == nil {
		d.cancelSwitch()
	}
}

// cancelSwitch abandons a pending switch (the track is detached, or the
// target is no longer wanted).
func (d *downTrack) cancelSwitch() {
	if old := d.layers.next.Swap(nil); old != nil {
		old.removeDown(d)
		d.stopWaiting(old)
	}
}

// firstLayer picks the layer a down-track attaching to a simulcast track
// starts on: the one the adapt loop would choose with the initial
// estimate, within the viewer's requested maximum. Layer bitrates are not
// known yet when the publisher has just started (nor may all its layers
// have arrived); then it is the middle layer by RID (h), or the highest
// below it that has arrived.
func (d *downTrack) firstLayer(t *upTrack) *upTrack {
	if t.group == nil || !d.video {
		return t
	}
	layers := t.group.all()
	if len(layers) == 0 {
		return t
	}
	if d.capExcludes(layers[0]) {
		d.layers.capWait.Store(true)
		d.layers.paused.Store(true)
		return layers[0]
	}
	top := d.maxIndex(layers)
	i := 0
	for i < top && ridRank(layers[i+1].info.RID) <= 1 {
		i++
	}
	if measured(layers[:top+1]) {
		if j := fitLayer(layers[:top+1], d.sub.estimate(), 1); j >= 0 {
			i = j
		}
	}
	return layers[max(i, 0)]
}

// capExcludes reports whether the viewer's cap by layer rules out l.
func (d *downTrack) capExcludes(l *upTrack) bool {
	r := int(d.layers.maxRank.Load()) - 1
	return r >= 0 && ridRank(l.info.RID) > r
}

// maxIndex is the highest layer index the viewer allows (the lowest when
// it allows none).
func (d *downTrack) maxIndex(layers []*upTrack) int {
	top := len(layers) - 1
	for top > 0 && d.capExcludes(layers[top]) {
		top--
	}
	if w := int(d.layers.maxWidth.Load()); w > 0 {
		for top > 0 && int(layers[top].width.Load()) > w {
			top--
		}
	}
	return top
}

// measured reports whether every layer's bitrate is known (the adapt loop
// measures them over a second once a layer's packets flow).
func measured(layers []*upTrack) bool {
	for _, l := range layers {
		if l.rate.Load() == 0 {
			return false
		}
	}
	return true
}

// fitLayer is the highest layer whose bitrate times headroom fits in bps,
// -1 when none does (or no bitrate is known yet).
func fitLayer(layers []*upTrack, bps float64, headroom float64) int {
	for i := len(layers) - 1; i >= 0; i-- {
		r := float64(layers[i].rate.Load())
		if r > 0 && r*headroom <= bps {
			return i
		}
	}
	return -1
}

// Layer names what a viewer asks for: a RID rank (0 lowest) or a maximum
// width in pixels.
type LayerRequest struct {
	RID      string // "q", "h", "f" (or l/m/h, 0/1/2); empty: no cap by layer
	MaxWidth int    // 0: no cap by width
}

// SetQuality caps the layers of the subscriber's simulcast video track
// trackID (every video track when trackID is empty, also those added
// later) at req; an empty request lifts the cap. It reports whether any
// track matched.
func (s *Subscriber) SetQuality(trackID string, req LayerRequest) bool {
	if trackID == "" {
		// A viewer asks right after subscribing, and a track whose first
		// packets reach the relay after that (a publisher that has just
		// started) gets its down-track later: it takes this cap.
		s.mu.Lock()
		s.quality = &req
		s.mu.Unlock()
	}
	found := false
	for _, d := range s.downTracks() {
		if !d.video || (trackID != "" && d.id != trackID) {
			continue
		}
		found = true
		d.setQuality(req)
	}
	return found
}

func (d *downTrack) setQuality(req LayerRequest) {
	rank := int32(0)
	if req.RID != "" {
		rank = int32(ridRank(req.RID)) + 1
	}
	d.layers.maxRank.Store(rank)
	d.layers.maxWidth.Store(int32(max(req.MaxWidth, 0)))
	d.layers.sel.requested.Store(true)
}

// simulcastStats counts the room's viewers per layer, its layers no one
// takes and the median estimate of viewers of simulcast tracks; nil
// without simulcast tracks. rm.mu is held.
func (rm *Room) simulcastStats(switches uint64) *SimulcastStats {
	var st *SimulcastStats
	for _, t := range rm.tracks {
		if t.group == nil {
			continue
		}
		if st == nil {
			st = &SimulcastStats{ViewersPerLayer: map[string]int{}, Switches: switches}
		}
		for _, l := range t.group.all() {
			if len(*l.downs.Load()) == 0 {
				st.UnusedLayers++
			}
		}
	}
	if st == nil {
		return nil
	}
	var est []float64
	for s := range rm.subs {
		counted := false
		for _, d := range s.downTracks() {
			src := d.src.Load()
			if src == nil || src.group == nil || !d.video {
				continue
			}
			if d.layers.paused.Load() {
				st.ViewersPerLayer[stats.LayerPaused]++
			} else {
				st.ViewersPerLayer[src.info.RID]++
			}
			if !counted {
				est = append(est, s.estimate())
				counted = true
				if s.bwe.quiet() {
					st.QuietViewers++
				}
			}
		}
	}
	if len(est) > 0 {
		slices.Sort(est)
		st.EstimateP50Bps = uint64(est[len(est)/2])
	}
	return st
}
