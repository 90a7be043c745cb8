package ext

import (
	"fmt"
	"strings"

	"github.com/ipsift/ipsift/classify"
	"github.com/ipsift/ipsift/packet"
)

// The icmp match (-p icmp [-m icmp] --icmp-type ...), as iptables'
// libipt_icmp.c reads and prints it and the kernel's xt_tcpudp.c
// (icmp_match) tests it: a type and a code range; type 255 ("any")
// matches every ICMP packet. A later fragment never matches; a packet
// whose 8-byte ICMP header is cut short is dropped (see Hotdropper).

// icmpCodes is iptables' table of ICMP type names (libxt_icmp.h): a name
// stands for a type and a range of codes. Order matters: -L prints the
// first name whose type and codes equal the rule's, and an abbreviation
// that fits two names is refused.
type icmpName struct {
	name       string
	typ        uint8
	cmin, cmax uint8
}

var icmpCodes = []icmpName{
	{"any", 0xFF, 0, 0xFF},
	{"echo-reply", 0, 0, 0xFF},
	{"pong", 0, 0, 0xFF},
	{"destination-unreachable", 3, 0, 0xFF},
	{"network-unreachable", 3, 0, 0},
	{"host-unreachable", 3, 1, 1},
	{"protocol-unreachable", 3, 2, 2},
	{"port-unreachable", 3, 3, 3},
	{"fragmentation-needed", 3, 4, 4},
	{"source-route-failed", 3, 5, 5},
	{"network-unknown", 3, 6, 6},
	{"host-unknown", 3, 7, 7},
	{"network-prohibited", 3, 9, 9},
	{"host-prohibited", 3, 10, 10},
	{"TOS-network-unreachable", 3, 11, 11},
	{"TOS-host-unreachable", 3, 12, 12},
	{"communication-prohibited", 3, 13, 13},
	{"host-precedence-violation", 3, 14, 14},
	{"precedence-cutoff", 3, 15, 15},
	{"source-quench", 4, 0, 0xFF},
	{"redirect", 5, 0, 0xFF},
	{"network-redirect", 5, 0, 0},
	{"host-redirect", 5, 1, 1},
	{"TOS-network-redirect", 5, 2, 2},
	{"TOS-host-redirect", 5, 3, 3},
	{"echo-request", 8, 0, 0xFF},
	{"ping", 8, 0, 0xFF},
	{"router-advertisement", 9, 0, 0xFF},
	{"router-solicitation", 10, 0, 0xFF},
	{"time-exceeded", 11, 0, 0xFF},
	{"ttl-exceeded", 11, 0, 0xFF},
	{"ttl-zero-during-transit", 11, 0, 0},
	{"ttl-zero-during-reassembly", 11, 1, 1},
	{"parameter-problem", 12, 0, 0xFF},
	{"ip-header-bad", 12, 0, 0},
	{"required-option-missing", 12, 1, 1},
	{"timestamp-request", 13, 0, 0xFF},
	{"timestamp-reply", 14, 0, 0xFF},
	{"address-mask-request", 17, 0, 0xFF},
	{"address-mask-reply", 18, 0, 0xFF},
}

// icmpMatch is one -m icmp in one rule (struct ipt_icmp).
type icmpMatch struct {
	typ  uint8
	code [2]uint8
	inv  bool
}

func init() {
	RegisterMatch(&MatchType{
		Name:     "icmp",
		Family:   IPv4,
		Proto:    packet.ProtoICMP,
		Implicit: true,
		Options: []Option{
			{Name: "icmp-type", Arg: OneArg, Invert: true, Mandatory: true},
		},
		New: func() Match { return &icmpMatch{typ: 0xFF, code: [2]uint8{0, 0xFF}} },
	})
}

// Parse implements Parser.
func (m *icmpMatch) Parse(opt, arg string, invert bool, more *Args) error {
	if opt != "icmp-type" {
		return Errorf("unknown option --%s", opt)
	}
	typ, code, err := parseICMPType(icmpCodes, "ICMP", arg)
	if err != nil {
		return err
	}
	m.typ, m.code, m.inv = typ, code, invert
	return nil
}

// parseICMPType reads a type name (or an unambiguous abbreviation of
// one, case-insensitively), "TYPE", "TYPE/CODE" or "TYPE/CODE:CODE", as
// iptables' __ipt_parse_icmp does, with the names of table (icmpCodes
// for ICMP, icmpv6Codes for ICMPv6; label says which in messages).
func parseICMPType(table []icmpName, label, s string) (typ uint8, code [2]uint8, err error) {
	match := -1
	for i, c := range table {
		if len(s) > len(c.name) || !strings.EqualFold(c.name[:len(s)], s) {
			continue
		}
		if match >= 0 {
			return 0, code, fmt.Errorf("ambiguous %s type %q: %q or %q?", label, s, table[match].name, c.name)
		}
		match = i
	}
	if match >= 0 {
		c := table[match]
		return c.typ, [2]uint8{c.cmin, c.cmax}, nil
	}
	lo, hi, rest, ok := parseByteRange(s)
	if !ok {
		return 0, code, fmt.Errorf("unknown %s type %q: write a name such as echo-request, or TYPE[/CODE] as numbers 0-255", label, s)
	}
	if lo != hi {
		return 0, code, fmt.Errorf("%s type range %q not supported: write one type", label, s)
	}
	typ = lo
	switch {
	case rest == "":
		return typ, [2]uint8{0, 0xFF}, nil
	case rest[0] == '/':
		clo, chi, crest, ok := parseByteRange(rest[1:])
		if !ok {
			return 0, code, fmt.Errorf("unknown %s code in %q: write TYPE/CODE or TYPE/CODE:CODE with numbers 0-255", label, s)
		}
		if crest != "" {
			return 0, code, fmt.Errorf("unknown character %q in %q", crest[0], s)
		}
		return typ, [2]uint8{clo, chi}, nil
	default:
		return 0, code, fmt.Errorf("unknown character %q in %q", rest[0], s)
	}
}

// parseByteRange reads "N" or "N:M" (numbers 0-255 as strtoul reads them)
// at the start of s, as libxt_icmp.h's parse_range; a reversed range is
// kept as written, as there.
func parseByteRange(s string) (lo, hi uint8, rest string, ok bool) {
	v, rest, ok := ParseUintPrefix(s, 0, 255)
	if !ok {
		return 0, 0, s, false
	}
	lo, hi = uint8(v), uint8(v)
	if rest != "" && rest[0] == ':' {
		w, r2, ok := ParseUintPrefix(rest[1:], 0, 255)
		if !ok {
			return 0, 0, s, false
		}
		hi, rest = uint8(w), r2
	}
	return lo, hi, rest, true
}

// Finish implements Parser.
func (m *icmpMatch) Finish(r *RuleInfo) error { return nil }

// Save implements Parser. iptables saves only the lower code of a code
// range ("3/1:4" comes back as "3/1"): ipsift prints the same.
func (m *icmpMatch) Save(b *strings.Builder) {
	if m.inv {
		b.WriteString(" !")
	}
	if m.typ == 0xFF && m.code == [2]uint8{0, 0xFF} {
		b.WriteString(" --icmp-type any")
		return
	}
	fmt.Fprintf(b, " --icmp-type %d", m.typ)
	if m.code != [2]uint8{0, 0xFF} {
		fmt.Fprintf(b, "/%d", m.code[0])
	}
}

// Print implements Parser: " icmp echo-request", or numerically
// " icmptype 8" (iptables writes no space after "icmp" there).
func (m *icmpMatch) Print(b *strings.Builder, numeric bool) {
	b.WriteString(" icmp")
	printICMPType(b, icmpCodes, m.typ, m.code, m.inv, numeric)
}

// printICMPType is print_icmptype / print_icmpv6type: the first name of
// the table with the type and code range, else "type N [code(s) ...]".
func printICMPType(b *strings.Builder, table []icmpName, typ uint8, code [2]uint8, inv, numeric bool) {
	if !numeric {
		for _, c := range table {
			if c.typ == typ && c.cmin == code[0] && c.cmax == code[1] {
				b.WriteString(" " + bangNoSpace(inv) + c.name)
				return
			}
		}
	}
	if inv {
		b.WriteString(" !")
	}
	fmt.Fprintf(b, "type %d", typ)
	if code[0] == code[1] {
		fmt.Fprintf(b, " code %d", code[0])
	} else if code != [2]uint8{0, 0xFF} {
		fmt.Fprintf(b, " codes %d-%d", code[0], code[1])
	}
}

// bangNoSpace is "!" for an inverted test, as iptables prints it glued
// to the value.
func bangNoSpace(inv bool) string {
	if inv {
		return "!"
	}
	return ""
}

// Compile implements Match.
func (m *icmpMatch) Compile(c *Compiler) (Matcher, error) {
	cm := *m
	return &cm, nil
}

// test is icmp_type_code_match.
func (m *icmpMatch) test(p *packet.Packet) bool {
	return (m.typ == 0xFF || p.ICMPType == m.typ && p.ICMPCode >= m.code[0] && p.ICMPCode <= m.code[1]) != m.inv
}

// Match implements Matcher.
func (m *icmpMatch) Match(c *Ctx) bool {
	p := c.Pkt
	if p.Proto != packet.ProtoICMP || p.FragOff != 0 || !p.L4Fixed {
		return false
	}
	return m.test(p)
}

// Hotdrop implements Hotdropper: an ICMP packet without its 8-byte
// header is dropped.
func (m *icmpMatch) Hotdrop(c *Ctx) bool {
	p := c.Pkt
	return p.Proto == packet.ProtoICMP && p.FragOff == 0 && !p.L4Fixed
}

// Explain implements Explainer.
func (m *icmpMatch) Explain(c *Ctx, matched bool) string {
	p := c.Pkt
	switch {
	case p.Proto != packet.ProtoICMP:
		return "not an icmp packet"
	case p.FragOff != 0:
		return "a later fragment has no icmp header: icmp never matches it"
	case !p.L4Fixed:
		return "the icmp header is cut short: the packet is dropped"
	}
	var want strings.Builder
	m.Save(&want)
	return fmt.Sprintf("%s: the packet is type %d code %d", strings.TrimSpace(want.String()), p.ICMPType, p.ICMPCode)
}

// Classify implements Classifiable.
func (m *icmpMatch) Classify(r *classify.Rule) bool {
	if m.typ != 0xFF && !m.inv {
		r.NarrowICMP(m.typ, m.code[0], m.code[1])
	}
	return true
}
