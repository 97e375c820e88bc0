package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

// PLACEHOLDER: replaced by the real 'probe' command; hidden until then.
func newProbeCmd(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:    "probe",
		Hidden: true,
		RunE:   func(*cobra.Command, []string) error { return errors.New("probe: not built yet") },
	}
}
