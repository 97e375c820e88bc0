package bench

import (
	"fmt"
	"math"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Settings every generator reads the same way: its start rate, the name of
// a run and the local address toward the target.

// NewRunID is a short name for a run, put in room and identity names so
// that runs against one server do not collide.
func NewRunID() string { return strconv.FormatInt(time.Now().UnixNano()%1e9, 36) }

// LocalIPToward is the local address the kernel would use to reach the host
// of rawURL (no packet is sent).
func LocalIPToward(rawURL string) (net.IP, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	port := u.Port()
	if port == "" {
		port = "443" // the route depends on the host alone
	}
	c, err := net.Dial("udp4", net.JoinHostPort(u.Hostname(), port))
	if err != nil {
		return nil, fmt.Errorf("finding the local address toward %s: %w", u.Host, err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).IP, nil
}

// ParseRate reads a rate: "2000", "2000/s", "120/m", "0.5/s".
func ParseRate(s string) (float64, error) {
	num, unit, _ := strings.Cut(strings.TrimSpace(s), "/")
	v, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || v <= 0 || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, fmt.Errorf("invalid rate %q: want a positive number per second, e.g. 2000 or 2000/s", s)
	}
	switch strings.TrimSpace(unit) {
	case "", "s":
		return v, nil
	case "m", "min":
		return v / 60, nil
	}
	return 0, fmt.Errorf("invalid rate %q: unit after / must be s or m", s)
}
