package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/livectl/livectl/internal/report"
)

// Set at build time with -ldflags "-X github.com/livectl/livectl/internal/cli.version=…".
var (
	version = "dev"
	commit  = ""
)

// BuildInfo describes this binary.
type BuildInfo struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	GoVersion string `json:"go_version"`
	Platform  string `json:"platform"`
}

// Build returns this binary's version, commit and toolchain.
func Build() BuildInfo {
	b := BuildInfo{Version: version, Commit: commit, GoVersion: runtime.Version(),
		Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if b.Commit == "" {
		if info, ok := debug.ReadBuildInfo(); ok {
			for _, s := range info.Settings {
				if s.Key == "vcs.revision" {
					b.Commit = s.Value
				}
			}
		}
	}
	if b.Commit == "" {
		b.Commit = "unknown"
	}
	return b
}

func newVersionCmd(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print version, commit and Go version",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			b := Build()
			if f.Globals.JSON() {
				return report.WriteJSON(f.IO.Out, b)
			}
			_, err := fmt.Fprintf(f.IO.Out, "livectl %s\ncommit  %s\ngo      %s %s\n", b.Version, b.Commit, b.GoVersion, b.Platform)
			return err
		},
	}
}
