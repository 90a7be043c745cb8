package xrlim

import "testing"

func TestAllow(t *testing.T) {
	const hz, every = 250, 250 // a token a second
	b := New(1000, hz)
	n := 0
	for i := 0; i < 20; i++ {
		if b.Allow(1000, every) {
			n++
		}
	}
	if n != 6 {
		t.Fatalf("a new peer's burst: %d, want 6", n)
	}
	if b.Allow(1000+every-1, every) {
		t.Fatal("a token before its time")
	}
	if !b.Allow(1000+2*every-1, every) || b.Allow(1000+2*every-1, every) {
		t.Fatal("want one token after a second (the failed try counted its time)")
	}
	z := New(0, hz)
	for i := 0; i < 10; i++ {
		if !z.Allow(0, 0) {
			t.Fatal("a timeout of 0 refused")
		}
	}
}
