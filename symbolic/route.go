package symbolic

import (
	"encoding/binary"
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
		for _, p := range []string{"ff00::/8", "fe80::/10", "::1/128", "::/128", "ff01::1/128", "ff02::1/128", "ff01::2/128", "ff02::2/128", "ff05::2/128"} {
			add(netip.MustParsePrefix(p))
		}
		for _, ifc := range s.Host.Ifaces {
			for _, a := range ifc.Addrs {
				if a.Addr().Is6() {
					add(netip.PrefixFrom(host.SolicitedNode(a.Addr()), 128))
				}
			}
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
	_ = m
	s.routeMemo[key] = r
	return r
}

// addrType is the vector of the addrtype match's RTN_* type of v.
func (s *Space) addrType(v bdd.Vec) bdd.Vec {
	return s.classify(v, 4, func(a netip.Addr) uint64 { return uint64(s.Host.AddrType(a, "")) })
}

func vecKey(v bdd.Vec) string {
	b := make([]byte, 0, 4*len(v))
	for _, n := range v {
		b = binary.LittleEndian.AppendUint32(b, uint32(n))
	}
	return string(b)
}

// RoutedBy is the set of inputs that routing sends out interface
// number idx (as FOut numbers interfaces) by their destination as they
// arrive: a packet the host sends by its output device, an arriving one
// when it is forwarded (not when it is for the host). It answers "out
// IFACE" for a packet that never reached routing (dropped before it).
func (s *Space) RoutedBy(idx uint64) bdd.Node {
	m := s.M
	r := s.route(s.Input.F[FDst])
	v := uv(idx, s.IfBits)
	local := s.Input.F[FLocal][0]
	return m.Or(m.And(local, m.Eq(r.outDev, v)), m.And(m.Not(local), m.Diff(m.Eq(r.fwdOut, v), r.local)))
}

// LocalAddrs is the set of destinations the host delivers to itself.
func (s *Space) LocalAddrs(dst bdd.Vec) bdd.Node { return s.route(dst).local }

// arrival is routing for a packet arriving on the interfaces in: local
// delivery, dropped multicast, the forwarding interface or none, and
// sources the forwarding path drops.
type arrival struct {
	in, local, drop, noRoute, badSrc bdd.Node
	fwdOut                           bdd.Vec
}

// arrivals is routing of arriving packets as the engine's input path
// does it: for IPv4 by destination alone; for IPv6 per input interface
// (a link-local destination is the host's or a neighbour's on that link
// only, a multicast group counts where the host joined it), with
// ip6_forward's drops of sources it never forwards.
func (s *Space) arrivals(st *State) []arrival {
	m := s.M
	dst := st.F[FDst]
	if s.W == 32 {
		rt := s.route(dst)
		return []arrival{{in: bdd.True, local: rt.local, drop: bdd.False, noRoute: rt.noRoute, badSrc: bdd.False, fwdOut: rt.fwdOut}}
	}
	h := s.Host
	bit := func(v bdd.Vec, fn func(netip.Addr) bool) bdd.Node {
		return s.classify(v, 1, func(a netip.Addr) uint64 {
			if fn(a) {
				return 1
			}
			return 0
		})[0]
	}
	badSrc := bit(st.F[FSrc], func(a netip.Addr) bool {
		return a.IsUnspecified() || a.IsMulticast() || a.IsLoopback() || host.IsLinkLocal6(a)
	})
	var out []arrival
	for i, ifc := range s.Ifaces {
		if ifc.Name == "lo" {
			continue
		}
		name := ifc.Name
		linkDst := func(a netip.Addr) bool { return !a.IsMulticast() && host.IsLinkLocal6(a) }
		a := arrival{in: m.Eq(st.F[FIn], uv(uint64(i+1), s.IfBits))}
		a.drop = bit(dst, func(a netip.Addr) bool { return a.IsMulticast() && !h.Joined(a, name) })
		a.local = bit(dst, func(a netip.Addr) bool {
			switch {
			case a.IsMulticast():
				return h.Joined(a, name)
			case linkDst(a):
				return h.AddrType(a, name) == host.RTNLocal
			}
			return h.IsLocal(a)
		})
		route := func(a netip.Addr) (host.Route, bool) {
			if linkDst(a) {
				return h.LookupOn(a, name)
			}
			return h.Lookup(a)
		}
		a.fwdOut = s.classify(dst, s.IfBits, func(a netip.Addr) uint64 {
			rt, ok := route(a)
			if !ok {
				return 0
			}
			return uint64(s.ifIndex(rt.Dev))
		})
		a.noRoute = bit(dst, func(a netip.Addr) bool { _, ok := route(a); return !ok })
		sameLink := m.Eq(a.fwdOut, uv(uint64(i+1), s.IfBits))
		a.badSrc = m.Diff(badSrc, sameLink)
		out = append(out, a)
	}
	return out
}

// broadcast is "v is a broadcast address of the host model" (IPv4).
func (s *Space) broadcast(v bdd.Vec) bdd.Node {
	if s.W != 32 {
		return bdd.False
	}
	return s.classify(v, 1, func(a netip.Addr) uint64 {
		if s.Host.AddrType(a, "") == host.RTNBroadcast {
			return 1
		}
		return 0
	})[0]
}

// SilentReject is where a REJECT of the leaf's packets sends no answer,
// so that the packet is simply dropped (nf_send_reset, nf_send_unreach
// and icmp_send): a broadcast or multicast destination; for a TCP reset
// a RST; for an ICMP error an ICMP error (or an ICMP type above 18, an
// ICMPv6 error or redirect) and a UDP packet conntrack calls INVALID
// (which only a wrong checksum or length makes, and then no answer is
// sent). False for a leaf that is not a REJECT.
func (s *Space) SilentReject(l *Leaf) bdd.Node {
	i := strings.Index(l.Verdict, "reject")
	if i < 0 {
		return bdd.False
	}
	m := s.M
	st := l.St
	t := s.addrType(st.F[FDst])
	silent := m.Or(m.Eq(t, uv(3, 4)), m.Eq(t, uv(5, 4)))
	proto := st.F[FProto]
	if strings.Contains(l.Verdict[i:], "tcp-reset") {
		return m.Or(silent, m.EqMasked(st.F[FFlags], uv(0x04, 8), uv(0x04, 8)))
	}
	typ := st.F[FIType]
	var icmpErr bdd.Node
	if s.W == 32 {
		icmpErr = m.Ge(typ, uv(19, 8))
		for _, e := range []uint64{3, 4, 5, 11, 12} {
			icmpErr = m.Or(icmpErr, m.Eq(typ, uv(e, 8)))
		}
		icmpErr = m.And(m.Eq(proto, uv(1, 8)), icmpErr)
	} else {
		icmpErr = m.And(m.Eq(proto, uv(58, 8)), m.Le(typ, uv(127, 8)))
		// icmp6_send answers no packet from :: or a multicast source.
		src := st.F[FSrc]
		icmpErr = m.Or(icmpErr, m.Or(m.Eq(src, uv(0, 128)), m.EqMasked(src, s.addrVec(netip.MustParseAddr("ff00::")), s.addrVec(netip.MustParseAddr("ff00::")))))
	}
	invalidUDP := m.And(m.Eq(proto, uv(17, 8)), s.ctIs(st.F[FCT], CTInvalid))
	return m.Or(silent, m.Or(icmpErr, invalidUDP))
}

// Silenced is the leaf with a REJECT that answers nothing: the same
// path, dropped.
func Silenced(l *Leaf, g bdd.Node) *Leaf {
	i := strings.Index(l.Verdict, "reject")
	return &Leaf{G: g, Verdict: l.Verdict[:i] + "drop", St: l.St, Why: l.Why}
}
