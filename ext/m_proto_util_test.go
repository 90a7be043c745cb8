package ext

import (
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"

	"github.com/ipsift/ipsift/packet"
)

// Helpers shared by the protocol and header match tests: build a rule's
// match from its command-line words, and build packets by hand (the
// fields set directly, plus the bytes those fields come from, so that
// matches reading either agree), without the packet decoder.

// ruleMatch parses rule (the words after -A INPUT) with the conformance
// stand-in and returns the loaded match called name.
func ruleMatch(t *testing.T, rule, name string) Match {
	t.Helper()
	return ruleMatchIn(t, rule, name, "filter", "INPUT")
}

func ruleMatchIn(t *testing.T, rule, name, table, chain string) Match {
	t.Helper()
	_, loaded, err := protoRule(rule, table, chain)
	if err != nil {
		t.Fatalf("%q: %v", rule, err)
	}
	for _, l := range loaded {
		if l.t.Name == name {
			return l.m
		}
	}
	t.Fatalf("%q: no -m %s loaded", rule, name)
	return nil
}

// ruleMatcher compiles the match called name of rule with the kernel's
// x_tables semantics (Compiler.Legacy), which the match tests describe;
// m_tcpudp_nft_test.go covers where iptables-nft differs.
func ruleMatcher(t *testing.T, rule, name string) Matcher {
	t.Helper()
	c := NewCompiler(nil)
	c.Legacy = true
	m, err := ruleMatch(t, rule, name).Compile(c)
	if err != nil {
		t.Fatalf("%q: compile: %v", rule, err)
	}
	return m
}

// printOf returns a match's Print text.
func printOf(m Parser, numeric bool) string {
	var b strings.Builder
	m.Print(&b, numeric)
	return b.String()
}

// ipPkt builds an IPv4 packet from 192.0.2.1 to 198.51.100.2 with TTL
// 64 carrying l4 as protocol proto, and fills the fields the decoder
// would: for tcp, udp and icmp the header fields when their fixed header
// is there.
func ipPkt(proto uint8, l4 []byte) *packet.Packet {
	data := make([]byte, 20+len(l4))
	data[0] = 0x45
	binary.BigEndian.PutUint16(data[2:], uint16(len(data)))
	data[8] = 64
	data[9] = proto
	copy(data[12:], []byte{192, 0, 2, 1})
	copy(data[16:], []byte{198, 51, 100, 2})
	copy(data[20:], l4)
	SetIPv4HeaderChecksum(data)
	p := &packet.Packet{
		Data: data, Version: 4, HdrLen: 20, TotalLen: len(data), TTL: 64, Proto: proto,
		Src: netip.MustParseAddr("192.0.2.1"), Dst: netip.MustParseAddr("198.51.100.2"),
		L4: data[20:],
	}
	refill(p)
	return p
}

// refill sets the transport fields from p.L4 as the decoder would.
func refill(p *packet.Packet) {
	l4 := p.L4
	fixed := 0
	switch p.Proto {
	case packet.ProtoTCP:
		fixed = 20
	case packet.ProtoUDP, packet.ProtoICMP:
		fixed = 8
	}
	p.L4Fixed = p.FragOff == 0 && len(l4) >= fixed
	p.L4OK = p.L4Fixed
	if !p.L4Fixed || fixed == 0 {
		return
	}
	switch p.Proto {
	case packet.ProtoTCP:
		p.SrcPort = binary.BigEndian.Uint16(l4)
		p.DstPort = binary.BigEndian.Uint16(l4[2:])
		p.Seq = binary.BigEndian.Uint32(l4[4:])
		p.Ack = binary.BigEndian.Uint32(l4[8:])
		p.TCPDoff = int(l4[12]>>4) * 4
		p.TCPFlags = l4[13]
		p.Window = binary.BigEndian.Uint16(l4[14:])
		p.L4OK = p.TCPDoff >= 20 && p.TCPDoff <= len(l4)
	case packet.ProtoUDP:
		p.SrcPort = binary.BigEndian.Uint16(l4)
		p.DstPort = binary.BigEndian.Uint16(l4[2:])
	case packet.ProtoICMP:
		p.ICMPType, p.ICMPCode = l4[0], l4[1]
		p.ICMPID = binary.BigEndian.Uint16(l4[4:])
		p.ICMPSeq = binary.BigEndian.Uint16(l4[6:])
	}
}

// tcpSeg returns a TCP header with the given ports, flags and options
// (padded to a multiple of 4), followed by payload.
func tcpSeg(sport, dport uint16, flags uint8, opts []byte, payload string) []byte {
	for len(opts)%4 != 0 {
		opts = append(opts, 0)
	}
	h := make([]byte, 20+len(opts))
	binary.BigEndian.PutUint16(h, sport)
	binary.BigEndian.PutUint16(h[2:], dport)
	h[12] = byte((20+len(opts))/4) << 4
	h[13] = flags
	binary.BigEndian.PutUint16(h[14:], 65535)
	copy(h[20:], opts)
	return append(h, payload...)
}

func tcpPkt(sport, dport uint16, flags uint8) *packet.Packet {
	return ipPkt(packet.ProtoTCP, tcpSeg(sport, dport, flags, nil, ""))
}

func udpPkt(sport, dport uint16) *packet.Packet {
	h := make([]byte, 8)
	binary.BigEndian.PutUint16(h, sport)
	binary.BigEndian.PutUint16(h[2:], dport)
	binary.BigEndian.PutUint16(h[4:], 8)
	return ipPkt(packet.ProtoUDP, h)
}

func icmpPkt(typ, code uint8) *packet.Packet {
	return ipPkt(packet.ProtoICMP, []byte{typ, code, 0, 0, 0, 1, 0, 1})
}

// laterFragment turns p into a fragment at offset off (8-byte units)
// carrying p's transport bytes as its payload.
func laterFragment(p *packet.Packet, off uint16) *packet.Packet {
	p.FragOff = off
	refill(p)
	return p
}

// truncated cuts p's transport part to n bytes, as a short capture or a
// tiny packet would have it.
func truncated(p *packet.Packet, n int) *packet.Packet {
	p.Data = p.Data[:20+n]
	p.TotalLen = len(p.Data)
	binary.BigEndian.PutUint16(p.Data[2:], uint16(p.TotalLen))
	p.L4 = p.Data[20:]
	refill(p)
	return p
}

// matchCase is one packet against one rule's match.
type matchCase struct {
	rule    string
	name    string // the match to test
	pkt     *packet.Packet
	ctx     func(c *Ctx) // optional: set context fields
	want    bool
	hotdrop bool
}

func runMatchCases(t *testing.T, cases []matchCase) {
	t.Helper()
	for _, tc := range cases {
		m := ruleMatcher(t, tc.rule, tc.name)
		c := &Ctx{Pkt: tc.pkt, Hook: LocalIn, UID: -1, GID: -1}
		if tc.ctx != nil {
			tc.ctx(c)
		}
		got := m.Match(c)
		hd := false
		if h, ok := m.(Hotdropper); ok && !got {
			hd = h.Hotdrop(c)
		}
		why := ""
		if x, ok := m.(Explainer); ok {
			why = x.Explain(c, got)
		}
		if got != tc.want || hd != tc.hotdrop {
			t.Errorf("%q: match %v hotdrop %v, want %v %v (%s)", tc.rule, got, hd, tc.want, tc.hotdrop, why)
		}
		if why == "" {
			t.Errorf("%q: empty explanation", tc.rule)
		}
		if got {
			if h, ok := m.(Hotdropper); ok && h.Hotdrop(c) {
				t.Errorf("%q: matched and asks for a hotdrop", tc.rule)
			}
		}
		if n := testing.AllocsPerRun(10, func() { m.Match(c) }); n != 0 {
			t.Errorf("%q: Match allocates %v times", tc.rule, n)
		}
		if h, ok := m.(Hotdropper); ok {
			if n := testing.AllocsPerRun(10, func() { h.Hotdrop(c) }); n != 0 {
				t.Errorf("%q: Hotdrop allocates %v times", tc.rule, n)
			}
		}
		if h, ok := m.(MatchHotdropper); ok {
			if n := testing.AllocsPerRun(10, func() { h.MatchHotdrop(c) }); n != 0 {
				t.Errorf("%q: MatchHotdrop allocates %v times", tc.rule, n)
			}
			// Match is the kernel's result unless it dropped the packet,
			// and Hotdrop agrees about the drop.
			if mm, hd := h.MatchHotdrop(c); got != (mm && !hd) || hd && !m.(Hotdropper).Hotdrop(c) {
				t.Errorf("%q: MatchHotdrop says %v %v, Match %v", tc.rule, mm, hd, got)
			}
		}
	}
}

// printCase checks the -L text of a rule's match, numeric and not.
type printCase struct {
	rule, name    string
	numeric, text string
}

func runPrintCases(t *testing.T, cases []printCase) {
	t.Helper()
	for _, tc := range cases {
		m := ruleMatch(t, tc.rule, tc.name)
		if got := printOf(m, true); got != tc.numeric {
			t.Errorf("%q: -n prints %q, want %q", tc.rule, got, tc.numeric)
		}
		if got := printOf(m, false); got != tc.text {
			t.Errorf("%q: prints %q, want %q", tc.rule, got, tc.text)
		}
	}
}

// parseFails checks that each rule is refused, and that the error says
// something.
func parseFails(t *testing.T, rules ...string) {
	t.Helper()
	for _, r := range rules {
		got, _, err := protoRule(r, "filter", "INPUT")
		if err == nil {
			t.Errorf("%q accepted (saved %q), want an error", r, got)
		} else if len(err.Error()) < 10 {
			t.Errorf("%q: terse error %q", r, err)
		}
	}
}

// saves checks the saved form of rules: pairs of rule and expected save.
func saves(t *testing.T, pairs ...string) {
	t.Helper()
	for i := 0; i+1 < len(pairs); i += 2 {
		got, _, err := protoRule(pairs[i], "filter", "INPUT")
		if err != nil {
			t.Errorf("%q: %v", pairs[i], err)
		} else if got != pairs[i+1] {
			t.Errorf("%q saved %q, want %q", pairs[i], got, pairs[i+1])
		}
	}
}
