package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"slices"
	"sort"

	"github.com/ipsift/ipsift/analyze"
	"github.com/ipsift/ipsift/engine"
	"github.com/ipsift/ipsift/load"
	"github.com/ipsift/ipsift/rules"
)

// lint is the rule analysis check runs after reading a file.
var lint = analyze.Lint

// unevaluable warns at each rule that loads but that the engine cannot
// compile, with the engine's reason: trace and run would refuse the file.
func unevaluable(rs *rules.Ruleset) rules.Diags {
	errs, err := engine.Unevaluable(rs, engine.Config{Legacy: rs.Legacy})
	if err != nil {
		return rules.Diags{{Severity: rules.SevWarning, Msg: fmt.Sprintf("trace and run cannot evaluate these rules: %v", err)}}
	}
	var ds rules.Diags
	for _, e := range errs {
		ds = append(ds, &rules.Diag{Pos: e.Rule.Pos, Severity: rules.SevWarning,
			Msg: fmt.Sprintf("trace and run cannot evaluate this rule (the kernel loads it): %v", e.Err)})
	}
	return ds
}

// checked is one FILE of check with its findings.
type checked struct {
	path  string
	res   *load.Result
	diags rules.Diags
}

// findings runs every analysis on one loaded file: the rules of each
// family (and what of them the engine cannot run), the ICMPv6 the IPv6
// rules cut off, and, when the file holds
// both families (a script calling iptables and ip6tables), where they
// disagree.
func findings(res *load.Result) rules.Diags {
	diags := slices.Clone(res.Diags)
	if lint != nil {
		diags = append(diags, lint(res.Rules)...)
		if res.Rules6 != nil {
			diags = append(diags, lint(res.Rules6)...)
		}
	}
	diags = append(diags, unevaluable(res.Rules)...)
	if res.Rules6 != nil {
		diags = append(diags, unevaluable(res.Rules6)...)
		diags = append(diags, analyze.CutOff(res.Rules6)...)
		if len(res.Rules.Tables) > 0 {
			diags = append(diags, analyze.FamilyGap(res.Rules, res.Rules6)...)
		}
	}
	return diags
}

// pairGap compares the families of two files given together, one with
// only IPv4 rules and one with only IPv6 rules (as save takes a pair),
// and gives each file the findings at its own lines.
func pairGap(files []*checked) {
	var v4, v6 []*checked
	for _, f := range files {
		switch {
		case f.res.Rules6 == nil && len(f.res.Rules.Tables) > 0:
			v4 = append(v4, f)
		case f.res.Rules6 != nil && len(f.res.Rules.Tables) == 0:
			v6 = append(v6, f)
		}
	}
	if len(v4) != 1 || len(v6) != 1 {
		return
	}
	for _, d := range analyze.FamilyGap(v4[0].res.Rules, v6[0].res.Rules6) {
		f := v4[0]
		if d.Pos.File == v6[0].path {
			f = v6[0]
		}
		f.diags = append(f.diags, d)
	}
}

// jsonFinding is one finding in check --json.
type jsonFinding struct {
	File     string `json:"file,omitempty"`
	Line     int    `json:"line,omitempty"`
	Col      int    `json:"col,omitempty"`
	Severity string `json:"severity"`
	Word     string `json:"word,omitempty"`
	Message  string `json:"message"`
	Fix      string `json:"fix,omitempty"`
	// Fails says that the finding alone makes check exit 1.
	Fails bool `json:"fails"`
}

// jsonFile is check --json's line for one FILE.
type jsonFile struct {
	File     string        `json:"file"`
	Errors   int           `json:"errors"`
	Warnings int           `json:"warnings"`
	Fails    bool          `json:"fails"`
	Findings []jsonFinding `json:"findings"`
}

func init() {
	fs := newFlags("check")
	lf := addLoadFlags(fs)
	strict := fs.Bool("strict", false, "fail (exit 1) on every warning, not only on errors and on rules that can never matter")
	asJSON := fs.Bool("json", false, "one JSON object per FILE: its findings (file, line, col, severity, word, message, fix, fails) and counts")
	register(&command{
		name: "check", args: "FILE... [--strict] [--json] [--noflush] [--legacy] [-- ARG...]",
		summary: "Report every problem in FILE with FILE:LINE:COL, the word, and the fix: syntax, how-to typos\n(typographic dashes, -syn, -J, placeholders), unknown chains, and rules that can never decide anything\n(shadowed by rules before them, limits that never bite). IPv6 rules: ICMPv6 the host needs that they drop;\nan IPv4 and an IPv6 ruleset (a script calling both, or a pair of files): ports one family blocks and the\nother accepts. Nothing is applied anywhere.\n" +
			"Exit 1 on an error or on a warning about a rule that can never matter (or a form iptables refuses);\nother warnings and notes inform and exit 0, unless --strict.",
		example: "  ipsift check firewall.sh\n  ipsift check --strict gateway.rules other.rules\n  ipsift check rules.v4 rules.v6",
		run: func(args []string, stdout, stderr io.Writer) int {
			pos, err := parseInterspersed(fs, lf.splitScriptArgs(args))
			if err != nil || len(pos) == 0 {
				return usageError(stderr, "check", orErr(err, "give at least one FILE"))
			}
			if os.Getenv("GOGC") == "" {
				// check is one pass that builds and drops many small
				// regions: collecting at 200% rather than 100% growth cut
				// a 100,000-rule check by a tenth of its CPU, and its
				// peak memory stays near or below what it was before the
				// analysis made less garbage (BENCHMARKS.md, "ipsift
				// check of 100,000 rules").
				defer debug.SetGCPercent(debug.SetGCPercent(200))
			}
			code := exitOK
			color := isTerminal(stdout) && !*asJSON
			var files []*checked
			for _, path := range pos {
				res, err := load.File(path, load.Options{KeepGoing: true, NoFlush: lf.noflush, Legacy: lf.legacy, Args: lf.args, ArgsGiven: lf.argsGiven})
				if err != nil {
					fmt.Fprintf(stderr, "ipsift check: %v\n", err)
					code = exitUsage
					continue
				}
				files = append(files, &checked{path: path, res: res, diags: findings(res)})
			}
			pairGap(files)
			enc := json.NewEncoder(stdout)
			for _, f := range files {
				diags := f.diags
				sort.SliceStable(diags, func(i, j int) bool {
					a, b := diags[i].Pos, diags[j].Pos
					if a.Line != b.Line {
						return a.Line < b.Line
					}
					return a.Col < b.Col
				})
				errs, warns, fails := 0, 0, false
				for _, d := range diags {
					switch d.Severity {
					case rules.SevError:
						errs++
					case rules.SevWarning:
						warns++
					}
					fails = fails || d.FailsCheck(*strict)
				}
				if fails && code == exitOK {
					code = exitProblems
				}
				if *asJSON {
					jf := jsonFile{File: f.path, Errors: errs, Warnings: warns, Fails: fails, Findings: []jsonFinding{}}
					for _, d := range diags {
						jf.Findings = append(jf.Findings, jsonFinding{File: d.Pos.File, Line: d.Pos.Line, Col: d.Pos.Col,
							Severity: d.Severity.String(), Word: d.Word, Message: d.Msg, Fix: d.FixLine, Fails: d.FailsCheck(*strict)})
					}
					enc.Encode(jf)
					continue
				}
				printDiags(stdout, diags, color)
				switch {
				case errs+warns == 0:
					fmt.Fprintf(stdout, "%s: no problems found\n", f.path)
				case fails:
					fmt.Fprintf(stdout, "%s: %s, %s\n", f.path, plural(errs, "error"), plural(warns, "warning"))
				default:
					fmt.Fprintf(stdout, "%s: %s, %s (for information: check passes; --strict fails on them)\n", f.path, plural(errs, "error"), plural(warns, "warning"))
				}
			}
			return code
		},
	})
}
