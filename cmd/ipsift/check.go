package main

import (
	"fmt"
	"io"
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

func init() {
	fs := newFlags("check")
	lf := addLoadFlags(fs)
	strict := fs.Bool("strict", false, "fail (exit 1) on every warning, not only on errors and on rules that can never matter")
	register(&command{
		name: "check", args: "FILE... [--strict] [--noflush] [--legacy] [-- ARG...]",
		summary: "Report every problem in FILE with FILE:LINE:COL, the word, and the fix: syntax, how-to typos\n(typographic dashes, -syn, -J, placeholders), unknown chains, and rules that can never decide anything\n(shadowed by rules before them, limits that never bite). Nothing is applied anywhere.\n" +
			"Exit 1 on an error or on a warning about a rule that can never matter (or a form iptables refuses);\nother warnings and notes inform and exit 0, unless --strict.",
		example: "  ipsift check firewall.sh\n  ipsift check --strict gateway.rules other.rules",
		run: func(args []string, stdout, stderr io.Writer) int {
			pos, err := parseInterspersed(fs, lf.splitScriptArgs(args))
			if err != nil || len(pos) == 0 {
				return usageError(stderr, "check", orErr(err, "give at least one FILE"))
			}
			code := exitOK
			color := isTerminal(stdout)
			for _, path := range pos {
				res, err := load.File(path, load.Options{KeepGoing: true, NoFlush: lf.noflush, Legacy: lf.legacy, Args: lf.args, ArgsGiven: lf.argsGiven})
				if err != nil {
					fmt.Fprintf(stderr, "ipsift check: %v\n", err)
					code = exitUsage
					continue
				}
				diags := res.Diags
				if lint != nil {
					diags = append(diags, lint(res.Rules)...)
					if res.Rules6 != nil {
						diags = append(diags, lint(res.Rules6)...)
					}
				}
				diags = append(diags, unevaluable(res.Rules)...)
				sort.SliceStable(diags, func(i, j int) bool {
					a, b := diags[i].Pos, diags[j].Pos
					if a.Line != b.Line {
						return a.Line < b.Line
					}
					return a.Col < b.Col
				})
				printDiags(stdout, diags, color)
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
				switch {
				case errs+warns == 0:
					fmt.Fprintf(stdout, "%s: no problems found\n", path)
				case fails:
					fmt.Fprintf(stdout, "%s: %s, %s\n", path, plural(errs, "error"), plural(warns, "warning"))
				default:
					fmt.Fprintf(stdout, "%s: %s, %s (for information: check passes; --strict fails on them)\n", path, plural(errs, "error"), plural(warns, "warning"))
				}
				if fails && code == exitOK {
					code = exitProblems
				}
			}
			return code
		},
	})
}
