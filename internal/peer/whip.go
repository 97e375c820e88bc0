package peer

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"
)

// HTTPError is a WHIP/WHEP request the server refused.
type HTTPError struct {
	Method, URL string
	Status      int
	Body        string
}

func (e *HTTPError) Error() string {
	msg := fmt.Sprintf("%s %s: HTTP %d", e.Method, e.URL, e.Status)
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

// Session is a WHIP or WHEP resource created on a server.
type Session struct {
	Answer   string // the server's SDP answer
	Location string // absolute URL of the resource (DELETE ends the session)
	client   *http.Client
	token    string
}

// maxRedirects bounds the redirects Exchange follows.
const maxRedirects = 5

// Exchange POSTs an SDP offer to a WHIP or WHEP endpoint and returns the
// answer and the resource URL (RFC 9725 §4.2). token, if set, is sent as a
// bearer token. A 307/308 redirect (RFC 9725 §4.5: a cluster node sends a
// publisher to the room's origin) is followed with the same offer and the
// same token: Go's client drops Authorization on a redirect to another
// host name, but a livectl cluster's nodes share the token's secret and
// the endpoint that was trusted with the token chose where it goes.
func Exchange(ctx context.Context, client *http.Client, endpoint, token, offer string) (*Session, error) {
	if client == nil {
		client = http.DefaultClient
	}
	follow, check := *client, client.CheckRedirect
	follow.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= maxRedirects {
			return fmt.Errorf("stopped after %d redirects", len(via))
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if check != nil {
			return check(req, via)
		}
		return nil
	}
	client = &follow
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(offer))
	if err != nil {
		return nil, fmt.Errorf("building request to %s: %w", endpoint, err)
	}
	req.Header.Set("Content-Type", "application/sdp")
	req.Header.Set("Accept", "application/sdp")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("posting offer to %s: %w", endpoint, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return nil, fmt.Errorf("reading answer from %s: %w", endpoint, err)
	}
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return nil, &HTTPError{Method: "POST", URL: endpoint, Status: resp.StatusCode, Body: strings.TrimSpace(string(bytes.ToValidUTF8(body[:min(len(body), 512)], nil)))}
	}
	s := &Session{client: client, token: token}
	if loc := resp.Header.Get("Location"); loc != "" {
		// Relative to where the answer came from: the endpoint may have
		// redirected the POST (RFC 9725 §4.5, load balancing).
		if u, err := resp.Request.URL.Parse(loc); err == nil {
			s.Location = u.String()
		}
	}
	// An answer the client cannot use still created a session: end it
	// rather than leave it to the server's ICE timeout.
	switch {
	case len(body) > maxAnswer:
		s.abandon(ctx)
		return nil, fmt.Errorf("posting offer to %s: the answer is larger than %d KiB", endpoint, maxAnswer>>10)
	case !bytes.HasPrefix(bytes.TrimSpace(body), []byte("v=0")):
		s.abandon(ctx)
		return nil, fmt.Errorf("posting offer to %s: HTTP %d but the body is not an SDP answer", endpoint, resp.StatusCode)
	}
	s.Answer = string(body)
	return s, nil
}

// maxAnswer bounds an SDP answer read from a server.
const maxAnswer = 256 << 10

// abandon DELETEs a session whose answer was unusable, best effort (and
// within 2 s even if ctx has ended).
func (s *Session) abandon(ctx context.Context) {
	if s.Location == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	_ = s.Close(ctx)
}

// Close DELETEs the resource, ending the session on the server. A session
// without a Location has nothing to delete.
func (s *Session) Close(ctx context.Context) error {
	if s == nil || s.Location == "" {
		return nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, s.Location, nil)
	if err != nil {
		return err
	}
	if s.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("deleting session %s: %w", s.Location, err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode >= 300 && resp.StatusCode != http.StatusNotFound {
		return &HTTPError{Method: "DELETE", URL: s.Location, Status: resp.StatusCode}
	}
	return nil
}

// IsWebSocketURL reports whether a --url is a livectl signaling URL (ws://,
// wss://) rather than a WHIP/WHEP endpoint (http://, https://).
func IsWebSocketURL(u string) bool {
	return strings.HasPrefix(u, "ws://") || strings.HasPrefix(u, "wss://")
}

// EndpointRoom is the room a WHIP/WHEP endpoint such as
// http://host/whep/demo names: its last path segment (livectl serve's
// /whip/{room} and /whep/{room}); "" if u is not a URL.
func EndpointRoom(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return ""
	}
	return path.Base(strings.TrimRight(p.Path, "/"))
}
