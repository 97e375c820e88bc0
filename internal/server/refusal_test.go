package server

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/livectl/livectl/internal/signal"
)

// TestLimitRefusals: a client refused at a limit gets the protocol code and
// a reason naming no operator flag; OnRefused gets a *LimitError naming the
// limit, for serve to hint at the flag.
func TestLimitRefusals(t *testing.T) {
	for _, tc := range []struct {
		name   string
		limits Limits
		// A first client connects and, unless fill is "", joins room fill;
		// a second connects and, unless refuse is "", joins room refuse.
		fill, refuse string
		limit        Limit
		code         string
	}{
		{"connections", Limits{MaxConns: 1}, "", "", LimitConns, signal.CodeServerFull},
		{"rooms", Limits{MaxRooms: 1}, "a", "b", LimitRooms, signal.CodeServerFull},
		{"participants", Limits{MaxParticipants: 1}, "a", "a", LimitParticipants, signal.CodeRoomFull},
	} {
		t.Run(tc.name, func(t *testing.T) {
			refusals := make(chan error, 4)
			ts := newTestServer(t, Config{Limits: tc.limits, OnRefused: func(err error) { refusals <- err }})
			first := dial(t, ts.wsURL, nil)
			if tc.fill != "" {
				if _, err := first.Join(ctxT(t), tc.fill, "x", ""); err != nil {
					t.Fatal(err)
				}
			}
			second, err := signal.Dial(context.Background(), ts.wsURL, nil)
			if err == nil {
				defer second.Close()
				_, err = second.Join(ctxT(t), tc.refuse, "y", "")
			}
			var se *signal.Error
			if !errors.As(err, &se) || se.Code != tc.code {
				t.Fatalf("refused attempt: %v, want %s", err, tc.code)
			}
			if strings.Contains(se.Reason, "--") || se.Reason == "" {
				t.Errorf("reason %q: want one that names no flag", se.Reason)
			}
			var le *LimitError
			select {
			case got := <-refusals:
				if !errors.As(got, &le) || le.Limit != tc.limit || le.Code() != tc.code {
					t.Errorf("OnRefused got %v, want a LimitError for %s", got, tc.limit)
				}
			default:
				t.Errorf("OnRefused was not called")
			}
		})
	}
}
