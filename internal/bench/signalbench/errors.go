package signalbench

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"syscall"

	"github.com/livectl/livectl/internal/bench"
	"github.com/livectl/livectl/internal/signal"
)

// Error kinds: the keys of the report's "errors" object. They are stable, so
// that `--assert errors.timeout<5` keeps working.
const (
	KindRefused        = "refused"          // TCP connection refused
	KindTimeout        = "timeout"          // connect, join, ping or leave took too long
	KindUpgradeStatus  = "upgrade_status"   // HTTP answer other than 101 to the upgrade
	KindProtocol       = "protocol_error"   // error reply, malformed frame, unexpected message
	KindClosedByServer = "closed_by_server" // close frame or EOF from the server
	KindReset          = "reset"            // connection reset or broken pipe
	KindLocalPorts     = "local_ports"      // no ephemeral port left on the source address
	KindFDLimit        = "fd_limit"         // this process ran out of descriptors
	KindInterrupted    = "interrupted"      // the run was stopped (Ctrl-C) while this was in flight
	KindOther          = "other"
)

// ErrorKinds lists every kind, for assertions and tables.
var ErrorKinds = []string{KindRefused, KindTimeout, KindUpgradeStatus, KindProtocol,
	KindClosedByServer, KindReset, KindLocalPorts, KindFDLimit, KindInterrupted, KindOther, bench.KindChildFailed}

// classify sorts an error into a kind and a detail that distinguishes
// within it (HTTP status, protocol error code, close code).
func classify(err error) (kind, detail string) {
	var de *signal.DialError
	if errors.As(err, &de) && de.Status != 0 {
		return KindUpgradeStatus, strconv.Itoa(de.Status)
	}
	var pe *signal.Error
	if errors.As(err, &pe) {
		return KindProtocol, pe.Code
	}
	var ce *signal.CloseError
	if errors.As(err, &ce) {
		return KindClosedByServer, strconv.Itoa(ce.Code)
	}
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled):
		return KindInterrupted, ""
	case errors.Is(err, syscall.ECONNREFUSED):
		return KindRefused, ""
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return KindLocalPorts, ""
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return KindFDLimit, ""
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return KindReset, ""
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return KindTimeout, ""
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return KindClosedByServer, "eof"
	case errors.Is(err, errProtocol):
		return KindProtocol, "unexpected"
	}
	return KindOther, ""
}

// errProtocol marks a reply this generator did not expect.
var errProtocol = errors.New("unexpected reply")
