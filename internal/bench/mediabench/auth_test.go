package mediabench

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/livectl/livectl/internal/auth"
	"github.com/livectl/livectl/internal/server"
	"github.com/livectl/livectl/internal/server/servertest"
)

// TestMediaAuth runs publishers and subscribers against a server with auth
// on, over /ws and over WHIP/WHEP: with the secret each mints a token for
// its room and identity (publish or subscribe grant); one given token
// fits WHIP/WHEP sessions, which carry no identity of their own, but not
// many /ws sessions.
func TestMediaAuth(t *testing.T) {
	secret := strings.Repeat("m", auth.MinSecretLen)
	srv := servertest.Start(t, server.Config{AuthSecret: []byte(secret)})
	both, err := auth.Mint([]byte(secret), auth.Grant{Room: "given", Identity: "ops", Publish: true, Subscribe: true}, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	minted := auth.Credentials{Secret: secret}
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"ws minted", Options{URL: srv.WS, Room: "auth-ws", Publishers: 1, Auth: minted}},
		{"whep minted", Options{WHEP: srv.HTTP + "/whep/auth-whep", WHIP: srv.HTTP + "/whip/auth-whep", Publishers: 1, Auth: minted}},
		{"whep given token", Options{WHEP: srv.HTTP + "/whep/given", WHIP: srv.HTTP + "/whip/given", Publishers: 1, Auth: auth.Credentials{Token: both}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.opts
			o.Subscribers, o.Rate, o.Duration = 5, 50, 500*time.Millisecond
			rep := execute(t, o)
			if rep.Subscribers.OK != 5 || rep.Subscribers.Failed != 0 {
				t.Fatalf("want 5 subscribers with frames, got %+v (errors %v)", rep.Subscribers, rep.ErrorDetail)
			}
		})
	}
	for _, o := range []Options{{URL: srv.WS, Room: "auth-ws"}, {WHEP: srv.HTTP + "/whep/auth-whep"}} {
		t.Run(o.Protocol()+" without credentials", func(t *testing.T) {
			o.Subscribers, o.Rate, o.Timeout = 2, 50, 3*time.Second
			rep := execute(t, o)
			if rep.Subscribers.OK != 0 || rep.Subscribers.Failed != 2 {
				t.Fatalf("want both subscribers refused, got %+v (errors %v)", rep.Subscribers, rep.ErrorDetail)
			}
		})
	}
	t.Run("one token, many ws sessions", func(t *testing.T) {
		_, err := NewRun(Options{URL: srv.WS, Room: "given", Subscribers: 3, Rate: 10, Auth: auth.Credentials{Token: both}})
		if !errors.Is(err, auth.ErrTokenDoesNotFit) {
			t.Fatalf("NewRun: %v, want ErrTokenDoesNotFit", err)
		}
	})
}
