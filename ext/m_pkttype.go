package ext

import (
	"fmt"
	"strings"
)

// The pkttype match (-m pkttype --pkt-type unicast|broadcast|multicast|
// otherhost): the link-layer class of the packet (skb->pkt_type, in
// Ctx.PktType), as iptables' libxt_pkttype.c reads and prints it and the
// kernel's xt_pkttype.c tests it. A looped-back copy of a locally sent
// packet (PACKET_LOOPBACK) counts as multicast when its IPv4 destination
// is multicast and as broadcast otherwise, as in the kernel.

// PktLoopback is PACKET_LOOPBACK.
const PktLoopback = 5

// pktTypeNames are the names --pkt-type accepts; the first name of a type
// is the one printed.
var pktTypeNames = []struct {
	name string
	typ  uint8
}{
	{"unicast", PktHost}, {"broadcast", PktBroadcast}, {"multicast", PktMulticast},
	{"otherhost", PktOtherHost}, {"bcast", PktBroadcast}, {"mcast", PktMulticast}, {"host", PktHost},
}

// pkttypeMatch is one -m pkttype in one rule (struct xt_pkttype_info).
type pkttypeMatch struct {
	typ    uint8
	invert bool
}

func init() {
	RegisterMatch(&MatchType{
		Name:    "pkttype",
		Family:  AnyFamily,
		Options: []Option{{Name: "pkt-type", Arg: OneArg, Invert: true, Mandatory: true}},
		New:     func() Match { return &pkttypeMatch{} },
	})
}

// Parse implements Parser.
func (m *pkttypeMatch) Parse(opt, arg string, invert bool, more *Args) error {
	if opt != "pkt-type" {
		return Errorf("unknown option --%s", opt)
	}
	for _, n := range pktTypeNames {
		if strings.EqualFold(n.name, arg) {
			m.typ, m.invert = n.typ, invert
			return nil
		}
	}
	return Errorf("bad packet type %q: use unicast, broadcast, multicast or otherhost", arg)
}

// Finish implements Parser.
func (m *pkttypeMatch) Finish(r *RuleInfo) error { return nil }

func pktTypeName(t uint8) string {
	for _, n := range pktTypeNames {
		if n.typ == t {
			return n.name
		}
	}
	return fmt.Sprint(t)
}

// Save implements Parser.
func (m *pkttypeMatch) Save(b *strings.Builder) {
	if m.invert {
		b.WriteString(" !")
	}
	b.WriteString(" --pkt-type " + pktTypeName(m.typ))
}

// Print implements Parser.
func (m *pkttypeMatch) Print(b *strings.Builder, numeric bool) {
	b.WriteString(" PKTTYPE " + bangNoSpace(m.invert) + "= " + pktTypeName(m.typ))
}

// Compile implements Match.
func (m *pkttypeMatch) Compile(c *Compiler) (Matcher, error) {
	cm := *m
	return &cm, nil
}

// pktType is the type the kernel compares.
func pktType(c *Ctx) uint8 {
	switch {
	case c.PktType != PktLoopback:
		return c.PktType
	case c.Pkt.Version == 6 || c.Pkt.Dst.Is4() && c.Pkt.Dst.IsMulticast():
		return PktMulticast
	}
	return PktBroadcast
}

// Match implements Matcher.
func (m *pkttypeMatch) Match(c *Ctx) bool {
	return (pktType(c) == m.typ) != m.invert
}

// Explain implements Explainer.
func (m *pkttypeMatch) Explain(c *Ctx, matched bool) string {
	return fmt.Sprintf("%s--pkt-type %s: the packet is %s", bang(m.invert), pktTypeName(m.typ), pktTypeName(pktType(c)))
}
