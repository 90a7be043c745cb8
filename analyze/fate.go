package analyze

import (
	"fmt"

	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/rules"
)

// What surely happens to given packets on their way through one hook:
// which rule or policy surely drops them, which surely accepts them. The
// shadowing walk (flow.go) over-approximates what may arrive at each
// rule; this walk under-approximates, keeping only the packets that
// surely arrive at a rule unchanged (sure). A rule takes from sure every
// packet it may match: what it surely matches it decides, and the rest
// may or may not go on, so nothing more is known of it. Jumps are
// followed, RETURN and chain ends hand back what surely comes back.
// Every finding built on it (the ICMPv6 cut-off, the family gap) is
// therefore true for every packet it names.

// decided is what one rule or policy surely does to some packets.
type decided struct {
	ri    *ruleInfo    // the deciding rule; nil for the policy
	table *rules.Table // the policy's table and chain
	chain *rules.Chain
	// top is the 1-based number, in the built-in chain, of the rule
	// through which the packets came to the decision (the rule itself,
	// or the jump that led to it); 0 for the policy.
	top  int
	hook ext.Hook // the hook of that built-in chain
	drop bool     // DROP or REJECT; else ACCEPT
	r    region
}

// same reports whether d and e are the same rule's or policy's.
func (d *decided) same(e *decided) bool {
	return d.ri == e.ri && d.table == e.table && d.chain == e.chain
}

func (d *decided) name() string {
	if d.ri != nil {
		return ref(d.ri)
	}
	return policyName(d.table, d.chain)
}

// policyName names a built-in chain's policy, with where it was set.
func policyName(t *rules.Table, c *rules.Chain) string {
	s := fmt.Sprintf("the %s policy %s", chainLabel(t, c), c.Policy)
	if p := c.PolicyPos; p.Line > 0 {
		s += " (" + posLabel(p) + ")"
	}
	return s
}

// pos is where a finding about d goes.
func (d *decided) pos() rules.Pos {
	if d.ri != nil {
		return d.ri.r.Pos
	}
	if d.chain.PolicyPos.Line > 0 {
		return d.chain.PolicyPos
	}
	return d.chain.Pos
}

// fateRun follows packets through one table's chain.
type fateRun struct {
	a       *analyzer
	t       *rules.Table
	hook    ext.Hook
	w       *work
	out     []*decided
	onStack map[*rules.Chain]bool
	failed  bool // out of budget or a loop: the results are incomplete
}

// fateWork caps the region arithmetic of one fate walk.
const fateWork = 1 << 22

// fateMaxBoxes caps the boxes of sure. Each rule that may match some of
// sure cuts it, and rules on many fields (addresses of one, ports of
// another) multiply the pieces. Past the cap the walk forgets pieces:
// sure holds packets that surely arrive, so keeping fewer of them only
// makes it say less, never something wrong.
const fateMaxBoxes = 512

// walk follows sure, packets that surely enter ch, and returns those that
// surely leave it without a verdict (for a built-in chain: none, the
// policy decides them). top is the number of the built-in chain's rule
// that led here (0 when ch is the built-in chain).
func (f *fateRun) walk(ch *rules.Chain, sure region, top int) region {
	if f.onStack[ch] {
		f.failed = true
		return nil
	}
	f.onStack[ch] = true
	defer delete(f.onStack, ch)
	var back region
	minus := func(r, s region) region {
		out, ok := r.minus(s, f.w)
		if !ok {
			f.failed = true
		}
		if len(out) > fateMaxBoxes {
			if out = out.compact(); len(out) > fateMaxBoxes {
				out = out[:fateMaxBoxes]
			}
		}
		return out
	}
	for j, ri := range f.a.chainInfos[ch] {
		if sure.empty() || f.failed {
			break
		}
		if !sure.meets(ri.c.upper) {
			continue
		}
		at := top
		if ch.Builtin {
			at = j + 1
		}
		taken := sure.meet(ri.c.lower)
		switch ri.act.kind {
		case kTerminal:
			switch ri.r.Verdict {
			case "DROP", "REJECT", "ACCEPT":
				if !taken.empty() {
					f.out = append(f.out, &decided{ri: ri, table: f.t, top: at, hook: f.hook, drop: ri.r.Verdict != "ACCEPT", r: taken})
				}
			}
		case kContinue:
			if ri.act.mut == 0 && ri.act.setMark == nil {
				continue // LOG and the like: every packet goes on unchanged
			}
		case kReturn:
			if ch.Builtin {
				f.policy(ch, taken)
			} else {
				back = append(back, taken...)
			}
		case kJump, kGoto:
			if !taken.empty() {
				ret := f.walk(ri.act.chain, taken, at)
				switch {
				case ri.act.kind == kJump:
					sure = minus(sure, ri.c.upper)
					sure = append(sure, ret...)
					continue
				case ch.Builtin:
					f.policy(ch, ret)
				default:
					back = append(back, ret...)
				}
			}
		}
		// Whatever the rule may match is decided, rewritten or of
		// unknown fate: none of it surely goes on.
		sure = minus(sure, ri.c.upper)
	}
	if ch.Builtin {
		f.policy(ch, sure)
		return nil
	}
	return append(back, sure...)
}

// policy hands r to built-in chain ch's policy.
func (f *fateRun) policy(ch *rules.Chain, r region) {
	if !r.empty() {
		f.out = append(f.out, &decided{table: f.t, chain: ch, hook: f.hook, drop: ch.Policy == "DROP", r: r})
	}
}

// fateAt follows probe, packets of conntrack state st (their dimState),
// through every table on their way to hook h and at h: PREROUTING first
// for INPUT and FORWARD. It returns the parts surely dropped on the way
// and those surely accepted by h's last table, and ok false when a walk
// gave up (the parts are then still true, but may be fewer than the
// truth). The nat chains decide nothing: what a nat rule may match is
// of unknown fate (rewritten), the rest goes on. The raw tables run
// before conntrack, where every packet is INVALID to the conntrack match.
func (a *analyzer) fateAt(h ext.Hook, probe region, st set) (drops, accepts []*decided, ok bool) {
	tables := hookTables[h]
	p := path(stage{h, tables[len(tables)-1]})
	sure := probe
	ok = true
	w := &work{left: fateWork}
	cut := false // a nat stage took packets after the last accepts
	for _, s := range p {
		t := a.rs.Table(s.table)
		if t == nil || sure.empty() {
			continue
		}
		ch := t.Chain(s.hook.String())
		if ch == nil {
			continue
		}
		if s.table == "nat" {
			if !st.overlaps(stateSet(stNew)) {
				continue // only a connection's first packet meets nat
			}
			a.reach(ch, map[*rules.Chain]bool{}, func(ri *ruleInfo) {
				if !sure.meets(ri.c.upper) {
					return
				}
				cut = true
				if r, good := sure.minus(ri.c.upper, w); good {
					sure = r
				} else {
					sure, ok = nil, false
				}
			})
			continue
		}
		in := sure
		if s.table == "raw" {
			in = sure.setDim(dimState, point(0))
		}
		f := &fateRun{a: a, t: t, hook: s.hook, w: w, onStack: map[*rules.Chain]bool{}}
		f.walk(ch, in, 0)
		ok = ok && !f.failed
		var next region
		accepts = accepts[:0]
		for _, d := range f.out {
			if d.drop {
				drops = append(drops, d)
				continue
			}
			if s.table == "raw" {
				d.r = d.r.setDim(dimState, st)
			}
			next = append(next, d.r...)
			accepts = append(accepts, d)
		}
		sure, cut = next, false
	}
	if !cut {
		return drops, accepts, ok
	}
	// What later nat stages took from the last table's accepts is no
	// longer surely accepted.
	var out []*decided
	for _, d := range accepts {
		if d.r = d.r.meet(sure); !d.r.empty() {
			out = append(out, d)
		}
	}
	return drops, out, ok
}
