package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

// PLACEHOLDER: replaced by the real 'publish' command; hidden until then.
func newPublishCmd(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:    "publish",
		Hidden: true,
		RunE:   func(*cobra.Command, []string) error { return errors.New("publish: not built yet") },
	}
}
