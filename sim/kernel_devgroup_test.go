package sim_test

import (
	"testing"

	"github.com/ipsift/ipsift/internal/kernel"
	"github.com/ipsift/ipsift/internal/kerneldiff"
	"github.com/ipsift/ipsift/packet"
)

// devgroupRules count, in every hook, the packets each form of -m
// devgroup matches (rules without a target, so every packet meets every
// rule), plus a user chain reached from FORWARD only (the one hook where
// both tests may be used) and a filter FORWARD that decides by group.
const devgroupRules = `*mangle
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:DG - [0:0]
-A PREROUTING -m devgroup --src-group 0x5
-A PREROUTING -m devgroup ! --src-group 0x5
-A PREROUTING -m devgroup --src-group 0xc/0xc
-A PREROUTING -m devgroup ! --src-group 0x4/0x4
-A PREROUTING -m devgroup --src-group default
-A INPUT -m devgroup --src-group 0x1c
-A INPUT -m devgroup ! --src-group 0x1/0x1
-A FORWARD -m devgroup --src-group 0x5 --dst-group 0x1c
-A FORWARD -m devgroup ! --src-group 0x5 --dst-group 0x5
-A FORWARD -m devgroup ! --src-group 0x5 ! --dst-group 0x5
-A FORWARD -j DG
-A OUTPUT -m devgroup --dst-group 0x5
-A OUTPUT -m devgroup ! --dst-group 0x1c
-A OUTPUT -m devgroup --dst-group 0x8/0x8
-A POSTROUTING -m devgroup --dst-group 0xc/0xc
-A POSTROUTING -m devgroup ! --dst-group 0x5
-A POSTROUTING -m devgroup --dst-group 0x0/0xffff0000
-A DG -m devgroup --src-group 0x1c ! --dst-group 0x1c
-A DG -m devgroup --dst-group 0x1c -j RETURN
-A DG -m devgroup --src-group 0x1c
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A FORWARD -m devgroup --src-group 0x4/0x4 --dst-group 0x1c -j ACCEPT
-A FORWARD -m devgroup ! --src-group 0x5 -j ACCEPT
COMMIT
`

// devgroupPackets arrive on eth0 (group 5) and wlan0 (group 0x1c) for
// the host and for the other side, and leave the host by each of them.
// Echo replies and UDP to closed ports of other hosts: nothing the host's
// stack answers but the port unreachables, which go out through OUTPUT
// and POSTROUTING by the group of their interface.
var devgroupPackets = []string{
	"eth0 icmp 203.0.113.7 > 198.51.100.1 type 0",
	"eth0 icmp 203.0.113.7 > 192.0.2.10 type 0",
	"eth0 udp 198.51.100.9:5000 > 192.0.2.10:53",
	"wlan0 icmp 192.0.2.10 > 192.0.2.1 type 0",
	"wlan0 icmp 192.0.2.10 > 203.0.113.7 type 0",
	"wlan0 udp 192.0.2.10:5000 > 198.51.100.9:53",
	"wlan0 udp 192.0.2.10:5000 > 192.0.2.1:9",
	"local icmp 198.51.100.1 > 203.0.113.7 type 0",
	"local udp 192.0.2.1:5000 > 192.0.2.10:53",
	"local icmp 198.51.100.1 > 198.51.100.9 type 0",
}

// TestKernelDevgroup puts the kernel firewall's eth0 in device group 5
// and wlan0 in 0x1c (ip link set dev X group N), ipsift's host the same
// (the host file's `group N`), and requires every rule's counter and
// every verdict and packet out to agree, on both backends.
func TestKernelDevgroup(t *testing.T) { testDevgroup(t, devgroupPackets) }

// testDevgroup runs packets through devgroupRules on both backends, the
// kernel's eth0 in device group 5 and wlan0 in 0x1c.
func testDevgroup(t *testing.T, packets []string) {
	kernel.Require(t)
	var descs []packet.Desc
	for _, s := range packets {
		d, err := packet.ParseShort(s)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		descs = append(descs, d)
	}
	groups := map[string]uint32{"eth0": 5, "wlan0": 0x1c}
	for _, b := range kernel.Backends {
		t.Run(string(b), func(t *testing.T) {
			diffs := kerneldiff.CompareGroups(t, b, groups, devgroupRules, descs)
			for _, d := range diffs {
				t.Errorf("%s", d)
			}
			t.Logf("%s: %d packets, %d differences", b, len(descs), len(diffs))
		})
	}
}

// devgroupPackets6 are devgroupPackets' IPv6 twins (packets.md, "IPv6").
var devgroupPackets6 = []string{
	"eth0 icmpv6 2001:db8:113::7 > 2001:db8:100::1 echo-reply",
	"eth0 icmpv6 2001:db8:113::7 > 2001:db8:2::10 echo-reply",
	"eth0 udp [2001:db8:100::9]:5000 > [2001:db8:2::10]:53",
	"wlan0 icmpv6 2001:db8:2::10 > 2001:db8:2::1 echo-reply",
	"wlan0 icmpv6 2001:db8:2::10 > 2001:db8:113::7 echo-reply",
	"wlan0 udp [2001:db8:2::10]:5000 > [2001:db8:100::9]:53",
	"local icmpv6 2001:db8:100::1 > 2001:db8:113::7 echo-reply",
	"local udp [2001:db8:2::1]:5000 > [2001:db8:2::10]:53",
}

// TestKernelDevgroup6 is TestKernelDevgroup for ip6tables on the host's
// IPv6 twin: the same rules, loaded with ip6tables-restore.
func TestKernelDevgroup6(t *testing.T) { testDevgroup(t, devgroupPackets6) }
