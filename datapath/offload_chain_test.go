package datapath

import "testing"

// TestOffloadByOrigChain: byOrig keeps the flows of one original tuple
// oldest first, as the destroy events end them (popOrig), the dump
// settles the newest (newestOrig), and a refused create leaves from
// wherever it is (dropOrig); other tuples are untouched.
func TestOffloadByOrigChain(t *testing.T) {
	o := &offloader{byOrig: map[ckey]*flow{}}
	k := ckey{src: [4]byte{203, 0, 113, 7}, dst: [4]byte{198, 51, 100, 1}, sport: 40123, dport: 80, proto: 6}
	k2 := k
	k2.sport++
	mk := func(key ckey) *flow { return &flow{orig: key} }
	a, b, c, x := mk(k), mk(k), mk(k), mk(k2)
	for _, f := range []*flow{a, x, b, c} {
		o.pushOrig(f, nil)
	}
	if got := o.newestOrig(k); got != c {
		t.Fatalf("newest: got %p, want c %p", got, c)
	}
	// The middle one refused: a then c remain, in that order.
	o.dropOrig(b)
	if b.newer != nil {
		t.Errorf("a dropped flow keeps a link")
	}
	if got := o.popOrig(k); got != a || a.newer != nil {
		t.Fatalf("first pop: got %p, want a %p (unlinked)", got, a)
	}
	if got := o.newestOrig(k); got != c {
		t.Fatalf("newest after a pop: got %p, want c", got)
	}
	// The head refused: the tuple's entry goes with its last flow.
	o.dropOrig(c)
	if _, ok := o.byOrig[k]; ok || o.popOrig(k) != nil || o.newestOrig(k) != nil {
		t.Fatalf("tuple k still in byOrig: %v", o.byOrig)
	}
	// The tail refused, then the head's event: nothing left of k.
	o.pushOrig(a, nil)
	o.pushOrig(b, nil)
	o.dropOrig(b)
	if o.popOrig(k) != a || len(o.byOrig) != 1 {
		t.Fatalf("after dropping the tail and popping the head: %v", o.byOrig)
	}
	if o.popOrig(k2) != x || len(o.byOrig) != 0 {
		t.Fatalf("the other tuple: %v", o.byOrig)
	}
	// Joining a taken-back predecessor allocates nothing.
	o.pushOrig(a, nil)
	if n := testing.AllocsPerRun(100, func() {
		o.pushOrig(b, nil)
		o.dropOrig(b)
	}); n != 0 {
		t.Errorf("pushOrig onto a chain: %v allocations", n)
	}
	// A hint joins its chain at the tail; a hint whose event came (out
	// of byOrig), or of another tuple, is not used.
	o.pushOrig(b, a)
	o.pushOrig(c, a)
	if got := o.newestOrig(k); got != c || a.newer != b || b.newer != c {
		t.Fatalf("joining by a hint: newest %p, want c %p; chain a->%p b->%p", got, c, a.newer, b.newer)
	}
	o.popOrig(k)
	o.popOrig(k)
	o.popOrig(k)
	d := mk(k)
	o.pushOrig(d, a)
	if o.byOrig[k] != d || a.newer != nil {
		t.Fatalf("a stale hint linked d behind a popped flow: byOrig[k] %p, want d %p", o.byOrig[k], d)
	}
	e := mk(k)
	o.pushOrig(e, x) // x is of k2 and not in byOrig
	if d.newer != e || x.newer != nil {
		t.Fatalf("another tuple's hint: d.newer %p, want e %p", d.newer, e)
	}
}
