package peer

import (
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
)

func TestHint(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"refused", fmt.Errorf("connecting: %w", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}), "is the server running"},
		{"dns", &net.DNSError{Err: "no such host", Name: "nowhere"}, "host name"},
		{"404", fmt.Errorf("WHIP: %w", &HTTPError{Method: "POST", URL: "http://x/nowhere", Status: 404}), "/whip/ROOM"},
		{"401", &HTTPError{Status: 401}, "--token"},
		{"403", &HTTPError{Status: 403}, "grant"},
		{"503", &HTTPError{Status: 503}, "full or draining"},
		{"500", &HTTPError{Status: 500}, ""},
		{"other", fmt.Errorf("something else"), ""},
	} {
		if got := Hint(tc.err); (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s: Hint = %q, want %q", tc.name, got, tc.want)
		}
	}
}
