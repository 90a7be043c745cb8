package analyze

import (
	"cmp"
	"container/heap"
	"slices"
	"sort"
)

// Runs of rules that differ in one field. A blocklist is thousands of
// rules such as `-s X/32 -j DROP`: every rule is one box, the same box
// but for its source. Walked one rule at a time, the region of packets
// still arriving gains a hole per rule and its source set is copied at
// every rule, which is quadratic in time and garbage (100,000 rules took
// over two minutes). Such a run is walked in one go instead: rule k of
// the run takes, of what arrives, exactly the part of its set that no
// earlier rule of the run took, which a sweep over the run's spans finds
// for every rule at once; the region after the run is computed once.
// Every rule gets what the rule-by-rule walk gives it (visited, hit
// packets, steps, work charged), so the findings are the same.

// minBatch is the shortest run walked in one go; shorter runs take the
// rule-by-rule path, which costs little for them.
var minBatch = 32

// runsWalked counts the runs walked in one go (for the tests).
var runsWalked int

// oneDimRun returns the end (exclusive) of the run of rules from infos[j]
// that are terminal, match exactly one box each (what they may match is
// what they surely match) and agree with infos[j]'s box in every
// dimension but d. ok is false when infos[j] cannot start one.
func oneDimRun(infos []*ruleInfo, j int) (end, d int, ok bool) {
	if !batchable(infos[j]) {
		return j, 0, false
	}
	t := infos[j].c.upper[0]
	d = -1
	end = j + 1
	for ; end < len(infos); end++ {
		o := infos[end]
		if !batchable(o) {
			break
		}
		b := o.c.upper[0]
		diff := -1
		same := true
		for e := range b {
			if b[e].equal(t[e]) {
				continue
			}
			if diff >= 0 {
				same = false
				break
			}
			diff = e
		}
		if !same || diff >= 0 && d >= 0 && diff != d {
			break
		}
		if diff >= 0 {
			d = diff
		}
	}
	if d < 0 {
		d = dimSrc // all alike: any dimension serves
	}
	return end, d, true
}

// batchable reports whether a rule may be part of a run: terminal, and
// one box that it surely matches whenever it may.
func batchable(ri *ruleInfo) bool {
	if ri.act.kind != kTerminal || len(ri.c.upper) != 1 || len(ri.c.lower) != 1 {
		return false
	}
	u, l := ri.c.upper[0], ri.c.lower[0]
	return u == l || u.equalExcept(l, -1)
}

// fitsRun reports whether every box of R either misses t in the
// dimensions but d or lies within t there: then a rule of the run cuts
// such a box in dimension d alone, leaving it one box or none.
func fitsRun(R region, t *box, d int) bool {
	for _, b := range R {
		meets, within := true, true
		for e := range b {
			if e == d {
				continue
			}
			if !b[e].overlaps(t[e]) {
				meets = false
				break
			}
			within = within && b[e].subsetOf(t[e], e)
		}
		if meets && !within {
			return false
		}
	}
	return true
}

// walkRun walks the rules infos[j:end] of ctx, which oneDimRun found to
// differ in dimension d alone and which fitsRun allows with R, and
// returns the region after them. ok is false when the work budget ran
// out, at the same rule as the rule-by-rule walk would.
func (tr *tableRun) walkRun(ctx *context, R region, j, end, d int) (region, bool) {
	runsWalked++
	return sweepRun(R, ctx.infos, j, end, d, func(k, n int, hit region) (take, ok bool) {
		ri := ctx.infos[k]
		ri.visited = true
		ri.ctxs = append(ri.ctxs, ctx)
		if !tr.w.charge(n + len(hit)) {
			return false, false
		}
		if len(hit) == 0 {
			return false, true
		}
		ri.mayMatch = true
		ri.matchFrom |= 1 << ctx.hook
		if tr.record.Has(ctx.hook) {
			ri.record(ctx.hook, hit)
		}
		ctx.steps[k].removes = true
		// What R.minus(ri.c.lower) charges.
		return true, tr.w.charge(n)
	})
}

// sweepRun takes region R through the rules infos[j:end], which
// oneDimRun found to differ in dimension d alone and which fitsRun
// allows with R. For each rule k in turn it calls each with n, the
// boxes of R as the rule finds it, and hit, R's part that the rule
// matches (a new region each time); each says whether the rule takes
// hit away from R, and ok false to stop (sweepRun then returns nil,
// false). It returns R after the run.
func sweepRun(R region, infos []*ruleInfo, j, end, d int, each func(k, n int, hit region) (take, ok bool)) (region, bool) {
	t := infos[j].c.upper[0]
	fresh := newParts(infos[j:end], d)
	// The boxes of R that the run may cut, with how many of their values
	// in dimension d no rule of the run took yet (the box is gone when
	// none is left).
	type live struct {
		b    *box
		left uint64
	}
	var cut []live
	idx := make([]int, len(R)) // -1, or R[i]'s index in cut
	others := 0                // boxes no rule of the run meets
	for i, b := range R {
		idx[i] = -1
		if meetsExcept(b, t, d) {
			idx[i] = len(cut)
			cut = append(cut, live{b, size(b[d])})
		} else {
			others++
		}
	}
	took := make([]uint64, len(cut)) // per box of cut, what rule k takes
	for k := j; k < end; k++ {
		n := others
		var hit region
		for ci := range cut {
			c := &cut[ci]
			took[ci] = 0
			if c.left == 0 {
				continue
			}
			n++
			p := intersectSmall(c.b[d], fresh[k-j])
			took[ci] = size(p)
			if len(p) > 0 {
				h := *c.b
				h[d] = p
				hit = append(hit, &h)
			}
		}
		take, ok := each(k, n, hit)
		if !ok {
			return nil, false
		}
		if take {
			for ci := range cut {
				cut[ci].left -= took[ci]
			}
		}
	}
	// What is left of R: each box the run cuts loses the union of the
	// run's sets in dimension d (a rule that did not take its hit had
	// none: R held nothing of its set).
	var spans []span
	for k := j; k < end; k++ {
		spans = append(spans, infos[k].c.upper[0][d]...)
	}
	taken := setOf(spans...)
	out := make(region, 0, len(R))
	for i, b := range R {
		if idx[i] < 0 {
			out = append(out, b)
			continue
		}
		if cut[idx[i]].left == 0 {
			continue
		}
		if !b[d].overlaps(taken) {
			out = append(out, b)
			continue
		}
		out = append(out, b.with(d, b[d].minus(taken, d)))
	}
	return out, true
}

// meetsExcept reports whether b and t meet in every dimension but d.
func meetsExcept(b, t *box, d int) bool {
	for e := range b {
		if e != d && !b[e].overlaps(t[e]) {
			return false
		}
	}
	return true
}

// size is the number of values in s.
func size(s set) uint64 {
	var n uint64
	for _, x := range s {
		n += uint64(x.hi-x.lo) + 1
	}
	return n
}

// intersectSmall is s ∩ t for a t of few spans, finding t's place in a
// long s by binary search.
func intersectSmall(s, t set) set {
	if len(t) == 0 {
		return nil
	}
	i := sort.Search(len(s), func(i int) bool { return s[i].hi >= t[0].lo })
	last := t[len(t)-1].hi
	e := i
	for e < len(s) && s[e].lo <= last {
		e++
	}
	return s[i:e].intersect(t)
}

// newParts returns, for each rule of a run, the part of its set in
// dimension d that no earlier rule of the run has: a sweep over the
// ends of every span, keeping the lowest rule covering each stretch.
func newParts(run []*ruleInfo, d int) []set {
	type event struct {
		at   uint64 // a span starts at lo, ends before hi+1
		rule int
		open bool
	}
	var evs []event
	for k, ri := range run {
		for _, x := range ri.c.upper[0][d] {
			evs = append(evs, event{uint64(x.lo), k, true}, event{uint64(x.hi) + 1, k, false})
		}
	}
	slices.SortFunc(evs, func(a, b event) int { return cmp.Compare(a.at, b.at) })
	parts := make([]set, len(run))
	var open ruleHeap
	closed := map[int]int{} // rule: ends seen but not yet popped
	for i := 0; i < len(evs); {
		at := evs[i].at
		for ; i < len(evs) && evs[i].at == at; i++ {
			if evs[i].open {
				heap.Push(&open, evs[i].rule)
			} else {
				closed[evs[i].rule]++
			}
		}
		for open.Len() > 0 && closed[open[0]] > 0 {
			closed[open[0]]--
			heap.Pop(&open)
		}
		if open.Len() == 0 || i == len(evs) {
			continue
		}
		// [at, next) is covered first by rule open[0].
		k, lo, hi := open[0], uint32(at), uint32(evs[i].at-1)
		if n := len(parts[k]); n > 0 && uint64(parts[k][n-1].hi)+1 == at {
			parts[k][n-1].hi = hi
		} else {
			parts[k] = append(parts[k], span{lo, hi})
		}
	}
	return parts
}

// ruleHeap is a min-heap of rule indexes.
type ruleHeap []int

func (h ruleHeap) Len() int           { return len(h) }
func (h ruleHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h ruleHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *ruleHeap) Push(x any)        { *h = append(*h, x.(int)) }
func (h *ruleHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
