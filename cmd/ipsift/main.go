// Command ipsift runs iptables rulesets where you can see them: it
// checks, prints, traces and simulates them exactly as the Linux kernel
// would, without touching the kernel.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Exit codes, the same for every command.
const (
	exitOK       = 0 // done, nothing found
	exitProblems = 1 // the input has problems (check), or the command failed on it
	exitUsage    = 2 // bad usage, unreadable file
)

type command struct {
	name    string
	args    string
	summary string
	example string
	run     func(args []string, stdout, stderr io.Writer) int
}

var commands []*command

func register(c *command) { commands = append(commands, c) }

func main() {
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}

func run(argv []string, stdout, stderr io.Writer) int {
	// Called as iptables, iptables-save or iptables-restore (a symlink):
	// the front end on $IPSIFT_RULES.
	switch filepath.Base(argv[0]) {
	case "iptables-translate", "ip6tables-translate":
		return translateCommand(filepath.Base(argv[0]), argv[1:], stdout, stderr)
	case "iptables-restore-translate", "ip6tables-restore-translate":
		return restoreTranslateCommand(filepath.Base(argv[0]), argv[1:], stdout, stderr)
	case "iptables", "iptables-save", "iptables-restore", "ipset", "ip6tables", "ip6tables-save", "ip6tables-restore":
		return frontEnd(filepath.Base(argv[0]), argv[1:], stdout, stderr)
	}
	if len(argv) < 2 {
		usage(stderr)
		return exitUsage
	}
	name := argv[1]
	switch name {
	case "-h", "--help", "help":
		if len(argv) > 2 {
			if c := find(argv[2]); c != nil {
				commandHelp(stdout, c)
				return exitOK
			}
		}
		usage(stdout)
		return exitOK
	case "iptables", "iptables-save", "iptables-restore", "ipset", "ip6tables", "ip6tables-save", "ip6tables-restore":
		return frontEnd(name, argv[2:], stdout, stderr)
	case "iptables-translate", "ip6tables-translate":
		return translateCommand(name, argv[2:], stdout, stderr)
	case "iptables-restore-translate", "ip6tables-restore-translate":
		return restoreTranslateCommand(name, argv[2:], stdout, stderr)
	}
	c := find(name)
	if c == nil {
		fmt.Fprintf(stderr, "ipsift: unknown command %q\n\n", name)
		usage(stderr)
		return exitUsage
	}
	for _, a := range argv[2:] {
		if a == "-h" || a == "--help" {
			commandHelp(stdout, c)
			return exitOK
		}
	}
	return c.run(argv[2:], stdout, stderr)
}

func find(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "ipsift: the Linux iptables firewall, reimplemented: check, print and trace rulesets without a kernel.")
	fmt.Fprintln(w, "\nUsage: ipsift COMMAND [ARGS]   (ipsift COMMAND --help for details)\n\nCommands:")
	sorted := append([]*command(nil), commands...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].name < sorted[j].name })
	// Each command's synopsis on a line of its own and its summary
	// indented below it: the synopses run to 200 characters and the
	// summaries to several lines, which no column layout keeps readable.
	entry := func(synopsis, summary string) {
		fmt.Fprintf(w, "  %s\n      %s\n", strings.TrimSpace(synopsis), strings.ReplaceAll(summary, "\n", "\n      "))
	}
	for _, c := range sorted {
		entry(c.name+" "+c.args, c.summary)
	}
	entry("iptables ARGS...", "The iptables command line, editing the file in $IPSIFT_RULES instead of the kernel")
	entry("iptables-save|-restore", "Its save and restore companions, on the same file")
	entry("ip6tables[-save|-restore]", "The same for IPv6 rules (a file of its own)")
	entry("iptables-translate ARGS...", "Print what iptables-translate 1.8.11 prints (also ip6tables-, [ip6]tables-restore-translate)")
	entry("ipset ARGS...", "The ipset command line, editing the sets in the file in $IPSIFT_RULES")
	fmt.Fprintln(w, "\nFILE is an iptables-restore file or a shell script of iptables commands (read, never run).")
	fmt.Fprintln(w, "Exit codes: 0 success, 1 problems found in the input, 2 usage or I/O error; for test, diff and")
	fmt.Fprintln(w, "replay OLD NEW: 0 all pass or equal, 1 a case fails or they differ, 2 usage or no answer.")
	fmt.Fprintln(w, "\nExample:")
	fmt.Fprintln(w, "  ipsift check firewall.sh")
	fmt.Fprintln(w, "  ipsift trace gateway.rules 'eth0 tcp 203.0.113.7:40000 > 198.51.100.1:22 S'")
	fmt.Fprintln(w, "  ipsift diff gateway.rules gateway-new.rules")
	fmt.Fprintln(w, "  iptables-save > fw.rules && ipsift translate fw.rules > fw.nft")
}

func commandHelp(w io.Writer, c *command) {
	fmt.Fprintf(w, "Usage: ipsift %s\n\n%s\n", strings.TrimSpace(c.name+" "+c.args), c.summary)
	if c.example != "" {
		fmt.Fprintf(w, "\nExample:\n%s\n", c.example)
	}
	if fs := flagSets[c.name]; fs != nil {
		fmt.Fprintln(w, "\nOptions:")
		fs.SetOutput(w)
		fs.PrintDefaults()
	}
}

var flagSets = map[string]*flag.FlagSet{}

// newFlags returns a FlagSet for a command, registered for its help.
func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	flagSets[name] = fs
	return fs
}

// parseInterspersed parses flags that may come before, between or after
// positional arguments, as GNU tools allow; "--" ends the flags.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	// Flag sets live as long as the process; start every run from the
	// defaults (tests run several commands in one process).
	fs.VisitAll(func(f *flag.Flag) { f.Value.Set(f.DefValue) })
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if len(args) > 0 && len(rest) < len(args) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// usageError prints a usage problem and returns exitUsage.
func usageError(stderr io.Writer, c string, err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	fmt.Fprintf(stderr, "ipsift %s: %v\n(ipsift %s --help for usage)\n", c, err, c)
	return exitUsage
}

// isTerminal reports whether w is a terminal, for colour.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0 && os.Getenv("NO_COLOR") == "" && os.Getenv("TERM") != "dumb"
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, word)
	}
	return fmt.Sprintf("%d %ss", n, strings.TrimSuffix(word, "s"))
}
