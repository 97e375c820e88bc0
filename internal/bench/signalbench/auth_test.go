package signalbench

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/livectl/livectl/internal/auth"
	"github.com/livectl/livectl/internal/server"
	"github.com/livectl/livectl/internal/signal"
)

// TestSignalAuth runs sessions against a server with auth on: with the
// secret every session joins (and chat senders chat) with a token minted
// for its room and identity; without it they are refused; one given token
// fits only a run of one session, which joins as the token's identity.
func TestSignalAuth(t *testing.T) {
	secret := strings.Repeat("k", auth.MinSecretLen)
	wsURL, _, _ := startServer(t, server.Config{AuthSecret: []byte(secret)})
	one, err := auth.Mint([]byte(secret), auth.Grant{Room: "given", Identity: "alice"}, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	base := Options{URL: wsURL, Rate: 1000, Duration: 300 * time.Millisecond, PingInterval: 100 * time.Millisecond, RoomSize: 5}
	for _, tc := range []struct {
		name        string
		conns       int
		creds       auth.Credentials
		chat        bool
		established int64
		refusedAs   string // error detail of refused sessions
	}{
		{name: "minted", conns: 20, creds: auth.Credentials{Secret: secret}, established: 20},
		{name: "minted with chat", conns: 10, creds: auth.Credentials{Secret: secret}, chat: true, established: 10},
		{name: "no credentials", conns: 5, established: 0, refusedAs: KindProtocol + ":" + signal.CodeUnauthorized},
		{name: "wrong secret", conns: 5, creds: auth.Credentials{Secret: strings.Repeat("x", auth.MinSecretLen)}, established: 0, refusedAs: KindProtocol + ":" + signal.CodeUnauthorized},
		{name: "one given token", conns: 1, creds: auth.Credentials{Token: one}, established: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := base
			o.Conns, o.Auth = tc.conns, tc.creds
			if tc.chat {
				o.ChatRate, o.ChatSenders = 20, 2
			}
			rep := runSignal(t, o)
			if rep.Connections.Established != tc.established {
				t.Fatalf("established %d of %d, want %d (errors %v)", rep.Connections.Established, tc.conns, tc.established, rep.ErrorDetail)
			}
			if tc.refusedAs != "" && rep.ErrorDetail[tc.refusedAs] != int64(tc.conns) {
				t.Errorf("errors %v, want %d %s", rep.ErrorDetail, tc.conns, tc.refusedAs)
			}
			if tc.refusedAs == "" && rep.ErrorCount() != 0 {
				t.Errorf("errors %v (%v)", rep.Errors, rep.ErrorDetail)
			}
			if tc.chat && (rep.Chat == nil || rep.Chat.Accepted == 0 || rep.Chat.Accepted != rep.Chat.Sent) {
				t.Errorf("chat %+v, want every message accepted", rep.Chat)
			}
		})
	}
	t.Run("one token, many sessions", func(t *testing.T) {
		o := base
		o.Conns, o.Auth = 2, auth.Credentials{Token: one}
		if _, err := NewRun(o); !errors.Is(err, auth.ErrTokenDoesNotFit) {
			t.Fatalf("NewRun: %v, want ErrTokenDoesNotFit", err)
		}
	})
}
