package kerneldiff

import (
	"fmt"
	"math"
	"net/netip"
	"testing"
	"time"

	"github.com/ipsift/ipsift/engine"
	"github.com/ipsift/ipsift/internal/kernel"
	"github.com/ipsift/ipsift/load"
	"github.com/ipsift/ipsift/packet"
	"github.com/ipsift/ipsift/sim"
)

// What the kernel decides at random is compared by property: both the
// kernel and ipsift (whose random choices are seeded) must show it.

// newSim loads rules into a fresh ipsift simulator with the given seed.
func newSim(t *testing.T, b kernel.Backend, rules string, seed uint64) *sim.Simulator {
	t.Helper()
	lr := load.Bytes("random.rules", []byte(rules), load.Options{})
	if lr.Diags.HasErrors() {
		t.Fatal(lr.Err())
	}
	e, err := engine.New(lr.Rules, nil, engine.Config{Legacy: b == kernel.Legacy, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	return sim.New(e)
}

// TestStatisticRandomDistribution sends n packets through a rule
// matching with probability p, on the kernel and on ipsift (three seeds),
// and checks that each matched a binomially plausible share: within five
// standard deviations of n·p (a false alarm about once in 1.7 million
// runs).
func TestStatisticRandomDistribution(t *testing.T) {
	kernel.Require(t)
	const n, p = 400, 0.25
	rules := "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n" +
		fmt.Sprintf("-A FORWARD -p udp -m statistic --mode random --probability %g -j DROP\n", p) + "COMMIT\n"
	mean, sd := n*p, math.Sqrt(n*p*(1-p))
	plausible := func(k int) bool { return math.Abs(float64(k)-mean) <= 5*sd }
	pkt := func(i int) packet.Desc {
		return packet.Desc{In: "wlan0", Src: netip.MustParseAddr("192.0.2.10"), Dst: netip.MustParseAddr("203.0.113.50"),
			Proto: packet.ProtoUDP, Sport: uint16(20000 + i), Dport: 53}
	}
	for _, b := range kernel.Backends {
		t.Run(string(b), func(t *testing.T) {
			fw := kernel.NewFirewall(t, b)
			if err := fw.Restore(rules); err != nil {
				t.Fatal(err)
			}
			for i := range n {
				data, err := pkt(i).Build(i)
				if err != nil {
					t.Fatal(err)
				}
				if err := fw.Inject("wlan0", data); err != nil {
					t.Fatal(err)
				}
			}
			c, err := fw.Counters()
			if err != nil {
				t.Fatal(err)
			}
			hits := int(c[kernel.RuleKey{Table: "filter", Chain: "FORWARD", Rule: 1}].Packets)
			passed := int(c[kernel.RuleKey{Table: "filter", Chain: "FORWARD"}].Packets)
			if hits+passed != n {
				t.Fatalf("kernel: %d matched + %d passed, want %d packets in all", hits, passed, n)
			}
			if !plausible(hits) {
				t.Errorf("kernel: %d of %d matched with probability %g, outside %.0f ± %.0f", hits, n, p, mean, 5*sd)
			}
			for seed := uint64(1); seed <= 3; seed++ {
				s := newSim(t, b, rules, seed)
				ours := 0
				for i := range n {
					r, err := s.Run(i, pkt(i))
					if err != nil {
						t.Fatal(err)
					}
					if r.Verdict == "drop" {
						ours++
					}
				}
				if !plausible(ours) {
					t.Errorf("ipsift seed %d: %d of %d matched with probability %g, outside %.0f ± %.0f", seed, ours, n, p, mean, 5*sd)
				}
				t.Logf("seed %d: ipsift %d, kernel %d of %d (expected %.0f ± %.1f)", seed, ours, hits, n, mean, sd)
			}
		})
	}
}

// TestNATRandomPorts sends flows through source NAT to a port range
// with --random and --random-fully, and through a plain SNAT where two
// flows clash on one source port: on the kernel and on ipsift, every
// rewritten source is the NAT address, every port lies in the range (or,
// without one, in the class of the original port: below 512, below 1024,
// or above), and no two flows share a port.
func TestNATRandomPorts(t *testing.T) {
	kernel.Require(t)
	const flows = 24
	cases := []struct {
		name, target string
		lo, hi       uint16
		sameSport    bool // every flow from a different host, one source port
	}{
		{"random", "SNAT --to-source 198.51.100.1:20000-20063 --random", 20000, 20063, false},
		{"random-fully", "SNAT --to-source 198.51.100.1:20000-20063 --random-fully", 20000, 20063, false},
		{"masquerade-random", "MASQUERADE --to-ports 30000-30031 --random", 30000, 30031, false},
		{"clash", "SNAT --to-source 198.51.100.1", 1024, 65535, true},
	}
	for _, b := range kernel.Backends {
		for _, tc := range cases {
			t.Run(string(b)+"/"+tc.name, func(t *testing.T) {
				rules := "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n" +
					"-A POSTROUTING -o eth0 -p udp -j " + tc.target + "\nCOMMIT\n"
				var descs []packet.Desc
				for i := range flows {
					d := packet.Desc{In: "wlan0", Src: netip.MustParseAddr("192.0.2.10"), Dst: netip.MustParseAddr("203.0.113.50"),
						Proto: packet.ProtoUDP, Sport: uint16(5000 + i), Dport: 53}
					if tc.sameSport {
						d.Src = netip.AddrFrom4([4]byte{192, 0, 2, byte(10 + i)})
						d.Sport = 5000
					}
					descs = append(descs, d)
				}
				check := func(who string, outs []sim.Out) {
					t.Helper()
					if len(outs) != flows {
						t.Fatalf("%s: %d packets left on eth0, want %d", who, len(outs), flows)
					}
					seen := map[uint16]bool{}
					for _, o := range outs {
						if o.Src != "198.51.100.1" || o.Sport == nil {
							t.Fatalf("%s: %s left unmapped", who, outString(o))
						}
						port := *o.Sport
						if port < tc.lo || port > tc.hi {
							t.Errorf("%s: port %d outside %d-%d", who, port, tc.lo, tc.hi)
						}
						if seen[port] {
							t.Errorf("%s: port %d given to two flows", who, port)
						}
						seen[port] = true
					}
				}
				fw := kernel.NewFirewall(t, b)
				if err := fw.Restore(rules); err != nil {
					t.Fatal(err)
				}
				var kout []sim.Out
				for i, d := range descs {
					data, err := d.Build(i)
					if err != nil {
						t.Fatal(err)
					}
					if err := fw.Inject("wlan0", data); err != nil {
						t.Fatal(err)
					}
					// One packet leaves for each flow: wait for it, as
					// the kernel may forward it late under load.
					got, err := fw.CaptureN("eth0", 1, 5*time.Second)
					if err != nil {
						t.Fatal(err)
					}
					var frames []engine.OutPacket
					for _, f := range got {
						frames = append(frames, engine.OutPacket{Iface: "eth0", Data: f})
					}
					kout = append(kout, sim.Convert(i, &engine.Result{Out: frames}).Out...)
				}
				check("kernel", kout)
				s := newSim(t, b, rules, 7)
				var ours []sim.Out
				for i, d := range descs {
					r, err := s.Run(i, d)
					if err != nil {
						t.Fatal(err)
					}
					ours = append(ours, r.Out...)
				}
				check("ipsift", ours)
			})
		}
	}
}
