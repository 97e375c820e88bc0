package relay

import "time"

// Transport-wide sequence numbers. A simulcast subscriber's video packets
// carry the number that its viewer's feedback reports back to the train
// meter (trains.go). downTrack.send stamps them: one counter per
// subscriber (transport-wide, so shared by its video tracks), the
// extension's two bytes kept in the down-track, so that a packet allocates
// nothing and is numbered and recorded in one place.
//
// Feedback on demand. A viewer reports on every numbered packet, in
// feedback it sends every 50-100 ms, and each feedback datagram costs the
// relay more than the packets it reports on: it comes in through pion's
// ICE, DTLS and SRTCP layers, a goroutine hand-off at each
// (docs/media.md). A viewer that has been on its top layer for quietAfter
// with room to spare, no loss, no NACKs and no queue learns nothing from
// most of it, so its packets are then numbered only quietOn of every
// quietPeriod: its feedback falls to about a quarter, and the windows still
// bring trains (capacity, trains.go; a capacity that lapses for want of
// them ends the quiet) and queue readings (standing.go). Anything that
// could need the estimate at once (NACKs, reported loss, a queue, a cap, a
// layer change, less headroom) makes it number every packet again at the
// next adapt (updateQuiet). A path that narrows while a viewer is quiet
// shows first in its NACKs, so its step down starts from less queue
// history: as fast as before in the Chromium path test, but more often
// to the lowest layer first (docs/media.md; a 4 s period was slower).
//
// A viewer's feedback interval is its own: the relay cannot ask for less
// of it (transport-wide-cc-02's feedback on request is not in pion, nor in
// the bench's viewers), only send it less to report on.
const (
	quietAfter    = 5 * time.Second
	quietPeriod   = 3 * time.Second
	quietOn       = 750 * time.Millisecond
	quietHeadroom = 1.5  // estimate over what the viewer is sent
	quietLoss     = 0.01 // receiver-reported loss
	quietNACKs    = 0.01 // packets NACKed per packet sent, per adapt interval
)

// stamps reports whether a video packet sent at now carries a
// transport-wide number (writer goroutines).
func (b *subscriberBWE) stamps(now int64) bool {
	q := b.quietFrom.Load()
	return q == 0 || (now-q)%int64(quietPeriod) < int64(quietOn)
}

// nextSeq is the next transport-wide sequence number (writer goroutines).
func (b *subscriberBWE) nextSeq() uint16 { return uint16(b.seq.Add(1) - 1) }

// updateQuiet lets the subscriber's feedback go quiet once every layered
// track has been settled (downTrack.adapt: quietOK) and the estimate calm
// for quietAfter, and ends it at once when either stops (adapt loop).
func (s *Subscriber) updateQuiet(now int64, layered []*downTrack, sent, loss float64) {
	b := &s.bwe
	ok := b.twccSeen.Load() && b.capacity.Load() > 0 && b.delayBps.Load() == 0 &&
		loss < quietLoss && b.standing < standingTarget/2 && s.estimate() >= quietHeadroom*sent
	for _, d := range layered {
		ok = ok && d.layers.sel.quietOK
	}
	switch {
	case !ok:
		b.calmSince = 0
		b.quietFrom.Store(0)
	case b.calmSince == 0:
		b.calmSince = now
	case now-b.calmSince >= int64(quietAfter) && b.quietFrom.Load() == 0:
		b.quietFrom.Store(now)
	}
}

// quiet reports whether the subscriber's feedback is quiet (stats).
func (b *subscriberBWE) quiet() bool { return b.quietFrom.Load() != 0 }
