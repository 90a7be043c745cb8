package conntrack

import (
	"net/netip"
)

// HostAddr is one IPv6 address of the host, as the kernel keeps it
// (struct inet6_ifaddr): what MASQUERADE and REDIRECT choose from.
type HostAddr struct {
	Addr      netip.Addr
	PrefixLen int
	Dev       string // the interface it is on
	// Flags: a deprecated address (preferred lifetime over) is avoided;
	// a tentative one (duplicate address detection not done, and not
	// optimistic) is not a candidate at all; a temporary (privacy)
	// address is avoided with the default use_tempaddr.
	Deprecated, Tentative, Optimistic, Temporary bool
}

// Scope values of the kernel's __ipv6_addr_type, as
// __ipv6_addr_src_scope returns them (RFC 4291 multicast scopes).
const (
	scopeNode   = 0x1
	scopeLink   = 0x2
	scopeSite   = 0x5
	scopeGlobal = 0xe
)

// srcScope is __ipv6_addr_src_scope: a multicast address's own scope,
// link for fe80::/10 and the loopback address, site for fec0::/10,
// global for the rest; 0 for the unspecified address (no scope).
func srcScope(a netip.Addr) int {
	b := a.As16()
	switch {
	case b[0] == 0xff:
		return int(b[1] & 0x0f)
	case b[0] == 0xfe && b[1]&0xc0 == 0x80:
		return scopeLink
	case b[0] == 0xfe && b[1]&0xc0 == 0xc0:
		return scopeSite
	case a == netip.IPv6Loopback():
		return scopeLink
	case a == netip.IPv6Unspecified():
		return 0
	}
	return scopeGlobal
}

// ifaScope is ipv6_addr_scope, the scope an address's inet6_ifaddr
// records (IFA_HOST 0x10, IFA_LINK 0x20, IFA_SITE 0x40, IFA_GLOBAL 0):
// what REDIRECT compares.
func ifaScope(a netip.Addr) int {
	b := a.As16()
	s := srcScope(a)
	if b[0] == 0xff || a == netip.IPv6Loopback() {
		// Multicast: its scope as a type (node-local counts as
		// loopback); the loopback address is IPV6_ADDR_LOOPBACK.
		switch {
		case a == netip.IPv6Loopback(), s == scopeNode:
			return 0x10
		case s == scopeLink:
			return 0x20
		case s == scopeSite:
			return 0x40
		}
		return 0
	}
	switch s {
	case scopeLink:
		return 0x20
	case scopeSite:
		return 0x40
	}
	return 0
}

// kernelOrder returns the addresses of one interface (in the order they
// were added) in the order of its inet6_dev address list: sorted by
// scope, widest first (ipv6_link_dev_addr), the most recently added
// first among equals.
func kernelOrder(added []HostAddr) []HostAddr {
	var list []HostAddr
	for _, a := range added {
		s := srcScope(a.Addr)
		i := 0
		for i < len(list) && s < srcScope(list[i].Addr) {
			i++
		}
		list = append(list, HostAddr{})
		copy(list[i+1:], list[i:])
		list[i] = a
	}
	return list
}

// RedirectAddr6 is the address nf_nat_redirect_ipv6 redirects a packet
// for dst to, when it came in on an interface whose IPv6 addresses are
// in (in the order they were added): the first address of the
// interface's list with dst's scope, which is the one of that scope
// added last (IPv4's REDIRECT takes the interface's first address). ok
// is false when there is none (the kernel drops the packet). A packet
// the host sends itself (OUTPUT) is redirected to ::1 instead; that
// choice is the caller's.
func RedirectAddr6(dst netip.Addr, in []HostAddr) (netip.Addr, bool) {
	want := ifaScope(dst)
	for _, a := range kernelOrder(in) {
		if ifaScope(a.Addr) == want {
			return a.Addr, true
		}
	}
	return netip.Addr{}, false
}

// SelectSource6 is the kernel's ipv6_dev_get_saddr with no preferences,
// which MASQUERADE uses (nf_nat_masquerade_ipv6): the source address
// RFC 6724 (as Linux implements it) picks for a packet to dst leaving
// by interface out. addrs are the host's IPv6 addresses, the interfaces
// in the kernel's order (by index, lo first) and each interface's
// addresses in the order they were added. ok is false when no address
// qualifies (the kernel drops the packet).
//
// The candidates are the addresses of out alone when dst is multicast or
// of link-local (or smaller) scope, else every interface's; tentative,
// unspecified and multicast addresses never qualify. A candidate
// replaces the best so far only when it wins the first rule on which
// they differ: the same address as dst, the appropriate scope (the
// smallest one reaching dst, else the widest), not deprecated, on out,
// the same label (the default policy table), not temporary, ORCHID or
// not like dst, the longest common prefix (up to its prefix length).
func SelectSource6(dst netip.Addr, out string, addrs []HostAddr) (netip.Addr, bool) {
	dscope := srcScope(dst)
	oifOnly := dst.IsMulticast() || dscope <= scopeLink
	dlabel := addrLabel(dst)
	var best *saddrScore
	var cur saddrScore
	for i := 0; i < len(addrs); {
		j := i
		for j < len(addrs) && addrs[j].Dev == addrs[i].Dev {
			j++
		}
		if oifOnly && addrs[i].Dev != out {
			i = j
			continue
		}
		for _, a := range kernelOrder(addrs[i:j]) {
			if a.Tentative && !a.Optimistic || !a.Addr.Is6() || a.Addr.IsUnspecified() || a.Addr.IsMulticast() {
				continue
			}
			cur = scoreSaddr(a, dst, dscope, dlabel, out)
			if best == nil || cur.beats(best) {
				c := cur
				best = &c
			}
		}
		i = j
	}
	if best == nil {
		return netip.Addr{}, false
	}
	return best.addr, true
}

// saddrScore holds a candidate's value for each rule of
// ipv6_get_saddr_eval, in rule order; higher is better.
type saddrScore struct {
	addr  netip.Addr
	rules [9]int
}

func (s *saddrScore) beats(o *saddrScore) bool {
	for i := range s.rules {
		if s.rules[i] != o.rules[i] {
			return s.rules[i] > o.rules[i]
		}
	}
	return false
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func scoreSaddr(a HostAddr, dst netip.Addr, dscope, dlabel int, out string) saddrScore {
	s := saddrScore{addr: a.Addr}
	scope := srcScope(a.Addr)
	scoreScope := scope - 128 // not enough for the destination: wider is better
	if scope >= dscope {
		scoreScope = -scope // enough: narrower is better
	}
	// IPv4-mapped, IPv4-compatible and loopback addresses are always
	// "preferred" (ipv6_saddr_preferred).
	b := a.Addr.As16()
	special := a.Addr == netip.IPv6Loopback() ||
		[12]byte(b[:12]) == [12]byte{10: 0xff, 11: 0xff} || [12]byte(b[:12]) == [12]byte{}
	matchlen := commonPrefix(a.Addr, dst)
	if matchlen > a.PrefixLen {
		matchlen = a.PrefixLen
	}
	s.rules = [9]int{
		b2i(a.Addr == dst), // 1: same address
		scoreScope,         // 2: appropriate scope
		b2i(special || !a.Deprecated && !a.Optimistic), // 3: avoid deprecated (and optimistic) addresses
		b2i(a.Dev == out),                      // 5: outgoing interface
		b2i(addrLabel(a.Addr) == dlabel),       // 6: matching label
		b2i(!a.Temporary),                      // 7: public address (use_tempaddr < 2)
		b2i(isORCHID(a.Addr) == isORCHID(dst)), // 8-: ORCHID with ORCHID
		matchlen,                               // 8: longest matching prefix
		b2i(!a.Optimistic),                     // not optimistic
	}
	return s
}

// commonPrefix is ipv6_addr_diff: the number of leading bits a and b
// share.
func commonPrefix(a, b netip.Addr) int {
	x, y := a.As16(), b.As16()
	for i := range x {
		if d := x[i] ^ y[i]; d != 0 {
			n := i * 8
			for d&0x80 == 0 {
				d <<= 1
				n++
			}
			return n
		}
	}
	return 128
}

func isORCHID(a netip.Addr) bool {
	return netip.MustParsePrefix("2001:10::/28").Contains(a)
}

// addrLabels is the kernel's default address label table
// (ip6addrlbl_init_table, RFC 6724 with Linux's own labels).
var addrLabels = []struct {
	p     netip.Prefix
	label int
}{
	{netip.MustParsePrefix("::1/128"), 0},
	{netip.MustParsePrefix("::ffff:0:0/96"), 4},
	{netip.MustParsePrefix("::/96"), 3},
	{netip.MustParsePrefix("2001::/32"), 6},
	{netip.MustParsePrefix("2001:10::/28"), 7},
	{netip.MustParsePrefix("2002::/16"), 2},
	{netip.MustParsePrefix("3ffe::/16"), 12},
	{netip.MustParsePrefix("fec0::/10"), 11},
	{netip.MustParsePrefix("fc00::/7"), 5},
	{netip.MustParsePrefix("::/0"), 1},
}

// addrLabel is the label of the longest prefix of the table holding a.
func addrLabel(a netip.Addr) int {
	best, label := -1, 1
	for _, l := range addrLabels {
		if l.p.Bits() > best && l.p.Contains(a) {
			best, label = l.p.Bits(), l.label
		}
	}
	return label
}
