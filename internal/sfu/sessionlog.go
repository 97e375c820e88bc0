package sfu

import (
	"time"

	"github.com/livectl/livectl/internal/relay"
)

// startMediaLog logs that a publish or subscribe session started and
// returns the function that logs its end, with how long it lasted and the
// bytes and packets it carried (received from a publisher, sent to a
// subscriber). transport is "ws", "whip" or "whep".
func (s *SFU) startMediaLog(what, transport, room, identity, remote string, counters func() relay.Counters) (ended func()) {
	attrs := []any{"room", room, "identity", identity, "transport", transport, "remote", remote}
	s.log.Info(what+" started", attrs...)
	start := time.Now()
	return func() {
		c := counters()
		bytes, packets := c.BytesIn, c.PacketsIn
		if what == "subscribe" {
			bytes, packets = c.BytesOut, c.PacketsOut
		}
		s.log.Info(what+" ended", append(attrs, "duration", time.Since(start).Round(time.Millisecond).String(),
			"bytes", bytes, "packets", packets)...)
	}
}
