package cli

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/livectl/livectl/internal/report"
)

// Set at build time with -ldflags "-X github.com/livectl/livectl/internal/cli.version=…"
// (make build, make release). A plain `go build` leaves them empty and
// Build falls back to what the toolchain recorded in the binary.
var (
	version = ""
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
	info, _ := debug.ReadBuildInfo()
	return buildInfo(version, commit, info)
}

// buildInfo prefers the stamped version and commit, then the module
// version and VCS revision the go command records (`go build` in a git
// checkout, `go install …@version`), then "dev" and "unknown".
func buildInfo(stampedVersion, stampedCommit string, info *debug.BuildInfo) BuildInfo {
	b := BuildInfo{Version: stampedVersion, Commit: stampedCommit, GoVersion: runtime.Version(),
		Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if info != nil {
		if v := info.Main.Version; b.Version == "" && v != "" && v != "(devel)" {
			b.Version = v
		}
		var rev string
		dirty := false
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if b.Commit == "" && rev != "" {
			b.Commit = rev
			if dirty {
				b.Commit += "-dirty"
			}
		}
	}
	if b.Version == "" {
		b.Version = "dev"
	}
	if b.Commit == "" {
		b.Commit = "unknown"
	}
	return b
}

// writeVersion prints b for people: `livectl version` and `livectl --version`.
func writeVersion(w io.Writer, b BuildInfo) error {
	_, err := fmt.Fprintf(w, "livectl %s\ncommit  %s\ngo      %s %s\n", b.Version, b.Commit, b.GoVersion, b.Platform)
	return err
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
			return writeVersion(f.IO.Out, b)
		},
	}
}
