package ext

import (
	"fmt"
	"strings"

	"github.com/ipsift/ipsift/classify"
	"github.com/ipsift/ipsift/packet"
)

// The tcp match (-p tcp [-m tcp]): ports, flags and options, as iptables'
// libxt_tcp.c reads and prints them and the kernel's xt_tcpudp.c tests
// them.
//
// The kernel never matches a later fragment (there is no header to read)
// and drops outright ("hotdrop", see Hotdropper) a packet whose 20-byte
// header is cut short, a fragment at offset 8 (an attempt to overwrite
// the flags of the first fragment), and, with --tcp-option, a data offset
// below 20 or options cut short.

// tcpFlagNames are the names --tcp-flags reads and prints, in the order
// iptables prints them; ALL and NONE are only read.
var tcpFlagNames = []struct {
	name string
	flag uint8
}{
	{"FIN", packet.TCPFin}, {"SYN", packet.TCPSyn}, {"RST", packet.TCPRst},
	{"PSH", packet.TCPPsh}, {"ACK", packet.TCPAck}, {"URG", packet.TCPUrg},
	{"ALL", 0x3f}, {"NONE", 0},
}

// tcpMatch is one -m tcp in one rule (struct xt_tcp).
type tcpMatch struct {
	spts, dpts      [2]uint16
	flgMask, flgCmp uint8
	option          uint8
	invSrc, invDst  bool
	invFlags        bool
	invOption       bool
	// given is what was parsed (ports, flags, option): --sport and
	// --source-port are one option, as are --syn and --tcp-flags.
	given uint8
}

const (
	tcpGivenSrc = 1 << iota
	tcpGivenDst
	tcpGivenFlags
	tcpGivenOption
)

func init() {
	RegisterMatch(&MatchType{
		Name:     "tcp",
		Family:   AnyFamily,
		Proto:    packet.ProtoTCP,
		Implicit: true,
		// libxt_tcp uses the old parse interface, which lets "!" stand
		// before any of its options.
		Options: []Option{
			{Name: "source-port", Arg: OneArg, Invert: true},
			{Name: "sport", Arg: OneArg, Invert: true},
			{Name: "destination-port", Arg: OneArg, Invert: true},
			{Name: "dport", Arg: OneArg, Invert: true},
			{Name: "syn", Arg: NoArg, Invert: true},
			{Name: "tcp-flags", Arg: OneArg, Invert: true},
			{Name: "tcp-option", Arg: OneArg, Invert: true},
		},
		New: func() Match { return &tcpMatch{spts: [2]uint16{0, 65535}, dpts: [2]uint16{0, 65535}} },
	})
}

// Parse implements Parser.
func (m *tcpMatch) Parse(opt, arg string, invert bool, more *Args) error {
	switch opt {
	case "source-port", "sport":
		if m.given&tcpGivenSrc != 0 {
			return Errorf("only one --source-port (--sport) allowed")
		}
		lo, hi, err := parseXtPortRange(arg, packet.ProtoTCP)
		if err != nil {
			return err
		}
		m.spts = [2]uint16{lo, hi}
		m.invSrc = invert
		m.given |= tcpGivenSrc
	case "destination-port", "dport":
		if m.given&tcpGivenDst != 0 {
			return Errorf("only one --destination-port (--dport) allowed")
		}
		lo, hi, err := parseXtPortRange(arg, packet.ProtoTCP)
		if err != nil {
			return err
		}
		m.dpts = [2]uint16{lo, hi}
		m.invDst = invert
		m.given |= tcpGivenDst
	case "syn":
		if m.given&tcpGivenFlags != 0 {
			return Errorf("only one of --syn or --tcp-flags allowed")
		}
		m.flgMask = packet.TCPFin | packet.TCPSyn | packet.TCPRst | packet.TCPAck
		m.flgCmp = packet.TCPSyn
		m.invFlags = invert
		m.given |= tcpGivenFlags
	case "tcp-flags":
		if m.given&tcpGivenFlags != 0 {
			return Errorf("only one of --syn or --tcp-flags allowed")
		}
		cmp, ok := more.Take()
		if !ok || cmp == "" || cmp[0] == '!' || cmp[0] == '-' {
			return Errorf("--tcp-flags requires two args: the flags to examine and those that must be set, e.g. --tcp-flags SYN,RST,ACK,FIN SYN")
		}
		mask, err := parseTCPFlags(arg)
		if err != nil {
			return err
		}
		c, err := parseTCPFlags(cmp)
		if err != nil {
			return err
		}
		m.flgMask, m.flgCmp = mask, c
		m.invFlags = invert
		m.given |= tcpGivenFlags
	case "tcp-option":
		if m.given&tcpGivenOption != 0 {
			return Errorf("only one --tcp-option allowed")
		}
		v, ok := ParseUintFull(arg, 1, 255)
		if !ok {
			return Errorf("bad TCP option %q: write an option kind 1-255 (2 is MSS, 3 window scale, 4 SACK permitted, 8 timestamps)", arg)
		}
		m.option = uint8(v)
		m.invOption = invert
		m.given |= tcpGivenOption
	default:
		return Errorf("unknown option --%s", opt)
	}
	return nil
}

// parseTCPFlags reads a comma-separated list of flag names,
// case-insensitively; empty elements are skipped as strtok does.
func parseTCPFlags(s string) (uint8, error) {
	var f uint8
	for _, w := range strings.Split(s, ",") {
		if w == "" {
			continue
		}
		found := false
		for _, n := range tcpFlagNames {
			if strings.EqualFold(n.name, w) {
				f |= n.flag
				found = true
				break
			}
		}
		if !found {
			return 0, fmt.Errorf("unknown TCP flag %q: use FIN, SYN, RST, PSH, ACK, URG, ALL or NONE", w)
		}
	}
	return f, nil
}

// Finish implements Parser; the kernel's tcp_mt_check only rejects
// unknown inversion bits, which cannot occur here.
func (m *tcpMatch) Finish(r *RuleInfo) error { return nil }

// formatTCPFlags prints flags as iptables does: names joined by commas,
// NONE for none.
func formatTCPFlags(f uint8) string {
	if f == 0 {
		return "NONE"
	}
	var b strings.Builder
	for _, n := range tcpFlagNames[:6] {
		if f&n.flag != 0 {
			if b.Len() > 0 {
				b.WriteByte(',')
			}
			b.WriteString(n.name)
		}
	}
	if b.Len() == 0 {
		// Only ECE or CWR, which no option can name.
		return "NONE"
	}
	return b.String()
}

// skipPorts is iptables' skip_ports_match: a full range that is not
// inverted is left out of the saved and printed rule.
func skipPorts(r [2]uint16, inv bool) bool { return r[0] == 0 && r[1] == 65535 && !inv }

// Save implements Parser.
func (m *tcpMatch) Save(b *strings.Builder) {
	if !skipPorts(m.spts, m.invSrc) {
		savePortRange(b, "sport", m.spts[0], m.spts[1], m.invSrc)
	}
	if !skipPorts(m.dpts, m.invDst) {
		savePortRange(b, "dport", m.dpts[0], m.dpts[1], m.invDst)
	}
	if m.option != 0 || m.invOption {
		if m.invOption {
			b.WriteString(" !")
		}
		fmt.Fprintf(b, " --tcp-option %d", m.option)
	}
	if m.flgMask != 0 || m.invFlags {
		if m.invFlags {
			b.WriteString(" !")
		}
		b.WriteString(" --tcp-flags " + formatTCPFlags(m.flgMask) + " " + formatTCPFlags(m.flgCmp))
	}
}

// Print implements Parser.
func (m *tcpMatch) Print(b *strings.Builder, numeric bool) {
	b.WriteString(" tcp")
	if !skipPorts(m.spts, m.invSrc) {
		appendPortRange(b, "spt", m.spts[0], m.spts[1], m.invSrc, packet.ProtoTCP, numeric)
	}
	if !skipPorts(m.dpts, m.invDst) {
		appendPortRange(b, "dpt", m.dpts[0], m.dpts[1], m.invDst, packet.ProtoTCP, numeric)
	}
	if m.option != 0 || m.invOption {
		b.WriteString(" option=")
		if m.invOption {
			b.WriteByte('!')
		}
		fmt.Fprintf(b, "%d", m.option)
	}
	if m.flgMask != 0 || m.invFlags {
		b.WriteString(" flags:")
		if m.invFlags {
			b.WriteByte('!')
		}
		if numeric {
			fmt.Fprintf(b, "0x%02X/0x%02X", m.flgMask, m.flgCmp)
		} else {
			b.WriteString(formatTCPFlags(m.flgMask) + "/" + formatTCPFlags(m.flgCmp))
		}
	}
}

// Compile implements Match.
func (m *tcpMatch) Compile(c *Compiler) (Matcher, error) {
	cm := *m
	if !c.Legacy && m.option == 0 {
		return newTCPNft(&cm), nil // see m_tcpudp_nft.go
	}
	return &cm, nil
}

// inRange reports whether v lies in r, inverted when inv.
func inRange(r [2]uint16, v uint16, inv bool) bool { return (v >= r[0] && v <= r[1]) != inv }

// headerTests runs the tests on the fixed header (ports and flags).
func (m *tcpMatch) headerTests(p *packet.Packet) bool {
	return inRange(m.spts, p.SrcPort, m.invSrc) &&
		inRange(m.dpts, p.DstPort, m.invDst) &&
		((p.TCPFlags&m.flgMask) == m.flgCmp) != m.invFlags
}

// Match implements Matcher, as the kernel's tcp_mt.
func (m *tcpMatch) Match(c *Ctx) bool {
	p := c.Pkt
	if p.Proto != packet.ProtoTCP || p.FragOff != 0 || !p.L4Fixed {
		return false
	}
	if !m.headerTests(p) {
		return false
	}
	if m.option == 0 {
		return true
	}
	found, ok := tcpHasOption(p, m.option)
	if !ok {
		return false
	}
	return found != m.invOption
}

// tcpHasOption scans the TCP options for kind opt, as tcp_find_option
// does; ok is false when the kernel would drop the packet (data offset
// below 20, options cut short).
func tcpHasOption(p *packet.Packet, opt uint8) (found, ok bool) {
	if p.TCPDoff < 20 {
		return false, false
	}
	optlen := p.TCPDoff - 20
	if optlen == 0 {
		return false, true
	}
	op, ok := l4Bytes(p, 20, optlen)
	if !ok {
		return false, false
	}
	for i := 0; i < optlen; {
		if op[i] == opt {
			return true, true
		}
		if op[i] < 2 || i+1 >= optlen {
			// Kinds 0 (end) and 1 (no-op) are one byte; the kernel
			// reads a length byte past the options only to leave the
			// loop, so stepping one byte ends it just the same.
			i++
		} else if op[i+1] == 0 {
			i++
		} else {
			i += int(op[i+1])
		}
	}
	return false, true
}

// Hotdrop implements Hotdropper.
func (m *tcpMatch) Hotdrop(c *Ctx) bool {
	p := c.Pkt
	if p.Proto != packet.ProtoTCP {
		return false
	}
	if p.FragOff != 0 {
		// The "evil" fragment at offset 8 is an IPv4 test only: for
		// IPv6, ip6_packet_match hands tcp_mt the offset in bytes (8),
		// never 1 (kerneldiff's testdata/regress/ipv6-tcp-fragment-8).
		return p.FragOff == 1 && p.Version == 4
	}
	if !p.L4Fixed {
		return true
	}
	if m.option == 0 || !m.headerTests(p) {
		return false
	}
	_, ok := tcpHasOption(p, m.option)
	return !ok
}

// Explain implements Explainer.
func (m *tcpMatch) Explain(c *Ctx, matched bool) string {
	p := c.Pkt
	switch {
	case p.Proto != packet.ProtoTCP:
		return "not a tcp packet"
	case p.FragOff == 1 && p.Version == 4:
		return "a tcp fragment at offset 8 (an attempt to overwrite the first fragment's flags): dropped"
	case p.FragOff != 0:
		return "a later fragment has no tcp header: tcp never matches it"
	case !p.L4Fixed:
		return "the tcp header is cut short: the packet is dropped"
	}
	var why []string
	add := func(ok bool, s string) {
		if ok == matched {
			why = append(why, s)
		}
	}
	if !skipPorts(m.spts, m.invSrc) {
		add(inRange(m.spts, p.SrcPort, m.invSrc), fmt.Sprintf("%s--sport %s: the packet's is %d", bang(m.invSrc), FormatPortRange(m.spts[0], m.spts[1]), p.SrcPort))
	}
	if !skipPorts(m.dpts, m.invDst) {
		add(inRange(m.dpts, p.DstPort, m.invDst), fmt.Sprintf("%s--dport %s: the packet's is %d", bang(m.invDst), FormatPortRange(m.dpts[0], m.dpts[1]), p.DstPort))
	}
	if m.flgMask != 0 || m.invFlags {
		add(((p.TCPFlags&m.flgMask) == m.flgCmp) != m.invFlags, fmt.Sprintf("%s--tcp-flags %s %s: the packet has %s", bang(m.invFlags), formatTCPFlags(m.flgMask), formatTCPFlags(m.flgCmp), formatTCPFlags(p.TCPFlags&0x3f)))
	}
	if m.option != 0 {
		found, ok := tcpHasOption(p, m.option)
		switch {
		case !ok:
			why = append(why, fmt.Sprintf("--tcp-option %d: the tcp options are cut short (data offset %d): the packet is dropped", m.option, p.TCPDoff))
		case found:
			add(!m.invOption, fmt.Sprintf("%s--tcp-option %d: the packet has it", bang(m.invOption), m.option))
		default:
			add(m.invOption, fmt.Sprintf("%s--tcp-option %d: the packet has none", bang(m.invOption), m.option))
		}
	}
	if len(why) == 0 {
		return "a tcp packet"
	}
	if !matched {
		return why[0]
	}
	return strings.Join(why, "; ")
}

// bang returns "! " for an inverted test, for explanations.
func bang(inv bool) string {
	if inv {
		return "! "
	}
	return ""
}

// ClassifyExact implements ExactClassifiable: without --tcp-option,
// Match tests the ports and the flags of a regular tcp packet (the
// flags test, made even when its mask is empty, holds then unless it
// compares with something or is negated).
func (m *tcpMatch) ClassifyExact(r *classify.Rule, proto uint8) (ok, exact bool) {
	flags := flagsExact(r, m.flgMask) && (m.flgMask != 0 || m.flgCmp == 0 && !m.invFlags)
	exact = proto == packet.ProtoTCP && m.option == 0 && portsExact(m.invSrc, m.invDst) && flags
	return m.Classify(r), exact
}

// Classify implements Classifiable: ports and flags; with --tcp-option
// nothing, since the option scan can hotdrop a regular packet.
func (m *tcpMatch) Classify(r *classify.Rule) bool {
	if m.option != 0 {
		return false
	}
	classifyPorts(r, m.spts, m.dpts, m.invSrc, m.invDst)
	if m.flgMask != 0 {
		r.NarrowTCPFlags(m.flgMask, m.flgCmp, m.invFlags)
	}
	return true
}

// classifyPorts narrows r by port ranges that are not negated (a negated
// pair means something else in nf_tables: see m_tcpudp_nft.go).
func classifyPorts(r *classify.Rule, spts, dpts [2]uint16, invSrc, invDst bool) {
	if !invSrc {
		r.NarrowSPort(spts[0], spts[1])
	}
	if !invDst {
		r.NarrowDPort(dpts[0], dpts[1])
	}
}
