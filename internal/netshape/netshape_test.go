package netshape

import (
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestRate: 1.6 Mbit/s offered for a second through each shape; what is
// read comes out at about the rate set (all of it without a rate): a
// second's worth plus the queue's (200 ms) by half a second after the
// last packet; the rest is dropped, not delivered late.
func TestRate(t *testing.T) {
	tests := []struct {
		name  string
		opts  Options
		lossy bool
	}{
		{"unlimited", Options{}, false},
		{"700 kbit/s", Options{RateBps: 700_000}, true},
		{"10 % loss", Options{Loss: 0.1}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := net.ListenPacket("udp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			c := Wrap(raw, tt.opts)
			defer c.Close()
			tx, err := net.Dial("udp", raw.LocalAddr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Close()
			const size, pps = 1000, 200 // 1.6 Mbit/s
			got := make(chan int, 1)
			go func() {
				n := 0
				buf := make([]byte, 2000)
				for {
					k, _, err := c.ReadFrom(buf)
					if err != nil {
						got <- n
						return
					}
					n += k
				}
			}()
			pkt := make([]byte, size)
			start := time.Now()
			for i := range pps {
				time.Sleep(time.Until(start.Add(time.Duration(i) * time.Second / pps)))
				tx.Write(pkt)
			}
			sent := time.Since(start) // more than a second on a busy host
			time.Sleep(500 * time.Millisecond)
			c.Close() // ends the reader, which counts what came by then
			n := <-got
			// What comes through: all of it, 90 % of it, or what the
			// rate lets out while sending plus the queue's worth.
			want := float64(size * pps * 8)
			switch {
			case tt.opts.RateBps > 0:
				want = min(want, float64(tt.opts.RateBps)*(sent+DefaultQueue).Seconds())
			case tt.opts.Loss > 0:
				want *= 1 - tt.opts.Loss
			}
			if bits := float64(n * 8); bits < want*0.85 || bits > want*1.15 {
				t.Errorf("delivered %.0f bits in a %v send, want about %.0f", bits, sent, want)
			}
			if (c.Dropped() > 0) != tt.lossy {
				t.Errorf("dropped %d packets", c.Dropped())
			}
		})
	}
}
