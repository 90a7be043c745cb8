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
