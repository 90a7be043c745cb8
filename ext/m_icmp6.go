package ext

import (
	"fmt"
	"strings"

	"github.com/ipsift/ipsift/packet"
)

// The icmp6 match (-p ipv6-icmp [-m icmp6] --icmpv6-type ...), as
// libip6t_icmp6.c reads and prints it and the kernel's ip6_tables.c
// (icmp6_match) tests it: a type and a code range, read with the same
// code as icmp's (m_icmp.go) over ICMPv6's names. -p ipv6-icmp (58) is
// required. ip6tables only.

// icmpv6Codes is libxt_icmp.h's icmpv6_codes, in its order.
var icmpv6Codes = []icmpName{
	{"destination-unreachable", 1, 0, 0xFF},
	{"no-route", 1, 0, 0},
	{"communication-prohibited", 1, 1, 1},
	{"beyond-scope", 1, 2, 2},
	{"address-unreachable", 1, 3, 3},
	{"port-unreachable", 1, 4, 4},
	{"failed-policy", 1, 5, 5},
	{"reject-route", 1, 6, 6},
	{"packet-too-big", 2, 0, 0xFF},
	{"time-exceeded", 3, 0, 0xFF},
	{"ttl-exceeded", 3, 0, 0xFF},
	{"ttl-zero-during-transit", 3, 0, 0},
	{"ttl-zero-during-reassembly", 3, 1, 1},
	{"parameter-problem", 4, 0, 0xFF},
	{"bad-header", 4, 0, 0},
	{"unknown-header-type", 4, 1, 1},
	{"unknown-option", 4, 2, 2},
	{"echo-request", 128, 0, 0xFF},
	{"ping", 128, 0, 0xFF},
	{"echo-reply", 129, 0, 0xFF},
	{"pong", 129, 0, 0xFF},
	{"mld-listener-query", 130, 0, 0xFF},
	{"mld-listener-report", 131, 0, 0xFF},
	{"mld-listener-done", 132, 0, 0xFF},
	{"mld-listener-reduction", 132, 0, 0xFF},
	{"router-solicitation", 133, 0, 0xFF},
	{"router-advertisement", 134, 0, 0xFF},
	{"neighbour-solicitation", 135, 0, 0xFF},
	{"neighbor-solicitation", 135, 0, 0xFF},
	{"neighbour-advertisement", 136, 0, 0xFF},
	{"neighbor-advertisement", 136, 0, 0xFF},
	{"redirect", 137, 0, 0xFF},
}

type icmp6Match struct {
	typ  uint8
	code [2]uint8
	inv  bool
}

func init() {
	RegisterMatch(&MatchType{
		Name:     "icmp6",
		Family:   IPv6,
		Proto:    58,
		Implicit: true,
		Options:  []Option{{Name: "icmpv6-type", Arg: OneArg, Invert: true, Mandatory: true}},
		New:      func() Match { return &icmp6Match{code: [2]uint8{0, 0xFF}} },
	})
}

// Parse implements Parser.
func (m *icmp6Match) Parse(opt, arg string, invert bool, more *Args) error {
	if opt != "icmpv6-type" {
		return Errorf("unknown option --%s", opt)
	}
	typ, code, err := parseICMPType(icmpv6Codes, "ICMPv6", arg)
	if err != nil {
		return err
	}
	m.typ, m.code, m.inv = typ, code, invert
	return nil
}

// Finish implements Parser.
func (m *icmp6Match) Finish(r *RuleInfo) error { return nil }

// Save implements Parser: always numeric, the lower code only.
func (m *icmp6Match) Save(b *strings.Builder) {
	fmt.Fprintf(b, "%s --icmpv6-type %d", saveBang(m.inv), m.typ)
	if m.code != [2]uint8{0, 0xFF} {
		fmt.Fprintf(b, "/%d", m.code[0])
	}
}

// Print implements Parser: " ipv6-icmp echo-request".
func (m *icmp6Match) Print(b *strings.Builder, numeric bool) {
	b.WriteString(" ipv6-icmp")
	printICMPType(b, icmpv6Codes, m.typ, m.code, m.inv, numeric)
}

// Compile implements Match.
func (m *icmp6Match) Compile(c *Compiler) (Matcher, error) {
	cm := *m
	return &cm, nil
}

// Match implements Matcher: icmp6_match, on the 8-byte ICMPv6 header at
// the upper-layer offset ip6_tables found (no "any" type: the type must
// equal, the code lie in the range).
func (m *icmp6Match) Match(c *Ctx) bool {
	p := c.Pkt
	if p.Proto != packet.ProtoICMPv6 || p.FragOff != 0 || !p.L4Fixed {
		return false
	}
	return (p.ICMPType == m.typ && p.ICMPCode >= m.code[0] && p.ICMPCode <= m.code[1]) != m.inv
}

// Hotdrop implements Hotdropper: an ICMPv6 header cut short drops the
// packet.
func (m *icmp6Match) Hotdrop(c *Ctx) bool {
	p := c.Pkt
	return p.Proto == packet.ProtoICMPv6 && p.FragOff == 0 && !p.L4Fixed
}

// Explain implements Explainer.
func (m *icmp6Match) Explain(c *Ctx, matched bool) string {
	p := c.Pkt
	switch {
	case p.Proto != packet.ProtoICMPv6:
		return "not an icmpv6 packet"
	case p.FragOff != 0:
		return "a later fragment has no icmpv6 header: icmp6 never matches it"
	case !p.L4Fixed:
		return "the icmpv6 header is cut short: the packet is dropped"
	}
	var want strings.Builder
	m.Save(&want)
	return fmt.Sprintf("%s: the packet is type %d code %d", strings.TrimSpace(want.String()), p.ICMPType, p.ICMPCode)
}
