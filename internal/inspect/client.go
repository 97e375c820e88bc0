// Package inspect is the data side of `livectl inspect` and of the `top`
// dashboard's goroutine view: it fetches pprof profiles from any Go process
// that exposes net/http/pprof, groups goroutine stacks, ranks groups that grow
// between samples as leak suspects, computes heap and CPU top-function tables
// and writes incident bundles.
//
// Everything here works on data a remote process sent, so the parsers treat
// their input as untrusted: bodies are size-capped, and the debug=2 text
// parser never panics on malformed input (it has a fuzz target).
package inspect

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultTarget is serve's admin listener, where /debug/pprof lives.
const DefaultTarget = "http://127.0.0.1:6060"

// DefaultTimeout bounds one profile request (a CPU profile adds its own
// duration on top).
const DefaultTimeout = 15 * time.Second

// MaxBodyBytes caps a profile body: a goroutine dump of a very large process
// is tens of MiB; anything beyond this is not a profile we want in memory.
const MaxBodyBytes = 256 << 20

// Sentinel errors, wrapped by the errors the Client returns so callers can
// tell the failure apart with errors.Is.
var (
	// ErrUnreachable: the target did not answer (refused, DNS, timeout).
	ErrUnreachable = errors.New("target unreachable")
	// ErrNotExposed: the target answered 404 for a /debug/pprof path.
	ErrNotExposed = errors.New("pprof not exposed")
	// ErrBadStatus: the target answered with another non-200 status.
	ErrBadStatus = errors.New("unexpected HTTP status")
	// ErrNotProfile: the body is not a pprof profile (or not a goroutine dump).
	ErrNotProfile = errors.New("not a pprof profile")
)

// NoAnswerError is wrapped, with ErrUnreachable, by a request that got no
// answer within its timeout (After, the profile's duration included).
type NoAnswerError struct{ After time.Duration }

func (e *NoAnswerError) Error() string { return fmt.Sprintf("no answer within %s", e.After) }

// Client fetches profiles from one target. It is safe for concurrent use.
type Client struct {
	base *url.URL
	http *http.Client
	// Timeout bounds each request on top of the caller's context.
	Timeout time.Duration
}

// NewClient returns a Client for target, a base URL such as
// http://127.0.0.1:6060 (a bare host:port gets http://). A nil hc uses a
// client of its own; the per-request timeout comes from Client.Timeout and
// the context, so hc needs no Timeout.
func NewClient(target string, hc *http.Client) (*Client, error) {
	if target == "" {
		target = DefaultTarget
	}
	if !strings.Contains(target, "://") {
		target = "http://" + target
	}
	u, err := url.Parse(target)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("invalid target %q: want a URL like %s", target, DefaultTarget)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawQuery, u.Fragment = "", ""
	if hc == nil {
		hc = &http.Client{}
	}
	return &Client{base: u, http: hc, Timeout: DefaultTimeout}, nil
}

// Target is the base URL the client talks to.
func (c *Client) Target() string { return c.base.String() }

// Raw is a fetched body with where and when it came from.
type Raw struct {
	URL       string
	Body      []byte
	FetchedAt time.Time
}

// Fetch GETs path (relative to the target, such as /debug/pprof/heap) with
// query and returns the body. extra widens the timeout for requests that
// take time by design (CPU profiles). Failures wrap ErrUnreachable,
// ErrNotExposed or ErrBadStatus and say what to try.
func (c *Client) Fetch(ctx context.Context, path string, query url.Values, extra time.Duration) (*Raw, error) {
	u := *c.base
	u.Path = c.base.Path + path
	u.RawQuery = query.Encode()
	full := u.String()
	if c.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.Timeout+extra)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, full, nil)
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", full, err)
	}
	at := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		if ctxErr := context.Cause(ctx); ctxErr != nil && errors.Is(err, context.Canceled) {
			return nil, fmt.Errorf("fetching %s: %w", full, ctxErr)
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("fetching %s: %w: %w", full, ErrUnreachable, &NoAnswerError{After: c.Timeout + extra})
		}
		return nil, fmt.Errorf("fetching %s: %w: %v", full, ErrUnreachable, unwrapNetError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil, fmt.Errorf("fetching %s: %w (HTTP 404): the process must import net/http/pprof on this listener", full, ErrNotExposed)
	}
	if resp.StatusCode != http.StatusOK {
		snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("fetching %s: %w %s: %s", full, ErrBadStatus, resp.Status, oneLine(snippet))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBodyBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w: %v", full, ErrUnreachable, err)
	}
	if len(body) > MaxBodyBytes {
		return nil, fmt.Errorf("reading %s: body larger than %d MiB; refusing to load it", full, MaxBodyBytes>>20)
	}
	return &Raw{URL: full, Body: body, FetchedAt: at}, nil
}

// unwrapNetError trims Go's long "Get \"url\": dial tcp ...: connect:" chain
// down to the part that tells the user something.
func unwrapNetError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return fmt.Errorf("%s %s: %v", oe.Op, oe.Addr, oe.Err)
	}
	return err
}

// oneLine shortens a response snippet for an error message.
func oneLine(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	if s == "" {
		s = "(empty body)"
	}
	return s
}

// debugQuery returns ?debug=n (n=0 is the protobuf form).
func debugQuery(n int) url.Values {
	q := url.Values{}
	if n != 0 {
		q.Set("debug", strconv.Itoa(n))
	}
	return q
}
