package auth

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestMintVerifyRoundTrip(t *testing.T) {
	secret := []byte("s3cret")
	now := time.Now()
	tok, err := Mint(secret, Grant{Room: "r1", Identity: "alice", Publish: true}, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	g, err := Verify(secret, tok)
	if err != nil {
		t.Fatal(err)
	}
	if g.Room != "r1" || g.Identity != "alice" || !g.Publish || g.Subscribe {
		t.Fatalf("grant = %+v", g)
	}
	if d := g.ExpiresAt.Sub(now); d < 59*time.Minute || d > 61*time.Minute {
		t.Fatalf("expires in %s, want ~1h", d)
	}
	if !g.Allows("r1", "alice") || !g.Allows("r1", "") || g.Allows("r2", "alice") || g.Allows("r1", "bob") {
		t.Fatalf("Allows wrong for %+v", g)
	}
}

func TestVerifyRejects(t *testing.T) {
	secret := []byte("s3cret")
	now := time.Now()
	good, _ := Mint(secret, Grant{Room: "r", Identity: "i"}, time.Hour, now)
	expired, _ := Mint(secret, Grant{Room: "r", Identity: "i"}, time.Minute, now.Add(-time.Hour))
	future, _ := Mint(secret, Grant{Room: "r", Identity: "i"}, time.Hour, now.Add(time.Hour))
	none := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"room": "r", "sub": "i", "iss": Issuer, "exp": now.Add(time.Hour).Unix()})
	noneTok, _ := none.SignedString(jwt.UnsafeAllowNoneSignatureType)
	noExp, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"room": "r", "sub": "i", "iss": Issuer}).SignedString(secret)
	noRoom, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "i", "iss": Issuer, "exp": now.Add(time.Hour).Unix()}).SignedString(secret)
	otherIss, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"room": "r", "sub": "i", "iss": "x", "exp": now.Add(time.Hour).Unix()}).SignedString(secret)
	for _, tc := range []struct{ name, secret, token string }{
		{"wrong secret", "other", good},
		{"expired", "s3cret", expired},
		{"not yet valid", "s3cret", future},
		{"alg none", "s3cret", noneTok},
		{"no exp", "s3cret", noExp},
		{"no room", "s3cret", noRoom},
		{"other issuer", "s3cret", otherIss},
		{"garbage", "s3cret", "not.a.jwt"},
		{"empty", "s3cret", ""},
		{"tampered", "s3cret", good[:len(good)-2] + "xx"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Verify([]byte(tc.secret), tc.token)
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("Verify = %v, want ErrInvalidToken", err)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Fatalf("error leaks the secret: %v", err)
			}
		})
	}
}

func TestMintErrors(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name   string
		secret string
		g      Grant
		ttl    time.Duration
	}{
		{"no secret", "", Grant{Room: "r", Identity: "i"}, time.Hour},
		{"no room", "s", Grant{Identity: "i"}, time.Hour},
		{"no identity", "s", Grant{Room: "r"}, time.Hour},
		{"zero ttl", "s", Grant{Room: "r", Identity: "i"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Mint([]byte(tc.secret), tc.g, tc.ttl, now); err == nil {
				t.Fatal("Mint succeeded, want error")
			}
		})
	}
	if _, err := Verify(nil, "x"); !errors.Is(err, ErrNoSecret) {
		t.Fatalf("Verify with no secret = %v", err)
	}
}

func TestPeek(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	tok, err := Mint(secret, Grant{Room: "r", Identity: "probe", Subscribe: true}, time.Minute, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	g, err := Peek(tok)
	if err != nil || g.Room != "r" || g.Identity != "probe" || !g.Subscribe || g.Publish {
		t.Fatalf("Peek = %+v, %v", g, err)
	}
	if _, err := Peek("not.a.token"); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("Peek(garbage) err = %v", err)
	}
}

func TestGrantExpired(t *testing.T) {
	exp := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	g := Grant{ExpiresAt: exp}
	for _, tc := range []struct {
		at   time.Time
		want bool
	}{
		{exp.Add(-time.Hour), false},
		{exp.Add(Leeway), false},
		{exp.Add(Leeway + time.Second), true},
	} {
		if got := g.Expired(tc.at); got != tc.want {
			t.Errorf("Expired(%s) = %v, want %v", tc.at, got, tc.want)
		}
	}
	if (&Grant{}).Expired(exp) {
		t.Error("a grant without expiry (auth off) expired")
	}
}

// TestChatGrant: chat is granted unless the token withholds it; a token
// without the claim (minted before chat existed) may chat.
func TestChatGrant(t *testing.T) {
	secret := []byte("s3cret")
	for _, tc := range []struct {
		name string
		g    Grant
	}{
		{"granted", Grant{Room: "r", Identity: "i", Chat: true}},
		{"withheld", Grant{Room: "r", Identity: "i"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := Mint(secret, tc.g, time.Hour, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			g, err := Verify(secret, tok)
			if err != nil {
				t.Fatal(err)
			}
			p, err := Peek(tok)
			if err != nil {
				t.Fatal(err)
			}
			if g.Chat != tc.g.Chat || p.Chat != tc.g.Chat {
				t.Fatalf("chat: verified %v, peeked %v, want %v", g.Chat, p.Chat, tc.g.Chat)
			}
		})
	}
	// A token signed without the nochat claim at all.
	old, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"iss": Issuer, "sub": "i", "room": "r", "exp": time.Now().Add(time.Hour).Unix(),
	}).SignedString(secret)
	if err != nil {
		t.Fatal(err)
	}
	if g, err := Verify(secret, old); err != nil || !g.Chat {
		t.Fatalf("token without a chat claim: %+v, %v; want chat granted", g, err)
	}
}
