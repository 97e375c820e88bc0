package cli

import (
	"strings"
	"testing"
)

// TestServeBindBadValues: --udp-listen/--tcp-listen values that cannot
// be one address of this machine, or that name a second port, are exit 2.
func TestServeBindBadValues(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"not an IP", []string{"--udp-listen", "eth0"}, nil, "--udp-listen: \"eth0\" is not one IP address"},
		{"host name", []string{"--udp-listen", "localhost:7882"}, nil, "is not one IP address"},
		{"every address", []string{"--udp-listen", "0.0.0.0"}, nil, "leave it empty for every address"},
		{"bad port", []string{"--udp-listen", "127.0.0.1:99999"}, nil, "the port must be a number"},
		{"two ports", []string{"--udp-listen", "127.0.0.1:7000", "--udp-port", "7001"}, nil, "--udp-listen 127.0.0.1:7000 and --udp-port 7001 name two ports"},
		{"two ports, one from the environment", []string{"--udp-listen", "127.0.0.1:7000"}, map[string]string{"LIVECTL_UDP_PORT": "7001"}, "--udp-port (from environment variable LIVECTL_UDP_PORT) 7001 name two ports"},
		{"tcp without a port", []string{"--tcp-listen", "127.0.0.1"}, nil, "--tcp-listen needs a port"},
		{"tcp IPv6 unspecified", []string{"--tcp-listen", "[::]:7881"}, nil, "is not one IP address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"serve", "--dev", "--listen", "127.0.0.1:0", "--admin-listen", ""}, tc.args...)
			code, _, stderr := runCLI(t, tc.env, args...)
			if code != ExitUsage || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want exit 2 mentioning %q", code, stderr, tc.want)
			}
		})
	}
}

func TestMediaBind(t *testing.T) {
	for _, tc := range []struct {
		ip   string
		port int
		want string
	}{
		{"", 7882, "7882"},
		{"", 0, "(a free port)"},
		{"10.0.0.5", 7882, "10.0.0.5:7882"},
		{"::1", 7882, "[::1]:7882"},
		{"10.0.0.5", 0, "10.0.0.5 (a free port)"},
	} {
		if got := mediaBind(tc.ip, tc.port); got != tc.want {
			t.Errorf("mediaBind(%q, %d) = %q, want %q", tc.ip, tc.port, got, tc.want)
		}
	}
}
