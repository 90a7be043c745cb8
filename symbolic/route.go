package symbolic

import (
	"net/netip"
	"strings"

	"github.com/ipsift/ipsift/bdd"
	"github.com/ipsift/ipsift/host"
)

// routeFn is what routing makes of a destination: delivered to the host
// (input path), the interface a forwarded packet leaves by and whether
// there is a route at all, and the interface a packet the host sends
// leaves by.
type routeFn struct {
	local   bdd.Node // INPUT rather than FORWARD
	noRoute bdd.Node // forwarding finds no route
	fwdOut  bdd.Vec  // FORWARD's output interface
	outDev  bdd.Vec  // a sent packet's output interface (lo for the host's own)
	sendErr bdd.Node // a send finds no route
	mcast6  bdd.Node // IPv6 multicast or link-local: not modelled (see domain)
}

// specialPrefixes are the prefixes within which the host model answers
// alike for every address: its addresses, subnets, broadcasts, routes.
func (s *Space) specialPrefixes() []netip.Prefix {
	var ps []netip.Prefix
	add := func(p netip.Prefix) {
		if p.IsValid() && p.Addr().BitLen() == s.W {
			ps = append(ps, p.Masked())
		}
	}
	for _, ifc := range s.Host.Ifaces {
		for _, a := range ifc.Addrs {
			add(netip.PrefixFrom(a.Addr(), s.W))
			add(a.Masked())
			if s.W == 32 && a.Bits() < 31 {
				b := a.Masked().Addr().As4()
				hostBits := 32 - a.Bits()
				v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
				v |= 1<<hostBits - 1
				add(netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), 32))
			}
		}
	}
	for _, r := range s.Host.Routes {
		add(r.Dst)
	}
	if s.W == 32 {
		for _, p := range []string{"0.0.0.0/32", "255.255.255.255/32", "224.0.0.0/4", "127.0.0.0/8"} {
			add(netip.MustParsePrefix(p))
		}
	} else {
		for _, p := range []string{"ff00::/8", "fe80::/10", "::1/128", "::/128"} {
			add(netip.MustParsePrefix(p))
		}
	}
	return ps
}

// classify builds the vector of fn(address) over the address vector v:
// fn must answer alike within every region the special prefixes leave.
func (s *Space) classify(v bdd.Vec, width int, fn func(netip.Addr) uint64) bdd.Vec {
	ps := s.specialPrefixes()
	var rec func(p netip.Prefix) bdd.Vec
	rec = func(p netip.Prefix) bdd.Vec {
		split := false
		for _, q := range ps {
			if q.Bits() > p.Bits() && p.Contains(q.Addr()) {
				split = true
				break
			}
		}
		if !split || p.Bits() == s.W {
			return uv(fn(p.Addr()), width)
		}
		lo := netip.PrefixFrom(p.Addr(), p.Bits()+1)
		hiAddr := setBit(p.Addr(), p.Bits())
		hi := netip.PrefixFrom(hiAddr, p.Bits()+1)
		return s.M.Select(v[p.Bits()], rec(hi), rec(lo))
	}
	zero := netip.IPv4Unspecified()
	if s.W == 128 {
		zero = netip.IPv6Unspecified()
	}
	return rec(netip.PrefixFrom(zero, 0))
}

func setBit(a netip.Addr, i int) netip.Addr {
	if a.Is4() {
		b := a.As4()
		b[i/8] |= 1 << (7 - i%8)
		return netip.AddrFrom4(b)
	}
	b := a.As16()
	b[i/8] |= 1 << (7 - i%8)
	return netip.AddrFrom16(b)
}

// route is routing for the destination vector dst.
func (s *Space) route(dst bdd.Vec) routeFn {
	key := vecKey(dst)
	if r, ok := s.routeMemo[key]; ok {
		return r
	}
	h := s.Host
	m := s.M
	one := func(fn func(netip.Addr) bool) bdd.Node {
		return s.classify(dst, 1, func(a netip.Addr) uint64 {
			if fn(a) {
				return 1
			}
			return 0
		})[0]
	}
	var r routeFn
	r.local = one(h.IsLocal)
	r.noRoute = one(func(a netip.Addr) bool { _, ok := h.Lookup(a); return !ok })
	r.fwdOut = s.classify(dst, s.IfBits, func(a netip.Addr) uint64 {
		rt, ok := h.Lookup(a)
		if !ok {
			return 0
		}
		return uint64(s.ifIndex(rt.Dev))
	})
	outDev := func(a netip.Addr) (string, bool) {
		switch h.AddrType(a, "") {
		case host.RTNLocal:
			return "lo", true
		case host.RTNBroadcast:
			if rt, ok := h.Lookup(a); ok {
				return rt.Dev, true
			}
			return "lo", true
		}
		rt, ok := h.Lookup(a)
		return rt.Dev, ok
	}
	r.outDev = s.classify(dst, s.IfBits, func(a netip.Addr) uint64 {
		d, _ := outDev(a)
		return uint64(s.ifIndex(d))
	})
	r.sendErr = one(func(a netip.Addr) bool { _, ok := outDev(a); return !ok })
	if s.W == 128 {
		r.mcast6 = one(func(a netip.Addr) bool { return a.IsMulticast() || host.IsLinkLocal6(a) })
	} else {
		r.mcast6 = bdd.False
	}
	_ = m
	s.routeMemo[key] = r
	return r
}

// addrType is the vector of the addrtype match's RTN_* type of v.
func (s *Space) addrType(v bdd.Vec) bdd.Vec {
	return s.classify(v, 4, func(a netip.Addr) uint64 { return uint64(s.Host.AddrType(a, "")) })
}

func vecKey(v bdd.Vec) string {
	var b strings.Builder
	for _, n := range v {
		b.WriteString(itoa(int(n)))
		b.WriteByte(',')
	}
	return b.String()
}

// LocalAddrs is the set of destinations the host delivers to itself.
func (s *Space) LocalAddrs(dst bdd.Vec) bdd.Node { return s.route(dst).local }
