package sim_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ipsift/ipsift/internal/kernel"
	"github.com/ipsift/ipsift/internal/kerneldiff"
	"github.com/ipsift/ipsift/packet"
)

// The kernel comparisons of this file go through internal/kerneldiff, the
// one comparison every kernel test uses: packet by packet, the rules hit,
// the verdict, and every packet that left (after NAT; REJECT's answers
// and the host stack's included). Time-dependent rules see the real gaps
// between the packets the kernel got.

// scenarios reads testdata/gateway-scenarios.jsonl: ssh from the admins
// and from elsewhere, the hostile source, RST scans past their limit, a
// SYN burst to port 25 past its burst and its refill, the port forward
// and its replies, eight web connections spread over four mirrors,
// masquerade and its replies, ICMP errors as RELATED.
func scenarios(t *testing.T) []packet.Desc {
	t.Helper()
	f, err := os.Open("testdata/gateway-scenarios.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	descs, err := packet.ReadDescs(f)
	if err != nil {
		t.Fatal(err)
	}
	return descs
}

// TestKernelGatewayScenarios sends the scenarios of gateway.rules
// through the kernel and through ipsift, both loaded with the file.
func TestKernelGatewayScenarios(t *testing.T) {
	kernel.Require(t)
	text, err := os.ReadFile("../examples/gateway.rules")
	if err != nil {
		t.Fatal(err)
	}
	descs := scenarios(t)
	for _, b := range kernel.Backends {
		t.Run(string(b), func(t *testing.T) {
			for _, d := range kerneldiff.Compare(t, b, string(text), descs) {
				t.Errorf("%s", d)
			}
		})
	}
}

// TestKernelComparisonFindsPlantedDifference gives ipsift a ruleset with
// one DNAT address changed and checks that the comparison with the kernel
// reports the packets it affects: a comparison that cannot fail proves
// nothing.
func TestKernelComparisonFindsPlantedDifference(t *testing.T) {
	kernel.Require(t)
	text, err := os.ReadFile("../examples/gateway.rules")
	if err != nil {
		t.Fatal(err)
	}
	wrong := strings.Replace(string(text), "192.0.2.20:80", "192.0.2.21:80", 1)
	descs, err := packet.ReadDescs(strings.NewReader(`{"in":"eth0","src":"203.0.113.9","dst":"198.51.100.1","proto":"tcp","sport":44000,"dport":80,"flags":"S"}
{"in":"eth0","src":"203.0.113.9","dst":"198.51.100.1","proto":"tcp","sport":44001,"dport":80,"flags":"S"}
`))
	if err != nil {
		t.Fatal(err)
	}
	restore := func(fw *kernel.Firewall) error { return fw.Restore(string(text)) }
	diffs := kerneldiff.CompareLoaded(t, kernel.NFT, restore, "planted.rules", wrong, nil, descs)
	if len(diffs) != 1 || diffs[0].Index != 1 {
		t.Errorf("the planted difference shows in %v, want exactly the second packet", diffs)
	}
}

// article10 is the article's rule 10 as the kernel can load it: the
// legacy nth match (four rules sharing counter 0, --every 4, --packet 0
// to 3) is long gone from the kernel, and its round robin over the four
// servers is written by hand with statistic, each rule taking its share
// of the packets the earlier ones left.
var article10 = [][]string{
	{"-t", "nat", "-A", "PREROUTING", "-i", "eth0", "-p", "tcp", "--dport", "80", "-m", "state", "--state", "NEW", "-m", "statistic", "--mode", "nth", "--every", "4", "--packet", "0", "-j", "DNAT", "--to-destination", "192.0.2.10:80"},
	{"-t", "nat", "-A", "PREROUTING", "-i", "eth0", "-p", "tcp", "--dport", "80", "-m", "state", "--state", "NEW", "-m", "statistic", "--mode", "nth", "--every", "3", "--packet", "0", "-j", "DNAT", "--to-destination", "192.0.2.20:80"},
	{"-t", "nat", "-A", "PREROUTING", "-i", "eth0", "-p", "tcp", "--dport", "80", "-m", "state", "--state", "NEW", "-m", "statistic", "--mode", "nth", "--every", "2", "--packet", "0", "-j", "DNAT", "--to-destination", "192.0.2.30:80"},
	{"-t", "nat", "-A", "PREROUTING", "-i", "eth0", "-p", "tcp", "--dport", "80", "-m", "state", "--state", "NEW", "-j", "DNAT", "--to-destination", "192.0.2.40:80"},
}

// TestKernelArticleScenarios runs the article's own ten rules, each line
// as ipsift check suggests fixing it (examples/article-fixed.sh, in the
// article's order: rule 1 locks out ssh and mail), against the kernel.
// The two sides are loaded independently: the kernel by running the
// script itself with the backend's real iptables (kernel.RunScript), so
// that ipsift's reading of the script is on one side only; ipsift reads
// the script. The kernel's iptables refuses the four nth lines of rule
// 10 (the match is gone), so the kernel gets rule 10 by hand
// (article10) after the script.
func TestKernelArticleScenarios(t *testing.T) {
	kernel.Require(t)
	path := filepath.Join("..", "examples", "article-fixed.sh")
	script, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	descs := scenarios(t)
	more, err := packet.ReadDescs(strings.NewReader(`{"in":"wlan0","src":"192.0.2.11","dst":"198.51.100.1","proto":"tcp","sport":48000,"dport":2222,"flags":"S"}
{"in":"eth0","src":"198.51.100.66","dst":"198.51.100.1","proto":"tcp","sport":48001,"dport":80,"flags":"A"}
{"in":"eth0","src":"203.0.113.7","dst":"198.51.100.1","proto":"tcp","sport":48002,"dport":22,"flags":"S"}
`))
	if err != nil {
		t.Fatal(err)
	}
	descs = append(descs, more...)
	for _, b := range kernel.Backends {
		t.Run(string(b), func(t *testing.T) {
			load := func(fw *kernel.Firewall) error {
				run, err := fw.RunScript(kernel.Script{Path: path})
				if err != nil {
					return err
				}
				// Exactly the four nth lines fail, each with the
				// iptables message for a match it cannot load.
				nth := 0
				for _, c := range run.Failed {
					if strings.Contains(c.Command, "-m nth") {
						nth++
					}
				}
				if n := strings.Count(run.Stderr, "nth"); n != 4 || nth != 4 || len(run.Failed) != 4 || len(run.Stubbed) != 0 {
					t.Errorf("running the script: want the four nth lines refused and nothing stubbed, got failed %v, stubbed %v and:\n%s", run.Failed, run.Stubbed, run.Stderr)
				}
				for _, args := range article10 {
					if _, err := fw.Run(append([]string{"iptables-" + string(b)}, args...)...); err != nil {
						return err
					}
				}
				return nil
			}
			known := 0
			for _, d := range kerneldiff.CompareLoaded(t, b, load, "article-fixed.sh", string(script), nil, descs) {
				if b == kernel.NFT && policyCountersOnly(d) {
					known++
					continue
				}
				t.Errorf("%s", d)
			}
			if known > 0 {
				t.Logf("%d packets differ only in policy counters the nft chains do not keep (DIFFERENCES.md)", known)
			}
		})
	}
}

// policyCountersOnly reports whether d is the one known difference of a
// script run on the nft backend (DIFFERENCES.md, "Policy counters of
// chains iptables-nft creates for a command"): the built-in chains the
// script's commands created keep no policy counters, so the kernel
// shows no policy hit where ipsift counts one; verdicts, packets and
// every rule's counter must still be equal.
func policyCountersOnly(d kerneldiff.Difference) bool {
	if d.Kernel.Verdict != d.Ipsift.Verdict || !slices.Equal(d.Kernel.Out, d.Ipsift.Out) {
		return false
	}
	rulesOnly := func(hits string) (string, int) {
		var keep []string
		policies := 0
		for _, h := range strings.Fields(hits) {
			if strings.HasSuffix(h, "/policy") {
				policies++
				continue
			}
			keep = append(keep, h)
		}
		return strings.Join(keep, " "), policies
	}
	k, kp := rulesOnly(d.Kernel.Hits)
	i, _ := rulesOnly(d.Ipsift.Hits)
	return kp == 0 && k == i
}
