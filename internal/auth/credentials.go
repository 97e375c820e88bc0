package auth

import (
	"errors"
	"fmt"
	"time"
)

// ErrTokenDoesNotFit means one given token was asked to serve sessions that
// join as several identities (or rooms): a token names one of each, so a
// client opening many sessions needs the secret to mint one per session.
var ErrTokenDoesNotFit = errors.New("one token names one room and one identity")

// Credentials are how a client that opens sessions of its own naming (a
// load generator, a probe) authenticates to a server with auth on: with
// Secret it mints a token per session for exactly the room, identity and
// grants that session uses; otherwise every session presents Token.
type Credentials struct {
	Token  string `json:"token,omitempty"`
	Secret string `json:"secret,omitempty"`
}

// Minting says whether tokens are minted per session.
func (c Credentials) Minting() bool { return c.Secret != "" }

// For returns the token a session joining g.Room as g.Identity with g's
// grants presents: minted, valid from now for ttl, when there is a secret,
// else the given token (possibly empty: a server with auth off).
func (c Credentials) For(g Grant, ttl time.Duration) (string, error) {
	if !c.Minting() {
		return c.Token, nil
	}
	return Mint([]byte(c.Secret), g, ttl, time.Now())
}

// Fixed returns the grant of the given token when one token must serve
// sessions, or nil when tokens are minted, there is none or it is not a
// livectl token (the server will say what is wrong with it): a client that
// opens a single session joins the token's room as its identity, since the
// server lets it in as nothing else. sessions is how many distinct
// identities the client would join as; more than one is ErrTokenDoesNotFit.
func (c Credentials) Fixed(sessions int) (*Grant, error) {
	if c.Minting() || c.Token == "" {
		return nil, nil
	}
	if sessions > 1 {
		return nil, fmt.Errorf("%w, and this run opens %d sessions with identities of their own", ErrTokenDoesNotFit, sessions)
	}
	g, err := Peek(c.Token)
	if err != nil {
		return nil, nil
	}
	return g, nil
}

// Redacted is c for a report: whether a token or secret was given, never
// its value.
func (c Credentials) Redacted() Credentials {
	var r Credentials
	if c.Token != "" {
		r.Token = "(redacted)"
	}
	if c.Secret != "" {
		r.Secret = "(redacted)"
	}
	return r
}
