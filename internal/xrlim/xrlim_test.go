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

// TestSameJiffy: a count within the jiffy of the last one neither
// refills nor caps, so a timeout of 0 then leaves the tokens alone.
func TestSameJiffy(t *testing.T) {
	b := New(1000, 250)
	b.Allow(1000, 250) // five tokens of 250 left
	if !b.Allow(1000, 0) || b.Tokens != 5*250 {
		t.Fatalf("timeout 0 in the same jiffy: tokens %d, want %d", b.Tokens, 5*250)
	}
	if !b.Allow(1001, 0) || b.Tokens != 0 {
		t.Fatalf("timeout 0 a jiffy later: tokens %d, want 0", b.Tokens)
	}
}
