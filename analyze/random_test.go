package analyze

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/internal/saveopt"
	"github.com/ipsift/ipsift/rules"
)

// The tests in this file check Lint's shadowing findings against ground
// truth found by brute force. A seeded generator builds small rulesets
// over a few addresses, interfaces, protocols, ports, flags, states and
// marks; a reference evaluator written here, independent of the
// analysis, runs every packet of a finite universe through them with the
// kernel's traversal semantics. The universe holds one packet per
// equivalence class of the values the rules mention (the start of every
// interval and the value just past it), so "no packet of the universe
// reaches and matches rule r" is exactly "r is shadowed". Opaque matches
// (-m limit) are explored both ways, as the analysis treats them.
//
// The generated rules carry fake extension instances that print a fixed
// canonical text: the analysis reads only that text, so these tests do
// not depend on which extensions are registered. TestRandomRealParser
// feeds the same rulesets through the real restore parser as well.

// fakeMatch is an extension instance that saves a fixed text.
type fakeMatch struct{ text string }

func (f fakeMatch) Parse(string, string, bool, *ext.Args) error  { return nil }
func (f fakeMatch) Finish(*ext.RuleInfo) error                   { return nil }
func (f fakeMatch) Save(b *strings.Builder)                      { b.WriteString(f.text) }
func (f fakeMatch) Print(b *strings.Builder, _ bool)             { b.WriteString(f.text) }
func (f fakeMatch) Compile(*ext.Compiler) (ext.Matcher, error)   { return nil, nil }
func (f fakeTarget) Parse(string, string, bool, *ext.Args) error { return nil }
func (f fakeTarget) Finish(*ext.RuleInfo) error                  { return nil }
func (f fakeTarget) Save(b *strings.Builder)                     { b.WriteString(f.text) }
func (f fakeTarget) Print(b *strings.Builder, _ bool)            { b.WriteString(f.text) }
func (f fakeTarget) Compile(*ext.Compiler) (ext.Action, error)   { return nil, nil }
func fakeUse(name, text string) *rules.MatchUse {
	return &rules.MatchUse{Type: &ext.MatchType{Name: name}, M: fakeMatch{text}}
}
func fakeTgt(name, text string) (ext.Target, *ext.TargetType) {
	return fakeTarget{text}, &ext.TargetType{Name: name}
}
func pfx(s string) netip.Prefix        { return netip.MustParsePrefix(s) }
func u32(a netip.Addr) uint32          { return ext.U32(a) }
func maskOf(p netip.Prefix) netip.Addr { return ext.PrefixMask4(p.Bits()) }
func lastOf(p netip.Prefix) uint32     { return u32(p.Addr()) | (1<<(32-p.Bits()) - 1) }
func ifMatch(pattern, name string) bool {
	if p, ok := strings.CutSuffix(pattern, "+"); ok {
		return strings.HasPrefix(name, p)
	}
	return pattern == name
}

// fakeTarget is a target instance that saves a fixed text.
type fakeTarget struct{ text string }

// pkt is one concrete packet of the reference universe.
type pkt struct {
	src, dst     uint32
	in, out      string
	proto        uint8
	sport, dport uint16
	flags        uint8
	icmpType     uint8
	ctBase       uint8 // 0 invalid, 1 untracked, 2 new, 3 established, 4 related
	snat, dnat   bool
	frag         bool
	mark         uint32
	length       uint16
	ttl          uint8
}

// Reference state bits, written from xt_conntrack's conntrack_mt_v3.
func (p *pkt) ctMask() uint8 {
	const (
		inv, nw, est, rel, untr, sn, dn = 1, 2, 4, 8, 16, 32, 64
	)
	var bits uint8
	switch p.ctBase {
	case 0:
		return inv
	case 1:
		return untr
	case 2:
		bits = nw
	case 3:
		bits = est
	case 4:
		bits = rel
	}
	if p.snat {
		bits |= sn
	}
	if p.dnat {
		bits |= dn
	}
	return bits
}

var refStateBits = map[string]uint8{"INVALID": 1, "NEW": 2, "ESTABLISHED": 4, "RELATED": 8, "UNTRACKED": 16, "SNAT": 32, "DNAT": 64}

type tgtKind int

const (
	tAccept tgtKind = iota
	tDrop
	tReject
	tReturn
	tLog
	tMark
	tJump
	tGoto
	tNone
)

// gRule is a generated rule: the model rule and the reference's view.
type gRule struct {
	id     int
	chain  string
	num    int
	r      *rules.Rule
	preds  []func(p *pkt) bool
	opaque bool
	kind   tgtKind
	mark   uint32
	target string
}

type gChain struct {
	name    string
	builtin bool
	policy  string
	rules   []*gRule
}

// gen is one generated ruleset with the values its universe needs.
type gen struct {
	rnd      *rand.Rand
	feat     map[string]bool
	chains   []*gChain
	byName   map[string]*gChain
	all      []*gRule
	nOpaque  int
	addrs    []uint32 // interval starts and ends+1
	ports    []uint32
	flagBits uint8
	icmp     []uint8
	ifaces   []string
	marks    []uint32
	lens     []uint32
	ttls     []uint32
	protos   []uint8
	state    bool
}

func (g *gen) pick(n int) int        { return g.rnd.IntN(n) }
func (g *gen) chance(p float64) bool { return g.rnd.Float64() < p }

func (g *gen) bounds(list *[]uint32, lo, hi uint32, max uint32) {
	*list = append(*list, lo)
	if hi < max {
		*list = append(*list, hi+1)
	}
}

var (
	srcPool   = []string{"10.0.0.0/8", "10.1.0.0/16", "10.1.2.3/32", "192.0.2.0/24"}
	dstPool   = []string{"198.51.100.0/24", "198.51.100.1/32", "0.0.0.0/1"}
	inPool    = []string{"eth0", "eth1", "eth+", "wlan0"}
	outPool   = []string{"eth0", "wlan+", "wlan0"}
	portPool  = []string{"22", "25", "80", "20:25", "1024:65535"}
	listPool  = []string{"22,25", "25,80", "20:23,80"}
	flagPool  = [][2]string{{"FIN,SYN,RST,ACK", "SYN"}, {"FIN,SYN,RST,ACK", "RST"}, {"SYN,ACK", "SYN,ACK"}, {"SYN,RST", "NONE"}}
	statePool = []string{"NEW", "RELATED,ESTABLISHED", "INVALID", "NEW,ESTABLISHED", "DNAT", "SNAT,DNAT", "UNTRACKED"}
	icmpPool  = []string{"any", "8", "0", "3"}
)

func parsePorts(s string) [][2]uint16 {
	var out [][2]uint16
	for _, p := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(p, ":")
		var l, h int
		fmt.Sscan(lo, &l)
		h = l
		if isRange {
			fmt.Sscan(hi, &h)
		}
		out = append(out, [2]uint16{uint16(l), uint16(h)})
	}
	return out
}

func inPorts(v uint16, rs [][2]uint16) bool {
	for _, r := range rs {
		if v >= r[0] && v <= r[1] {
			return true
		}
	}
	return false
}

// neg makes a predicate honour a "!".
func neg(inv bool, f func(p *pkt) bool) func(p *pkt) bool {
	if !inv {
		return f
	}
	return func(p *pkt) bool { return !f(p) }
}

func bang(inv bool) string {
	if inv {
		return " !"
	}
	return ""
}

// newGen builds a ruleset from a seed.
func newGen(seed uint64) *gen {
	g := &gen{rnd: rand.New(rand.NewPCG(seed, 0x5eed)), feat: map[string]bool{}, byName: map[string]*gChain{}}
	feats := []string{"src", "dst", "in", "out", "l4", "state", "frag", "mark", "len"}
	n := 2 + g.pick(3)
	for _, i := range g.rnd.Perm(len(feats))[:n] {
		g.feat[feats[i]] = true
	}
	if g.chance(0.6) {
		g.feat["l4"] = true
	}
	g.protos = []uint8{47} // a protocol no rule names
	pol := []string{"ACCEPT", "DROP"}
	// The kernel refuses -o in INPUT, so output interfaces come only
	// with FORWARD alone.
	if !g.feat["out"] {
		g.chains = append(g.chains, &gChain{name: "INPUT", builtin: true, policy: pol[g.pick(2)]})
	}
	if g.feat["out"] || g.chance(0.4) {
		g.chains = append(g.chains, &gChain{name: "FORWARD", builtin: true, policy: pol[g.pick(2)]})
	}
	nb := len(g.chains)
	for i := range g.pick(4) {
		g.chains = append(g.chains, &gChain{name: fmt.Sprintf("U%d", i+1)})
	}
	for _, c := range g.chains {
		g.byName[c.name] = c
	}
	for ci, c := range g.chains {
		nr := 1 + g.pick(5)
		if c.builtin {
			nr = 2 + g.pick(7)
		}
		for range nr {
			g.rule(c, ci, nb)
		}
	}
	return g
}

// rule appends one random rule to chain c (index ci; user chains start at
// index nb and may only jump forward, so there are no loops).
func (g *gen) rule(c *gChain, ci, nb int) {
	gr := &gRule{id: len(g.all), chain: c.name, num: len(c.rules) + 1}
	r := &rules.Rule{}
	scale := 1.0
	if len(c.rules) > 0 && g.chance(0.3) {
		// A variant of an earlier rule, maybe narrowed: the usual way
		// rules come to shadow each other.
		base := c.rules[g.pick(len(c.rules))]
		*r = *base.r
		r.Matches = slices.Clone(base.r.Matches)
		gr.preds = slices.Clone(base.preds)
		if base.opaque {
			gr.opaque = true
			r.Matches = r.Matches[:len(r.Matches)-1]
		}
		scale = 0.3
	}
	r.Pos = rules.Pos{File: "gen", Line: gr.id + 1, Col: 1}
	r.Verdict, r.Goto, r.Target, r.TType = "", false, nil, nil
	gr.r = r
	g.conds(gr, r, scale)
	if gr.opaque {
		r.Matches = append(r.Matches, fakeUse("limit", " --limit 5/sec"))
	} else if g.nOpaque < 3 && g.chance(0.12) {
		g.nOpaque++
		gr.opaque = true
		r.Matches = append(r.Matches, fakeUse("limit", " --limit 5/sec"))
	}
	g.target(gr, r, ci, nb)
	c.rules = append(c.rules, gr)
	g.all = append(g.all, gr)
}

// conds adds random conditions to a rule, each with its usual chance
// times scale; a core field already set stays as it is.
func (g *gen) conds(gr *gRule, r *rules.Rule, scale float64) {
	add := func(f func(p *pkt) bool) { gr.preds = append(gr.preds, f) }
	if g.feat["src"] && !r.Src.IsValid() && g.chance(0.4*scale) {
		p := pfx(srcPool[g.pick(len(srcPool))])
		inv := g.chance(0.2)
		r.Src, r.SrcMask, r.InvSrc = p.Addr(), maskOf(p), inv
		lo, hi := u32(p.Addr()), lastOf(p)
		g.bounds(&g.addrs, lo, hi, 1<<32-1)
		add(neg(inv, func(p *pkt) bool { return p.src >= lo && p.src <= hi }))
	}
	if g.feat["dst"] && !r.Dst.IsValid() && g.chance(0.4*scale) {
		p := pfx(dstPool[g.pick(len(dstPool))])
		inv := g.chance(0.2)
		r.Dst, r.DstMask, r.InvDst = p.Addr(), maskOf(p), inv
		lo, hi := u32(p.Addr()), lastOf(p)
		g.bounds(&g.addrs, lo, hi, 1<<32-1)
		add(neg(inv, func(p *pkt) bool { return p.dst >= lo && p.dst <= hi }))
	}
	if g.feat["in"] && r.In == "" && g.chance(0.4*scale) {
		name := inPool[g.pick(len(inPool))]
		inv := g.chance(0.2)
		r.In, r.InvIn = name, inv
		g.ifaces = append(g.ifaces, name)
		add(neg(inv, func(p *pkt) bool { return ifMatch(name, p.in) }))
	}
	if g.feat["out"] && r.Out == "" && g.chance(0.4*scale) {
		name := outPool[g.pick(len(outPool))]
		inv := g.chance(0.2)
		r.Out, r.InvOut = name, inv
		g.ifaces = append(g.ifaces, name)
		add(neg(inv, func(p *pkt) bool { return ifMatch(name, p.out) }))
	}
	if g.feat["frag"] && !r.Frag && g.chance(0.2*scale) {
		inv := g.chance(0.5)
		r.Frag, r.InvFrag = true, inv
		add(neg(inv, func(p *pkt) bool { return p.frag }))
	}
	if g.feat["l4"] && r.Proto == 0 && g.chance(0.7*scale) {
		g.l4(gr, r)
	}
	if g.feat["state"] && g.chance(0.4*scale) {
		s := statePool[g.pick(len(statePool))]
		inv := g.chance(0.2)
		g.state = true
		var mask uint8
		for _, n := range strings.Split(s, ",") {
			mask |= refStateBits[n]
		}
		if g.chance(0.5) {
			r.Matches = append(r.Matches, fakeUse("conntrack", bang(inv)+" --ctstate "+s))
		} else if !strings.Contains(s, "NAT") {
			r.Matches = append(r.Matches, fakeUse("state", bang(inv)+" --state "+s))
		} else {
			r.Matches = append(r.Matches, fakeUse("conntrack", bang(inv)+" --ctstate "+s))
		}
		add(neg(inv, func(p *pkt) bool { return p.ctMask()&mask != 0 }))
	}
	if g.feat["mark"] && g.chance(0.4*scale) {
		v := uint32(1 + g.pick(2))
		inv := g.chance(0.3)
		g.bounds(&g.marks, v, v, 1<<32-1)
		r.Matches = append(r.Matches, fakeUse("mark", fmt.Sprintf("%s --mark 0x%x", bang(inv), v)))
		add(neg(inv, func(p *pkt) bool { return p.mark == v }))
	}
	if g.feat["len"] && g.chance(0.3*scale) {
		if g.chance(0.5) {
			lo, hi := uint32(0), uint32(100)
			if g.chance(0.5) {
				lo, hi = 60, 1500
			}
			inv := g.chance(0.3)
			g.bounds(&g.lens, lo, hi, 65535)
			r.Matches = append(r.Matches, fakeUse("length", fmt.Sprintf("%s --length %d:%d", bang(inv), lo, hi)))
			add(neg(inv, func(p *pkt) bool { return uint32(p.length) >= lo && uint32(p.length) <= hi }))
		} else {
			ops := []string{"--ttl-eq", "--ttl-lt", "--ttl-gt", "! --ttl-eq"}
			op := ops[g.pick(4)]
			g.ttls = append(g.ttls, 63, 64, 65)
			r.Matches = append(r.Matches, fakeUse("ttl", " "+op+" 64"))
			add(func(p *pkt) bool {
				switch op {
				case "--ttl-eq":
					return p.ttl == 64
				case "--ttl-lt":
					return p.ttl < 64
				case "--ttl-gt":
					return p.ttl > 64
				}
				return p.ttl != 64
			})
		}
	}
}

// target gives the rule a random target.
func (g *gen) target(gr *gRule, r *rules.Rule, ci, nb int) {
	var later []string
	for _, o := range g.chains[max(ci+1, nb):] {
		later = append(later, o.name)
	}
	for {
		x := g.pick(100)
		switch {
		case x < 25:
			gr.kind, r.Verdict = tAccept, "ACCEPT"
		case x < 45:
			gr.kind, r.Verdict = tDrop, "DROP"
		case x < 50:
			gr.kind, r.Verdict = tReject, "REJECT"
			r.Target, r.TType = fakeTgt("REJECT", " --reject-with icmp-port-unreachable")
		case x < 60:
			gr.kind, r.Verdict = tReturn, "RETURN"
		case x < 67:
			gr.kind, r.Verdict = tLog, "LOG"
			r.Target, r.TType = fakeTgt("LOG", "")
		case x < 75:
			if !g.feat["mark"] {
				continue
			}
			gr.kind, r.Verdict = tMark, "MARK"
			gr.mark = uint32(1 + g.pick(2))
			g.bounds(&g.marks, gr.mark, gr.mark, 1<<32-1)
			r.Target, r.TType = fakeTgt("MARK", fmt.Sprintf(" --set-xmark 0x%x/0xffffffff", gr.mark))
		case x < 88:
			if len(later) == 0 {
				continue
			}
			gr.kind, gr.target = tJump, later[g.pick(len(later))]
			r.Verdict = gr.target
		case x < 95:
			if len(later) == 0 {
				continue
			}
			gr.kind, gr.target = tGoto, later[g.pick(len(later))]
			r.Verdict, r.Goto = gr.target, true
		default:
			gr.kind = tNone
		}
		break
	}
}

// l4 adds a protocol and its matches.
func (g *gen) l4(gr *gRule, r *rules.Rule) {
	add := func(f func(p *pkt) bool) { gr.preds = append(gr.preds, f) }
	x := g.pick(100)
	switch {
	case x < 10:
		r.Proto, r.InvProto = 6, true
		g.protos = append(g.protos, 6)
		add(func(p *pkt) bool { return p.proto != 6 })
		return
	case x < 25:
		r.Proto = 1
		g.protos = append(g.protos, 1)
		add(func(p *pkt) bool { return p.proto == 1 })
		if g.chance(0.6) {
			t := icmpPool[g.pick(len(icmpPool))]
			inv := g.chance(0.2)
			r.Matches = append(r.Matches, fakeUse("icmp", bang(inv)+" --icmp-type "+t))
			var typ int
			if t != "any" {
				fmt.Sscan(t, &typ)
				g.icmp = append(g.icmp, uint8(typ))
			}
			add(func(p *pkt) bool { return !p.frag })
			add(neg(inv, func(p *pkt) bool { return t == "any" || p.icmpType == uint8(typ) }))
		}
		return
	}
	proto := uint8(6)
	name := "tcp"
	if x < 50 {
		proto, name = 17, "udp"
	}
	r.Proto = proto
	g.protos = append(g.protos, proto)
	add(func(p *pkt) bool { return p.proto == proto })
	if g.chance(0.7) {
		var text strings.Builder
		for _, which := range []string{"sport", "dport"} {
			if !g.chance(map[string]float64{"sport": 0.3, "dport": 0.6}[which]) {
				continue
			}
			s := portPool[g.pick(len(portPool))]
			inv := g.chance(0.25)
			text.WriteString(bang(inv) + " --" + which + " " + s)
			rs := parsePorts(s)
			for _, x := range rs {
				g.bounds(&g.ports, uint32(x[0]), uint32(x[1]), 65535)
			}
			src := which == "sport"
			add(neg(inv, func(p *pkt) bool {
				if src {
					return inPorts(p.sport, rs)
				}
				return inPorts(p.dport, rs)
			}))
		}
		if proto == 6 && g.chance(0.4) {
			f := flagPool[g.pick(len(flagPool))]
			inv := g.chance(0.25)
			text.WriteString(bang(inv) + " --tcp-flags " + f[0] + " " + f[1])
			mask, _ := saveopt.TCPFlags(f[0])
			comp, _ := saveopt.TCPFlags(f[1])
			g.flagBits |= mask
			add(neg(inv, func(p *pkt) bool { return p.flags&mask == comp }))
		}
		r.Matches = append(r.Matches, fakeUse(name, text.String()))
		add(func(p *pkt) bool { return !p.frag })
	}
	if g.chance(0.25) {
		s := listPool[g.pick(len(listPool))]
		inv := g.chance(0.2)
		which := []string{"sports", "dports", "ports"}[g.pick(3)]
		r.Matches = append(r.Matches, fakeUse("multiport", bang(inv)+" --"+which+" "+s))
		rs := parsePorts(s)
		for _, x := range rs {
			g.bounds(&g.ports, uint32(x[0]), uint32(x[1]), 65535)
		}
		add(func(p *pkt) bool { return !p.frag })
		add(neg(inv, func(p *pkt) bool {
			switch which {
			case "sports":
				return inPorts(p.sport, rs)
			case "dports":
				return inPorts(p.dport, rs)
			}
			return inPorts(p.sport, rs) || inPorts(p.dport, rs)
		}))
	}
}

// hasMark reports whether a rule rewrites the mark.
func (g *gen) hasMark() bool {
	for _, gr := range g.all {
		if gr.kind == tMark {
			return true
		}
	}
	return false
}

// ruleset builds the rules.Ruleset of the generated chains.
func (g *gen) ruleset() *rules.Ruleset {
	rs := rules.New()
	t := rs.EnsureTable("filter")
	for i, gc := range g.chains {
		c := t.Chain(gc.name)
		if c == nil {
			c = &rules.Chain{Name: gc.name, Pos: rules.Pos{File: "gen", Line: 1000 + i, Col: 1}}
			t.Chains = append(t.Chains, c)
		} else {
			c.Policy = gc.policy
		}
		for _, gr := range gc.rules {
			c.Rules = append(c.Rules, gr.r)
		}
	}
	return rs
}

// dedupe sorts and removes duplicates.
func dedupe[T uint32 | uint8 | string](s []T) []T {
	slices.Sort(s)
	return slices.Compact(s)
}

// universe lists one packet per equivalence class of the rules' values.
// It returns nil when that would be too many packets.
func (g *gen) universe(limit int) []pkt {
	addrs := dedupe(append(g.addrs, 0))
	var ifs []string
	for _, n := range g.ifaces {
		if p, ok := strings.CutSuffix(n, "+"); ok {
			ifs = append(ifs, p+"zz")
		} else {
			ifs = append(ifs, n)
		}
	}
	ifs = dedupe(append(ifs, "zz"))
	ports := dedupe(append(g.ports, 0))
	var flags []uint8
	for f := 0; f < 256; f++ {
		if uint8(f)&^g.flagBits == 0 {
			flags = append(flags, uint8(f))
		}
	}
	icmps := dedupe(append(g.icmp, 5))
	marks := dedupe(append(g.marks, 0))
	lens := dedupe(append(g.lens, 0))
	ttls := dedupe(append(g.ttls, 0))
	protos := dedupe(g.protos)
	type ct struct {
		base       uint8
		snat, dnat bool
	}
	cts := []ct{{2, false, false}}
	if g.state {
		cts = []ct{{0, false, false}, {1, false, false}}
		for b := uint8(2); b <= 4; b++ {
			for n := range 4 {
				cts = append(cts, ct{b, n&1 != 0, n&2 != 0})
			}
		}
	}
	// Layer 4 variants per protocol: ports and flags only where they mean
	// something, and one fragment each.
	type l4 struct {
		proto        uint8
		sport, dport uint16
		flags        uint8
		icmp         uint8
		frag         bool
	}
	var l4s []l4
	for _, pr := range protos {
		l4s = append(l4s, l4{proto: pr, frag: true})
		switch pr {
		case 6, 17:
			fl := flags
			if pr == 17 {
				fl = []uint8{0}
			}
			for _, s := range ports {
				for _, d := range ports {
					for _, f := range fl {
						l4s = append(l4s, l4{proto: pr, sport: uint16(s), dport: uint16(d), flags: f})
					}
				}
			}
		case 1:
			for _, t := range icmps {
				l4s = append(l4s, l4{proto: pr, icmp: t})
			}
		default:
			l4s = append(l4s, l4{proto: pr})
		}
	}
	size := len(addrs) * len(addrs) * len(ifs) * len(ifs) * len(cts) * len(marks) * len(lens) * len(ttls) * len(l4s)
	if size > limit {
		return nil
	}
	out := make([]pkt, 0, size)
	for _, s := range addrs {
		for _, d := range addrs {
			for _, in := range ifs {
				for _, o := range ifs {
					for _, c := range cts {
						for _, m := range marks {
							for _, ln := range lens {
								for _, tl := range ttls {
									for _, x := range l4s {
										out = append(out, pkt{src: s, dst: d, in: in, out: o, proto: x.proto,
											sport: x.sport, dport: x.dport, flags: x.flags, icmpType: x.icmp,
											ctBase: c.base, snat: c.snat, dnat: c.dnat, frag: x.frag,
											mark: m, length: uint16(ln), ttl: uint8(tl)})
									}
								}
							}
						}
					}
				}
			}
		}
	}
	return out
}

// refEval is the reference evaluator: the kernel's traversal (ipt_do_table)
// over the generated chains, exploring both outcomes of opaque matches.
type refEval struct {
	g       *gen
	hit     []bool          // rule reached and its non-opaque part matched
	entered map[string]bool // user chain entered by some packet
	// hitBy[id][u] is set when universe packet u hit rule id; cur is the
	// packet being run.
	hitBy [][]bool
	cur   int
}

// exec runs p from rule i of chain c and returns the packets (as
// rewritten) that leave c without a verdict; for a built-in chain the
// policy takes them, so none leave.
func (e *refEval) exec(c *gChain, i int, p pkt, depth int) []pkt {
	if depth > 20 {
		panic("generated ruleset too deep")
	}
	var back []pkt
	for ; i < len(c.rules); i++ {
		gr := c.rules[i]
		matched := true
		for _, f := range gr.preds {
			if !f(&p) {
				matched = false
				break
			}
		}
		if !matched {
			continue
		}
		e.hit[gr.id] = true
		e.hitBy[gr.id][e.cur] = true
		if gr.opaque {
			// The limit may say no: the packet goes on.
			back = append(back, e.exec(c, i+1, p, depth)...)
		}
		switch gr.kind {
		case tAccept, tDrop, tReject:
			return back
		case tLog, tNone:
			continue
		case tMark:
			p.mark = gr.mark
			continue
		case tReturn:
			if c.builtin {
				return back
			}
			return append(back, p)
		case tJump, tGoto:
			callee := e.g.byName[gr.target]
			e.entered[callee.name] = true
			returned := uniq(e.exec(callee, 0, p, depth+1))
			if gr.kind == tGoto {
				if c.builtin {
					return back
				}
				return append(back, returned...)
			}
			for _, q := range returned {
				back = append(back, e.exec(c, i+1, q, depth)...)
			}
			return back
		}
	}
	if c.builtin {
		return back
	}
	return append(back, p)
}

func uniq(ps []pkt) []pkt {
	seen := map[pkt]bool{}
	var out []pkt
	for _, p := range ps {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

// truth runs the universe and returns, per rule id, whether some packet
// reaches and matches the rule, which packets do, and the user chains no
// packet enters.
func (g *gen) truth(universe []pkt) (hit []bool, hitBy [][]bool, unentered map[string]bool) {
	e := &refEval{g: g, hit: make([]bool, len(g.all)), entered: map[string]bool{}}
	for range g.all {
		e.hitBy = append(e.hitBy, make([]bool, len(universe)))
	}
	for _, c := range g.chains {
		if !c.builtin {
			continue
		}
		for i, p := range universe {
			e.cur = i
			e.exec(c, 0, p, 0)
		}
	}
	unentered = map[string]bool{}
	for _, c := range g.chains {
		if !c.builtin && !e.entered[c.name] {
			unentered[c.name] = true
		}
	}
	return e.hit, e.hitBy, unentered
}

// refsRE finds the rules a message names; entryRE those it names as the
// jump a chain's packets come by.
var (
	refsRE  = regexp.MustCompile(`\(gen:(\d+)\)`)
	entryRE = regexp.MustCompile(`enters \S+ by \S+ rule \d+ \(gen:(\d+)\)`)
)

// checkNamed checks the rules a shadowing message names as deciding:
// each must have taken some packet that the shadowed rule would match.
// (Without MARK rules a packet is the same at both rules.)
func (g *gen) checkNamed(t *testing.T, seed uint64, d *rules.Diag, universe []pkt, hitBy [][]bool) {
	shadowed := g.all[d.Pos.Line-1]
	entries := map[string]bool{}
	for _, m := range entryRE.FindAllStringSubmatch(d.Msg, -1) {
		entries[m[1]] = true
	}
	for _, m := range refsRE.FindAllStringSubmatch(d.Msg, -1) {
		if entries[m[1]] {
			continue
		}
		var line int
		fmt.Sscan(m[1], &line)
		named := g.all[line-1]
		took := false
		for u, p := range universe {
			if !hitBy[named.id][u] {
				continue
			}
			all := true
			for _, f := range shadowed.preds {
				if !f(&p) {
					all = false
					break
				}
			}
			if all {
				took = true
				break
			}
		}
		if !took {
			t.Errorf("seed %d: %s names %s rule %d, which takes no packet the shadowed rule could match\n%s", seed, d.Error(), named.chain, named.num, dump(g.ruleset()))
		}
	}
}

// lintResult runs Lint and returns the rules it calls shadowed (by
// chain and number), the chains it notes as unused, and whether it gave
// up anywhere.
func lintResult(t *testing.T, rs *rules.Ruleset) (shadowed map[[2]string]bool, unused map[string]bool, gaveUp bool, ds rules.Diags) {
	at := map[int][2]string{}
	chainAt := map[int]string{}
	for _, tb := range rs.Tables {
		for _, c := range tb.Chains {
			chainAt[c.Pos.Line] = c.Name
			for i, r := range c.Rules {
				at[r.Pos.Line] = [2]string{c.Name, fmt.Sprint(i + 1)}
			}
		}
	}
	shadowed, unused = map[[2]string]bool{}, map[string]bool{}
	ds = Lint(rs)
	for _, d := range ds {
		switch {
		case strings.HasPrefix(d.Msg, "never matches anything"):
			k, ok := at[d.Pos.Line]
			if !ok {
				t.Fatalf("finding at no rule: %v", d)
			}
			shadowed[k] = true
		case d.Severity == rules.SevNote && (strings.Contains(d.Msg, "simplified") || strings.Contains(d.Msg, "too complex")):
			gaveUp = true
		case d.Severity == rules.SevNote:
			unused[d.Word] = true
		}
	}
	return shadowed, unused, gaveUp, ds
}

// dump prints a generated ruleset for a failure message.
func dump(rs *rules.Ruleset) string {
	var b strings.Builder
	rs.Save(&b, rules.SaveOptions{})
	return b.String()
}

// checkSeed compares Lint with the reference on one seed; it returns
// false when the seed's universe was too big to enumerate.
func checkSeed(t *testing.T, seed uint64, stats *randomStats) bool {
	g := newGen(seed)
	u := g.universe(60_000)
	if u == nil {
		return false
	}
	hit, hitBy, unentered := g.truth(u)
	rs := g.ruleset()
	got, unused, gaveUp, ds := lintResult(t, rs)
	byKey := map[[2]string]*gRule{}
	shadowed := 0
	for _, gr := range g.all {
		byKey[[2]string{gr.chain, fmt.Sprint(gr.num)}] = gr
		if !hit[gr.id] && !unentered[gr.chain] {
			shadowed++
		}
	}
	exact := !gaveUp && !stats.soundOnly
	for k := range got {
		switch gr := byKey[k]; {
		case hit[gr.id]:
			t.Errorf("seed %d: false positive: %s rule %s reported shadowed, but a packet reaches and matches it\n%s\n%v", seed, k[0], k[1], dump(rs), ds)
		case unentered[gr.chain] && exact:
			// True, but Lint promises a note on the chain instead.
			t.Errorf("seed %d: %s rule %s reported shadowed in a chain no packet enters\n%s\n%v", seed, k[0], k[1], dump(rs), ds)
		}
	}
	// The named rules are checked only where the analysis kept every
	// box: past a simplification it may name a rule for packets that only
	// the simplification added (the finding itself stays true).
	if !g.hasMark() && !gaveUp {
		for _, d := range ds {
			if strings.HasPrefix(d.Msg, "never matches anything") {
				g.checkNamed(t, seed, d, u, hitBy)
			}
		}
	}
	if exact {
		for k, gr := range byKey {
			if !hit[gr.id] && !unentered[gr.chain] && !got[k] {
				t.Errorf("seed %d: missed: %s rule %s is shadowed (no packet of %d reaches and matches it)\n%s\n%v", seed, k[0], k[1], len(u), dump(rs), ds)
			}
		}
		for c := range unentered {
			if !unused[c] {
				t.Errorf("seed %d: chain %s is never entered but Lint has no note\n%s", seed, c, dump(rs))
			}
		}
	}
	for c := range unused {
		if !unentered[c] {
			t.Errorf("seed %d: chain %s noted as unused, but packets enter it\n%s", seed, c, dump(rs))
		}
	}
	stats.seeds++
	stats.rules += len(g.all)
	stats.shadowed += shadowed
	stats.packets += len(u)
	if gaveUp {
		stats.gaveUp++
	}
	return true
}

type randomStats struct {
	seeds, rules, shadowed, packets, skipped, gaveUp int
	// soundOnly checks only that every finding is true, for runs whose
	// limits are set to make the analysis give up.
	soundOnly bool
}

// TestRandomShadowing is the main soundness and completeness test: over
// hundreds of seeds, Lint reports exactly the rules that brute force
// finds shadowed.
func TestRandomShadowing(t *testing.T) {
	n := 600
	if testing.Short() {
		n = 150
	}
	var st randomStats
	for seed := uint64(1); st.seeds < n && seed < uint64(4*n); seed++ {
		if !checkSeed(t, seed, &st) {
			st.skipped++
		}
		if t.Failed() {
			break
		}
	}
	t.Logf("%d rulesets, %d rules, %d shadowed, %d packets enumerated, %d seeds skipped (universe too big), %d gave up",
		st.seeds, st.rules, st.shadowed, st.packets, st.skipped, st.gaveUp)
	if st.seeds < n {
		t.Errorf("only %d seeds had a small enough universe", st.seeds)
	}
	if st.shadowed < n/4 {
		t.Errorf("only %d shadowed rules over %d rulesets: the generator is too tame to test much", st.shadowed, st.seeds)
	}
}

// TestRandomShadowingFallbacks runs the generated rulesets with limits
// so small that the analysis must simplify (a region of more than two
// boxes becomes its hull) or abandon a table (no work budget): it may then
// miss shadowed rules, but every finding must still be true.
func TestRandomShadowingFallbacks(t *testing.T) {
	for _, lim := range []struct {
		name        string
		boxes, work int
	}{{"hull past 2 boxes", 2, 50_000_000}, {"hull past 1 box", 1, 50_000_000}, {"work budget 40", 4096, 40}} {
		t.Run(lim.name, func(t *testing.T) {
			defer func(b, w int) { maxBoxes, tableWork = b, w }(maxBoxes, tableWork)
			maxBoxes, tableWork = lim.boxes, lim.work
			st := randomStats{soundOnly: true}
			for seed := uint64(1); st.seeds < 150 && seed < 600; seed++ {
				checkSeed(t, seed, &st)
				if t.Failed() {
					break
				}
			}
			t.Logf("%d rulesets, %d shadowed, %d where Lint simplified or gave up", st.seeds, st.shadowed, st.gaveUp)
			if st.gaveUp == 0 {
				t.Errorf("the limits never bit")
			}
		})
	}
}

// TestRandomRealParser runs generated rulesets through the real restore
// parser and the registered extensions: their iptables-save text must be
// the fakes' text (so the fakes print what iptables-save prints), and
// Lint must find the same shadowed rules in both.
func TestRandomRealParser(t *testing.T) {
	n := 200
	if testing.Short() {
		n = 50
	}
	ran := 0
	for seed := uint64(1); seed <= uint64(n); seed++ {
		g := newGen(seed)
		fake := g.ruleset()
		text := dump(fake)
		real := rules.New()
		if ds, err := real.Restore(strings.NewReader(text), rules.RestoreOptions{File: "real"}); err != nil {
			if strings.Contains(fmt.Sprint(ds), "no such") || strings.Contains(fmt.Sprint(ds), "unknown") {
				t.Skipf("an extension is not registered yet: %v", ds)
			}
			t.Fatalf("seed %d: the real parser refuses the generated ruleset: %v\n%s", seed, ds, text)
		}
		if got := dump(real); got != text {
			t.Fatalf("seed %d: iptables-save text differs from the generator's:\n got: %s\nwant: %s", seed, got, text)
		}
		want, _, _, _ := lintResult(t, fake)
		got, _, _, ds := lintResult(t, real)
		if !maps.Equal(want, got) {
			t.Fatalf("seed %d: shadowed rules differ: real parser %v, fakes %v\n%s\n%v", seed, got, want, text, ds)
		}
		ran++
	}
	t.Logf("%d generated rulesets agree through the real parser", ran)
}
