package conformance

import (
	"fmt"
	"testing"

	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/internal/testsummary"
)

// TestIPv4 runs every IPv4 test line (libxt_* as iptables, libipt_*,
// iptables.t) and requires at least 95% to pass.
func TestIPv4(t *testing.T) {
	pass, total := runAll(t, IPv4Files, ext.IPv4)
	summarize(t, fmt.Sprintf("conformance: %d passed, %d failed (IPv4 lines: %d)\n", pass, total-pass, total))
	if rate := float64(pass) / float64(total); rate < 0.95 {
		t.Errorf("conformance pass rate %.1f%% is below 95%% (%d of %d)", 100*rate, pass, total)
	}
}

// TestIPv6 runs every IPv6 test line (libxt_* as ip6tables, libip6t_*):
// 877 runs, as iptables-test.py makes them, against the 1.8.11
// expectations (the installed ip6tables 1.8.9 passes 822); the bar is
// issue 10's 860. ipsift passes 875: the 2 left fail for IPv4 too (a
// set that does not exist).
func TestIPv6(t *testing.T) {
	pass, total := runAll(t, IPv6Files, ext.IPv6)
	summarize(t, fmt.Sprintf("IPv6: %d passed, %d failed (IPv6 runs: %d)\n", pass, total-pass, total))
	if pass < 860 {
		t.Errorf("IPv6 conformance: %d of %d pass, fewer than 860", pass, total)
	}
}

// runAll runs the files of one family and returns how many lines passed
// of how many ran; failures are logged.
func runAll(t *testing.T, list func(string) ([]string, error), fam ext.Family) (pass, total int) {
	dir, err := Dir()
	if err != nil {
		t.Skip(err)
	}
	files, err := list(dir)
	if err != nil {
		t.Fatal(err)
	}
	var fail, skip int
	var failures []LineResult
	for _, f := range files {
		res, err := RunFileFamily(f, fam)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			switch r.Outcome {
			case Pass:
				pass++
			case Fail:
				fail++
				failures = append(failures, r)
			case Skip:
				skip++
			}
		}
	}
	for _, r := range failures {
		t.Logf("FAIL %s:%d %s (%s): %s", r.File, r.Line, r.Rule, r.Want, r.Why)
	}
	total = pass + fail + skip
	if total == 0 {
		t.Fatal("no conformance lines ran")
	}
	return pass, total
}

// summarize prints a summary line and adds it to test.sh's summary
// (testsummary.Append).
func summarize(t *testing.T, line string) {
	fmt.Print(line)
	if err := testsummary.Append(line); err != nil {
		t.Error(err)
	}
}
