package kerneldiff

import (
	"bytes"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/ipsift/ipsift/internal/kernel"
	"github.com/ipsift/ipsift/ipset"
)

// setRulesets is how many generated set rulesets each backend runs (a
// few seconds each); IPSIFT_SEED=N reruns seed N.
const setRulesets = 8

// TestKernelDiffSets loads generated sets (several types, timeouts,
// counters, nomatch entries, a list:set) into the kernel's namespace
// with ipset restore and into ipsift, with generated rules using them
// (-m set with its flags, -j SET add and delete), compares the packets
// as for every other match, on both backends, and then every set: ipset
// save and ipset list of the kernel and of ipsift, members in the
// kernel's own order (initval pinned), timeouts and Size in memory
// masked.
func TestKernelDiffSets(t *testing.T) {
	kernel.Require(t)
	seed := uint64(11)
	if env := os.Getenv("IPSIFT_SEED"); env != "" {
		s, err := strconv.ParseUint(env, 10, 64)
		if err != nil {
			t.Fatalf("IPSIFT_SEED=%q: %v", env, err)
		}
		seed = s
	}
	for _, b := range kernel.Backends {
		t.Run(string(b), func(t *testing.T) {
			compared, refused, packets := 0, 0, 0
			for i := range setRulesets {
				sets, rs, pkts := GenerateSets(seed, i, packetsPerRuleset)
				out := execute(t, b, setup{kernelRules: rs, ipsiftRules: rs, sets: sets, after: func(fw *kernel.Firewall, reg *ipset.Registry) {
					compareSetListings(t, fw, reg, sets+rs)
				}}, pkts)
				if out.refused != nil {
					refused++
					t.Logf("ruleset %d of seed %d refused by the kernel: %v", i, seed, out.refused)
					continue
				}
				if out.loadErr != nil {
					t.Errorf("ruleset %d of seed %d: the kernel took it, ipsift did not: %v\n%s%s", i, seed, out.loadErr, sets, rs)
					continue
				}
				compared++
				packets += len(pkts)
				for _, d := range out.diffs {
					t.Errorf("ruleset %d of seed %d: %s\n%s%s", i, seed, d, sets, rs)
				}
			}
			t.Logf("%s: %d set rulesets compared (%d refused), %d packets", b, compared, refused, packets)
			if compared == 0 {
				t.Fatal("no generated ruleset was compared")
			}
		})
	}
}

var maskSetTimeouts = regexp.MustCompile(`timeout [0-9]+`)

// compareSetListings compares ipset save and ipset list of the kernel
// with ipsift's, as they are (the members in hash order: initval is
// pinned), timeouts remaining and Size in memory masked.
func compareSetListings(t *testing.T, fw *kernel.Firewall, reg *ipset.Registry, input string) {
	t.Helper()
	norm := func(s string) string {
		var out []string
		for _, l := range strings.Split(strings.TrimSpace(maskSetTimeouts.ReplaceAllString(s, "timeout x")), "\n") {
			if !strings.HasPrefix(l, "Size in memory") {
				out = append(out, l)
			}
		}
		return strings.Join(out, "\n")
	}
	for _, args := range [][]string{{"save"}, {"list"}} {
		want, err := fw.Run(append([]string{"ipset"}, args...)...)
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		c := &ipset.Cmd{R: reg, Now: func() int64 { return 0 }, Stdout: &got, Stderr: &got}
		c.Run(args)
		if g, w := norm(got.String()), norm(want); g != w {
			t.Errorf("ipset %s after the packets differs from the kernel's:\n--- ipsift\n%s\n--- kernel\n%s\n--- input\n%s", args[0], g, w, input)
		}
	}
}
