package cli

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/livectl/livectl/internal/relay"
	"github.com/livectl/livectl/internal/server"
)

// TestServeHints: the library's typed errors get the flag that would
// change the outcome here, and only here.
func TestServeHints(t *testing.T) {
	for _, tc := range []struct {
		err  error
		hint func(error) string
		want string
	}{
		{&server.LimitError{Limit: server.LimitConns, Max: 1}, refusalHint, "--max-conns"},
		{&server.LimitError{Limit: server.LimitRooms, Max: 1}, refusalHint, "--max-rooms"},
		{&server.LimitError{Limit: server.LimitParticipants, Max: 1, Room: "r"}, refusalHint, "--max-participants"},
		{&server.OriginError{Origin: "https://x.example"}, refusalHint, "--allowed-origins"},
		{errors.New("other"), refusalHint, ""},
		{fmt.Errorf("starting: %w", &relay.PortError{Network: "udp", Addr: ":7882", Err: errors.New("in use")}), portHint, "--udp-port"},
		{&relay.PortError{Network: "tcp", Addr: ":7881", Err: errors.New("in use")}, portHint, "--tcp-port"},
		{errors.New("other"), portHint, ""},
	} {
		t.Run(tc.err.Error(), func(t *testing.T) {
			got := tc.hint(tc.err)
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Errorf("hint %q, want one naming %q", got, tc.want)
			}
		})
	}
}

// TestRefusalLogOncePerInterval: a full server refuses every client; the
// operator gets one line per kind of refusal and interval, not one each.
func TestRefusalLogOncePerInterval(t *testing.T) {
	var buf bytes.Buffer
	rl := newRefusalLog(slog.New(slog.NewTextHandler(&buf, nil)), time.Hour)
	for range 3 {
		rl.refused(&server.LimitError{Limit: server.LimitRooms, Max: 1})
		rl.refused(&server.OriginError{Origin: "https://x.example"})
	}
	if n := strings.Count(buf.String(), "client refused"); n != 2 {
		t.Errorf("%d lines, want 2 (one per kind):\n%s", n, buf.String())
	}
	if !strings.Contains(buf.String(), "--max-rooms") || !strings.Contains(buf.String(), "--allowed-origins") {
		t.Errorf("log without the flags:\n%s", buf.String())
	}
}

// TestServeUDPPortTaken: the SFU's port error reaches the operator with
// the flag to change.
func TestServeUDPPortTaken(t *testing.T) {
	held, err := net.ListenPacket("udp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	port := strconv.Itoa(held.LocalAddr().(*net.UDPAddr).Port)
	code, _, stderr := runCLI(t, nil, "serve", "--dev", "--listen", "127.0.0.1:0", "--admin-listen", "", "--udp-port", port)
	if code != ExitFailure || !strings.Contains(stderr, "pick another with --udp-port") {
		t.Errorf("exit %d, stderr %q; want exit 1 naming --udp-port", code, stderr)
	}
}
