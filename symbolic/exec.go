package symbolic

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"strings"

	"github.com/ipsift/ipsift/bdd"
	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/rules"
)

// State is the packet and its connection at one point of the pipeline:
// every field a vector of functions of the input variables, and the
// records left so far (log lines and other side effects) as an
// interned list.
type State struct {
	F   [NumFields]bdd.Vec
	Eff int32 // index into Space's effects; 0: none
	// Why is the filter table's rule that accepted the packet ("" for
	// a policy): for messages only, never compared.
	Why string
}

// key identifies a state: equal keys, equal states.
func (st *State) key() string {
	b := make([]byte, 0, 512)
	for _, v := range st.F {
		for _, n := range v {
			b = binary.LittleEndian.AppendUint32(b, uint32(n))
		}
		b = append(b, 0xff, 0xff, 0xff, 0xff)
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(st.Eff))
	b = append(b, st.Why...)
	return string(b)
}

// fieldsKey identifies the packet fields alone (what an opaque match
// could read).
func (st *State) fieldsKey() string {
	c := *st
	c.Eff = 0
	c.Why = ""
	return c.key()
}

func (st *State) with(f Field, v bdd.Vec) *State {
	c := *st
	c.F[f] = v
	return &c
}

// Leaf is one outcome of a run: the inputs in G end with this verdict
// and state. G is meaningful within the Space's Domain only.
type Leaf struct {
	G       bdd.Node
	Verdict string // accept-local, forward, sent, drop, reject WITH, queue N, ...
	St      *State
	// Why is what decided: "filter INPUT rule 4", "filter INPUT policy",
	// "no route".
	Why string
}

// Options change what a run models.
type Options struct {
	// IgnoreField makes the run skip every condition on that field
	// (addresses, ports): the planted bug of the tests, which the
	// equivalence check must catch. FLocal (the zero value): none.
	IgnoreField Field
	// Split lists stateful match keys that must not be shared between
	// the rulesets compared (their reach differs); Tag tells the runs
	// apart for those.
	Split map[string]bool
	Tag   string
}

// Run is the symbolic execution of one ruleset.
type Run struct {
	S      *Space
	RS     *rules.Ruleset
	Leaves []*Leaf
	// Reach of each stateful match key: the inputs that reach it.
	Reach map[string]bdd.Node
	// Opaque records what became a free variable: key → description.
	Opaque map[string]string
	opts   Options
	// occurrence numbers of stateful match texts per chain
	occ    map[*rules.Rule][]string
	chains map[string]map[string]*rules.Chain
	table  string
	hook   string
	// loopBase is the state a packet the host sent to itself left with,
	// while its way back in runs (see leaf).
	loopBase *State
}

// ErrGaveUp is returned when the node budget or the variable pool ran
// out: the answer is partial.
var ErrGaveUp = errors.New("gave up: the node budget or the variable pool ran out")

// Effect is one record in a state's list of side effects: what was
// recorded (a LOG target and its options, in a hook) and the packet as
// it was then (At: the state, whose fields a log line prints).
type Effect struct {
	Prev int32
	Text string
	At   *State
}

type effectKey struct {
	prev int32
	text string
	at   string
}

// effects is the interner of effect lists, shared by every run of a
// Space so that equal lists (same records of the same packet fields)
// have equal ids.
type effects struct {
	list  []Effect
	index map[effectKey]int32
}

func (s *Space) effect(prev int32, text string, at *State) int32 {
	if s.eff == nil {
		s.eff = &effects{list: []Effect{{}}, index: map[effectKey]int32{}}
	}
	snap := *at
	snap.Eff, snap.Why = 0, ""
	k := effectKey{prev, text, snap.key()}
	if id, ok := s.eff.index[k]; ok {
		return id
	}
	id := int32(len(s.eff.list))
	s.eff.list = append(s.eff.list, Effect{prev, text, &snap})
	s.eff.index[k] = id
	return id
}

// EffectList returns the effects of list id, oldest first.
func (s *Space) EffectList(id int32) []Effect {
	var out []Effect
	for id != 0 {
		e := s.eff.list[id]
		out = append(out, e)
		id = e.Prev
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// Effects returns the texts of the effect list id, oldest first.
func (s *Space) Effects(id int32) []string {
	var out []string
	for _, e := range s.EffectList(id) {
		out = append(out, e.Text)
	}
	return out
}

// piece is a part of the input space on its way through a chain, with
// the state it has there.
type piece struct {
	g  bdd.Node
	st *State
}

// tableLeaf is a piece a table decided: ACCEPT (go on to the next
// table) or a final verdict.
type tableLeaf struct {
	piece
	verdict string // "" for ACCEPT
	why     string
}

// merge joins pieces of the same state.
func (x *Run) merge(ps []piece) []piece {
	if len(ps) < 2 {
		return ps
	}
	idx := map[string]int{}
	out := ps[:0:0]
	for _, p := range ps {
		if p.g == bdd.False {
			continue
		}
		k := p.st.key()
		if i, ok := idx[k]; ok {
			out[i].g = x.S.M.Or(out[i].g, p.g)
			continue
		}
		idx[k] = len(out)
		out = append(out, p)
	}
	return out
}

// Execute runs rs over the space. The error is ErrGaveUp when the
// budget ran out (Leaves are then incomplete).
func Execute(s *Space, rs *rules.Ruleset, o Options) (*Run, error) {
	x := &Run{S: s, RS: rs, Reach: map[string]bdd.Node{}, Opaque: map[string]string{}, opts: o, occ: map[*rules.Rule][]string{}, chains: map[string]map[string]*rules.Chain{}}
	for _, t := range rs.Tables {
		cs := map[string]*rules.Chain{}
		for _, c := range t.Chains {
			cs[c.Name] = c
			seen := map[string]int{}
			for _, r := range c.Rules {
				var keys []string
				for _, mu := range r.Matches {
					if !isStateful(mu.Type.Name) {
						keys = append(keys, "")
						continue
					}
					text := mu.Type.Name + saveText(mu)
					k := t.Name + " " + c.Name + " -m " + text
					n := seen[k]
					seen[k]++
					keys = append(keys, k+" #"+itoa(n))
				}
				x.occ[r] = keys
			}
		}
		x.chains[t.Name] = cs
	}
	if err := x.pipeline(); err != nil {
		return x, err
	}
	if s.M.Err() != nil {
		return x, ErrGaveUp
	}
	return x, nil
}

func saveText(mu *rules.MatchUse) string {
	var b strings.Builder
	mu.M.Save(&b)
	return b.String()
}

// errPool is raised (as a panic caught in Execute) when the variable
// pool runs out.
type errPool struct{}

// tables runs the built-in chain of hook in each table in order; pieces
// a table accepts go on to the next; the others become leaves.
func (x *Run) tables(hook string, ps []piece, names ...string) []piece {
	for _, t := range names {
		if len(ps) == 0 {
			return nil
		}
		tab := x.chains[t]
		if tab == nil {
			continue
		}
		c := tab[hook]
		if c == nil {
			continue
		}
		x.table, x.hook = t, hook
		var next []piece
		for _, l := range x.chain(c, ps, 0) {
			if l.verdict == "return" {
				// RETURN in a built-in chain: its policy decides.
				l.why = t + " " + hook + " policy"
				l.verdict = ""
				if c.Policy == "DROP" {
					l.verdict = "drop"
				}
			}
			if l.verdict == "" {
				if t == "filter" && !strings.HasSuffix(l.why, "policy") && l.why != "" {
					st := *l.st
					st.Why = l.why
					l.st = &st
				}
				next = append(next, l.piece)
				continue
			}
			x.leaf(l.g, l.verdict, l.st, l.why)
		}
		ps = x.merge(next)
	}
	return ps
}

func (x *Run) leaf(g bdd.Node, verdict string, st *State, why string) {
	if g == bdd.False {
		return
	}
	if b := x.loopBase; b != nil {
		// A packet the host sent to itself: it left (sent), and what
		// became of it on its way back in is part of its effect. The
		// packet and mark are the ones that left (the engine restores
		// them); the connection's mark and the log records stay.
		out := *b
		out.Eff, out.F[FCTMark] = st.Eff, st.F[FCTMark]
		if verdict == "accept-local" {
			verdict = "sent, delivered back"
		} else {
			verdict = "sent, back in: " + verdict
		}
		st = &out
	}
	x.Leaves = append(x.Leaves, &Leaf{G: g, Verdict: verdict, St: st, Why: why})
}

// chain walks a chain: it returns the pieces the chain's table decided
// (ACCEPT or a verdict) and, for a user chain, the pieces that return
// (verdict "return").
func (x *Run) chain(c *rules.Chain, in []piece, depth int) []tableLeaf {
	var out []tableLeaf
	ps := x.merge(in)
	if depth > 64 {
		// iptables refuses loops; a chain this deep is one.
		for _, p := range ps {
			out = append(out, tableLeaf{p, "drop", "chain loop"})
		}
		return out
	}
	if buckets, general, ok := dispatch(c); ok {
		ps = x.bucketed(c, buckets, general, ps, depth, &out)
	} else {
		all := make([]int, len(c.Rules))
		for i := range all {
			all[i] = i
		}
		ps = x.rules(c, all, ps, depth, &out)
	}
	for _, p := range ps {
		switch {
		case !c.Builtin:
			out = append(out, tableLeaf{p, "return", ""})
		case c.Policy == "DROP":
			out = append(out, tableLeaf{p, "drop", x.table + " " + c.Name + " policy"})
		default:
			out = append(out, tableLeaf{p, "", x.table + " " + c.Name + " policy"})
		}
	}
	return out
}

// dispatch sorts a long chain's rules by the one destination address
// each requires (-d ADDR/32 without "!"), as a classifier does:
// buckets in order of first use, and the rules that require none. ok is
// false for a chain too short or too mixed to gain.
func dispatch(c *rules.Chain) (buckets []bucket, general []int, ok bool) {
	if len(c.Rules) < 64 {
		return nil, nil, false
	}
	idx := map[netip.Addr]int{}
	for i, r := range c.Rules {
		if r.Dst.IsValid() && !r.InvDst && (!r.DstMask.IsValid() || ext.MaskLen(r.DstMask) == r.Dst.BitLen()) {
			b, seen := idx[r.Dst]
			if !seen {
				b = len(buckets)
				idx[r.Dst] = b
				buckets = append(buckets, bucket{addr: r.Dst})
			}
			buckets[b].rules = append(buckets[b].rules, i)
			continue
		}
		general = append(general, i)
	}
	return buckets, general, len(general)*4 < len(c.Rules) && len(buckets) > 1
}

type bucket struct {
	addr  netip.Addr
	rules []int
}

// bucketed runs a dispatched chain: each piece is split by destination
// into the buckets' addresses and the rest; each part meets only its
// bucket's rules and the general ones, in chain order. The answer is
// the same as the walk of every rule (a rule of another bucket cannot
// match the part), at a fraction of the cost on long chains.
func (x *Run) bucketed(c *rules.Chain, buckets []bucket, general []int, ps []piece, depth int, out *[]tableLeaf) []piece {
	m := x.S.M
	var cont []piece
	for _, p := range ps {
		dst := p.st.F[FDst]
		rest := p.g
		for _, b := range buckets {
			eq := m.Eq(dst, x.S.addrVec(b.addr))
			part := m.And(rest, eq)
			if part == bdd.False {
				continue
			}
			rest = m.Diff(rest, eq)
			cont = append(cont, x.rules(c, mergeSorted(b.rules, general), []piece{{part, p.st}}, depth, out)...)
		}
		if rest != bdd.False {
			cont = append(cont, x.rules(c, general, []piece{{rest, p.st}}, depth, out)...)
		}
	}
	return x.merge(cont)
}

// mergeSorted merges two ascending lists of rule indices.
func mergeSorted(a, b []int) []int {
	out := make([]int, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		if j == len(b) || i < len(a) && a[i] < b[j] {
			out = append(out, a[i])
			i++
		} else {
			out = append(out, b[j])
			j++
		}
	}
	return out
}

// rules walks the rules idxs of c (ascending) over the pieces: the
// decided pieces go to out, the ones that go on are returned.
func (x *Run) rules(c *rules.Chain, idxs []int, ps []piece, depth int, out *[]tableLeaf) []piece {
	m := x.S.M
	for _, i := range idxs {
		r := c.Rules[i]
		if len(ps) == 0 {
			break
		}
		var cont []piece
		why := ""
		for _, p := range ps {
			cond := x.ruleCond(r, p, c)
			hit := m.And(p.g, cond)
			if hit == bdd.False {
				cont = append(cont, p)
				continue
			}
			if rest := m.Diff(p.g, cond); rest != bdd.False {
				cont = append(cont, piece{rest, p.st})
			}
			if why == "" {
				why = x.table + " " + c.Name + " rule " + itoa(i+1)
			}
			hp := piece{hit, p.st}
			switch {
			case r.Verdict == "ACCEPT":
				*out = append(*out, tableLeaf{hp, "", why})
			case r.Verdict == "DROP":
				*out = append(*out, tableLeaf{hp, "drop", why})
			case r.Verdict == "RETURN":
				*out = append(*out, tableLeaf{hp, "return", why})
			case r.Verdict == "QUEUE":
				*out = append(*out, tableLeaf{hp, "queue 0", why})
			case r.Verdict == "":
				cont = append(cont, hp)
			case r.IsJump():
				sub := x.chains[x.table][r.Verdict]
				if sub == nil {
					cont = append(cont, hp)
					continue
				}
				for _, l := range x.chain(sub, []piece{hp}, depth+1) {
					switch {
					case l.verdict == "return" && r.Goto:
						*out = append(*out, l)
					case l.verdict == "return":
						cont = append(cont, l.piece)
					default:
						*out = append(*out, l)
					}
				}
			default:
				for _, l := range x.target(r, hp, why) {
					if l.verdict == "continue" {
						cont = append(cont, l.piece)
					} else {
						*out = append(*out, l)
					}
				}
			}
		}
		ps = x.merge(cont)
	}
	return ps
}

// pipeline runs the hooks as the kernel does, for arriving packets and
// packets the host sends (both are in the input space: FLocal).
func (x *Run) pipeline() (err error) {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(errPool); ok {
				err = ErrGaveUp
				return
			}
			panic(r)
		}
	}()
	s := x.S
	m := s.M
	in := &s.Input
	// Before conntrack the packet has no connection: raw's rules see
	// it as INVALID, unless a raw rule untracks it.
	pre := *in
	pre.F[FCT] = uv(CTInvalid, 3)
	pre.F[FFirst], pre.F[FReply], pre.F[FSNAT], pre.F[FDNAT] = uv(0, 1), uv(0, 1), uv(0, 1), uv(0, 1)
	pre.F[FCTMark] = uv(0, 32)
	local := in.F[FLocal][0]
	// The domain is left out of the guards (they stay small) and
	// applied when runs are compared: out of it a run's answer is
	// meaningless but harmless.
	arrive := m.Not(local)
	sent := local

	// Arriving packets.
	ps := x.tables("PREROUTING", []piece{{arrive, &pre}}, "raw")
	ps = x.track(ps)
	ps = x.tables("PREROUTING", ps, "mangle")
	ps = x.nat("PREROUTING", ps)
	var fwd []piece
	for _, p := range ps {
		for _, a := range s.arrivals(p.st) {
			g := m.And(p.g, a.in)
			if g == bdd.False {
				continue
			}
			if d := m.And(g, a.drop); d != bdd.False {
				x.leaf(d, "drop", p.st, "a multicast group not joined")
			}
			g = m.Diff(g, a.drop)
			loc := m.And(g, a.local)
			for _, q := range x.natSrc("INPUT", x.tables("INPUT", []piece{{loc, p.st}}, "mangle", "filter", "security")) {
				x.leaf(q.g, "accept-local", q.st, q.st.Why)
			}
			rest := m.Diff(g, a.local)
			if nr := m.And(rest, a.noRoute); nr != bdd.False {
				x.leaf(nr, "drop", p.st, "no route")
			}
			rest = m.Diff(rest, a.noRoute)
			if rest == bdd.False {
				continue
			}
			st := p.st.with(FOut, a.fwdOut)
			// ip_forward, ip6_forward: a TTL or hop limit that would
			// run out is dropped before FORWARD.
			low := s.M.Le(st.F[FTTL], uv(1, 8))
			if g := m.And(rest, low); g != bdd.False {
				x.leaf(g, "drop", st, "TTL exceeded")
			}
			rest = m.Diff(rest, low)
			if b := m.And(rest, a.badSrc); b != bdd.False {
				x.leaf(b, "drop", st, "source not forwarded")
			}
			rest = m.Diff(rest, a.badSrc)
			st = st.with(FTTL, s.decr(st.F[FTTL]))
			fwd = append(fwd, piece{rest, st})
		}
	}
	fwd = x.tables("FORWARD", x.merge(fwd), "mangle", "filter", "security")
	fwd = x.tables("POSTROUTING", fwd, "mangle")
	for _, q := range x.natSrc("POSTROUTING", fwd) {
		x.leaf(q.g, "forward", q.st, q.st.Why)
	}

	// Packets the host sends.
	var out []piece
	for _, p := range []piece{{sent, &pre}} {
		rt := s.route(p.st.F[FDst])
		if g := m.And(p.g, rt.sendErr); g != bdd.False {
			x.leaf(g, "drop", p.st, "no route")
		}
		g := m.Diff(p.g, rt.sendErr)
		out = append(out, piece{g, p.st.with(FOut, rt.outDev)})
	}
	out = x.tables("OUTPUT", out, "raw")
	out = x.track(out)
	out = x.tables("OUTPUT", out, "mangle")
	out = x.nat("OUTPUT", out)
	out = x.tables("OUTPUT", out, "filter", "security")
	var rerouted []piece
	for _, p := range out {
		// ip_route_me_harder: a new destination, a new route.
		rt := s.route(p.st.F[FDst])
		if g := m.And(p.g, rt.sendErr); g != bdd.False {
			x.leaf(g, "drop", p.st, "no route")
		}
		rerouted = append(rerouted, piece{m.Diff(p.g, rt.sendErr), p.st.with(FOut, rt.outDev)})
	}
	out = x.tables("POSTROUTING", x.merge(rerouted), "mangle")
	lo := uv(uint64(s.ifIndex("lo")), s.IfBits)
	for _, q := range x.natSrc("POSTROUTING", out) {
		// What goes out lo, and a copy of a broadcast, comes back in
		// (loopback_xmit, dev_loopback_xmit): PREROUTING and INPUT
		// without NAT (the connection's is set).
		toLo := m.Eq(q.st.F[FOut], lo)
		loop := m.Or(toLo, m.Diff(s.broadcast(q.st.F[FDst]), toLo))
		x.leaf(m.Diff(q.g, loop), "sent", q.st, q.st.Why)
		lg := m.And(q.g, loop)
		if lg == bdd.False {
			continue
		}
		back := q.st.with(FIn, q.st.F[FOut]).with(FOut, uv(0, s.IfBits))
		x.loopBase = q.st
		ps := x.tables("PREROUTING", []piece{{lg, back}}, "raw", "mangle")
		ps = x.tables("INPUT", ps, "mangle", "filter", "security")
		for _, p := range ps {
			x.leaf(p.g, "accept-local", p.st, q.st.Why)
		}
		x.loopBase = nil
	}
	return nil
}

// track is conntrack: a packet raw did not untrack gets its input
// connection state; an existing connection's NAT rewrites it in
// PREROUTING or OUTPUT (destination) as the connection says.
func (x *Run) track(ps []piece) []piece {
	s := x.S
	m := s.M
	in := &s.Input
	var out []piece
	for _, p := range ps {
		untracked := s.ctIs(p.st.F[FCT], CTUntracked)
		if g := m.And(p.g, untracked); g != bdd.False {
			out = append(out, piece{g, p.st})
		}
		g := m.Diff(p.g, untracked)
		if g == bdd.False {
			continue
		}
		st := *p.st
		for _, f := range []Field{FCT, FFirst, FReply, FSNAT, FDNAT, FCTMark} {
			st.F[f] = in.F[f]
		}
		// The connection's own NAT of the destination: original
		// direction of a DNAT connection, reply direction of an SNAT
		// one (not the first packet: its NAT is the rules').
		// The engine and the kernel translate in the nat table's hooks
		// only: without a nat chain there (no nat table), the
		// connection's binding is left alone.
		reply := in.F[FReply][0]
		pre := m.Diff(m.Or(m.Diff(in.F[FDNAT][0], reply), m.And(in.F[FSNAT][0], reply)), in.F[FFirst][0])
		local := in.F[FLocal][0]
		pre = m.And(pre, m.Or(m.And(local, x.natAt("OUTPUT")), m.Diff(x.natAt("PREROUTING"), local)))
		st.F[FDst] = m.Select(pre, s.extra(VPreAddr), st.F[FDst])
		st.F[FDport] = m.Select(m.And(pre, hasPorts(s, st.F[FProto])), s.extra(VPrePort), st.F[FDport])
		out = append(out, piece{g, &st})
	}
	return x.merge(out)
}

func hasPorts(s *Space, proto bdd.Vec) bdd.Node {
	m := s.M
	r := bdd.False
	for _, p := range []uint64{6, 17, 132, 33, 136} {
		r = m.Or(r, m.Eq(proto, uv(p, 8)))
	}
	return r
}

// natAt is True when the nat table has a chain at hook: only then does
// a connection's NAT binding rewrite its packets there.
func (x *Run) natAt(hook string) bdd.Node {
	if t := x.chains["nat"]; t != nil && t[hook] != nil {
		return bdd.True
	}
	return bdd.False
}

// nat runs the nat table's chain of a destination NAT hook for the
// first packet of a connection; the others skip it.
func (x *Run) nat(hook string, ps []piece) []piece {
	m := x.S.M
	var first, other []piece
	for _, p := range ps {
		f := p.st.F[FFirst][0]
		if g := m.And(p.g, f); g != bdd.False {
			first = append(first, piece{g, p.st})
		}
		if g := m.Diff(p.g, f); g != bdd.False {
			other = append(other, piece{g, p.st})
		}
	}
	return x.merge(append(other, x.tables(hook, first, "nat")...))
}

// natSrc runs a source NAT hook (nat INPUT or POSTROUTING) for first
// packets, and for the others the connection's own source NAT.
func (x *Run) natSrc(hook string, ps []piece) []piece {
	s := x.S
	m := s.M
	in := &s.Input
	var first, other []piece
	for _, p := range ps {
		f := p.st.F[FFirst][0]
		if g := m.And(p.g, f); g != bdd.False {
			first = append(first, piece{g, p.st})
		}
		g := m.Diff(p.g, f)
		if g == bdd.False {
			continue
		}
		st := p.st
		if hook == "POSTROUTING" {
			tracked := m.Le(st.F[FCT], uv(CTRelated, 3))
			reply := in.F[FReply][0]
			post := m.And(m.And(tracked, x.natAt("POSTROUTING")), m.Or(m.Diff(in.F[FSNAT][0], reply), m.And(in.F[FDNAT][0], reply)))
			st = st.with(FSrc, m.Select(post, s.extra(VPostAddr), st.F[FSrc]))
			st = st.with(FSport, m.Select(m.And(post, hasPorts(s, st.F[FProto])), s.extra(VPostPort), st.F[FSport]))
		}
		other = append(other, piece{g, st})
	}
	return x.merge(append(other, x.tables(hook, first, "nat")...))
}

// decr is TTL-1 (the TTL is at least 2 here).
func (s *Space) decr(v bdd.Vec) bdd.Vec {
	k := vecKey(v)
	if r, ok := s.decrMemo[k]; ok {
		return r
	}
	r := s.map8(v, func(x uint64) uint64 {
		if x == 0 {
			return 0
		}
		return x - 1
	})
	if s.decrMemo == nil {
		s.decrMemo = map[string]bdd.Vec{}
	}
	s.decrMemo[k] = r
	return r
}

// map8 applies a function on 8-bit values to a vector.
func (s *Space) map8(v bdd.Vec, f func(uint64) uint64) bdd.Vec {
	m := s.M
	out := make(bdd.Vec, 8)
	for i := range out {
		out[i] = bdd.False
	}
	for x := uint64(0); x < 256; x++ {
		y := f(x)
		eq := m.Eq(v, uv(x, 8))
		for i := 0; i < 8; i++ {
			if y>>(7-i)&1 != 0 {
				out[i] = m.Or(out[i], eq)
			}
		}
	}
	return out
}

// hookOf is the hook name of a built-in chain for messages.
var _ = ext.IPv4
