package host

import (
	"net/netip"
	"strings"
	"testing"
)

func TestDefaultHostRouting(t *testing.T) {
	h := Default()
	cases := []struct {
		dst   string
		local bool
		dev   string
	}{
		{"198.51.100.1", true, ""},
		{"192.0.2.1", true, ""},
		{"127.0.0.5", true, ""},
		{"192.0.2.255", true, ""},
		{"192.0.2.10", false, "wlan0"},
		{"198.51.100.9", false, "eth0"},
		{"203.0.113.7", false, "eth0"},
	}
	for _, c := range cases {
		a := netip.MustParseAddr(c.dst)
		if got := h.IsLocal(a); got != c.local {
			t.Errorf("IsLocal(%s) = %v", c.dst, got)
		}
		if c.local {
			continue
		}
		rt, ok := h.Lookup(a)
		if !ok || rt.Dev != c.dev {
			t.Errorf("Lookup(%s) = %+v %v, want dev %s", c.dst, rt, ok, c.dev)
		}
	}
}

func TestAddrType(t *testing.T) {
	h := Default()
	for addr, want := range map[string]int{
		"198.51.100.1": RTNLocal, "255.255.255.255": RTNBroadcast, "0.0.0.0": RTNBroadcast,
		"224.0.0.1": RTNMulticast, "198.51.100.255": RTNBroadcast, "203.0.113.7": RTNUnicast,
	} {
		if got := h.AddrType(netip.MustParseAddr(addr), ""); got != want {
			t.Errorf("AddrType(%s) = %d, want %d", addr, got, want)
		}
	}
	if got := h.AddrType(netip.MustParseAddr("198.51.100.1"), "wlan0"); got != RTNUnicast {
		t.Errorf("AddrType limited to wlan0 = %d, want unicast", got)
	}
}

func TestParseErrors(t *testing.T) {
	for _, in := range []string{"iface", "iface eth0 300.1.1.1/24", "route default dev nosuch", "frob", "route 1.2.3.0/24 via x dev eth0"} {
		if _, err := Parse(strings.NewReader(in), "h"); err == nil {
			t.Errorf("Parse(%q) succeeded", in)
		}
	}
}

func TestStringRoundTrip(t *testing.T) {
	h := Default()
	h2, err := Parse(strings.NewReader(h.String()), "again")
	if err != nil {
		t.Fatal(err)
	}
	if h.String() != h2.String() {
		t.Errorf("round trip:\n%s\n%s", h, h2)
	}
}

func TestRouteSourceAndMTU(t *testing.T) {
	h := Default()
	if a, ok := h.RouteSource(netip.MustParseAddr("203.0.113.7")); !ok || a.String() != "198.51.100.1" {
		t.Errorf("RouteSource(203.0.113.7) = %v %v", a, ok)
	}
	if a, ok := h.RouteSource(netip.MustParseAddr("192.0.2.10")); !ok || a.String() != "192.0.2.1" {
		t.Errorf("RouteSource(192.0.2.10) = %v %v", a, ok)
	}
	// The host's own IPv6 addresses: the local route on the interface
	// that has them, and the same address as the source (RFC 6724
	// rule 1), a link-local one among its own interface's only.
	for dst, want := range map[string]string{
		"fe80::ff:fe00:2": "fe80::ff:fe00:2", "fe80::ff:fe00:1": "fe80::ff:fe00:1",
		"2001:db8:2::1": "2001:db8:2::1", "fe80::ff:fe00:201": "fe80::ff:fe00:1",
	} {
		if a, ok := h.RouteSource(netip.MustParseAddr(dst)); !ok || a.String() != want {
			t.Errorf("RouteSource(%s) = %v %v, want %s", dst, a, ok, want)
		}
	}
	if a, ok := h.SourceFor("eth0", netip.MustParseAddr("2001:db8:2::1")); !ok || a.String() != "2001:db8:2::1" {
		t.Errorf("SourceFor(eth0, 2001:db8:2::1) = %v %v", a, ok)
	}
	if m := h.RouteMTU(netip.MustParseAddr("192.0.2.10")); m != 1500 {
		t.Errorf("RouteMTU = %d", m)
	}
}

// TestReverseRoute checks the lookup rpfilter makes: the local table
// (the host's addresses, subnet broadcasts, loopback's /8) before the
// routes, and no special case for 0.0.0.0, the limited broadcast or
// multicast, which the kernel's fib_lookup finds in the default route.
func TestReverseRoute(t *testing.T) {
	h := Default()
	for _, c := range []struct {
		src, dev string
		typ      int
		uses, ok bool
	}{
		{"192.0.2.10", "wlan0", RTNUnicast, true, true},
		{"192.0.2.10", "eth0", RTNUnicast, false, true},
		{"203.0.113.7", "eth0", RTNUnicast, true, true},
		{"203.0.113.7", "wlan0", RTNUnicast, false, true},
		{"198.51.100.1", "eth0", RTNLocal, true, true},
		{"198.51.100.1", "wlan0", RTNLocal, false, true},
		{"192.0.2.255", "wlan0", RTNBroadcast, true, true},
		{"127.0.0.1", "eth0", RTNLocal, false, true},
		{"127.9.9.9", "eth0", RTNLocal, false, true},
		{"127.255.255.255", "eth0", RTNBroadcast, false, true},
		{"0.0.0.0", "eth0", RTNUnicast, true, true},
		{"255.255.255.255", "eth0", RTNUnicast, true, true},
		{"224.0.0.1", "eth0", RTNUnicast, true, true},
		// IPv6: the default route via eth0 covers 2001:db8::1.
		{"2001:db8::1", "eth0", RTNUnicast, true, true},
		{"2001:db8:2::10", "wlan0", RTNUnicast, true, true},
		{"2001:db8:2::10", "eth0", RTNUnicast, false, true},
		{"2001:db8:100::1", "wlan0", RTNLocal, false, true},
		{"2001:db8:100::", "eth0", RTNAnycast, true, true},
		// ip6t_rpfilter looks a link-local source up on the input
		// interface only: both links have fe80::/64.
		{"fe80::ff:fe00:201", "wlan0", RTNUnicast, true, true},
		{"fe80::ff:fe00:101", "eth0", RTNUnicast, true, true},
		{"fe80::ff:fe00:101", "lo", 0, false, false},
	} {
		typ, uses, ok := h.ReverseRoute(netip.MustParseAddr(c.src), netip.MustParseAddr("198.51.100.1"), 0, 0, c.dev)
		if typ != c.typ || uses != c.uses || ok != c.ok {
			t.Errorf("ReverseRoute(%s, %s) = %d %v %v, want %d %v %v", c.src, c.dev, typ, uses, ok, c.typ, c.uses, c.ok)
		}
	}
	noDefault, err := Parse(strings.NewReader("iface eth0 198.51.100.1/24\n"), "h")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, ok := noDefault.ReverseRoute(netip.MustParseAddr("203.0.113.7"), netip.Addr{}, 0, 0, "eth0"); ok {
		t.Error("a host without a default route has a route back to 203.0.113.7")
	}
	// The broadcast entry is a /32 and beats loopback's local /8.
	if got := h.AddrType(netip.MustParseAddr("127.255.255.255"), ""); got != RTNBroadcast {
		t.Errorf("AddrType(127.255.255.255) = %d, want broadcast", got)
	}
}

// TestIPv6Host checks the IPv6 twin of the reference host
// (packets.md, "IPv6"): addresses, link-local addresses from the MACs,
// routes, joined groups, and the address types addrtype sees.
func TestIPv6Host(t *testing.T) {
	h := Default()
	a := netip.MustParseAddr
	for _, c := range []struct {
		addr  string
		local bool
		dev   string
	}{
		{"2001:db8:100::1", true, ""},
		{"2001:db8:2::1", true, ""},
		{"fe80::ff:fe00:1", true, ""},
		{"fe80::ff:fe00:2", true, ""},
		{"::1", true, ""},
		{"2001:db8:2::", true, ""}, // subnet-router anycast
		{"2001:db8:113::7", false, "eth0"},
		{"2001:db8:2::10", false, "wlan0"},
		{"2001:db8:100::9", false, "eth0"},
		{"fe80::ff:fe00:101", false, "eth0"}, // link-local leaves by eth0
		{"ff02::fb", false, "eth0"},
	} {
		if got := h.IsLocal(a(c.addr)); got != c.local {
			t.Errorf("IsLocal(%s) = %v", c.addr, got)
		}
		if c.local {
			continue
		}
		if rt, ok := h.Lookup(a(c.addr)); !ok || rt.Dev != c.dev {
			t.Errorf("Lookup(%s) = %+v %v, want dev %s", c.addr, rt, ok, c.dev)
		}
	}
	if rt, _ := h.Lookup(a("2001:db8:113::7")); rt.Gateway != a("2001:db8:100::fe") {
		t.Errorf("default route gateway %v", rt.Gateway)
	}
	for _, c := range []struct {
		group, dev string
		joined     bool
	}{
		{"ff02::1", "eth0", true}, {"ff02::2", "wlan0", true}, {"ff02::fb", "eth0", false},
		{"ff02::1:ff00:1", "eth0", true}, {"ff02::1:ff00:2", "eth0", false}, {"ff02::1:ff00:2", "wlan0", true},
	} {
		if got := h.Joined(a(c.group), c.dev); got != c.joined {
			t.Errorf("Joined(%s, %s) = %v", c.group, c.dev, got)
		}
	}
	for _, c := range []struct {
		addr, dev string
		want      uint16
	}{
		{"2001:db8:100::1", "", 1 << RTNLocal},
		{"2001:db8:100::1", "eth0", 1 << RTNLocal},
		{"2001:db8:100::1", "wlan0", 0},
		{"2001:db8:100::", "", 1 << RTNAnycast},
		{"2001:db8:113::7", "", 0},
		{"2001:db8:113::7", "wlan0", 1 << RTNUnreachable},
	} {
		if got := h.RouteTypes6(a(c.addr), c.dev); got != c.want {
			t.Errorf("RouteTypes6(%s, %q) = %#x, want %#x", c.addr, c.dev, got, c.want)
		}
	}
	// An IPv6 prefix shorter than /31 has no broadcast address: an IPv4
	// lookup must not take it for one (nor panic on it).
	short, err := Parse(strings.NewReader("iface eth0 2001:db8::1/24 198.51.100.1/24\n"), "h")
	if err != nil {
		t.Fatal(err)
	}
	if got := short.AddrType(a("203.0.113.7"), ""); got != RTNUnicast {
		t.Errorf("AddrType beside an IPv6 /24 = %d", got)
	}
	if rt, ok := short.Lookup(a("198.51.100.9")); !ok || rt.Dst.String() != "198.51.100.0/24" {
		t.Errorf("IPv4 lookup beside IPv6 routes: %v %v", rt, ok)
	}
	noV6, err := Parse(strings.NewReader("iface eth0 198.51.100.1/24\n"), "h")
	if err != nil {
		t.Fatal(err)
	}
	if got := noV6.RouteTypes6(a("2001:db8::1"), ""); got != 1<<RTNUnreachable {
		t.Errorf("no IPv6 route: %#x", got)
	}
	if s, ok := h.SourceFor("eth0", a("2001:db8:113::7")); !ok || s != a("2001:db8:100::1") {
		t.Errorf("SourceFor global = %v", s)
	}
	if s, ok := h.SourceFor("eth0", a("fe80::ff:fe00:101")); !ok || s != a("fe80::ff:fe00:1") {
		t.Errorf("SourceFor link-local = %v", s)
	}
	if s, ok := h.SourceFor("eth0", a("198.51.100.9")); !ok || s != a("198.51.100.1") {
		t.Errorf("SourceFor IPv4 = %v", s)
	}
	if !strings.Contains(h.String(), "route default via 2001:db8:100::fe dev eth0") || strings.Contains(h.String(), "fe80") {
		t.Errorf("String:\n%s", h)
	}
	if _, err := Parse(strings.NewReader("iface eth0 mac 02:00:00:00:00:01\nroute default via 198.51.100.1 dev eth0\nroute default6 via 192.0.2.1 dev eth0\n"), "h"); err == nil {
		t.Error("an IPv4 gateway for default6 was accepted")
	}
}

// TestParseGroup: the device group of an interface, as `ip link set dev
// X group N` takes it (rtnl_group_a2n: a name or a number in base 0),
// kept by String.
func TestParseGroup(t *testing.T) {
	h, err := Parse(strings.NewReader("iface eth0 198.51.100.1/24 group 0x10\niface wlan0 192.0.2.1/24 group default\niface eth1 group 4294967295\niface eth2 group 010\n"), "t")
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]uint32{"eth0": 16, "wlan0": 0, "eth1": 0xffffffff, "eth2": 8} {
		if g := h.Iface(name).Group; g != want {
			t.Errorf("%s: group %d, want %d", name, g, want)
		}
	}
	again, err := Parse(strings.NewReader(h.String()), "again")
	if err != nil || again.String() != h.String() {
		t.Errorf("String does not read back: %v\n%s\n%s", err, h.String(), again)
	}
	if !strings.Contains(h.String(), "iface eth0 198.51.100.1/24 group 16\n") {
		t.Errorf("String: %q", h.String())
	}
	for _, bad := range []string{"group", "group -1", "group 4294967296", "group x", "group 0b1", "group 1_0", "group +1"} {
		if _, err := Parse(strings.NewReader("iface eth0 "+bad+"\n"), "t"); err == nil || !strings.Contains(err.Error(), "t:1:") {
			t.Errorf("%q: error %v, want one at t:1", bad, err)
		}
	}
}
