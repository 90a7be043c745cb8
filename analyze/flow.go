package analyze

import (
	"cmp"
	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/rules"
	"math/bits"
	"slices"
)

// Limits that keep the analysis fast. Either way it stays sound, losing
// findings rather than inventing one: a missed finding is acceptable, a
// false one is not. (Variables, not constants, so that tests can force
// the fallbacks.)
var (
	// maxBoxes caps the boxes of one chain's "may still arrive" region;
	// past it the walk goes on with the region's hull, which holds more
	// packets than the region, so it may miss shadowed rules after that
	// point (and says so in a note).
	maxBoxes = 4096
	// tableWork caps the box operations of one table's analysis; past it
	// the table gets no shadowing findings at all, only a note.
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
	limited bool   // has -m limit or -m hashlimit
	refText string // ref's text, once made

	// Results over every way the analysis reached the rule.
	visited  bool       // reached in at least one context
	mayMatch bool       // some packet may reach and match it
	unknown  bool       // a context gave up before it: no verdict
	ctxs     []*context // the contexts that reached it, for explanations
	// arrive holds, per hook the rule is reached from, the packets that
	// may arrive at it and match it (for the cross-table analysis);
	// past arriveMax boxes only their hull is kept, with arriveWide set.
	arrive     [ext.NumHooks]region
	arriveWide [ext.NumHooks]bool
	// matchFrom holds every hook from which some packet may match the
	// rule, whether or not arrive keeps them.
	matchFrom ext.HookMask
}

// arriveMax caps the boxes kept per rule and hook in ruleInfo.arrive.
const arriveMax = 64

// record adds hit, packets that may match the rule from hook h, to what
// the rule keeps of them.
func (ri *ruleInfo) record(h ext.Hook, hit region) {
	r := append(ri.arrive[h], hit...)
	if len(r) > arriveMax {
		r = region{r.hull()}
		ri.arriveWide[h] = true
	}
	ri.arrive[h] = r
}

// context is one walk through a chain: from a hook (a built-in chain) or
// from one jump to a user chain along one path of jumps.
type context struct {
	hook   ext.Hook // the hook whose built-in chain the walk started in
	chain  *rules.Chain
	infos  []*ruleInfo
	parent *context // the context of the jumping rule, nil at a hook
	at     int      // index of the jumping rule in parent
	// entry holds every packet that may enter the chain here.
	entry region
	// steps[j] records what rule j did to the packets that may arrive:
	// with removes set it took away those it surely matches, and it
	// added the packets in added (what a jump brought back, or what a
	// MARK rewrote). explain replays these for the few packets it asks
	// about, instead of keeping every intermediate region.
	steps []step
	// covers indexes the rules that take all the packets they surely
	// match, for cover (built at its first call, after the walk).
	covers *coverIndex
}

// step is one rule's effect on what may arrive after it.
type step struct {
	removes bool
	added   region
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
	// record holds the hooks from which the rules' arriving packets are
	// kept, for the cross-table analysis: those with a possible killer
	// before the table (see mayBeKilled).
	record ext.HookMask
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

	ctx := &context{chain: ch, infos: infos, parent: parent, at: at, entry: entry, steps: make([]step, len(infos))}
	if parent != nil {
		ctx.hook = parent.hook
	} else {
		ctx.hook, _ = rules.HookOf(ch.Name)
	}
	R := entry
	// Compacting costs a hash per box, so do it only when the region has
	// doubled since the last time: the cost stays linear in its growth.
	compactAt := 64
	skipUntil := 0 // rules before it start no run worth walking in one go
	// R never leaves the walk without being copied, so once the walk
	// made R's array itself (owned), a rule that replaces R may reuse it:
	// spare is such an array, free.
	var spare region
	owned := false
	for j := 0; j < len(infos); j++ {
		ri := infos[j]
		if len(R) > compactAt {
			R, owned = R.compact(), false
			compactAt = max(64, 2*len(R))
		}
		if len(R) > maxBoxes {
			// Too many cases to follow one by one: go on with the
			// smallest box holding them all. That can only add packets,
			// so what is found shadowed after it still is; some shadowed
			// rules may go unreported, which the note says.
			R, owned = region{R.hull()}, false
			if !tr.widenedChain[ch] {
				tr.widenedChain[ch] = true
				tr.widened[ri] = true
			}
		}
		if j >= skipUntil {
			if end, d, ok := oneDimRun(infos, j); ok {
				if end-j < minBatch || !fitsRun(R, ri.c.upper[0], d) {
					skipUntil = end
				} else {
					var good bool
					if R, good = tr.walkRun(ctx, R, j, end, d); !good {
						return nil, false
					}
					owned = false
					j = end - 1
					continue
				}
			}
		}
		ri.visited = true
		ri.ctxs = append(ri.ctxs, ctx)
		// A terminal rule of one exact box: its hit and what is left
		// after it come from one pass over R.
		fused := ri.act.kind == kTerminal && batchable(ri)
		var hit, after region
		if fused {
			hit, after = R.meetMinus(ri.c.upper[0], spare)
		} else {
			hit = R.meet(ri.c.upper)
		}
		if !tr.w.charge(len(R) + len(hit)) {
			return nil, false
		}
		if hit.empty() {
			continue
		}
		ri.mayMatch = true
		ri.matchFrom |= 1 << ctx.hook
		if tr.record.Has(ctx.hook) {
			ri.record(ctx.hook, hit)
		}
		st := &ctx.steps[j]
		var good bool
		switch ri.act.kind {
		case kTerminal:
			st.removes = true
			if fused {
				if good = tr.w.charge(len(R)); good { // what minus charges
					// hit is not empty, so after is a new array (spare's,
					// unless it was too small); R's array is free for the
					// next step if the walk made it.
					old := R
					R = after
					spare = nil
					if owned {
						spare = old[:0]
					}
					owned = true
					continue
				}
			} else {
				R, good = R.minus(ri.c.lower, &tr.w)
				owned = false
			}
		case kContinue, kMaybe:
			st.removes, st.added = tr.goOn(hit, ri)
			if st.removes {
				R, good = R.minus(ri.c.lower, &tr.w)
				owned = false
			} else {
				good = true
			}
			if good {
				R, good = R.plus(st.added, &tr.w)
				owned = false
			}
		case kReturn:
			if !ch.Builtin {
				out, good = out.plus(hit, &tr.w)
				if !good {
					return nil, false
				}
				out = out.bounded()
			}
			// In a built-in chain RETURN hands the packet to the policy.
			st.removes = true
			R, good = R.minus(ri.c.lower, &tr.w)
			owned = false
		case kJump, kGoto:
			var back region
			back, good = tr.walk(ri.act.chain, hit, ctx, j)
			if !good {
				return nil, false
			}
			st.removes = true
			R, good = R.minus(ri.c.lower, &tr.w)
			owned = false
			if !good {
				return nil, false
			}
			if ri.act.kind == kJump {
				// What the chain returns goes on after the jump.
				st.added = back
				R, good = R.plus(back, &tr.w)
				owned = false
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
	if ch.Builtin {
		return nil, true
	}
	return out.plus(R, &tr.w)
}

// goOn is a rule whose target may let the matched packets (hit) go on:
// they do, possibly rewritten. It says whether the rule takes away what it
// surely matches, and what it adds. An exact MARK replaces the packets it
// surely matches by their marked selves (those it only may match are
// there both ways); any other rewrite adds the rewritten packets to the
// originals. A kMaybe target may also end some packets, which an
// over-approximation of what arrives later can ignore.
func (tr *tableRun) goOn(hit region, ri *ruleInfo) (removes bool, added region) {
	switch {
	case ri.act.setMark != nil:
		return true, hit.setDim(dimMark, point(*ri.act.setMark))
	case ri.act.mut != 0:
		return false, hit.havoc(ri.act.mut)
	}
	return false, nil
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

// explain finds the earlier rules that keep region x (part of what the
// rule at index j of ctx matches) from arriving there, calling add for
// each. entry is set when the rule named is a jump into the chain that
// x does not match, rather than one that decides x.
//
// It replays the walk for x alone: in holds the part of x still on its
// way, which each rule's step shrinks (what it surely matches and does
// not give back) or grows (x's part of what it adds). in stays within
// what the walk found may arrive, so it is empty at rule j, and every
// rule named did take packets of x.
//
// In dense rulesets x can meet hundreds of earlier rules and the replay
// gets as costly as the walk itself; explain then stops when w runs out
// and returns false, and the caller says less (see cover).
func explain(ctx *context, j int, x region, w *work, add func(ri *ruleInfo, entry bool)) bool {
	in := x.meet(ctx.entry)
	if ctx.parent != nil {
		notIn, ok := x.minus(ctx.entry, w)
		if !ok {
			return false
		}
		if !notIn.empty() {
			jr := ctx.parent.infos[ctx.at]
			if inJump := notIn.meet(jr.c.upper); !inJump.empty() {
				if !explain(ctx.parent, ctx.at, inJump, w, add) {
					return false
				}
			}
			out, ok := notIn.minus(jr.c.upper, w)
			if !ok {
				return false
			}
			if !out.empty() {
				add(jr, true)
			}
		}
	}
	skipUntil := 0 // as in walk: no run worth sweeping starts before it
	for k := 0; k < j && !in.empty(); k++ {
		if k >= skipUntil {
			if end, d, ok := oneDimRun(ctx.infos[:j], k); ok {
				if end-k < minBatch || !fitsRun(in, ctx.infos[k].c.upper[0], d) {
					skipUntil = end
				} else {
					// The run's rules are terminal: each step removes
					// what it matches (if the walk found it matching) and
					// adds nothing, so x's packets only shrink.
					var ok bool
					in, ok = sweepRun(in, ctx.infos, k, end, d, func(k, n int, taken region) (take, ok bool) {
						if n == 0 || !ctx.steps[k].removes {
							return false, true // the loop below would stop, or skip the rule
						}
						if !w.charge(n + len(taken)) {
							return false, false
						}
						if len(taken) == 0 {
							return false, true
						}
						add(ctx.infos[k], false)
						return true, w.charge(n) // what in.minus(lower) charges
					})
					if !ok {
						return false
					}
					k = end - 1
					continue
				}
			}
		}
		st := ctx.steps[k]
		if !st.removes && st.added.empty() {
			continue
		}
		lower := ctx.infos[k].c.lower
		var taken region
		if st.removes {
			taken = in.meet(lower)
		}
		back := x.meet(st.added)
		if !w.charge(len(in) + len(taken) + len(back)) {
			return false
		}
		gone, ok := taken.minus(back, w)
		if !ok {
			return false
		}
		if !gone.empty() {
			add(ctx.infos[k], false)
		}
		if !taken.empty() {
			if in, ok = in.minus(lower, w); !ok {
				return false
			}
		}
		in = append(in, back...)
	}
	return true
}

// cover is the cheap explanation: the first rule before index j of ctx
// that surely takes every packet of x entering the chain, if any. It
// takes whatever of x the rules before it left, which may be nothing,
// hence the wording of the message that uses it.
func cover(ctx *context, j int, x region) *ruleInfo {
	in := x.meet(ctx.entry)
	if in.empty() {
		return nil
	}
	// A rule's lower region holds in only if its bounds hold in's. The
	// rules that may cover are indexed by those bounds (coverIndex), so
	// that a rule of 100,000 is not compared with every earlier one (on
	// 20,000 rules, cover took 60% of check's time that way).
	if ctx.covers == nil {
		ctx.covers = newCoverIndex(ctx)
	}
	ib := in.bounds().narrow()
	for _, k := range ctx.covers.candidates(&ib, j) {
		if in.within(ctx.infos[k].c.lower) {
			return ctx.infos[k]
		}
	}
	return nil
}

// coverCand is a rule cover may name: one that takes every packet it
// surely matches, with the bounds of those packets.
type coverCand struct {
	k int
	b narrowBounds
}

// coverIndex holds a context's coverCands (built once its walk is
// done). Each is filed under the narrower of its source and destination
// ranges, by the range's bit length: a range of class w that contains
// [lo, hi] starts no lower than hi-(2^w-1), so a lookup reads, per
// class, only the candidates starting in [hi-(2^w-1), lo] (a binary
// search in the class, kept sorted by start).
type coverIndex struct {
	all   []coverCand        // every candidate, in rule order: what a lookup reads when in's bounds are none
	class [2][33][]coverCand // [dimension: source, destination][w]
	los   [2][33][]uint32    // the start of each class's ranges, for the binary search
	hits  []int              // candidates' scratch
}

func newCoverIndex(ctx *context) *coverIndex {
	ix := &coverIndex{}
	for k := range ctx.steps {
		if !ctx.steps[k].removes || !ctx.steps[k].added.empty() {
			continue
		}
		cc := coverCand{k: k, b: ctx.infos[k].c.lower.bounds().narrow()}
		ix.all = append(ix.all, cc)
		if cc.b.none {
			continue // holds nothing, never a cover
		}
		d := 0
		if cc.b.hi[1]-cc.b.lo[1] < cc.b.hi[0]-cc.b.lo[0] {
			d = 1
		}
		w := bits.Len32(cc.b.hi[d] - cc.b.lo[d])
		ix.class[d][w] = append(ix.class[d][w], cc)
	}
	for d := range ix.class {
		for w := range ix.class[d] {
			slices.SortStableFunc(ix.class[d][w], func(a, b coverCand) int { return cmp.Compare(a.b.lo[d], b.b.lo[d]) })
			for _, cc := range ix.class[d][w] {
				ix.los[d][w] = append(ix.los[d][w], cc.b.lo[d])
			}
		}
	}
	return ix
}

// candidates returns, in rule order, the rules before j whose bounds
// hold ib. The slice is reused by the next call.
func (ix *coverIndex) candidates(ib *narrowBounds, j int) []int {
	ix.hits = ix.hits[:0]
	if ib.none {
		for _, cc := range ix.all {
			if cc.k < j {
				ix.hits = append(ix.hits, cc.k)
			}
		}
		return ix.hits
	}
	for d := range ix.class {
		span := ib.hi[d] - ib.lo[d]
		for w := bits.Len32(span); w <= 32; w++ {
			list := ix.class[d][w]
			if len(list) == 0 {
				continue
			}
			width := uint32(1)<<w - 1 // the widest range of class w, less one
			if w == 32 {
				width = ^uint32(0)
			}
			from := uint32(0)
			if ib.hi[d] > width {
				from = ib.hi[d] - width
			}
			i, _ := slices.BinarySearch(ix.los[d][w], from)
			for ; i < len(list) && list[i].b.lo[d] <= ib.lo[d]; i++ {
				if list[i].k < j && ib.within(&list[i].b) {
					ix.hits = append(ix.hits, list[i].k)
				}
			}
		}
	}
	slices.Sort(ix.hits)
	return ix.hits
}
