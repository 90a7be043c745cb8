package analyze

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/rules"
)

// The family gap. A host has one IPv4 and one IPv6 ruleset, and a port
// closed in one and open in the other is open: a service the IPv4 rules
// protect is exposed over IPv6. Addresses differ between the families,
// so the two are compared by what they do with new TCP and UDP
// connections per destination port and interface, and by whether they
// take them from every source or only from some.
//
// For each family the fate walk (fate.go) gives what is surely dropped
// and surely accepted of the new connections (a TCP SYN, or a UDP
// packet, of state NEW, on any interface but lo). A port is closed in a
// family when every such packet to it is surely dropped, from every
// source; open to all when every one is surely accepted. A gap is a port
// where one family surely drops some sources (or all) while the other
// surely accepts every source (or some, where the first drops all).
// Every gap reported is thus true of both rulesets.

// gapWork caps the region arithmetic of one forAll.
const gapWork = 1 << 19

// gapDims are the fields the families are compared on.
const gapDims = 1<<dimProto | 1<<dimDport | 1<<dimIn | 1<<dimOut

// FamilyGap compares an IPv4 ruleset with the IPv6 ruleset of the same
// host at INPUT and FORWARD. Where IPv6 accepts new connections that
// IPv4 drops it warns (the host is exposed over IPv6); where IPv4
// accepts what IPv6 drops it notes. One finding per protocol, port range
// and interfaces, naming the rules or policies on both sides. Rulesets
// without a filter table are not compared.
func FamilyGap(v4, v6 *rules.Ruleset) rules.Diags {
	if v4 == nil || v6 == nil || v4.Table("filter") == nil || v6.Table("filter") == nil {
		return nil
	}
	atoms := newIfaceAtoms([]*rules.Ruleset{v4, v6}, "lo")
	a4, a6 := newAnalyzer(v4, atoms), newAnalyzer(v6, atoms)
	var out rules.Diags
	for _, h := range []ext.Hook{ext.LocalIn, ext.Forward} {
		for _, proto := range []uint32{protoTCP, protoUDP} {
			p := gapProbe(atoms, h, proto)
			f4, f6 := newFamilyFate(a4, h, p), newFamilyFate(a6, h, p)
			out = append(out, gapDiags(h, p, f4, f6, true)...)
			out = append(out, gapDiags(h, p, f6, f4, false)...)
		}
	}
	slices.SortStableFunc(out, func(x, y *rules.Diag) int {
		if c := strings.Compare(x.Pos.File, y.Pos.File); c != 0 {
			return c
		}
		return x.Pos.Line - y.Pos.Line
	})
	return out
}

// oneFamily holds the services that exist in one family only, whose
// rules have no twin to compare with: DHCP (UDP 67 and 68) and DHCPv6
// (UDP 546 and 547).
var oneFamily = region{fullBox().with(dimProto, point(protoUDP)).with(dimDport, setOf(span{67, 68}, span{546, 547}))}

// gapProbe is the new connections of protocol proto at hook h: plain
// packets, without IPv6 extension headers or a mark.
func gapProbe(atoms *ifaceAtoms, h ext.Hook, proto uint32) region {
	notLo := atoms.matching("lo").complement(dimIn)
	b := fullBox().with(dimProto, point(proto)).with(dimFrag, point(0)).with(dimMark, point(0)).with(dimExt, point(0)).
		with(dimState, point(2)).with(dimIn, notLo) // point 2: NEW, no NAT bits
	if proto == protoTCP {
		b = b.with(dimFlags, point(0x02))
	}
	if h == ext.Forward {
		b = b.with(dimOut, notLo)
	}
	return region{b}
}

// familyFate is what one family surely does with the probe.
type familyFate struct {
	a                *analyzer
	drops, accepts   []*decided
	dropped, allowed region // their unions
	closed, openAll  region // projections: every packet dropped, every one accepted
}

func newFamilyFate(a *analyzer, h ext.Hook, p region) *familyFate {
	f := &familyFate{a: a}
	f.drops, f.accepts, _ = a.fateAt(h, p, p[0][dimState])
	for _, d := range f.drops {
		f.dropped = append(f.dropped, d.r...)
	}
	for _, d := range f.accepts {
		f.allowed = append(f.allowed, d.r...)
	}
	f.closed = forAll(p, f.dropped)
	f.openAll = forAll(p, f.allowed)
	return f
}

// project keeps only the gap dimensions of r.
func project(r region) region {
	return r.havoc(allDims &^ gapDims)
}

// forAll is the part of p's projection whose every packet is in r: the
// projection less that of the packets of p outside r.
//
// Past gapWork box operations it gives up and returns nothing: on a
// ruleset that cuts the packets into too many pieces the gap check then
// says less, never something wrong.
func forAll(p, r region) region {
	w := &work{left: gapWork}
	rest, ok := p.minus(r, w)
	if !ok {
		return nil
	}
	out, ok := project(p).minus(project(rest), w)
	if !ok {
		return nil
	}
	return out.compact()
}

// gapDiags reports where family "shut" drops what family "open"
// accepts; v4shut says that shut is IPv4 (a warning), else a note.
func gapDiags(h ext.Hook, p region, shut, open *familyFate, v4shut bool) rules.Diags {
	w := &work{left: fateWork}
	// Closed to all in shut and open to some in open; then closed to
	// some sources in shut (kept in dimSrc) and open to all in open.
	closed := shut.closed.meet(project(open.allowed)).compact()
	some, ok := shut.dropped.havoc(allDims&^(gapDims|1<<dimSrc)).meet(open.openAll).minus(closed, w)
	if !ok {
		return nil
	}
	if closed, ok = closed.minus(oneFamily, w); !ok {
		return nil
	}
	if some, ok = some.minus(oneFamily, w); !ok {
		return nil
	}
	// Port ranges with the same sources, interfaces and rules on both
	// sides make one finding.
	var out rules.Diags
	var tmpls []string
	var ports []set
	for _, gap := range []region{closed, some} {
		for _, b := range byPort(gap) {
			d := gapDiag(h, b, shut, open, v4shut)
			if d == nil {
				continue
			}
			if i := slices.Index(tmpls, d.Msg); i >= 0 {
				ports[i] = ports[i].union(b[dimDport])
				continue
			}
			out, tmpls, ports = append(out, d), append(tmpls, d.Msg), append(ports, b[dimDport])
		}
	}
	for i, d := range out {
		port := "any port"
		switch c := ports[i].complement(dimDport); {
		case len(c) == 0:
		case len(c) < len(ports[i]) || c[0].lo == 0 && c[0].hi == 0 && len(c) == 1:
			port = "any port but " + strings.TrimPrefix(strings.TrimPrefix(portWords(c), "ports "), "port ")
		default:
			port = portWords(ports[i])
		}
		d.Msg = strings.Replace(d.Msg, portMark, port, 1)
	}
	return out
}

// portMark stands for the ports in a gap finding until they are known.
const portMark = "\x00ports"

// byPort regroups the boxes of r (of the gap dimensions and dimSrc) into
// boxes of one port range each, the widest ranges over which the same
// sources meet the same interfaces: one finding per port range, however
// the region arithmetic cut the boxes.
func byPort(r region) []*box {
	var cuts []uint32
	for _, b := range r {
		for _, s := range b[dimDport] {
			cuts = append(cuts, s.lo, s.hi+1) // 65536 past the last port
		}
	}
	slices.Sort(cuts)
	cuts = slices.Compact(cuts)
	var out, prev []*box
	for i := 0; i+1 < len(cuts); i++ {
		e := rangeSet(cuts[i], cuts[i+1]-1)
		var groups []*box
		for _, b := range r {
			if !b[dimDport].overlaps(e) {
				continue
			}
			j := slices.IndexFunc(groups, func(g *box) bool { return g.sameIfaces(b) })
			if j < 0 {
				groups = append(groups, b.with(dimDport, e))
				continue
			}
			groups[j] = groups[j].with(dimSrc, groups[j][dimSrc].union(b[dimSrc]))
		}
		if len(prev) == len(groups) && len(groups) > 0 && prev[0][dimDport][0].hi+1 == e[0].lo && slices.EqualFunc(prev, groups, func(x, y *box) bool { return x.equalExcept(y, dimDport) }) {
			for k, g := range prev {
				prev[k] = g.with(dimDport, rangeSet(g[dimDport][0].lo, e[0].hi))
				out[len(out)-len(prev)+k] = prev[k]
			}
			continue
		}
		out = append(out, groups...)
		prev = groups
	}
	return out
}

// sameIfaces reports whether b and c are about the same protocol and
// interfaces.
func (b *box) sameIfaces(c *box) bool {
	return b[dimProto].equal(c[dimProto]) && b[dimIn].equal(c[dimIn]) && b[dimOut].equal(c[dimOut])
}

// blockedMost reports whether the IPv4 sources s cover more than half of
// the address space.
func blockedMost(s set) bool {
	var n uint64
	for _, x := range s {
		n += uint64(x.hi-x.lo) + 1
	}
	return n > 1<<31
}

// gapDiag words one gap: box g of the projection, whose dimSrc holds
// the sources shut drops.
func gapDiag(h ext.Hook, g *box, shut, open *familyFate, v4shut bool) *rules.Diag {
	gr := region{g.with(dimSrc, full(dimSrc))}
	var blockers, takers []*decided
	for _, d := range shut.drops {
		if d.r.meets(region{g}) {
			blockers = append(blockers, d)
		}
	}
	for _, d := range open.accepts {
		if d.r.meets(gr) {
			takers = append(takers, d)
		}
	}
	if len(blockers) == 0 || len(takers) == 0 {
		return nil
	}
	fam := map[bool][2]string{true: {"IPv4", "IPv6"}, false: {"IPv6", "IPv4"}}[v4shut]
	what := "new " + protoWords(g[dimProto]) + " connections to " + portMark
	if h == ext.Forward {
		what = "forwarded " + what
	}
	all := shut.a.atoms.matching("lo").complement(dimIn)
	if !g[dimIn].equal(all) {
		what += " arriving on " + ifaceWords(g[dimIn], shut.a.atoms)
	}
	if h == ext.Forward && !g[dimOut].equal(all) {
		what += " leaving by " + ifaceWords(g[dimOut], shut.a.atoms)
	}
	from := "from every source"
	if !g[dimSrc].isFull(dimSrc) {
		from = "from " + addrWords(g[dimSrc], shut.a.addrs)
	}
	openFrom := "from some sources"
	if gr.within(open.openAll) {
		openFrom = "from every source"
	}
	var bn, tn []string
	for _, d := range blockers {
		bn = append(bn, d.name())
	}
	for _, d := range takers {
		tn = append(tn, d.name())
	}
	msg := fmt.Sprintf("%s blocks %s %s (%s), but %s accepts them %s (%s)", fam[0], what, from, limitList(bn, " and "), fam[1], openFrom, limitList(tn, " and "))
	d := &rules.Diag{Severity: rules.SevNote, Msg: msg + ": the rules of the two families differ here"}
	// IPv4 protects the port when it takes it from a few sources only
	// (an allow list); a block list (bogons, a banned network) that
	// leaves most of the address space in is a difference to note.
	if v4shut && blockedMost(g[dimSrc]) {
		d.Severity = rules.SevWarning
		d.Msg = msg + ": the host is open over IPv6 where IPv4 protects it"
		if h == ext.Forward {
			d.Msg = msg + ": the hosts behind this one are open over IPv6 where IPv4 protects them"
		}
	}
	// The finding goes at the IPv4 rule without a twin, else at the
	// rule or policy of the other side.
	v4side, v6side := blockers, takers
	if !v4shut {
		v4side, v6side = takers, blockers
	}
	for _, x := range [][]*decided{v4side, v6side} {
		if x[0].ri != nil {
			d.Pos, d.Word = x[0].pos(), word(x[0].ri.r)
			return d
		}
	}
	d.Pos, d.Word = v4side[0].pos(), v4side[0].chain.Policy
	return d
}
