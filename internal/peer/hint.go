package peer

import (
	"errors"
	"net"
	"net/http"
	"syscall"
)

// Hint says what to try about a failed WHIP/WHEP exchange or connection,
// or "" when there is nothing better to say than the error itself. publish
// and probe add it to their messages.
func Hint(err error) string {
	var he *HTTPError
	var dns *net.DNSError
	switch {
	case err == nil:
		return ""
	case errors.Is(err, syscall.ECONNREFUSED):
		return "is the server running and listening at that address?"
	case errors.As(err, &dns):
		return "check the host name in --url"
	case errors.As(err, &he):
		switch he.Status {
		case http.StatusNotFound, http.StatusMethodNotAllowed:
			return "no WHIP/WHEP endpoint at that path: livectl serve's are /whip/ROOM and /whep/ROOM"
		case http.StatusUnauthorized:
			return "the server wants a token: --token (mint one with 'livectl token')"
		case http.StatusForbidden:
			return "the token is for another room or identity, or lacks the publish/subscribe grant"
		case http.StatusServiceUnavailable:
			return "the server is full or draining: try again later"
		}
	}
	return ""
}
