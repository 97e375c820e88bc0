package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

// PLACEHOLDER: replaced by the real 'inspect' command; hidden until then.
func newInspectCmd(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:    "inspect",
		Hidden: true,
		RunE:   func(*cobra.Command, []string) error { return errors.New("inspect: not built yet") },
	}
}
