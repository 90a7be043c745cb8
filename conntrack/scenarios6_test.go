package conntrack

import (
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"

	"github.com/ipsift/ipsift/packet"
)

// The IPv6 twins of the test network (packets.md, "IPv6"): the client
// beyond the default route, the server on wlan0, a router on the way.
var (
	client6 = netip.MustParseAddr("2001:db8:113::7")
	server6 = netip.MustParseAddr("2001:db8:2::50")
	router6 = netip.MustParseAddr("2001:db8:100::fe")
)

// to6 maps the IPv4 scenario addresses to their IPv6 twins.
var to6 = map[netip.Addr]netip.Addr{client: client6, server: server6}

// v4to6 turns an IPv4 TCP, UDP or other-protocol packet of a scenario
// into the same packet in IPv6 between the twin addresses: same
// transport bytes, the checksum redone for the IPv6 pseudo-header and
// left wrong if it was wrong. ok is false for what has no IPv6 twin
// here (ICMP, UDP-Lite, packets with other addresses).
func v4to6(b []byte) ([]byte, bool) {
	var p packet.Packet
	if p.Decode(b) != nil || p.Version != 4 {
		return nil, false
	}
	src, ok1 := to6[p.Src]
	dst, ok2 := to6[p.Dst]
	if !ok1 || !ok2 || p.Proto == protoICMP || p.Proto == protoICMPv6 || p.Proto == protoUDPLite {
		return nil, false
	}
	l4 := append([]byte(nil), p.L4...)
	csOff := -1
	switch p.Proto {
	case protoTCP:
		if len(l4) >= 18 {
			csOff = 16
		}
	case protoUDP:
		if len(l4) >= 8 && binary.BigEndian.Uint16(l4[6:]) != 0 {
			csOff = 6
		}
	}
	if csOff >= 0 {
		good := packet.ChecksumAdd(psum(p.Src, p.Dst, p.Proto, len(l4)), l4) == 0xffff
		binary.BigEndian.PutUint16(l4[csOff:], 0)
		cs := packet.ChecksumFinish(packet.ChecksumAdd(psum(src, dst, p.Proto, len(l4)), l4))
		if p.Proto == protoUDP && cs == 0 {
			cs = 0xffff
		}
		if !good {
			cs ^= 0x5555
		}
		binary.BigEndian.PutUint16(l4[csOff:], cs)
	}
	return ipPacket(src, dst, p.Proto, l4), true
}

// listing6 maps an IPv4 scenario's expected listing to IPv6.
func listing6(l []string) []string {
	var out []string
	for _, s := range l {
		for a4, a6 := range to6 {
			s = strings.ReplaceAll(s, "="+a4.String()+" ", "="+a6.String()+" ")
		}
		out = append(out, s)
	}
	return out
}

// scenarios6 are the IPv4 scenarios whose packets all have IPv6 twins
// (TCP, UDP, GRE and other protocols), in IPv6: the kernel tracks TCP
// (window tracking included), UDP and the generic protocols the same
// way in both families, so every packet must get the same state and
// the table must read the same, addresses aside.
func scenarios6() []scenario {
	var out []scenario
next:
	for _, sc := range scenarios {
		s6 := scenario{name: sc.name, table: listing6(sc.table)}
		for _, st := range sc.steps {
			b, ok := v4to6(st.pkt)
			if !ok {
				continue next
			}
			st.pkt = b
			s6.steps = append(s6.steps, st)
		}
		out = append(out, s6)
	}
	return out
}

func TestScenarios6(t *testing.T) {
	all := scenarios6()
	if len(all) < 30 {
		t.Fatalf("only %d scenarios have IPv6 twins", len(all))
	}
	for _, sc := range all {
		t.Run(sc.name, func(t *testing.T) {
			states, table, _ := simulate(t, DefaultConfig(), sc.steps)
			for i, s := range sc.steps {
				if s.want != "" && states[i] != s.want {
					t.Errorf("packet %d: state %s, want %s", i, states[i], s.want)
				}
			}
			if sc.table != nil {
				want := append([]string(nil), sc.table...)
				sortStrings(want)
				if !sameListing(table, want, 0) {
					t.Errorf("table:\n%s\nwant:\n%s", join2(table), join2(want))
				}
			}
		})
	}
}

// icmp6 builds an ICMPv6 message from a to b.
func icmp6(a, b netip.Addr, typ, code uint8, id uint16) []byte {
	return icmpMsg(a, b, typ, code, id, 1, nil)
}

// ipv6Scenarios are the IPv6-only facts (issue 10): ICMPv6 types,
// errors, extension headers, No Next Header, fragments, checksums.
var ipv6Scenarios = []scenario{
	{
		name: "icmpv6 echo and reply",
		steps: []step{
			{in: "eth0", pkt: icmp6(client6, server6, 128, 0, 7), want: "NEW"},
			{in: "wlan0", pkt: icmp6(server6, client6, 129, 0, 7), want: "ESTABLISHED/REPLY"},
			{in: "eth0", pkt: icmp6(client6, server6, 128, 0, 7), want: "ESTABLISHED"},
		},
		table: []string{"icmpv6   58 30 src=2001:db8:113::7 dst=2001:db8:2::50 type=128 code=0 id=7 src=2001:db8:2::50 dst=2001:db8:113::7 type=129 code=0 id=7 mark=0 use=1"},
	},
	{
		name: "icmpv6 node information query is NEW, its reply alone INVALID",
		steps: []step{
			{in: "eth0", pkt: icmp6(client6, server6, 139, 0, 9), want: "NEW"},
			{in: "wlan0", pkt: icmp6(server6, client6, 140, 0, 9), want: "ESTABLISHED/REPLY"},
			{in: "wlan0", pkt: icmp6(server6, client6, 140, 0, 10), want: "INVALID"},
		},
	},
	{
		name: "icmpv6 types that are untracked, invalid",
		steps: func() []step {
			var s []step
			for _, typ := range []uint8{130, 131, 132, 133, 134, 135, 136, 143, 151, 152} {
				s = append(s, step{in: "eth0", pkt: icmp6(client6, server6, typ, 0, 0), want: "UNTRACKED"})
			}
			for _, typ := range []uint8{129, 137, 140, 141, 144, 153, 200, 255} {
				s = append(s, step{in: "eth0", pkt: icmp6(client6, server6, typ, 0, 0), want: "INVALID"})
			}
			return s
		}(),
		table: []string{},
	},
	{
		name: "icmpv6 with a bad checksum is INVALID, untracked types too",
		steps: []step{
			{in: "eth0", pkt: badSum(icmp6(client6, server6, 128, 0, 7)), want: "INVALID"},
			{in: "eth0", pkt: badSum(icmp6(client6, server6, 135, 0, 0)), want: "INVALID"},
		},
		table: []string{},
	},
	{
		name: "icmpv6 errors are RELATED to the connection they quote",
		steps: []step{
			{in: "eth0", pkt: udpDatagram(client6, server6, 40000, 53, 4), want: "NEW"},
			// From the server's side, about the client's datagram,
			// to the client: RELATED in the reply direction.
			{in: "wlan0", pkt: icmpError(server6, client6, 1, 4, udpDatagram(client6, server6, 40000, 53, 4), false), want: "RELATED/REPLY"},
			// A packet too big from a router on the client's side,
			// about the server's answer.
			{in: "wlan0", pkt: udpDatagram(server6, client6, 53, 40000, 4), want: "ESTABLISHED/REPLY"},
			{in: "eth0", pkt: icmpError(router6, server6, 2, 0, udpDatagram(server6, client6, 53, 40000, 4), false), want: "RELATED"},
			// The error must go to the quoted packet's source.
			{in: "wlan0", pkt: icmpError(server6, router6, 1, 4, udpDatagram(client6, server6, 40000, 53, 4), false), want: "INVALID"},
			// About nothing known.
			{in: "wlan0", pkt: icmpError(server6, client6, 1, 4, udpDatagram(client6, server6, 40001, 53, 4), false), want: "INVALID"},
			// Quoting a packet cut inside its IPv6 header.
			{in: "wlan0", pkt: icmpMsg(server6, client6, 1, 4, 0, 0, udpDatagram(client6, server6, 40000, 53, 4)[:39]), want: "INVALID"},
		},
	},
	{
		name: "icmpv6 error about an echo",
		steps: []step{
			{in: "eth0", pkt: icmp6(client6, server6, 128, 0, 3), want: "NEW"},
			{in: "wlan0", pkt: icmpError(server6, client6, 3, 0, icmp6(client6, server6, 128, 0, 3), false), want: "RELATED/REPLY"},
		},
	},
	{
		name: "icmp in ipv6 is INVALID",
		steps: []step{
			{in: "eth0", pkt: ipPacket(client6, server6, 1, icmpMsg(client, server, 8, 0, 1, 1, nil)[20:]), want: "INVALID"},
		},
		table: []string{},
	},
	{
		name: "extension headers before tcp",
		steps: []step{
			{in: "eth0", pkt: withExt(tcpSegment(client6, server6, 41000, 22, "S", 1000, 0, 8192, nil, 0), hbh8, dst8), want: "NEW"},
			{in: "wlan0", pkt: withExt(tcpSegment(server6, client6, 22, 41000, "SA", 5000, 1001, 8192, nil, 0), dst8), want: "ESTABLISHED/REPLY"},
			{in: "eth0", pkt: withExt(tcpSegment(client6, server6, 41000, 22, "A", 1001, 5001, 8192, nil, 0), frag6(0, false, 77)), want: "ESTABLISHED"},
		},
		table: []string{"tcp      6 432000 ESTABLISHED src=2001:db8:113::7 dst=2001:db8:2::50 sport=41000 dport=22 src=2001:db8:2::50 dst=2001:db8:113::7 sport=22 dport=41000 [ASSURED] mark=0 use=1"},
	},
	{
		name: "no next header makes no connection",
		steps: []step{
			{in: "eth0", pkt: ipPacket(client6, server6, packet.ProtoNoNext, nil), want: "INVALID"},
			{in: "eth0", pkt: withExt(ipPacket(client6, server6, packet.ProtoNoNext, nil), dst8), want: "INVALID"},
		},
		table: []string{},
	},
	{
		// In the kernel nf_defrag_ipv6 holds a lone later fragment
		// (the engine's defragmenter does the same); one that reaches
		// conntrack has no transport header to track.
		name: "a later fragment makes no connection",
		steps: []step{
			{in: "eth0", pkt: withExt(ipPacket(client6, server6, 17, make([]byte, 16)), frag6(2, false, 5)), want: "INVALID"},
		},
		table:    []string{},
		unitOnly: true,
	},
	{
		name: "udp-lite",
		steps: []step{
			{in: "eth0", pkt: udpliteDatagram(client6, server6, 5000, 6000, 8, 12, true), want: "NEW"},
			{in: "wlan0", pkt: udpliteDatagram(server6, client6, 6000, 5000, 8, 0, true), want: "ESTABLISHED/REPLY"},
			// RFC 3828's sum (protocol 136) is not what conntrack checks.
			{in: "eth0", pkt: udpliteDatagram(client6, server6, 5000, 6000, 8, 0, false), want: "INVALID"},
		},
	},
	{
		name: "udp without a checksum passes conntrack",
		steps: []step{
			{in: "eth0", pkt: zeroUDPSum(udpDatagram(client6, server6, 5353, 53, 4)), want: "NEW"},
		},
	},
}

// badSum spoils the transport checksum of an IPv6 packet without
// extension headers.
func badSum(b []byte) []byte {
	b = append([]byte(nil), b...)
	off := 40 + 2 // ICMPv6
	switch b[6] {
	case protoTCP:
		off = 40 + 16
	case protoUDP:
		off = 40 + 6
	}
	b[off] ^= 0x40
	return b
}

func zeroUDPSum(b []byte) []byte {
	b = append([]byte(nil), b...)
	b[46], b[47] = 0, 0
	return b
}

func TestIPv6Scenarios(t *testing.T) {
	for _, sc := range ipv6Scenarios {
		t.Run(sc.name, func(t *testing.T) {
			states, table, _ := simulate(t, DefaultConfig(), sc.steps)
			for i, s := range sc.steps {
				if s.want != "" && states[i] != s.want {
					t.Errorf("packet %d: state %s, want %s", i, states[i], s.want)
				}
			}
			if sc.table != nil {
				want := append([]string(nil), sc.table...)
				sortStrings(want)
				if !sameListing(table, want, 0) {
					t.Errorf("table:\n%s\nwant:\n%s", join2(table), join2(want))
				}
			}
		})
	}
}

// TestBothFamiliesOneTable: an IPv4 and an IPv6 connection live side
// by side, and a tuple of one family never finds the other's.
func TestBothFamiliesOneTable(t *testing.T) {
	tb := New(DefaultConfig())
	now := int64(1e12)
	e4, _, _ := tb.Track(decode(t, udpDatagram(client, server, 1000, 53, 0)), now)
	e6, _, _ := tb.Track(decode(t, udpDatagram(client6, server6, 1000, 53, 0)), now)
	if e4 == nil || e6 == nil || e4 == e6 || !tb.Confirm(e4, now) || !tb.Confirm(e6, now) {
		t.Fatal("tracking failed")
	}
	if tb.Len() != 2 {
		t.Errorf("Len %d", tb.Len())
	}
	if e, _ := tb.Lookup(e6.ReplyTuple(), now); e != e6 {
		t.Errorf("IPv6 reply tuple finds %v", e)
	}
	k := e4.OrigTuple()
	k.V6 = true
	if e, _ := tb.Lookup(k, now); e != nil {
		t.Errorf("IPv4 bytes as an IPv6 tuple find %v", e)
	}
}
