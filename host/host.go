// Package host models the machine a ruleset runs on: its interfaces and
// addresses, its routes, and how its own stack answers what it is sent.
// The engine asks it where a packet goes (delivered locally, forwarded
// out of which interface, or dropped for want of a route) and the
// addrtype match asks it what kind of address an address is.
//
// The default host is the one gateway.rules describes: eth0 faces the
// outside with 198.51.100.1/24 and a default route via 198.51.100.254,
// wlan0 faces the inside with 192.0.2.1/24. Its IPv6 twin
// (../shared/formats/packets.md, "IPv6") has 2001:db8:100::1/64 on eth0
// with a default route via 2001:db8:100::fe, 2001:db8:2::1/64 on wlan0,
// and on each interface the link-local address of its MAC.
package host

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/ipsift/ipsift/ext"
)

// Iface is one interface of the host.
type Iface struct {
	ext.Iface
	Addrs []netip.Prefix // its addresses with their prefix lengths, IPv4 and IPv6
	// autoLL: the link-local address in Addrs was derived from the MAC,
	// not written in the host file (String leaves it out).
	autoLL bool
	// Peer is the link address of the neighbour that packets arriving
	// on this interface come from, when a description does not say.
	Peer [6]byte
}

// Route sends destinations within Dst out of Dev, via Gateway when set.
type Route struct {
	Dst     netip.Prefix
	Gateway netip.Addr
	Dev     string
}

// Stack describes how the host's own stack answers packets delivered to
// it (../shared/formats/packets.md, "The host's own stack").
type Stack struct {
	// Listening holds the open sockets (protocol and port); a SYN
	// to any other TCP port is answered with a RST, a UDP datagram to any
	// other port with an ICMP port unreachable.
	Listening map[Socket]bool
	// EchoIgnoreAll is net.ipv4.icmp_echo_ignore_all.
	EchoIgnoreAll bool
	// ICMPRateLimit is net.ipv4.icmp_ratelimit in milliseconds (0: none).
	ICMPRateLimit int
}

// Socket is a listening socket: a protocol (6 tcp, 17 udp) and a port.
type Socket struct {
	Proto uint8
	Port  uint16
}

// Host is the machine: interfaces, routes and stack behaviour.
//
// Ifaces and Routes must not change once the Host has been looked up in
// (its lookups are compiled from them: see fib.go); Stack may.
type Host struct {
	Ifaces []*Iface
	Routes []Route
	Stack  Stack
	fib    atomic.Pointer[fib]
}

// Default returns the host of gateway.rules, with the reference host's
// stack settings (no listening sockets, echo requests ignored, no ICMP
// rate limit).
func Default() *Host {
	h, err := Parse(strings.NewReader(DefaultText), "default host")
	if err != nil {
		panic(err) // the built-in text is fixed and tested
	}
	return h
}

// DefaultText is the default host in the host file format.
const DefaultText = `# The host of gateway.rules.
iface lo 127.0.0.1/8 ::1/128
iface eth0 198.51.100.1/24 2001:db8:100::1/64 mac 02:00:00:00:00:01 peer 02:00:00:00:01:01
iface wlan0 192.0.2.1/24 2001:db8:2::1/64 mac 02:00:00:00:00:02 peer 02:00:00:00:02:01
route default via 198.51.100.254 dev eth0
route default via 2001:db8:100::fe dev eth0
echo-ignore-all
`

// Parse reads a host file: one statement per line, '#' comments.
//
//	iface NAME [ADDR/LEN ...] [mac XX:XX:XX:XX:XX:XX] [peer XX:XX:XX:XX:XX:XX] [group N]
//	route PREFIX|default|default6 [via GATEWAY] dev NAME
//	listen tcp/PORT | udp/PORT
//	echo-ignore-all | echo-reply
//	icmp-ratelimit MS
//
// Addresses are IPv4 or IPv6. group is the interface's device group
// (what `ip link set dev NAME group N` sets; -m devgroup reads it): a
// number (decimal, hex with 0x, octal with 0) up to 4294967295 (the
// kernel's 32 bits; `ip link` itself takes up to 2147483647) or the
// name "default" (0, iproute2's /etc/iproute2/group), 0 when not given. Routes for the interfaces' own subnets are
// added automatically, as the kernel does when an address is assigned;
// so are, as the kernel does for every interface with a link address,
// the interface's IPv6 link-local address from its MAC (EUI-64) with its
// fe80::/64 route, and the ff00::/8 multicast route. "default" is the
// default route of the gateway's family (IPv4 without a gateway);
// "default6" the IPv6 one.
func Parse(r io.Reader, name string) (*Host, error) {
	h := &Host{Stack: Stack{Listening: map[Socket]bool{}}}
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		f := strings.Fields(sc.Text())
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		bad := func(format string, a ...any) error {
			return fmt.Errorf("%s:%d: %s", name, line, fmt.Sprintf(format, a...))
		}
		switch f[0] {
		case "iface":
			if len(f) < 2 {
				return nil, bad("iface needs a name")
			}
			ifc := &Iface{Iface: ext.Iface{Name: ext.Intern(f[1]), Index: len(h.Ifaces) + 1}}
			for i := 2; i < len(f); i++ {
				if f[i] == "group" {
					if i+1 >= len(f) {
						return nil, bad("group needs a number: write group N as `ip link set dev %s group N` takes it", ifc.Name)
					}
					g, err := ParseGroup(f[i+1])
					if err != nil {
						return nil, bad("%v", err)
					}
					ifc.Group = g
					i++
					continue
				}
				if (f[i] == "mac" || f[i] == "peer") && i+1 < len(f) {
					hw, err := net.ParseMAC(f[i+1])
					if err != nil || len(hw) != 6 {
						return nil, bad("bad MAC address %q", f[i+1])
					}
					if f[i] == "mac" {
						copy(ifc.MAC[:], hw)
					} else {
						copy(ifc.Peer[:], hw)
					}
					i++
					continue
				}
				p, err := netip.ParsePrefix(f[i])
				if err != nil || p.Addr().Zone() != "" || p.Addr().Is4In6() {
					return nil, bad("bad interface address %q: write ADDR/LEN such as 192.0.2.1/24 or 2001:db8::1/64", f[i])
				}
				ifc.Addrs = append(ifc.Addrs, p)
			}
			h.Ifaces = append(h.Ifaces, ifc)
		case "route":
			if len(f) < 2 {
				return nil, bad("route needs a destination")
			}
			var rt Route
			if f[1] == "default" || f[1] == "default6" {
				rt.Dst = netip.MustParsePrefix("0.0.0.0/0")
				if f[1] == "default6" || len(f) > 3 && f[2] == "via" && strings.Contains(f[3], ":") {
					rt.Dst = netip.MustParsePrefix("::/0")
				}
			} else {
				p, err := netip.ParsePrefix(f[1])
				if err != nil {
					return nil, bad("bad route destination %q", f[1])
				}
				rt.Dst = p.Masked()
			}
			for i := 2; i+1 < len(f); i += 2 {
				switch f[i] {
				case "via":
					a, err := netip.ParseAddr(f[i+1])
					if err != nil || a.Is4() != rt.Dst.Addr().Is4() {
						return nil, bad("bad gateway %q for %s: write an address of the route's family", f[i+1], f[1])
					}
					rt.Gateway = a
				case "dev":
					rt.Dev = f[i+1]
				default:
					return nil, bad("unknown route keyword %q (via, dev)", f[i])
				}
			}
			if rt.Dev == "" {
				return nil, bad("route %s needs dev NAME", f[1])
			}
			h.Routes = append(h.Routes, rt)
		case "listen":
			if len(f) != 2 || !(strings.HasPrefix(f[1], "tcp/") || strings.HasPrefix(f[1], "udp/")) {
				return nil, bad("write listen tcp/PORT or listen udp/PORT")
			}
			proto, port, _ := strings.Cut(f[1], "/")
			n, err := strconv.Atoi(port)
			if err != nil || n < 1 || n > 65535 {
				return nil, bad("bad port in %q", f[1])
			}
			sock := Socket{Proto: 6, Port: uint16(n)}
			if proto == "udp" {
				sock.Proto = 17
			}
			h.Stack.Listening[sock] = true
		case "echo-ignore-all":
			h.Stack.EchoIgnoreAll = true
		case "echo-reply":
			h.Stack.EchoIgnoreAll = false
		case "icmp-ratelimit":
			if len(f) != 2 {
				return nil, bad("icmp-ratelimit MS")
			}
			fmt.Sscan(f[1], &h.Stack.ICMPRateLimit)
		default:
			return nil, bad("unknown statement %q (iface, route, listen, echo-ignore-all, echo-reply, icmp-ratelimit)", f[0])
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	for _, rt := range h.Routes {
		if h.Iface(rt.Dev) == nil {
			return nil, fmt.Errorf("%s: route %s uses unknown interface %s", name, rt.Dst, rt.Dev)
		}
	}
	for _, ifc := range h.Ifaces {
		if ifc.MAC != [6]byte{} {
			// addrconf: every interface with a link address gets its
			// EUI-64 link-local address and the multicast route.
			ll := netip.PrefixFrom(LinkLocal(ifc.MAC), 64)
			if !slices.Contains(ifc.Addrs, ll) {
				ifc.Addrs = append(ifc.Addrs, ll)
				ifc.autoLL = true
			}
			h.Routes = append(h.Routes, Route{Dst: multicast6, Dev: ifc.Name})
		}
	}
	// Connected routes, as the kernel adds with each address (an IPv6
	// /128 has none of its own: the local table has the address).
	for _, ifc := range h.Ifaces {
		for _, a := range ifc.Addrs {
			if a.Addr().Is6() && (a.Bits() == 128 || ifc.Name == "lo") {
				continue
			}
			rt := Route{Dst: a.Masked(), Dev: ifc.Name}
			if !slices.Contains(h.Routes, rt) {
				h.Routes = append(h.Routes, rt)
			}
		}
	}
	// Longest prefix first within each family, IPv4 before IPv6: an
	// address is never in a prefix of the other family, so an IPv4
	// lookup (the hot one) meets no IPv6 route before its own.
	sort.SliceStable(h.Routes, func(i, j int) bool {
		a, b := h.Routes[i].Dst, h.Routes[j].Dst
		if a.Addr().Is4() != b.Addr().Is4() {
			return a.Addr().Is4()
		}
		return a.Bits() > b.Bits()
	})
	h.fib.Store(h.compile())
	return h, nil
}

// ParseGroup reads a device group as iproute2's rtnl_group_a2n does: a
// name of /etc/iproute2/group (Debian's defines "default", 0) or a
// number in C's base 0 (decimal, 0x hex, 0 octal), not negative, at
// most 4294967295.
func ParseGroup(s string) (uint32, error) {
	if s == "default" {
		return 0, nil
	}
	v, err := strconv.ParseUint(s, 0, 32)
	if err != nil || strings.HasPrefix(s, "+") || strings.HasPrefix(s, "0o") || strings.HasPrefix(s, "0b") || strings.Contains(s, "_") {
		return 0, fmt.Errorf("bad device group %q: write a number from 0 to 4294967295 (or default), as `ip link set dev X group N` takes it", s)
	}
	return uint32(v), nil
}

// Iface returns the named interface or nil.
func (h *Host) Iface(name string) *Iface {
	for _, i := range h.Ifaces {
		if i.Name == name {
			return i
		}
	}
	return nil
}

// IsLocal reports whether addr is one of the host's own addresses
// (loopback's whole 127.0.0.0/8 included), or a broadcast address the
// host receives: such packets go to INPUT. For IPv6 it is an address of
// the host's or a subnet-router anycast address of one of its links;
// whether a multicast group is received depends on the interface: see
// Joined.
func (h *Host) IsLocal(addr netip.Addr) bool {
	return LocalType(addr, h.AddrType(addr, ""))
}

// LocalType is IsLocal's answer for addr given its type t, which
// AddrType(addr, "") returned.
func LocalType(addr netip.Addr, t int) bool {
	if addr.Is6() {
		return t == RTNLocal || t == RTNAnycast
	}
	return t == RTNLocal || t == RTNBroadcast
}

// RTN_* route types, as the addrtype match numbers them.
const (
	RTNUnicast     = 1
	RTNLocal       = 2
	RTNBroadcast   = 3
	RTNAnycast     = 4
	RTNMulticast   = 5
	RTNUnreachable = 7
)

// AddrType returns the type the kernel's local routing table gives addr
// (inet_dev_addr_type): the limited broadcast and 0.0.0.0 are broadcast,
// 224/4 multicast, the host's addresses local, the broadcast address of
// each of its subnets broadcast, anything else unicast. dev, when set,
// limits the local table's answer to entries of that device. For IPv6:
// ff00::/8 is multicast, the host's addresses (::1 on lo) local, the
// subnet-router anycast address of each of its prefixes anycast,
// anything else unicast.
func (h *Host) AddrType(addr netip.Addr, dev string) int {
	if t, ok := fixedType(addr); ok {
		return t
	}
	if t, _, ok := h.lookupLocal(addr, dev); ok {
		return t
	}
	return RTNUnicast
}

// fixedType is the type of the addresses whose type no table decides:
// IPv4's 0.0.0.0 and limited broadcast (broadcast), multicast of either
// family, and what is not an address (unicast).
func fixedType(addr netip.Addr) (int, bool) {
	if addr.Is6() {
		if addr.IsMulticast() {
			return RTNMulticast, true
		}
		return 0, false
	}
	if !addr.Is4() {
		return RTNUnicast, true
	}
	b := addr.As4()
	if addr.IsUnspecified() || b == [4]byte{255, 255, 255, 255} {
		return RTNBroadcast, true
	}
	if b[0] >= 224 && b[0] <= 239 {
		return RTNMulticast, true
	}
	return 0, false
}

// Joined reports whether the host receives the IPv6 multicast group on
// interface dev: the all-nodes groups (ff01::1, ff02::1), the
// all-routers groups a forwarding host joins (ff01::2, ff02::2,
// ff05::2), and the solicited-node group (ff02::1:ffXX:XXXX) of each of
// the interface's addresses. A packet to any other group (mDNS's ff02::fb)
// never reaches INPUT.
func (h *Host) Joined(group netip.Addr, dev string) bool {
	if !group.Is6() || !group.IsMulticast() {
		return false
	}
	switch group {
	case allNodes1, allNodes2, allRouters1, allRouters2, allRouters5:
		return dev != "lo"
	}
	ifc := h.Iface(dev)
	if ifc == nil {
		return false
	}
	for _, p := range ifc.Addrs {
		if p.Addr().Is6() && SolicitedNode(p.Addr()) == group {
			return true
		}
	}
	return false
}

var (
	allNodes1   = netip.MustParseAddr("ff01::1")
	allNodes2   = netip.MustParseAddr("ff02::1")
	allRouters1 = netip.MustParseAddr("ff01::2")
	allRouters2 = netip.MustParseAddr("ff02::2")
	allRouters5 = netip.MustParseAddr("ff05::2")
	multicast6  = netip.MustParsePrefix("ff00::/8")
)

// SolicitedNode returns the solicited-node multicast group of a (RFC
// 4291: ff02::1:ff00:0/104 and a's last 24 bits).
func SolicitedNode(a netip.Addr) netip.Addr {
	b := a.As16()
	return netip.AddrFrom16([16]byte{0xff, 0x02, 10: 0, 11: 1, 12: 0xff, 13: b[13], 14: b[14], 15: b[15]})
}

// LinkLocal returns the EUI-64 link-local address of a MAC (RFC 4291
// appendix A: the universal/local bit flipped, ff:fe in the middle), as
// the kernel's addrconf gives an interface.
func LinkLocal(mac [6]byte) netip.Addr {
	return netip.AddrFrom16([16]byte{0xfe, 0x80, 8: mac[0] ^ 2, 9: mac[1], 10: mac[2], 11: 0xff, 12: 0xfe, 13: mac[3], 14: mac[4], 15: mac[5]})
}

// IsLinkLocal6 reports an IPv6 address of link-local scope: fe80::/10
// unicast, or a multicast group of link- or interface-local scope.
func IsLinkLocal6(a netip.Addr) bool {
	if !a.Is6() {
		return false
	}
	// All on the bytes (netip's tests are calls): a.IsMulticast(),
	// which holds for an IPv4-mapped multicast address too, then
	// linkLocal6 (fe80::/10) contains a.
	b := a.As16()
	if b[0] == 0xff || mapped4(&b) && b[12]&0xf0 == 0xe0 {
		return b[1]&0xf <= 2
	}
	return b[0] == 0xfe && b[1]&0xc0 == 0x80 && a.Zone() == ""
}

// DstKind6 is what the input path asks of an IPv6 packet's destination,
// on the bytes in one pass: a.IsMulticast() (an IPv4-mapped multicast
// address included, as netip counts it), and, when it is not multicast,
// IsLinkLocal6(a).
func DstKind6(a netip.Addr) (multicast, linkLocal bool) {
	if !a.Is6() {
		return a.IsMulticast(), false
	}
	b := a.As16()
	if b[0] == 0xff || mapped4(&b) && b[12]&0xf0 == 0xe0 {
		return true, false
	}
	return false, b[0] == 0xfe && b[1]&0xc0 == 0x80 && a.Zone() == ""
}

// mapped4 reports an IPv4-mapped IPv6 address (::ffff:0:0/96).
func mapped4(b *[16]byte) bool {
	return binary.BigEndian.Uint64(b[:8]) == 0 && binary.BigEndian.Uint32(b[8:12]) == 0xffff
}

// Unroutable6 is what ip6_forward tests of an IPv6 source before it
// forwards a packet, on the bytes: whether it is unspecified, multicast
// or loopback (netip's IsUnspecified, IsMulticast, IsLoopback, IPv4-mapped
// forms included as they count them), and whether it is IsLinkLocal6.
func Unroutable6(a netip.Addr) (never, linkLocal bool) {
	if !a.Is6() {
		return a.IsUnspecified() || a.IsMulticast() || a.IsLoopback(), false
	}
	b := a.As16()
	hi, lo := binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
	m4 := mapped4(&b)
	switch {
	case hi == 0 && lo == 1: // ::1, with or without a zone
		return true, false
	case hi == 0 && lo == 0 && a.Zone() == "": // ::, IPv6Unspecified
		return true, false
	case b[0] == 0xff || m4 && b[12]&0xf0 == 0xe0:
		return true, b[1]&0xf <= 2
	case m4 && b[12] == 127:
		return true, false
	}
	return false, b[0] == 0xfe && b[1]&0xc0 == 0x80 && a.Zone() == ""
}

// RouteTypes6 is xt_addrtype's match_lookup_rt6: the address types the
// IPv6 route lookup of addr gives, as RTN_* bits (1<<RTNLocal ...).
// Without dev: unreachable when no route covers addr, local for an
// address of the host, anycast for a subnet-router anycast address.
// With dev (--limit-iface-in/out): local when the address is dev's own
// (nf_ipv6_chk_addr, strict), unreachable when no route through dev
// covers it, anycast as without.
func (h *Host) RouteTypes6(addr netip.Addr, dev string) uint16 {
	var m uint16
	if dev != "" {
		if t, _, ok := h.localEntry(addr, dev); ok && t == RTNLocal {
			m |= 1 << RTNLocal
		}
	}
	t, _, local := h.lookupLocal(addr, "")
	if !local {
		if _, found := h.lookupRoute(addr, dev); !found {
			return 1 << RTNUnreachable
		}
		return m
	}
	switch {
	case t == RTNLocal && dev == "":
		m |= 1 << RTNLocal
	case t == RTNAnycast:
		m |= 1 << RTNAnycast
	}
	return m
}

// localEntry looks addr up in the kernel's local routing table as the
// host's addresses make it: each address is a local /32 and each subnet
// (shorter than /31) has its broadcast address, both on the address's
// interface; loopback's whole prefix is local. The /32 entries are
// longer than loopback's prefix, so they win (127.255.255.255 is
// broadcast). dev, when set, keeps only that interface's entries. The
// IPv6 local table: each address of an interface is local on it, and
// with forwarding on (the model's hosts forward) each of its prefixes
// shorter than /127 has its subnet-router anycast address (the prefix
// with a zero host part).
func (h *Host) localEntry(addr netip.Addr, dev string) (rtnType int, ifname string, ok bool) {
	t, i, ok := h.lookupLocal(addr, dev)
	if !ok {
		return 0, "", false
	}
	return t, h.Ifaces[i].Name, true
}

// AddrIface returns the interface that has addr among its addresses
// (the device of the local table's entry for it, the rt6i_idev of its
// local route): "" when addr is not one of the host's.
func (h *Host) AddrIface(addr netip.Addr) string {
	if t, ifname, ok := h.localEntry(addr, ""); ok && t == RTNLocal {
		return ifname
	}
	return ""
}

// ReverseRoute implements ext.ReverseRouter: the fib_lookup the rpfilter
// match makes for a packet's source dst (local table first, then the
// routes), giving the route's RTN_* type and whether its interface is
// dev. Unlike AddrType it treats no address specially: the kernel's
// lookup of 0.0.0.0, 255.255.255.255 or a multicast source finds
// whatever route covers it (the default route). The model has no
// routing rules, so src, mark and tos (which only rules would look at)
// change nothing. For IPv6 (ip6t_rpfilter's ip6_route_lookup) a
// link-local source is looked up on dev alone (RT6_LOOKUP_F_IFACE): it
// has a route when dev has a link-local prefix; an anycast route is
// not unicast. It does not allocate.
func (h *Host) ReverseRoute(dst, src netip.Addr, mark uint32, tos uint8, dev string) (rtnType int, usesDev bool, ok bool) {
	if dst.Is6() {
		if t, ifname, ok := h.localEntry(dst, ""); ok {
			return t, ifname == dev, true
		}
		if IsLinkLocal6(dst) && !dst.IsMulticast() {
			if _, ok := h.LookupOn(dst, dev); ok {
				return RTNUnicast, true, true
			}
			return 0, false, false
		}
		if r, ok := h.Lookup(dst); ok {
			return RTNUnicast, r.Dev == dev, true
		}
		return 0, false, false
	}
	if !dst.Is4() {
		return 0, false, false
	}
	if t, ifname, ok := h.localEntry(dst, ""); ok {
		return t, ifname == dev, true
	}
	if r, ok := h.Lookup(dst); ok {
		return RTNUnicast, r.Dev == dev, true
	}
	return 0, false, false
}

func broadcastOf(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v |= ^uint32(0) >> p.Bits()
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// Lookup finds the route for dst: the longest matching prefix. ok is
// false when nothing routes it (the kernel then drops a forwarded packet
// with a host-unreachable error and fails a local send).
func (h *Host) Lookup(dst netip.Addr) (rt Route, ok bool) {
	i, ok := h.lookupRoute(dst, "")
	if !ok {
		return Route{}, false
	}
	return h.Routes[i], true
}

// LookupOn finds the route for dst among the routes through dev, as the
// kernel's strict lookup of a link-local address on its interface.
func (h *Host) LookupOn(dst netip.Addr, dev string) (rt Route, ok bool) {
	i, ok := h.lookupRoute(dst, dev)
	if !ok {
		return Route{}, false
	}
	return h.Routes[i], true
}

// SourceFor returns the address the host uses to reach dst out of dev: the
// first address of the interface of dst's family in the same subnet as
// the route's gateway or dst, else its first address of that family
// (what MASQUERADE uses). For IPv6 a link-local dst gets the interface's
// link-local address, any other a global one before a link-local one
// (RFC 6724's scope rule), and one of the host's own addresses beyond
// link scope itself.
func (h *Host) SourceFor(dev string, dst netip.Addr) (netip.Addr, bool) {
	ifc := h.Iface(dev)
	if ifc == nil {
		return netip.Addr{}, false
	}
	if dst.Is6() && !IsLinkLocal6(dst) && h.AddrIface(dst) != "" {
		// ipv6_dev_get_saddr: for a destination beyond link scope the
		// candidates are every interface's addresses, and the same
		// address wins (RFC 6724 rule 1).
		return dst, true
	}
	var first, firstLL netip.Addr
	for _, p := range ifc.Addrs {
		if p.Addr().Is4() != dst.Is4() {
			continue
		}
		if p.Contains(dst) {
			return p.Addr(), true
		}
		if dst.Is6() && IsLinkLocal6(p.Addr()) {
			if !firstLL.IsValid() {
				firstLL = p.Addr()
			}
			continue
		}
		if !first.IsValid() {
			first = p.Addr()
		}
	}
	if dst.Is6() && (IsLinkLocal6(dst) || !first.IsValid()) {
		first = firstLL
	}
	return first, first.IsValid()
}

// String prints the host in its file format (connected routes left out).
func (h *Host) String() string {
	var b strings.Builder
	for _, ifc := range h.Ifaces {
		fmt.Fprintf(&b, "iface %s", ifc.Name)
		for _, a := range ifc.Addrs {
			if ifc.autoLL && a.Addr() == LinkLocal(ifc.MAC) {
				continue
			}
			fmt.Fprintf(&b, " %s", a)
		}
		if ifc.MAC != [6]byte{} {
			fmt.Fprintf(&b, " mac %s", net.HardwareAddr(ifc.MAC[:]))
		}
		if ifc.Peer != [6]byte{} {
			fmt.Fprintf(&b, " peer %s", net.HardwareAddr(ifc.Peer[:]))
		}
		if ifc.Group != 0 {
			fmt.Fprintf(&b, " group %d", ifc.Group)
		}
		b.WriteByte('\n')
	}
	for _, r := range h.Routes {
		if !r.Gateway.IsValid() && (h.connected(r) || r.Dst == multicast6) {
			continue
		}
		dst := r.Dst.String()
		if r.Dst.Bits() == 0 {
			dst = "default"
			if r.Dst.Addr().Is6() && !r.Gateway.IsValid() {
				dst = "default6"
			}
		}
		fmt.Fprintf(&b, "route %s", dst)
		if r.Gateway.IsValid() {
			fmt.Fprintf(&b, " via %s", r.Gateway)
		}
		fmt.Fprintf(&b, " dev %s\n", r.Dev)
	}
	return b.String()
}

func (h *Host) connected(r Route) bool {
	ifc := h.Iface(r.Dev)
	if ifc == nil {
		return false
	}
	for _, a := range ifc.Addrs {
		if a.Masked() == r.Dst {
			return true
		}
	}
	return false
}

// RouteSource returns the address the host sends from towards dst: the
// address of the route's interface in the same subnet as the next hop,
// else its first address (the kernel's preferred source); for one of the
// host's own IPv6 addresses, SourceFor on the interface that has it.
// REJECT uses it as the source of ICMP errors about forwarded packets.
func (h *Host) RouteSource(dst netip.Addr) (netip.Addr, bool) {
	if dev := h.AddrIface(dst); dev != "" && dst.Is6() {
		// The local table comes first: an address of the host's is
		// routed on the interface that has it (whose candidates, for
		// a link-local one, are the only ones).
		return h.SourceFor(dev, dst)
	}
	rt, ok := h.Lookup(dst)
	if !ok {
		return netip.Addr{}, false
	}
	hop := dst
	if rt.Gateway.IsValid() {
		hop = rt.Gateway
	}
	return h.SourceFor(rt.Dev, hop)
}

// RouteMTU returns the MTU of the route to dst. Every interface of the
// model has the Ethernet MTU of 1500 (loopback 65536, as in Linux).
// TCPMSS --clamp-mss-to-pmtu uses it.
func (h *Host) RouteMTU(dst netip.Addr) int {
	if rt, ok := h.Lookup(dst); ok && rt.Dev == "lo" {
		return 65536
	}
	return MinMTU
}

// MinMTU is the smallest MTU RouteMTU gives (the Ethernet MTU): a packet
// no bigger fits every route.
const MinMTU = 1500
