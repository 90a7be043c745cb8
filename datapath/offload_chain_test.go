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
		o.pushOrig(f)
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
	o.pushOrig(a)
	o.pushOrig(b)
	o.dropOrig(b)
	if o.popOrig(k) != a || len(o.byOrig) != 1 {
		t.Fatalf("after dropping the tail and popping the head: %v", o.byOrig)
	}
	if o.popOrig(k2) != x || len(o.byOrig) != 0 {
		t.Fatalf("the other tuple: %v", o.byOrig)
	}
	// Joining a taken-back predecessor allocates nothing.
	o.pushOrig(a)
	if n := testing.AllocsPerRun(100, func() {
		o.pushOrig(b)
		o.dropOrig(b)
	}); n != 0 {
		t.Errorf("pushOrig onto a chain: %v allocations", n)
	}
}
