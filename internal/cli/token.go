package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/livectl/livectl/internal/auth"
	"github.com/livectl/livectl/internal/report"
	"github.com/livectl/livectl/internal/signal"
)

// TokenOptions are the resolved flags of `livectl token`.
type TokenOptions struct {
	AuthSecret string
	Room       string
	Identity   string
	Publish    bool
	Subscribe  bool
	NoChat     bool
	TTL        time.Duration
	// Now is the clock (tests).
	Now func() time.Time
}

// tokenResult is the JSON form of a minted token.
type tokenResult struct {
	Token string `json:"token"`
	auth.Grant
}

func newTokenCmd(f *Factory) *cobra.Command {
	opts := &TokenOptions{Now: time.Now}
	var secretAlias string
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Mint a join token for a room",
		Long: `Mint an HMAC-signed (HS256) JWT that lets its holder join --room as
--identity on a server started with the same --auth-secret, and optionally
publish and/or subscribe to media. It may send to the room's chat unless
--no-chat. The token is printed on stdout.`,
		Example: `  livectl token --auth-secret "$SECRET" --room demo --identity alice --publish --subscribe
  TOKEN=$(livectl token --auth-secret "$SECRET" --room demo --identity probe --subscribe --ttl 10m)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// --secret is --auth-secret by another name: whichever comes
			// from the higher source wins (command line > environment >
			// config file), and two from one source must agree.
			fl := cmd.Flags()
			switch ls, la := f.flagLevel(fl, "secret"), f.flagLevel(fl, "auth-secret"); {
			case ls > la:
				opts.AuthSecret = secretAlias
			case ls == la && ls > 0 && opts.AuthSecret != secretAlias:
				return UsageErrorf("%s and %s disagree: give one", f.FlagRef("secret"), f.FlagRef("auth-secret"))
			}
			return runToken(f, opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.AuthSecret, "auth-secret", "", "HMAC secret shared with 'livectl serve --auth-secret'")
	fl.StringVar(&secretAlias, "secret", "", "same as --auth-secret")
	fl.StringVar(&opts.Room, "room", "", "room the token is for (required)")
	fl.StringVar(&opts.Identity, "identity", "", "participant identity (required)")
	fl.BoolVar(&opts.Publish, "publish", false, "grant publishing media")
	fl.BoolVar(&opts.Subscribe, "subscribe", false, "grant subscribing to media")
	fl.BoolVar(&opts.NoChat, "no-chat", false, "withhold the chat grant (the holder may join and read the chat, not send to it)")
	fl.DurationVar(&opts.TTL, "ttl", time.Hour, "how long the token is valid")
	return cmd
}

func runToken(f *Factory, o *TokenOptions) error {
	switch {
	case o.AuthSecret == "":
		return UsageErrorf("%s is required: use the secret the server runs with", f.FlagRef("auth-secret"))
	case o.Room == "":
		return UsageErrorf("%s is required", f.FlagRef("room"))
	case o.Identity == "":
		return UsageErrorf("%s is required", f.FlagRef("identity"))
	case o.TTL <= 0:
		return UsageErrorf("%s must be positive, got %s", f.FlagRef("ttl"), o.TTL)
	}
	// The server refuses these names: a token for one is of no use.
	if err := signal.CheckName("room", o.Room); err != nil {
		return UsageErrorf("%s: %v", f.FlagRef("room"), err)
	}
	if err := signal.CheckName("identity", o.Identity); err != nil {
		return UsageErrorf("%s: %v", f.FlagRef("identity"), err)
	}
	if err := auth.CheckSecret(o.AuthSecret); err != nil {
		return UsageErrorf("%s: %v", f.FlagRef("auth-secret"), err)
	}
	now := o.Now()
	g := auth.Grant{Room: o.Room, Identity: o.Identity, Publish: o.Publish, Subscribe: o.Subscribe, Chat: !o.NoChat}
	tok, err := auth.Mint([]byte(o.AuthSecret), g, o.TTL, now)
	if err != nil {
		return err
	}
	if f.Globals.JSON() {
		g.ExpiresAt = now.Add(o.TTL).UTC().Truncate(time.Second)
		return report.WriteJSON(f.IO.Out, tokenResult{Token: tok, Grant: g})
	}
	_, err = fmt.Fprintln(f.IO.Out, tok)
	return err
}
