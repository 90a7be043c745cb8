package kernel

import (
	"encoding/binary"
	"fmt"
	"maps"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// ipv6Packet builds an IPv6 packet: the header (hop limit hop, next
// header nh) followed by exts (extension headers, already chained: the
// last one's next header is proto) and the transport header l4 of
// protocol proto, whose checksum at csumAt (-1: none) is computed over
// the pseudo-header.
func ipv6Packet(src, dst string, hop uint8, exts []byte, proto uint8, l4 []byte, csumAt int) []byte {
	s, d := netip.MustParseAddr(src).As16(), netip.MustParseAddr(dst).As16()
	p := make([]byte, 40, 40+len(exts)+len(l4))
	p[0] = 0x60
	binary.BigEndian.PutUint16(p[4:], uint16(len(exts)+len(l4)))
	p[6] = proto
	if len(exts) > 0 {
		p[6] = exts[len(exts)-1] // see ext: the caller passes the first header's type last
		exts = exts[:len(exts)-1]
		binary.BigEndian.PutUint16(p[4:], uint16(len(exts)+len(l4)))
	}
	p[7] = hop
	copy(p[8:], s[:])
	copy(p[24:], d[:])
	p = append(p, exts...)
	start := len(p)
	p = append(p, l4...)
	if csumAt >= 0 {
		var pseudo uint32
		for i := 0; i < 16; i += 2 {
			pseudo += uint32(s[i])<<8 | uint32(s[i+1])
			pseudo += uint32(d[i])<<8 | uint32(d[i+1])
		}
		pseudo += uint32(len(l4)) + uint32(proto)
		c := checksum(p[start:], pseudo)
		if c == 0 && proto == 17 {
			c = 0xffff
		}
		binary.BigEndian.PutUint16(p[start+csumAt:], c)
	}
	return p
}

// dstOpts is an empty Destination Options header (8 bytes of PadN)
// followed by next, with its own type (60) appended for ipv6Packet.
func dstOpts(next uint8) []byte {
	return []byte{next, 0, 1, 4, 0, 0, 0, 0, 60}
}

func udp6(src, dst string, sport, dport uint16, exts []byte) []byte {
	u := make([]byte, 8)
	binary.BigEndian.PutUint16(u[0:], sport)
	binary.BigEndian.PutUint16(u[2:], dport)
	binary.BigEndian.PutUint16(u[4:], 8)
	return ipv6Packet(src, dst, 64, exts, 17, u, 6)
}

func tcp6(src, dst string, sport, dport uint16, flags byte) []byte {
	t := make([]byte, 20)
	binary.BigEndian.PutUint16(t[0:], sport)
	binary.BigEndian.PutUint16(t[2:], dport)
	binary.BigEndian.PutUint32(t[4:], 1000)
	t[12] = 5 << 4
	t[13] = flags
	binary.BigEndian.PutUint16(t[14:], 8192)
	return ipv6Packet(src, dst, 64, nil, 6, t, 16)
}

// neighbourSolicitation asks for target from the peer's link-local
// address, to target's solicited-node group, with a source link-layer
// address option, hop limit 255 as ND requires.
func neighbourSolicitation(src, target string, mac []byte) []byte {
	tg := netip.MustParseAddr(target).As16()
	group := netip.AddrFrom16([16]byte{0xff, 0x02, 11: 1, 12: 0xff, 13: tg[13], 14: tg[14], 15: tg[15]})
	ns := make([]byte, 32)
	ns[0] = 135
	copy(ns[8:], tg[:])
	ns[24], ns[25] = 1, 1 // source link-layer address, 8 bytes
	copy(ns[26:], mac)
	return ipv6Packet(src, group.String(), 255, nil, 58, ns, 2)
}

// ip6Ruleset exercises INPUT, FORWARD and OUTPUT of the IPv6 filter
// table, ND, REJECT's tcp-reset, an extension-header match and LOG.
const ip6Ruleset = `*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type 135 -j ACCEPT
-A INPUT -p udp -m udp --dport 9 -j ACCEPT
-A INPUT -m ipv6header --header dst --soft -j LOG --log-prefix "%s"
-A INPUT -p tcp -m tcp --dport 23 -j REJECT --reject-with tcp-reset
-A FORWARD -d 2001:db8:2::10/128 -p udp -j ACCEPT
-A OUTPUT -p ipv6-icmp -m icmp6 --icmpv6-type 136 -j ACCEPT
COMMIT
`

// TestFirewallIPv6 builds the IPv6 twin of the reference host on each
// backend, loads a small ip6tables ruleset and checks the kernel's
// counters, deliveries, answers and LOG line for a few IPv6 packets
// against what is written here.
func TestFirewallIPv6(t *testing.T) {
	Require(t)
	EnableNamespaceLog(t)
	for _, b := range Backends {
		t.Run(string(b), func(t *testing.T) {
			start := time.Now()
			fw := NewFirewallWith(t, b, Options{IPv6: true})
			t.Logf("IPv6 firewall built and settled in %v", time.Since(start))
			checkTopology6(t, fw)
			prefix := fmt.Sprintf("kd6-%d-%s: ", time.Now().UnixNano()%1_000_000, b)
			if err := fw.Restore6(fmt.Sprintf(ip6Ruleset, prefix)); err != nil {
				t.Fatal(err)
			}
			if err := fw.AddNeighbour("wlan0", netip.MustParseAddr("2001:db8:2::10")); err != nil {
				t.Fatal(err)
			}
			if got, err := fw.CaptureAll(); err != nil || len(got["eth0"])+len(got["wlan0"]) != 0 {
				t.Fatalf("the settled host sent %v (%v); want nothing", got, err)
			}
			peerMAC := fw.Links()[0].PeerMAC

			t.Run("udp to a closed port", func(t *testing.T) {
				pkt := udp6("2001:db8:113::7", "2001:db8:100::1", 40000, 9, nil)
				s := observe6(t, fw, func() error { return fw.Inject("eth0", pkt) })
				// The port unreachable quotes the whole probe: 40 + 8 + 48.
				wantCounters(t, "udp to the firewall", s.counters, map[RuleKey]Counter{
					{"filter", "INPUT", 2}:  {1, uint64(len(pkt))},
					{"filter", "OUTPUT", 0}: {1, 40 + 8 + uint64(len(pkt))},
				})
				if s.ip.InDelivers != 1 {
					t.Errorf("IPv6 counters rose by %+v; want 1 delivered", s.ip)
				}
				want := "eth0 icmpv6 2001:db8:100::1 > 2001:db8:113::7 type 1 code 4"
				if got := describe6(s.out); len(got) != 1 || got[0] != want {
					t.Errorf("left: %v; want [%s]", got, want)
				}
			})
			t.Run("forward", func(t *testing.T) {
				pkt := udp6("2001:db8:113::7", "2001:db8:2::10", 40000, 80, nil)
				s := observe6(t, fw, func() error { return fw.Inject("eth0", pkt) })
				wantCounters(t, "forwarded udp", s.counters, map[RuleKey]Counter{{"filter", "FORWARD", 1}: {1, uint64(len(pkt))}})
				want := append([]byte(nil), pkt...)
				want[7]-- // only the hop limit changes
				if got := s.out["wlan0"]; len(got) != 1 || string(got[0]) != string(want) || len(s.out["eth0"]) != 0 {
					t.Errorf("left wlan0: % x, eth0: % x; want the packet with hop limit 63 on wlan0", got, s.out["eth0"])
				}
				if s.ip.ForwDatagrams != 1 {
					t.Errorf("IPv6 counters rose by %+v; want 1 forwarded", s.ip)
				}
			})
			t.Run("forward dropped by policy", func(t *testing.T) {
				pkt := udp6("2001:db8:113::7", "2001:db8:2::11", 40000, 80, nil)
				s := observe6(t, fw, func() error { return fw.Inject("eth0", pkt) })
				wantCounters(t, "dropped udp", s.counters, map[RuleKey]Counter{{"filter", "FORWARD", 0}: {1, uint64(len(pkt))}})
				if got := describe6(s.out); len(got) != 0 {
					t.Errorf("left: %v; want nothing", got)
				}
			})
			t.Run("neighbour solicitation", func(t *testing.T) {
				pkt := neighbourSolicitation("fe80::ff:fe00:101", "2001:db8:100::1", peerMAC)
				s := observe6(t, fw, func() error { return fw.Inject("eth0", pkt) })
				// 40 + 24 + an 8-byte target link-layer address option.
				wantCounters(t, "solicitation", s.counters, map[RuleKey]Counter{
					{"filter", "INPUT", 1}:  {1, uint64(len(pkt))},
					{"filter", "OUTPUT", 1}: {1, 72},
				})
				want := "eth0 icmpv6 2001:db8:100::1 > fe80::ff:fe00:101 type 136 code 0"
				if got := describe6(s.out); len(got) != 1 || got[0] != want {
					t.Errorf("left: %v; want [%s]", got, want)
				}
			})
			t.Run("reject tcp-reset", func(t *testing.T) {
				pkt := tcp6("2001:db8:113::7", "2001:db8:100::1", 40001, 23, 0x02)
				s := observe6(t, fw, func() error { return fw.Inject("eth0", pkt) })
				wantCounters(t, "rejected syn", s.counters, map[RuleKey]Counter{
					{"filter", "INPUT", 4}:  {1, uint64(len(pkt))},
					{"filter", "OUTPUT", 0}: {1, 60},
				})
				want := "eth0 tcp 2001:db8:100::1 > 2001:db8:113::7 flags 0x14"
				if got := describe6(s.out); len(got) != 1 || got[0] != want {
					t.Errorf("left: %v; want [%s]", got, want)
				}
			})
			t.Run("extension header and LOG", func(t *testing.T) {
				pkt := udp6("2001:db8:113::7", "2001:db8:100::1", 40002, 9, dstOpts(17))
				s := observe6(t, fw, func() error { return fw.Inject("eth0", pkt) })
				// -p udp sees past the header: ip6_tables' -p walks
				// destination options with ipv6_find_hdr.
				wantCounters(t, "udp behind destination options", s.counters, map[RuleKey]Counter{
					{"filter", "INPUT", 2}:  {1, uint64(len(pkt))},
					{"filter", "OUTPUT", 0}: {1, 40 + 8 + uint64(len(pkt))},
				})
				pkt = udp6("2001:db8:113::7", "2001:db8:100::1", 40003, 10, dstOpts(17))
				s = observe6(t, fw, func() error { return fw.Inject("eth0", pkt) })
				wantCounters(t, "udp behind destination options, logged", s.counters, map[RuleKey]Counter{
					{"filter", "INPUT", 3}:  {1, uint64(len(pkt))},
					{"filter", "INPUT", 0}:  {1, uint64(len(pkt))},
					{"filter", "OUTPUT", 0}: {1, 40 + 8 + uint64(len(pkt))},
				})
				lines, err := LogLines(prefix, 1, 2*time.Second)
				if err != nil {
					Lacking(t, "%v", err)
				}
				want := prefix + "IN=eth0 OUT= MAC=02:00:00:00:00:01:02:00:00:00:01:01:86:dd " +
					"SRC=2001:0db8:0113:0000:0000:0000:0000:0007 DST=2001:0db8:0100:0000:0000:0000:0000:0001 " +
					"LEN=56 TC=0 HOPLIMIT=64 FLOWLBL=0 PROTO=UDP SPT=40003 DPT=10 LEN=8"
				if len(lines) != 1 || lines[0] != want {
					t.Errorf("kernel log: %q\nwant: %q", lines, want)
				}
			})
			t.Run("local", func(t *testing.T) {
				pkt := udp6("2001:db8:100::1", "2001:db8:113::7", 9, 40000, nil)
				s := observe6(t, fw, func() error { return fw.SendLocal(pkt) })
				wantCounters(t, "udp from the firewall", s.counters, map[RuleKey]Counter{{"filter", "OUTPUT", 0}: {1, uint64(len(pkt))}})
				if got := s.out["eth0"]; len(got) != 1 || string(got[0]) != string(pkt) {
					t.Errorf("left eth0: % x; want the packet unchanged", got)
				}
				ll := udp6("fe80::ff:fe00:1", "fe80::ff:fe00:101", 9, 40000, nil)
				s = observe6(t, fw, func() error { return fw.SendLocal(ll) })
				if got := s.out["eth0"]; len(got) != 1 || string(got[0]) != string(ll) {
					t.Errorf("link-local: left eth0: % x; want the packet unchanged", got)
				}
			})
			t.Run("counters match ip6tables-save", func(t *testing.T) {
				got, err := fw.Counters6()
				if err != nil {
					t.Fatal(err)
				}
				save, err := fw.SaveCounters6()
				if err != nil {
					t.Fatal(err)
				}
				if want := ParseSaveCounters(save); !maps.Equal(got, want) || len(got) == 0 {
					t.Errorf("Counters6() =\n%s\nip6tables-save -c gives\n%s", FormatCounters(got), FormatCounters(want))
				}
				v4, err := fw.Counters()
				if err != nil {
					t.Fatal(err)
				}
				for k, c := range v4 {
					if c.Packets != 0 {
						t.Errorf("IPv4 counter %s rose (%d packets): IPv6 packets must not reach the IPv4 rules", k, c.Packets)
					}
				}
			})
		})
	}
}

// observe6 is observe for IPv6: ip6tables counters and IPv6 stack
// counters.
func observe6(t *testing.T, fw *Firewall, send func() error) step {
	t.Helper()
	before, err := fw.Counters6()
	if err != nil {
		t.Fatal(err)
	}
	ipBefore, err := fw.Delivered6()
	if err != nil {
		t.Fatal(err)
	}
	if err := send(); err != nil {
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
	ipAfter, err := fw.Delivered6()
	if err != nil {
		t.Fatal(err)
	}
	return step{
		counters: Diff(before, after),
		ip: IPCounters{
			InDelivers:    ipAfter.InDelivers - ipBefore.InDelivers,
			ForwDatagrams: ipAfter.ForwDatagrams - ipBefore.ForwDatagrams,
		},
		out: out,
	}
}

// describe6 names what left, one string per IPv6 packet: interface,
// protocol, addresses, and the ICMPv6 type and code or the tcp flags.
func describe6(out map[string][][]byte) []string {
	var got []string
	for _, ifname := range []string{"eth0", "wlan0"} {
		for _, p := range out[ifname] {
			if len(p) < 48 || p[0]>>4 != 6 {
				got = append(got, fmt.Sprintf("%s non-IPv6 % x", ifname, p))
				continue
			}
			src := netip.AddrFrom16([16]byte(p[8:24]))
			dst := netip.AddrFrom16([16]byte(p[24:40]))
			switch p[6] {
			case 58:
				got = append(got, fmt.Sprintf("%s icmpv6 %s > %s type %d code %d", ifname, src, dst, p[40], p[41]))
			case 6:
				got = append(got, fmt.Sprintf("%s tcp %s > %s flags %#02x", ifname, src, dst, p[53]))
			default:
				got = append(got, fmt.Sprintf("%s proto %d %s > %s", ifname, p[6], src, dst))
			}
		}
	}
	return got
}

// checkTopology6 reads back the IPv6 settings NewFirewallWith promises.
func checkTopology6(t *testing.T, fw *Firewall) {
	t.Helper()
	for path, want := range map[string]string{
		"/proc/sys/net/ipv6/conf/all/disable_ipv6":   "0",
		"/proc/sys/net/ipv6/conf/eth0/forwarding":    "1",
		"/proc/sys/net/ipv6/conf/wlan0/forwarding":   "1",
		"/proc/sys/net/ipv6/conf/eth0/accept_dad":    "0",
		"/proc/sys/net/ipv6/conf/wlan0/accept_ra":    "0",
		"/proc/sys/net/ipv6/icmp/echo_ignore_all":    "1",
		"/proc/sys/net/ipv6/icmp/ratelimit":          "0",
		"/proc/sys/net/ipv4/ip_forward":              "1",
		"/proc/sys/net/ipv6/conf/eth0/autoconf":      "0",
		"/proc/sys/net/ipv6/conf/eth0/dad_transmits": "0",
	} {
		got, err := fw.Run("cat", path)
		if err != nil {
			t.Error(err)
			continue
		}
		if strings.TrimSpace(got) != want {
			t.Errorf("%s in %s = %q, want %q", path, fw.NS, strings.TrimSpace(got), want)
		}
	}
	addrs, err := fw.Run("ip", "-6", "-br", "addr")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"2001:db8:100::1/64", "2001:db8:2::1/64", "fe80::ff:fe00:1/64", "fe80::ff:fe00:2/64"} {
		if !strings.Contains(addrs, want) {
			t.Errorf("firewall addresses lack %s:\n%s", want, addrs)
		}
	}
	routes, err := fw.Run("ip", "-6", "route")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(routes, "default via 2001:db8:100::fe dev eth0") {
		t.Errorf("no default route via 2001:db8:100::fe:\n%s", routes)
	}
	neigh, err := fw.Run("ip", "-6", "neigh")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"2001:db8:100::fe dev eth0 lladdr 02:00:00:00:01:01 PERMANENT",
		"fe80::ff:fe00:101 dev eth0 lladdr 02:00:00:00:01:01 PERMANENT",
		"fe80::ff:fe00:201 dev wlan0 lladdr 02:00:00:00:02:01 PERMANENT",
	} {
		if !strings.Contains(neigh, want) {
			t.Errorf("neighbour entry missing: %s\n%s", want, neigh)
		}
	}
}
