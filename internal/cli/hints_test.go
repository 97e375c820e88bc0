package cli

import (
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"

	"github.com/livectl/livectl/internal/peer"
	"github.com/livectl/livectl/internal/probe"
	"github.com/livectl/livectl/internal/publish"
	"github.com/livectl/livectl/internal/signal"
)

func TestHintFor(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"refused", fmt.Errorf("connecting: %w", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}), "is the server running"},
		{"dns", &net.DNSError{Err: "no such host", Name: "nowhere"}, "host name in --url"},
		{"404", fmt.Errorf("WHIP: %w", &peer.HTTPError{Method: "POST", URL: "http://x/nowhere", Status: 404}), "/whip/ROOM"},
		{"401", &peer.HTTPError{Status: 401}, "--token"},
		{"403", &peer.HTTPError{Status: 403}, "grant"},
		{"503", &peer.HTTPError{Status: 503}, "full or draining"},
		{"500", &peer.HTTPError{Status: 500}, ""},
		{"ws unauthorized", fmt.Errorf("joining: %w", &signal.Error{Code: signal.CodeUnauthorized, Reason: "no token"}), "--token"},
		{"ws forbidden", &signal.Error{Code: signal.CodeForbidden}, "grant"},
		{"ws room full", &signal.Error{Code: signal.CodeRoomFull}, "full or draining"},
		{"ws bad SDP", &signal.Error{Code: signal.CodeBadSDP}, ""},
		{"probe ICE failed", probe.ErrICEFailed, "--public-ip and --udp-port"},
		{"publish not connected", fmt.Errorf("publishing to x: %w within 1s", publish.ErrNotConnected), "try --stun"},
		{"probe without room", fmt.Errorf("signal: %w", probe.ErrNoRoom), "--room"},
		{"publish without room", publish.ErrNoRoom, "--room"},
		{"DTLS failed", probe.ErrDTLSFailed, ""},
		{"other", fmt.Errorf("something else"), ""},
	} {
		if got := hintFor(tc.err); (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s: hintFor = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestHintProbeRuns: the hint lands in the text of the failed attempts
// only, where the table, the JSON report and the exit message read it.
func TestHintProbeRuns(t *testing.T) {
	rep := probe.NewReport("ws://x/ws", "r")
	rep.Add(probe.Result{FailedPhase: probe.PhaseICEConnected, Error: "ice_connected: " + probe.ErrICEFailed.Error(), Err: probe.ErrICEFailed})
	rep.Add(probe.Result{FailedPhase: probe.PhaseFirstRTP, Error: "first_rtp: no video RTP", Err: fmt.Errorf("no video RTP")})
	rep.Add(probe.Result{PhasesMS: map[string]float64{probe.PhaseFirstKeyframe: 10}})
	hintProbeRuns(rep)
	want := []string{
		"ice_connected: ICE failed: no candidate pair worked (is UDP to the server blocked? check the server's --public-ip and --udp-port)",
		"first_rtp: no video RTP",
		"",
	}
	for i, w := range want {
		if got := rep.Runs[i].Error; got != w {
			t.Errorf("run %d: Error = %q, want %q", i, got, w)
		}
	}
}
