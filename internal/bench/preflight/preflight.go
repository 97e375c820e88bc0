// Package preflight checks, before a load test starts, that the machine can
// hold what was asked for: enough file descriptors in this process and
// enough free ephemeral ports on each source address. Failing here with a
// message that says which knob to turn beats failing halfway through a run
// with "too many open files" or "cannot assign requested address".
package preflight

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// Reserve is the number of descriptors kept back for the process itself
// (stdio, the Go runtime's epoll and pipes, HTTP clients, pprof, files).
const Reserve = 64

// FDs describes this process's descriptor budget.
type FDs struct {
	Soft, Hard uint64 // RLIMIT_NOFILE after RaiseFDLimit
	Open       int    // descriptors open now
}

// Free is how many more descriptors the process may open, less Reserve.
func (f FDs) Free() int {
	free := int64(f.Soft) - int64(f.Open) - Reserve
	if free < 0 {
		return 0
	}
	return int(free)
}

// RaiseFDLimit lifts the soft descriptor limit to the hard limit (which any
// process may do) and reports the budget. Go raises the soft limit at
// start-up on its own since 1.19; this makes it explicit and measurable.
func RaiseFDLimit() (FDs, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return FDs{}, fmt.Errorf("reading the file-descriptor limit: %w", err)
	}
	if rl.Cur < rl.Max {
		want := rl
		want.Cur = rl.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err == nil {
			rl = want
		}
	}
	open, err := OpenFDs()
	if err != nil {
		return FDs{}, err
	}
	return FDs{Soft: rl.Cur, Hard: rl.Max, Open: open}, nil
}

// OpenFDs counts this process's open descriptors.
func OpenFDs() (int, error) {
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return 0, fmt.Errorf("counting open files: %w", err)
	}
	defer d.Close()
	n := 0
	for {
		names, err := d.Readdirnames(1024)
		n += len(names)
		if err != nil {
			break
		}
	}
	return n - 1, nil // the directory itself
}

// ErrShortage is wrapped by every "this cannot fit" error.
var ErrShortage = errors.New("not enough room on this machine")

// CheckFDs returns an error wrapping ErrShortage when need more descriptors
// do not fit in f; hint says what to change ("use --procs 2").
func CheckFDs(f FDs, need int, hint string) error {
	if need <= f.Free() {
		return nil
	}
	return fmt.Errorf("%w: %d connections need %d file descriptors but this process may open %d more (limit %d, %d open, %d reserved); %s",
		ErrShortage, need, need, f.Free(), f.Soft, f.Open, Reserve, hint)
}

// PortRange reads net.ipv4.ip_local_port_range.
func PortRange() (lo, hi int, err error) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, 0, fmt.Errorf("reading the ephemeral port range: %w", err)
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0, 0, fmt.Errorf("reading the ephemeral port range: unexpected %q", b)
	}
	lo, err1 := strconv.Atoi(f[0])
	hi, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || hi < lo {
		return 0, 0, fmt.Errorf("reading the ephemeral port range: unexpected %q", b)
	}
	return lo, hi, nil
}

// Ports is the ephemeral-port budget of one local address.
type Ports struct {
	Addr  net.IP
	Range int // size of ip_local_port_range
	// Used counts the distinct ports in the range that TCP sockets on Addr
	// hold (a listener and the connections it accepted share one port).
	// Sockets in TIME_WAIT count unless the kernel reuses them for new
	// outgoing connections (tcp_tw_reuse 1, or 2 on loopback).
	Used int
}

// Free is how many more connections Addr can make to one destination.
func (p Ports) Free() int {
	if p.Range-p.Used < 0 {
		return 0
	}
	return p.Range - p.Used
}

// PortsFor measures the budget of each local address.
func PortsFor(addrs []net.IP) ([]Ports, error) {
	lo, hi, err := PortRange()
	if err != nil {
		return nil, err
	}
	reuse := 0
	if b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_tw_reuse"); err == nil {
		reuse, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	used, err := usedPorts(lo, hi, reuse)
	if err != nil {
		return nil, err
	}
	out := make([]Ports, len(addrs))
	for i, a := range addrs {
		out[i] = Ports{Addr: a, Range: hi - lo + 1, Used: used[a.To4().String()]}
	}
	return out, nil
}

// usedPorts counts, per local IPv4 address, the distinct local ports in
// [lo, hi] that TCP sockets hold.
func usedPorts(lo, hi, twReuse int) (map[string]int, error) {
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		return nil, fmt.Errorf("reading /proc/net/tcp: %w", err)
	}
	defer f.Close()
	return parseUsed(f, lo, hi, twReuse)
}

// parseUsed reads /proc/net/tcp's format.
func parseUsed(r io.Reader, lo, hi, twReuse int) (map[string]int, error) {
	type key struct {
		ip   string
		port int
	}
	seen := map[key]bool{}
	used := map[string]int{}
	sc := bufio.NewScanner(r)
	sc.Scan() // header
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 {
			continue
		}
		ip, port, ok := parseHexAddr(fields[1])
		if !ok || port < lo || port > hi {
			continue
		}
		const timeWait = "06"
		if fields[3] == timeWait && (twReuse == 1 || twReuse == 2 && ip.IsLoopback()) {
			continue
		}
		k := key{ip.String(), port}
		if !seen[k] {
			seen[k] = true
			used[k.ip]++
		}
	}
	return used, sc.Err()
}

// parseHexAddr reads /proc/net/tcp's "0100007F:1F90" (little-endian IPv4).
func parseHexAddr(s string) (net.IP, int, bool) {
	h, p, ok := strings.Cut(s, ":")
	if !ok || len(h) != 8 {
		return nil, 0, false
	}
	b, err := hex.DecodeString(h)
	if err != nil {
		return nil, 0, false
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return nil, 0, false
	}
	return net.IPv4(b[3], b[2], b[1], b[0]), int(port), true
}

// CheckPorts returns an error wrapping ErrShortage when need connections
// spread evenly over ports' addresses do not fit; hint says what to change.
func CheckPorts(ports []Ports, need int, hint string) error {
	if len(ports) == 0 {
		return nil
	}
	per := (need + len(ports) - 1) / len(ports)
	var short []string
	total := 0
	for _, p := range ports {
		total += p.Free()
		if per > p.Free() {
			short = append(short, fmt.Sprintf("%s has %d free (%d in range, %d in use)", p.Addr, p.Free(), p.Range, p.Used))
		}
	}
	if len(short) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %d connections over %d source address(es) need %d ephemeral ports each, but %s; %s",
		ErrShortage, need, len(ports), per, strings.Join(short, ", "), hint)
}
