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
		want  float64 // bits delivered: at the rate for the second plus the queue
		lossy bool
	}{
		{"unlimited", Options{}, 1_600_000, false},
		{"700 kbit/s", Options{RateBps: 700_000}, 700_000 * 1.2, true},
		{"10 % loss", Options{Loss: 0.1}, 1_440_000, true},
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
			time.Sleep(500 * time.Millisecond)
			c.Close() // ends the reader, which counts what came by then
			n := <-got
			if bits := float64(n * 8); bits < tt.want*0.85 || bits > tt.want*1.15 {
				t.Errorf("delivered %.0f bits, want about %.0f", bits, tt.want)
			}
			if (c.Dropped() > 0) != tt.lossy {
				t.Errorf("dropped %d packets", c.Dropped())
			}
		})
	}
}
