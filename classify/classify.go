package classify

import (
	"math/bits"
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
	minIdx, maxIdx   int32
	slots            []slot
	entries          []entry
	t                tuple
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
func (c *Classifier) Next(k *Key, from int) int {
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
		k1, k2 := t.keys(k)
		m := uint64(len(t.slots) - 1)
		for i := hash(k1, k2) >> t.shift; ; i = (i + 1) & m {
			s := &t.slots[i]
			if s.end == 0 {
				break
			}
			if s.k1 != k1 || s.k2 != k2 {
				continue
			}
			es := t.entries[s.start:s.end]
			for j := range es {
				e := &es[j]
				if e.idx >= best {
					break
				}
				if e.idx >= f && e.match(k) {
					best = e.idx
					break
				}
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

// addrLevels are the prefix lengths new tables hash of an address,
// longest first. Measured on ClassBench acl1, fw1 and ipc1 at 8k rules
// (tables probed per lookup, TestTune in the history of this file):
// {16, 0} with buckets of 32 probes 3.3, 9.9 and 6.7 tables where
// {32, 24, 16, 8, 0} with buckets of 8 probed 8.2, 27 and 33; a table
// of /32s is still made when a /16 bucket overflows.
var addrLevels = []uint8{16, 0}

func relaxAddr(l uint8, levels []uint8) uint8 {
	for _, v := range levels {
		if l >= v {
			return v
		}
	}
	return 0
}

func relaxPort(l uint8) uint8 {
	if l >= 16 {
		return 16
	}
	return 0
}

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

type item struct {
	key bkey
	e   entry
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
		p.Bucket = 32
	}
	c := &Classifier{n: int32(len(rules))}
	var bts []*buildTable
	byTuple := map[tuple]*buildTable{}
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
			want := relax(rt)
			if byTuple[want] != nil {
				want = rt
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
		best.items = append(best.items, item{bestKey, r.entry(i)})
	}
	c.tables = make([]table, len(bts))
	for ti, bt := range bts {
		c.tables[ti] = bt.finish()
	}
	return c
}

// finish lays the table's buckets out: entries grouped by key, each
// group in rule order, and an open-addressing index over the groups at
// most half full.
func (bt *buildTable) finish() table {
	t := bt.table
	sort.SliceStable(bt.items, func(a, b int) bool {
		x, y := bt.items[a].key, bt.items[b].key
		if x.k1 != y.k1 {
			return x.k1 < y.k1
		}
		return x.k2 < y.k2
	})
	t.entries = make([]entry, len(bt.items))
	for i := range bt.items {
		t.entries[i] = bt.items[i].e
	}
	size := 2
	for size < 2*len(bt.count) {
		size <<= 1
	}
	t.slots = make([]slot, size)
	t.shift = uint8(64 - bits.TrailingZeros(uint(size)))
	m := uint64(size - 1)
	for start := 0; start < len(bt.items); {
		end := start + 1
		for end < len(bt.items) && bt.items[end].key == bt.items[start].key {
			end++
		}
		key := bt.items[start].key
		i := hash(key.k1, key.k2) >> t.shift
		for t.slots[i].end != 0 {
			i = (i + 1) & m
		}
		t.slots[i] = slot{k1: key.k1, k2: key.k2, start: uint32(start), end: uint32(end)}
		start = end
	}
	return t
}
