package conntrack

// tupleMap maps tuples to connections, IPv4 and IPv6 in one table as
// the kernel's conntrack hash holds both: an open-addressing hash table
// of its own rather than a Go map, so that a lookup touches one slot's
// cache line and then the entry it needs anyway. A slot holds the
// entry, which of its two tuples the slot stands for, and 32 bits of the
// tuple's hash; the key is compared in the entry itself (e.tuple[dir]),
// so a slot is 16 bytes, four to a cache line, whatever the family.
//
// Linear probing, at most 3/4 full (it doubles beyond), deletion by
// backward shift (no tombstones: a lookup's probe ends at the first
// empty slot, and a table that sees many connections come and go never
// fills with dead slots). The map is not safe for concurrent use; the
// shard's lock guards it.
type tupleMap struct {
	slots []slot // a power of two long
	n     int    // slots in use
}

type slot struct {
	e   *Entry // nil: empty
	h   uint32 // the tuple's hash bits (slotHash): its home is h&mask
	dir uint8  // the slot holds e.tuple[dir]
}

const tupleMapMin = 8

// slotHash is the part of a tuple's hash (Tuple.hash) a shard's map
// uses: not the low bits, which chose the shard.
func slotHash(h uint64) uint32 { return uint32(h >> 32) }

func newTupleMap() tupleMap { return tupleMap{slots: make([]slot, tupleMapMin)} }

// find returns the index of the slot holding k (whose Tuple.hash is h),
// or -1.
func (m *tupleMap) find(k *Tuple, h uint64) int {
	sh := slotHash(h)
	mask := uint32(len(m.slots) - 1)
	for i := sh & mask; ; i = (i + 1) & mask {
		s := &m.slots[i]
		if s.e == nil {
			return -1
		}
		if s.h == sh && s.e.tuple[s.dir&1].eq(k) {
			return int(i)
		}
	}
}

// get returns the entry one of whose tuples is k and which one, or nil.
// When both of an entry's tuples are k, the slot set last (the reply
// tuple, see set) answers.
func (m *tupleMap) get(k *Tuple, h uint64) (*Entry, int) {
	if i := m.find(k, h); i >= 0 {
		s := &m.slots[i]
		return s.e, int(s.dir)
	}
	return nil, 0
}

// set maps k, which is e.tuple[dir], to e, replacing what k mapped to.
func (m *tupleMap) set(k *Tuple, h uint64, e *Entry, dir int) {
	if i := m.find(k, h); i >= 0 {
		m.slots[i].e, m.slots[i].dir = e, uint8(dir)
		return
	}
	if (m.n+1)*4 > len(m.slots)*3 {
		m.grow()
	}
	m.put(slot{e: e, h: slotHash(h), dir: uint8(dir)})
	m.n++
}

// put places s in the first empty slot from its home; k is not there.
func (m *tupleMap) put(s slot) {
	mask := uint32(len(m.slots) - 1)
	i := s.h & mask
	for m.slots[i].e != nil {
		i = (i + 1) & mask
	}
	m.slots[i] = s
}

func (m *tupleMap) grow() {
	old := m.slots
	m.slots = make([]slot, 2*len(old))
	for _, s := range old {
		if s.e != nil {
			m.put(s)
		}
	}
}

// del removes k. The slots after it in its probe run move back into
// the hole, each as far as its home allows, so that every remaining
// key stays reachable from its home without a tombstone.
func (m *tupleMap) del(k *Tuple, h uint64) {
	i := m.find(k, h)
	if i < 0 {
		return
	}
	mask := len(m.slots) - 1
	hole := i
	for j := (hole + 1) & mask; m.slots[j].e != nil; j = (j + 1) & mask {
		home := int(m.slots[j].h) & mask
		// The slot at j may fill the hole when its home is not in the
		// cyclic range (hole, j]: its probe passed the hole.
		if (j-home)&mask >= (j-hole)&mask {
			m.slots[hole] = m.slots[j]
			hole = j
		}
	}
	m.slots[hole] = slot{}
	m.n--
}

// all yields every slot's tuple and entry, in slot order.
func (m *tupleMap) all(yield func(Tuple, *Entry) bool) {
	for i := range m.slots {
		s := &m.slots[i]
		if s.e != nil && !yield(s.e.tuple[s.dir&1], s.e) {
			return
		}
	}
}

// eq is a == *b, field by field: the compiler compares each address
// with two 8-byte loads where == on the whole 38-byte struct calls
// memequal.
func (a *Tuple) eq(b *Tuple) bool {
	return a.Src == b.Src && a.Dst == b.Dst && a.SrcPort == b.SrcPort && a.DstPort == b.DstPort && a.Proto == b.Proto && a.V6 == b.V6
}

// len returns the number of tuples held.
func (m *tupleMap) len() int { return m.n }
