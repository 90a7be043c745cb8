package analyze

import (
	"math"
	"net/netip"
	"slices"
	"strings"

	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/rules"
)

// addrAtoms turns addresses into points of dimSrc and dimDst. An IPv4
// address is its own 32-bit point (a nil *addrAtoms). IPv6 addresses
// have 128 bits, which the 32-bit dimensions cannot hold, but a ruleset
// names only a few address intervals (prefixes, iprange ranges): their
// ends cut the 128-bit line into elementary intervals, inside which no
// rule can tell two addresses apart. Point i stands for the i-th
// elementary interval, the last one for every point from there to
// MaxUint32. Every interval the ruleset names is then a range of points,
// so prefixes, negations and ranges stay exact.
type addrAtoms struct {
	starts []netip.Addr // sorted first addresses of the elementary intervals; starts[0] is ::
}

// wellKnown6 are IPv6 prefixes the analysis itself asks about (the
// neighbour discovery probes), cut into the line beside the ruleset's.
var wellKnown6 = []netip.Prefix{
	netip.MustParsePrefix("::/128"),
	netip.MustParsePrefix("::1/128"),
	netip.MustParsePrefix("fe80::/10"),
	netip.MustParsePrefix("fe80::/64"),
	netip.MustParsePrefix("ff00::/8"),
	netip.MustParsePrefix("ff02::/16"),
	netip.MustParsePrefix("ff02::1/128"),
	netip.MustParsePrefix("ff02::2/128"),
	netip.MustParsePrefix("ff02::1:ff00:0/104"),
	netip.MustParsePrefix("2000::/3"),
}

// newAddrAtoms returns the atoms of rs's addresses: nil for IPv4.
func newAddrAtoms(rs *rules.Ruleset) *addrAtoms {
	if rs.Family&ext.IPv6 == 0 || rs.Family&ext.IPv4 != 0 {
		return nil
	}
	seen := map[netip.Addr]bool{netip.IPv6Unspecified(): true}
	cut := func(lo, hi netip.Addr) {
		if !lo.Is6() || !hi.Is6() || hi.Less(lo) {
			return
		}
		seen[lo] = true
		if n := hi.Next(); n.IsValid() {
			seen[n] = true
		}
	}
	for _, p := range wellKnown6 {
		lo, hi := prefixEnds(p.Addr(), p.Bits())
		cut(lo, hi)
	}
	for _, t := range rs.Tables {
		for _, c := range t.Chains {
			for _, r := range c.Rules {
				for _, am := range [][2]netip.Addr{{r.Src, r.SrcMask}, {r.Dst, r.DstMask}} {
					if n := maskBits(am[1]); am[0].Is6() && n >= 0 {
						lo, hi := prefixEnds(am[0], n)
						cut(lo, hi)
					}
				}
				for _, m := range r.Matches {
					if m.Type.Name != "iprange" {
						continue
					}
					var b strings.Builder
					m.M.Save(&b)
					for _, w := range strings.Fields(b.String()) {
						if lo, hi, ok := addrRange(w); ok {
							cut(lo, hi)
						}
					}
				}
			}
		}
	}
	a := &addrAtoms{}
	for s := range seen {
		a.starts = append(a.starts, s)
	}
	slices.SortFunc(a.starts, netip.Addr.Compare)
	return a
}

// maskBits is the prefix length of mask, 128 for none, -1 when not
// contiguous.
func maskBits(mask netip.Addr) int {
	if !mask.IsValid() {
		return 128
	}
	return ext.MaskLen(mask)
}

// prefixEnds returns the first and last address of a/n, in a's family.
func prefixEnds(a netip.Addr, n int) (lo, hi netip.Addr) {
	l, h := a.AsSlice(), a.AsSlice()
	for i := range l {
		keep := max(0, min(8, n-8*i)) // bits of byte i in the prefix
		m := byte(0xff << (8 - keep))
		l[i] &= m
		h[i] = l[i] | ^m
	}
	lo, _ = netip.AddrFromSlice(l)
	hi, _ = netip.AddrFromSlice(h)
	return lo, hi
}

// addrRange reads iprange's "A-B" with IPv6 ends.
func addrRange(w string) (lo, hi netip.Addr, ok bool) {
	l, h, found := strings.Cut(w, "-")
	a, err1 := netip.ParseAddr(l)
	b, err2 := netip.ParseAddr(h)
	if !found || err1 != nil || err2 != nil || !a.Is6() || !b.Is6() || a.Zone() != "" || b.Zone() != "" {
		return lo, hi, false
	}
	return a, b, true
}

// index is the point of the elementary interval holding address x.
func (a *addrAtoms) index(x netip.Addr) uint32 {
	i, found := slices.BinarySearchFunc(a.starts, x, netip.Addr.Compare)
	if !found {
		i--
	}
	return uint32(i)
}

// interval returns the points of the addresses lo..hi, both ends
// included; ok is false when lo or hi+1 is not an interval's start (an
// interval newAddrAtoms was not told about), or for an address of the
// wrong family.
func (a *addrAtoms) interval(lo, hi netip.Addr) (set, bool) {
	if a == nil {
		if !lo.Is4() || !hi.Is4() {
			return nil, false
		}
		return rangeSet(ext.U32(lo), ext.U32(hi)), true
	}
	if !lo.Is6() || !hi.Is6() {
		return nil, false
	}
	if hi.Less(lo) {
		return nil, true
	}
	l := a.index(lo)
	if a.starts[l] != lo {
		return nil, false
	}
	next := hi.Next()
	if !next.IsValid() {
		return rangeSet(l, math.MaxUint32), true
	}
	h := a.index(next)
	if a.starts[h] != next {
		return nil, false
	}
	return rangeSet(l, h-1), true
}

// prefix returns the points of p.
func (a *addrAtoms) prefix(p netip.Prefix) set {
	lo, hi := prefixEnds(p.Addr(), p.Bits())
	s, _ := a.interval(lo, hi)
	return s
}

// bounds returns the addresses the points lo..hi stand for.
func (a *addrAtoms) bounds(lo, hi uint32) (first, last netip.Addr) {
	if a == nil {
		return u32Addr(lo), u32Addr(hi)
	}
	n := uint32(len(a.starts))
	first = a.starts[min(lo, n-1)]
	if hi >= n-1 {
		return first, netip.AddrFrom16([16]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	}
	return first, a.starts[hi+1].Prev()
}

func u32Addr(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// rangeText prints an address range as a prefix when it is one.
func rangeText(lo, hi netip.Addr) string {
	if lo == hi {
		return lo.String()
	}
	for n := 0; n <= lo.BitLen(); n++ {
		if l, h := prefixEnds(lo, n); l == lo && h == hi {
			return netip.PrefixFrom(lo, n).String()
		}
	}
	return lo.String() + "-" + hi.String()
}

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }
