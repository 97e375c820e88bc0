package relay

import (
	"errors"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestPortTaken: a port another socket holds is a *PortError naming the
// network and address, wrapping the system's error, and naming no flag
// (the CLI adds which one to change).
func TestPortTaken(t *testing.T) {
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	udpPort := udp.LocalAddr().(*net.UDPAddr).Port
	tcpPort := tcp.Addr().(*net.TCPAddr).Port
	for _, tc := range []struct {
		name    string
		cfg     Config
		network string
		addr    string
	}{
		{"udp", Config{ListenIP: "127.0.0.1", UDPPort: udpPort}, "udp", "127.0.0.1:" + strconv.Itoa(udpPort)},
		{"tcp", Config{ListenIP: "127.0.0.1", TCPPort: tcpPort}, "tcp", "127.0.0.1:" + strconv.Itoa(tcpPort)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := New(tc.cfg)
			if err == nil {
				r.Close()
				t.Fatal("New succeeded on a port in use")
			}
			var pe *PortError
			if !errors.As(err, &pe) || pe.Network != tc.network || pe.Addr != tc.addr {
				t.Fatalf("New: %v (%#v), want a PortError for %s %s", err, pe, tc.network, tc.addr)
			}
			if !errors.Is(err, syscall.EADDRINUSE) {
				t.Errorf("%v does not wrap EADDRINUSE", err)
			}
			if strings.Contains(err.Error(), "--") {
				t.Errorf("%q names a flag", err)
			}
		})
	}
}
