package kerneldiff

import (
	"flag"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ipsift/ipsift/internal/kernel"
)

var (
	flagN       = flag.Int("kernel-diff.n", 0, "packets to compare per backend in TestKernelDiff's time-seeded batch (0: sized from the measured rate to fit the CI budget)")
	flagBudget  = flag.Duration("kernel-diff.budget", 40*time.Second, "wall time per backend for TestKernelDiff's time-seeded batch when -kernel-diff.n is 0")
	flagKnown   = flag.Bool("kernel-diff.known", true, "let known differences pass (false: report every difference)")
	flagReports = flag.Int("kernel-diff.reports", 3, "differences to shrink and report per seed")
	flagOut     = flag.String("kernel-diff.out", "", "write every shrunk difference (a .rules and a .jsonl file) to this directory, to keep or add to testdata/regress")
	fixedSeeds  = []uint64{1, 2, 3}
	fixedPerSet = 8 // rulesets per fixed seed
)

// packetsPerRuleset is the default length of a generated sequence.
const packetsPerRuleset = 30

// TestKernelDiff compares ipsift with the kernel on generated rulesets
// and packets, for both backends: a fixed set of seeds always, then a
// batch seeded from the time of day (printed; IPSIFT_SEED=N reruns that
// seed alone) sized from the rate the fixed seeds reached, so the test
// stays within its budget. It prints a summary line, also to the file
// IPSIFT_KERNEL_DIFF_SUMMARY names (test.sh shows it: go test hides the
// output of passing tests).
func TestKernelDiff(t *testing.T) {
	kernel.Require(t)
	var total Summary
	var backends []string
	for _, b := range kernel.Backends {
		backends = append(backends, string(b))
		t.Run(string(b), func(t *testing.T) {
			var s Summary
			seeds := fixedSeeds
			rulesets := fixedPerSet
			if env := os.Getenv("IPSIFT_SEED"); env != "" {
				seed, err := strconv.ParseUint(env, 10, 64)
				if err != nil {
					t.Fatalf("IPSIFT_SEED=%q: %v", env, err)
				}
				seeds, rulesets = []uint64{seed}, batchSize(0)
			}
			for _, seed := range seeds {
				s.Add(Run(t, Config{Backend: b, Seed: seed, Rulesets: rulesets, PacketsPerRuleset: packetsPerRuleset, Known: knownFunc(), OutDir: *flagOut, MaxReports: *flagReports}))
			}
			if os.Getenv("IPSIFT_SEED") == "" {
				seed := uint64(time.Now().UnixNano())
				n := batchSize(s.Rate())
				t.Logf("time-seeded batch: IPSIFT_SEED=%d, %d rulesets", seed, n)
				s.Add(Run(t, Config{Backend: b, Seed: seed, Rulesets: n, PacketsPerRuleset: packetsPerRuleset, Known: knownFunc(), OutDir: *flagOut, MaxReports: *flagReports}))
			}
			t.Logf("%s: %d rulesets (%d refused by the kernel and replaced), %d packets, %d differences, %d known (%.0f packets/s)",
				b, s.Rulesets, s.Refused, s.Packets, s.Differences, s.Known, s.Rate())
			total.Add(s)
		})
	}
	line := fmt.Sprintf("kernel-diff: %d rulesets, %d packets, %d differences, %d in iptables-save (backend %s, %.0f packets/s)\n",
		total.Rulesets, total.Packets, total.Differences, total.SaveDifferences, strings.Join(backends, " and "), total.Rate())
	fmt.Print(line)
	if err := AppendSummary(line); err != nil {
		t.Error(err)
	}
}

// knownFunc is known, or nil under -kernel-diff.known=false.
func knownFunc() func(string, Difference) string {
	if !*flagKnown {
		return nil
	}
	return known
}

// batchSize is how many rulesets the time-seeded batch gets: from
// -kernel-diff.n when set, else what fits the budget at the measured
// rate.
func batchSize(rate float64) int {
	if *flagN > 0 {
		return max(1, *flagN/packetsPerRuleset)
	}
	if rate <= 0 {
		rate = 100
	}
	return max(1, int(rate*flagBudget.Seconds())/packetsPerRuleset)
}

// known recognises differences that are known ipsift bugs, reported and
// waiting for a fix in their package: each case names its bug, and
// README ("Kernel differential tests") lists them. Remove a case when
// its fix lands. There are none at the moment: every difference found so
// far is fixed (its minimal case is in testdata/regress) or, where
// ipsift differs on purpose, kept out of the generator and written down
// in DIFFERENCES.md.
func known(ruleset string, d Difference) string {
	return ""
}

// TestPlantedDifference gives ipsift a deliberately wrong copy of every
// ruleset (each tcp --dport moved by one) and checks that the harness
// finds the difference and shrinks it to a minimal case: a harness that
// cannot fail proves nothing.
func TestPlantedDifference(t *testing.T) {
	kernel.Require(t)
	mutate := func(rs string) string {
		return plantedPort.ReplaceAllStringFunc(rs, func(m string) string {
			n, _ := strconv.Atoi(strings.TrimPrefix(m, "-m tcp --dport "))
			return fmt.Sprintf("-m tcp --dport %d", n+1)
		})
	}
	// Only differences the planted change can explain count: the real
	// ones (known or not) are TestKernelDiff's business.
	planted := func(rs string, d Difference) string {
		p := d.Packet
		if known(rs, d) == "" && p.Proto == 6 && !p.Raw && p.FragOff == 0 &&
			(strings.Contains(rs, fmt.Sprintf("--dport %d\n", p.Dport)) || strings.Contains(rs, fmt.Sprintf("--dport %d ", p.Dport)) ||
				strings.Contains(rs, fmt.Sprintf("--dport %d\n", p.Dport-1)) || strings.Contains(rs, fmt.Sprintf("--dport %d ", p.Dport-1))) {
			return ""
		}
		return "not the planted difference"
	}
	ft := &fakeT{TB: t}
	var s Summary
	// Seeds until one ruleset shows the planted difference (bounded):
	// it shows only when a packet goes to a moved port.
	for seed := uint64(100); seed < 110 && len(s.Reports) == 0; seed++ {
		s = Run(ft, Config{Backend: kernel.NFT, Seed: seed, Rulesets: 4, PacketsPerRuleset: packetsPerRuleset, Mutate: mutate, Known: planted, MaxReports: 1})
	}
	if len(s.Reports) == 0 {
		t.Fatal("the planted difference was not found")
	}
	r := s.Reports[0]
	t.Logf("found and shrunk:\n%s", r)
	if n := countRules(r.Minimal.Ruleset); n < 1 || n > 2 {
		t.Errorf("shrunk ruleset has %d rules, want 1 or 2", n)
	}
	if n := len(r.Minimal.Packets); n < 1 || n > 2 {
		t.Errorf("shrunk packets: %d, want 1 or 2", n)
	}
	if !plantedPort.MatchString(r.Minimal.Ruleset) {
		t.Errorf("the shrunk ruleset lost the planted rule:\n%s", r.Minimal.Ruleset)
	}
}

var plantedPort = regexp.MustCompile(`-m tcp --dport \d+`)

// fakeT records errors instead of failing the test: the planted
// difference is supposed to be reported.
type fakeT struct {
	testing.TB
	errs []string
}

func (f *fakeT) Errorf(format string, args ...any) {
	f.errs = append(f.errs, fmt.Sprintf(format, args...))
}
func (f *fakeT) Error(args ...any) { f.errs = append(f.errs, fmt.Sprint(args...)) }
func (f *fakeT) Helper()           {}
