// Package xrlim is the kernel's per-peer token bucket for the messages
// a host sends on its own (inet_peer_xrlim_allow): ICMP errors per
// destination, IPv6 Redirects. A bucket holds at most six tokens
// (XRLIM_BURST_FACTOR) and gains one every timeout; a peer the kernel
// has not seen yet starts full.
package xrlim

// Bucket is one peer's tokens and when they were last counted, in any
// unit of time (the kernel's is jiffies).
type Bucket struct {
	Tokens, Last int64
}

// New returns the bucket of a peer first seen at now: inet_getpeer sets
// its last count 60 seconds back (hz units a second), so that the first
// count finds it full.
func New(now, hz int64) Bucket { return Bucket{Last: now - 60*hz} }

// Allow takes a token at now when there is one, with one token every
// timeout (a timeout of 0 always allows). The bucket is refilled, and
// capped at six timeouts, only when time has passed since its last
// count: a timeout of 0 empties it then, but not within the same jiffy
// as its last use (so an ICMPv6 error sent in the jiffy of a Redirect
// for the same packet leaves the Redirect's bucket as it was).
func (b *Bucket) Allow(now, every int64) bool {
	t := b.Tokens
	if d := now - b.Last; d != 0 {
		b.Last = now
		t = min(t+d, 6*every)
	}
	ok := t >= every
	if ok {
		t -= every
	}
	b.Tokens = t
	return ok
}
