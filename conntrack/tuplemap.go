package conntrack

// tupleMap maps tuples to connections, IPv4 and IPv6 in one table as
// the kernel's conntrack hash holds both. IPv4 tuples are kept under a
// compact key of their own (14 bytes instead of a Tuple's 38), so that
// the IPv4 path hashes and stores no more than it did before IPv6
// existed: half the map memory per IPv4 connection, and a hash over 14
// bytes on every lookup. The map is not safe for concurrent use; the
// shard's lock guards it.
type tupleMap struct {
	m4 map[key4]*Entry
	m6 map[Tuple]*Entry
}

// key4 is an IPv4 tuple without the 24 address bytes an IPv4 tuple
// leaves zero.
type key4 struct {
	src, dst         [4]byte
	srcPort, dstPort uint16
	proto            uint8
}

func keyOf4(k Tuple) key4 { return key4{v4(k.Src), v4(k.Dst), k.SrcPort, k.DstPort, k.Proto} }

func (k key4) tuple() Tuple {
	return Tuple{Src: addr4(k.src), Dst: addr4(k.dst), SrcPort: k.srcPort, DstPort: k.dstPort, Proto: k.proto}
}

func newTupleMap() tupleMap {
	return tupleMap{m4: make(map[key4]*Entry), m6: make(map[Tuple]*Entry)}
}

func (m *tupleMap) get(k Tuple) *Entry {
	if k.V6 {
		return m.m6[k]
	}
	return m.m4[keyOf4(k)]
}

func (m *tupleMap) set(k Tuple, e *Entry) {
	if k.V6 {
		m.m6[k] = e
	} else {
		m.m4[keyOf4(k)] = e
	}
}

func (m *tupleMap) del(k Tuple) {
	if k.V6 {
		delete(m.m6, k)
	} else {
		delete(m.m4, keyOf4(k))
	}
}

// all yields every slot, IPv4 first, each family in map (random) order.
func (m *tupleMap) all(yield func(Tuple, *Entry) bool) {
	for k, e := range m.m4 {
		if !yield(k.tuple(), e) {
			return
		}
	}
	for k, e := range m.m6 {
		if !yield(k, e) {
			return
		}
	}
}
