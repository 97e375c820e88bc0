package stats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// maxBody bounds what Fetch reads: a server with thousands of rooms stays
// far below it, and a wrong target cannot exhaust memory.
const maxBody = 32 << 20

// StatusError is a /v1/stats request answered with another status than 200
// (the target is not a livectl server, or not its public listener).
type StatusError struct {
	URL    string
	Status int
	Body   string // the start of the answer, for the message
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("fetching stats from %s: HTTP %d", e.URL, e.Status)
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

// Fetch reads one /v1/stats document from statsURL. top, bench and
// bench media sample servers with it; errors name the URL once and say
// what went wrong.
func Fetch(ctx context.Context, client *http.Client, statsURL string) (*Snapshot, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, statsURL, nil)
	if err != nil {
		return nil, fmt.Errorf("fetching stats from %s: %w", statsURL, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		// net/http's `Get "url": ` would repeat the URL named here.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("fetching stats from %s: %w", statsURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		return nil, &StatusError{URL: statsURL, Status: resp.StatusCode, Body: strings.TrimSpace(string(b))}
	}
	var s Snapshot
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxBody)).Decode(&s); err != nil {
		return nil, fmt.Errorf("fetching stats from %s: response is not a stats document: %w", statsURL, err)
	}
	return &s, nil
}
