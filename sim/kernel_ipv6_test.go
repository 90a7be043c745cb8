package sim_test

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ipsift/ipsift/engine"
	"github.com/ipsift/ipsift/internal/kernel"
	"github.com/ipsift/ipsift/load"
	"github.com/ipsift/ipsift/packet"
	"github.com/ipsift/ipsift/sim"
)

// ipv6Rules is a stateless ip6tables ruleset (no conntrack: the kernel
// neither tracks nor reassembles IPv6) over the kernel facts of issue
// 10: -p through extension headers, AH, No Next Header, the
// extension-header matches, ICMPv6 and neighbour discovery, REJECT.
const ipv6Rules = `*mangle
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -p tcp
-A PREROUTING -p ah
-A PREROUTING -p 59
-A PREROUTING -m ipv6header --header hop-by-hop,ipv6-opts,protocol
-A PREROUTING -m frag --fragmore
-A PREROUTING -m hl --hl-lt 5
-A INPUT -j LOG --log-prefix "%[1]sin: "
-A INPUT -m ipv6header --header ipv6-opts,ipv6-frag,ah,hop-by-hop --soft -j LOG --log-prefix "%[1]sopt: " --log-ip-options
-A FORWARD -m rt --rt-type 0 --rt-segsleft 1
-A FORWARD -j LOG --log-prefix "%[1]sfwd: " --log-ip-options
-A OUTPUT -p ipv6-icmp -m icmp6 --icmpv6-type 136
-A OUTPUT -j LOG --log-prefix "%[1]sout: " --log-tcp-sequence
-A FORWARD -p tcp -m tcp --dport 80 -j HL --hl-dec 2
-A FORWARD -p udp -j TOS --set-tos 0x10/0x3f
-A FORWARD -p tcp -m tcp --dport 22 --tcp-flags SYN,RST SYN -j TCPMSS --set-mss 1300
-A FORWARD -p tcp -m tcp --dport 23 --tcp-flags SYN,RST SYN -j TCPMSS --clamp-mss-to-pmtu
-A POSTROUTING -o eth0 -p ipv6-icmp
-A POSTROUTING -o wlan0 -p tcp -j DSCP --set-dscp 0x0a
COMMIT
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:admin - [0:0]
-A INPUT -i lo -j ACCEPT
-A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type 135 -j ACCEPT
-A INPUT -m addrtype --dst-type MULTICAST -j DROP
-A INPUT -s 2001:db8:113::/64 -j admin
-A INPUT -p udp -m udp --dport 53 -j ACCEPT
-A INPUT -m dst --dst-len 16 -j ACCEPT
-A INPUT -p 59 -j ACCEPT
-A INPUT -p tcp -m tcp --dport 25 -j REJECT --reject-with tcp-reset
-A INPUT -p udp -j REJECT --reject-with icmp6-adm-prohibited
-A FORWARD -i wlan0 -o eth0 -j ACCEPT
-A FORWARD -d 2001:db8:2::10/128 -p tcp -m multiport --dports 22,80 -j ACCEPT
-A FORWARD -m frag -j ACCEPT
-A admin -p tcp -m tcp --dport 22 -j ACCEPT
-A admin -p tcp -m tcp --dport 23 -j RETURN
-A admin -m length --length 0:60 -j ACCEPT
COMMIT
`

// ipv6Packets are short-form packets aimed at the rules and the host's
// stack from both links and from the host itself.
var ipv6Packets = []string{
	"eth0 tcp [2001:db8:113::7]:40000 > [2001:db8:100::1]:22 S",
	"eth0 tcp [2001:db8:113::7]:40001 > [2001:db8:100::1]:23 S",
	"eth0 tcp [2001:db8:114::7]:40002 > [2001:db8:100::1]:25 S",
	"eth0 udp [2001:db8:114::7]:40003 > [2001:db8:100::1]:53",
	"eth0 udp [2001:db8:114::7]:40004 > [2001:db8:100::1]:54",
	"eth0 udp [2001:db8:113::7]:40005 > [2001:db8:100::1]:9 len=40",
	"eth0 tcp [2001:db8:114::7]:40006 > [2001:db8:100::1]:25 S ext=ah/5",
	"eth0 59 [2001:db8:114::7] > [2001:db8:100::1]",
	"eth0 udp [2001:db8:114::7]:40007 > [2001:db8:100::1]:9 ext=hbh,dst/1",
	"eth0 udp [2001:db8:114::7]:40008 > [2001:db8:100::1]:9 ext=dst",
	"eth0 253 [2001:db8:114::7] > [2001:db8:100::1] len=8",
	"eth0 icmpv6 fe80::ff:fe00:101 > ff02::1:ff00:1 type=135 target=2001:db8:100::1",
	"eth0 icmpv6 fe80::ff:fe00:101 > fe80::ff:fe00:1 type=135 target=fe80::ff:fe00:1",
	"eth0 icmpv6 [2001:db8:114::7] > [2001:db8:100::1] type=128",
	"eth0 udp [2001:db8:114::7]:5353 > [ff02::fb]:5353",
	"wlan0 tcp [2001:db8:2::10]:40009 > [2001:db8:113::7]:443 S",
	"eth0 tcp [2001:db8:113::7]:40010 > [2001:db8:2::10]:22 S",
	"eth0 tcp [2001:db8:113::7]:40011 > [2001:db8:2::10]:23 S",
	"eth0 tcp [2001:db8:113::7]:40012 > [2001:db8:2::10]:80 S ttl=1",
	"eth0 tcp [2001:db8:113::7]:40013 > [2001:db8:2::10]:80 S ttl=3",
	"eth0 udp [2001:db8:113::7]:40014 > [2001:db8:2::10]:80 ext=frag/0/1",
	"eth0 udp [2001:db8:113::7]:40015 > [2001:db8:2::10]:80 ext=frag/5/0",
	"eth0 udp [2001:db8:113::7]:40016 > [2001:db8:100::1]:80 ext=rt/0/1/2001:db8:2::10",
	"eth0 udp [2001:db8:113::7]:40017 > [2001:db8:100::1]:80 ext=rt/0/0/2001:db8:2::10",
	"wlan0 udp [fe80::ff:fe00:201]:40018 > [2001:db8:113::7]:80",
	"local tcp [2001:db8:100::1]:40019 > [2001:db8:113::7]:80 S",
}

// TestKernelIPv6 sends the same IPv6 packets through the kernel and
// through ipsift, on each backend, and compares per packet the counters
// raised (rules and policies, packets and bytes, answers included) and
// what left each interface.
func TestKernelIPv6(t *testing.T) {
	kernel.Require(t)
	kernel.EnableNamespaceLog(t)
	// IPSIFT_KERNEL6_SEED and IPSIFT_KERNEL6_N choose other and longer
	// runs of generated packets (default seed 1, 200 packets).
	seed, n := uint64(1), 200
	if v, err := strconv.ParseUint(os.Getenv("IPSIFT_KERNEL6_SEED"), 10, 64); err == nil {
		seed = v
	}
	if v, err := strconv.Atoi(os.Getenv("IPSIFT_KERNEL6_N")); err == nil && v >= 0 {
		n = v
	}
	pkts := append(append([]string(nil), ipv6Packets...), randomPackets6(seed, n)...)
	compareKernel6(t, ipv6Rules, pkts)
}

// compareKernel6 loads the ip6tables ruleset rulesFmt (its %[1]s the
// LOG prefix) into the kernel and into ipsift on each backend, sends
// pkts through both and compares per packet the counters raised and
// what left each interface, then every LOG line.
func compareKernel6(t *testing.T, rulesFmt string, pkts []string) {
	var descs []packet.Desc
	for _, s := range pkts {
		d, err := packet.ParseShort(s)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		descs = append(descs, d)
	}
	for _, b := range kernel.Backends {
		t.Run(string(b), func(t *testing.T) {
			fw := kernel.NewFirewallWith(t, b, kernel.Options{IPv6: true})
			prefix := fmt.Sprintf("v6-%d-%s-", time.Now().UnixNano()%1_000_000_000, b)
			rules := fmt.Sprintf(rulesFmt, prefix)
			if err := fw.Restore6(rules); err != nil {
				t.Fatal(err)
			}
			// Every neighbour the packets use, as packets.md's host has
			// them; the peers' link-local addresses on the other link
			// too, where REJECT's RST to them goes (nf_send_reset6
			// routes a link-local address by the first link's route).
			for a, ifname := range map[string]string{"2001:db8:2::10": "wlan0", "2001:db8:2::11": "wlan0", "2001:db8:100::9": "eth0", "fe80::ff:fe00:201": "eth0", "fe80::ff:fe00:101": "wlan0"} {
				if err := fw.AddNeighbour(ifname, netip.MustParseAddr(a)); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := fw.CaptureAll(); err != nil {
				t.Fatal(err)
			}
			res := load.Bytes("ipv6.rules", []byte(rules), load.Options{Family: 2, Legacy: b == kernel.Legacy})
			if res.Diags.HasErrors() {
				t.Fatal(res.Diags)
			}
			e, err := engine.New(res.Rules, nil, engine.Config{Legacy: b == kernel.Legacy, Rules6: res.Rules6})
			if err != nil {
				t.Fatal(err)
			}
			var ours strings.Builder
			e.Log = &ours
			s := sim.New(e)
			diffs := 0
			// The kernel's rate limits (Redirects) see the real time
			// between packets: so does ipsift's clock here.
			t0, now0 := time.Now(), s.Now
			for i, d := range descs {
				data, err := d.Build(i)
				if err != nil {
					t.Fatal(err)
				}
				before, err := fw.Counters6()
				if err != nil {
					t.Fatal(err)
				}
				if d.Local {
					err = fw.SendLocal(data)
				} else {
					err = fw.Inject(d.In, data)
				}
				if err != nil {
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
				sBefore := simCounters6(e)
				s.Now = now0 + int64(time.Since(t0))
				if _, err := s.Run(i, d); err != nil {
					t.Fatal(err)
				}
				kc, kout := kernel.Diff(before, after), describeOut6(out)
				sc, sout := kernel.Diff(sBefore, simCounters6(e)), describeSim6(&s.State.Result)
				if !maps.Equal(kc, sc) || !slices.Equal(kout, sout) {
					diffs++
					t.Errorf("packet %d %s:\nkernel counters %s\nipsift counters %s\nkernel out %q\nipsift out %q",
						i, pkts[i], kernel.FormatCounters(kc), kernel.FormatCounters(sc), kout, sout)
				}
			}
			mine := strings.Split(strings.TrimRight(ours.String(), "\n"), "\n")
			theirs, err := kernel.LogLines(prefix, len(mine), 3*time.Second)
			if err != nil {
				kernel.Lacking(t, "%v", err)
			}
			for i := range mine {
				mine[i] = strings.TrimRight(mine[i], " ")
				if i >= len(theirs) || theirs[i] != mine[i] {
					diffs++
					k := "(none)"
					if i < len(theirs) {
						k = theirs[i]
					}
					t.Errorf("LOG line %d:\nkernel: %s\nipsift: %s", i, k, mine[i])
				}
			}
			if len(theirs) != len(mine) {
				t.Errorf("the kernel logged %d lines, ipsift %d", len(theirs), len(mine))
			}
			t.Logf("%s: %d IPv6 packets, %d LOG lines, %d differences", b, len(descs), len(mine), diffs)
		})
	}
}

// simCounters6 reads ipsift's ip6tables counters in the kernel
// harness's form.
func simCounters6(e *engine.Engine) map[kernel.RuleKey]kernel.Counter {
	out := map[kernel.RuleKey]kernel.Counter{}
	for _, c := range e.Program().IPv6().Counters() {
		out[kernel.RuleKey{Table: c.Table, Chain: c.Chain, Rule: c.Rule}] = kernel.Counter{Packets: c.Packets, Bytes: c.Bytes}
	}
	return out
}

// describeOut6 names what left the kernel firewall.
func describeOut6(out map[string][][]byte) []string {
	var got []string
	for _, ifname := range []string{"eth0", "wlan0"} {
		for _, b := range out[ifname] {
			got = append(got, describe6(ifname, b))
		}
	}
	return got
}

// describeSim6 names what left in ipsift's result.
func describeSim6(r *engine.Result) []string {
	var got []string
	for _, ifname := range []string{"eth0", "wlan0"} {
		for _, o := range r.Out {
			if o.Iface == ifname {
				got = append(got, describe6(ifname, o.Data))
			}
		}
	}
	return got
}

func describe6(ifname string, b []byte) string {
	var p packet.Packet
	if err := p.Decode(b); err != nil {
		return ifname + " undecodable"
	}
	s := fmt.Sprintf("%s %d %s > %s", ifname, p.Proto, p.Src, p.Dst)
	switch {
	case p.Proto == packet.ProtoTCP && p.L4OK:
		s += fmt.Sprintf(" %d>%d flags %#x", p.SrcPort, p.DstPort, p.TCPFlags)
	case p.Proto == packet.ProtoUDP && p.L4OK:
		s += fmt.Sprintf(" %d>%d", p.SrcPort, p.DstPort)
	case p.Proto == packet.ProtoICMPv6 && p.L4OK:
		s += fmt.Sprintf(" type %d code %d", p.ICMPType, p.ICMPCode)
	}
	return s + fmt.Sprintf(" len %d hl %d tc %#x", len(b), p.TTL, p.TOS)
}

// randomPackets6 aims IPv6 packets at the host, its links and beyond,
// with extension headers, fragments (each datagram's alone: the host's
// stack never completes one), hop limits and the protocols its stack
// answers.
func randomPackets6(seed uint64, n int) []string {
	r := rand.New(rand.NewPCG(seed, 6))
	srcs := map[string][]string{
		"eth0":  {"2001:db8:113::7", "2001:db8:114::9", "fe80::ff:fe00:101", "2001:db8:100::9", "2001:db8:2::10"},
		"wlan0": {"2001:db8:2::10", "fe80::ff:fe00:201", "2001:db8:2::11"},
	}
	dsts := []string{"2001:db8:100::1", "2001:db8:2::1", "fe80::ff:fe00:1", "2001:db8:2::10", "2001:db8:113::7", "ff02::1", "ff02::fb", "2001:db8:100::"}
	exts := []string{"", "", "", "hbh", "dst", "hbh,dst/1", "dst/2", "rt/0/0/2001:db8:2::10", "rt/0/1/2001:db8:2::10", "rt/4/1/2001:db8:2::10", "frag/0/1", "frag/3/0", "frag/0/0", "ah/5", "frag/2/1,dst"}
	var out []string
	for i := 0; i < n; i++ {
		in := []string{"eth0", "wlan0"}[r.IntN(2)]
		src, dst := srcs[in][r.IntN(len(srcs[in]))], dsts[r.IntN(len(dsts))]
		if dst == "fe80::ff:fe00:1" && in == "wlan0" {
			// eth0's link-local address is a neighbour on wlan0, one
			// with no entry: the kernel would solicit it (and send a
			// Redirect) where packets.md's host has every neighbour.
			dst = "fe80::ff:fe00:2"
		}
		sport := 30000 + i
		var p string
		switch k := r.IntN(10); {
		case k < 4:
			p = fmt.Sprintf("%s tcp [%s]:%d > [%s]:%d %s", in, src, sport, dst, []int{22, 23, 25, 80}[r.IntN(4)], []string{"S", "SA", "A", "R", "F"}[r.IntN(5)])
		case k < 7:
			p = fmt.Sprintf("%s udp [%s]:%d > [%s]:%d", in, src, sport, dst, []int{53, 54, 9, 80}[r.IntN(4)])
		case k < 8:
			p = fmt.Sprintf("%s icmpv6 %s > %s type=%d", in, src, dst, []int{128, 129, 2, 4}[r.IntN(4)])
		case k < 9:
			p = fmt.Sprintf("%s 59 %s > %s", in, src, dst)
		default:
			p = fmt.Sprintf("%s 253 %s > %s len=8", in, src, dst)
		}
		if e := exts[r.IntN(len(exts))]; e != "" {
			p += " ext=" + e
		}
		if r.IntN(6) == 0 {
			p += fmt.Sprintf(" ttl=%d", []int{1, 2, 255}[r.IntN(3)])
		}
		out = append(out, p)
	}
	return out
}

// ipv6StatefulRules track IPv6 connections (so nf_defrag_ipv6
// reassembles before the raw table) and translate addresses: state,
// ICMPv6 RELATED, ND untracked, NAT66 MASQUERADE and a port forward.
const ipv6StatefulRules = `*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -i eth0 -p tcp -m tcp --dport 2222 -j DNAT --to-destination [2001:db8:2::10]:22
-A PREROUTING -i eth0 -d 2001:db8:100:0:1::/80 -j NETMAP --to 2001:db8:2::/80
-A POSTROUTING -o eth0 -s 2001:db8:2::/64 -j MASQUERADE
COMMIT
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
-A INPUT -m conntrack --ctstate UNTRACKED -j ACCEPT
-A INPUT -m conntrack --ctstate INVALID -j LOG --log-prefix "%[1]sinvalid: "
-A INPUT -p tcp -m tcp --dport 22 -m conntrack --ctstate NEW -j ACCEPT
-A INPUT -p udp -j REJECT
-A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
-A FORWARD -i wlan0 -o eth0 -j ACCEPT
-A FORWARD -m conntrack --ctstate DNAT -j ACCEPT
-A OUTPUT -m conntrack --ctstate UNTRACKED -j LOG --log-prefix "%[1]suntracked: "
COMMIT
`

// TestKernelIPv6Stateful compares IPv6 connection tracking, reassembly
// and NAT66 with the kernel's.
func TestKernelIPv6Stateful(t *testing.T) {
	kernel.Require(t)
	kernel.EnableNamespaceLog(t)
	compareKernel6(t, ipv6StatefulRules, []string{
		"eth0 tcp [2001:db8:113::7]:40000 > [2001:db8:100::1]:22 S",
		"eth0 tcp [2001:db8:113::7]:40000 > [2001:db8:100::1]:22 A seq=1001 ack=1",
		"eth0 icmpv6 fe80::ff:fe00:101 > ff02::1:ff00:1 type=135 target=2001:db8:100::1",
		"eth0 udp [2001:db8:113::7]:40001 > [2001:db8:100::1]:53",
		"eth0 icmpv6 [2001:db8:113::7] > [2001:db8:100::1] type=129",
		"eth0 icmpv6 [2001:db8:113::7] > [2001:db8:100::1] type=137",
		"wlan0 udp [2001:db8:2::10]:53000 > [2001:db8:113::53]:53 len=40",
		"eth0 udp [2001:db8:113::53]:53 > [2001:db8:100::1]:53000 len=20",
		"wlan0 tcp [2001:db8:2::10]:41000 > [2001:db8:113::7]:443 S",
		"eth0 tcp [2001:db8:113::7]:443 > [2001:db8:100::1]:41000 SA seq=5000 ack=1001",
		"eth0 tcp [2001:db8:113::9]:42000 > [2001:db8:100::1]:2222 S",
		"wlan0 tcp [2001:db8:2::10]:22 > [2001:db8:113::9]:42000 SA seq=7000 ack=1001",
		"eth0 udp [2001:db8:113::7]:40002 > [2001:db8:100::1]:9 len=32 ext=frag/0/1",
		"eth0 udp [2001:db8:113::7]:40002 > [2001:db8:100::1]:9 ext=frag/5/0",
		"eth0 59 [2001:db8:113::7] > [2001:db8:100::1]",
		"eth0 udp [2001:db8:113::7]:40003 > [2001:db8:100:0:1::10]:53",
		"wlan0 udp [2001:db8:2::10]:53 > [2001:db8:113::7]:40003",
	})
}
