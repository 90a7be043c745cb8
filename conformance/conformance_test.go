package conformance

import (
	"fmt"
	"testing"
)

// TestIPv4 runs every IPv4 test line (libxt_* as iptables, libipt_*,
// iptables.t) and requires at least 95% to pass. libip6t_* files and the
// IPv6 runs of libxt_* are skipped: ipsift does not model ip6tables yet.
func TestIPv4(t *testing.T) {
	dir, err := Dir()
	if err != nil {
		t.Skip(err)
	}
	files, err := IPv4Files(dir)
	if err != nil {
		t.Fatal(err)
	}
	var pass, fail, skip int
	var failures []LineResult
	for _, f := range files {
		res, err := RunFile(f)
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
	total := pass + fail + skip
	fmt.Printf("conformance: %d passed, %d failed, %d skipped (IPv4 lines: %d)\n", pass, fail, skip, total)
	if total == 0 {
		t.Fatal("no conformance lines ran")
	}
	if rate := float64(pass) / float64(total); rate < 0.95 {
		t.Errorf("conformance pass rate %.1f%% is below 95%% (%d of %d)", 100*rate, pass, total)
	}
}
