package cli

import (
	"crypto/tls"

	"github.com/spf13/pflag"

	"github.com/livectl/livectl/internal/tlsconf"
)

// addClientTLS registers --insecure and --ca on a command that dials a
// server's https:// or wss:// URLs (publish, probe, bench, top, inspect).
func addClientTLS(fl *pflag.FlagSet, c *tlsconf.Client) {
	fl.BoolVar(&c.Insecure, "insecure", false, "do not verify the server's TLS certificate (https://, wss://): for test servers only")
	fl.StringVar(&c.CAFile, "ca", "", "PEM file of CA certificates to trust for https:// and wss:// (a private CA or a self-signed server)")
}

// clientTLS turns --insecure/--ca into the clients' TLS configuration
// (nil: Go's defaults); an unreadable --ca is a usage error.
func clientTLS(f *Factory, c tlsconf.Client) (*tls.Config, error) {
	cfg, err := c.Config()
	if err != nil {
		return nil, UsageErrorf("%s: %v", f.FlagRef("ca"), err)
	}
	return cfg, nil
}
