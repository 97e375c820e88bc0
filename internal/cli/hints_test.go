package cli

import (
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/livectl/livectl/internal/inspect"
	"github.com/livectl/livectl/internal/peer"
	"github.com/livectl/livectl/internal/probe"
	"github.com/livectl/livectl/internal/publish"
	"github.com/livectl/livectl/internal/signal"
)

func TestHints(t *testing.T) {
	for _, tc := range []struct {
		hint func(error) string
		name string
		err  error
		want string
	}{
		{hintFor, "nil", nil, ""},
		{hintFor, "refused", fmt.Errorf("connecting: %w", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}), "is the server running"},
		{hintFor, "dns", &net.DNSError{Err: "no such host", Name: "nowhere"}, "host name in --url"},
		{hintFor, "404", fmt.Errorf("WHIP: %w", &peer.HTTPError{Method: "POST", URL: "http://x/nowhere", Status: 404}), "/whip/ROOM"},
		{hintFor, "401", &peer.HTTPError{Status: 401}, "--token"},
		{hintFor, "403", &peer.HTTPError{Status: 403}, "grant"},
		{hintFor, "503", &peer.HTTPError{Status: 503}, "full or draining"},
		{hintFor, "500", &peer.HTTPError{Status: 500}, ""},
		{hintFor, "ws unauthorized", fmt.Errorf("joining: %w", &signal.Error{Code: signal.CodeUnauthorized, Reason: "no token"}), "--token"},
		{hintFor, "ws forbidden", &signal.Error{Code: signal.CodeForbidden}, "grant"},
		{hintFor, "ws room full", &signal.Error{Code: signal.CodeRoomFull}, "full or draining"},
		{hintFor, "ws bad SDP", &signal.Error{Code: signal.CodeBadSDP}, ""},
		{hintFor, "probe ICE failed", probe.ErrICEFailed, "--public-ip and --udp-port"},
		{hintFor, "publish not connected", fmt.Errorf("publishing to x: %w within 1s", publish.ErrNotConnected), "try --stun"},
		{hintFor, "probe without room", fmt.Errorf("signal: %w", probe.ErrNoRoom), "--room"},
		{hintFor, "publish without room", publish.ErrNoRoom, "--room"},
		{hintFor, "DTLS failed", probe.ErrDTLSFailed, ""},
		{hintFor, "other", fmt.Errorf("something else"), ""},
		{inspectHint, "inspect nil", nil, ""},
		{inspectHint, "no answer", fmt.Errorf("fetching x: %w: %w", inspect.ErrUnreachable, &inspect.NoAnswerError{After: time.Second}), "raise --timeout"},
		{inspectHint, "unreachable", fmt.Errorf("fetching x: %w: refused", inspect.ErrUnreachable), "is --target its pprof listener"},
		{inspectHint, "not exposed", fmt.Errorf("fetching x: %w (HTTP 404)", inspect.ErrNotExposed), "--admin-listen address"},
		{inspectHint, "not a profile", fmt.Errorf("fetching x: %w", inspect.ErrNotProfile), ""},
	} {
		if got := tc.hint(tc.err); (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s: hint = %q, want %q", tc.name, got, tc.want)
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
