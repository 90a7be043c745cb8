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
		{"2001:db8::1", "eth0", 0, false, false},
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
