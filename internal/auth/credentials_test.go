package auth

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestCredentials(t *testing.T) {
	secret := strings.Repeat("s", MinSecretLen)
	given, err := Mint([]byte(secret), Grant{Room: "r", Identity: "alice", Subscribe: true}, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	want := Grant{Room: "bench-1", Identity: "bench-x-7", Chat: true}
	for _, tc := range []struct {
		name     string
		c        Credentials
		sessions int
		fixed    string // identity of the fixed grant, "" for none
		misfit   bool
		minted   bool
	}{
		{name: "none", sessions: 100},
		{name: "secret mints per session", c: Credentials{Secret: secret}, sessions: 100, minted: true},
		{name: "token for one session", c: Credentials{Token: given}, sessions: 1, fixed: "alice"},
		{name: "token for many sessions", c: Credentials{Token: given}, sessions: 2, misfit: true},
		{name: "opaque token for one session", c: Credentials{Token: "opaque"}, sessions: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := tc.c.Fixed(tc.sessions)
			if tc.misfit != errors.Is(err, ErrTokenDoesNotFit) {
				t.Fatalf("Fixed(%d) error %v, misfit %v", tc.sessions, err, tc.misfit)
			}
			if got := ""; g != nil {
				got = g.Identity
				if got != tc.fixed {
					t.Errorf("fixed identity %q, want %q", got, tc.fixed)
				}
			} else if tc.fixed != "" && err == nil {
				t.Errorf("no fixed grant, want %q", tc.fixed)
			}
			tok, err := tc.c.For(want, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.minted {
				if tok != tc.c.Token {
					t.Errorf("For gave %q, want the given token", tok)
				}
				return
			}
			got, err := Verify([]byte(secret), tok)
			if err != nil {
				t.Fatal(err)
			}
			if got.Room != want.Room || got.Identity != want.Identity || got.Chat != want.Chat || got.Publish || got.Subscribe {
				t.Errorf("minted grant %+v, want %+v", got, want)
			}
			if d := time.Until(got.ExpiresAt); d <= 0 || d > time.Minute {
				t.Errorf("minted token expires in %s, want within the minute asked for", d)
			}
		})
	}
	if r := (Credentials{Token: given, Secret: secret}).Redacted(); strings.Contains(r.Token+r.Secret, secret) || strings.Contains(r.Token, given) || r.Token == "" || r.Secret == "" {
		t.Errorf("Redacted %+v", r)
	}
}
