// Package host models the machine a ruleset runs on: its interfaces and
// addresses, its routes, and how its own stack answers what it is sent.
// The engine asks it where a packet goes (delivered locally, forwarded
// out of which interface, or dropped for want of a route) and the
// addrtype match asks it what kind of address an address is.
//
// The default host is the one gateway.rules describes: eth0 faces the
// outside with 198.51.100.1/24 and a default route via 198.51.100.254,
// wlan0 faces the inside with 192.0.2.1/24.
package host

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/ipsift/ipsift/ext"
)

// Iface is one interface of the host.
type Iface struct {
	ext.Iface
	Addrs []netip.Prefix // its addresses with their prefix lengths
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
type Host struct {
	Ifaces []*Iface
	Routes []Route
	Stack  Stack
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
iface lo 127.0.0.1/8
iface eth0 198.51.100.1/24 mac 02:00:00:00:00:01 peer 02:00:00:00:01:01
iface wlan0 192.0.2.1/24 mac 02:00:00:00:00:02 peer 02:00:00:00:02:01
route default via 198.51.100.254 dev eth0
echo-ignore-all
`

// Parse reads a host file: one statement per line, '#' comments.
//
//	iface NAME [ADDR/LEN ...] [mac XX:XX:XX:XX:XX:XX] [peer XX:XX:XX:XX:XX:XX]
//	route PREFIX|default [via GATEWAY] dev NAME
//	listen tcp/PORT | udp/PORT
//	echo-ignore-all | echo-reply
//	icmp-ratelimit MS
//
// Routes for the interfaces' own subnets are added automatically, as
// the kernel does when an address is assigned.
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
			ifc := &Iface{Iface: ext.Iface{Name: f[1], Index: len(h.Ifaces) + 1}}
			for i := 2; i < len(f); i++ {
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
				if err != nil || !p.Addr().Is4() {
					return nil, bad("bad interface address %q: write ADDR/LEN such as 192.0.2.1/24", f[i])
				}
				ifc.Addrs = append(ifc.Addrs, p)
			}
			h.Ifaces = append(h.Ifaces, ifc)
		case "route":
			if len(f) < 2 {
				return nil, bad("route needs a destination")
			}
			var rt Route
			if f[1] == "default" {
				rt.Dst = netip.MustParsePrefix("0.0.0.0/0")
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
					if err != nil {
						return nil, bad("bad gateway %q", f[i+1])
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
	// Connected routes, as the kernel adds with each address.
	for _, ifc := range h.Ifaces {
		for _, a := range ifc.Addrs {
			h.Routes = append(h.Routes, Route{Dst: a.Masked(), Dev: ifc.Name})
		}
	}
	sort.SliceStable(h.Routes, func(i, j int) bool { return h.Routes[i].Dst.Bits() > h.Routes[j].Dst.Bits() })
	return h, nil
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
// host receives: such packets go to INPUT.
func (h *Host) IsLocal(addr netip.Addr) bool {
	t := h.AddrType(addr, "")
	return t == RTNLocal || t == RTNBroadcast
}

// RTN_* route types, as the addrtype match numbers them.
const (
	RTNUnicast   = 1
	RTNLocal     = 2
	RTNBroadcast = 3
	RTNMulticast = 5
)

// AddrType returns the type the kernel's local routing table gives addr
// (inet_dev_addr_type): the limited broadcast and 0.0.0.0 are broadcast,
// 224/4 multicast, the host's addresses local, the broadcast address of
// each of its subnets broadcast, anything else unicast. dev, when set,
// limits the local table's answer to entries of that device.
func (h *Host) AddrType(addr netip.Addr, dev string) int {
	if !addr.Is4() {
		return RTNUnicast
	}
	b := addr.As4()
	if addr.IsUnspecified() || b == [4]byte{255, 255, 255, 255} {
		return RTNBroadcast
	}
	if b[0] >= 224 && b[0] <= 239 {
		return RTNMulticast
	}
	if t, _, ok := h.localEntry(addr, dev); ok {
		return t
	}
	return RTNUnicast
}

// localEntry looks addr up in the kernel's local routing table as the
// host's addresses make it: each address is a local /32 and each subnet
// (shorter than /31) has its broadcast address, both on the address's
// interface; loopback's whole prefix is local. The /32 entries are
// longer than loopback's prefix, so they win (127.255.255.255 is
// broadcast). dev, when set, keeps only that interface's entries.
func (h *Host) localEntry(addr netip.Addr, dev string) (rtnType int, ifname string, ok bool) {
	for _, ifc := range h.Ifaces {
		if dev != "" && ifc.Name != dev {
			continue
		}
		for _, p := range ifc.Addrs {
			if p.Addr() == addr {
				return RTNLocal, ifc.Name, true
			}
			if p.Bits() < 31 && broadcastOf(p) == addr {
				return RTNBroadcast, ifc.Name, true
			}
		}
	}
	for _, ifc := range h.Ifaces {
		if ifc.Name != "lo" || dev != "" && dev != "lo" {
			continue
		}
		for _, p := range ifc.Addrs {
			if p.Contains(addr) {
				return RTNLocal, ifc.Name, true
			}
		}
	}
	return 0, "", false
}

// ReverseRoute implements ext.ReverseRouter: the fib_lookup the rpfilter
// match makes for a packet's source dst (local table first, then the
// routes), giving the route's RTN_* type and whether its interface is
// dev. Unlike AddrType it treats no address specially: the kernel's
// lookup of 0.0.0.0, 255.255.255.255 or a multicast source finds
// whatever route covers it (the default route). The model has no
// routing rules, so src, mark and tos (which only rules would look at)
// change nothing, and it has no IPv6 addresses or routes, so an IPv6
// source has no route. It does not allocate.
func (h *Host) ReverseRoute(dst, src netip.Addr, mark uint32, tos uint8, dev string) (rtnType int, usesDev bool, ok bool) {
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
	for _, r := range h.Routes {
		if r.Dst.Contains(dst) {
			return r, true
		}
	}
	return Route{}, false
}

// SourceFor returns the address the host uses to reach dst out of dev: the
// first address of the interface in the same subnet as the route's
// gateway or dst, else its first address (what MASQUERADE uses).
func (h *Host) SourceFor(dev string, dst netip.Addr) (netip.Addr, bool) {
	ifc := h.Iface(dev)
	if ifc == nil || len(ifc.Addrs) == 0 {
		return netip.Addr{}, false
	}
	for _, p := range ifc.Addrs {
		if p.Contains(dst) {
			return p.Addr(), true
		}
	}
	return ifc.Addrs[0].Addr(), true
}

// String prints the host in its file format (connected routes left out).
func (h *Host) String() string {
	var b strings.Builder
	for _, ifc := range h.Ifaces {
		fmt.Fprintf(&b, "iface %s", ifc.Name)
		for _, a := range ifc.Addrs {
			fmt.Fprintf(&b, " %s", a)
		}
		if ifc.MAC != [6]byte{} {
			fmt.Fprintf(&b, " mac %s", net.HardwareAddr(ifc.MAC[:]))
		}
		if ifc.Peer != [6]byte{} {
			fmt.Fprintf(&b, " peer %s", net.HardwareAddr(ifc.Peer[:]))
		}
		b.WriteByte('\n')
	}
	for _, r := range h.Routes {
		if !r.Gateway.IsValid() && h.connected(r) {
			continue
		}
		dst := r.Dst.String()
		if r.Dst.Bits() == 0 {
			dst = "default"
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
// else its first address (the kernel's preferred source). REJECT uses
// it as the source of ICMP errors about forwarded packets.
func (h *Host) RouteSource(dst netip.Addr) (netip.Addr, bool) {
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
	return 1500
}
