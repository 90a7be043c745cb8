// Package kerneldiff checks ipsift against the Linux kernel on generated
// rulesets and packets: differential testing with the kernel as the
// oracle.
//
// Run generates seeded random rulesets over the supported tables,
// extensions and options, and packets aimed at them (addresses and ports
// from the rules, just inside and just outside every prefix and range,
// the tcp flag combinations the rules name, fragments, connection-shaped
// sequences whose replies and ICMP errors are addressed to what the
// kernel made of the first packet). Each ruleset goes into a fresh
// namespace firewall (internal/kernel) and into ipsift; every packet is
// sent through both, and the rules hit (as a multiset), the verdict and
// the packets that left (after NAT) are compared. A difference is shrunk
// by delta debugging to the rules and packets that matter and reported as
// a restore file and a packets file that reproduce it.
//
// What the kernel does at random is kept out of the exact comparison:
// the generator uses statistic --mode random only with probability 0 or
// 1, gives every flow its own source port so that NAT never has to pick a
// port on a clash, and uses rate limits whose refill (a minute or more) is
// far from the gaps between packets. The random behaviours themselves are
// compared by property in this package's tests.
package kerneldiff

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipsift/ipsift/internal/kernel"
	"github.com/ipsift/ipsift/ipset"
	"github.com/ipsift/ipsift/packet"
	"github.com/ipsift/ipsift/sim"
)

// Config says what Run compares.
type Config struct {
	// Backend is the iptables backend the kernel side loads rules with;
	// ipsift follows it (engine.Config.Legacy).
	Backend kernel.Backend
	// IPv6 generates ip6tables rulesets and IPv6 packets (Generate6)
	// instead of IPv4 ones, for the IPv6 twin of the host.
	IPv6 bool
	// Seed makes the run reproducible: ruleset i of a run is generated
	// from (Seed, i) alone.
	Seed uint64
	// Rulesets is how many rulesets to generate; PacketsPerRuleset how
	// many packets each gets (about: a flow is not cut short).
	Rulesets          int
	PacketsPerRuleset int
	// First is the index of the first ruleset (0 unless a run picks up
	// a ruleset of a long run again: IPSIFT_RULESET).
	First int
	// Workers is how many rulesets run at once, each in namespaces of its
	// own; 0 means GOMAXPROCS.
	Workers int
	// Mutate, when set, changes ipsift's copy of every ruleset (the
	// kernel gets the original): a planted difference, to check that the
	// harness finds and shrinks it.
	Mutate func(ruleset string) string
	// Tamper, when set, changes ipsift's result for every packet before
	// it is compared: a planted bug in what ipsift sent or decided, to
	// check that the comparison catches it.
	Tamper func(*sim.Result)
	// Known, when set, names the known ipsift bug a difference is, or
	// returns "". Known differences are counted but fail nothing, so CI
	// stays green while the bug is reported.
	Known func(ruleset string, d Difference) string
	// MaxReports bounds how many differences are shrunk and reported
	// (shrinking costs many kernel runs); 0 means 3.
	MaxReports int
	// NoShrink reports differences as found, without shrinking.
	NoShrink bool
	// OutDir, when set, is where each report's files are written (else
	// the test's temporary directory, gone when the test ends).
	OutDir string
}

// Case is one ruleset and the packets sent through it.
type Case struct {
	Ruleset string
	Packets []packet.Desc
}

// PacketsFile returns the packets in the packets format, one per line.
func (c *Case) PacketsFile() string {
	var b strings.Builder
	for _, d := range c.Packets {
		j, _ := d.MarshalJSON()
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.String()
}

// Report is one difference found, shrunk to a minimal case.
type Report struct {
	// Seed and Index name the ruleset that showed it (Config.Seed and
	// its position in the run).
	Seed    uint64
	Index   int
	Backend kernel.Backend
	// Minimal is the shrunk case; Difference the first difference it
	// shows. Files are where Minimal was written (restore, packets).
	Minimal    Case
	Difference Difference
	Files      [2]string
	// Runs is how many kernel runs shrinking took.
	Runs int
	// NotReproduced is set when the case compared equal when run again,
	// so it was not shrunk: a difference of timing (a machine too loaded
	// for the gaps the generator relies on) rather than of behaviour, or
	// a flaky one; it still fails the run.
	NotReproduced bool
}

func (r *Report) String() string {
	how := fmt.Sprintf("shrunk to %d rules and %d packets (%d runs)", countRules(r.Minimal.Ruleset), len(r.Minimal.Packets), r.Runs)
	if r.NotReproduced {
		how = fmt.Sprintf("not shrunk: it did not show again when run again (timing?); %d rules and %d packets", countRules(r.Minimal.Ruleset), len(r.Minimal.Packets))
	}
	return fmt.Sprintf("difference in ruleset %d of seed %d, %s:\n%s\n--- %s\n%s--- %s\n%s",
		r.Index, r.Seed, how, r.Difference,
		r.Files[0], r.Minimal.Ruleset, r.Files[1], r.Minimal.PacketsFile())
}

// Summary is what a Run compared and found.
type Summary struct {
	Backend     kernel.Backend
	Seed        uint64
	Rulesets    int // compared (the kernel took them)
	Refused     int // generated but refused by the kernel's iptables-restore
	Packets     int
	IPv6Packets int // of Packets, the IPv6 ones
	// Solicited counts the packets not compared because the kernel had
	// to ask for a neighbour the harness did not foresee (a harness
	// shortcoming to fix when it grows).
	Solicited   int
	Differences int // packets that differ, known ones excluded
	LogLines    int // ipsift's LOG lines compared with the kernel's, packet by packet
	Known       int // packets that differ in a known way
	// SaveDifferences counts rulesets whose iptables-save output differs
	// from ipsift's.
	SaveDifferences int
	LoadErrors      []string
	Reports         []*Report
	Elapsed         time.Duration
	// LeftOut counts, by reason, the generated rules left out because
	// ipsift's engine says it cannot run them yet (runnable).
	LeftOut map[string]int
	// NotYet is set when ipsift's simulator refused packets it cannot
	// simulate yet (sim.Run's error, IPv6 before the engine ran
	// ip6tables rules): those packets were sent to the kernel only and
	// are not counted in Packets. Rulesets were still loaded and saved
	// on both sides and compared.
	NotYet string
}

// Rate is packets compared per second of wall time.
func (s Summary) Rate() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Packets) / s.Elapsed.Seconds()
}

// Add folds another run's counts into s (for a summary over backends).
func (s *Summary) Add(o Summary) {
	s.Rulesets += o.Rulesets
	s.Refused += o.Refused
	s.Packets += o.Packets
	s.IPv6Packets += o.IPv6Packets
	s.Solicited += o.Solicited
	s.LogLines += o.LogLines
	if s.NotYet == "" {
		s.NotYet = o.NotYet
	}
	for why, n := range o.LeftOut {
		if s.LeftOut == nil {
			s.LeftOut = map[string]int{}
		}
		s.LeftOut[why] += n
	}
	s.Differences += o.Differences
	s.Known += o.Known
	s.SaveDifferences += o.SaveDifferences
	s.LoadErrors = append(s.LoadErrors, o.LoadErrors...)
	s.Reports = append(s.Reports, o.Reports...)
	s.Elapsed += o.Elapsed
}

// Generate returns ruleset i of seed: the restore file and its packets.
func Generate(seed uint64, i, packets int) (string, []Packet) {
	r := rand.New(rand.NewPCG(seed, uint64(i)))
	rs, a := genRuleset(r)
	return rs, genPackets(r, a, packets)
}

// Run generates and compares cfg.Rulesets rulesets against the kernel,
// reports each difference (shrunk) with t.Errorf unless cfg.Known knows
// it, and returns what it did. It needs the kernel harness: without root,
// iptables or namespaces it skips t (CI: fails), as kernel.Require does.
func Run(t testing.TB, cfg Config) Summary {
	t.Helper()
	kernel.Require(t)
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.GOMAXPROCS(0)
	}
	if cfg.MaxReports <= 0 {
		cfg.MaxReports = 3
	}
	if cfg.PacketsPerRuleset <= 0 {
		cfg.PacketsPerRuleset = 30
	}
	sum := Summary{Backend: cfg.Backend, Seed: cfg.Seed}
	start := time.Now()
	type result struct {
		i        int
		rs       string
		out      *outcome
		unknown  []Difference
		nknown   int
		attempts int
		left     []string
	}
	results := make([]result, cfg.Rulesets)
	var wg sync.WaitGroup
	next := make(chan int)
	for range cfg.Workers {
		wg.Go(func() {
			// A worker that fails the test (t.Fatalf, which ends this
			// goroutine) must not leave the feeder blocked: the rest of
			// the rulesets are taken and left undone.
			finished := false
			defer func() {
				if !finished {
					go func() {
						for range next {
						}
					}()
				}
			}()
			for i := range next {
				res := result{i: cfg.First + i}
				// A ruleset the kernel refuses says nothing; the next
				// sub-seed replaces it (bounded).
				for try := 0; try < 4; try++ {
					generate := Generate
					if cfg.IPv6 {
						generate = Generate6
					}
					rs, pkts := generate(cfg.Seed, cfg.First+i+try*1_000_000, cfg.PacketsPerRuleset)
					rs, res.left = runnable(rs, cfg.Backend, cfg.IPv6)
					ours := rs
					if cfg.Mutate != nil {
						ours = cfg.Mutate(rs)
					}
					res.rs, res.attempts = rs, try+1
					res.out = execute(t, cfg.Backend, setup{kernelRules: rs, ipsiftRules: ours, tamper: cfg.Tamper, six: cfg.IPv6}, pkts)
					if res.out.refused == nil {
						break
					}
				}
				for _, d := range res.out.diffs {
					if cfg.Known != nil {
						if k := cfg.Known(res.rs, d); k != "" {
							res.nknown++
							continue
						}
					}
					res.unknown = append(res.unknown, d)
				}
				results[res.i-cfg.First] = res
			}
			finished = true
		})
	}
	for i := range cfg.Rulesets {
		next <- i
	}
	close(next)
	wg.Wait()
	sum.Elapsed = time.Since(start)
	for _, res := range results {
		if res.out == nil {
			continue // its worker failed the test
		}
		for _, why := range res.left {
			if sum.LeftOut == nil {
				sum.LeftOut = map[string]int{}
			}
			sum.LeftOut[why]++
		}
		sum.Refused += res.attempts - 1
		if res.out.refused != nil {
			sum.Refused++
			continue
		}
		sum.Rulesets++
		if res.out.loadErr != nil {
			sum.LoadErrors = append(sum.LoadErrors, fmt.Sprintf("ruleset %d of seed %d: the kernel took it, ipsift did not: %v\n%s", res.i, cfg.Seed, res.out.loadErr, res.rs))
			t.Errorf("kernel-diff (%s): %s", cfg.Backend, sum.LoadErrors[len(sum.LoadErrors)-1])
			continue
		}
		if res.out.saveDiff != "" {
			sum.SaveDifferences++
			t.Errorf("kernel-diff (%s): ruleset %d of seed %d: iptables-save differs:\n%s\n%s", cfg.Backend, res.i, cfg.Seed, res.out.saveDiff, res.rs)
		}
		sum.Solicited += res.out.solicited
		sum.LogLines += res.out.logLines
		if res.out.unsupported != nil && sum.NotYet == "" {
			sum.NotYet = res.out.unsupported.Error()
		}
		for _, d := range res.out.sentDescs() {
			sum.Packets++
			if d.IsIPv6() {
				sum.IPv6Packets++
			}
		}
		sum.Known += res.nknown
		sum.Differences += len(res.unknown)
		if len(res.unknown) == 0 {
			continue
		}
		if len(sum.Reports) >= cfg.MaxReports {
			t.Errorf("kernel-diff (%s): ruleset %d of seed %d: %d more differences (not shrunk; reports are bounded), the first:\n%s", cfg.Backend, res.i, cfg.Seed, len(res.unknown), res.unknown[0])
			continue
		}
		rep := &Report{Seed: cfg.Seed, Index: res.i, Backend: cfg.Backend, Minimal: Case{Ruleset: res.rs, Packets: res.out.sentDescs()}, Difference: res.unknown[0]}
		if !cfg.NoShrink {
			shrink(t, cfg, rep)
		}
		rep.write(t, cfg.OutDir)
		sum.Reports = append(sum.Reports, rep)
		t.Errorf("kernel-diff (%s): %s", cfg.Backend, rep)
	}
	return sum
}

// write puts the minimal case into files in dir, or under the test's
// temporary directory when dir is "". The names say the backend, as
// testdata/regress expects.
func (r *Report) write(t testing.TB, dir string) {
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Error(err)
	}
	name := fmt.Sprintf("seed%d-%d.%s", r.Seed, r.Index, r.Backend)
	r.Files[0] = filepath.Join(dir, name+".rules")
	r.Files[1] = filepath.Join(dir, name+".jsonl")
	if err := os.WriteFile(r.Files[0], []byte(r.Minimal.Ruleset), 0o644); err != nil {
		t.Error(err)
	}
	if err := os.WriteFile(r.Files[1], []byte(r.Minimal.PacketsFile()), 0o644); err != nil {
		t.Error(err)
	}
}

// Compare runs one fixed case (a restore file and packets) through the
// kernel and ipsift and returns the packets that differ: the way to turn
// a reported minimal case into a regression test. A case of IPv6 packets
// is an ip6tables-restore file run on the host's IPv6 twin.
func Compare(t testing.TB, b kernel.Backend, ruleset string, packets []packet.Desc) []Difference {
	t.Helper()
	kernel.Require(t)
	six := len(packets) > 0 && packets[0].IsIPv6()
	return compareSetup(t, b, setup{kernelRules: ruleset, ipsiftRules: ruleset, six: six}, packets)
}

// CompareGroups is Compare on a host whose interfaces are in the given
// device groups (interface name to group, -m devgroup): the kernel's
// links are put in them with `ip link set dev X group N`, ipsift's
// default host gets them as a host file's `group N` gives them. IPv6
// packets run through ip6tables rules on the host's IPv6 twin, as in
// Compare.
func CompareGroups(t testing.TB, b kernel.Backend, groups map[string]uint32, ruleset string, packets []packet.Desc) []Difference {
	t.Helper()
	kernel.Require(t)
	six := len(packets) > 0 && packets[0].IsIPv6()
	return compareSetup(t, b, setup{kernelRules: ruleset, ipsiftRules: ruleset, groups: groups, six: six}, packets)
}

// CompareLoaded is Compare for a case whose two sides are loaded
// differently: load prepares the kernel firewall (running a script with
// the real iptables, say), ipsift reads text (a restore file or a
// script) as the file name; tamper, when not nil, plants a bug in
// ipsift's result for every packet (see Config.Tamper). The addresses of
// the packets get neighbour entries, as in Compare.
func CompareLoaded(t testing.TB, b kernel.Backend, load func(*kernel.Firewall) error, name, text string, tamper func(*sim.Result), packets []packet.Desc) []Difference {
	t.Helper()
	kernel.Require(t)
	return compareSetup(t, b, setup{load: load, kernelRules: text, ipsiftName: name, ipsiftRules: text, tamper: tamper}, packets)
}

// CompareWithSets is Compare for rules that use ipsets: sets (ipset
// restore input) is loaded into the kernel's namespace with ipset and
// into ipsift as the file's set section, before the rules. after, when
// not nil, runs once the packets are compared, with the kernel firewall
// and ipsift's sets as they ended (to compare their contents).
func CompareWithSets(t testing.TB, b kernel.Backend, sets, ruleset string, packets []packet.Desc, after func(fw *kernel.Firewall, sets *ipset.Registry)) []Difference {
	t.Helper()
	kernel.Require(t)
	return compareSetup(t, b, setup{kernelRules: ruleset, ipsiftRules: ruleset, sets: sets, after: after}, packets)
}

func compareSetup(t testing.TB, b kernel.Backend, su setup, packets []packet.Desc) []Difference {
	t.Helper()
	out := execute(t, b, su, fixed(packets))
	if out.refused != nil {
		t.Fatalf("kernel-diff: the kernel refused the ruleset: %v", out.refused)
	}
	if out.loadErr != nil {
		t.Fatalf("kernel-diff: ipsift refused the ruleset: %v", out.loadErr)
	}
	return out.diffs
}

// fixed wraps plain descriptions as Packets.
func fixed(descs []packet.Desc) []Packet {
	out := make([]Packet, len(descs))
	for i, d := range descs {
		out[i] = Packet{Desc: d, Of: -1}
	}
	return out
}

func countRules(rs string) int {
	n := 0
	for l := range strings.Lines(rs) {
		if strings.HasPrefix(l, "-A ") {
			n++
		}
	}
	return n
}
