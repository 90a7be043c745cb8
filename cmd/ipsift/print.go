package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/load"
	"github.com/ipsift/ipsift/rules"
)

// loadResult loads FILE (rules and sets) or says why not.
func loadResult(path string, lf *loadFlags, stderr io.Writer) (*load.Result, int) {
	return loadResultFor(path, lf, false, stderr)
}

// loadResultFor is loadResult for a command that shows one family (see
// loadPathFor).
func loadResultFor(path string, lf *loadFlags, six bool, stderr io.Writer) (*load.Result, int) {
	res, err := loadPathFor(path, lf, six)
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
func loadFamily(cmd string, paths []string, six bool, lf *loadFlags, stderr io.Writer) (*rules.Ruleset, int) {
	var merged *load.Result
	for _, p := range paths {
		res, code := loadResultFor(p, lf, six && len(paths) == 1, stderr)
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

// loadPathFor is loadPath for a command that shows one family: with six
// (-6), a restore file that neither iptables-restore nor
// ip6tables-restore reads whole is read as ip6tables-restore reads it,
// so that its errors (and what loads before them) are those of the
// family asked about; the automatic choice takes iptables-restore's.
func loadPathFor(path string, lf *loadFlags, six bool) (*load.Result, error) {
	res, err := loadPath(path, lf)
	if err != nil || !six || lf.family != 0 || res.Script || res.Rules6 != nil || !res.Diags.HasErrors() {
		return res, err
	}
	l6 := *lf
	l6.family = ext.IPv6
	return loadPath(path, &l6)
}

func loadPath(path string, lf *loadFlags) (*load.Result, error) {
	o := load.Options{Counters: true, NoFlush: lf.noflush, Legacy: lf.legacy, Args: lf.args, ArgsGiven: lf.argsGiven, Family: lf.family}
	if path == "-" {
		data, err := io.ReadAll(os.Stdin)
		if err != nil {
			return nil, err
		}
		return load.Bytes("stdin", data, o), nil
	}
	return load.File(path, o)
}

// loadFlags are the options of every command that reads a FILE: how it
// would be loaded on a host.
type loadFlags struct {
	noflush, legacy bool
	// family reads a restore file as iptables-restore (IPv4) or
	// ip6tables-restore (IPv6) input; 0 decides from the file.
	family ext.Family
	// args are what follows --: a script's arguments, $1 ... as in
	// bash SCRIPT ARG...; argsGiven says there was a --.
	args      []string
	argsGiven bool
}

// splitScriptArgs takes a script's arguments off a command line: what
// follows the first -- goes to the script (ipsift save fw.sh -- start),
// the rest is ipsift's own.
func (lf *loadFlags) splitScriptArgs(args []string) []string {
	lf.args, lf.argsGiven = nil, false
	for i, a := range args {
		if a == "--" {
			lf.args, lf.argsGiven = append([]string{}, args[i+1:]...), true
			return args[:i]
		}
	}
	return args
}

// addLoadFlags registers --noflush and --legacy on a command's flags.
func addLoadFlags(fs *flag.FlagSet) *loadFlags {
	lf := &loadFlags{}
	fs.BoolVar(&lf.noflush, "noflush", false, "read a restore file as iptables-restore --noflush loads it: a second section of a table adds to the first instead of replacing it")
	fs.BoolVar(&lf.legacy, "legacy", false, "load as iptables-legacy does, not iptables-nft: tables come into being on any use, and run the rules as legacy does (see DIFFERENCES.md)")
	return lf
}

func printDiags(w io.Writer, ds rules.Diags, color bool) {
	// fixes holds the first corrected line given for each line so far
	// (looking back through every earlier problem instead took check
	// seconds on files with tens of thousands of warnings).
	type fileLine struct {
		file string
		line int
	}
	fixes := map[fileLine]string{}
	for i, d := range ds {
		if at := (fileLine{d.Pos.File, d.Pos.Line}); d.FixLine != "" {
			if _, ok := fixes[at]; !ok {
				fixes[at] = d.FixLine
			}
		}
		sev := d.Severity.String()
		if color {
			code := map[rules.Severity]string{rules.SevError: "31", rules.SevWarning: "33", rules.SevNote: "36"}[d.Severity]
			sev = "\x1b[1;" + code + "m" + sev + "\x1b[0m"
		}
		fmt.Fprintf(w, "%s: %s: %s\n", d.Pos, sev, d.Msg)
		// The corrected line goes after the last problem of its line.
		last := i+1 == len(ds) || ds[i+1].Pos.Line != d.Pos.Line || ds[i+1].Pos.File != d.Pos.File
		if last {
			if fix, ok := fixes[fileLine{d.Pos.File, d.Pos.Line}]; ok {
				fmt.Fprintf(w, "    write instead: %s\n", fix)
			}
		}
	}
}

func init() {
	fsSave := newFlags("save")
	saveCounters := fsSave.Bool("c", false, "print counters as [packets:bytes] (iptables-save -c)")
	saveTable := fsSave.String("t", "", "print only this table")
	saveSets := fsSave.Bool("sets", false, "print the sets FILE creates, as ipset save prints them, instead of the rules")
	saveLoad := addLoadFlags(fsSave)
	saveSix := fsSave.Bool("6", false, "print the IPv6 rules (ip6tables-save) of a FILE or pair that holds both")
	register(&command{
		name: "save", args: "FILE [FILE6] [-c] [-t TABLE] [-6] [--sets] [--noflush] [--legacy] [-- ARG...]",
		summary: "Print FILE in canonical iptables-save form: what the kernel's iptables-save prints after loading it.\n" +
			"A FILE with errors is still printed as far as it loads (a script's failing commands fail alone; a restore\nfile keeps the tables committed before its first error), the errors go to stderr, and the exit status is 1.",
		example: "  ipsift save gateway.rules\n  ipsift save firewall.sh -t nat\n  ipsift save --sets firewall.sh",
		run: func(args []string, stdout, stderr io.Writer) int {
			pos, err := parseInterspersed(fsSave, saveLoad.splitScriptArgs(args))
			if err != nil || len(pos) < 1 || len(pos) > 2 {
				return usageError(stderr, "save", orErr(err, "give one FILE, or an IPv4 and an IPv6 FILE"))
			}
			if *saveSets {
				res, code := loadResult(pos[0], saveLoad, stderr)
				if res == nil {
					return code
				}
				_ = res.Sets.Save(stdout, "", setsClock)
				return exitOK
			}
			if *saveTable != "" && rules.BuiltinChains(*saveTable) == nil {
				return usageError(stderr, "save", fmt.Errorf("no table %q", *saveTable))
			}
			if len(pos) == 2 {
				rs, code := loadFamily("save", pos, *saveSix, saveLoad, stderr)
				if rs == nil {
					return code
				}
				if err := rs.Save(stdout, rules.SaveOptions{Counters: *saveCounters, Table: *saveTable}); err != nil {
					fmt.Fprintln(stderr, err)
					return exitUsage
				}
				return exitOK
			}
			res, err := loadPathFor(pos[0], saveLoad, *saveSix)
			if err != nil {
				fmt.Fprintf(stderr, "ipsift: %v\n", err)
				return exitUsage
			}
			// A file with errors still loads in part on a host, and save
			// prints that part: what iptables-save would show after it.
			code := exitOK
			if res.Diags.HasErrors() {
				printDiags(stderr, res.Diags, false)
				how := "each failing command changed nothing and the script went on, as a shell runs it, unless set -e ended it"
				if !res.Script {
					how = "the tables committed before the first error stay; the failing table and those after it are not loaded"
				}
				fmt.Fprintf(stderr, "ipsift save: %s has errors; printed is what the kernel holds after loading it (%s)\n", pos[0], how)
				code = exitProblems
			}
			rs, both := res.Pick(*saveSix)
			if both {
				fmt.Fprintf(stderr, "ipsift save: the input holds IPv4 and IPv6 rules; showing %s\n", map[bool]string{false: "IPv4 (-6 shows IPv6)", true: "IPv6"}[*saveSix])
			}
			if err := rs.Save(stdout, rules.SaveOptions{Counters: *saveCounters, Table: *saveTable}); err != nil {
				fmt.Fprintln(stderr, err)
				return exitUsage
			}
			return code
		},
	})

	fsRules := newFlags("rules")
	rulesTable := fsRules.String("t", "filter", "table")
	rulesVerbose := fsRules.Bool("v", false, "with counters (-c PACKETS BYTES)")
	rulesLoad := addLoadFlags(fsRules)
	rulesSix := fsRules.Bool("6", false, "the IPv6 rules (ip6tables -S) of a FILE that holds both")
	register(&command{
		name: "rules", args: "FILE [-t TABLE] [-v] [-6] [--noflush] [--legacy] [CHAIN] [-- ARG...]",
		summary: "Print a table's rules as iptables -S does.",
		example: "  ipsift rules gateway.rules -t nat\n  ipsift rules gateway.rules LOGDROP",
		run: func(args []string, stdout, stderr io.Writer) int {
			pos, err := parseInterspersed(fsRules, rulesLoad.splitScriptArgs(args))
			if err != nil || len(pos) < 1 || len(pos) > 2 {
				return usageError(stderr, "rules", orErr(err, "give FILE and at most one CHAIN"))
			}
			rs, code := loadFamily("rules", pos[:1], *rulesSix, rulesLoad, stderr)
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
	listLoad := addLoadFlags(fsList)
	listSix := fsList.Bool("6", false, "the IPv6 rules (ip6tables -L) of a FILE that holds both")
	register(&command{
		name: "list", args: "FILE [-t TABLE] [-v] [-n] [-x] [--line-numbers] [-6] [--noflush] [--legacy] [CHAIN] [-- ARG...]",
		summary: "Print a table as iptables -L does, column for column.\nipsift never resolves names: without -n addresses still print as numbers (0.0.0.0/0 as \"anywhere\"), a documented difference from iptables -L.",
		example: "  ipsift list gateway.rules -v -n --line-numbers\n  ipsift list gateway.rules -t nat PREROUTING",
		run: func(args []string, stdout, stderr io.Writer) int {
			pos, err := parseInterspersed(fsList, listLoad.splitScriptArgs(args))
			if err != nil || len(pos) < 1 || len(pos) > 2 {
				return usageError(stderr, "list", orErr(err, "give FILE and at most one CHAIN"))
			}
			rs, code := loadFamily("list", pos[:1], *listSix, listLoad, stderr)
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
