package load

import (
	"strings"
	"testing"

	"github.com/ipsift/ipsift/rules"
)

// diagsOf loads a script as check does and returns its problems, one per
// line as "LINE: severity: message".
func diagsOf(t *testing.T, src string) []string {
	t.Helper()
	res := Bytes("t.sh", []byte(src), Options{KeepGoing: true})
	var out []string
	for _, d := range res.Diags {
		out = append(out, d.Pos.String()+": "+d.Severity.String()+": "+d.Msg)
	}
	return out
}

func hasDiag(ds []string, sub string) bool {
	for _, d := range ds {
		if strings.Contains(d, sub) {
			return true
		}
	}
	return false
}

// TestGuessIsNeverApplied: a "did you mean" is a message; the model
// goes on without the failed command, so no loop appears through it, and
// a suggestion that would itself loop is never made.
func TestGuessIsNeverApplied(t *testing.T) {
	src := "#!/bin/sh\niptables -N foo\niptables -A OUTPUT -j foo\niptables -A foo -j fooo\n"
	ds := diagsOf(t, src)
	if hasDiag(ds, "loop") {
		t.Errorf("a guess was applied and closed a loop:\n%s", strings.Join(ds, "\n"))
	}
	if !hasDiag(ds, "t.sh:4:") {
		t.Errorf("the bad target is not reported:\n%s", strings.Join(ds, "\n"))
	}
	if hasDiag(ds, "did you mean foo?") {
		t.Errorf("suggests a jump from foo to itself:\n%s", strings.Join(ds, "\n"))
	}
	// A suggestion that loops through another chain is not made either.
	ds = diagsOf(t, "#!/bin/sh\niptables -N bar\niptables -N foo\niptables -A bar -j foo\niptables -A foo -j barr\n")
	if hasDiag(ds, "did you mean bar?") || hasDiag(ds, "loop") {
		t.Errorf("suggests a loop foo -> bar -> foo:\n%s", strings.Join(ds, "\n"))
	}
	// Nor for the chain a rule is added to: foo -j foo would loop.
	ds = diagsOf(t, "#!/bin/sh\niptables -N foo\niptables -A fooo -j foo\niptables -N bar\niptables -A barr -j ACCEPT\n")
	if hasDiag(ds, "did you mean foo?") || !hasDiag(ds, "did you mean bar?") {
		t.Errorf("chain suggestions:\n%s", strings.Join(ds, "\n"))
	}
	// A guessed chain name for -A is not applied: later lines do not see
	// the rule in LOGDROP.
	res := Bytes("t.sh", []byte("#!/bin/sh\niptables -N LOGDROP\niptables -A logdrop -j DROP\n"), Options{KeepGoing: true})
	if n := ruleCount(res.Rules, "filter", "LOGDROP"); n != 0 {
		t.Errorf("the guess LOGDROP for logdrop was applied: %d rules", n)
	}
	if !hasDiag(diagsOf(t, "#!/bin/sh\niptables -N LOGDROP\niptables -A logdrop -j DROP\n"), "did you mean LOGDROP?") {
		t.Errorf("the case-only suggestion is gone")
	}
}

// TestCertainFixIsApplied: a typographic dash is read as the hyphen it
// stands for, and the rule is in the model.
func TestCertainFixIsApplied(t *testing.T) {
	res := Bytes("t.sh", []byte("#!/bin/sh\niptables -A INPUT -p tcp \u2013dport 22 -j ACCEPT\n"), Options{KeepGoing: true})
	if !res.Diags.HasErrors() {
		t.Fatal("the typographic dash is not reported")
	}
	if ruleCount(res.Rules, "filter", "INPUT") != 1 {
		t.Errorf("the corrected rule is not in the model")
	}
}

// TestFailedCommandChangesNothing: after a real error the next valid
// command is judged on the model without the failed one.
func TestFailedCommandChangesNothing(t *testing.T) {
	ds := diagsOf(t, "#!/bin/sh\niptables -A INPUT -j xyz\niptables -N xyz\n")
	if hasDiag(ds, "already exists") {
		t.Errorf("-N after a failed jump is judged as if the jump had created the chain:\n%s", strings.Join(ds, "\n"))
	}
	if !hasDiag(ds, "t.sh:2:") || len(ds) != 1 {
		t.Errorf("want the one error of line 2:\n%s", strings.Join(ds, "\n"))
	}
	// A placeholder's stand-in value does not put the rule in the model.
	res := Bytes("t.sh", []byte("#!/bin/sh\niptables -A INPUT -s MALICIOUS_ADDRESS -j DROP\n"), Options{KeepGoing: true})
	if n := ruleCount(res.Rules, "filter", "INPUT"); n != 0 {
		t.Errorf("a rule with a placeholder is in the model (%d rules)", n)
	}
}

func ruleCount(rs *rules.Ruleset, table, chain string) int {
	t := rs.Table(table)
	if t == nil || t.Chain(chain) == nil {
		return 0
	}
	return len(t.Chain(chain).Rules)
}

// TestScriptRestoreNoFlush: a script's iptables-restore -n here-document
// adds to the tables the script built before it; without -n it replaces
// them.
func TestScriptRestoreNoFlush(t *testing.T) {
	for _, c := range []struct {
		flag string
		want int
	}{{"", 1}, {"-n ", 2}, {"--noflush ", 2}, {"-cn ", 2}, {"-T filter ", 1}} {
		src := "#!/bin/sh\niptables -A INPUT -p tcp -j ACCEPT\niptables-restore " + c.flag + "<<EOF\n*filter\n-A INPUT -p udp -j ACCEPT\nCOMMIT\nEOF\n"
		res := Bytes("t.sh", []byte(src), Options{})
		if res.Diags.HasErrors() {
			t.Fatalf("%q: %v", c.flag, res.Diags)
		}
		if n := ruleCount(res.Rules, "filter", "INPUT"); n != c.want {
			t.Errorf("iptables-restore %s: %d rules in INPUT, want %d", c.flag, n, c.want)
		}
	}
}

// TestTypographicDashFailsOutsideCheck: iptables refuses a typographic
// dash, so outside check (save, trace) the command changes nothing; check
// reads on with the certain correction.
func TestTypographicDashFailsOutsideCheck(t *testing.T) {
	src := "#!/bin/sh\niptables -A INPUT -p tcp \u2013dport 22 -j ACCEPT\n"
	res := Bytes("t.sh", []byte(src), Options{})
	if !res.Diags.HasErrors() || ruleCount(res.Rules, "filter", "INPUT") != 0 {
		t.Errorf("save loads a rule iptables refuses: %v", res.Diags)
	}
}

// TestListMissingChainIsAnAnswer: "iptables -L CHAIN" is how scripts
// ask whether a chain exists; "no" (exit 1) changes nothing and is not
// an error of the script (found by the corpus test, tor-torsocks-chain.sh).
func TestListMissingChainIsAnAnswer(t *testing.T) {
	src := "#!/bin/sh\nif ! iptables -t nat -n -L TORSOCKS >/dev/null 2>&1; then\n  iptables -t nat -N TORSOCKS\nfi\niptables -t nat -A PREROUTING -p tcp -j TORSOCKS\n"
	if ds := diagsOf(t, src); hasDiag(ds, "error") {
		t.Errorf("a listing's answer is reported as an error:\n%s", strings.Join(ds, "\n"))
	}
	// Legacy still creates the table the listing read.
	res := Bytes("t.sh", []byte("#!/bin/sh\niptables -t raw -L nosuch\n"), Options{Legacy: true})
	if res.Rules.Table("raw") == nil {
		t.Errorf("legacy: the listing created no raw table")
	}
}
