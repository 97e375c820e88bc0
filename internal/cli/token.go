package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

// PLACEHOLDER: replaced by the real 'token' command; hidden until then.
func newTokenCmd(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:    "token",
		Hidden: true,
		RunE:   func(*cobra.Command, []string) error { return errors.New("token: not built yet") },
	}
}
