package main

import (
	"fmt"
	"io"
	"os"

	"github.com/ipsift/ipsift/load"
	"github.com/ipsift/ipsift/rules"
)

// loadRules loads FILE for the printing and tracing commands: any error
// in the input is printed with its position and the command stops, so
// nothing is shown for a ruleset the kernel would refuse.
func loadRules(path string, stderr io.Writer) (*rules.Ruleset, int) {
	res, code := loadResult(path, load.Options{Counters: true}, stderr)
	if res == nil {
		return nil, code
	}
	return res.Rules, exitOK
}

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
	register(&command{
		name: "save", args: "FILE [-c] [-t TABLE] [--sets]",
		summary: "Print FILE in canonical iptables-save form: what the kernel's iptables-save prints after loading it.",
		example: "  ipsift save gateway.rules\n  ipsift save firewall.sh -t nat\n  ipsift save --sets firewall.sh",
		run: func(args []string, stdout, stderr io.Writer) int {
			pos, err := parseInterspersed(fsSave, args)
			if err != nil || len(pos) != 1 {
				return usageError(stderr, "save", orErr(err, "give one FILE"))
			}
			if *saveSets {
				res, code := loadResult(pos[0], load.Options{Counters: true}, stderr)
				if res == nil {
					return code
				}
				_ = res.Sets.Save(stdout, "", setsClock)
				return exitOK
			}
			rs, code := loadRules(pos[0], stderr)
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
	register(&command{
		name: "rules", args: "FILE [-t TABLE] [-v] [CHAIN]",
		summary: "Print a table's rules as iptables -S does.",
		example: "  ipsift rules gateway.rules -t nat\n  ipsift rules gateway.rules LOGDROP",
		run: func(args []string, stdout, stderr io.Writer) int {
			pos, err := parseInterspersed(fsRules, args)
			if err != nil || len(pos) < 1 || len(pos) > 2 {
				return usageError(stderr, "rules", orErr(err, "give FILE and at most one CHAIN"))
			}
			rs, code := loadRules(pos[0], stderr)
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
	register(&command{
		name: "list", args: "FILE [-t TABLE] [-v] [-n] [-x] [--line-numbers] [CHAIN]",
		summary: "Print a table as iptables -L does, column for column.\nipsift never resolves names: without -n addresses still print as numbers (0.0.0.0/0 as \"anywhere\"), a documented difference from iptables -L.",
		example: "  ipsift list gateway.rules -v -n --line-numbers\n  ipsift list gateway.rules -t nat PREROUTING",
		run: func(args []string, stdout, stderr io.Writer) int {
			pos, err := parseInterspersed(fsList, args)
			if err != nil || len(pos) < 1 || len(pos) > 2 {
				return usageError(stderr, "list", orErr(err, "give FILE and at most one CHAIN"))
			}
			rs, code := loadRules(pos[0], stderr)
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
