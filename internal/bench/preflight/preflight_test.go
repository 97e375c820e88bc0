package preflight

import (
	"errors"
	"net"
	"strings"
	"testing"
)

func TestCheckFDs(t *testing.T) {
	f := FDs{Soft: 20000, Hard: 20000, Open: 36}
	tests := []struct {
		name string
		need int
		ok   bool
	}{
		{"fits", 10000, true},
		{"exactly", 20000 - 36 - Reserve, true},
		{"one too many", 20000 - 36 - Reserve + 1, false},
		{"far over", 40000, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckFDs(f, tt.need, "use --procs 3")
			if tt.ok != (err == nil) {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && (!errors.Is(err, ErrShortage) || !strings.Contains(err.Error(), "--procs 3")) {
				t.Errorf("err %q should wrap ErrShortage and carry the hint", err)
			}
		})
	}
}

func TestRaiseFDLimitMeasures(t *testing.T) {
	f, err := RaiseFDLimit()
	if err != nil {
		t.Fatal(err)
	}
	if f.Soft == 0 || f.Soft > f.Hard || f.Open < 3 {
		t.Errorf("implausible budget %+v", f)
	}
	// The preflight must refuse what the real limit cannot hold.
	if err := CheckFDs(f, int(f.Hard)+1, "hint"); err == nil {
		t.Error("CheckFDs accepted more than the hard limit")
	}
}

func TestCheckPorts(t *testing.T) {
	a, b := net.IPv4(127, 0, 0, 1), net.IPv4(127, 0, 0, 2)
	tests := []struct {
		name  string
		ports []Ports
		need  int
		ok    bool
	}{
		{"one address fits", []Ports{{Addr: a, Range: 28232}}, 19000, true},
		{"one address short", []Ports{{Addr: a, Range: 28232}}, 30000, false},
		{"two addresses fit", []Ports{{Addr: a, Range: 28232}, {Addr: b, Range: 28232}}, 50000, true},
		{"ports in use count", []Ports{{Addr: a, Range: 28232, Used: 20000}}, 10000, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckPorts(tt.ports, tt.need, "add --source-ips 127.0.0.2-127.0.0.4")
			if tt.ok != (err == nil) {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !strings.Contains(err.Error(), "--source-ips") {
				t.Errorf("err %q lacks the hint", err)
			}
		})
	}
}

func TestPortsForLoopback(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	lo, hi, err := PortRange()
	if err != nil {
		t.Fatal(err)
	}
	p, err := PortsFor([]net.IP{net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	if p[0].Range != hi-lo+1 {
		t.Errorf("range %d, want %d", p[0].Range, hi-lo+1)
	}
	// The listener's port is ephemeral, so it counts as used.
	if p[0].Used < 1 {
		t.Errorf("used = %d, want the listener counted", p[0].Used)
	}
}

func TestParseHexAddr(t *testing.T) {
	ip, port, ok := parseHexAddr("0100007F:1F90")
	if !ok || !ip.Equal(net.IPv4(127, 0, 0, 1)) || port != 8080 {
		t.Errorf("got %v %d %v", ip, port, ok)
	}
	for _, bad := range []string{"", "0100007F", "zz00007F:1F90", "0100007F:zz"} {
		if _, _, ok := parseHexAddr(bad); ok {
			t.Errorf("parseHexAddr(%q) ok", bad)
		}
	}
}

func TestParseUsed(t *testing.T) {
	// 127.0.0.1:40000 listening with two accepted connections (same port),
	// two clients on 127.0.0.1 (ports 40001, 40002, one in TIME_WAIT),
	// one client on 127.0.0.2:40003, and a port outside the range.
	const table = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:9C40 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1
   1: 0100007F:9C40 0100007F:9C41 01 00000000:00000000 00:00000000 00000000     0        0 2 1
   2: 0100007F:9C40 0100007F:9C42 01 00000000:00000000 00:00000000 00000000     0        0 3 1
   3: 0100007F:9C41 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 4 1
   4: 0100007F:9C42 0100007F:9C40 06 00000000:00000000 00:00000000 00000000     0        0 0 1
   5: 0200007F:9C43 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 5 1
   6: 0100007F:0050 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 6 1
`
	tests := []struct {
		name    string
		reuse   int
		want127 int
	}{
		{"loopback TIME_WAIT reused", 2, 2},
		{"TIME_WAIT holds its port", 0, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			used, err := parseUsed(strings.NewReader(table), 32768, 60999, tt.reuse)
			if err != nil {
				t.Fatal(err)
			}
			if used["127.0.0.1"] != tt.want127 || used["127.0.0.2"] != 1 {
				t.Errorf("used = %v, want 127.0.0.1:%d 127.0.0.2:1", used, tt.want127)
			}
		})
	}
}
