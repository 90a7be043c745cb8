package sim

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ipsift/ipsift/conntrack"
	"github.com/ipsift/ipsift/engine"
	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/internal/kernel"
	"github.com/ipsift/ipsift/packet"
	"github.com/ipsift/ipsift/rules"
)

// ctRules tells connections apart by everything a connection context
// sets: state, direction, status (NAT, assured), mark. The nat table is
// there for its hooks: without them, no NAT binding rewrites a packet.
const ctRules = `*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
COMMIT
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -m connmark --mark 0x10 -j ACCEPT
-A INPUT -m conntrack --ctstate ESTABLISHED --ctdir REPLY -j ACCEPT
-A INPUT -m conntrack --ctstate ESTABLISHED --ctstatus ASSURED -j ACCEPT
-A INPUT -m conntrack --ctstate ESTABLISHED -j ACCEPT
-A INPUT -m conntrack --ctstate NEW -j ACCEPT
-A INPUT -m conntrack --ctstate INVALID -j DROP
-A FORWARD -m conntrack --ctstate DNAT --ctorigdst 198.51.100.1 -j ACCEPT
-A FORWARD -m conntrack --ctstate ESTABLISHED -j ACCEPT
COMMIT
`

// conntrackInsert returns the conntrack -I arguments that create p.
func conntrackInsert(p conntrack.Preload) []string {
	o, r := p.Orig, p.Reply
	args := []string{"conntrack", "-I", "-p", packet.Proto(o.Proto).String(),
		"-s", o.SrcAddr().String(), "-d", o.DstAddr().String(),
		"-r", r.SrcAddr().String(), "-q", r.DstAddr().String()}
	switch o.Proto {
	case packet.ProtoTCP, packet.ProtoUDP:
		args = append(args, "--sport", fmt.Sprint(o.SrcPort), "--dport", fmt.Sprint(o.DstPort),
			"--reply-port-src", fmt.Sprint(r.SrcPort), "--reply-port-dst", fmt.Sprint(r.DstPort))
	case packet.ProtoICMP:
		args = append(args, "--icmp-type", fmt.Sprint(o.ICMPType()), "--icmp-code", fmt.Sprint(o.ICMPCode()), "--icmp-id", fmt.Sprint(o.SrcPort))
	case packet.ProtoICMPv6:
		args = append(args, "--icmpv6-type", fmt.Sprint(o.ICMPType()), "--icmpv6-code", fmt.Sprint(o.ICMPCode()), "--icmpv6-id", fmt.Sprint(o.SrcPort))
	}
	if o.Proto == packet.ProtoTCP {
		args = append(args, "--state", p.TCPState.String())
	}
	// The NAT the tuples say (conntrack.Insert's reading) goes to the
	// kernel as a binding (ctnetlink's CTA_NAT_DST and CTA_NAT_SRC) on
	// an entry created with the untranslated reply tuple: the kernel
	// derives the translated one itself (nf_nat_setup_info) and sets
	// IPS_DST_NAT or IPS_SRC_NAT. Given the translated reply tuple
	// instead, with or without the binding, it finds the NAT already
	// done, sets no status bit and lets the packets pass untranslated.
	ports := o.Proto == packet.ProtoTCP || o.Proto == packet.ProtoUDP
	natArg := func(a netip.Addr, port, origPort uint16) string {
		if ports && port != origPort {
			return netip.AddrPortFrom(a, port).String()
		}
		return a.String()
	}
	var nat []string
	if r.SrcAddr() != o.DstAddr() || ports && r.SrcPort != o.DstPort {
		nat = append(nat, "--dst-nat", natArg(r.SrcAddr(), r.SrcPort, o.DstPort))
	}
	if r.DstAddr() != o.SrcAddr() || ports && r.DstPort != o.SrcPort {
		nat = append(nat, "--src-nat", natArg(r.DstAddr(), r.DstPort, o.SrcPort))
	}
	if len(nat) > 0 {
		args[9], args[11] = o.DstAddr().String(), o.SrcAddr().String() // -r, -q
		if ports {
			args[17], args[19] = fmt.Sprint(o.DstPort), fmt.Sprint(o.SrcPort) // --reply-port-src, -dst
		}
		args = append(args, nat...)
	}
	var status []string
	if p.SeenReply {
		status = append(status, "SEEN_REPLY")
	}
	if p.Assured {
		status = append(status, "ASSURED")
	}
	if len(status) > 0 {
		args = append(args, "-u", strings.Join(status, ","))
	}
	return append(args, "-t", fmt.Sprint(int(p.Timeout.Seconds())), "-m", fmt.Sprint(p.Mark))
}

// TestKernelConnectionContext creates each packet's connection in the
// kernel with conntrack -I, sends the packet, and requires the counters
// it raised to be the ones ipsift's hits name.
func TestKernelConnectionContext(t *testing.T) {
	kernel.Require(t)
	lines := []string{
		"eth0 tcp 203.0.113.7:40000 > 198.51.100.1:22 A",
		"eth0 tcp 203.0.113.7:40000 > 198.51.100.1:22 A ct=established",
		"eth0 tcp 203.0.113.7:40001 > 198.51.100.1:22 A ct=established,reply",
		"eth0 tcp 203.0.113.7:40002 > 198.51.100.1:22 A ct=syn_recv",
		"eth0 tcp 203.0.113.7:40003 > 198.51.100.1:22 A ct=established,mark=0x10",
		"eth0 tcp 203.0.113.7:40004 > 198.51.100.1:22 FA ct=time_wait",
		"eth0 udp 203.0.113.7:5000 > 198.51.100.1:53 ct=established",
		"eth0 udp 203.0.113.7:5001 > 198.51.100.1:53 ct=unreplied,timeout=50",
		"eth0 icmp 203.0.113.7 > 198.51.100.1 echo-reply ct=established,reply",
		"eth0 tcp 203.0.113.7:40010 > 198.51.100.1:2222 A ct=established,dnat=192.0.2.50:22",
		"wlan0 udp 192.0.2.10:53000 > 198.51.100.9:53 ct=established,snat=198.51.100.1",
		`eth0 udp 198.51.100.9:53 > 198.51.100.1:53001 ct="ipv4 2 udp 17 30 src=192.0.2.10 dst=198.51.100.9 sport=53001 dport=53 src=198.51.100.9 dst=198.51.100.1 sport=53 dport=53001 mark=0 use=1"`,
		`eth0 tcp 203.0.113.7:40006 > 198.51.100.1:22 A ct="ipv4 2 tcp 6 300 ESTABLISHED src=198.51.100.1 dst=203.0.113.7 sport=22 dport=40006 src=203.0.113.7 dst=198.51.100.1 sport=40006 dport=22 mark=0 use=1"`,
	}
	testConnectionContext(t, ctRules, false, lines)
}

// ctRules6 is ctRules for ip6tables, on the IPv6 twin of the host.
var ctRules6 = strings.ReplaceAll(ctRules, "--ctorigdst 198.51.100.1", "--ctorigdst 2001:db8:100::1")

// TestKernelConnectionContext6 is TestKernelConnectionContext for IPv6:
// states, directions, ICMPv6 and NAT66 contexts.
func TestKernelConnectionContext6(t *testing.T) {
	kernel.Require(t)
	lines := []string{
		"eth0 tcp [2001:db8:113::7]:40000 > [2001:db8:100::1]:22 A",
		"eth0 tcp [2001:db8:113::7]:40000 > [2001:db8:100::1]:22 A ct=established",
		"eth0 tcp [2001:db8:113::7]:40001 > [2001:db8:100::1]:22 A ct=established,reply",
		"eth0 tcp [2001:db8:113::7]:40003 > [2001:db8:100::1]:22 A ct=established,mark=0x10",
		"eth0 udp [2001:db8:113::7]:5000 > [2001:db8:100::1]:53 ct=established",
		"eth0 udp [2001:db8:113::7]:5001 > [2001:db8:100::1]:53 ct=unreplied,timeout=50",
		"eth0 icmpv6 2001:db8:113::7 > 2001:db8:100::1 echo-reply ct=established,reply",
		"eth0 tcp [2001:db8:113::7]:40010 > [2001:db8:100::1]:2222 A ct=established,dnat=[2001:db8:2::50]:22",
		"wlan0 udp [2001:db8:2::10]:53000 > [2001:db8:100::9]:53 ct=established,snat=2001:db8:100::1",
		`eth0 udp [2001:db8:100::9]:53 > [2001:db8:100::1]:53001 ct="ipv6 10 udp 17 30 src=2001:db8:2::10 dst=2001:db8:100::9 sport=53001 dport=53 src=2001:db8:100::9 dst=2001:db8:100::1 sport=53 dport=53001 mark=0 use=1"`,
	}
	testConnectionContext(t, ctRules6, true, lines)
}

// testConnectionContext runs TestKernelConnectionContext's lines with
// ruleset text, IPv6 ones on the host's IPv6 twin when six.
func testConnectionContext(t *testing.T, text string, six bool, lines []string) {
	rs := rules.New()
	if six {
		rs.Family = ext.IPv6
	}
	if _, err := rs.Restore(strings.NewReader(text), rules.RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, b := range kernel.Backends {
		t.Run(string(b), func(t *testing.T) {
			fw := kernel.NewFirewallWith(t, b, kernel.Options{IPv6: six})
			restore, counters := fw.Restore, fw.Counters
			if six {
				restore, counters = fw.Restore6, fw.Counters6
			}
			if err := restore(text); err != nil {
				t.Fatal(err)
			}
			for i, l := range lines {
				d, err := packet.ParseShort(l)
				if err != nil {
					t.Fatal(err)
				}
				if six {
					addNeighbours6(t, fw, d)
				} else {
					addNeighbours(t, fw, []packet.Desc{d})
				}
				if err := fw.FlushConntrack(); err != nil {
					t.Fatal(err)
				}
				if d.CT != nil {
					p, err := conntrack.ContextOf(d)
					if err != nil {
						t.Fatal(err)
					}
					if out, err := fw.Run(conntrackInsert(p)...); err != nil {
						t.Fatalf("%s: %v\n%s", l, err, out)
					}
				}
				before, err := counters()
				if err != nil {
					t.Fatal(err)
				}
				data, _ := d.Build(i)
				if err := fw.Inject(d.In, data); err != nil {
					t.Fatal(err)
				}
				caps, err := fw.CaptureAll()
				if err != nil {
					t.Fatal(err)
				}
				after, err := counters()
				if err != nil {
					t.Fatal(err)
				}
				var theirs []string
				diff := kernel.Diff(before, after)
				for _, k := range kernel.SortedKeys(diff) {
					if k.Table == "filter" && k.Chain != "OUTPUT" {
						theirs = append(theirs, k.String())
					}
				}
				var e *engine.Engine
				if six {
					e, err = engine.New(rules.New(), nil, engine.Config{Rules6: rs})
				} else {
					e, err = engine.New(rs, nil, engine.Config{})
				}
				if err != nil {
					t.Fatal(err)
				}
				res, err := New(e).Run(i, d)
				if err != nil {
					t.Fatal(err)
				}
				var mine []string
				for _, h := range res.Hits {
					if h.Table == "filter" && h.Chain != "OUTPUT" {
						mine = append(mine, kernel.RuleKey{Table: h.Table, Chain: h.Chain, Rule: h.Rule}.String())
					}
				}
				// What left, with its addresses and ports after NAT.
				for ifc, ps := range caps {
					for _, b := range ps {
						theirs = append(theirs, outKey(describe(engine.OutPacket{Iface: ifc, Data: b})))
					}
				}
				for _, o := range res.Out {
					mine = append(mine, outKey(o))
				}
				sort.Strings(theirs)
				sort.Strings(mine)
				if strings.Join(mine, "; ") != strings.Join(theirs, "; ") {
					t.Errorf("%s:\nkernel: %s\nipsift: %s\n%s", l, strings.Join(theirs, "; "), strings.Join(mine, "; "), kernelState(fw, six, before, after))
				} else {
					t.Logf("%s: %s", l, strings.Join(mine, "; "))
				}
			}
		})
	}
}

// outKey names a packet that left by its interface, addresses and ports.
func outKey(o Out) string {
	k := fmt.Sprintf("out %s %v %s > %s", o.If, o.Proto, o.Src, o.Dst)
	if o.Sport != nil && o.Dport != nil {
		k += fmt.Sprintf(" %d > %d", *o.Sport, *o.Dport)
	}
	return k
}

// addNeighbours6 gives the kernel's IPv6 twin a neighbour entry for each
// address of d on one of its links (the host's own aside).
func addNeighbours6(t *testing.T, fw *kernel.Firewall, d packet.Desc) {
	links := map[string]netip.Prefix{"eth0": netip.MustParsePrefix("2001:db8:100::/64"), "wlan0": netip.MustParsePrefix("2001:db8:2::/64")}
	addrs := []netip.Addr{d.Src, d.Dst}
	if d.CT != nil {
		addrs = append(addrs, d.CT.DNAT.Addr()) // where the packet goes on
	}
	for _, a := range addrs {
		for ifname, p := range links {
			if a.IsValid() && p.Contains(a) && a != p.Addr().Next() {
				if err := fw.AddNeighbour(ifname, a); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

// kernelState describes, for a failure, what the kernel held when the
// counters were read: its connection table, its IP counters, and which
// counters rose between the read after the packet and one a moment
// later (a packet the kernel handled late would show there, not in the
// comparison).
func kernelState(fw *kernel.Firewall, six bool, before, after map[kernel.RuleKey]kernel.Counter) string {
	var b strings.Builder
	out, err := fw.Run("conntrack", "-L")
	fmt.Fprintf(&b, "kernel's connections (%v):\n%s\n", err, out)
	delivered := fw.Delivered
	if six {
		delivered = fw.Delivered6
	}
	ip, err := delivered()
	fmt.Fprintf(&b, "kernel's IP counters now: %+v (%v)\n", ip, err)
	time.Sleep(100 * time.Millisecond)
	counters := fw.Counters
	if six {
		counters = fw.Counters6
	}
	later, err := counters()
	if err != nil {
		fmt.Fprintf(&b, "counters 100 ms later: %v\n", err)
		return b.String()
	}
	var rose []string
	for _, k := range kernel.SortedKeys(kernel.Diff(after, later)) {
		rose = append(rose, k.String())
	}
	fmt.Fprintf(&b, "counters that rose in the 100 ms after the comparison: %v\n", rose)
	var all []string
	for _, k := range kernel.SortedKeys(kernel.Diff(before, later)) {
		all = append(all, k.String())
	}
	fmt.Fprintf(&b, "every counter the packet raised by then: %v", all)
	return b.String()
}
