package cli

import (
	"errors"

	"github.com/spf13/pflag"

	"github.com/livectl/livectl/internal/auth"
)

// The credentials flags of the tools that open sessions of their own
// naming against a server with auth on: bench signal, bench media, probe.

// sessionAuth are the resolved --token and --auth-secret flags.
type sessionAuth struct {
	Token      string
	AuthSecret string
}

func addSessionAuthFlags(fl *pflag.FlagSet, a *sessionAuth, tokenUsage string) {
	fl.StringVar(&a.Token, "token", "", tokenUsage)
	fl.StringVar(&a.AuthSecret, "auth-secret", "", "the server's --auth-secret: mint a token per session for its room and identity")
}

// credentials checks the flags for a run that joins as sessions distinct
// identities with one given token (fits returns auth.ErrTokenDoesNotFit
// when that is more than one).
func (a sessionAuth) credentials(f *Factory, fits func(auth.Credentials) error) (auth.Credentials, error) {
	c := auth.Credentials{Token: a.Token, Secret: a.AuthSecret}
	if c.Secret != "" {
		if c.Token != "" {
			return c, UsageErrorf("give %s or %s, not both: with the secret a token is minted for each session", f.FlagRef("token"), f.FlagRef("auth-secret"))
		}
		if err := auth.CheckSecret(c.Secret); err != nil {
			return c, UsageErrorf("%s: %v", f.FlagRef("auth-secret"), err)
		}
	}
	if err := fits(c); errors.Is(err, auth.ErrTokenDoesNotFit) {
		return c, UsageErrorf("%s: %v: give %s (the server's secret) to mint a token for each session", f.FlagRef("token"), err, f.FlagRef("auth-secret"))
	} else if err != nil {
		return c, err
	}
	return c, nil
}

// redacted says whether a token or secret was given, never its value.
func (a sessionAuth) redacted() sessionAuth {
	r := auth.Credentials{Token: a.Token, Secret: a.AuthSecret}.Redacted()
	return sessionAuth{Token: r.Token, AuthSecret: r.Secret}
}
