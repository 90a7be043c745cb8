package ipset

import (
	"math/bits"
	"net/netip"
	"sort"
	"sync"
)

// Set is one named set. Rules and list:set members hold the *Set; swap
// exchanges the contents of two sets and keeps their names and
// references, so a rule naming a set sees the swapped contents, as the
// kernel's index-based references do.
type Set struct {
	mu   *sync.Mutex // the registry's, once it is Concurrent (lock.go)
	name string
	refs int // rules and list:set memberships using the set
	d    *data
	last lastChange // what the last -j SET did (LastChange)
}

// Name is the set's current name.
func (s *Set) Name() string { return s.name }

// TypeName is the set's type, as ipset prints it.
func (s *Set) TypeName() string { return s.d.typ.name }

// Family is the set's address family (FamilyNone for bitmap:port,
// hash:mac and list:set).
func (s *Set) Family() Family { return s.d.family }

// Dims is the number of dimensions of an element (what -m set's
// direction flags are compared with).
func (s *Set) Dims() int { return len(s.d.typ.dims) }

// Refs is the number of references (ipset list's "References").
func (s *Set) Refs() int { return s.refs }

// Ref and Unref count a rule's reference to the set.
func (s *Set) Ref()   { s.refs++ }
func (s *Set) Unref() { s.refs-- }

// entry is what a set keeps per element beyond its key.
type entry struct {
	expires  int64  // engine clock, 0: never
	pending  uint32 // bitmap:ip,mac without MAC: timeout that starts when it is filled
	packets  uint64
	bytes    uint64
	comment  string
	skbmark  uint32
	skbmask  uint32
	skbprio  uint32
	skbqueue uint16
	nomatch  bool
	unfilled bool // bitmap:ip,mac: no MAC yet
	mac      [6]byte
}

// netCounts tracks the distinct prefix lengths of one network dimension,
// longest first, as the kernel's nets[] array.
type netCounts struct {
	count [129]uint32
	list  []uint8
}

func (n *netCounts) add(c uint8) {
	n.count[c]++
	if n.count[c] == 1 {
		n.rebuild()
	}
}

func (n *netCounts) del(c uint8) {
	n.count[c]--
	if n.count[c] == 0 {
		n.rebuild()
	}
}

func (n *netCounts) rebuild() {
	n.list = n.list[:0]
	for c := 128; c >= 0; c-- {
		if n.count[c] > 0 {
			n.list = append(n.list, uint8(c))
		}
	}
}

// member is an element of a list:set.
type member struct {
	set *Set
	e   entry
}

// data is the contents of a set: type, options and elements.
type data struct {
	typ        *setType
	family     Family
	hashsize   uint32
	maxelem    uint32
	bucketsize uint8
	initval    uint32
	// netmask/bitmask (hash:ip, hash:ip,port, hash:net,net, bitmap:ip)
	netmask   uint8
	mask      [16]byte
	hasMask   bool
	isBitmask bool
	markmask  uint32
	timeout   uint32
	withTO    bool
	counters  bool
	comment   bool
	skbinfo   bool
	forceadd  bool
	// bitmap ranges
	first, last   [16]byte
	pfirst, plast uint16
	size          uint32 // list:set

	layout uint8  // the kernel's element struct, for its hash (htable.go)
	t      htable // the elements, in the kernel's buckets (htable.go)
	// hash:net,iface: how many interfaces each network has (the
	// kernel's multi)
	clash map[Key]uint8
	nets  [2]netCounts // A1/C1 and A2/C2 when they are networks
	netAt [2]bool
	list  []member
}

func newData(t *setType, fam Family) *data {
	d := &data{typ: t, family: fam, hashsize: 1024, maxelem: 65536, bucketsize: 12, markmask: 0xffffffff, size: 8}
	if t.hasDim(dimIface) {
		d.clash = make(map[Key]uint8)
	}
	ai := 0
	for _, x := range t.dims {
		if x == dimIP || x == dimNet {
			if ai < 2 {
				d.netAt[ai] = x == dimNet
			}
			ai++
		}
	}
	return d
}

func (d *data) expired(e *entry, now int64) bool {
	return e.expires != 0 && now >= e.expires
}

// count is the number of live elements.
func (d *data) count(now int64) int {
	if d.typ.store == listStore {
		n := 0
		for i := range d.list {
			if !d.expired(&d.list[i].e, now) {
				n++
			}
		}
		return n
	}
	if !d.withTO {
		return d.t.live
	}
	n := 0
	d.t.each(func(i int32) {
		if !d.expired(&d.t.ents[i], now) {
			n++
		}
	})
	return n
}

// gc removes the expired elements, as the kernel's garbage collector
// does before a set is listed or runs full.
func (d *data) gc(now int64) {
	if !d.withTO {
		return
	}
	if d.typ.store == listStore {
		keep := d.list[:0]
		for _, m := range d.list {
			if d.expired(&m.e, now) {
				m.set.refs--
				continue
			}
			keep = append(keep, m)
		}
		d.list = keep
		return
	}
	if d.t.buckets == nil {
		return
	}
	for r := range d.t.regions {
		d.gcRegion(r, now)
	}
}

func ifaceless(k Key) Key {
	k.Iface, k.Phys = [16]byte{}, false
	return k
}

func (d *data) flush() {
	if d.typ.store == listStore {
		for _, m := range d.list {
			m.set.refs--
		}
		d.list = nil
		return
	}
	// the table keeps its size, as mtype_flush keeps htable_bits
	if d.t.buckets != nil {
		d.t.init(d.t.bits, d.maxelem)
		d.t.keys, d.t.ents, d.t.free, d.t.live = nil, nil, nil, 0
	}
	if d.clash != nil {
		clear(d.clash)
	}
	d.nets = [2]netCounts{}
}

// elemExt are the extensions an add command gives an element.
type elemExt struct {
	timeout              uint32
	hasTimeout           bool
	packets, bytes       uint64
	hasPackets, hasBytes bool
	comment              string
	hasComment           bool
	skbmark, skbmask     uint32
	skbprio              uint32
	skbqueue             uint16
	hasSkb               bool
	nomatch              bool
	mac                  [6]byte
	hasMAC               bool
	before, after        string
}

// setExt applies an add's extensions to an entry, as the kernel does
// both for a new element and for one overwritten under -exist: the
// timeout and comment and skbinfo are replaced, counters only when given.
func (d *data) setExt(e *entry, x *elemExt, now int64) {
	to := d.timeout
	if x.hasTimeout {
		to = x.timeout
	}
	e.expires = 0
	if d.withTO && to != 0 {
		e.expires = now + int64(to)*1e9
	}
	if x.hasPackets {
		e.packets = x.packets
	}
	if x.hasBytes {
		e.bytes = x.bytes
	}
	e.comment = x.comment
	e.skbmark, e.skbmask, e.skbprio, e.skbqueue = x.skbmark, x.skbmask, x.skbprio, x.skbqueue
	e.nomatch = x.nomatch
}

// addKey adds one element; exist is ipset's -exist. Hash types follow
// the kernel's buckets (hashAdd); bitmaps have a place for every
// element, so only an element already there clashes.
func (d *data) addKey(k Key, x *elemExt, now int64, exist bool) error {
	if err := d.zeroElem(k); err != nil {
		return err
	}
	if d.typ.store == hashStore {
		return d.hashAdd(k, x, now, exist)
	}
	if old, ok := d.get(k); ok && !d.expired(&old, now) {
		if d.typ.name == "bitmap:ip,mac" {
			return d.addIPMAC(k, old, x, now, exist)
		}
		if !exist {
			return errExist
		}
		d.setExt(&old, x, now)
		d.put(k, old)
		return nil
	} else if ok {
		d.unlink(k)
	}
	var e entry
	d.setExt(&e, x, now)
	if d.typ.name == "bitmap:ip,mac" {
		if x.hasMAC {
			e.mac = x.mac
		} else {
			e.unfilled = true
			e.pending = uint32((e.expires - now) / 1e9)
			if e.expires == 0 {
				e.pending = 0
			}
			e.expires = 0
		}
	}
	d.plainInsert(k, e, now)
	return nil
}

// addIPMAC handles an add over an existing bitmap:ip,mac element: an
// element without MAC is completed (and its timeout starts) by an add
// with one; any other add is a clash unless -exist.
func (d *data) addIPMAC(k Key, old entry, x *elemExt, now int64, exist bool) error {
	if old.unfilled && x.hasMAC {
		var e entry
		d.setExt(&e, x, now)
		e.mac = x.mac
		d.put(k, e)
		return nil
	}
	if !exist {
		return errExist
	}
	d.setExt(&old, x, now)
	if x.hasMAC {
		old.mac, old.unfilled = x.mac, false
	}
	d.put(k, old)
	return nil
}

// zeroElem refuses the elements the kernel calls zero valued
// (IPSET_ERR_HASH_ELEM): a hash:ip address of all zeros (after the
// netmask), the same in a hash:ip,port with a netmask, and a hash:mac
// MAC of all zeros.
func (d *data) zeroElem(k Key) error {
	switch {
	case d.typ.name == "hash:ip" || d.typ.name == "hash:ip,port" && d.hasMask:
		if k.A1 == ([16]byte{}) {
			return errZero
		}
	case d.typ.name == "hash:mac":
		if k.MAC == ([6]byte{}) {
			return errZero
		}
	}
	return nil
}

func (d *data) delKey(k Key, now int64, exist bool) error {
	if err := d.zeroElem(k); err != nil {
		return err
	}
	if d.typ.store == hashStore {
		err := d.hashDel(k, now, true)
		if err == errNotAdded && exist {
			return nil
		}
		return err
	}
	old, ok := d.get(k)
	if !ok || d.expired(&old, now) {
		if ok {
			d.unlink(k)
		}
		if exist {
			return nil
		}
		return errNotAdded
	}
	d.unlink(k)
	return nil
}

// Match results.
const (
	NoMatch  = 0
	Matched  = 1
	Nomatch  = -1 // an element flagged nomatch was found (the kernel's -ENOTEMPTY)
	needFill = 2  // bitmap:ip,mac element waiting for its MAC
)

// Counter comparisons of -m set --packets-*/--bytes-*.
const (
	CmpNone = iota
	CmpEq
	CmpNe
	CmpLt
	CmpGt
)

// MatchOpts are the flags of a lookup from a packet: the -m set
// options that act on the set's counters. Nil means the kernel's
// default (update the counters, compare nothing).
type MatchOpts struct {
	SkipCounterUpdate bool
	PacketsOp         uint8
	Packets           uint64
	BytesOp           uint8
	Bytes             uint64
}

func cmpCounter(op uint8, have, want uint64) bool {
	switch op {
	case CmpEq:
		return have == want
	case CmpNe:
		return have != want
	case CmpLt:
		return have < want
	case CmpGt:
		return have > want
	}
	return true
}

// Hit is what a lookup found: the result and the element that decided
// it (for trace, and the skbinfo for -j SET --map-set).
type Hit struct {
	Result   int
	Key      Key
	Member   *Set // for a list:set, the member set that matched
	SkbMark  uint32
	SkbMask  uint32
	SkbPrio  uint32
	SkbQueue uint16
}

// matchEntry is the kernel's mtype_data_match: skip an expired element;
// raise the counters (pkts 0: a userspace test, which does not); compare
// them; then a nomatch element answers Nomatch.
func (d *data) matchEntry(i int32, now int64, o *MatchOpts, pktLen uint64, pkts uint64, h *Hit) int {
	e := &d.t.ents[i]
	if d.expired(e, now) {
		return NoMatch
	}
	if d.counters {
		if pkts > 0 && (o == nil || !o.SkipCounterUpdate) {
			e.packets += pkts
			e.bytes += pktLen
		}
		if o != nil && !(cmpCounter(o.PacketsOp, e.packets, o.Packets) && cmpCounter(o.BytesOp, e.bytes, o.Bytes)) {
			return NoMatch
		}
	}
	h.Key = d.t.keys[i]
	h.SkbMark, h.SkbMask, h.SkbPrio, h.SkbQueue = e.skbmark, e.skbmask, e.skbprio, e.skbqueue
	if e.nomatch {
		return Nomatch
	}
	if e.unfilled {
		return needFill
	}
	return Matched
}

// lookup tests one key whose network dimensions are full-length host
// addresses: each distinct prefix length is tried, longest first (both
// dimensions of a net,net type, the first outer), and the first element
// found decides. A key with a shorter prefix is looked up exactly.
func (d *data) lookup(k Key, now int64, o *MatchOpts, pktLen, pkts uint64) Hit {
	var h Hit
	hl := hostLen(d.family)
	walk := (d.netAt[0] || d.netAt[1]) && (!d.netAt[0] || k.C1 == hl) && (!d.netAt[1] || k.C2 == hl)
	if !walk {
		if i := d.find(&k); i >= 0 {
			h.Result = d.matchEntry(i, now, o, pktLen, pkts, &h)
		}
		return h
	}
	one := [1]uint8{hl}
	l1, l2 := one[:], one[:]
	if d.netAt[0] {
		l1 = d.nets[0].list
	}
	if d.netAt[1] {
		l2 = d.nets[1].list
	}
	a1, a2 := k.A1, k.A2
	for _, c1 := range l1 {
		if d.netAt[0] {
			k.A1, k.C1 = andMask(a1, masks[c1]), c1
		}
		for _, c2 := range l2 {
			if d.netAt[1] {
				k.A2, k.C2 = andMask(a2, masks[c2]), c2
			}
			i := d.find(&k)
			ok := i >= 0
			if ok {
				if r := d.matchEntry(i, now, o, pktLen, pkts, &h); r != NoMatch {
					h.Result = r
					return h
				}
			}
			// hash:net,iface: a network found with other interfaces
			// ends the walk (the kernel's multi flag), unless the
			// element found for this interface did not match
			if d.clash != nil && !ok && d.clash[ifaceless(k)] > 0 {
				return h
			}
		}
	}
	return h
}

func keyLess(a, b Key) bool {
	if c := cmp16(a.A1, b.A1); c != 0 {
		return c < 0
	}
	if a.C1 != b.C1 {
		return a.C1 < b.C1
	}
	if a.Proto != b.Proto {
		return a.Proto < b.Proto
	}
	if a.Port != b.Port {
		return a.Port < b.Port
	}
	if c := cmp16(a.A2, b.A2); c != 0 {
		return c < 0
	}
	if a.C2 != b.C2 {
		return a.C2 < b.C2
	}
	if a.Mark != b.Mark {
		return a.Mark < b.Mark
	}
	for i := range a.MAC {
		if a.MAC[i] != b.MAC[i] {
			return a.MAC[i] < b.MAC[i]
		}
	}
	if a.Phys != b.Phys {
		return !a.Phys
	}
	return ifaceString(a.Iface) < ifaceString(b.Iface)
}

// listed returns the arena indices of the live elements in the order
// the kernel lists them: a hash set in its buckets' order (which
// depends on initval), a bitmap sorted.
func (d *data) listed(now int64) []int32 {
	is := make([]int32, 0, d.t.live)
	d.t.each(func(i int32) {
		if !d.expired(&d.t.ents[i], now) {
			is = append(is, i)
		}
	})
	if d.typ.store == bitmapStore {
		sort.Slice(is, func(a, b int) bool { return keyLess(d.t.keys[is[a]], d.t.keys[is[b]]) })
	}
	return is
}

// roundHashsize is the kernel's hash size: at least 64, a power of two.
func roundHashsize(n uint32) uint32 {
	if n < 64 {
		n = 64
	}
	if n&(n-1) != 0 {
		if n > 1<<31 {
			return 1 << 31
		}
		n = 1 << bits.Len32(n)
	}
	return n
}

// lookup tests a key built from a packet (network dimensions at full
// length, the ones the set masks not yet masked) as the kernel's kadt
// test does, raising the element's counters by one packet of pktLen
// bytes unless o says not to. It does not allocate.
func (s *Set) lookup(k Key, now int64, o *MatchOpts, pktLen uint64) Hit {
	d := s.d
	if d.hasMask {
		if d.typ.dims[0] == dimIP || d.typ.dims[0] == dimNet {
			k.A1 = andMask(k.A1, d.mask)
		}
		if d.netAt[1] {
			k.A2 = andMask(k.A2, d.mask)
		}
	}
	if d.typ.hasDim(dimMark) {
		k.Mark &= d.markmask
	}
	return d.lookup(k, now, o, pktLen, 1)
}

// KeyFromAddr is a key whose first address dimension is a (a host).
func KeyFromAddr(a netip.Addr) Key {
	var k Key
	if a.Is4() {
		b := a.As4()
		copy(k.A1[:], b[:])
		k.C1 = 32
	} else {
		k.A1 = a.As16()
		k.C1 = 128
	}
	return k
}
