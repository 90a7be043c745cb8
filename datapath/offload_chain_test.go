package datapath

import "testing"

// TestOffloadByOrigChain: byOrig keeps the flows of one original tuple
// oldest first, as the destroy events end them (eventFlow), the dump
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
	if got := o.eventFlow(k, ckey{}); got != a || a.newer != nil {
		t.Fatalf("first pop: got %p, want a %p (unlinked)", got, a)
	}
	if got := o.newestOrig(k); got != c {
		t.Fatalf("newest after a pop: got %p, want c", got)
	}
	// The head refused: the tuple's entry goes with its last flow.
	o.dropOrig(c)
	if _, ok := o.byOrig[k]; ok || o.eventFlow(k, ckey{}) != nil || o.newestOrig(k) != nil {
		t.Fatalf("tuple k still in byOrig: %v", o.byOrig)
	}
	// The tail refused, then the head's event: nothing left of k.
	o.pushOrig(a, nil)
	o.pushOrig(b, nil)
	o.dropOrig(b)
	if o.eventFlow(k, ckey{}) != a || len(o.byOrig) != 1 {
		t.Fatalf("after dropping the tail and popping the head: %v", o.byOrig)
	}
	if o.eventFlow(k2, ckey{}) != x || len(o.byOrig) != 0 {
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
	o.eventFlow(k, ckey{})
	o.eventFlow(k, ckey{})
	o.eventFlow(k, ckey{})
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

// TestOffloadEventFlow: a destroy event ends the oldest flow of its
// original tuple whose reply tuple is the event's, and an event that
// matches no flow (an entry ipsift has no record of) ends none.
func TestOffloadEventFlow(t *testing.T) {
	o := &offloader{byOrig: map[ckey]*flow{}}
	k := ckey{src: [4]byte{203, 0, 113, 7}, dst: [4]byte{198, 51, 100, 1}, sport: 40123, dport: 80, proto: 6}
	to := func(last byte) ckey {
		return ckey{src: [4]byte{192, 0, 2, last}, dst: k.src, sport: 80, dport: k.sport, proto: 6}
	}
	a, b, c := &flow{orig: k, reply: to(10)}, &flow{orig: k, reply: to(20)}, &flow{orig: k, reply: to(10)}
	for _, f := range []*flow{a, b, c} {
		o.pushOrig(f, nil)
	}
	if f := o.eventFlow(k, to(30)); f != nil || o.byOrig[k] != a || a.newer != b || b.newer != c {
		t.Fatalf("an event for no known entry took %p; chain a->%p b->%p", f, a.newer, b.newer)
	}
	if f := o.eventFlow(k, to(20)); f != b || o.byOrig[k] != a || a.newer != c {
		t.Fatalf("the event of b's entry took %p, want b %p; a.newer %p, want c", f, b, a.newer)
	}
	if f := o.eventFlow(k, to(10)); f != a || o.byOrig[k] != c {
		t.Fatalf("the first event of two alike took %p, want the older a %p", f, a)
	}
	if f := o.eventFlow(k, to(10)); f != c || len(o.byOrig) != 0 {
		t.Fatalf("the last event took %p, want c %p; byOrig %v", f, c, o.byOrig)
	}
}
