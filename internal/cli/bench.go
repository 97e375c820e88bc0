package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

// PLACEHOLDER: replaced by the real 'bench' command; hidden until then.
func newBenchCmd(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:    "bench",
		Hidden: true,
		RunE:   func(*cobra.Command, []string) error { return errors.New("bench: not built yet") },
	}
}
