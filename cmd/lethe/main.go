// Command lethe is Lethe's single binary: it runs a storage node or a test network on this
// machine, and inserts and fetches content through a running node's client protocol
// (docs/spec.md §19.7). `lethe help` lists the commands and the exit codes.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// Exit codes (spec §19.7), printed by `lethe help`.
const (
	exitOK          = 0   // done
	exitFailed      = 1   // the network could not do it: not found, insert failed, …
	exitUsage       = 2   // the command line is wrong: unknown flag, malformed URI or key
	exitNoNode      = 3   // no node answers (start one with `lethe node` or `lethe testnet`)
	exitFile        = 4   // a local file: input missing or unreadable, output exists or unwritable
	exitInterrupted = 130 // stopped by Ctrl-C or SIGTERM
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// env carries what a command runs with: its streams and the process environment, so that
// tests can run commands side by side.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

// command is one subcommand.
type command struct {
	name, args, summary string
	run                 func(ctx context.Context, e *env, args []string) error
}

var commands = map[string]*command{}

func register(c *command) { commands[c.name] = c }

// run is the whole program: it runs the subcommand args name and returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runEnv(ctx, args, &env{stdin: stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv})
}

func runEnv(ctx context.Context, args []string, e *env) int {
	if len(args) == 0 {
		printHelp(e.stderr)
		return exitUsage
	}
	name := args[0]
	if name == "-h" || name == "--help" || name == "-help" {
		name = "help"
	}
	c, ok := commands[name]
	if !ok {
		fmt.Fprintf(e.stderr, "lethe: error: unknown command %q\n", name)
		fmt.Fprintf(e.stderr, "lethe: hint: `lethe help` lists the commands\n")
		return exitUsage
	}
	err := c.run(ctx, e, args[1:])
	return report(ctx, e.stderr, err)
}

// cliError is a failure with its exit code and an optional hint.
type cliError struct {
	code int
	err  error
	hint string
}

func (e *cliError) Error() string { return e.err.Error() }
func (e *cliError) Unwrap() error { return e.err }

func fail(code int, hint string, format string, args ...any) error {
	return &cliError{code: code, err: fmt.Errorf(format, args...), hint: hint}
}

// errHelp: the user asked for a command's help, which has been printed.
var errHelp = errors.New("help shown")

// report prints err as `lethe: error: …` (and `lethe: hint: …`) and returns the exit code.
func report(ctx context.Context, stderr io.Writer, err error) int {
	if err == nil || errors.Is(err, errHelp) {
		return exitOK
	}
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	var ce *cliError
	if ctx.Err() != nil && (errors.Is(err, context.Canceled) || !errors.As(err, &ce) || ce.code != exitUsage) {
		fmt.Fprintln(stderr, "lethe: interrupted")
		return exitInterrupted
	}
	fmt.Fprintf(stderr, "lethe: error: %v\n", err)
	if errors.As(err, &ce) {
		if ce.hint != "" {
			fmt.Fprintf(stderr, "lethe: hint: %s\n", ce.hint)
		}
		return ce.code
	}
	return exitFailed
}

// newFlags makes a command's flag set: errors and -h go to stderr with the command's usage.
func newFlags(e *env, c *command) *flag.FlagSet {
	fs := flag.NewFlagSet("lethe "+c.name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "usage: lethe %s %s\n\n%s\n", c.name, c.args, c.summary)
		var any bool
		fs.VisitAll(func(*flag.Flag) { any = true })
		if any {
			fmt.Fprintln(e.stderr, "\nflags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

// parseFlags parses args, letting flags come after positional arguments too
// (`lethe fetch URI -o out`), and turns flag errors into usage errors.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, errHelp
			}
			hint := "`lethe " + strings.TrimPrefix(fs.Name(), "lethe ") + " -h` shows its flags"
			if len(positional) > 0 {
				// IDs and keys are base64 and may start with "-": after "--" they are read
				// as arguments, not flags.
				hint += "; an argument that starts with - goes after --, as in `-- -C1GjV`"
			}
			return nil, &cliError{code: exitUsage, err: err, hint: hint}
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		if args[0] == "--" {
			return append(positional, args[1:]...), nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

// usageError is a wrong number or kind of arguments.
func usageError(name, format string, args ...any) error {
	return fail(exitUsage, "`lethe "+name+" -h` shows how to use it", format, args...)
}

func printHelp(w io.Writer) {
	fmt.Fprint(w, `lethe: an anonymous, encrypted, peer-to-peer content store

usage: lethe <command> [flags] [arguments]

commands:
`)
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		c := commands[n]
		fmt.Fprintf(w, "  %-8s %s\n", c.name, firstLine(c.summary))
	}
	fmt.Fprintf(w, `
To try Lethe on this machine:
  lethe testnet                 start a 12-node network on loopback (Ctrl-C stops it)
  lethe insert photo.jpg        in another terminal: prints the file's CHK@… key
  lethe fetch CHK@… -o copy.jpg fetch it back, verified

Every command takes -h. Client commands reach the node's client protocol (FCP) at
--fcp ADDR, or $LETHE_FCP, or %s. Node commands use the data directory --dir,
or $LETHE_DIR, or %s.

exit codes:
  0    done
  1    the network could not do it (data not found, insert failed, …)
  2    the command line is wrong (unknown flag, malformed URI or key)
  3    no node answers: start one with "lethe node" or "lethe testnet"
  4    a local file: input missing or unreadable, output exists (see --force) or unwritable
  130  interrupted (Ctrl-C)
`, defaultFCP, "~/.local/share/lethe")
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func init() {
	register(&command{
		name:    "help",
		args:    "[command]",
		summary: "Show the commands, or one command's flags.",
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) == 1 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
				fmt.Fprintln(e.stderr, "usage: lethe help [command]\n\nShow the commands, or one command's flags.")
				return nil
			}
			if len(args) == 1 {
				if c, ok := commands[args[0]]; ok {
					return c.run(ctx, e, []string{"-h"})
				}
				return usageError("help", "unknown command %q", args[0])
			}
			printHelp(e.stdout)
			return nil
		},
	})
}

// defaultDir is the node's data directory when --dir is not given.
func defaultDir(e *env) string {
	if d := e.getenv("LETHE_DIR"); d != "" {
		return d
	}
	if d := e.getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "lethe")
	}
	if home := e.getenv("HOME"); home != "" {
		return filepath.Join(home, ".local", "share", "lethe")
	}
	return "lethe-data"
}
