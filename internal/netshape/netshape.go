// Package netshape constrains the path into a UDP socket in user space: a
// net.PacketConn wrapper that delivers what it receives no faster than a
// set rate (a token bucket with a bounded queue, like tc's tbf: what would
// wait longer than the queue's limit is dropped), after an added delay, and
// with random loss. Tests and `bench media` put it under a viewer's ICE
// socket to give that viewer a narrow or lossy path without root, network
// namespaces or kernel modules. The rate can change while traffic flows.
package netshape

import (
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultQueue is how long a packet may wait for its turn at the rate
// before it is dropped (tbf's latency).
const DefaultQueue = 200 * time.Millisecond

// Conn shapes what is read from the wrapped PacketConn. Writes pass
// through untouched.
type Conn struct {
	net.PacketConn

	rate  atomic.Int64 // bits/s; 0: unlimited
	delay time.Duration
	loss  float64
	queue time.Duration

	in     chan datagram
	closed chan struct{}
	once   sync.Once
	wg     sync.WaitGroup

	dropped, delivered atomic.Uint64
}

type datagram struct {
	b    []byte
	addr net.Addr
	at   time.Time // when it may be read
	err  error
}

// Options shape a Conn.
type Options struct {
	RateBps int64         // 0: unlimited
	Delay   time.Duration // added to every packet
	Loss    float64       // 0–1, independent per packet
	Queue   time.Duration // 0: DefaultQueue
}

// Wrap shapes pc's inbound traffic with o. Close closes pc.
func Wrap(pc net.PacketConn, o Options) *Conn {
	if o.Queue <= 0 {
		o.Queue = DefaultQueue
	}
	c := &Conn{PacketConn: pc, delay: o.Delay, loss: o.Loss, queue: o.Queue,
		in: make(chan datagram, 4096), closed: make(chan struct{})}
	c.rate.Store(o.RateBps)
	c.wg.Add(1)
	go c.pump()
	return c
}

// SetRate changes the rate limit (bits/s; 0 lifts it).
func (c *Conn) SetRate(bps int64) { c.rate.Store(bps) }

// Dropped and Delivered count inbound packets.
func (c *Conn) Dropped() uint64   { return c.dropped.Load() }
func (c *Conn) Delivered() uint64 { return c.delivered.Load() }

// pump reads the socket, decides each packet's fate and release time.
func (c *Conn) pump() {
	defer c.wg.Done()
	var free time.Time // when the bucket has sent everything queued
	for {
		buf := make([]byte, 1600)
		n, addr, err := c.PacketConn.ReadFrom(buf)
		now := time.Now()
		if err != nil {
			select {
			case c.in <- datagram{err: err}:
			case <-c.closed:
			}
			return
		}
		if c.loss > 0 && rand.Float64() < c.loss {
			c.dropped.Add(1)
			continue
		}
		at := now
		if bps := c.rate.Load(); bps > 0 {
			if free.Before(now) {
				free = now
			}
			if free.Sub(now) > c.queue {
				c.dropped.Add(1)
				continue
			}
			free = free.Add(time.Duration(int64(n) * 8 * int64(time.Second) / bps))
			at = free
		}
		select {
		case c.in <- datagram{b: buf[:n], addr: addr, at: at.Add(c.delay)}:
		case <-c.closed:
			return
		default:
			c.dropped.Add(1)
		}
	}
}

// ReadFrom returns the next packet when its time has come.
func (c *Conn) ReadFrom(b []byte) (int, net.Addr, error) {
	select {
	case d := <-c.in:
		if d.err != nil {
			return 0, nil, d.err
		}
		if w := time.Until(d.at); w > 0 {
			time.Sleep(w)
		}
		c.delivered.Add(1)
		return copy(b, d.b), d.addr, nil
	case <-c.closed:
		return 0, nil, net.ErrClosed
	}
}

// Close closes the socket and stops the pump.
func (c *Conn) Close() error {
	var err error
	c.once.Do(func() {
		close(c.closed)
		err = c.PacketConn.Close()
		c.wg.Wait()
	})
	return err
}
