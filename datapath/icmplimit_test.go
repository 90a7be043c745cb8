package datapath

import (
	"net/netip"
	"testing"
)

// icmpv4 builds an IPv4 packet to dst carrying ICMP type and code (or,
// with proto not ICMP, a bare header of that protocol).
func icmpv4(dst string, proto, typ, code uint8) []byte {
	b := make([]byte, 28)
	b[0], b[9] = 0x45, proto
	copy(b[12:16], []byte{198, 51, 100, 1})
	a := netip.MustParseAddr(dst).As4()
	copy(b[16:20], a[:])
	b[20], b[21] = typ, code
	return b
}

func icmpv6(dst string, typ uint8) []byte {
	b := make([]byte, 48)
	b[0], b[6] = 0x60, 58
	a := netip.MustParseAddr(dst).As16()
	copy(b[24:40], a[:])
	b[40] = typ
	return b
}

func TestICMPLimit(t *testing.T) {
	local := netip.MustParseAddr("198.51.100.1")
	l, err := newICMPLimit(icmpSettings{RateLimit4: 1000, RateMask4: 0x1818, RateLimit6: 100, RateMask6: "0-1,3-127"}, 250,
		func(a netip.Addr) bool { return a == local })
	if err != nil {
		t.Fatal(err)
	}
	const s = int64(1e9)
	count := func(b []byte, now int64, n int) int {
		sent := 0
		for i := 0; i < n; i++ {
			if l.allow(b, now) {
				sent++
			}
		}
		return sent
	}
	unreach := icmpv4("203.0.113.7", 1, 3, 3)
	start := 100 * s
	// A full bucket: six, then one a second.
	if n := count(unreach, start, 20); n != 6 {
		t.Fatalf("burst: %d sent, want 6", n)
	}
	if n := count(unreach, start+s/2, 5); n != 0 {
		t.Fatalf("after 0.5 s: %d sent, want 0", n)
	}
	if n := count(unreach, start+s+s/4, 5); n != 1 {
		t.Fatalf("after 1.25 s: %d sent, want 1", n)
	}
	if n := count(unreach, start+2*s+s/4, 5); n != 1 {
		t.Fatalf("after 2.25 s: %d sent, want 1", n)
	}
	// After 6 s idle the bucket is full again.
	if n := count(unreach, start+9*s, 20); n != 6 {
		t.Fatalf("after idling: %d sent, want 6", n)
	}
	// Another destination has a bucket of its own.
	if n := count(icmpv4("203.0.113.8", 1, 3, 1), start+9*s, 20); n != 6 {
		t.Fatalf("another destination: %d sent, want 6", n)
	}
	// Never limited: a RST, Fragmentation Needed, a type outside the
	// mask (echo reply), an error to the host itself.
	for name, b := range map[string][]byte{
		"tcp-reset":   icmpv4("203.0.113.7", 6, 0, 0),
		"frag needed": icmpv4("203.0.113.7", 1, 3, 4),
		"echo reply":  icmpv4("203.0.113.7", 1, 0, 0),
		"to the host": icmpv4("198.51.100.1", 1, 3, 3),
	} {
		if n := count(b, start+9*s, 20); n != 20 {
			t.Errorf("%s: %d of 20 sent, want all", name, n)
		}
	}
	// IPv6: 100 ms = 25 jiffies, whatever the route's prefix.
	u6 := icmpv6("2001:db8::7", 1)
	if n := count(u6, start, 20); n != 6 {
		t.Fatalf("IPv6 burst: %d, want 6", n)
	}
	if n := count(u6, start+s/20, 20); n != 0 {
		t.Fatalf("IPv6 after 50 ms: %d, want 0 (a token every 100 ms)", n)
	}
	if n := count(u6, start+s/10, 20); n != 1 {
		t.Fatalf("IPv6 after 100 ms: %d, want 1", n)
	}
	for name, b := range map[string][]byte{"packet too big": icmpv6("2001:db8::7", 2), "echo reply": icmpv6("2001:db8::7", 129)} {
		if n := count(b, start, 20); n != 20 {
			t.Errorf("IPv6 %s: %d of 20, want all", name, n)
		}
	}
	// ratelimit 0: nothing limited.
	off, _ := newICMPLimit(icmpSettings{RateMask4: 0x1818}, 250, nil)
	for i := 0; i < 50; i++ {
		if !off.allow(unreach, start) {
			t.Fatal("limited with icmp_ratelimit 0")
		}
	}
	if _, err := newICMPLimit(icmpSettings{RateMask6: "3-1"}, 250, nil); err == nil {
		t.Error("a bad ratemask was taken")
	}
}
