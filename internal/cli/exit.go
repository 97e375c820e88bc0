package cli

import (
	"errors"
	"fmt"
	"strings"
)

// Exit codes, as docs/cli.md (Exit codes) defines them.
const (
	ExitOK        = 0 // success
	ExitFailure   = 1 // the job could not be done
	ExitUsage     = 2 // usage or configuration error
	ExitAssertion = 3 // the job ran but an --assert threshold failed
)

// UsageError is a mistake in flags, arguments or configuration: exit 2.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// UsageErrorf builds a UsageError; the message should name the flag or key.
func UsageErrorf(format string, args ...any) error {
	return &UsageError{Err: fmt.Errorf(format, args...)}
}

// AssertionError lists every --assert expression that failed: exit 3.
// Shown says each was already printed with its result, so the message
// counts them instead of printing them a second time.
type AssertionError struct {
	Failed []string
	Shown  bool
}

func (e *AssertionError) Error() string {
	if e.Shown {
		return fmt.Sprintf("%d assertion(s) failed (above)", len(e.Failed))
	}
	return fmt.Sprintf("%d assertion(s) failed:\n  %s", len(e.Failed), strings.Join(e.Failed, "\n  "))
}

// ErrSilent ends a command with exit 1 when it has already told the user why.
var ErrSilent = errors.New("silent error")

// ExitCode maps an error returned by a command to the process exit code.
func ExitCode(err error) int {
	var ue *UsageError
	var ae *AssertionError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ue):
		return ExitUsage
	case errors.As(err, &ae):
		return ExitAssertion
	default:
		return ExitFailure
	}
}
