package analyze

import (
	"github.com/ipsift/ipsift/rules"
)

// Limits that keep the analysis fast. Past them it gives up on the part
// it cannot follow and reports nothing there: a missed finding is
// acceptable, a false one is not.
// (Variables, not constants, so that tests can force the fallbacks.)
var (
	// maxBoxes caps the boxes of one chain's "may still arrive" region.
	maxBoxes = 4096
	// tableWork caps the box operations of one table's analysis.
	tableWork = 50_000_000
)

// ruleInfo is one rule with what the analysis knows about it.
type ruleInfo struct {
	r     *rules.Rule
	table *rules.Table
	chain *rules.Chain
	num   int // 1-based position in its chain, as iptables numbers rules

	c       cond     // what the rule matches
	opaque  []string // the parts it could not read exactly
	act     action
	limited bool // has -m limit or -m hashlimit

	// Results over every way the analysis reached the rule.
	visited  bool       // reached in at least one context
	mayMatch bool       // some packet may reach and match it
	unknown  bool       // a context gave up before it: no verdict
	ctxs     []*context // the contexts that reached it, for explanations
}

// context is one walk through a chain: from a hook (a built-in chain) or
// from one jump to a user chain along one path of jumps.
type context struct {
	chain  *rules.Chain
	infos  []*ruleInfo
	parent *context // the context of the jumping rule, nil at a hook
	at     int      // index of the jumping rule in parent
	// reach[j] holds every packet that may arrive at rule j; reach[0] is
	// what enters the chain and reach[len(infos)] what reaches its end.
	reach []region
}

// tableRun analyses one table.
type tableRun struct {
	a       *analyzer
	t       *rules.Table
	w       work
	onStack map[*rules.Chain]bool
	widened map[*ruleInfo]bool // rules where a chain walk had to simplify
	// widenedChain keeps the note to the first such rule of a chain.
	widenedChain map[*rules.Chain]bool
}

// walk follows the packets of entry through chain ch and returns those
// that leave it without a verdict (by RETURN, by its end, or by a goto
// whose chain returns), possibly rewritten on the way. For a built-in
// chain the policy decides what would leave, so nothing does. ok is false
// when the table's work budget ran out.
func (tr *tableRun) walk(ch *rules.Chain, entry region, parent *context, at int) (out region, ok bool) {
	infos := tr.a.chainInfos[ch]
	if tr.onStack[ch] {
		// A jump loop, which the kernel refuses to load: assume anything.
		tr.abandon(infos, 0)
		return entry.havoc(allDims), true
	}
	tr.onStack[ch] = true
	defer delete(tr.onStack, ch)

	ctx := &context{chain: ch, infos: infos, parent: parent, at: at, reach: make([]region, len(infos)+1)}
	R := entry
	// Compacting costs a hash per box, so do it only when the region has
	// doubled since the last time: the cost stays linear in its growth.
	compactAt := 64
	for j, ri := range infos {
		if len(R) > compactAt {
			R = R.compact()
			compactAt = max(64, 2*len(R))
		}
		if len(R) > maxBoxes {
			// Too many cases to follow one by one: go on with the
			// smallest box holding them all. That can only add packets,
			// so what is found shadowed after it still is; some shadowed
			// rules may go unreported, which the note says.
			R = region{R.hull()}
			if !tr.widenedChain[ch] {
				tr.widenedChain[ch] = true
				tr.widened[ri] = true
			}
		}
		ctx.reach[j] = R
		ri.visited = true
		ri.ctxs = append(ri.ctxs, ctx)
		hit := R.meet(ri.c.upper)
		if !tr.w.charge(len(R) + len(hit)) {
			return nil, false
		}
		if hit.empty() {
			continue
		}
		ri.mayMatch = true
		var good bool
		switch ri.act.kind {
		case kTerminal:
			R, good = R.minus(ri.c.lower, &tr.w)
		case kContinue, kMaybe:
			R, good = tr.goOn(R, hit, ri)
		case kReturn:
			if !ch.Builtin {
				out, good = out.plus(hit, &tr.w)
				if !good {
					return nil, false
				}
				out = out.bounded()
			}
			// In a built-in chain RETURN hands the packet to the policy.
			R, good = R.minus(ri.c.lower, &tr.w)
		case kJump, kGoto:
			var back region
			back, good = tr.walk(ri.act.chain, hit, ctx, j)
			if !good {
				return nil, false
			}
			R, good = R.minus(ri.c.lower, &tr.w)
			if !good {
				return nil, false
			}
			if ri.act.kind == kJump {
				// What the chain returns goes on after the jump.
				R, good = R.plus(back, &tr.w)
			} else if !ch.Builtin {
				// After a goto, what returns leaves this chain too; from
				// a built-in chain it meets the policy.
				out, good = out.plus(back, &tr.w)
				out = out.bounded()
			}
		}
		if !good {
			return nil, false
		}
	}
	ctx.reach[len(infos)] = R
	if ch.Builtin {
		return nil, true
	}
	return out.plus(R, &tr.w)
}

// goOn is a rule whose target may let matched packets go on: they do,
// possibly rewritten; a kMaybe target may also end some of them, which
// an over-approximation of what arrives later can ignore.
func (tr *tableRun) goOn(R, hit region, ri *ruleInfo) (region, bool) {
	switch {
	case ri.act.setMark != nil:
		rest, ok := R.minus(ri.c.lower, &tr.w)
		if !ok {
			return nil, false
		}
		return rest.plus(hit.setDim(dimMark, point(*ri.act.setMark)), &tr.w)
	case ri.act.mut != 0:
		return R.plus(hit.havoc(ri.act.mut), &tr.w)
	}
	return R, true
}

// abandon marks the rules of a chain from index j on, and every rule they
// may lead to, as not analysed.
func (tr *tableRun) abandon(infos []*ruleInfo, j int) {
	seen := map[*rules.Chain]bool{}
	var mark func(infos []*ruleInfo)
	mark = func(infos []*ruleInfo) {
		for _, ri := range infos {
			ri.unknown = true
			if c := ri.act.chain; c != nil && !seen[c] {
				seen[c] = true
				mark(tr.a.chainInfos[c])
			}
		}
	}
	mark(infos[j:])
}

// mutations returns the dimensions that chain ch, or any chain it leads
// to, may rewrite in packets that come back from it.
func (a *analyzer) mutations(ch *rules.Chain) dimMask {
	if m, ok := a.mutMemo[ch]; ok {
		return m
	}
	a.mutMemo[ch] = allDims // a loop would come back here: assume anything
	var m dimMask
	for _, ri := range a.chainInfos[ch] {
		m |= ri.act.mut
		if ri.act.setMark != nil {
			m |= 1 << dimMark
		}
		if ri.act.chain != nil {
			m |= a.mutations(ri.act.chain)
		}
	}
	a.mutMemo[ch] = m
	return m
}

// explain finds the earlier rules that keep region x (part of what the
// rule at index j of ctx matches) from arriving there, calling add for
// each. entry is set when the rule named is a jump into the chain that
// x does not match, rather than one that decides x.
func explain(ctx *context, j int, x region, add func(ri *ruleInfo, entry bool)) {
	w := &work{left: 1 << 22}
	in := x.meet(ctx.reach[0])
	if ctx.parent != nil {
		if notIn, ok := x.minus(ctx.reach[0], w); ok && !notIn.empty() {
			jr := ctx.parent.infos[ctx.at]
			if inJump := notIn.meet(jr.c.upper); !inJump.empty() {
				explain(ctx.parent, ctx.at, inJump, add)
			}
			if out, ok := notIn.minus(jr.c.upper, w); ok && !out.empty() {
				add(jr, true)
			}
		}
	}
	for k := 0; k < j && !in.empty(); k++ {
		next := x.meet(ctx.reach[k+1])
		if gone, ok := in.minus(ctx.reach[k+1], w); ok && !gone.empty() {
			add(ctx.infos[k], false)
		}
		in = next
	}
}
