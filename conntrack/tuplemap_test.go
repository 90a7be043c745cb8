package conntrack

import (
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/ipsift/ipsift/ext"
)

// mapTuple returns a distinct tuple for i, IPv4 or IPv6 by i's parity
// (both families in one map, as the table holds them).
func mapTuple(i int) Tuple {
	k := Tuple{SrcPort: uint16(i), DstPort: uint16(i >> 16), Proto: protoTCP}
	k.Src[0], k.Src[1], k.Dst[0] = 192, 0, 2
	k.Src[2], k.Src[3] = byte(i>>8), byte(i)
	if i%2 == 1 {
		k.V6 = true
		k.Src[15], k.Dst[15] = byte(i>>24), 1
	}
	return k
}

// mapEntry returns an entry whose tuple dir is k (the other direction
// k inverted).
func mapEntry(k Tuple, dir int) *Entry {
	e := &Entry{}
	r, _ := k.Invert()
	e.tuple[dir], e.tuple[1-dir] = k, r
	return e
}

// checkMap checks m against the reference: the same keys, each
// reachable from its home without crossing an empty slot, and the
// count.
func checkMap(t *testing.T, m *tupleMap, ref map[Tuple]*Entry) {
	t.Helper()
	if m.len() != len(ref) {
		t.Fatalf("len %d, reference %d", m.len(), len(ref))
	}
	n := 0
	for k, e := range m.all {
		if ref[k] != e {
			t.Fatalf("slot for %v holds %p, reference %p", k, e, ref[k])
		}
		n++
	}
	if n != len(ref) {
		t.Fatalf("all yields %d, reference %d", n, len(ref))
	}
	for k, e := range ref {
		got, dir := m.get(&k, k.hash())
		if got != e || e.tuple[dir] != k {
			t.Fatalf("get %v: %p dir %d, want %p", k, got, dir, e)
		}
	}
	if m.n*4 > len(m.slots)*3 {
		t.Fatalf("%d of %d slots in use: more than 3/4", m.n, len(m.slots))
	}
}

// TestTupleMapRandom runs random insertions, replacements, deletions
// and lookups against a Go map, with hashes cut to a few bits now and
// then so that long probe runs, wrap-around and backward shifts over
// them happen.
func TestTupleMapRandom(t *testing.T) {
	for _, spread := range []int{64, 1000, 20000} {
		rng := rand.New(rand.NewPCG(uint64(spread), 7))
		m := newTupleMap()
		ref := map[Tuple]*Entry{}
		for step := range 60000 {
			i := rng.IntN(spread)
			k := mapTuple(i)
			h := k.hash()
			switch op := rng.IntN(10); {
			case op < 5:
				dir := rng.IntN(2)
				e := mapEntry(k, dir)
				m.set(&k, h, e, dir)
				ref[k] = e
			case op < 8:
				m.del(&k, h)
				delete(ref, k)
			default:
				got, _ := m.get(&k, h)
				if got != ref[k] {
					t.Fatalf("spread %d step %d: get %v = %p, want %p", spread, step, k, got, ref[k])
				}
			}
			if step%5000 == 0 {
				checkMap(t, &m, ref)
			}
		}
		checkMap(t, &m, ref)
		// Empty it: every slot is free again.
		for k := range ref {
			m.del(&k, k.hash())
		}
		for i := range m.slots {
			if m.slots[i].e != nil {
				t.Fatalf("slot %d still used after deleting everything", i)
			}
		}
		if m.len() != 0 {
			t.Fatalf("len %d after deleting everything", m.len())
		}
	}
}

// TestTupleMapCollisions forces every key to the same home (hash 0) and
// to two homes at the end of the slot array, so that probe runs wrap
// around and deletion shifts back across the wrap.
func TestTupleMapCollisions(t *testing.T) {
	for _, hash := range []func(i int) uint64{
		func(int) uint64 { return 0 },
		func(i int) uint64 { return uint64(7+i%2) << 32 }, // slots 7 and 0 of 8, then the end of larger arrays
	} {
		m := newTupleMap()
		ref := map[Tuple]*Entry{}
		hs := map[Tuple]uint64{}
		for i := range 40 {
			k := mapTuple(i)
			e := mapEntry(k, 0)
			hs[k] = hash(i)
			m.set(&k, hs[k], e, 0)
			ref[k] = e
		}
		for i := 0; i < 40; i += 3 {
			k := mapTuple(i)
			m.del(&k, hs[k])
			delete(ref, k)
		}
		for k, e := range ref {
			if got, _ := m.get(&k, hs[k]); got != e {
				t.Fatalf("get %v after deletions: %p, want %p", k, got, e)
			}
		}
		for i := 0; i < 40; i += 3 {
			k := mapTuple(i)
			if got, _ := m.get(&k, hs[k]); got != nil {
				t.Fatalf("deleted %v still found", k)
			}
		}
		if m.len() != len(ref) {
			t.Fatalf("len %d, want %d", m.len(), len(ref))
		}
	}
}

// TestTupleMapGrowth: the slot array doubles as tuples come, every
// tuple stays findable across each growth, and an entry is found by
// both its tuples with the direction of each.
func TestTupleMapGrowth(t *testing.T) {
	m := newTupleMap()
	var es []*Entry
	sizes := map[int]bool{}
	for i := range 5000 {
		k := mapTuple(i)
		e := mapEntry(k, 0)
		m.set(&e.tuple[0], e.tuple[0].hash(), e, 0)
		m.set(&e.tuple[1], e.tuple[1].hash(), e, 1)
		es = append(es, e)
		sizes[len(m.slots)] = true
	}
	if len(sizes) < 10 {
		t.Errorf("the array took only %d sizes for 10,000 tuples", len(sizes))
	}
	for _, e := range es {
		for dir := range 2 {
			k := e.tuple[dir]
			got, d := m.get(&k, k.hash())
			if got != e || d != dir {
				t.Fatalf("get %v: %p dir %d, want %p dir %d", k, got, d, e, dir)
			}
		}
	}
	if m.len() != 10000 {
		t.Errorf("len %d, want 10000", m.len())
	}
}

// TestTupleMapSameTuples: a connection whose two tuples are equal (a
// socket talking to itself) takes one slot, and the reply direction,
// set last, answers, as in the kernel's hash chains.
func TestTupleMapSameTuples(t *testing.T) {
	m := newTupleMap()
	k := Tuple{SrcPort: 5000, DstPort: 5000, Proto: protoUDP}
	k.Src[0], k.Dst[0] = 192, 192
	e := &Entry{}
	e.tuple = [2]Tuple{k, k}
	m.set(&k, k.hash(), e, 0)
	m.set(&k, k.hash(), e, 1)
	if got, dir := m.get(&k, k.hash()); got != e || dir != 1 || m.len() != 1 {
		t.Fatalf("got %p dir %d len %d, want the entry in the reply direction in one slot", got, dir, m.len())
	}
	m.del(&k, k.hash())
	if got, _ := m.get(&k, k.hash()); got != nil || m.len() != 0 {
		t.Fatalf("still there after del")
	}
}

// TestTableRandomAgainstReference drives the whole table (Track,
// Confirm, expiry by time) with random UDP flows of both families and
// checks after each step that Lookup by either tuple agrees with a
// reference of what should be alive, and the table's invariants.
func TestTableRandomAgainstReference(t *testing.T) {
	tb := New(Config{Max: 1 << 20})
	rng := rand.New(rand.NewPCG(3, 4))
	type flow struct {
		e    *Entry
		last int64
	}
	alive := map[Tuple]*flow{} // by original tuple
	timeout := tb.udpTimeout * 1e9 / int64(tb.hz)
	now := int64(sec)
	for step := range 20000 {
		now += int64(rng.IntN(20)) * 1e7 // up to 0.2 s
		i := rng.IntN(3000)
		src, dst := client, server
		if i%2 == 1 {
			src, dst = client6, server6
		}
		sport := uint16(10000 + i)
		p := decode(t, udpDatagram(src, dst, sport, 53, 8))
		e, st, reply := tb.Track(p, now)
		if e == nil {
			t.Fatalf("step %d: no entry (%v)", step, st)
		}
		if !tb.Confirm(e, now) {
			t.Fatalf("step %d: not confirmed", step)
		}
		k := e.OrigTuple()
		f := alive[k]
		if f != nil && now-f.last >= timeout {
			f = nil // it expired: the packet made a new connection
		}
		if f != nil && (f.e != e || reply) {
			t.Fatalf("step %d: %v found %p, want the alive %p", step, k, e, f.e)
		}
		if f == nil && st != ext.CTNew {
			t.Fatalf("step %d: %v state %v, want NEW", step, k, stateName(st, reply))
		}
		alive[k] = &flow{e, now}
		if step%1000 == 0 {
			tb.Expire(now)
			for k, f := range alive {
				got, _ := tb.Lookup(k, now)
				r := f.e.ReplyTuple()
				gotR, replyR := tb.Lookup(r, now)
				if now-f.last >= timeout {
					if got != nil || gotR != nil {
						t.Fatalf("step %d: expired %v still found", step, k)
					}
					delete(alive, k)
					continue
				}
				if got != f.e || gotR != f.e || !replyR {
					t.Fatalf("step %d: %v found %p / %p by its reply tuple, want %p", step, k, got, gotR, f.e)
				}
			}
			checkInvariants(t, tb)
		}
	}
}

// TestTupleEq: eq agrees with == for tuples that differ in any one
// field, and compares every field of Tuple (a field added must be
// added to eq).
func TestTupleEq(t *testing.T) {
	if n := reflect.TypeOf(Tuple{}).NumField(); n != 6 {
		t.Fatalf("Tuple has %d fields; eq compares 6", n)
	}
	a := mapTuple(12345)
	variants := []func(k *Tuple){
		func(k *Tuple) { k.Src[15] ^= 1 },
		func(k *Tuple) { k.Dst[0] ^= 1 },
		func(k *Tuple) { k.SrcPort++ },
		func(k *Tuple) { k.DstPort++ },
		func(k *Tuple) { k.Proto++ },
		func(k *Tuple) { k.V6 = !k.V6 },
	}
	if b := a; !a.eq(&b) {
		t.Fatal("a tuple differs from its copy")
	}
	for i, f := range variants {
		b := a
		f(&b)
		if a.eq(&b) || a == b {
			t.Errorf("variant %d: equal", i)
		}
	}
}
