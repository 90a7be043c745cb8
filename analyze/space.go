package analyze

import (
	"math"
	"slices"
)

// The packet space. A packet is a point with one coordinate per dimension
// below; every coordinate is a uint32, so that one interval-set type serves
// all of them. A rule's match is a region: a union of boxes, a box being a
// product of one interval set per dimension.
//
// Coordinates that mean nothing for a packet (ports of an ICMP packet, TCP
// flags of a fragment) are "don't care": a real packet is the whole line of
// points through all their values. This is exact because every constraint
// on such a coordinate comes together with the protocol and "not a
// fragment" constraints that make it meaningful (the tcp match implies
// -p tcp and a first fragment, as the kernel's xt_tcpudp does), so a rule
// always contains either all of a packet's points or none.
const (
	dimSrc   = iota // source address
	dimDst          // destination address
	dimIn           // input interface: an atom index (see ifaceAtoms)
	dimOut          // output interface: an atom index
	dimProto        // IP protocol (or protoNone)
	dimSport        // source port (tcp, udp, sctp, dccp, udplite)
	dimDport        // destination port
	dimFlags        // TCP flags byte (byte 13 of the header: CWR ECE URG ACK PSH RST SYN FIN)
	dimICMP         // ICMP type<<8 | code
	dimState        // conntrack state, one of ctValues
	dimFrag         // 1 for a non-first fragment (what -f matches), else 0
	dimMark         // skb->mark
	dimLen          // IP total length
	dimTTL          // IP TTL, or IPv6 hop limit
	dimExt          // 1 for an IPv6 packet with extension headers, else 0
	numDims
)

// dimMax is the largest coordinate of each dimension.
var dimMax = [numDims]uint32{
	dimSrc: math.MaxUint32, dimDst: math.MaxUint32,
	dimIn: math.MaxUint32, dimOut: math.MaxUint32,
	dimProto: protoNone, dimSport: 65535, dimDport: 65535, dimFlags: 255,
	dimICMP: 65535, dimState: numCTValues - 1, dimFrag: 1,
	dimMark: math.MaxUint32, dimLen: 65535, dimTTL: 255, dimExt: 1,
}

// dimMask is a set of dimensions, e.g. the ones a target may rewrite.
type dimMask uint32

const allDims dimMask = 1<<numDims - 1

// span is the closed interval [lo, hi].
type span struct{ lo, hi uint32 }

// set is a sorted list of disjoint, non-adjacent spans: one dimension's
// values. The empty set is nil or empty. Sets are never modified once
// built, so boxes may share them.
type set []span

func full(d int) set { return fullSets[d] }

// fullSets are the full sets of the dimensions, shared (sets are never
// modified).
var fullSets = func() (f [numDims]set) {
	for d := range f {
		f[d] = set{{0, dimMax[d]}}
	}
	return f
}()

func point(v uint32) set { return set{{v, v}} }

func rangeSet(lo, hi uint32) set {
	if lo > hi {
		return nil
	}
	return set{{lo, hi}}
}

// setOf builds a set from spans in any order, merging overlaps.
func setOf(spans ...span) set {
	s := slices.Clone(spans)
	slices.SortFunc(s, func(a, b span) int {
		switch {
		case a.lo < b.lo:
			return -1
		case a.lo > b.lo:
			return 1
		}
		return 0
	})
	var out set
	for _, x := range s {
		if x.lo > x.hi {
			continue
		}
		if n := len(out); n > 0 && (out[n-1].hi == math.MaxUint32 || x.lo <= out[n-1].hi+1) {
			if x.hi > out[n-1].hi {
				out[n-1].hi = x.hi
			}
			continue
		}
		out = append(out, x)
	}
	return out
}

func (s set) isFull(d int) bool { return len(s) == 1 && s[0].lo == 0 && s[0].hi == dimMax[d] }

func (s set) has(v uint32) bool {
	for _, x := range s {
		if v < x.lo {
			return false
		}
		if v <= x.hi {
			return true
		}
	}
	return false
}

func (s set) equal(t set) bool { return slices.Equal(s, t) }

func (s set) intersect(t set) set {
	var out set
	i, j := 0, 0
	for i < len(s) && j < len(t) {
		lo, hi := max(s[i].lo, t[j].lo), min(s[i].hi, t[j].hi)
		if lo <= hi {
			out = append(out, span{lo, hi})
		}
		if s[i].hi < t[j].hi {
			i++
		} else {
			j++
		}
	}
	return out
}

// complement returns dimension d's values not in s.
func (s set) complement(d int) set {
	var out set
	next := uint64(0)
	for _, x := range s {
		if uint64(x.lo) > next {
			out = append(out, span{uint32(next), x.lo - 1})
		}
		next = uint64(x.hi) + 1
	}
	if next <= uint64(dimMax[d]) {
		out = append(out, span{uint32(next), dimMax[d]})
	}
	return out
}

// minus returns s \ t within dimension d (d is unused: the values
// outside s stay outside).
func (s set) minus(t set, d int) set {
	var out set
	j := 0
	for _, x := range s {
		lo := uint64(x.lo)
		for j < len(t) && t[j].hi < x.lo {
			j++
		}
		k := j
		for ; k < len(t) && t[k].lo <= x.hi && lo <= uint64(x.hi); k++ {
			if uint64(t[k].lo) > lo {
				out = append(out, span{uint32(lo), t[k].lo - 1})
			}
			lo = uint64(t[k].hi) + 1
		}
		if lo <= uint64(x.hi) {
			out = append(out, span{uint32(lo), x.hi})
		}
	}
	return out
}

// subsetOf reports whether every value of s is in t. Spans of t are
// disjoint and never adjacent, so each span of s must lie in one of them.
func (s set) subsetOf(t set, _ int) bool {
	j := 0
	for _, x := range s {
		for j < len(t) && t[j].hi < x.lo {
			j++
		}
		if j == len(t) || t[j].lo > x.lo || t[j].hi < x.hi {
			return false
		}
	}
	return true
}

// overlaps reports whether s and t share a value, without building the
// intersection: the analysis asks this far more often than it needs the
// intersection itself.
func (s set) overlaps(t set) bool {
	i, j := 0, 0
	for i < len(s) && j < len(t) {
		if max(s[i].lo, t[j].lo) <= min(s[i].hi, t[j].hi) {
			return true
		}
		if s[i].hi < t[j].hi {
			i++
		} else {
			j++
		}
	}
	return false
}

func (s set) union(t set) set { return setOf(append(slices.Clone(s), t...)...) }

// box is a product of one set per dimension; a box in a region has no
// empty dimension. Boxes are immutable once in a region, so regions share
// them freely.
type box [numDims]set

func fullBox() *box {
	var b box
	for d := range b {
		b[d] = full(d)
	}
	return &b
}

// with returns a copy of b whose dimension d is s.
func (b *box) with(d int, s set) *box {
	c := *b
	c[d] = s
	return &c
}

// meets reports whether b and c intersect.
func (b *box) meets(c *box) bool {
	// Most pairs the walk tries are apart in an address: compare the
	// ends of every dimension first, which settles sets of one span.
	for d := range b {
		s, t := b[d], c[d]
		if len(s) == 0 || len(t) == 0 || s[0].lo > t[len(t)-1].hi || t[0].lo > s[len(s)-1].hi {
			return false
		}
	}
	for d := range b {
		if (len(b[d]) > 1 || len(c[d]) > 1) && !b[d].overlaps(c[d]) {
			return false
		}
	}
	return true
}

// meet returns b ∩ c, or nil when they do not intersect.
func (b *box) meet(c *box) *box {
	if !b.meets(c) {
		return nil
	}
	// Boxes are never changed once built: when one holds the other, the
	// smaller is the meet itself (most meets in check of a big ruleset
	// are such, and a new box each time was a quarter of its garbage).
	return b.meetIn(c, everyDim[:])
}

// everyDim lists the dimensions, for meetIn and cutIn.
var everyDim = func() (ds [numDims]int) {
	for d := range ds {
		ds[d] = d
	}
	return ds
}()

func (b *box) subsetOf(c *box) bool {
	for d := range b {
		if !b[d].subsetOf(c[d], d) {
			return false
		}
	}
	return true
}

// cut returns b \ c as disjoint boxes, appended to out: for each dimension
// in turn, the part of b outside c in that dimension splits off, and the
// rest narrows to c there. At most numDims pieces.
func (b *box) cut(c *box, out []*box) []*box {
	if !b.meets(c) {
		return append(out, b)
	}
	return b.cutMeeting(c, out)
}

// cutMeeting is cut for a c that b is known to meet.
func (b *box) cutMeeting(c *box, out []*box) []*box {
	return b.cutIn(c, everyDim[:], out)
}

// region is a union of boxes, which may overlap.
type region []*box

func universe() region { return region{fullBox()} }

func (r region) empty() bool { return len(r) == 0 }

// meet returns r ∩ s.
func (r region) meet(s region) region {
	var out region
	for _, b := range r {
		for _, c := range s {
			if m := b.meet(c); m != nil {
				out = append(out, m)
			}
		}
	}
	return out
}

// meets reports whether r ∩ s is not empty, without building it.
func (r region) meets(s region) bool {
	for _, b := range r {
		for _, c := range s {
			if b.meets(c) {
				return true
			}
		}
	}
	return false
}

// within reports whether every box of r lies in a single box of s: a
// cheap test that can say no to a region that is in fact within s (split
// across boxes), never yes to one that is not.
func (r region) within(s region) bool {
	for _, b := range r {
		found := false
		for _, c := range s {
			if b.subsetOf(c) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// minus returns r \ s. It charges every box it builds to w and stops
// early, returning ok false, when w runs out.
func (r region) minus(s region, w *work) (region, bool) {
	out := r
	for _, c := range s {
		if !w.charge(len(out)) {
			return nil, false
		}
		// Most boxes miss c; copy the region only once one does not.
		var next region
		split := false
		for i, b := range out {
			if !b.meets(c) {
				if split {
					next = append(next, b)
				}
				continue
			}
			if !split {
				split = true
				next = append(make(region, 0, len(out)+numDims), out[:i]...)
			}
			next = b.cut(c, next)
		}
		if !split {
			continue
		}
		out = next
	}
	return out, true
}

// meetMinus returns r ∩ c and r \ c in one pass over r (as meet and
// minus would give them), for the walk's commonest step: a rule of one
// box that decides every packet it matches.
//
// rest is built in buf's array when it has room (the walk passes the
// array of a region it no longer needs), so that a step costs no copy.
func (r region) meetMinus(c *box, buf region) (hit, rest region) {
	// Only the dimensions c restricts can keep a box from meeting it or
	// be cut (a rule restricts a few of them).
	var dims [numDims]int
	nd := 0
	for d := range c {
		if !c[d].isFull(d) {
			dims[nd] = d
			nd++
		}
	}
	ds := dims[:nd]
	split := false
	for i, b := range r {
		if !b.meetsIn(c, ds) {
			if split {
				rest = append(rest, b)
			}
			continue
		}
		hit = append(hit, b.meetIn(c, ds))
		if !split {
			split = true
			if cap(buf) < len(r)+numDims {
				buf = make(region, 0, len(r)+len(r)/4+numDims)
			}
			rest = append(buf[:0], r[:i]...)
		}
		rest = b.cutIn(c, ds, rest)
	}
	if !split {
		rest = r
	}
	return hit, rest
}

// meetsIn is meets for a c that is full outside the dimensions ds.
func (b *box) meetsIn(c *box, ds []int) bool {
	for _, d := range ds {
		s, t := b[d], c[d]
		if len(s) == 0 || s[0].lo > t[len(t)-1].hi || t[0].lo > s[len(s)-1].hi {
			return false
		}
	}
	for _, d := range ds {
		if (len(b[d]) > 1 || len(c[d]) > 1) && !b[d].overlaps(c[d]) {
			return false
		}
	}
	return true
}

// meetIn is meet for a c that b meets and that is full outside the
// dimensions ds (ascending).
func (b *box) meetIn(c *box, ds []int) *box {
	out := *b
	allB, allC := true, true
	k := 0
	for d := range b {
		if k == len(ds) || ds[k] != d {
			allC = allC && b[d].isFull(d) // c[d] is full
			continue
		}
		k++
		switch {
		case b[d].subsetOf(c[d], d):
			allC = allC && c[d].subsetOf(b[d], d)
		case c[d].subsetOf(b[d], d):
			out[d] = c[d]
			allB = false
		default:
			out[d] = b[d].intersect(c[d])
			allB, allC = false, false
		}
	}
	if allB {
		return b
	}
	if allC {
		return c
	}
	m := new(box)
	*m = out
	return m
}

// cutIn is cutMeeting for a c that is full outside the dimensions ds
// (ascending): b is within c in every other one.
func (b *box) cutIn(c *box, ds []int, out []*box) []*box {
	cur := *b // narrowed dimension by dimension; only the pieces escape
	for _, d := range ds {
		if cur[d].subsetOf(c[d], d) {
			continue
		}
		if rest := cur[d].minus(c[d], d); len(rest) > 0 {
			p := new(box)
			*p = cur
			p[d] = rest
			out = append(out, p)
		}
		cur[d] = narrowTo(cur[d], c[d], d)
	}
	return out
}

// plus returns r ∪ s, adding only the part of s that r lacks so that the
// region does not fill with duplicates.
func (r region) plus(s region, w *work) (region, bool) {
	if s.empty() {
		return r, true
	}
	extra, ok := s.minus(r, w)
	if !ok {
		return nil, false
	}
	return append(slices.Clip(r), extra...), true
}

// setDim returns r with dimension d of every box replaced by v: what a
// target that rewrites the field does to the packets in r.
func (r region) setDim(d int, v set) region {
	out := make(region, 0, len(r))
	for _, b := range r {
		out = append(out, b.with(d, v))
	}
	return out.compact()
}

// havoc returns r with every dimension in m made full: the packets of r
// after a target that may rewrite those fields to anything.
func (r region) havoc(m dimMask) region {
	if m == 0 {
		return r
	}
	out := make(region, 0, len(r))
	for _, b := range r {
		c := *b
		for d := range c {
			if m&(1<<d) != 0 {
				c[d] = full(d)
			}
		}
		out = append(out, &c)
	}
	return out.compact()
}

// hull returns the smallest box that holds all of r (r not empty).
func (r region) hull() *box {
	var spans [numDims][]span
	for _, b := range r {
		for d := range b {
			spans[d] = append(spans[d], b[d]...)
		}
	}
	h := new(box)
	for d := range h {
		h[d] = setOf(spans[d]...)
	}
	return h
}

// bounds are the least and greatest value of each dimension over the
// nonempty boxes of a region; none when it has no nonempty box.
type bounds struct {
	lo, hi [numDims]uint32
	none   bool
}

// bounds returns r's bounds.
func (r region) bounds() bounds {
	bd := bounds{none: true}
	for _, b := range r {
		if b.hasEmpty() {
			continue
		}
		for d := range b {
			lo, hi := b[d][0].lo, b[d][len(b[d])-1].hi
			if bd.none || lo < bd.lo[d] {
				bd.lo[d] = lo
			}
			if bd.none || hi > bd.hi[d] {
				bd.hi[d] = hi
			}
		}
		bd.none = false
	}
	return bd
}

func (b *box) hasEmpty() bool {
	for d := range b {
		if len(b[d]) == 0 {
			return true
		}
	}
	return false
}

// narrowBounds are bounds in the dimensions rules most often differ
// in (addresses, protocol, ports): enough to tell most regions apart, in
// less memory.
type narrowBounds struct {
	lo, hi [5]uint32
	none   bool
}

var narrowDims = [5]int{dimSrc, dimDst, dimProto, dimSport, dimDport}

func (bd bounds) narrow() narrowBounds {
	n := narrowBounds{none: bd.none}
	for i, d := range narrowDims {
		n.lo[i], n.hi[i] = bd.lo[d], bd.hi[d]
	}
	return n
}

// within reports whether bd lies inside o in every dimension it has:
// what r.within(s) needs of their bounds, checked in a few comparisons.
func (bd *narrowBounds) within(o *narrowBounds) bool {
	if bd.none {
		return true
	}
	if o.none {
		return false
	}
	for d := range bd.lo {
		if bd.lo[d] < o.lo[d] || bd.hi[d] > o.hi[d] {
			return false
		}
	}
	return true
}

// bounded returns r, or its hull when r has grown past maxBoxes.
func (r region) bounded() region {
	if len(r) <= maxBoxes {
		return r
	}
	if r = r.compact(); len(r) <= maxBoxes {
		return r
	}
	return region{r.hull()}
}

// compact merges boxes that agree in every dimension but one, which keeps
// regions small after many subtractions without changing the set. For
// each dimension it buckets the boxes by a hash of their other
// dimensions (the sum of per-dimension hashes less that one), so a pass
// costs a few operations per box rather than a comparison per pair.
func (r region) compact() region {
	if len(r) < 2 {
		return r
	}
	out := slices.Clone(r)
	hs := make([][numDims]uint64, len(out))
	sums := make([]uint64, len(out))
	for i, b := range out {
		for d := range b {
			hs[i][d] = b[d].hash(d)
			sums[i] += hs[i][d]
		}
	}
	seen := make(map[uint64][]int, len(out))
	for pass := 0; pass < 2; pass++ {
		changed := false
		for d := 0; d < numDims; d++ {
			clear(seen)
			n := 0
			for i, b := range out {
				key := sums[i] - hs[i][d]
				merged := false
				for _, k := range seen[key] {
					if out[k].equalExcept(b, d) {
						out[k] = out[k].with(d, out[k][d].union(b[d]))
						sums[k] -= hs[k][d]
						hs[k][d] = out[k][d].hash(d)
						sums[k] += hs[k][d]
						merged, changed = true, true
						break
					}
				}
				if merged {
					continue
				}
				out[n], hs[n], sums[n] = b, hs[i], sums[i]
				seen[key] = append(seen[key], n)
				n++
			}
			out, hs, sums = out[:n], hs[:n], sums[:n]
		}
		if !changed {
			break
		}
	}
	return out
}

// hash mixes dimension d's set into 64 bits (splitmix64 steps).
func (s set) hash(d int) uint64 {
	h := uint64(d+1) * 0x9e3779b97f4a7c15
	for _, x := range s {
		h ^= uint64(x.lo)<<32 | uint64(x.hi)
		h *= 0xbf58476d1ce4e5b9
		h ^= h >> 31
	}
	h *= 0x94d049bb133111eb
	return h ^ h>>29
}

// equalExcept reports whether b and c agree in every dimension but d.
func (b *box) equalExcept(c *box, d int) bool {
	for e := range b {
		if e != d && !b[e].equal(c[e]) {
			return false
		}
	}
	return true
}

// work is the budget of box operations one table's analysis may spend;
// the analysis gives up rather than be slow.
type work struct {
	left int
}

func (w *work) charge(n int) bool {
	w.left -= n + 1
	return w.left >= 0
}
