package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/ipset"
	"github.com/ipsift/ipsift/load"
	"github.com/ipsift/ipsift/rules"
)

// frontEnd is the iptables-compatible front end: iptables,
// iptables-save and iptables-restore acting on the ruleset kept in the
// file named by $IPSIFT_RULES (an iptables-save -c file) instead of the
// kernel. A command that fails leaves the file as it was.
func frontEnd(tool string, args []string, stdout, stderr io.Writer) int {
	// Help needs no file: it is what one reads before setting one.
	for _, a := range args {
		if a == "-h" || a == "--help" {
			fmt.Fprintf(stdout, "Usage: IPSIFT_RULES=FILE ipsift %s ARGS...\n\nThe %s command line, acting on FILE (created when missing) instead of the kernel.\n", tool, tool)
			if tool == "ipset" {
				fmt.Fprintf(stdout, "\nThe sets are kept as an ipset save section before the rules.\n\nExample:\n  IPSIFT_RULES=fw.rules ipsift ipset create blocklist hash:net\n  IPSIFT_RULES=fw.rules ipsift ipset add blocklist 203.0.113.0/24\n  IPSIFT_RULES=fw.rules ipsift iptables -A INPUT -m set --match-set blocklist src -j DROP\n  IPSIFT_RULES=fw.rules ipsift ipset list\n")
				return exitOK
			}
			if strings.HasPrefix(tool, "ip6tables") {
				fmt.Fprintf(stdout, "\nExample:\n  IPSIFT_RULES=fw6.rules ipsift ip6tables -A INPUT -p ipv6-icmp -j ACCEPT\n  IPSIFT_RULES=fw6.rules ipsift ip6tables -L -n -v\n  IPSIFT_RULES=fw6.rules ipsift ip6tables-save | IPSIFT_RULES=copy6.rules ipsift ip6tables-restore\n")
				return exitOK
			}
			fmt.Fprintf(stdout, "\nExample:\n  IPSIFT_RULES=fw.rules ipsift iptables -t nat -A POSTROUTING -o eth0 -j MASQUERADE\n  IPSIFT_RULES=fw.rules ipsift iptables -L -n -v\n  IPSIFT_RULES=fw.rules ipsift iptables-save | IPSIFT_RULES=copy.rules ipsift iptables-restore\n")
			return exitOK
		}
	}
	path := os.Getenv("IPSIFT_RULES")
	if path == "" {
		example := "iptables -A INPUT -p tcp --dport 22 -j ACCEPT"
		switch {
		case tool == "ipset":
			example = "ipset create blocklist hash:net"
		case strings.HasPrefix(tool, "ip6tables"):
			example = "ip6tables -A INPUT -p tcp --dport 22 -j ACCEPT"
		}
		fmt.Fprintf(stderr, "%s (ipsift): set IPSIFT_RULES to the file that holds the ruleset, e.g.\n  IPSIFT_RULES=fw.rules ipsift %s\n", tool, example)
		return exitUsage
	}
	rs, sets, code := readRulesFile(tool, path, stderr)
	if code != exitOK {
		return code
	}
	if tool == "ipset" {
		return feIpset(rs, sets, path, args, stdout, stderr)
	}
	switch tool {
	case "iptables-save", "ip6tables-save":
		return feSave(rs, args, stdout, stderr)
	case "iptables-restore", "ip6tables-restore":
		return feRestore(rs, sets, path, args, stderr)
	}
	cmd, err := rules.ParseCommand(rules.Words(args), rules.ParseOptions{Family: rs.Family})
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\nTry `%s -h' or '%s --help' for more information.\n", tool, err, tool, tool)
		return exitUsage
	}
	switch cmd.Kind {
	case rules.CmdList:
		if cmd.RuleNum != 0 {
			fmt.Fprintln(stderr, "iptables: -L with a rule number is not supported by ipsift")
			return exitUsage
		}
		if err := rs.List(stdout, rules.ListOptions{Table: cmd.Table, Chain: cmd.Chain, Verbose: cmd.Verbose, Numeric: cmd.Numeric, Exact: cmd.Exact, LineNumbers: cmd.LineNumbers}); err != nil {
			fmt.Fprintf(stderr, "iptables: %v\n", err)
			return exitProblems
		}
		return exitOK
	case rules.CmdListRules:
		if err := rs.ListRules(stdout, cmd.Table, cmd.Chain, cmd.Verbose); err != nil {
			fmt.Fprintf(stderr, "iptables: %v\n", err)
			return exitProblems
		}
		return exitOK
	}
	if err := rs.Apply(cmd); err != nil {
		fmt.Fprintf(stderr, "iptables: %v\n", err)
		return exitProblems
	}
	// the kernel refuses a rule naming a set that does not exist
	if d := load.CheckSets(rs, sets); d.HasErrors() {
		printDiags(stderr, d, false)
		return exitProblems
	}
	if cmd.Kind == rules.CmdCheck {
		return exitOK
	}
	return writeRules(rs, sets, path, stderr)
}

// readRulesFile reads the front ends' file: its sets and its rules.
// The ip6tables tools work on the file's IPv6 rules: the file holds one
// family, written by the tool of that family.
func readRulesFile(tool, path string, stderr io.Writer) (*rules.Ruleset, *ipset.Registry, int) {
	fam := ext.IPv4
	if strings.HasPrefix(tool, "ip6tables") {
		fam = ext.IPv6
	}
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		rs := rules.New()
		rs.Family = fam
		return rs, ipset.NewRegistry(), exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", tool, err)
		return nil, nil, exitUsage
	}
	res := load.Bytes(path, data, load.Options{Counters: true, Family: fam})
	if res.Diags.HasErrors() {
		printDiags(stderr, res.Diags, false)
		return nil, nil, exitProblems
	}
	rs, _ := res.Pick(fam == ext.IPv6)
	return rs, res.Sets, exitOK
}

// writeRules writes the front ends' file: the sets as ipset save prints
// them, then the rules as iptables-save -c prints them. It replaces the
// file atomically (a temporary file renamed over it); the new file keeps
// the old one's mode and, where the user may set them, its owner and
// group; a file created anew gets the mode a shell's "> FILE" would give
// it (0666 less the umask). A symbolic link is followed, so the file it
// names is replaced.
func writeRules(rs *rules.Ruleset, sets *ipset.Registry, path string, stderr io.Writer) int {
	var b bytes.Buffer
	_ = sets.Save(&b, "", setsClock)
	rs.Save(&b, rules.SaveOptions{Counters: true})
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".ipsift-*")
	if err == nil {
		err = keepModeAndOwner(tmp, path)
	}
	if err == nil {
		_, err = tmp.Write(b.Bytes())
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(tmp.Name(), path)
		}
		if err != nil {
			os.Remove(tmp.Name())
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "ipsift: cannot write %s: %v\n", path, err)
		return exitUsage
	}
	return exitOK
}

func feSave(rs *rules.Ruleset, args []string, stdout, stderr io.Writer) int {
	o := rules.SaveOptions{}
	for i := 0; i < len(args); i++ {
		switch a := args[i]; a {
		case "-c", "--counters":
			o.Counters = true
		case "-t", "--table":
			if i+1 >= len(args) {
				fmt.Fprintln(stderr, "iptables-save: -t needs a table")
				return exitUsage
			}
			i++
			o.Table = args[i]
			if rules.BuiltinChains(o.Table) == nil {
				fmt.Fprintf(stderr, "iptables-save: Table `%s' does not exist\n", o.Table)
				return exitProblems
			}
		default:
			fmt.Fprintf(stderr, "iptables-save: unknown argument %q\n", a)
			return exitUsage
		}
	}
	rs.Save(stdout, o)
	return exitOK
}

func feRestore(rs *rules.Ruleset, sets *ipset.Registry, path string, args []string, stderr io.Writer) int {
	o := rules.RestoreOptions{File: "stdin"}
	test := false
	var in io.Reader = os.Stdin
	for _, a := range args {
		switch a {
		case "-n", "--noflush":
			o.NoFlush = true
		case "-c", "--counters":
			o.Counters = true
		case "-t", "--test":
			test = true
		default:
			if len(a) > 0 && a[0] != '-' {
				f, err := os.Open(a)
				if err != nil {
					fmt.Fprintf(stderr, "iptables-restore: %v\n", err)
					return exitUsage
				}
				defer f.Close()
				in, o.File = f, a
				continue
			}
			fmt.Fprintf(stderr, "iptables-restore: unknown argument %q\n", a)
			return exitUsage
		}
	}
	diags, err := rs.Restore(in, o)
	if err != nil {
		printDiags(stderr, diags, false)
		if len(diags) == 0 {
			fmt.Fprintf(stderr, "iptables-restore: %v\n", err)
		}
		return exitProblems
	}
	if test {
		return exitOK
	}
	return writeRules(rs, sets, path, stderr)
}

// keepModeAndOwner gives tmp the mode, owner and group of the file at
// path (or a new file's mode when there is none). An owner or group the
// user may not give away is left as it is: that is not an error.
func keepModeAndOwner(tmp *os.File, path string) error {
	fi, err := os.Stat(path)
	if os.IsNotExist(err) {
		return tmp.Chmod(0o666 &^ currentUmask())
	}
	if err != nil {
		return err
	}
	if err := tmp.Chmod(fi.Mode() & (os.ModePerm | os.ModeSetuid | os.ModeSetgid | os.ModeSticky)); err != nil {
		return err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		if tmp.Chown(int(st.Uid), int(st.Gid)) != nil {
			tmp.Chown(-1, int(st.Gid)) // a group of one's own, at least
		}
	}
	return nil
}

// currentUmask reads the process's umask (setting it back at once).
func currentUmask() os.FileMode {
	m := syscall.Umask(0)
	syscall.Umask(m)
	return os.FileMode(m)
}
