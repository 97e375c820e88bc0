// Package cli is livectl's command tree: the root command with its global
// flags, configuration precedence, output format and exit codes, and one file
// per command group. Commands copy resolved settings into an options struct
// and call into the internal packages that do the work.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/livectl/livectl/internal/report"
)

// EnvPrefix is the prefix of the environment variables that set flags:
// --max-conns is LIVECTL_MAX_CONNS.
const EnvPrefix = "LIVECTL"

// DefaultConfigFile is read when present and --config is not given.
const DefaultConfigFile = "livectl.yaml"

// IOStreams are a command's standard streams; tests swap in buffers.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
	// OutTTY and ErrTTY say whether the streams are terminals, which decides
	// between colours/progress bars and plain lines.
	OutTTY, ErrTTY bool
}

// SystemIO returns the process's streams.
func SystemIO() *IOStreams {
	return &IOStreams{
		In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr,
		OutTTY: isatty.IsTerminal(os.Stdout.Fd()),
		ErrTTY: isatty.IsTerminal(os.Stderr.Fd()),
	}
}

// Globals are the settings of the root command, resolved before any command runs.
type Globals struct {
	ConfigFile string
	Output     string
	LogLevel   string
	LogFormat  string
	Quiet      bool
}

// Format is the validated -o value.
func (g *Globals) Format() report.Format { return report.Format(g.Output) }

// JSON reports whether the command should print JSON.
func (g *Globals) JSON() bool { return g.Format() == report.JSON }

// Factory carries what every command needs: streams, globals, a logger and
// the process context (cancelled on SIGINT/SIGTERM unless a command takes
// over signal handling, as serve does).
type Factory struct {
	IO      *IOStreams
	Globals *Globals
	Logger  *slog.Logger
	// Executable is the path used to re-exec livectl (bench --procs).
	Executable func() (string, error)
	// LookupEnv reads the environment (os.LookupEnv); tests replace it. A
	// variable set to "" is set: LIVECTL_ADMIN_LISTEN= turns the admin
	// listener off, as --admin-listen '' does.
	LookupEnv func(string) (string, bool)

	// sources records, for each flag set from the environment or a config
	// file, where the value came from, so later validation can say so.
	sources map[string]string
}

// FlagRef names a flag for an error message, with where its value came from
// when that was not the command line: `--rate (from environment variable LIVECTL_RATE)`.
func (f *Factory) FlagRef(name string) string {
	if src, ok := f.sources[name]; ok {
		return "--" + name + " (from " + src + ")"
	}
	return "--" + name
}

// flagLevel says where a flag's value came from, by precedence: 3 the
// command line, 2 the environment, 1 the config file, 0 its default. Two
// flags that set one thing (token's --secret and --auth-secret) compare
// levels, so an alias keeps the precedence every flag has.
func (f *Factory) flagLevel(fs *pflag.FlagSet, name string) int {
	src, fromSource := f.sources[name]
	switch {
	case fs.Changed(name) && !fromSource:
		return 3
	case strings.HasPrefix(src, "environment"):
		return 2
	case fromSource:
		return 1
	}
	return 0
}

// NewFactory returns a Factory on the process's streams and environment.
func NewFactory() *Factory {
	return &Factory{
		IO:         SystemIO(),
		Globals:    &Globals{},
		Logger:     slog.New(slog.NewTextHandler(os.Stderr, nil)),
		Executable: os.Executable,
		LookupEnv:  os.LookupEnv,
	}
}

// Main runs livectl with the process's arguments and returns the exit code.
func Main() int {
	f := NewFactory()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigc := make(chan os.Signal, 2)
	signal.Notify(sigc, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigc)
	go interruptTwice(f, sigc, cancel, os.Exit)
	return Run(ctx, f, os.Args[1:])
}

// ownSignals is set by a command that handles a second signal itself
// (serve: the first drains, the second cuts the drain short).
var ownSignals atomic.Bool

// interruptTwice turns the first SIGINT/SIGTERM into the command's context
// ending (reports cover what was done: bench and probe print a partial
// report, inspect --watch the samples taken) and a second into an exit at
// once: attempts in flight may take their whole timeout to finish, and a
// user pressing Ctrl-C again wants out, not to wait.
func interruptTwice(f *Factory, sigc <-chan os.Signal, cancel func(), exit func(int)) {
	sig := <-sigc
	cancel()
	if !ownSignals.Load() && !f.Globals.Quiet {
		fmt.Fprintf(f.IO.ErrOut, "livectl: %s: finishing what is in flight and reporting (again to exit at once)\n", sig)
	}
	for sig := range sigc {
		if ownSignals.Load() {
			continue
		}
		fmt.Fprintf(f.IO.ErrOut, "livectl: %s again: exiting at once, without a report\n", sig)
		exit(ExitFailure)
		return
	}
}

// Run executes the command line args and maps the outcome to an exit code.
func Run(ctx context.Context, f *Factory, args []string) int {
	return execute(ctx, f, NewRootCmd(f), args)
}

func execute(ctx context.Context, f *Factory, root *cobra.Command, args []string) int {
	root.SetArgs(args)
	root.SetIn(f.IO.In)
	root.SetOut(f.IO.Out)
	root.SetErr(f.IO.ErrOut)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return ExitOK
	}
	code := ExitCode(err)
	var uc *unknownCommand
	if errors.As(err, &uc) {
		cmd = uc.cmd // `livectl help inspect bogus`: inspect's help is the one to read
	}
	help := ""
	if code == ExitUsage && cmd != nil && !isConfigError(err) && !errors.As(err, new(helpShown)) {
		help = fmt.Sprintf("Run '%s --help' for usage.", cmd.CommandPath())
	}
	// With --log-format json every line on stderr is JSON (a service
	// manager's log collector parses them), the final error included.
	if f.Globals.LogFormat == "json" {
		attrs := []any{"exit", code}
		if help != "" {
			attrs = append(attrs, "help", help)
		}
		if !errors.Is(err, ErrSilent) {
			slog.New(slog.NewJSONHandler(f.IO.ErrOut, nil)).Error(err.Error(), attrs...)
		}
		return code
	}
	if !errors.Is(err, ErrSilent) {
		fmt.Fprintf(f.IO.ErrOut, "livectl: %v\n", err)
	}
	if help != "" {
		fmt.Fprintln(f.IO.ErrOut, help)
	}
	return code
}

// NewRootCmd builds the whole command tree.
func NewRootCmd(f *Factory) *cobra.Command {
	g := f.Globals
	root := &cobra.Command{
		Use:   "livectl",
		Short: "Serve, load-test, probe and inspect live-streaming infrastructure",
		Long: `livectl serves a WebRTC signaling + SFU stack and measures live-streaming
infrastructure: signaling and media load, first-frame latency, pprof goroutine
dumps and a live terminal dashboard.

Every flag can also be set as LIVECTL_<FLAG_NAME> in the environment or in a
YAML config file (--config, default ./livectl.yaml) under its command:
bench.signal.rate, probe.count, serve.listen (the global flags, such as
output and quiet, are flat keys); a flag on the command line wins over the
environment, which wins over the file.`,
		SilenceUsage:      true,
		SilenceErrors:     true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error { return resolve(cmd, f) },
	}
	// `livectl --version` prints what `livectl version` prints. The flag is
	// declared here so cobra does not also claim -v, which commands may want.
	var vb strings.Builder
	_ = writeVersion(&vb, Build())
	root.Version = Build().Version
	root.SetVersionTemplate(strings.ReplaceAll(vb.String(), "{{", "{{`{{`}}"))
	root.Flags().Bool("version", false, "print version, commit and Go version")
	// Flag parse errors (unknown flag, bad value) are usage errors: exit 2.
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &UsageError{Err: err} })

	pf := root.PersistentFlags()
	pf.StringVar(&g.ConfigFile, "config", "", "config file (YAML; default ./"+DefaultConfigFile+" if present)")
	pf.StringVarP(&g.Output, "output", "o", "table", "output format: table or json")
	pf.StringVar(&g.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	pf.StringVar(&g.LogFormat, "log-format", "text", "log format: text or json")
	pf.BoolVarP(&g.Quiet, "quiet", "q", false, "no progress output on stderr")
	_ = root.RegisterFlagCompletionFunc("output", fixedCompletions("table", "json"))
	_ = root.RegisterFlagCompletionFunc("log-level", fixedCompletions("debug", "info", "warn", "error"))
	_ = root.RegisterFlagCompletionFunc("log-format", fixedCompletions("text", "json"))

	root.AddCommand(
		newServeCmd(f),
		newTokenCmd(f),
		newBenchCmd(f),
		newPublishCmd(f),
		newProbeCmd(f),
		newInspectCmd(f),
		newTopCmd(f),
		newVersionCmd(f),
		newCompletionCmd(f),
	)
	wrapArgErrors(root)
	requireSubcommands(root)
	root.SetHelpCommand(newHelpCmd())
	return root
}

// wrapArgErrors makes positional-argument mistakes usage errors (exit 2).
func wrapArgErrors(cmd *cobra.Command) {
	if cmd.Args != nil {
		check := cmd.Args
		cmd.Args = func(c *cobra.Command, args []string) error {
			if err := check(c, args); err != nil {
				return &UsageError{Err: err}
			}
			return nil
		}
	}
	for _, sub := range cmd.Commands() {
		wrapArgErrors(sub)
	}
}

func fixedCompletions(values ...string) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return values, cobra.ShellCompDirectiveNoFileComp
	}
}

// configError marks usage errors that come from the environment or config
// file, where "see --help" is not the useful hint.
type configError struct{ error }

func (e configError) Unwrap() error { return e.error }

func isConfigError(err error) bool {
	var ce configError
	return errors.As(err, &ce)
}

// resolve applies the config precedence (flag > env > config file > default)
// to every flag of cmd, then validates the globals and builds the logger.
// Values from the environment and the file are written into the flags
// themselves, so options structs bound to flags see the final value and a
// bad value is rejected by the same parser as on the command line.
func resolve(cmd *cobra.Command, f *Factory) error {
	v := viper.New()
	path, explicit := f.Globals.ConfigFile, true
	if path == "" {
		if env, _ := f.LookupEnv(EnvPrefix + "_CONFIG"); env != "" {
			path = env
		} else {
			path, explicit = DefaultConfigFile, false
		}
	}
	if _, err := os.Stat(path); err == nil || explicit {
		v.SetConfigFile(path)
		v.SetConfigType("yaml")
		if err := v.ReadInConfig(); err != nil {
			return &UsageError{Err: configError{fmt.Errorf("reading config file %s: %w", path, err)}}
		}
		if err := checkConfigKeys(cmd.Root(), v.AllKeys(), path); err != nil {
			return &UsageError{Err: configError{err}}
		}
	}

	var errs, flatKeys []string
	cmd.Flags().VisitAll(func(fl *pflag.Flag) {
		if fl.Changed || fl.Name == "config" || fl.Name == "help" {
			return
		}
		env := EnvPrefix + "_" + strings.ToUpper(strings.ReplaceAll(fl.Name, "-", "_"))
		source, raw, ok := "", "", false
		if val, set := f.LookupEnv(env); set {
			source, raw, ok = "environment variable "+env, val, true
		} else if key, flat := configKey(v, cmd, fl.Name); key != "" {
			source, raw, ok = fmt.Sprintf("config key %q in %s", key, path), configString(v.Get(key)), true
			if flat {
				flatKeys = append(flatKeys, fl.Name)
			}
		}
		if !ok {
			return
		}
		if err := setFlag(fl, raw); err != nil {
			errs = append(errs, fmt.Sprintf("%s: invalid value %q for --%s: %v", source, raw, fl.Name, err))
			return
		}
		if f.sources == nil {
			f.sources = map[string]string{}
		}
		f.sources[fl.Name] = source
	})
	if len(errs) > 0 {
		return &UsageError{Err: configError{errors.New(strings.Join(errs, "\n"))}}
	}

	g := f.Globals
	if _, err := report.ParseFormat(g.Output); err != nil {
		return &UsageError{Err: configError{fmt.Errorf("%s: %v", f.FlagRef("output"), err)}}
	}
	logger, err := newLogger(f.IO.ErrOut, g.LogLevel, g.LogFormat)
	if err != nil {
		return &UsageError{Err: configError{fmt.Errorf("%s: %v", f.FlagRef(err.flag), err.msg)}}
	}
	f.Logger = logger
	// A --procs child reads the same file as its parent, which has warned.
	if child := cmd.Flags().Lookup("child"); !g.Quiet && (child == nil || !child.Changed) {
		for _, name := range flatKeys {
			fmt.Fprintf(f.IO.ErrOut, "warning: config key %q in %s is flat: name it %q (flat keys are kept for the global flags; for a command's flag a flat key still works, for now)\n",
				name, path, scopedKey(cmd, name))
		}
	}
	return nil
}

// Config keys are scoped by command, because one flag name means different
// things in different commands (rate, out, timeout, target, assert): the
// key of `bench signal --rate` is bench.signal.rate, in YAML
//
//	bench:
//	  signal:
//	    rate: 500
//
// A flag an enclosing command declares for all its subcommands (inspect's
// --target) may also be set at that command's level: inspect.target. The
// global flags of the root command (output, quiet, log-level, ...) keep
// flat keys. A flat key for a command's flag, the only form before keys
// were scoped, still sets it, with a warning naming the scoped key.

// commandScope is the dotted key prefix of a command: "bench.signal".
func commandScope(c *cobra.Command) string {
	return strings.ReplaceAll(strings.TrimPrefix(c.CommandPath(), c.Root().Name()+" "), " ", ".")
}

// isGlobalFlag reports whether name is a flag of the root command, set by a
// flat key.
func isGlobalFlag(c *cobra.Command, name string) bool {
	return c.Root().PersistentFlags().Lookup(name) != nil
}

// scopedKeys lists the keys that set flag name of cmd, most specific first:
// the command's own, then each enclosing command's that declares the flag
// for its subcommands. A global flag has its flat key only.
func scopedKeys(cmd *cobra.Command, name string) []string {
	if isGlobalFlag(cmd, name) {
		return []string{name}
	}
	keys := []string{commandScope(cmd) + "." + name}
	for c := cmd.Parent(); c != nil && c.HasParent(); c = c.Parent() {
		if c.PersistentFlags().Lookup(name) != nil {
			keys = append(keys, commandScope(c)+"."+name)
		}
	}
	return keys
}

// scopedKey is the key to write for flag name of cmd.
func scopedKey(cmd *cobra.Command, name string) string { return scopedKeys(cmd, name)[0] }

// configKey returns the key of the file that sets flag name of cmd, or ""
// if none does; flat says it is a command flag's flat key, kept working
// from before keys were scoped.
func configKey(v *viper.Viper, cmd *cobra.Command, name string) (key string, flat bool) {
	for _, k := range scopedKeys(cmd, name) {
		if v.IsSet(k) {
			return k, false
		}
	}
	if !isGlobalFlag(cmd, name) && v.IsSet(name) {
		return name, true
	}
	return "", false
}

// checkConfigKeys refuses config keys that set no flag (a file may be
// shared by several commands, so a key of another command is fine): a typo
// such as max_conns, or probe.rate, would otherwise be ignored in silence.
func checkConfigKeys(root *cobra.Command, keys []string, path string) error {
	known := map[string]bool{}
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		add := func(fl *pflag.Flag) {
			known[fl.Name] = true // global, or a command flag's flat key
			if c.HasParent() {
				for _, k := range scopedKeys(c, fl.Name) {
					known[k] = true
				}
			}
		}
		c.LocalFlags().VisitAll(add)
		c.InheritedFlags().VisitAll(add)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	var bad []string
	for _, k := range keys {
		if !known[k] {
			msg := fmt.Sprintf("config key %q in %s is not a flag of any livectl command", k, path)
			if h := strings.ReplaceAll(k, "_", "-"); known[h] {
				msg += fmt.Sprintf(" (did you mean %q? keys are flag names, scoped by command)", h)
			}
			bad = append(bad, msg)
		}
	}
	sort.Strings(bad)
	if len(bad) > 0 {
		return errors.New(strings.Join(bad, "\n"))
	}
	return nil
}

// setFlag sets a flag from a string; slice flags take comma-separated lists
// and replace (not append to) the default.
func setFlag(fl *pflag.Flag, raw string) error {
	if sv, ok := fl.Value.(pflag.SliceValue); ok {
		return sv.Replace(splitList(raw))
	}
	return fl.Value.Set(raw)
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	parts := strings.Split(s, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts
}

// configString renders a YAML value the way it would be typed as a flag.
func configString(val any) string {
	switch x := val.(type) {
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = fmt.Sprint(e)
		}
		return strings.Join(parts, ",")
	case nil:
		return ""
	default:
		return fmt.Sprint(x)
	}
}

type loggerError struct{ flag, msg string }

func newLogger(w io.Writer, level, format string) (*slog.Logger, *loggerError) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, &loggerError{"log-level", fmt.Sprintf("invalid level %q: want debug, info, warn or error", level)}
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, &loggerError{"log-format", fmt.Sprintf("invalid format %q: want text or json", format)}
}
