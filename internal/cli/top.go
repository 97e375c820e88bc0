package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

// PLACEHOLDER: replaced by the real 'top' command; hidden until then.
func newTopCmd(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:    "top",
		Hidden: true,
		RunE:   func(*cobra.Command, []string) error { return errors.New("top: not built yet") },
	}
}
