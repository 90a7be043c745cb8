package main

import (
	"fmt"
	"io"
	"os"

	"github.com/ipsift/ipsift/load"
	"github.com/ipsift/ipsift/rules"
)

// loadResult loads FILE (rules and sets) with load options (trace
// --legacy) or says why not.
func loadResult(path string, o load.Options, stderr io.Writer) (*load.Result, int) {
	res, err := loadPath(path, o)
	if err != nil {
		fmt.Fprintf(stderr, "ipsift: %v\n", err)
		return nil, exitUsage
	}
	if res.Diags.HasErrors() {
		printDiags(stderr, res.Diags, false)
		fmt.Fprintf(stderr, "ipsift: %s has errors (ipsift check %s shows them all)\n", path, path)
		return nil, exitProblems
	}
	return res, exitOK
}

// loadFamily loads FILE, or a pair of files (one IPv4, one IPv6), for
// save, rules and list, and picks the family to show: IPv6 with -6 or
// when the input holds only IPv6 rules, else IPv4. When the input holds
// both it says on stderr which one it shows.
func loadFamily(cmd string, paths []string, six bool, stderr io.Writer) (*rules.Ruleset, int) {
	var merged *load.Result
	for _, p := range paths {
		res, code := loadResult(p, load.Options{Counters: true}, stderr)
		if res == nil {
			return nil, code
		}
		if merged == nil {
			merged = res
			continue
		}
		if len(res.Rules.Tables) > 0 {
			if len(merged.Rules.Tables) > 0 {
				fmt.Fprintf(stderr, "ipsift %s: %s and %s both hold IPv4 rules: give one IPv4 and one IPv6 file\n", cmd, paths[0], p)
				return nil, exitUsage
			}
			merged.Rules = res.Rules
		}
		if res.Rules6 != nil {
			if merged.Rules6 != nil {
				fmt.Fprintf(stderr, "ipsift %s: %s and %s both hold IPv6 rules: give one IPv4 and one IPv6 file\n", cmd, paths[0], p)
				return nil, exitUsage
			}
			merged.Rules6 = res.Rules6
		}
	}
	rs, both := merged.Pick(six)
	if both {
		if six {
			fmt.Fprintf(stderr, "ipsift %s: the input holds IPv4 and IPv6 rules; showing IPv6\n", cmd)
		} else {
			fmt.Fprintf(stderr, "ipsift %s: the input holds IPv4 and IPv6 rules; showing IPv4 (-6 shows IPv6)\n", cmd)
		}
	}
	return rs, exitOK
}

func loadPath(path string, o load.Options) (*load.Result, error) {
	if path == "-" {
		data, err := io.ReadAll(os.Stdin)
		if err != nil {
			return nil, err
		}
		return load.Bytes("stdin", data, o), nil
	}
	return load.File(path, o)
}

func printDiags(w io.Writer, ds rules.Diags, color bool) {
	for i, d := range ds {
		sev := d.Severity.String()
		if color {
			code := map[rules.Severity]string{rules.SevError: "31", rules.SevWarning: "33", rules.SevNote: "36"}[d.Severity]
			sev = "\x1b[1;" + code + "m" + sev + "\x1b[0m"
		}
		fmt.Fprintf(w, "%s: %s: %s\n", d.Pos, sev, d.Msg)
		// The corrected line goes after the last problem of its line.
		last := i+1 == len(ds) || ds[i+1].Pos.Line != d.Pos.Line || ds[i+1].Pos.File != d.Pos.File
		if last {
			for _, x := range ds[:i+1] {
				if x.FixLine != "" && x.Pos.Line == d.Pos.Line && x.Pos.File == d.Pos.File {
					fmt.Fprintf(w, "    write instead: %s\n", x.FixLine)
					break
				}
			}
		}
	}
}

func init() {
	fsSave := newFlags("save")
	saveCounters := fsSave.Bool("c", false, "print counters as [packets:bytes] (iptables-save -c)")
	saveTable := fsSave.String("t", "", "print only this table")
	saveSets := fsSave.Bool("sets", false, "print the sets FILE creates, as ipset save prints them, instead of the rules")
	saveSix := fsSave.Bool("6", false, "print the IPv6 rules (ip6tables-save) of a FILE or pair that holds both")
	register(&command{
		name: "save", args: "FILE [FILE6] [-c] [-t TABLE] [-6] [--sets]",
		summary: "Print FILE in canonical iptables-save form: what the kernel's iptables-save prints after loading it.",
		example: "  ipsift save gateway.rules\n  ipsift save firewall.sh -t nat\n  ipsift save --sets firewall.sh",
		run: func(args []string, stdout, stderr io.Writer) int {
			pos, err := parseInterspersed(fsSave, args)
			if err != nil || len(pos) < 1 || len(pos) > 2 {
				return usageError(stderr, "save", orErr(err, "give one FILE, or an IPv4 and an IPv6 FILE"))
			}
			if *saveSets {
				res, code := loadResult(pos[0], load.Options{Counters: true}, stderr)
				if res == nil {
					return code
				}
				_ = res.Sets.Save(stdout, "", setsClock)
				return exitOK
			}
			rs, code := loadFamily("save", pos, *saveSix, stderr)
			if rs == nil {
				return code
			}
			if *saveTable != "" && rules.BuiltinChains(*saveTable) == nil {
				return usageError(stderr, "save", fmt.Errorf("no table %q", *saveTable))
			}
			if err := rs.Save(stdout, rules.SaveOptions{Counters: *saveCounters, Table: *saveTable}); err != nil {
				fmt.Fprintln(stderr, err)
				return exitUsage
			}
			return exitOK
		},
	})

	fsRules := newFlags("rules")
	rulesTable := fsRules.String("t", "filter", "table")
	rulesVerbose := fsRules.Bool("v", false, "with counters (-c PACKETS BYTES)")
	rulesSix := fsRules.Bool("6", false, "the IPv6 rules (ip6tables -S) of a FILE that holds both")
	register(&command{
		name: "rules", args: "FILE [-t TABLE] [-v] [-6] [CHAIN]",
		summary: "Print a table's rules as iptables -S does.",
		example: "  ipsift rules gateway.rules -t nat\n  ipsift rules gateway.rules LOGDROP",
		run: func(args []string, stdout, stderr io.Writer) int {
			pos, err := parseInterspersed(fsRules, args)
			if err != nil || len(pos) < 1 || len(pos) > 2 {
				return usageError(stderr, "rules", orErr(err, "give FILE and at most one CHAIN"))
			}
			rs, code := loadFamily("rules", pos[:1], *rulesSix, stderr)
			if rs == nil {
				return code
			}
			chain := ""
			if len(pos) == 2 {
				chain = pos[1]
			}
			if err := rs.ListRules(stdout, *rulesTable, chain, *rulesVerbose); err != nil {
				fmt.Fprintf(stderr, "ipsift rules: %v\n", err)
				return exitProblems
			}
			return exitOK
		},
	})

	fsList := newFlags("list")
	lo := rules.ListOptions{}
	fsList.StringVar(&lo.Table, "t", "filter", "table")
	fsList.BoolVar(&lo.Verbose, "v", false, "verbose: counters and interfaces")
	fsList.BoolVar(&lo.Numeric, "n", false, "numeric output (ipsift never resolves names anyway)")
	fsList.BoolVar(&lo.Exact, "x", false, "exact counters, without K/M/G")
	fsList.BoolVar(&lo.LineNumbers, "line-numbers", false, "number the rules")
	listSix := fsList.Bool("6", false, "the IPv6 rules (ip6tables -L) of a FILE that holds both")
	register(&command{
		name: "list", args: "FILE [-t TABLE] [-v] [-n] [-x] [--line-numbers] [-6] [CHAIN]",
		summary: "Print a table as iptables -L does, column for column.\nipsift never resolves names: without -n addresses still print as numbers (0.0.0.0/0 as \"anywhere\"), a documented difference from iptables -L.",
		example: "  ipsift list gateway.rules -v -n --line-numbers\n  ipsift list gateway.rules -t nat PREROUTING",
		run: func(args []string, stdout, stderr io.Writer) int {
			pos, err := parseInterspersed(fsList, args)
			if err != nil || len(pos) < 1 || len(pos) > 2 {
				return usageError(stderr, "list", orErr(err, "give FILE and at most one CHAIN"))
			}
			rs, code := loadFamily("list", pos[:1], *listSix, stderr)
			if rs == nil {
				return code
			}
			o := lo
			if len(pos) == 2 {
				o.Chain = pos[1]
			}
			if !o.Numeric {
				fmt.Fprintln(stderr, "ipsift list: addresses shown as numbers: ipsift never resolves names (as if -n, except 0.0.0.0/0 as \"anywhere\")")
			}
			if err := rs.List(stdout, o); err != nil {
				fmt.Fprintf(stderr, "ipsift list: %v\n", err)
				return exitProblems
			}
			return exitOK
		},
	})
}

func orErr(err error, msg string) error {
	if err != nil {
		return err
	}
	return fmt.Errorf("%s", msg)
}
