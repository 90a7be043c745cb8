package datapath

import (
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/ipsift/ipsift/internal/xrlim"
	"github.com/ipsift/ipsift/packet"
)

// icmpLimit limits the ICMP errors ipsift sends for REJECT as the
// kernel's icmp_send limits the ones it sends: per destination address,
// a token bucket of inet_peer_xrlim_allow (a token every icmp_ratelimit,
// at most XRLIM_BURST_FACTOR = 6 of them, full for an address not seen
// before), for the ICMP types in icmp_ratemask, except Fragmentation
// Needed (never limited) and errors to the host itself (routed over
// loopback). IPv6 likewise with net.ipv6.icmp.ratelimit, for the types
// in net.ipv6.icmp.ratemask below 128 other than Packet Too Big. (Before
// Linux commit 0201eedb69b2, in 6.18 stable, icmpv6_xrlim_allow halved
// the timeout for every 32 bits the route's prefix was shorter than 128;
// the reference kernel no longer does, and its default ratelimit went
// from 1000 ms to 100 ms.) The settings are the namespace's
// own, read from /proc/sys when ipsift starts; the kernel counts in
// jiffies, and so does the limit (HZ).
//
// Not reproduced: the global limit (icmp_msgs_per_sec, icmp_msgs_burst),
// which consumes a random 0-2 credits per message (DIFFERENCES.md); and
// the kernel's own errors (the host stack's) share the kernel's buckets,
// not these.
type icmpLimit struct {
	hz int64
	// v4 and v6 timeouts in jiffies (0: no limit); masks of the limited
	// types.
	every4, every6 int64
	mask4          uint32
	mask6          [2]uint64 // types 0-127
	local          func(netip.Addr) bool

	mu    sync.Mutex
	peers map[netip.Addr]xrlim.Bucket
	swept int64 // the jiffy of the last sweep
}

// icmpSettings are the sysctls the limit follows.
type icmpSettings struct {
	RateLimit4, RateMask4 int    // net.ipv4.icmp_ratelimit (ms), icmp_ratemask
	RateLimit6            int    // net.ipv6.icmp.ratelimit (ms)
	RateMask6             string // net.ipv6.icmp.ratemask, a list like "0-1,3-127"
}

// readICMPSettings reads the namespace's ICMP limits from /proc/sys
// (root is "/proc/sys" but for tests). A missing IPv6 part (IPv6 off)
// leaves IPv6 unlimited.
func readICMPSettings(root string) (icmpSettings, error) {
	var s icmpSettings
	read := func(name string) (string, error) {
		b, err := os.ReadFile(root + "/" + name)
		return strings.TrimSpace(string(b)), err
	}
	for _, v := range []struct {
		name string
		to   *int
	}{{"net/ipv4/icmp_ratelimit", &s.RateLimit4}, {"net/ipv4/icmp_ratemask", &s.RateMask4}} {
		t, err := read(v.name)
		if err != nil {
			return s, err
		}
		if *v.to, err = strconv.Atoi(t); err != nil {
			return s, fmt.Errorf("%s: %q: %v", v.name, t, err)
		}
	}
	if t, err := read("net/ipv6/icmp/ratelimit"); err == nil {
		s.RateLimit6, _ = strconv.Atoi(t)
		s.RateMask6, _ = read("net/ipv6/icmp/ratemask")
	}
	return s, nil
}

// newICMPLimit makes the limit for settings s with the kernel's tick
// rate hz; local says whether an address is the host's own.
func newICMPLimit(s icmpSettings, hz int, local func(netip.Addr) bool) (*icmpLimit, error) {
	l := &icmpLimit{hz: int64(hz), mask4: uint32(s.RateMask4), local: local}
	// proc_dointvec_ms_jiffies: milliseconds in, jiffies kept
	// (msecs_to_jiffies rounds up).
	jiffies := func(ms int) int64 { return (int64(ms)*l.hz + 999) / 1000 }
	if s.RateLimit4 > 0 {
		l.every4 = jiffies(s.RateLimit4)
	}
	if s.RateLimit6 > 0 {
		l.every6 = jiffies(s.RateLimit6)
	}
	if s.RateMask6 != "" {
		for _, part := range strings.Split(s.RateMask6, ",") {
			lo, hi, isRange := strings.Cut(part, "-")
			a, err1 := strconv.Atoi(lo)
			b := a
			var err2 error
			if isRange {
				b, err2 = strconv.Atoi(hi)
			}
			if err1 != nil || err2 != nil || a < 0 || b < a || b > 255 {
				return nil, fmt.Errorf("net.ipv6.icmp.ratemask %q: want a list of types and ranges like 0-1,3-127", s.RateMask6)
			}
			for t := a; t <= min(b, 127); t++ {
				l.mask6[t/64] |= 1 << (t % 64)
			}
		}
	}
	return l, nil
}

// allow reports whether the answer b may be sent at time now (ns) and
// takes a token for it when it is limited. Only ICMP errors are
// limited: a RST (tcp-reset) always goes.
func (l *icmpLimit) allow(b []byte, now int64) bool {
	if l == nil || len(b) < 1 {
		return true
	}
	var dst netip.Addr
	var every int64
	switch b[0] >> 4 {
	case 4:
		ihl := int(b[0]&0xf) * 4
		if len(b) < ihl+2 || b[9] != packet.ProtoICMP || l.every4 == 0 {
			return true
		}
		typ, code := b[ihl], b[ihl+1]
		if typ > 18 || typ == 3 && code == 4 || l.mask4&(1<<typ) == 0 {
			return true
		}
		dst, every = netip.AddrFrom4([4]byte(b[16:20])), l.every4
	case 6:
		if len(b) < 41 || b[6] != packet.ProtoICMPv6 || l.every6 == 0 {
			return true
		}
		typ := b[40]
		if typ >= 128 || typ == 2 || l.mask6[typ/64]&(1<<(typ%64)) == 0 {
			return true
		}
		dst, every = netip.AddrFrom16([16]byte(b[24:40])), l.every6
	default:
		return true
	}
	if l.local != nil && l.local(dst) {
		return true // routed over loopback: not limited
	}
	return l.take(dst, now*l.hz/1e9, every)
}

// take is inet_peer_xrlim_allow for the bucket of dst at jiffies now.
func (l *icmpLimit) take(dst netip.Addr, now, every int64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.peers == nil {
		l.peers = map[netip.Addr]xrlim.Bucket{}
	}
	p, ok := l.peers[dst]
	if !ok {
		p = xrlim.New(now, l.hz)
		if len(l.peers) >= 4096 && l.swept != now {
			l.swept = now // at most one sweep a jiffy, however many new addresses
			l.sweep(now, every)
		}
	}
	allowed := p.Allow(now, every)
	l.peers[dst] = p
	return allowed
}

// sweep forgets the buckets that are full again: a new one would be the
// same (the kernel's inet_peer entries expire after minutes, long after
// their bucket is full).
func (l *icmpLimit) sweep(now, every int64) {
	for a, p := range l.peers {
		if now-p.Last >= 6*max(l.every4, l.every6, every) {
			delete(l.peers, a)
		}
	}
}
