package ext

import (
	"fmt"
	"strings"

	"github.com/ipsift/ipsift/classify"
	"github.com/ipsift/ipsift/packet"
)

// The udp match (-p udp [-m udp]): source and destination port ranges, as
// iptables' libxt_udp.c reads and prints them and the kernel's
// xt_tcpudp.c (udp_mt) tests them. A later fragment never matches; a
// packet whose 8-byte header is cut short is dropped (see Hotdropper).
//
// The kernel also has a "udplite" match, but iptables has no extension
// to load it (-p udplite --dport is an unknown option there too), so
// ipsift has none either.

// udpMatch is one -m udp in one rule (struct xt_udp).
type udpMatch struct {
	spts, dpts     [2]uint16
	invSrc, invDst bool
	given          uint8 // tcpGivenSrc, tcpGivenDst
}

func init() {
	RegisterMatch(&MatchType{
		Name:     "udp",
		Family:   AnyFamily,
		Proto:    packet.ProtoUDP,
		Implicit: true,
		Options: []Option{
			{Name: "source-port", Arg: OneArg, Invert: true},
			{Name: "sport", Arg: OneArg, Invert: true},
			{Name: "destination-port", Arg: OneArg, Invert: true},
			{Name: "dport", Arg: OneArg, Invert: true},
		},
		New: func() Match { return &udpMatch{spts: [2]uint16{0, 65535}, dpts: [2]uint16{0, 65535}} },
	})
}

// Parse implements Parser. Ports are read as libxtables' XTTYPE_PORTRC
// reads them (getaddrinfo: decimal numbers or service names).
func (m *udpMatch) Parse(opt, arg string, invert bool, more *Args) error {
	var bit uint8
	var r *[2]uint16
	var inv *bool
	switch opt {
	case "source-port", "sport":
		bit, r, inv = tcpGivenSrc, &m.spts, &m.invSrc
	case "destination-port", "dport":
		bit, r, inv = tcpGivenDst, &m.dpts, &m.invDst
	default:
		return Errorf("unknown option --%s", opt)
	}
	if m.given&bit != 0 {
		return Errorf("option --%s can only be used once (--sport and --source-port are the same option)", opt)
	}
	lo, hi, err := ParsePortRange(arg)
	if err != nil {
		return err
	}
	*r = [2]uint16{lo, hi}
	*inv = invert
	m.given |= bit
	return nil
}

// Finish implements Parser.
func (m *udpMatch) Finish(r *RuleInfo) error { return nil }

// Save implements Parser.
func (m *udpMatch) Save(b *strings.Builder) {
	if !skipPorts(m.spts, m.invSrc) {
		savePortRange(b, "sport", m.spts[0], m.spts[1], m.invSrc)
	}
	if !skipPorts(m.dpts, m.invDst) {
		savePortRange(b, "dport", m.dpts[0], m.dpts[1], m.invDst)
	}
}

// Print implements Parser.
func (m *udpMatch) Print(b *strings.Builder, numeric bool) {
	b.WriteString(" udp")
	if !skipPorts(m.spts, m.invSrc) {
		appendPortRange(b, "spt", m.spts[0], m.spts[1], m.invSrc, packet.ProtoUDP, numeric)
	}
	if !skipPorts(m.dpts, m.invDst) {
		appendPortRange(b, "dpt", m.dpts[0], m.dpts[1], m.invDst, packet.ProtoUDP, numeric)
	}
}

// Compile implements Match.
func (m *udpMatch) Compile(c *Compiler) (Matcher, error) {
	cm := *m
	if !c.Legacy {
		return &udpNft{nftPorts: nftPorts{cm.spts, cm.dpts, cm.invSrc, cm.invDst}, orig: &cm}, nil // see m_tcpudp_nft.go
	}
	return &cm, nil
}

// Match implements Matcher, as the kernel's udp_mt.
func (m *udpMatch) Match(c *Ctx) bool {
	p := c.Pkt
	if p.Proto != packet.ProtoUDP || p.FragOff != 0 || !p.L4Fixed {
		return false
	}
	return inRange(m.spts, p.SrcPort, m.invSrc) && inRange(m.dpts, p.DstPort, m.invDst)
}

// Hotdrop implements Hotdropper: a first fragment or whole packet
// without its 8-byte header is dropped.
func (m *udpMatch) Hotdrop(c *Ctx) bool {
	p := c.Pkt
	return p.Proto == packet.ProtoUDP && p.FragOff == 0 && !p.L4Fixed
}

// Explain implements Explainer.
func (m *udpMatch) Explain(c *Ctx, matched bool) string {
	p := c.Pkt
	switch {
	case p.Proto != packet.ProtoUDP:
		return "not a udp packet"
	case p.FragOff != 0:
		return "a later fragment has no udp header: udp never matches it"
	case !p.L4Fixed:
		return "the udp header is cut short: the packet is dropped"
	}
	var why []string
	if !skipPorts(m.spts, m.invSrc) && inRange(m.spts, p.SrcPort, m.invSrc) == matched {
		why = append(why, fmt.Sprintf("%s--sport %s: the packet's is %d", bang(m.invSrc), FormatPortRange(m.spts[0], m.spts[1]), p.SrcPort))
	}
	if !skipPorts(m.dpts, m.invDst) && inRange(m.dpts, p.DstPort, m.invDst) == matched {
		why = append(why, fmt.Sprintf("%s--dport %s: the packet's is %d", bang(m.invDst), FormatPortRange(m.dpts[0], m.dpts[1]), p.DstPort))
	}
	if len(why) == 0 {
		return "a udp packet"
	}
	if !matched {
		return why[0]
	}
	return strings.Join(why, "; ")
}

// ClassifyExact implements ExactClassifiable: on a regular udp packet
// Match tests the ports, nothing else.
func (m *udpMatch) ClassifyExact(r *classify.Rule, proto uint8) (ok, exact bool) {
	return m.Classify(r), proto == packet.ProtoUDP && portsExact(m.invSrc, m.invDst)
}

// Classify implements Classifiable.
func (m *udpMatch) Classify(r *classify.Rule) bool {
	classifyPorts(r, m.spts, m.dpts, m.invSrc, m.invDst)
	return true
}
