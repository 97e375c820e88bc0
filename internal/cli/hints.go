package cli

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/livectl/livectl/internal/inspect"
	"github.com/livectl/livectl/internal/peer"
	"github.com/livectl/livectl/internal/probe"
	"github.com/livectl/livectl/internal/publish"
	"github.com/livectl/livectl/internal/signal"
)

// Refusals over WHIP/WHEP (an HTTP status) and /ws (an error code) get the
// same advice.
const (
	hintToken = "the server wants a token: --token (mint one with 'livectl token')"
	hintGrant = "the token is for another room or identity, or lacks the publish/subscribe grant"
	hintFull  = "the server is full or draining: try again later"
	hintICE   = "is UDP to the server blocked? check the server's --public-ip and --udp-port"
	// hintTLSTrust: a self-signed or private-CA server certificate.
	hintTLSTrust = "the server's TLS certificate is not trusted here: --ca FILE with the CA that signed it, or --insecure for a test server"
)

// hintFor says what to try about a failed publish or probe, naming the
// flags to look at, or "" when there is nothing better to say than the
// error itself. The packages that fail return typed errors and leave the
// advice to the command line, the one place that knows its flags.
func hintFor(err error) string {
	var he *peer.HTTPError
	var se *signal.Error
	var dns *net.DNSError
	switch {
	case err == nil:
		return ""
	case errors.Is(err, syscall.ECONNREFUSED):
		return "is the server running and listening at that address?"
	case errors.As(err, &dns):
		return "check the host name in --url"
	case errors.As(err, new(x509.UnknownAuthorityError)), errors.As(err, new(x509.HostnameError)),
		errors.As(err, new(x509.CertificateInvalidError)):
		return hintTLSTrust
	case errors.As(err, new(tls.RecordHeaderError)):
		return "the server does not speak TLS there: use http:// or ws://"
	case errors.As(err, &he):
		switch he.Status {
		case http.StatusNotFound, http.StatusMethodNotAllowed:
			return "no WHIP/WHEP endpoint at that path: livectl serve's are /whip/ROOM and /whep/ROOM"
		case http.StatusUnauthorized:
			return hintToken
		case http.StatusForbidden:
			return hintGrant
		case http.StatusServiceUnavailable:
			return hintFull
		}
	case errors.As(err, &se):
		switch se.Code {
		case signal.CodeUnauthorized:
			return hintToken
		case signal.CodeForbidden:
			return hintGrant
		case signal.CodeServerFull, signal.CodeRoomFull, signal.CodeDraining:
			return hintFull
		}
	case errors.Is(err, probe.ErrICEFailed):
		return hintICE
	case errors.Is(err, publish.ErrNotConnected):
		return "is UDP to the server blocked? try --stun or check the server's --public-ip"
	case errors.Is(err, probe.ErrNoRoom), errors.Is(err, publish.ErrNoRoom):
		return "--room"
	}
	return ""
}

// withHint returns err with hintFor's advice in parentheses after it.
func withHint(err error) error {
	if h := hintFor(err); h != "" {
		return fmt.Errorf("%w (%s)", err, h)
	}
	return err
}

// reasonHint is hintFor for a bench media subscriber's failure, known only
// by its reason (mediabench's classification): --procs children hand the
// parent text, not typed errors.
func reasonHint(reason string) string {
	switch reason {
	case "ice":
		return hintICE
	case "http_401":
		return hintToken
	case "http_403":
		return hintGrant
	case "http_503":
		return hintFull
	case "http_404", "http_405":
		return "no WHEP endpoint at that path: livectl serve's is /whep/ROOM"
	}
	return ""
}

// hintProbeRuns adds hintFor's advice to the error text of each failed
// attempt, so the table, the JSON report and the exit message all carry it.
func hintProbeRuns(rep *probe.Report) {
	for i := range rep.Runs {
		if h := hintFor(rep.Runs[i].Err); h != "" {
			rep.Runs[i].Error += " (" + h + ")"
		}
	}
}

// inspectHint says what to try about a failed fetch from a pprof target.
func inspectHint(err error) string {
	var na *inspect.NoAnswerError
	switch {
	case errors.As(err, &na):
		return "raise --timeout if the process is busy or huge"
	case errors.Is(err, inspect.ErrUnreachable):
		return fmt.Sprintf("is the process running and is --target its pprof listener (serve's is --admin-listen, default %s)?", inspect.DefaultTarget)
	case errors.Is(err, inspect.ErrNotExposed):
		return fmt.Sprintf("for livectl serve use the --admin-listen address (default %s), not the public one", inspect.DefaultTarget)
	}
	return ""
}

// withInspectHints makes every subcommand of inspect end its error with
// inspectHint's advice, after a "; ".
func withInspectHints(cmd *cobra.Command) {
	for _, sub := range cmd.Commands() {
		if run := sub.RunE; run != nil {
			sub.RunE = func(c *cobra.Command, args []string) error {
				err := run(c, args)
				if h := inspectHint(err); h != "" {
					return fmt.Errorf("%w; %s", err, h)
				}
				return err
			}
		}
	}
}
