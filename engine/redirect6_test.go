package engine

import (
	"net/netip"
	"testing"
)

// TestPeerLimitsJiffies checks inet_peer_xrlim_allow as the IPv6 host's
// limits use it: a new address starts with a full bucket (six tokens of
// a second), an ICMPv6 error (timeout 0) empties it only when a jiffy
// has passed since its last use, and the bucket refills a jiffy at a
// time.
func TestPeerLimitsJiffies(t *testing.T) {
	a := netip.MustParseAddr("2001:db8:2::10")
	var l peerLimits
	now := int64(1_000_000_000_000)
	for i := 0; i < 6; i++ {
		if !l.allow(a, now) {
			t.Fatalf("token %d of a new address refused", i+1)
		}
	}
	if l.allow(a, now) {
		t.Fatal("a seventh token in the same jiffy allowed")
	}

	var m peerLimits
	m.allow(a, now) // a Redirect: five tokens left
	if !m.allowEvery(a, now, 0) {
		t.Fatal("an error refused")
	}
	if !m.allow(a, now+jiffyNS-1) {
		t.Fatal("an error in the same jiffy emptied the bucket")
	}
	if !m.allowEvery(a, now+2*jiffyNS, 0) {
		t.Fatal("an error refused")
	}
	if m.allow(a, now+3*jiffyNS) {
		t.Fatal("an error a jiffy later did not empty the bucket")
	}
	if !m.allow(a, now+3*jiffyNS+250*jiffyNS) {
		t.Fatal("the bucket did not refill a token in a second")
	}
}
