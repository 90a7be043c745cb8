package analyze

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/rules"
)

// The ICMPv6 an IPv6 host cannot do without (RFC 4890, section 4.4, for
// traffic to and from the host; 4.3 for the errors it forwards): without
// neighbour solicitations and advertisements it cannot reach its
// neighbours at all, without Packet Too Big its connections stall on any
// path with a smaller MTU, and the other errors end failing connections
// promptly. Router advertisements and echo requests matter less surely
// (a host with static addresses needs no RA; answering ping is a
// choice), so their loss is a note.
//
// Connection tracking decides how they look to the ruleset: neighbour
// discovery (and router discovery) is UNTRACKED, so an accept of NEW,
// ESTABLISHED and RELATED packets does not let it through; an error
// about a tracked connection is RELATED.

// icmpNeed is one kind of ICMPv6 the host needs.
type icmpNeed struct {
	typ      uint8
	code     int    // the one code probed, or -1 for every code
	name     string // ip6tables' --icmpv6-type name
	words    string
	state    uint8 // conntrack state bits of such a packet
	nd       bool  // link-local source, hop limit 255 (RFC 4861)
	hooks    ext.HookMask
	optional bool // a note, not a warning
}

var icmpNeeds = []icmpNeed{
	{typ: 135, code: 0, name: "neighbour-solicitation", words: "neighbour solicitation", state: stUntracked, nd: true, hooks: 1<<ext.LocalIn | 1<<ext.LocalOut},
	{typ: 136, code: 0, name: "neighbour-advertisement", words: "neighbour advertisement", state: stUntracked, nd: true, hooks: 1<<ext.LocalIn | 1<<ext.LocalOut},
	{typ: 1, code: -1, name: "destination-unreachable", words: "destination unreachable", state: stRelated, hooks: 1<<ext.LocalIn | 1<<ext.Forward},
	{typ: 2, code: -1, name: "packet-too-big", words: "packet too big", state: stRelated, hooks: 1<<ext.LocalIn | 1<<ext.Forward},
	{typ: 3, code: 0, name: "ttl-zero-during-transit", words: "time exceeded", state: stRelated, hooks: 1<<ext.LocalIn | 1<<ext.Forward},
	{typ: 4, code: 1, name: "unknown-header-type", words: "parameter problem (unknown header)", state: stRelated, hooks: 1<<ext.LocalIn | 1<<ext.Forward},
	{typ: 4, code: 2, name: "unknown-option", words: "parameter problem (unknown option)", state: stRelated, hooks: 1<<ext.LocalIn | 1<<ext.Forward},
	{typ: 134, code: 0, name: "router-advertisement", words: "router advertisement", state: stUntracked, nd: true, hooks: 1 << ext.LocalIn, optional: true},
	{typ: 133, code: 0, name: "router-solicitation", words: "router solicitation", state: stUntracked, nd: true, hooks: 1 << ext.LocalOut, optional: true},
	{typ: 128, code: 0, name: "echo-request", words: "echo request", state: stNew, hooks: 1 << ext.LocalIn, optional: true},
}

// CutOff warns where an IPv6 ruleset surely drops ICMPv6 the host needs
// (icmpNeeds), at INPUT and OUTPUT, and the errors it forwards at
// FORWARD: one finding per hook, naming the rules and policies that drop
// them, the types lost, and the rules that would let them through. A
// hook none of whose rules accepts anything is left alone (a host that
// closes IPv6 on purpose). It says nothing it cannot prove: a type is
// lost only when every packet of it (from a link-local source with hop
// limit 255 for neighbour discovery, on any interface but lo) is surely
// dropped. rs of another family gets no findings.
func CutOff(rs *rules.Ruleset) rules.Diags {
	if rs == nil || rs.Family != ext.IPv6 || rs.Table("filter") == nil {
		return nil
	}
	a := newAnalyzer(rs, newIfaceAtoms([]*rules.Ruleset{rs}, "lo"))
	var out rules.Diags
	for _, h := range []ext.Hook{ext.LocalIn, ext.LocalOut, ext.Forward} {
		if !a.acceptsSome(h) {
			continue
		}
		for _, optional := range []bool{false, true} {
			out = append(out, a.cutOffAt(h, optional)...)
		}
	}
	slices.SortStableFunc(out, func(x, y *rules.Diag) int { return x.Pos.Line - y.Pos.Line })
	return out
}

// acceptsSome reports whether a rule of the filter chain at h, or of a
// chain it leads to, accepts some packets.
func (a *analyzer) acceptsSome(h ext.Hook) bool {
	ch := a.rs.Table("filter").Chain(h.String())
	if ch == nil {
		return false
	}
	found := false
	a.reach(ch, map[*rules.Chain]bool{}, func(ri *ruleInfo) {
		found = found || ri.r.Verdict == "ACCEPT" && !ri.c.lower.empty()
	})
	return found
}

// linkLocal holds the link-local addresses: fe80::/10 is reserved for
// them, but RFC 4291 fills the 54 bits after the prefix with zeros, so
// every real one is in fe80::/64 (and a rule accepting only that loses
// nothing).
var linkLocal = mustPrefix("fe80::/64")

// icmpProbe is the region of the packets of need n at hook h.
func (a *analyzer) icmpProbe(n icmpNeed, h ext.Hook) region {
	// Plain packets: no extension headers, no mark yet.
	b := fullBox().with(dimProto, point(protoICMPv6)).with(dimFrag, point(0)).with(dimMark, point(0)).with(dimExt, point(0))
	icmp := rangeSet(uint32(n.typ)<<8, uint32(n.typ)<<8|255)
	if n.code >= 0 {
		icmp = point(uint32(n.typ)<<8 | uint32(n.code))
	}
	b = b.with(dimICMP, icmp).with(dimState, stateSet(n.state))
	if n.nd {
		b = b.with(dimTTL, point(255)).with(dimSrc, a.addrs.prefix(linkLocal))
	}
	notLo := a.atoms.matching("lo").complement(dimIn)
	if h != ext.LocalOut {
		b = b.with(dimIn, notLo)
	}
	if h != ext.LocalIn {
		b = b.with(dimOut, notLo)
	}
	return region{b}
}

// cutOffAt returns the findings for hook h about the needs that are
// optional or not: one per set of interfaces that loses the same types.
// A type is lost on an interface when every packet of it on that
// interface (arriving, or for OUTPUT leaving) is surely dropped.
func (a *analyzer) cutOffAt(h ext.Hook, optional bool) rules.Diags {
	d := dimIn
	if h == ext.LocalOut {
		d = dimOut
	}
	// Each interface but lo: every atom, and the names no rule mentions.
	lo := a.atoms.matching("lo")
	var ifaces []set
	for v := range uint32(len(a.atoms.reps)) {
		if !lo.has(v) {
			ifaces = append(ifaces, point(v))
		}
	}
	ifaces = append(ifaces, rangeSet(uint32(len(a.atoms.reps)), dimMax[d]))
	type group struct {
		where  set // the interfaces
		lost   []icmpNeed
		by     []*decided
		denied []*ruleInfo
	}
	var groups []*group
	for _, n := range icmpNeeds {
		if n.optional != optional || !n.hooks.Has(h) {
			continue
		}
		p := a.icmpProbe(n, h)
		drops, _, _ := a.fateAt(h, p, p[0][dimState])
		var dropped region
		for _, x := range drops {
			dropped = append(dropped, x.r...)
		}
		// The interfaces some packet of p may pass on are those of the
		// packets not surely dropped; every other one loses them all.
		left, ok := p.minus(dropped, &work{left: fateWork})
		if !ok {
			continue
		}
		var where set
		for _, v := range ifaces {
			if !slices.ContainsFunc(left, func(b *box) bool { return b[d].overlaps(v) }) {
				where = where.union(v)
			}
		}
		if len(where) == 0 {
			continue
		}
		p = p.setDim(d, where)
		i := slices.IndexFunc(groups, func(g *group) bool { return g.where.equal(where) })
		if i < 0 {
			groups = append(groups, &group{where: where})
			i = len(groups) - 1
		}
		g := groups[i]
		g.lost = append(g.lost, n)
		for _, x := range drops {
			if x.r.meets(p) && !slices.ContainsFunc(g.by, x.same) {
				g.by = append(g.by, x)
			}
		}
		for _, ri := range a.stateDenied(h, p) {
			if !slices.Contains(g.denied, ri) {
				g.denied = append(g.denied, ri)
			}
		}
	}
	var out rules.Diags
	for _, g := range groups {
		out = append(out, a.cutOffDiag(h, optional, g.where, g.lost, g.by, g.denied))
	}
	return out
}

// cutOffDiag words one cut-off finding.
func (a *analyzer) cutOffDiag(h ext.Hook, optional bool, where set, lost []icmpNeed, by []*decided, denied []*ruleInfo) *rules.Diag {
	var kinds []string
	for _, n := range lost {
		kinds = append(kinds, fmt.Sprintf("%s (%s)", n.words, typeCode(n)))
	}
	place := "in " + h.String()
	if all := a.atoms.matching("lo").complement(dimIn); !where.equal(all) {
		verb := ", arriving on "
		if h == ext.LocalOut {
			verb = ", leaving by "
		}
		place += verb + ifaceWords(where, a.atoms)
	}
	var why string
	switch {
	case optional:
		var whys []string
		if slices.ContainsFunc(lost, func(n icmpNeed) bool { return n.nd }) {
			whys = append(whys, "a host that configures itself from router advertisements (SLAAC) needs them")
		}
		if slices.ContainsFunc(lost, func(n icmpNeed) bool { return n.typ == 128 }) {
			whys = append(whys, "RFC 4890 recommends answering echo requests")
		}
		why = strings.Join(whys, "; ")
	case lost[0].nd:
		why = "without neighbour discovery the host cannot reach its neighbours: it loses IPv6 on those links"
	default:
		why = "RFC 4890 says they must not be dropped: without packet too big, connections stall on paths with a smaller MTU"
	}
	var names []string
	for _, x := range by {
		names = append(names, x.name())
	}
	msg := fmt.Sprintf("ICMPv6 that the host needs is dropped %s: %s, by %s; %s", place, strings.Join(kinds, ", "), limitList(names, " and "), why)
	for _, ri := range denied {
		msg += fmt.Sprintf("; they are %s to conntrack, so %s does not accept them", stateNameOf(lost), ref(ri))
	}
	msg += ". To let them through, add:"
	for _, l := range a.fixLines(lost, by) {
		msg += "\n    " + l
	}
	d := &rules.Diag{Pos: by[0].pos(), Severity: rules.SevWarning, Word: "DROP", Msg: msg}
	if optional {
		d.Severity = rules.SevNote
	}
	if by[0].ri != nil {
		d.Word = word(by[0].ri.r)
	}
	return d
}

// stateNameOf is the conntrack state of the lost packets that ri's state
// test leaves out.
func stateNameOf(lost []icmpNeed) string {
	var names []string
	for _, n := range lost {
		for _, s := range stateNames {
			if n.state == s.bit && !slices.Contains(names, s.name) {
				names = append(names, s.name)
			}
		}
	}
	return strings.Join(names, " or ")
}

// stateDenied returns the ACCEPT rules at hook h's filter chain (or a
// chain it leads to) that would surely accept the packets of p but for
// their conntrack state: the reason a user may believe they pass.
func (a *analyzer) stateDenied(h ext.Hook, p region) []*ruleInfo {
	ch := a.rs.Table("filter").Chain(h.String())
	var out []*ruleInfo
	a.reach(ch, map[*rules.Chain]bool{}, func(ri *ruleInfo) {
		if ri.r.Verdict == "ACCEPT" && !ri.c.upper.meets(p) && p.within(ri.c.lower.setDim(dimState, full(dimState))) {
			out = append(out, ri)
		}
	})
	return out
}

// typeCode is "type 135" or "type 4 code 1" as the need probes it.
func typeCode(n icmpNeed) string {
	if n.code < 0 || n.typ > 4 {
		return fmt.Sprintf("type %d", n.typ)
	}
	return fmt.Sprintf("type %d code %d", n.typ, n.code)
}

// fixLines are the ip6tables commands that accept the lost types before
// the rules that drop them: in each table where they are dropped, an
// insert before the first rule of the built-in chain that leads to a
// drop, or an append when only the policy drops them.
func (a *analyzer) fixLines(lost []icmpNeed, by []*decided) []string {
	type place struct {
		table *rules.Table
		hook  ext.Hook
		top   int
	}
	var places []place
	for _, d := range by {
		t, hook := d.table, d.hook
		i := slices.IndexFunc(places, func(p place) bool { return p.table == t && p.hook == hook })
		if i < 0 {
			places = append(places, place{t, hook, d.top})
			continue
		}
		if p := &places[i]; d.top > 0 && (p.top == 0 || d.top < p.top) {
			p.top = d.top
		}
	}
	var lines []string
	for _, p := range places {
		cmd := "ip6tables "
		if p.table.Name != "filter" {
			cmd += "-t " + p.table.Name + " "
		}
		if p.top > 0 {
			cmd += fmt.Sprintf("-I %s %d", p.hook, p.top)
		} else {
			cmd += "-A " + p.hook.String()
		}
		for _, n := range lost {
			l := cmd + " -p ipv6-icmp --icmpv6-type " + n.name
			if n.nd && p.hook != ext.LocalOut {
				l += " -m hl --hl-eq 255"
			}
			lines = append(lines, l+" -j ACCEPT")
		}
	}
	return lines
}
