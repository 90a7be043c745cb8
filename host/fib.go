package host

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// The host's tables compiled for lookups (built once, at the end of
// Parse or at a Host's first lookup): its local table and its routes as
// longest-prefix tables over 128-bit keys, one set per family, and one
// per interface name for the lookups limited to an interface
// (addrtype's --limit-iface-*, the strict lookup of a link-local
// address). A lookup masks the address once per prefix length present
// and probes that length's hash table: no string work, no allocation,
// and a cost that grows with the number of prefix lengths, not of
// addresses or routes.
//
// A Host must not change once it has been looked up in: these tables
// would not follow.
type fib struct {
	fam  [2]famTables // IPv4, IPv6
	devs []devTables
	// routeIfc[i] is the interface Routes[i] leaves by.
	routeIfc []*Iface
}

// famTables are one family's tables.
type famTables struct {
	// dest answers Dest: the local table and the routes in one lookup
	// (set for the families' tables, not the interfaces').
	dest destTable
	// local is the local table: each address of the host (local), each
	// IPv4 subnet's broadcast address (broadcast), each IPv6 prefix's
	// subnet-router anycast address (anycast), and loopback's IPv4
	// prefixes (local). Its values are a type and the interface.
	local lpm
	// routes are the routes; values index Host.Routes.
	routes lpm
}

// devTables are the tables of one interface name: its entries of the
// local table and the routes through it.
type devTables struct {
	name string
	fam  [2]famTables
}

// key is an address as a 128-bit number (IPv4 as its IPv4-mapped IPv6
// form): both families use one kind of table.
type key struct{ hi, lo uint64 }

func keyOf(a netip.Addr) key {
	if a.Is4() {
		b := a.As4()
		return key{0, 0xffff<<32 | uint64(binary.BigEndian.Uint32(b[:]))}
	}
	b := a.As16()
	return key{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

// maskOf is the mask of a prefix length of the family (IPv4 lengths
// count in the last 32 bits).
func maskOf(bits int, v4 bool) key {
	if v4 {
		bits += 96
	}
	var m key
	switch {
	case bits >= 128:
		m = key{^uint64(0), ^uint64(0)}
	case bits > 64:
		m = key{^uint64(0), ^(^uint64(0) >> (bits - 64))}
	case bits > 0:
		m = key{^(^uint64(0) >> bits), 0}
	}
	return m
}

// lpm is a longest-prefix-match table: one hash table of prefixes per
// prefix length, longest first. For equal prefixes the first added
// wins, as in a first-match walk of a list sorted longest first.
//
// A small table (a host's local table and routes mostly are) is also
// kept as one flat list, longest prefix first, which a lookup walks:
// a compare per prefix costs less than a probe per length, and its
// branches are predictable where the hash probes' are not.
type lpm struct {
	groups []lpmGroup
	flat   []lpmEntry // nil when the table has more than maxFlat prefixes
}

// maxFlat is the largest table looked up by walking it (a variable for
// the tests, which try both ways).
var maxFlat = 16

type lpmEntry struct {
	mask, k key
	v       uint32
}

// lpmGroup holds the prefixes of one length in an open-addressed hash
// table of at least four times as many slots, so that a miss (the common
// case: most lookups are not in the local table, and most lengths do
// not hold a route's destination) usually costs one probe.
type lpmGroup struct {
	bits  int
	mask  key
	shift uint // 64 - log2(len(slots))
	slots []lpmSlot
	n     int
}

type lpmSlot struct {
	k    key
	v    uint32
	full bool
}

func (k key) hash(shift uint) uint64 {
	return ((k.hi ^ k.lo) * 0x9e3779b97f4a7c15) >> shift
}

// add inserts prefix (addr masked to bits) with val unless it is there.
func (t *lpm) add(addr netip.Addr, bits int, val uint32) {
	m := maskOf(bits, addr.Is4())
	if addr.Is4() {
		bits += 96
	}
	k := keyOf(addr)
	t.addKey(key{k.hi & m.hi, k.lo & m.lo}, bits, m, val)
}

// addKey is add for a masked key, its length over 128 bits and mask.
func (t *lpm) addKey(k key, bits int, m key, val uint32) {
	gi := 0
	for gi < len(t.groups) && t.groups[gi].bits > bits {
		gi++
	}
	if gi == len(t.groups) || t.groups[gi].bits != bits {
		t.groups = append(t.groups, lpmGroup{})
		copy(t.groups[gi+1:], t.groups[gi:])
		t.groups[gi] = lpmGroup{bits: bits, mask: m, shift: 62, slots: make([]lpmSlot, 4)}
	}
	g := &t.groups[gi]
	if _, ok := g.get(k); ok {
		return
	}
	if 4*(g.n+1) > len(g.slots) {
		old := g.slots
		g.slots, g.shift = make([]lpmSlot, 2*len(old)), g.shift-1
		for _, sl := range old {
			if sl.full {
				g.put(sl.k, sl.v)
			}
		}
	}
	g.put(k, val)
	g.n++
}

func (g *lpmGroup) put(k key, v uint32) {
	i := k.hash(g.shift)
	for g.slots[i].full {
		i = (i + 1) & uint64(len(g.slots)-1)
	}
	g.slots[i] = lpmSlot{k: k, v: v, full: true}
}

func (g *lpmGroup) get(k key) (uint32, bool) {
	i := k.hash(g.shift)
	for {
		sl := &g.slots[i]
		if !sl.full {
			return 0, false
		}
		if sl.k == k {
			return sl.v, true
		}
		i = (i + 1) & uint64(len(g.slots)-1)
	}
}

// freeze makes the flat list of a small table, once every prefix is in.
func (t *lpm) freeze() {
	t.flat = nil
	n := 0
	for _, g := range t.groups {
		n += g.n
	}
	if n > maxFlat {
		return
	}
	t.flat = make([]lpmEntry, 0, n)
	for _, g := range t.groups {
		for _, sl := range g.slots {
			if sl.full {
				t.flat = append(t.flat, lpmEntry{mask: g.mask, k: sl.k, v: sl.v})
			}
		}
	}
}

// find returns the value of the longest prefix holding k.
func (t *lpm) find(k key) (uint32, bool) {
	if t.flat != nil {
		for i := range t.flat {
			e := &t.flat[i]
			if k.lo&e.mask.lo == e.k.lo && k.hi&e.mask.hi == e.k.hi {
				return e.v, true
			}
		}
		return 0, false
	}
	for gi := range t.groups {
		g := &t.groups[gi]
		if v, ok := g.get(key{k.hi & g.mask.hi, k.lo & g.mask.lo}); ok {
			return v, true
		}
	}
	return 0, false
}

// A local table value: the RTN_* type in the high bits, the index of
// the interface in Host.Ifaces in the low 16.
func localVal(rtn, ifc int) uint32 { return uint32(rtn)<<16 | uint32(ifc) }

func famOf(a netip.Addr) int {
	if a.Is4() {
		return 0
	}
	return 1
}

// compile builds the tables from the interfaces and routes.
func (h *Host) compile() *fib {
	f := &fib{}
	dev := func(name string) *devTables {
		for i := range f.devs {
			if f.devs[i].name == name {
				return &f.devs[i]
			}
		}
		f.devs = append(f.devs, devTables{name: name})
		return &f.devs[len(f.devs)-1]
	}
	for _, ifc := range h.Ifaces {
		dev(ifc.Name)
	}
	// The local table, in the order a walk of the interfaces and their
	// addresses meets its entries (the first of equal keys wins): each
	// address, then its subnet's broadcast (IPv4, shorter than /31) or
	// subnet-router anycast address (IPv6, shorter than /127).
	for i, ifc := range h.Ifaces {
		d := dev(ifc.Name)
		for _, p := range ifc.Addrs {
			a, fam := p.Addr(), famOf(p.Addr())
			vals := [2]uint32{localVal(RTNLocal, i)}
			extra := netip.Addr{}
			switch {
			case fam == 0 && p.Bits() < 31:
				extra, vals[1] = broadcastOf(p), localVal(RTNBroadcast, i)
			case fam == 1 && p.Bits() < 127:
				extra, vals[1] = p.Masked().Addr(), localVal(RTNAnycast, i)
			}
			for j, x := range [2]netip.Addr{a, extra} {
				if x.IsValid() {
					f.fam[fam].local.add(x, x.BitLen(), vals[j])
					d.fam[fam].local.add(x, x.BitLen(), vals[j])
				}
			}
		}
	}
	// Loopback's IPv4 prefixes are local as a whole; they are shorter
	// than the entries above, which win (127.255.255.255 is broadcast).
	for i, ifc := range h.Ifaces {
		if ifc.Name != "lo" {
			continue
		}
		for _, p := range ifc.Addrs {
			if p.Addr().Is4() {
				f.fam[0].local.add(p.Addr(), p.Bits(), localVal(RTNLocal, i))
				dev("lo").fam[0].local.add(p.Addr(), p.Bits(), localVal(RTNLocal, i))
			}
		}
	}
	// Routes are sorted longest prefix first, so the first of equal
	// prefixes is the one a walk of the list finds.
	for i, r := range h.Routes {
		f.routeIfc = append(f.routeIfc, h.Iface(r.Dev))
		fam := famOf(r.Dst.Addr())
		f.fam[fam].routes.add(r.Dst.Addr(), r.Dst.Bits(), uint32(i))
		dev(r.Dev).fam[fam].routes.add(r.Dst.Addr(), r.Dst.Bits(), uint32(i))
	}
	for _, ft := range f.all() {
		ft.local.freeze()
		ft.routes.freeze()
	}
	f.fam[0].dest.build(&f.fam[0], true)
	f.fam[1].dest.build(&f.fam[1], false)
	return f
}

// destTable answers, for an address, both the longest prefix of the
// local table and the longest route holding it, in one lookup: the
// first 8 bits of the address (of the family's own 32 or 128) pick a
// block, which holds the prefixes longer than 8 bits that lie within
// it, and for each of them the answers of both tables precomputed (the
// longest local and route prefix holding it that is no longer than it:
// any longer one holding the address would be in the block too and
// found first). An address that none of its block's prefixes holds
// gets the block's answer for the prefixes of 8 bits or fewer. Most
// blocks of a host hold no prefix at all (a forwarded packet's
// destination is then answered from the first byte), and the others
// few (a flat walk).
type destTable struct {
	idx    [256]uint16 // block of each first byte
	blocks []destBlock
	vals   []destVal // the answers the blocks' values index
}

type destBlock struct {
	within   lpm    // prefixes longer than 8 bits: index into vals
	fallback uint32 // the answer for an address none of them holds
	// common and commonMask are the bits every prefix of within
	// shares (each holds them, up to the shortest prefix's length): an
	// address that differs there is in none of them, and takes the
	// fallback at once. Most addresses a router meets are beyond its
	// own subnets, whose prefixes share a block with them (the /64s of
	// one 2001:db8::/32 in IPv6): one compare instead of a walk.
	common, commonMask key
}

// destVal is an answer: the local table's value (see localVal) and the
// route's index, each with whether there is one.
type destVal struct {
	local, route       uint32
	hasLocal, hasRoute bool
}

// findMax is find limited to the prefixes of at most bits (counted
// over 128).
func (t *lpm) findMax(k key, bits int) (uint32, bool) {
	for gi := range t.groups {
		g := &t.groups[gi]
		if g.bits > bits {
			continue
		}
		if v, ok := g.get(key{k.hi & g.mask.hi, k.lo & g.mask.lo}); ok {
			return v, true
		}
	}
	return 0, false
}

// build fills the table from a family's local table and routes.
func (d *destTable) build(ft *famTables, v4 bool) {
	base := 0 // where the family's first byte starts in a key
	if v4 {
		base = 96
	}
	vals := map[destVal]uint32{}
	val := func(k key, bits int) uint32 {
		var v destVal
		v.local, v.hasLocal = ft.local.findMax(k, bits)
		v.route, v.hasRoute = ft.routes.findMax(k, bits)
		i, ok := vals[v]
		if !ok {
			i = uint32(len(d.vals))
			d.vals = append(d.vals, v)
			vals[v] = i
		}
		return i
	}
	top := func(k key) int {
		if v4 {
			return int(k.lo>>24) & 0xff
		}
		return int(k.hi >> 56)
	}
	// The prefixes of either table longer than 8 bits, by block, in
	// the order of their lengths (longest first) and insertion.
	type prefix struct {
		k, mask key
		bits    int
	}
	var within [256][]prefix
	for _, t := range []*lpm{&ft.local, &ft.routes} {
		for _, g := range t.groups {
			if g.bits <= base+8 {
				continue
			}
			for _, sl := range g.slots {
				if sl.full {
					b := top(sl.k)
					within[b] = append(within[b], prefix{sl.k, g.mask, g.bits})
				}
			}
		}
	}
	empty := map[uint32]uint16{} // blocks without prefixes, by fallback
	for b := range 256 {
		var k key
		if v4 {
			k = key{0, 0xffff<<32 | uint64(b)<<24}
		} else {
			k = key{uint64(b) << 56, 0}
		}
		fb := val(k, base+8)
		if len(within[b]) == 0 {
			if i, ok := empty[fb]; ok {
				d.idx[b] = i
				continue
			}
			empty[fb] = uint16(len(d.blocks))
		}
		d.idx[b] = uint16(len(d.blocks))
		blk := destBlock{fallback: fb}
		for i, e := range within[b] {
			blk.within.addKey(e.k, e.bits, e.mask, val(e.k, e.bits))
			if i == 0 {
				blk.common, blk.commonMask = e.k, e.mask
				continue
			}
			blk.commonMask = key{blk.commonMask.hi & e.mask.hi, blk.commonMask.lo & e.mask.lo}
			blk.commonMask = sharedMask(blk.commonMask, blk.common, e.k)
		}
		blk.common = key{blk.common.hi & blk.commonMask.hi, blk.common.lo & blk.commonMask.lo}
		if len(within[b]) == 0 {
			// Nothing within: every address takes the fallback (the
			// all-ones key, the only one that passes, finds nothing).
			blk.common, blk.commonMask = key{^uint64(0), ^uint64(0)}, key{^uint64(0), ^uint64(0)}
		}
		blk.within.freeze()
		d.blocks = append(d.blocks, blk)
	}
}

// sharedMask narrows mask (a prefix mask) to the leading bits on which a
// and b agree.
func sharedMask(mask, a, b key) key {
	if d := a.hi ^ b.hi; d&mask.hi != 0 {
		return key{mask.hi & ^(^uint64(0) >> bits.LeadingZeros64(d&mask.hi)), 0}
	}
	if d := a.lo ^ b.lo; d&mask.lo != 0 {
		return key{mask.hi, mask.lo & ^(^uint64(0) >> bits.LeadingZeros64(d&mask.lo))}
	}
	return mask
}

// find returns the answer for k.
func (d *destTable) find(k key, first byte) *destVal {
	b := &d.blocks[d.idx[first]]
	if k.hi&b.commonMask.hi != b.common.hi || k.lo&b.commonMask.lo != b.common.lo {
		return &d.vals[b.fallback]
	}
	if v, ok := b.within.find(k); ok {
		return &d.vals[v]
	}
	return &d.vals[b.fallback]
}

// all returns every table set: the families' and each interface's.
func (f *fib) all() []*famTables {
	all := []*famTables{&f.fam[0], &f.fam[1]}
	for i := range f.devs {
		all = append(all, &f.devs[i].fam[0], &f.devs[i].fam[1])
	}
	return all
}

// tables returns the compiled tables, building them on first use.
func (h *Host) tables() *fib {
	if f := h.fib.Load(); f != nil {
		return f
	}
	return h.compileTables()
}

func (h *Host) compileTables() *fib {
	f := h.compile()
	h.fib.Store(f)
	return f
}

// famTables returns the tables for addr's family, limited to dev when
// set (nil when no interface has that name).
func (f *fib) famTables(addr netip.Addr, dev string) *famTables {
	fam := famOf(addr)
	if dev == "" {
		return &f.fam[fam]
	}
	for i := range f.devs {
		if f.devs[i].name == dev {
			return &f.devs[i].fam[fam]
		}
	}
	return nil
}

// lookupLocal looks addr up in the local table (limited to dev when
// set): its RTN_* type and the interface's index.
func (h *Host) lookupLocal(addr netip.Addr, dev string) (rtn int, ifc int, ok bool) {
	if !addr.IsValid() {
		return 0, 0, false
	}
	t := h.tables().famTables(addr, dev)
	if t == nil {
		return 0, 0, false
	}
	v, ok := t.local.find(keyOf(addr))
	return int(v >> 16), int(v & 0xffff), ok
}

// lookupRoute finds the route for dst (through dev when set): its index
// in Routes.
func (h *Host) lookupRoute(dst netip.Addr, dev string) (int, bool) {
	if !dst.IsValid() {
		return 0, false
	}
	t := h.tables().famTables(dst, dev)
	if t == nil {
		return 0, false
	}
	v, ok := t.routes.find(keyOf(dst))
	return int(v), ok
}

// Dest is what the host's tables say of a destination address: its
// type (AddrType(addr, "")) and the route to it (Lookup(addr)) with the
// interface the route leaves by.
type Dest struct {
	Type  int
	Route *Route // the Host's own (do not change it); nil: no route
	Iface *Iface
}

// Dest looks addr up in the local table and the routes at once, as the
// routing decision for an arriving packet needs both (one lookup: see
// destTable).
func (h *Host) Dest(addr netip.Addr) Dest {
	d := Dest{Type: RTNUnicast}
	f := h.tables()
	var dv *destVal
	if addr.Is4() {
		// fixedType and keyOf for IPv4, on the address as a number.
		b := addr.As4()
		v := binary.BigEndian.Uint32(b[:])
		dv = f.fam[0].dest.find(key{0, 0xffff<<32 | uint64(v)}, b[0])
		switch {
		case v == 0 || v == 0xffffffff:
			d.Type = RTNBroadcast
		case v>>28 == 0xe:
			d.Type = RTNMulticast
		case dv.hasLocal:
			d.Type = int(dv.local >> 16)
		}
	} else {
		if !addr.IsValid() {
			return d
		}
		b := addr.As16()
		k := key{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
		dv = f.fam[1].dest.find(k, b[0])
		switch {
		case b[0] == 0xff:
			d.Type = RTNMulticast
		case dv.hasLocal:
			d.Type = int(dv.local >> 16)
		}
	}
	if dv.hasRoute {
		d.Route, d.Iface = &h.Routes[dv.route], f.routeIfc[dv.route]
	}
	return d
}
