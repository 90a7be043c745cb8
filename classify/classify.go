package classify

import (
	"cmp"
	"math/bits"
	"math/rand/v2"
	"slices"
	"sort"
)

// Classifier answers Next for one chain's rules. It is read-only once
// built and safe for concurrent use.
type Classifier struct {
	n      int32
	tables []table
}

// entry is one rule in a table: the tests most rules make, in 32 bytes
// (two to a cache line). A rule that negates an address or the
// protocol, tests more (flags, ICMP, mark) or is IPv6 has flags set and
// is checked in full by table.slowMatch.
type entry struct {
	// addr&addrMask: the addresses as addrKey lays them out, source
	// in the high half (0 in an IPv6 entry).
	addr, addrMask     uint64
	idx                int32
	sLo, sHi, dLo, dHi uint16
	proto, pmask       uint8 // k.Proto&pmask == proto
	flags              uint8
	_                  uint8
}

const (
	fInvSrc = 1 << iota
	fInvDst
	fInvProto
	fExtra // tests in table.extra
	fAddr6 // addresses in table.addr6
)

// extra are the tests of an entry with fExtra.
type extra struct {
	mark, markMask     uint32
	tcpMask, tcpCmp    uint8
	icmpType, icmpMask uint8
	codeLo, codeHi     uint8
	invTCP             bool
}

// addr6 are the addresses of an IPv6 entry.
type addr6 struct{ src, srcMask, dst, dstMask Addr6 }

// slowMatch checks entry j of t in full.
func (t *table) slowMatch(j uint32, k *Key) bool {
	e := &t.entries[j]
	inv := e.flags
	if inv&fAddr6 != 0 {
		a := &t.addr6[j]
		if (k.Src6.and(a.srcMask) == a.src) == (inv&fInvSrc != 0) || (k.Dst6.and(a.dstMask) == a.dst) == (inv&fInvDst != 0) {
			return false
		}
	} else if (k.Src&uint32(e.addrMask>>32) == uint32(e.addr>>32)) == (inv&fInvSrc != 0) ||
		(k.Dst&uint32(e.addrMask) == uint32(e.addr)) == (inv&fInvDst != 0) {
		return false
	}
	if k.SPort-e.sLo > e.sHi-e.sLo || k.DPort-e.dLo > e.dHi-e.dLo {
		return false
	}
	if e.pmask != 0 && (k.Proto == e.proto) == (inv&fInvProto != 0) {
		return false
	}
	if inv&fExtra == 0 {
		return true
	}
	x := &t.extra[j]
	if x.tcpMask != 0 && (k.TCPFlags&x.tcpMask == x.tcpCmp) == x.invTCP {
		return false
	}
	if k.ICMPType&x.icmpMask != x.icmpType || k.ICMPCode-x.codeLo > x.codeHi-x.codeLo {
		return false
	}
	return k.Mark&x.markMask == x.mark
}

// tuple is the prefix length a table hashes of each field.
type tuple struct {
	src, dst    uint8 // 0..32 (0..128 in IPv6)
	sport, dprt uint8 // 0..16
	proto       uint8 // 0 or 8
}

func (t tuple) within(r tuple) bool {
	return t.src <= r.src && t.dst <= r.dst && t.sport <= r.sport && t.dprt <= r.dprt && t.proto <= r.proto
}

func (t tuple) bits() int {
	return int(t.src) + int(t.dst) + int(t.sport) + int(t.dprt) + int(t.proto)
}

// table is one tuple's hash table. Its entries are grouped by the slot
// their key hashes to (dir[s]:dir[s+1] are slot s's), each group in
// rule order: a lookup reads the packet's slot from dir and compares the
// entries there, with no key stored or compared (an entry's own tests
// imply its key, so entries of other keys that share the slot are
// merely compared in vain).
type table struct {
	// The fields a probe reads first, together: the masks of the
	// packet's addresses (source in the high half) and of its ports
	// and protocol (source port, destination port, protocol, as
	// portKey lays them out) this table hashes.
	addrMask, portMask uint64
	minIdx, maxIdx     int32
	shift              uint8
	// filter has a bit set for every occupied slot's hash prefix
	// (fshift keeps the top bits): at 8 bits a key it stays in cache
	// where dir and the entries of a big table do not, and turns most
	// probes of a key that is not there into one cached load.
	fshift   uint8
	v6       bool
	filter   []uint64
	dir      []uint32
	entries  []entry
	extra    []extra // parallel to entries when any has fExtra
	addr6    []addr6 // parallel to entries in an IPv6 table
	srcMask6 Addr6
	dstMask6 Addr6
	t        tuple
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

func mask128(n uint8) Addr6 {
	if n <= 64 {
		return Addr6{uint64(mask32(min(n, 32)))<<32 | uint64(mask32(n-min(n, 32))), 0}
	}
	return Addr6{^uint64(0), ^uint64(0) << (128 - uint(n))}
}

// keys are k's key in t: the masked addresses (folded to 64 bits in
// IPv6: keys that collide only share a slot), ports and protocol.
func (t *table) keys(k *Key) (uint64, uint64) {
	k1 := addrKey(k) & t.addrMask
	if t.v6 {
		k1 = t.fold6(k)
	}
	return k1, portKey(k) & t.portMask
}

// addrKey and portKey are a packet's IPv4 addresses and its ports and
// protocol, each in one word that a table's masks cut to its key.
func addrKey(k *Key) uint64 { return uint64(k.Src)<<32 | uint64(k.Dst) }

func portKey(k *Key) uint64 {
	return uint64(k.SPort)<<24 | uint64(k.DPort)<<8 | uint64(k.Proto)
}

//go:noinline
func (t *table) fold6(k *Key) uint64 {
	s, d := k.Src6.and(t.srcMask6), k.Dst6.and(t.dstMask6)
	return (s[0]^bits.RotateLeft64(s[1], 17))*0xff51afd7ed558ccd ^ (d[0]^bits.RotateLeft64(d[1], 41))*0xc4ceb9fe1a85ec53
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
	ka, kp := addrKey(k), portKey(k)
	tables := c.tables
	for ti := range tables {
		t := &tables[ti]
		if t.minIdx >= best {
			break
		}
		if t.maxIdx < f {
			continue
		}
		if st != nil {
			st[0]++
		}
		k1 := ka & t.addrMask
		if t.v6 {
			k1 = t.fold6(k)
		}
		h := hash(k1, kp&t.portMask)
		// (shifts masked to 63: no test for a shift past the word)
		if fb := h >> (t.fshift & 63); t.filter[fb>>6]&(1<<(fb&63)) == 0 {
			continue
		}
		s := h >> (t.shift & 63)
		lo, hi := t.dir[s], t.dir[s+1]
		es := t.entries[lo:hi]
		j := 0 // entries compared
		for ; j < len(es); j++ {
			e := &es[j]
			if e.idx >= best {
				break
			}
			if e.flags == 0 {
				if ka&e.addrMask != e.addr || k.DPort-e.dLo > e.dHi-e.dLo ||
					k.SPort-e.sLo > e.sHi-e.sLo || k.Proto&e.pmask != e.proto {
					continue
				}
			} else if !t.slowMatch(lo+uint32(j), k) {
				continue
			}
			if e.idx >= f {
				best = e.idx
				j++
				break
			}
		}
		if st != nil {
			st[1] += j
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

func prefixLen6(m Addr6) uint8 {
	if m[0] != ^uint64(0) {
		return uint8(bits.LeadingZeros64(^m[0]))
	}
	return 64 + uint8(bits.LeadingZeros64(^m[1]))
}

// rangeLen is the length of the prefix every port of [lo, hi] shares.
func rangeLen(lo, hi uint16) uint8 { return uint8(bits.LeadingZeros16(lo ^ hi)) }

func (r *Rule) tuple() tuple {
	var t tuple
	src, dst := prefixLen(r.SrcMask), prefixLen(r.DstMask)
	if r.IPv6 {
		src, dst = prefixLen6(r.SrcMask6), prefixLen6(r.DstMask6)
	}
	if !r.InvSrc {
		t.src = src
	}
	if !r.InvDst {
		t.dst = dst
	}
	t.sport = rangeLen(r.SPort[0], r.SPort[1])
	t.dprt = rangeLen(r.DPort[0], r.DPort[1])
	if r.HasProto && r.Proto != 0 && !r.InvProto {
		t.proto = 8
	}
	return t
}

// grid are the prefix lengths of a family's tables: levels, longest
// first, those a rule's first table tries for an address (the longest
// not above the rule's own length), and all, the lengths buckets that
// overflow push rules to (see candidates).
type grid struct{ levels, all []uint8 }

// grid4: on ClassBench acl1, fw1 and ipc1 (8k, and grown to 100k),
// first tables at /16 where the rule's prefix is that long (else none)
// gave 3.5-5.4 tables probed a lookup at 8k, against 8-33 with new
// tables at the rule's own lengths rounded to {32, 24, 16, 8, 0}; all =
// {0, 8, 16, 32} gives 10-15 tables, and without 8, rules of /9-/15
// prefixes crowd the /0 table's few buckets (57 compares a lookup on
// fw1 at 100k, 21 with it).
var grid4 = grid{levels: []uint8{16, 0}, all: []uint8{0, 8, 16, 32}}

// grid6 is grid4's IPv6 counterpart: /32 is the first level (an
// allocation, as /16 is in IPv4), then sites (/48), subnets (/64) and
// hosts.
var grid6 = grid{levels: []uint8{32, 0}, all: []uint8{0, 32, 48, 64, 128}}

func relaxAddr(l uint8, levels []uint8) uint8 {
	for _, v := range levels {
		if l >= v {
			return v
		}
	}
	return 0
}

// candidates are the tuples of the grid (addresses at the lengths of
// g.all, ports whole or not at all) from the relaxed tuple of t (see
// grid) up to t, fewest bits first; the last is the most specific.
func candidates(t tuple, g *grid) []tuple {
	loSrc, loDst := relaxAddr(t.src, g.levels), relaxAddr(t.dst, g.levels)
	var out []tuple
	for _, s := range g.all {
		if s < loSrc || s > t.src {
			continue
		}
		for _, d := range g.all {
			if d < loDst || d > t.dst {
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

// entry returns rule idx's entry and, when it needs them, its extra
// tests and IPv6 addresses.
func (r *Rule) entry(idx int) (entry, extra, addr6) {
	e := entry{
		addr:     uint64(r.Src&r.SrcMask)<<32 | uint64(r.Dst&r.DstMask),
		addrMask: uint64(r.SrcMask)<<32 | uint64(r.DstMask),
		idx:      int32(idx), sLo: r.SPort[0], sHi: r.SPort[1], dLo: r.DPort[0], dHi: r.DPort[1],
	}
	var a addr6
	if r.IPv6 {
		e.addr, e.addrMask = 0, 0
		a = addr6{r.Src6.and(r.SrcMask6), r.SrcMask6, r.Dst6.and(r.DstMask6), r.DstMask6}
		e.flags |= fAddr6
	}
	if r.InvSrc {
		e.flags |= fInvSrc
	}
	if r.InvDst {
		e.flags |= fInvDst
	}
	if r.HasProto && r.Proto != 0 {
		e.proto, e.pmask = r.Proto, 0xff
		if r.InvProto {
			e.flags |= fInvProto
		}
	}
	x := extra{mark: r.Mark & r.MarkMask, markMask: r.MarkMask, tcpMask: r.TCPMask, tcpCmp: r.TCPCmp & r.TCPMask,
		invTCP: r.InvTCP, codeLo: 0, codeHi: 0xff}
	if r.HasICMP {
		x.icmpType, x.icmpMask, x.codeLo, x.codeHi = r.ICMPType, 0xff, r.ICMPCode[0], r.ICMPCode[1]
	}
	if x.markMask != 0 || x.tcpMask != 0 || r.HasICMP {
		e.flags |= fExtra
	}
	return e, x, a
}

type bkey struct{ k1, k2 uint64 }

type buildTable struct {
	table
	count map[bkey]int32
	items []int32 // the rules placed in the table
}

// keyOf is rule idx's key in bt.
func (bt *buildTable) keyOf(rules []Rule, idx int32) bkey {
	k := rules[idx].key()
	k1, k2 := bt.keys(&k)
	return bkey{k1, k2}
}

func newBuildTable(t tuple, first int, v6 bool) *buildTable {
	bt := &buildTable{count: map[bkey]int32{}}
	bt.t, bt.v6 = t, v6
	if v6 {
		bt.srcMask6, bt.dstMask6 = mask128(t.src), mask128(t.dst)
	} else {
		bt.addrMask = uint64(mask32(t.src))<<32 | uint64(mask32(t.dst))
	}
	var pm uint8
	if t.proto != 0 {
		pm = 0xff
	}
	bt.portMask = portKey(&Key{SPort: mask16(t.sport), DPort: mask16(t.dprt), Proto: pm})
	bt.minIdx = int32(first)
	return bt
}

// Build compiles rules (index i is rule i, all of one family) into a
// Classifier.
func Build(rules []Rule, p Params) *Classifier {
	if p.Bucket <= 0 {
		p.Bucket = 16
	}
	c := &Classifier{n: int32(len(rules))}
	v6 := len(rules) > 0 && rules[0].IPv6
	g := &grid4
	if v6 {
		g = &grid6
	}
	var bts []*buildTable
	byTuple := map[tuple]*buildTable{}
	cands := map[tuple][]tuple{} // candidates of each tuple met
	for i := range rules {
		r := &rules[i]
		if r.Never {
			continue
		}
		rt := r.tuple()
		k := r.key()
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
				cs = candidates(rt, g)
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
				best = newBuildTable(want, i, v6)
				byTuple[want] = best
				bts = append(bts, best)
			}
			k1, k2 := best.keys(&k)
			bestKey = bkey{k1, k2}
		}
		best.count[bestKey]++
		best.maxIdx = int32(i)
		best.items = append(best.items, int32(i))
	}
	bts = mergeSmall(bts, rules, p.Bucket)
	// Packets drawn from the rules, looked up in the tables so far:
	// their answers (exact whatever the tables) price the merges and
	// cuts below, and the tables are laid out again when there are any.
	c.tables = finishAll(bts, rules)
	ks := sampleKeys(rules, samples)
	ans := c.answers(ks)
	bts, merged := mergeByCost(bts, rules, ks, ans, p.Bucket)
	slices.Sort(ans)
	cuts := chooseCuts(bts, ans)
	if merged || len(cuts) > 0 {
		c.tables = finishAll(cutAt(bts, cuts), rules)
	}
	return c
}

// finishAll lays out every table of bts.
func finishAll(bts []*buildTable, rules []Rule) []table {
	ts := make([]table, len(bts))
	var buf []placed
	for ti, bt := range bts {
		ts[ti] = bt.finish(rules, &buf)
	}
	return ts
}

// key is a packet key every packet the rule matches shares with it in
// any table whose tuple is within the rule's.
func (r *Rule) key() Key {
	return Key{Src: r.Src & r.SrcMask, Dst: r.Dst & r.DstMask, Src6: r.Src6.and(r.SrcMask6), Dst6: r.Dst6.and(r.DstMask6),
		SPort: r.SPort[0], DPort: r.DPort[0], Proto: r.Proto}
}

// smallShare: a table holding at most 1/smallShare of the rules is
// merged into a less specific table whose first rule comes no later
// (so that it is probed whenever the small one would be) when no
// bucket of that table grows past twice the bucket bound: a table
// probed costs more than a few more entries compared.
var smallShare = 32

// mergeSmall merges small tables into less specific ones (smallest
// first) and returns the tables left, in the order of their first rule.
func mergeSmall(bts []*buildTable, rules []Rule, bucket int) []*buildTable {
	total := 0
	for _, bt := range bts {
		total += len(bt.items)
	}
	order := slices.Clone(bts)
	slices.SortStableFunc(order, func(a, b *buildTable) int { return cmp.Compare(len(a.items), len(b.items)) })
	dead := map[*buildTable]bool{}
	for _, bt := range order {
		if len(bt.items)*smallShare > total {
			break
		}
		host := hostOf(bt, bts, dead, func(h *buildTable) bool { return h.fits(bt, rules, 2*bucket) })
		if host == nil {
			continue
		}
		host.absorb(bt, rules)
		dead[bt] = true
	}
	return alive(bts, dead)
}

// absorb moves o's rules into h.
func (h *buildTable) absorb(o *buildTable, rules []Rule) {
	h.items = slices.Grow(h.items, len(o.items))
	for _, it := range o.items {
		h.count[h.keyOf(rules, it)]++
		h.items = append(h.items, it)
	}
	h.minIdx, h.maxIdx = min(h.minIdx, o.minIdx), max(h.maxIdx, o.maxIdx)
}

// alive returns the tables of bts not dead, in the order of their first
// rule.
func alive(bts []*buildTable, dead map[*buildTable]bool) []*buildTable {
	live := bts[:0]
	for _, bt := range bts {
		if !dead[bt] {
			live = append(live, bt)
		}
	}
	slices.SortStableFunc(live, func(a, b *buildTable) int { return cmp.Compare(a.minIdx, b.minIdx) })
	return live
}

// hostOf is the table that may take bt's rules: the most specific
// table other than bt, not dead, whose tuple is within bt's and whose
// first rule comes no later than bt's (a host probed later than bt
// would be probed sooner after: only one probed whenever bt is takes
// it), and that fits reports true for.
func hostOf(bt *buildTable, bts []*buildTable, dead map[*buildTable]bool, fits func(h *buildTable) bool) *buildTable {
	var host *buildTable
	for _, h := range bts {
		if h == bt || dead[h] || h.minIdx > bt.minIdx || !h.t.within(bt.t) || host != nil && h.t.bits() <= host.t.bits() {
			continue
		}
		if fits(h) {
			host = h
		}
	}
	return host
}

// The costs of a lookup's steps in instructions, about (callgrind on
// the ClassBench sets): probing a table whose filter says no, reading
// a slot the filter lets through (and its cache misses), comparing an
// entry.
const (
	costTable   = 40
	costSlot    = 40
	costCompare = 25
)

// mergeByCost merges tables into less specific ones when the sample
// keys (ks, whose answers are ans) say it saves work: the table merged
// is no longer probed, but the host's buckets grow (TupleMerge's
// trade, decided by measure rather than by a bound on buckets; buckets
// stay within 4 times the bound all the same). It reports whether it
// merged any.
func mergeByCost(bts []*buildTable, rules []Rule, ks []Key, ans []int32, bucket int) ([]*buildTable, bool) {
	order := slices.Clone(bts)
	slices.SortStableFunc(order, func(a, b *buildTable) int { return cmp.Compare(len(a.items), len(b.items)) })
	dead := map[*buildTable]bool{}
	var hk []bkey // bt's keys in host, sorted (one buffer for all)
	cmpKey := func(a, b bkey) int { return cmp.Or(cmp.Compare(a.k1, b.k1), cmp.Compare(a.k2, b.k2)) }
	// add is the number of bt's rules whose key in host is k.
	add := func(k bkey) int {
		i, found := slices.BinarySearchFunc(hk, k, cmpKey)
		if !found {
			return 0
		}
		j := i
		for j < len(hk) && hk[j] == k {
			j++
		}
		return j - i
	}
	// fill sets hk to bt's keys in h.
	fill := func(bt, h *buildTable) {
		hk = hk[:0]
		for _, it := range bt.items {
			hk = append(hk, h.keyOf(rules, it))
		}
		slices.SortFunc(hk, cmpKey)
	}
	for _, bt := range order {
		host := hostOf(bt, bts, dead, func(h *buildTable) bool {
			fill(bt, h)
			for i := 0; i < len(hk); {
				n := add(hk[i])
				if int(h.count[hk[i]])+n > 4*bucket {
					return false
				}
				i += n
			}
			return true
		})
		if host == nil {
			continue
		}
		fill(bt, host)
		delta := 0
		for i := range ks {
			a := ans[i]
			if a < host.minIdx {
				continue
			}
			k1, k2 := host.keys(&ks[i])
			kh := bkey{k1, k2}
			if n := add(kh); n > 0 {
				delta += costCompare * n
				if host.count[kh] == 0 {
					delta += costSlot
				}
			}
			if a >= bt.minIdx {
				delta -= costTable
				b1, b2 := bt.keys(&ks[i])
				if n := bt.count[bkey{b1, b2}]; n > 0 {
					delta -= costCompare*int(n) + costSlot
				}
			}
		}
		if delta >= 0 {
			continue
		}
		host.absorb(bt, rules)
		dead[bt] = true
	}
	if len(dead) == 0 {
		return bts, false
	}
	return alive(bts, dead), true
}

// fits reports whether h's buckets stay within limit with o's rules
// added.
func (h *buildTable) fits(o *buildTable, rules []Rule, limit int) bool {
	add := map[bkey]int32{}
	for _, it := range o.items {
		key := h.keyOf(rules, it)
		add[key]++
		if int(h.count[key]+add[key]) > limit {
			return false
		}
	}
	return true
}

// placed is a rule's slot (first its hash) in a table being finished.
type placed struct {
	slot uint64
	idx  int32
}

// dirLoad is the number of slots a table's dir has per key (rounded up
// to a power of two).
var dirLoad = 2

// finish lays the table out: entries grouped by the slot of their key,
// each group in rule order, dir over the slots and the filter.
func (bt *buildTable) finish(rules []Rule, buf *[]placed) table {
	t := bt.table
	if cap(*buf) < len(bt.items) {
		*buf = make([]placed, len(bt.items))
	}
	ps := (*buf)[:len(bt.items)]
	for i, it := range bt.items {
		k := bt.keyOf(rules, it)
		ps[i] = placed{hash(k.k1, k.k2), it} // the slot comes below
	}
	bySlot := func(a, b placed) int { return cmp.Or(cmp.Compare(a.slot, b.slot), cmp.Compare(a.idx, b.idx)) }
	nkeys := len(bt.count)
	if bt.count == nil {
		// A table cut from another keeps no counts: count the
		// distinct hashes.
		slices.SortFunc(ps, bySlot)
		for i := range ps {
			if i == 0 || ps[i].slot != ps[i-1].slot {
				nkeys++
			}
		}
	}
	size := 2
	for size < dirLoad*nkeys {
		size <<= 1
	}
	t.shift = uint8(64 - bits.TrailingZeros(uint(size)))
	fsize := 64
	for fsize < 8*nkeys {
		fsize <<= 1
	}
	t.filter = make([]uint64, fsize/64)
	t.fshift = uint8(64 - bits.TrailingZeros(uint(fsize)))
	for i := range ps {
		h := ps[i].slot
		fb := h >> t.fshift
		t.filter[fb>>6] |= 1 << (fb & 63)
		ps[i].slot = h >> t.shift
	}
	slices.SortFunc(ps, bySlot)
	t.dir = make([]uint32, size+1)
	t.entries = make([]entry, len(ps))
	var xs []extra
	var as []addr6
	for i, p := range ps {
		e, x, a := rules[p.idx].entry(int(p.idx))
		t.entries[i] = e
		if e.flags&fExtra != 0 && xs == nil {
			xs = make([]extra, len(ps))
		}
		if xs != nil {
			xs[i] = x
		}
		if e.flags&fAddr6 != 0 {
			if as == nil {
				as = make([]addr6, len(ps))
			}
			as[i] = a
		}
		t.dir[p.slot+1] = uint32(i + 1)
	}
	// dir[s+1] is now the end of slot s's group where s has one, 0
	// elsewhere: carry the ends forward.
	for s := 1; s <= size; s++ {
		t.dir[s] = max(t.dir[s], t.dir[s-1])
	}
	t.extra, t.addr6 = xs, as
	return t
}

// samples is the number of packets Build draws from the rules to
// choose where to cut the tables (see chooseCuts).
var samples = 2048

// bigTable is the number of rules from which a table costs more to
// probe than a small one (chooseCuts): at 32 bytes an entry, 8,192
// rules fill half of a 512 KiB second-level cache.
var bigTable = 8192

// sampleKeys draws n packet keys (fewer when there are fewer rules),
// each inside a rule drawn uniformly from those that can match, with
// the fields the rule leaves open drawn at random: ClassBench's way of
// aiming a trace at a rule set. Seeded: the same rules give the same
// keys, hence the same classifier.
func sampleKeys(rules []Rule, n int) []Key {
	live := 0
	for i := range rules {
		if !rules[i].Never {
			live++
		}
	}
	if live == 0 {
		return nil
	}
	n = min(n, 4*live)
	r := rand.New(rand.NewPCG(uint64(len(rules)), 14))
	port := func(pr [2]uint16) uint16 { return pr[0] + uint16(r.IntN(int(pr[1]-pr[0])+1)) }
	ks := make([]Key, n)
	for i := range ks {
		ru := &rules[r.IntN(len(rules))]
		for ru.Never {
			ru = &rules[r.IntN(len(rules))]
		}
		k := &ks[i]
		k.Src = ru.Src&ru.SrcMask | r.Uint32()&^ru.SrcMask
		k.Dst = ru.Dst&ru.DstMask | r.Uint32()&^ru.DstMask
		if ru.IPv6 {
			for h := range 2 {
				k.Src6[h] = ru.Src6[h]&ru.SrcMask6[h] | r.Uint64()&^ru.SrcMask6[h]
				k.Dst6[h] = ru.Dst6[h]&ru.DstMask6[h] | r.Uint64()&^ru.DstMask6[h]
			}
		}
		k.Proto = []uint8{6, 17, 1}[r.IntN(3)]
		if ru.HasProto && ru.Proto != 0 && !ru.InvProto {
			k.Proto = ru.Proto
		}
		k.SPort, k.DPort = port(ru.SPort), port(ru.DPort)
		k.TCPFlags = ru.TCPCmp | uint8(r.IntN(256))&^ru.TCPMask
		k.ICMPType, k.ICMPCode = ru.ICMPType, uint8(port([2]uint16{uint16(ru.ICMPCode[0]), uint16(ru.ICMPCode[1])}))
		k.Mark = ru.Mark&ru.MarkMask | r.Uint32()&^ru.MarkMask
	}
	return ks
}

// answers are Next(k, 0) for every key of ks.
func (c *Classifier) answers(ks []Key) []int32 {
	out := make([]int32, len(ks))
	for i := range ks {
		out[i] = int32(c.Next(&ks[i], 0))
	}
	return out
}

// chooseCuts picks the rule indices at which to cut every table in
// parts (see cutAt), given the sorted answers of sample packets. A
// lookup whose answer is a probes every table (part) whose first rule
// is at or before a, and no other: a cut at c spares the packets that
// end before c the part of each table after c, and costs those that
// end after it a probe more for each table it cuts. The candidates are
// the first rules of the tables; cuts are added greedily, each the one
// that lowers the sum of tables probed over the samples most, while one
// does. In the grown ClassBench sets of 100,000 rules, where 90% of the
// packets end in wildcard rules (-p tcp -j ACCEPT and the like) near
// rule 7,600, this cuts once there: the 92,000 rules after it are in
// tables those packets never probe.
func chooseCuts(bts []*buildTable, ans []int32) []int32 {
	if len(ans) == 0 {
		return nil
	}
	idxs := make([][]int32, len(bts))
	var cands []int32
	for ti, bt := range bts {
		is := slices.Clone(bt.items)
		slices.Sort(is)
		idxs[ti] = is
		if bt.minIdx > 0 {
			cands = append(cands, bt.minIdx)
		}
	}
	slices.Sort(cands)
	cands = slices.Compact(cands)
	// probed: how many samples probe a part starting at rule m.
	probed := func(m int32) int {
		i, _ := slices.BinarySearch(ans, m)
		return len(ans) - i
	}
	// probeCost is the cost of probing a table of n rules, in
	// hundredths of a small table's: a big table's filter, slots and
	// entries are not in cache (on the grown ClassBench sets of
	// 100,000 rules, tables cut in 1,000-rule parts took half the time
	// of the same tables whole).
	probeCost := func(n int) int { return 100 + 50*bits.Len(uint(n/bigTable)) }
	cost := func(cuts []int32) int {
		sum := 0
		for _, is := range idxs {
			prev := -1
			for j := -1; j < len(cuts); j++ {
				start := 0
				if j >= 0 {
					start, _ = slices.BinarySearch(is, cuts[j])
				}
				if start < len(is) && start != prev {
					end := len(is)
					if j+1 < len(cuts) {
						end, _ = slices.BinarySearch(is, cuts[j+1])
					}
					sum += probed(is[start]) * probeCost(end-start)
					prev = start
				}
			}
		}
		return sum
	}
	var cuts []int32
	best := cost(nil)
	for {
		pick, pickCost := int32(-1), best
		for _, c := range cands {
			if _, in := slices.BinarySearch(cuts, c); in {
				continue
			}
			try := append(slices.Clone(cuts), c)
			slices.Sort(try)
			if k := cost(try); k < pickCost {
				pick, pickCost = c, k
			}
		}
		if pick < 0 {
			return cuts
		}
		cuts = append(cuts, pick)
		slices.Sort(cuts)
		best = pickCost
	}
}

// cutAt splits every table at the given rule indices: the part of a
// table after a cut starts after it, so a lookup that found a rule
// before the cut stops before the later parts (tables are probed in
// the order of their first rule and the probe ends at the first that
// starts after the best rule found).
func cutAt(bts []*buildTable, cuts []int32) []*buildTable {
	var out []*buildTable
	for _, bt := range bts {
		// split the items, in rule order, at the cuts.
		slices.Sort(bt.items)
		start := 0
		for start < len(bt.items) {
			lo := bt.items[start]
			end := len(bt.items)
			// the first cut above lo ends this part
			if c, _ := slices.BinarySearch(cuts, lo+1); c < len(cuts) {
				end = start + sort.Search(len(bt.items)-start, func(i int) bool { return bt.items[start+i] >= cuts[c] })
			}
			if start == 0 && end == len(bt.items) {
				out = append(out, bt)
				break
			}
			part := newBuildTable(bt.t, int(lo), bt.v6)
			part.count = nil
			part.items = bt.items[start:end]
			part.maxIdx = part.items[len(part.items)-1]
			out = append(out, part)
			start = end
		}
	}
	slices.SortStableFunc(out, func(a, b *buildTable) int { return cmp.Compare(a.minIdx, b.minIdx) })
	return out
}
