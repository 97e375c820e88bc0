// Package auth mints and verifies livectl join tokens: HMAC-SHA256 signed JWTs
// (golang-jwt/v5) that name a room and an identity and grant publishing and
// subscribing. `livectl token` mints them; `livectl serve --auth-secret`
// verifies them on join (GET /ws) and as WHIP/WHEP bearer tokens.
package auth

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Issuer is the "iss" claim of tokens minted by livectl.
const Issuer = "livectl"

// MinSecretLen is the shortest HMAC secret accepted: RFC 7518 §3.2 requires
// an HS256 key at least as long as the hash output, 256 bits.
const MinSecretLen = 32

// CheckSecret reports a secret too short to sign tokens with.
func CheckSecret(secret string) error {
	if len(secret) < MinSecretLen {
		return fmt.Errorf("the secret is %d bytes; HS256 needs at least %d (RFC 7518 §3.2): generate one with 'openssl rand -hex 32'", len(secret), MinSecretLen)
	}
	return nil
}

// Leeway tolerates clock skew between the minting host and the server.
const Leeway = 30 * time.Second

// Sentinel errors; Verify wraps them with the detail.
var (
	// ErrNoSecret means a token was minted or verified with an empty secret.
	ErrNoSecret = errors.New("auth secret is empty")
	// ErrInvalidToken means the token is malformed, badly signed, expired or
	// missing a claim.
	ErrInvalidToken = errors.New("invalid token")
	// ErrExpired is wrapped, with ErrInvalidToken, in the error of a
	// token past its expiry (and Leeway): its holder needs a new one.
	ErrExpired = errors.New("token has expired")
)

// Grant is what a token allows: joining Room as Identity, publishing
// and/or subscribing to media there, and sending to its chat.
type Grant struct {
	Room      string    `json:"room"`
	Identity  string    `json:"identity"`
	Publish   bool      `json:"publish"`
	Subscribe bool      `json:"subscribe"`
	Chat      bool      `json:"chat"`
	ExpiresAt time.Time `json:"expires_at"`
}

// claims is the JWT body: the identity travels as "sub". Chat is granted
// unless "nochat" withholds it, so tokens minted before chat existed
// (and any that may join) may chat.
type claims struct {
	Room      string `json:"room"`
	Publish   bool   `json:"publish,omitempty"`
	Subscribe bool   `json:"subscribe,omitempty"`
	NoChat    bool   `json:"nochat,omitempty"`
	jwt.RegisteredClaims
}

// Mint signs a token for g that is valid from now for ttl. g.ExpiresAt is ignored.
func Mint(secret []byte, g Grant, ttl time.Duration, now time.Time) (string, error) {
	if len(secret) == 0 {
		return "", ErrNoSecret
	}
	if g.Room == "" || g.Identity == "" {
		return "", errors.New("minting token: room and identity are required")
	}
	if ttl <= 0 {
		return "", fmt.Errorf("minting token: ttl must be positive, got %s", ttl)
	}
	c := claims{
		Room:      g.Room,
		Publish:   g.Publish,
		Subscribe: g.Subscribe,
		NoChat:    !g.Chat,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    Issuer,
			Subject:   g.Identity,
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("signing token: %w", err)
	}
	return s, nil
}

// Verify checks token's signature (HS256 only), issuer and validity window
// and returns its grant. Errors wrap ErrInvalidToken (or ErrNoSecret) and say
// what was wrong, never the secret.
func Verify(secret []byte, token string) (*Grant, error) {
	if len(secret) == 0 {
		return nil, ErrNoSecret
	}
	var c claims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(Issuer),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(Leeway),
	)
	if errors.Is(err, jwt.ErrTokenExpired) {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, ErrExpired)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	if c.Room == "" || c.Subject == "" {
		return nil, fmt.Errorf("%w: token has no room or identity (sub)", ErrInvalidToken)
	}
	return &Grant{
		Room:      c.Room,
		Identity:  c.Subject,
		Publish:   c.Publish,
		Subscribe: c.Subscribe,
		Chat:      !c.NoChat,
		ExpiresAt: c.ExpiresAt.Time,
	}, nil
}

// Peek reads a token's grant without checking its signature or expiry: a
// client holding a token learns from it the room and identity it must join
// as. Never use it to authorize anything; the server verifies.
func Peek(token string) (*Grant, error) {
	var c claims
	if _, _, err := jwt.NewParser().ParseUnverified(token, &c); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	g := &Grant{Room: c.Room, Identity: c.Subject, Publish: c.Publish, Subscribe: c.Subscribe, Chat: !c.NoChat}
	if c.ExpiresAt != nil {
		g.ExpiresAt = c.ExpiresAt.Time
	}
	return g, nil
}

// Allows reports whether g permits joining room as identity. An empty
// identity matches any (WHIP/WHEP requests carry no identity of their own).
func (g *Grant) Allows(room, identity string) bool {
	return g.Room == room && (identity == "" || g.Identity == identity)
}

// Expired reports whether g's token has expired at t, with the Leeway that
// Verify allows. A grant without an expiry (auth off) never expires.
func (g *Grant) Expired(t time.Time) bool {
	return !g.ExpiresAt.IsZero() && t.After(g.ExpiresAt.Add(Leeway))
}
