package analyze

import (
	"strings"
	"testing"

	"github.com/ipsift/ipsift/internal/kernel"
	"github.com/ipsift/ipsift/packet"
)

// TestCutOffKernel checks a cut-off finding against the kernel, on both
// backends: the neighbour solicitation CutOff says the INPUT policy drops
// is counted by that policy, not by the NEW,RELATED,ESTABLISHED accept
// (ND is UNTRACKED), and once the rules the finding offers are added the
// first of them takes it and the host answers.
func TestCutOffKernel(t *testing.T) {
	const base = "*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n" +
		"-A INPUT -i lo -j ACCEPT\n" +
		"-A INPUT -m conntrack --ctstate NEW,RELATED,ESTABLISHED -j ACCEPT\n"
	ds := CutOff(load6(t, "t", base+"COMMIT\n", false))
	if len(ds) == 0 || !strings.Contains(ds[0].Msg, "neighbour solicitation (type 135), neighbour advertisement (type 136), by the INPUT policy DROP") {
		t.Fatalf("CutOff: %v", ds)
	}
	// The lines offered, as restore lines.
	_, lines, _ := strings.Cut(ds[0].Msg, "add:\n    ")
	fixed := base
	for _, l := range strings.Split(lines, "\n    ") {
		fixed += strings.TrimPrefix(l, "ip6tables ") + "\n"
	}
	fixed += "COMMIT\n"
	ns, err := packet.ParseDescLine([]byte(`{"in":"eth0","src":"fe80::ff:fe00:101","dst":"ff02::1:ff00:1","proto":"icmpv6","type":135,"target":"2001:db8:100::1","ttl":255}`))
	if err != nil {
		t.Fatal(err)
	}
	pkt, err := ns.Build(0)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range kernel.Backends {
		t.Run(string(b), func(t *testing.T) {
			fw := kernel.NewFirewallWith(t, b, kernel.Options{IPv6: true})
			send := func(rules string) (map[kernel.RuleKey]kernel.Counter, map[string][][]byte) {
				t.Helper()
				if err := fw.Restore6(rules); err != nil {
					t.Fatal(err)
				}
				before, err := fw.Counters6()
				if err != nil {
					t.Fatal(err)
				}
				if err := fw.Inject("eth0", pkt); err != nil {
					t.Fatal(err)
				}
				out, err := fw.CaptureAll()
				if err != nil {
					t.Fatal(err)
				}
				after, err := fw.Counters6()
				if err != nil {
					t.Fatal(err)
				}
				return kernel.Diff(before, after), out
			}
			hits, out := send(base + "COMMIT\n")
			if len(hits) != 1 || hits[kernel.RuleKey{Table: "filter", Chain: "INPUT", Rule: 0}].Packets != 1 || len(out["eth0"]) != 0 {
				t.Errorf("as written: counters %s, sent %d packets; want the INPUT policy to drop the solicitation", kernel.FormatCounters(hits), len(out["eth0"]))
			}
			hits, out = send(fixed)
			if hits[kernel.RuleKey{Table: "filter", Chain: "INPUT", Rule: 3}].Packets != 1 || hits[kernel.RuleKey{Table: "filter", Chain: "INPUT", Rule: 0}].Packets != 0 || len(out["eth0"]) != 1 {
				t.Errorf("fixed: counters %s, sent %d packets; want rule 3 to accept the solicitation and the host to advertise", kernel.FormatCounters(hits), len(out["eth0"]))
			}
		})
	}
}
