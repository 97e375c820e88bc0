package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// Commands that only group others (livectl itself, bench, inspect) and the
// help command treat a command name they do not know as a usage error:
// exit 2, the message on stderr with cobra's closest matches, nothing on
// stdout, so a typo in a script fails loudly instead of printing help and
// passing. Run without a subcommand, such a group prints its help on
// stderr and exits 2 as well, as `go` with no command does: nothing was
// done. Asked for it (--help, help CMD), help goes to stdout with exit 0.

// requireSubcommands applies that rule to every group under root.
func requireSubcommands(root *cobra.Command) {
	var walk func(*cobra.Command)
	walk = func(cmd *cobra.Command) {
		if cmd.HasSubCommands() && !cmd.Runnable() {
			cmd.Args = knownSubcommand
			cmd.RunE = missingSubcommand
		}
		for _, sub := range cmd.Commands() {
			walk(sub)
		}
	}
	walk(root)
	// A group is runnable now only to fail; its usage must not offer
	// "livectl bench [flags]" as if that did something.
	if t := root.UsageTemplate(); strings.HasPrefix(t, cobraUsageLines) {
		root.SetUsageTemplate(groupUsageLines + strings.TrimPrefix(t, cobraUsageLines))
	}
}

// The first lines of cobra's usage template, and ours: a command with
// subcommands shows only "CMD [command]".
const (
	cobraUsageLines = "Usage:{{if .Runnable}}\n  {{.UseLine}}{{end}}{{if .HasAvailableSubCommands}}\n  {{.CommandPath}} [command]{{end}}"
	groupUsageLines = "Usage:{{if .HasAvailableSubCommands}}\n  {{.CommandPath}} [command]{{else if .Runnable}}\n  {{.UseLine}}{{end}}"
)

// knownSubcommand rejects a positional argument of a group: cobra only
// gets here when the first one named none of its commands.
func knownSubcommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	return unknownCommandError(cmd, args[0])
}

// unknownCommand is the usage error for a command name cmd does not have;
// the "Run … --help" hint then names cmd, also when `help` found it.
type unknownCommand struct {
	cmd *cobra.Command
	msg string
}

func (e *unknownCommand) Error() string { return e.msg }

func unknownCommandError(cmd *cobra.Command, name string) error {
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2
	}
	msg := fmt.Sprintf("unknown command %q for %q", name, cmd.CommandPath())
	if s := cmd.SuggestionsFor(name); len(s) > 0 {
		msg += "\n\nDid you mean this?\n\t" + strings.Join(s, "\n\t") + "\n"
	} else if names := subcommandNames(cmd); len(names) > 0 {
		msg += "; its commands are " + strings.Join(names, ", ")
	}
	return &UsageError{Err: &unknownCommand{cmd: cmd, msg: msg}}
}

// missingSubcommand prints the group's help on stderr and fails with exit 2.
func missingSubcommand(cmd *cobra.Command, _ []string) error {
	out := cmd.OutOrStdout()
	cmd.SetOut(cmd.ErrOrStderr())
	err := cmd.Help()
	cmd.SetOut(out)
	if err != nil {
		return err
	}
	return &UsageError{Err: helpShown{fmt.Errorf("%s needs a command: %s", cmd.CommandPath(), strings.Join(subcommandNames(cmd), ", "))}}
}

func subcommandNames(cmd *cobra.Command) []string {
	var names []string
	for _, sub := range cmd.Commands() {
		if sub.IsAvailableCommand() {
			names = append(names, sub.Name())
		}
	}
	return names
}

// helpShown marks a usage error printed after the command's help, where
// "Run '… --help'" would only repeat it.
type helpShown struct{ error }

func (e helpShown) Unwrap() error { return e.error }

// newHelpCmd replaces cobra's help command, which prints "Unknown help
// topic" on stdout and exits 0 for a name it does not know.
func newHelpCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "help [command]",
		Short: "Help about any command",
		Long:  "Help shows the help of any command: livectl help inspect goroutines.",
		ValidArgsFunction: func(c *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			cmd, _, err := c.Root().Find(args)
			if err != nil || cmd == nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var out []string
			for _, sub := range cmd.Commands() {
				if sub.IsAvailableCommand() && strings.HasPrefix(sub.Name(), toComplete) {
					out = append(out, sub.Name()+"\t"+sub.Short)
				}
			}
			return out, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(c *cobra.Command, args []string) error {
			cmd, rest, err := c.Root().Find(args)
			if err != nil {
				return &UsageError{Err: err}
			}
			if len(rest) > 0 {
				return unknownCommandError(cmd, rest[0])
			}
			cmd.InitDefaultHelpFlag()
			return cmd.Help()
		},
	}
}
