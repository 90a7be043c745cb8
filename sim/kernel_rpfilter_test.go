package sim

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/ipsift/ipsift/engine"
	"github.com/ipsift/ipsift/internal/kernel"
	"github.com/ipsift/ipsift/packet"
	"github.com/ipsift/ipsift/rules"
)

// rpfilterRules counts, in raw and mangle PREROUTING, the packets each
// form of -m rpfilter matches; rules without a target, so every packet
// meets every rule. The MARK first gives --validmark a mark to carry.
const rpfilterRules = `*raw
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A PREROUTING -j MARK --set-xmark 0x7/0xffffffff
-A PREROUTING -m rpfilter
-A PREROUTING -m rpfilter --loose
-A PREROUTING -m rpfilter --accept-local
-A PREROUTING -m rpfilter --loose --accept-local
-A PREROUTING -m rpfilter --validmark
-A PREROUTING -m rpfilter --invert
-A PREROUTING -m rpfilter --loose --invert
-A PREROUTING -m rpfilter --accept-local --invert
-A PREROUTING -m rpfilter --loose --validmark --accept-local --invert
COMMIT
*mangle
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -m rpfilter
-A PREROUTING -m rpfilter --loose --accept-local
COMMIT
`

// rpfilterPackets come in on each side of the reference host with
// sources from each side, the host's own addresses (eth0's, wlan0's,
// loopback's), broadcast and multicast sources, and 0.0.0.0 towards the
// limited broadcast, link-local multicast and elsewhere. They are echo
// replies, which the host's stack does not answer: its answers (an ICMP
// error to a subnet broadcast source comes back in on lo) would add
// PREROUTING counts that are not the packet's.
var rpfilterPackets = []string{
	"eth0 icmp 203.0.113.7 > 198.51.100.1 type 0",
	"eth0 icmp 198.51.100.9 > 192.0.2.10 type 0",
	"eth0 icmp 192.0.2.10 > 198.51.100.1 type 0",
	"wlan0 icmp 192.0.2.10 > 203.0.113.7 type 0",
	"wlan0 icmp 203.0.113.7 > 192.0.2.1 type 0",
	"wlan0 icmp 198.51.100.9 > 192.0.2.1 type 0",
	"eth0 icmp 198.51.100.1 > 198.51.100.1 type 0",
	"wlan0 icmp 198.51.100.1 > 192.0.2.1 type 0",
	"eth0 icmp 192.0.2.1 > 198.51.100.1 type 0",
	"wlan0 icmp 192.0.2.1 > 192.0.2.1 type 0",
	"eth0 icmp 127.0.0.1 > 198.51.100.1 type 0",
	"eth0 icmp 198.51.100.255 > 198.51.100.1 type 0",
	"wlan0 icmp 192.0.2.255 > 192.0.2.1 type 0",
	"wlan0 icmp 0.0.0.0 > 255.255.255.255 type 0",
	"eth0 icmp 0.0.0.0 > 255.255.255.255 type 0",
	"wlan0 icmp 0.0.0.0 > 224.0.0.22 type 0",
	"wlan0 icmp 0.0.0.0 > 224.0.1.1 type 0",
	"wlan0 icmp 0.0.0.0 > 192.0.2.1 type 0",
	"eth0 icmp 0.0.0.0 > 198.51.100.1 type 0",
	"wlan0 icmp 0.1.2.3 > 255.255.255.255 type 0",
	"eth0 icmp 224.0.0.5 > 198.51.100.1 type 0",
	"wlan0 icmp 224.0.0.5 > 192.0.2.1 type 0",
	"eth0 icmp 255.255.255.255 > 198.51.100.1 type 0",
	"wlan0 icmp 255.255.255.255 > 192.0.2.1 type 0",
}

// TestKernelRpfilter sends rpfilterPackets through the kernel and through
// ipsift on the default host and compares, packet by packet, which
// rpfilter rules matched in raw and mangle PREROUTING. (Only PREROUTING:
// the kernel drops the packets from martian sources, 0.0.0.0, 127.0.0.1,
// multicast and broadcast, after PREROUTING, where ipsift delivers or
// forwards them; kerneldiff.Compare shows that.)
func TestKernelRpfilter(t *testing.T) {
	kernel.Require(t)
	rs := rules.New()
	if _, err := rs.Restore(strings.NewReader(rpfilterRules), rules.RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	var descs []packet.Desc
	for _, p := range rpfilterPackets {
		d, err := packet.ParseShort(p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		descs = append(descs, d)
	}
	prerouting := func(h Hit) bool { return h.Chain == "PREROUTING" }
	for _, b := range kernel.Backends {
		t.Run(string(b), func(t *testing.T) {
			fw := kernel.NewFirewall(t, b)
			if err := fw.Restore(rpfilterRules); err != nil {
				t.Fatal(err)
			}
			e, err := engine.New(rs, nil, engine.Config{Legacy: b == kernel.Legacy})
			if err != nil {
				t.Fatal(err)
			}
			s := New(e)
			for i, d := range descs {
				data, err := d.Build(i)
				if err != nil {
					t.Fatal(err)
				}
				got, err := s.Run(i, d)
				if err != nil {
					t.Fatal(err)
				}
				before, err := fw.SaveCounters()
				if err != nil {
					t.Fatal(err)
				}
				if err := fw.Inject(d.In, data); err != nil {
					t.Fatal(err)
				}
				after, err := fw.SaveCounters()
				if err != nil {
					t.Fatal(err)
				}
				var kh []Hit
				for k, c := range kernel.Diff(kernel.ParseSaveCounters(before), kernel.ParseSaveCounters(after)) {
					for j := uint64(0); j < c.Packets; j++ {
						kh = append(kh, Hit{Table: k.Table, Chain: k.Chain, Rule: k.Rule})
					}
				}
				want, have := hitKeys(kh, prerouting), hitKeys(got.Hits, prerouting)
				if want.String() != have.String() {
					t.Errorf("%s:\n kernel: %s\n ipsift: %s", rpfilterPackets[i], want, have)
				}
			}
		})
	}
}

// keyCount counts hits by table/chain/rule.
type keyCount map[string]int

func hitKeys(hs []Hit, keep func(Hit) bool) keyCount {
	m := keyCount{}
	for _, h := range hs {
		if keep(h) {
			m[fmt.Sprintf("%s/%s/%d", h.Table, h.Chain, h.Rule)]++
		}
	}
	return m
}

func (k keyCount) String() string {
	var s []string
	for key, n := range k {
		s = append(s, fmt.Sprintf("%s×%d", key, n))
	}
	sort.Strings(s)
	return strings.Join(s, " ")
}
