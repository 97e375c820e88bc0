package cli

import (
	"strings"
	"testing"
)

// TestUnknownAndMissingCommands: a command name livectl does not know is a
// usage error (exit 2, stderr only, with the closest names); a group run
// without a command prints its help on stderr and exits 2; help asked for
// goes to stdout with exit 0.
func TestUnknownAndMissingCommands(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		code     int
		stdout   []string
		stderr   []string
		noStderr []string
	}{
		{name: "unknown command", args: []string{"bogus"}, code: ExitUsage,
			stderr: []string{`unknown command "bogus" for "livectl"`, "serve", "Run 'livectl --help' for usage."}},
		{name: "typo suggests", args: []string{"sevre"}, code: ExitUsage,
			stderr: []string{`unknown command "sevre" for "livectl"`, "Did you mean this?\n\tserve"}},
		{name: "unknown inspect subcommand", args: []string{"inspect", "goroutine"}, code: ExitUsage,
			stderr: []string{`unknown command "goroutine" for "livectl inspect"`, "Did you mean this?\n\tgoroutines", "Run 'livectl inspect --help'"}},
		{name: "unknown inspect subcommand with flags", args: []string{"inspect", "--target", "http://127.0.0.1:1", "goroutine"}, code: ExitUsage,
			stderr: []string{`unknown command "goroutine" for "livectl inspect"`}},
		{name: "unknown bench subcommand", args: []string{"bench", "signl"}, code: ExitUsage,
			stderr: []string{`unknown command "signl" for "livectl bench"`, "Did you mean this?\n\tsignal"}},
		{name: "no suggestion lists the commands", args: []string{"bench", "xyzzy"}, code: ExitUsage,
			stderr: []string{`unknown command "xyzzy" for "livectl bench"`, "media, report, signal"}},
		{name: "bare inspect", args: []string{"inspect"}, code: ExitUsage,
			stderr:   []string{"Usage:\n  livectl inspect [command]", "goroutines", "livectl inspect needs a command: bundle, cpu, goroutines, heap"},
			noStderr: []string{"Run 'livectl inspect --help'", "livectl inspect [flags]"}},
		{name: "bare bench", args: []string{"bench"}, code: ExitUsage,
			stderr: []string{"Usage:\n  livectl bench [command]", "livectl bench needs a command: media, report, signal"}},
		{name: "bare livectl", args: nil, code: ExitUsage,
			stderr: []string{"Usage:\n  livectl [command]", "livectl needs a command"}},
		{name: "help for an unknown topic", args: []string{"help", "bogus"}, code: ExitUsage,
			stderr: []string{`unknown command "bogus" for "livectl"`}},
		{name: "help for an unknown subcommand", args: []string{"help", "inspect", "goroutine"}, code: ExitUsage,
			stderr: []string{`unknown command "goroutine" for "livectl inspect"`, "goroutines", "Run 'livectl inspect --help'"}},
		{name: "--help on a group", args: []string{"inspect", "--help"}, code: ExitOK,
			stdout: []string{"Usage:\n  livectl inspect [command]", "goroutines"}},
		{name: "help on a group", args: []string{"help", "bench"}, code: ExitOK,
			stdout: []string{"Usage:\n  livectl bench [command]", "signal"}},
		{name: "help on a command", args: []string{"help", "inspect", "goroutines"}, code: ExitOK,
			stdout: []string{"livectl inspect goroutines [--diff A B] [flags]"}},
		{name: "--help on the root", args: []string{"--help"}, code: ExitOK,
			stdout: []string{"Usage:\n  livectl [command]", "inspect"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, nil, tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, stdout, stderr)
			}
			if tt.code != ExitOK && stdout != "" {
				t.Errorf("stdout should be empty on a usage error, got:\n%s", stdout)
			}
			if tt.code == ExitOK && stderr != "" {
				t.Errorf("stderr should be empty when help is asked for, got:\n%s", stderr)
			}
			for _, want := range tt.stdout {
				if !strings.Contains(stdout, want) {
					t.Errorf("stdout lacks %q:\n%s", want, stdout)
				}
			}
			for _, want := range tt.stderr {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr)
				}
			}
			for _, bad := range tt.noStderr {
				if strings.Contains(stderr, bad) {
					t.Errorf("stderr has %q:\n%s", bad, stderr)
				}
			}
		})
	}
}
