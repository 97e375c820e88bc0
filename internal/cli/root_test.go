package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/livectl/livectl/internal/syncio"
	"github.com/spf13/cobra"
)

// resolvedOpts is what the test command captures after resolution.
type resolvedOpts struct {
	Listen  string
	Rate    int
	Timeout time.Duration
	Names   []string
	Verbose bool
}

// resolveFlags runs `livectl config-probe [args]` with the given environment and
// working directory and returns the resolved options, exit code and stderr.
func resolveFlags(t *testing.T, dir string, env map[string]string, args ...string) (resolvedOpts, int, string) {
	t.Helper()
	var got resolvedOpts
	cmd := &cobra.Command{Use: "config-probe", RunE: func(*cobra.Command, []string) error { return nil }}
	cmd.Flags().StringVar(&got.Listen, "listen", "127.0.0.1:7880", "")
	cmd.Flags().IntVar(&got.Rate, "rate", 100, "")
	cmd.Flags().DurationVar(&got.Timeout, "drain-timeout", 5*time.Second, "")
	cmd.Flags().StringSliceVar(&got.Names, "allowed-origins", []string{"a"}, "")
	cmd.Flags().BoolVar(&got.Verbose, "verbose", false, "")
	_, code, stderr := executeIn(t, dir, env, []*cobra.Command{cmd}, append([]string{"config-probe"}, args...))
	return got, code, stderr
}

// executeIn runs livectl, with cmds added to its tree, in the working
// directory dir with only env in the environment, and returns its factory
// (for the resolved globals), exit code and stderr.
func executeIn(t *testing.T, dir string, env map[string]string, cmds []*cobra.Command, args []string) (*Factory, int, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	f := NewFactory()
	f.IO = &IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}
	f.LookupEnv = func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	root := NewRootCmd(f)
	root.AddCommand(cmds...)
	wd, _ := os.Getwd()
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	defer os.Chdir(wd)
	code := execute(context.Background(), f, root, args)
	return f, code, errOut.String()
}

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigPrecedence(t *testing.T) {
	const file = "listen: 0.0.0.0:1\nrate: 7\ndrain-timeout: 9s\nallowed-origins: [x, y]\nverbose: true\n"
	tests := []struct {
		name      string
		configDir bool // write ./livectl.yaml in the working directory
		env       map[string]string
		args      []string
		want      resolvedOpts
	}{
		{
			name: "defaults",
			want: resolvedOpts{Listen: "127.0.0.1:7880", Rate: 100, Timeout: 5 * time.Second, Names: []string{"a"}},
		},
		{
			name:      "an empty environment variable is set, and beats the file",
			configDir: true,
			env:       map[string]string{"LIVECTL_LISTEN": ""},
			want:      resolvedOpts{Listen: "", Rate: 7, Timeout: 9 * time.Second, Names: []string{"x", "y"}, Verbose: true},
		},
		{
			name:      "config file beats default",
			configDir: true,
			want:      resolvedOpts{Listen: "0.0.0.0:1", Rate: 7, Timeout: 9 * time.Second, Names: []string{"x", "y"}, Verbose: true},
		},
		{
			name:      "environment beats config file",
			configDir: true,
			env:       map[string]string{"LIVECTL_RATE": "8", "LIVECTL_ALLOWED_ORIGINS": "p,q", "LIVECTL_DRAIN_TIMEOUT": "1m"},
			want:      resolvedOpts{Listen: "0.0.0.0:1", Rate: 8, Timeout: time.Minute, Names: []string{"p", "q"}, Verbose: true},
		},
		{
			name:      "flag beats environment",
			configDir: true,
			env:       map[string]string{"LIVECTL_RATE": "8", "LIVECTL_LISTEN": "env:1"},
			args:      []string{"--rate", "9", "--allowed-origins", "z"},
			want:      resolvedOpts{Listen: "env:1", Rate: 9, Timeout: 9 * time.Second, Names: []string{"z"}, Verbose: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.configDir {
				writeFile(t, dir, DefaultConfigFile, file)
			}
			got, code, stderr := resolveFlags(t, dir, tt.env, tt.args...)
			if code != ExitOK {
				t.Fatalf("exit %d, stderr: %s", code, stderr)
			}
			gj, _ := json.Marshal(got)
			wj, _ := json.Marshal(tt.want)
			if string(gj) != string(wj) {
				t.Errorf("resolved %s\nwant     %s", gj, wj)
			}
		})
	}
}

func TestExplicitConfigFile(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, DefaultConfigFile, "rate: 1\n")
	other := writeFile(t, dir, "other.yaml", "rate: 2\n")
	got, code, stderr := resolveFlags(t, dir, nil, "--config", other)
	if code != ExitOK || got.Rate != 2 {
		t.Fatalf("--config: rate %d exit %d (%s), want rate 2 from other.yaml", got.Rate, code, stderr)
	}
	got, code, _ = resolveFlags(t, dir, map[string]string{"LIVECTL_CONFIG": other})
	if code != ExitOK || got.Rate != 2 {
		t.Fatalf("LIVECTL_CONFIG: rate %d exit %d, want rate 2 from other.yaml", got.Rate, code)
	}
}

func TestUsageErrorsExit2AndNameTheSource(t *testing.T) {
	tests := []struct {
		name     string
		file     string
		env      map[string]string
		args     []string
		contains []string
	}{
		{name: "unknown flag", args: []string{"--no-such-flag"}, contains: []string{"unknown flag: --no-such-flag", "--help"}},
		{name: "bad flag value", args: []string{"--rate", "fast"}, contains: []string{"--rate", "fast"}},
		{name: "bad env value", env: map[string]string{"LIVECTL_RATE": "fast"}, contains: []string{"LIVECTL_RATE", "--rate", "fast"}},
		{name: "bad config value", file: "rate: fast\n", contains: []string{`config key "rate"`, "livectl.yaml", "fast"}},
		{name: "bad duration in config", file: "drain-timeout: soon\n", contains: []string{"drain-timeout", "soon"}},
		{name: "config not YAML", file: "rate: [\n", contains: []string{"reading config file"}},
		{name: "config key that is no flag", file: "drain_timeout: 5s\n", contains: []string{`config key "drain_timeout"`, `did you mean "drain-timeout"`}},
		{name: "missing explicit config", args: []string{"--config", "/nonexistent/x.yaml"}, contains: []string{"/nonexistent/x.yaml"}},
		{name: "bad output format", args: []string{"-o", "xml"}, contains: []string{"--output", "xml"}},
		{name: "bad output format from env", env: map[string]string{"LIVECTL_OUTPUT": "xml"}, contains: []string{"LIVECTL_OUTPUT", "xml"}},
		{name: "bad log level", args: []string{"--log-level", "loud"}, contains: []string{"--log-level", "loud"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.file != "" {
				writeFile(t, dir, DefaultConfigFile, tt.file)
			}
			_, code, stderr := resolveFlags(t, dir, tt.env, tt.args...)
			if code != ExitUsage {
				t.Fatalf("exit %d, want %d; stderr: %s", code, ExitUsage, stderr)
			}
			for _, c := range tt.contains {
				if !strings.Contains(stderr, c) {
					t.Errorf("stderr %q does not mention %q", stderr, c)
				}
			}
		})
	}
}

func TestExitCode(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, ExitOK},
		{"plain", os.ErrNotExist, ExitFailure},
		{"usage", UsageErrorf("--x: bad"), ExitUsage},
		{"assertion", &AssertionError{Failed: []string{"join.p99<50ms (was 61ms)"}}, ExitAssertion},
		{"silent", ErrSilent, ExitFailure},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ExitCode(tt.err); got != tt.want {
				t.Errorf("ExitCode(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}

func TestVersionJSON(t *testing.T) {
	code, out, errOut := runCLI(t, nil, "version", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var b BuildInfo
	if err := json.Unmarshal([]byte(out), &b); err != nil {
		t.Fatalf("stdout is not one JSON document: %v\n%s", err, out)
	}
	if b.GoVersion == "" || b.Version == "" {
		t.Errorf("incomplete build info: %+v", b)
	}
	if errOut != "" {
		t.Errorf("unexpected stderr: %s", errOut)
	}
}

func TestCompletionScripts(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		t.Run(shell, func(t *testing.T) {
			code, out, errOut := runCLI(t, nil, "completion", shell)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			if !strings.Contains(out, "livectl") {
				t.Errorf("%s completion does not mention livectl", shell)
			}
		})
	}
	if code, _, errOut := runCLI(t, nil, "completion", "tcsh"); code != ExitUsage {
		t.Errorf("completion tcsh: exit %d, want %d (%s)", code, ExitUsage, errOut)
	}
}

// TestInterruptTwice: the first signal ends the command's context (it
// reports what it did), a second exits at once, unless the command
// handles signals itself (serve drains, then cuts the drain short).
func TestInterruptTwice(t *testing.T) {
	for _, own := range []bool{false, true} {
		t.Run(fmt.Sprintf("own signals %v", own), func(t *testing.T) {
			ownSignals.Store(own)
			defer ownSignals.Store(false)
			var errOut syncio.Buffer
			f := NewFactory()
			f.IO = &IOStreams{In: strings.NewReader(""), Out: io.Discard, ErrOut: &errOut}
			sigc := make(chan os.Signal, 2)
			cancelled := make(chan struct{})
			exited := make(chan int, 1)
			done := make(chan struct{})
			go func() {
				defer close(done)
				interruptTwice(f, sigc, func() { close(cancelled) }, func(code int) { exited <- code })
			}()
			sigc <- os.Interrupt
			<-cancelled
			sigc <- os.Interrupt
			if own {
				close(sigc) // serve's own handler has the second one
				<-done
				if len(exited) != 0 {
					t.Fatal("exited although the command handles its signals")
				}
				return
			}
			if code := <-exited; code != ExitFailure {
				t.Errorf("exit %d, want %d", code, ExitFailure)
			}
			<-done
			if !strings.Contains(errOut.String(), "again to exit at once") || !strings.Contains(errOut.String(), "without a report") {
				t.Errorf("stderr %q", errOut.String())
			}
		})
	}
}

func TestVersionFlag(t *testing.T) {
	code, out, errOut := runCLI(t, nil, "--version")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var want strings.Builder
	if err := writeVersion(&want, Build()); err != nil {
		t.Fatal(err)
	}
	if out != want.String() {
		t.Errorf("livectl --version printed\n%s\nwant what `livectl version` prints:\n%s", out, want.String())
	}
}
