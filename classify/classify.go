package classify

import (
	"cmp"
	"math/bits"
	"slices"
	"sort"
)

// Classifier answers Next for one chain's rules. It is read-only once
// built and safe for concurrent use.
type Classifier struct {
	n      int32
	tables []table
}

// entry is one rule in a table's bucket: its tests in the form the
// lookup checks fastest.
type entry struct {
	src, srcMask, dst, dstMask uint32
	mark, markMask             uint32
	idx                        int32
	sLo, sHi, dLo, dHi         uint16
	proto, protoMask           uint8
	tcpMask, tcpCmp            uint8
	icmpType, icmpMask         uint8
	codeLo, codeHi             uint8
	flags                      uint8
}

const (
	fInvSrc = 1 << iota
	fInvDst
	fInvProto
	fInvTCP
)

func (e *entry) match(k *Key) bool {
	inv := e.flags
	if (k.Src&e.srcMask == e.src) == (inv&fInvSrc != 0) {
		return false
	}
	if (k.Dst&e.dstMask == e.dst) == (inv&fInvDst != 0) {
		return false
	}
	if k.SPort-e.sLo > e.sHi-e.sLo || k.DPort-e.dLo > e.dHi-e.dLo {
		return false
	}
	if e.protoMask != 0 && (k.Proto == e.proto) == (inv&fInvProto != 0) {
		return false
	}
	if e.tcpMask != 0 && (k.TCPFlags&e.tcpMask == e.tcpCmp) == (inv&fInvTCP != 0) {
		return false
	}
	if k.ICMPType&e.icmpMask != e.icmpType || k.ICMPCode-e.codeLo > e.codeHi-e.codeLo {
		return false
	}
	return k.Mark&e.markMask == e.mark
}

// tuple is the prefix length a table hashes of each field.
type tuple struct {
	src, dst    uint8 // 0..32
	sport, dprt uint8 // 0..16
	proto       uint8 // 0 or 8
}

func (t tuple) within(r tuple) bool {
	return t.src <= r.src && t.dst <= r.dst && t.sport <= r.sport && t.dprt <= r.dprt && t.proto <= r.proto
}

func (t tuple) bits() int {
	return int(t.src) + int(t.dst) + int(t.sport) + int(t.dprt) + int(t.proto)
}

type slot struct {
	k1, k2     uint64
	start, end uint32 // entries[start:end]; end 0 for an empty slot
}

type table struct {
	srcMask, dstMask uint32
	spMask, dpMask   uint16
	protoMask        uint8
	shift            uint8
	// filter has a bit set for every key's hash prefix (fshift keeps
	// the top bits): at about 8 bits a bucket it stays in cache where
	// the slots of a big table do not, and turns most probes of a key
	// that is not there into one cached load.
	fshift         uint8
	filter         []uint64
	minIdx, maxIdx int32
	slots          []slot
	entries        []entry
	t              tuple
}

func mask32(n uint8) uint32 {
	if n == 0 {
		return 0
	}
	return ^uint32(0) << (32 - n)
}

func mask16(n uint8) uint16 {
	if n == 0 {
		return 0
	}
	return ^uint16(0) << (16 - n)
}

func (t *table) keys(k *Key) (uint64, uint64) {
	return uint64(k.Src&t.srcMask)<<32 | uint64(k.Dst&t.dstMask),
		uint64(k.SPort&t.spMask)<<24 | uint64(k.DPort&t.dpMask)<<8 | uint64(k.Proto&t.protoMask)
}

func hash(k1, k2 uint64) uint64 {
	h := (k1 ^ bits.RotateLeft64(k2, 29)) * 0x9E3779B97F4A7C15
	return h ^ h>>31
}

// Len is the number of rules the classifier was built for.
func (c *Classifier) Len() int { return int(c.n) }

// Tables is the number of hash tables a lookup may probe.
func (c *Classifier) Tables() int { return len(c.tables) }

// Next returns the lowest rule index at or after from whose tests k
// passes, or Len() when there is none. It does not allocate.
func (c *Classifier) Next(k *Key, from int) int { return c.next(k, from, nil) }

// Cost runs Next(k, from) and reports what it did: the tables it
// visited and the rule entries it compared. For benchmarks and tuning.
func (c *Classifier) Cost(k *Key, from int) (tables, entries int) {
	var st [2]int
	c.next(k, from, &st)
	return st[0], st[1]
}

// next is Next, counting its work in st when st is not nil.
func (c *Classifier) next(k *Key, from int, st *[2]int) int {
	best := c.n
	f := int32(from)
	for ti := range c.tables {
		t := &c.tables[ti]
		if t.minIdx >= best {
			break
		}
		if t.maxIdx < f {
			continue
		}
		if st != nil {
			st[0]++
		}
		k1, k2 := t.keys(k)
		h := hash(k1, k2)
		if fb := h >> t.fshift; t.filter[fb>>6]&(1<<(fb&63)) == 0 {
			continue
		}
		m := uint64(len(t.slots) - 1)
		for i := h >> t.shift; ; i = (i + 1) & m {
			s := &t.slots[i]
			if s.end == 0 {
				break
			}
			if s.k1 != k1 || s.k2 != k2 {
				continue
			}
			es := t.entries[s.start:s.end]
			j := 0 // entries compared
			for ; j < len(es); j++ {
				e := &es[j]
				if e.idx >= best {
					break
				}
				// The usual rule, negating nothing, is mostly told
				// apart by its addresses and destination port: test
				// them here before the call.
				if e.flags == 0 && (k.Dst&e.dstMask != e.dst || k.Src&e.srcMask != e.src || k.DPort-e.dLo > e.dHi-e.dLo) {
					continue
				}
				if e.idx >= f && e.match(k) {
					best = e.idx
					j++
					break
				}
			}
			if st != nil {
				st[1] += j
			}
			break
		}
	}
	return int(best)
}

// Params tune Build; the zero value takes the defaults.
type Params struct {
	// Bucket is the most rules a bucket takes before a rule goes to
	// a more specific table (TupleMerge's collision limit).
	Bucket int
}

// prefixLen is the number of leading ones of a mask: the longest prefix
// a table may hash of a field tested with that mask.
func prefixLen(m uint32) uint8 { return uint8(bits.LeadingZeros32(^m)) }

// rangeLen is the length of the prefix every port of [lo, hi] shares,
// when the range is exactly that prefix's block, else the prefix of
// the widest block inside... no: the shared prefix of lo and hi, which
// every port in the range has.
func rangeLen(lo, hi uint16) uint8 { return uint8(bits.LeadingZeros16(lo ^ hi)) }

func (r *Rule) tuple() tuple {
	var t tuple
	if !r.InvSrc {
		t.src = prefixLen(r.SrcMask)
	}
	if !r.InvDst {
		t.dst = prefixLen(r.DstMask)
	}
	t.sport = rangeLen(r.SPort[0], r.SPort[1])
	t.dprt = rangeLen(r.DPort[0], r.DPort[1])
	if r.HasProto && r.Proto != 0 && !r.InvProto {
		t.proto = 8
	}
	return t
}

// relax is the tuple of a new table made for a rule of tuple t: shorter
// prefixes, so that later rules of nearby shapes fit the same table.
func relax(t tuple) tuple {
	r := t
	r.src = relaxAddr(t.src, addrLevels)
	r.dst = relaxAddr(t.dst, addrLevels)
	r.sport = relaxPort(t.sport)
	r.dprt = relaxPort(t.dprt)
	return r
}

// addrLevels are the prefix lengths a rule's first table tries for an
// address, longest first: /16 where the rule's prefix is that long, else
// none. Buckets that overflow push rules to the longer lengths of
// addrGrid (see candidates). Measured on the 8k ClassBench sets
// (tables probed a lookup): 3.5-5.4 with these, 8-33 with new tables
// at the rule's own lengths rounded to {32, 24, 16, 8, 0}.
var addrLevels = []uint8{16, 0}

func relaxAddr(l uint8, levels []uint8) uint8 {
	for _, v := range levels {
		if l >= v {
			return v
		}
	}
	return 0
}

func relaxPort(l uint8) uint8 { return 0 }

// candidates are the tuples of the grid (addresses at the lengths of
// addrGrid, ports whole or not at all) from relax(t) up to t, fewest
// bits first; the last is the most specific.
func candidates(t tuple) []tuple {
	lo := relax(t)
	var out []tuple
	for _, s := range addrGrid {
		if s < lo.src || s > t.src {
			continue
		}
		for _, d := range addrGrid {
			if d < lo.dst || d > t.dst {
				continue
			}
			for _, sp := range []uint8{0, 16} {
				if sp > t.sport {
					continue
				}
				for _, dp := range []uint8{0, 16} {
					if dp > t.dprt {
						continue
					}
					out = append(out, tuple{s, d, sp, dp, t.proto})
				}
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].bits() < out[j].bits() })
	return out
}

// addrGrid are the address prefix lengths tables are made with. On
// ClassBench acl1, fw1 and ipc1 (8k, and grown to 100k) {0, 8, 16, 32}
// gives 10-15 tables, 3.5-5.4 probes a lookup at 8k and 8-12 at 100k;
// without 8, rules of /9-/15 prefixes crowd the /0 table's few buckets
// (57 compares a lookup on fw1 at 100k, 21 with it).
var addrGrid = []uint8{0, 8, 16, 32}

func (r *Rule) entry(idx int) entry {
	e := entry{
		src: r.Src & r.SrcMask, srcMask: r.SrcMask, dst: r.Dst & r.DstMask, dstMask: r.DstMask,
		mark: r.Mark & r.MarkMask, markMask: r.MarkMask, idx: int32(idx),
		sLo: r.SPort[0], sHi: r.SPort[1], dLo: r.DPort[0], dHi: r.DPort[1],
		tcpMask: r.TCPMask, tcpCmp: r.TCPCmp & r.TCPMask,
		codeLo: 0, codeHi: 0xff,
	}
	if r.InvSrc {
		e.flags |= fInvSrc
	}
	if r.InvDst {
		e.flags |= fInvDst
	}
	if r.HasProto && r.Proto != 0 {
		e.proto, e.protoMask = r.Proto, 0xff
		if r.InvProto {
			e.flags |= fInvProto
		}
	}
	if r.InvTCP {
		e.flags |= fInvTCP
	}
	if r.HasICMP {
		e.icmpType, e.icmpMask, e.codeLo, e.codeHi = r.ICMPType, 0xff, r.ICMPCode[0], r.ICMPCode[1]
	}
	return e
}

type bkey struct{ k1, k2 uint64 }

type buildTable struct {
	table
	count map[bkey]int32
	items []item
}

// item is a rule placed in a table during the build.
type item struct {
	key bkey
	idx int32
}

func newBuildTable(t tuple, first int) *buildTable {
	bt := &buildTable{count: map[bkey]int32{}}
	bt.t = t
	bt.srcMask, bt.dstMask = mask32(t.src), mask32(t.dst)
	bt.spMask, bt.dpMask = mask16(t.sport), mask16(t.dprt)
	if t.proto != 0 {
		bt.protoMask = 0xff
	}
	bt.minIdx = int32(first)
	return bt
}

// Build compiles rules (index i is rule i) into a Classifier.
func Build(rules []Rule, p Params) *Classifier {
	if p.Bucket <= 0 {
		p.Bucket = 16
	}
	c := &Classifier{n: int32(len(rules))}
	var bts []*buildTable
	byTuple := map[tuple]*buildTable{}
	cands := map[tuple][]tuple{} // candidates of each tuple met
	for i := range rules {
		r := &rules[i]
		if r.Never {
			continue
		}
		rt := r.tuple()
		var k Key
		k.Src, k.Dst, k.SPort, k.DPort, k.Proto = r.Src, r.Dst, r.SPort[0], r.DPort[0], r.Proto
		// The most specific table the rule fits whose bucket has room;
		// else a new table of the rule's relaxed tuple, or when that
		// table exists (and is full for it), of its exact tuple; a
		// table of the exact tuple takes it even when full: no table
		// could tell its rules apart better.
		var best *buildTable
		var bestKey bkey
		for _, bt := range bts {
			if !bt.t.within(rt) {
				continue
			}
			k1, k2 := bt.keys(&k)
			key := bkey{k1, k2}
			if int(bt.count[key]) >= p.Bucket {
				continue
			}
			if best == nil || bt.t.bits() > best.t.bits() {
				best, bestKey = bt, key
			}
		}
		if best == nil {
			// Every table the rule fits is full for it: a new table,
			// the least specific of the tuples between its relaxed
			// and its own that is not a table yet, or when all are,
			// the most specific of them (its own), even full.
			cs := cands[rt]
			if cs == nil {
				cs = candidates(rt)
				cands[rt] = cs
			}
			want := cs[len(cs)-1]
			for _, c := range cs {
				if byTuple[c] == nil {
					want = c
					break
				}
			}
			best = byTuple[want]
			if best == nil {
				best = newBuildTable(want, i)
				byTuple[want] = best
				bts = append(bts, best)
			}
			k1, k2 := best.keys(&k)
			bestKey = bkey{k1, k2}
		}
		best.count[bestKey]++
		best.maxIdx = int32(i)
		best.items = append(best.items, item{bestKey, int32(i)})
	}
	c.tables = make([]table, len(bts))
	for ti, bt := range bts {
		c.tables[ti] = bt.finish(rules)
	}
	return c
}

// finish lays the table's buckets out: entries grouped by key, each
// group in rule order, and an open-addressing index over the groups at
// most half full.
func (bt *buildTable) finish(rules []Rule) table {
	t := bt.table
	slices.SortFunc(bt.items, func(a, b item) int {
		if c := cmp.Compare(a.key.k1, b.key.k1); c != 0 {
			return c
		}
		if c := cmp.Compare(a.key.k2, b.key.k2); c != 0 {
			return c
		}
		return cmp.Compare(a.idx, b.idx)
	})
	t.entries = make([]entry, len(bt.items))
	for i, it := range bt.items {
		t.entries[i] = rules[it.idx].entry(int(it.idx))
	}
	size := 2
	for size < 2*len(bt.count) {
		size <<= 1
	}
	t.slots = make([]slot, size)
	t.shift = uint8(64 - bits.TrailingZeros(uint(size)))
	fsize := 64
	for fsize < 8*len(bt.count) {
		fsize <<= 1
	}
	t.filter = make([]uint64, fsize/64)
	t.fshift = uint8(64 - bits.TrailingZeros(uint(fsize)))
	m := uint64(size - 1)
	for start := 0; start < len(bt.items); {
		end := start + 1
		for end < len(bt.items) && bt.items[end].key == bt.items[start].key {
			end++
		}
		key := bt.items[start].key
		h := hash(key.k1, key.k2)
		fb := h >> t.fshift
		t.filter[fb>>6] |= 1 << (fb & 63)
		i := h >> t.shift
		for t.slots[i].end != 0 {
			i = (i + 1) & m
		}
		t.slots[i] = slot{k1: key.k1, k2: key.k2, start: uint32(start), end: uint32(end)}
		start = end
	}
	return t
}
