package host

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
)

// The compiled tables (fib.go) against a walk of the interfaces and the
// route list, the way the local table and the routes are defined
// (first match in interface and address order; routes longest first),
// on random hosts whose addresses, subnets and routes overlap often.

func refLocal(h *Host, addr netip.Addr, dev string) (int, string, bool) {
	for _, ifc := range h.Ifaces {
		if dev != "" && ifc.Name != dev {
			continue
		}
		for _, p := range ifc.Addrs {
			if p.Addr().Is4() != addr.Is4() || p.Addr().Is6() != addr.Is6() {
				continue
			}
			if p.Addr() == addr {
				return RTNLocal, ifc.Name, true
			}
			if addr.Is4() && p.Bits() < 31 && broadcastOf(p) == addr {
				return RTNBroadcast, ifc.Name, true
			}
			if addr.Is6() && p.Bits() < 127 && p.Masked().Addr() == addr {
				return RTNAnycast, ifc.Name, true
			}
		}
	}
	if !addr.Is4() {
		return 0, "", false
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

func refRoute(h *Host, dst netip.Addr, dev string) (Route, bool) {
	for _, r := range h.Routes {
		if (dev == "" || r.Dev == dev) && r.Dst.Contains(dst) {
			return r, true
		}
	}
	return Route{}, false
}

// randomHost writes a host file over a few small address spaces, with
// duplicate and overlapping addresses, a loopback with extra prefixes,
// interfaces named twice, and routes of every length.
func randomHost(r *rand.Rand) string {
	v4 := func() string {
		return fmt.Sprintf("10.%d.%d.%d", r.IntN(2), r.IntN(3), []int{0, 1, 2, 127, 128, 255}[r.IntN(6)])
	}
	v6 := func() string {
		return fmt.Sprintf("2001:db8:%x::%x", r.IntN(2), []int{0, 1, 2, 0xff}[r.IntN(4)])
	}
	names := []string{"lo", "eth0", "eth1", "wlan0"}
	var b strings.Builder
	b.WriteString("iface lo 127.0.0.1/8 ::1/128")
	if r.IntN(2) == 0 {
		fmt.Fprintf(&b, " %s/%d", v4(), []int{8, 24, 31, 32}[r.IntN(4)])
	}
	b.WriteString("\n")
	for i := 0; i < 2+r.IntN(4); i++ {
		fmt.Fprintf(&b, "iface %s", names[1+r.IntN(3)])
		for j := 0; j < 1+r.IntN(3); j++ {
			if r.IntN(2) == 0 {
				fmt.Fprintf(&b, " %s/%d", v4(), []int{8, 16, 23, 24, 25, 30, 31, 32}[r.IntN(8)])
			} else {
				fmt.Fprintf(&b, " %s/%d", v6(), []int{48, 64, 120, 126, 127, 128}[r.IntN(6)])
			}
		}
		if r.IntN(2) == 0 {
			fmt.Fprintf(&b, " mac 02:00:00:00:00:%02x", i+1)
		}
		b.WriteString("\n")
	}
	for i := 0; i < r.IntN(6); i++ {
		dev := names[r.IntN(4)]
		if !strings.Contains(b.String(), "iface "+dev) {
			dev = "lo"
		}
		switch r.IntN(4) {
		case 0:
			fmt.Fprintf(&b, "route default dev %s\n", dev)
		case 1:
			fmt.Fprintf(&b, "route default6 dev %s\n", dev)
		case 2:
			fmt.Fprintf(&b, "route %s/%d dev %s\n", v4(), r.IntN(33), dev)
		default:
			fmt.Fprintf(&b, "route %s/%d dev %s\n", v6(), r.IntN(129), dev)
		}
	}
	return b.String()
}

func TestCompiledTablesMatchWalk(t *testing.T) {
	r := rand.New(rand.NewPCG(14, 1))
	probes := []netip.Addr{{}, netip.MustParseAddr("127.1.2.3"), netip.MustParseAddr("127.255.255.255"), netip.MustParseAddr("::ffff:10.0.0.1"), netip.MustParseAddr("fe80::1")}
	// Other first bytes than the hosts' (Dest's blocks: see destTable),
	// which short routes may cover.
	for _, s := range []string{"0.0.0.1", "8.1.2.3", "9.255.255.255", "11.0.0.1", "15.0.0.0", "16.0.0.1", "127.0.0.1", "224.0.0.1", "255.255.255.254",
		"::", "::1", "::2", "2000::1", "2001:db9::1", "3fff::1", "fe80::1", "ff02::1", "ffff::1"} {
		probes = append(probes, netip.MustParseAddr(s))
	}
	for a := 0; a < 2; a++ {
		for b := 0; b < 3; b++ {
			for _, c := range []int{0, 1, 2, 3, 127, 128, 254, 255} {
				probes = append(probes, netip.AddrFrom4([4]byte{10, byte(a), byte(b), byte(c)}))
			}
		}
		for _, c := range []int{0, 1, 2, 3, 0xff, 0x100} {
			probes = append(probes, netip.MustParseAddr(fmt.Sprintf("2001:db8:%x::%x", a, c)))
		}
	}
	defer func(n int) { maxFlat = n }(maxFlat)
	for n := 0; n < 1000; n++ {
		text := randomHost(r)
		h, err := Parse(strings.NewReader(text), "random")
		if err != nil {
			t.Fatalf("%v\n%s", err, text)
		}
		// Half the hosts walk their small tables, half hash them.
		maxFlat = 16 * (n % 2)
		h.fib.Store(h.compile())
		var probesH []netip.Addr
		probesH = append(probesH, probes...)
		for _, ifc := range h.Ifaces {
			for _, p := range ifc.Addrs {
				probesH = append(probesH, p.Addr(), p.Masked().Addr())
				// The address with one bit after its first byte
				// flipped: in the block of the host's prefixes, in
				// or out of the bits they share (destBlock.common).
				b := p.Addr().AsSlice()
				i := 8 + r.IntN(len(b)*8-8)
				b[i/8] ^= 0x80 >> (i % 8)
				flipped, _ := netip.AddrFromSlice(b)
				probesH = append(probesH, flipped)
			}
		}
		for _, addr := range probesH {
			wt, ok := fixedType(addr)
			if !ok {
				wt = RTNUnicast
				if t, _, ok := refLocal(h, addr, ""); ok {
					wt = t
				}
			}
			wr, wok := refRoute(h, addr, "")
			d := h.Dest(addr)
			if d.Type != wt || h.AddrType(addr, "") != wt || (d.Route != nil) != wok || wok && (*d.Route != wr || d.Iface != h.Iface(wr.Dev)) {
				t.Fatalf("host\n%s\nDest(%s) = %d %v %v, walk gives %d %v %v", text, addr, d.Type, d.Route, d.Iface, wt, wr, wok)
			}
			for _, dev := range []string{"", "lo", "eth0", "eth1", "wlan0", "nosuch"} {
				wt, wn, wok := refLocal(h, addr, dev)
				if gt, gn, gok := h.localEntry(addr, dev); gt != wt || gn != wn || gok != wok {
					t.Fatalf("host\n%s\nlocalEntry(%s, %q) = %d %q %v, walk gives %d %q %v", text, addr, dev, gt, gn, gok, wt, wn, wok)
				}
				wr, wok := refRoute(h, addr, dev)
				var gr Route
				var gok bool
				if dev == "" {
					gr, gok = h.Lookup(addr)
				} else {
					gr, gok = h.LookupOn(addr, dev)
				}
				if gr != wr || gok != wok {
					t.Fatalf("host\n%s\nroute(%s, %q) = %v %v, walk gives %v %v", text, addr, dev, gr, gok, wr, wok)
				}
			}
		}
	}
}

func BenchmarkLookups(b *testing.B) {
	h := Default()
	dst := netip.MustParseAddr("198.51.100.9")
	dst6 := netip.MustParseAddr("2001:db8:100::9")
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if h.AddrType(dst, "") != RTNUnicast || h.IsLocal(dst6) {
			b.Fatal("wrong type")
		}
		if _, ok := h.Lookup(dst); !ok {
			b.Fatal("no route")
		}
		if _, ok := h.Lookup(dst6); !ok {
			b.Fatal("no route")
		}
	}
}

// TestIsLinkLocal6Bytes: the byte test is fe80::/10's Contains (and the
// multicast scopes as before).
func TestIsLinkLocal6Bytes(t *testing.T) {
	ll := netip.MustParsePrefix("fe80::/10")
	for _, s := range []string{"fe80::1", "febf:ffff::1", "fec0::1", "fe7f::1", "2001:db8::1", "::1", "::", "::ffff:192.0.2.1", "192.0.2.1",
		"ff02::1", "ff05::2", "ff01::1", "ff0e::1", "::ffff:224.0.0.1", "fe80::1%eth0"} {
		a := netip.MustParseAddr(s)
		want := a.Is6() && ll.Contains(a)
		if a.Is6() && a.IsMulticast() {
			want = a.As16()[1]&0xf <= 2
		}
		if got := IsLinkLocal6(a); got != want {
			t.Errorf("IsLinkLocal6(%s) = %v, want %v", s, got, want)
		}
	}
}

// TestDstKind6 is DstKind6 against netip's IsMulticast and IsLinkLocal6.
func TestDstKind6(t *testing.T) {
	for _, s := range []string{"fe80::1", "febf:ffff::1", "fec0::1", "fe7f::1", "2001:db8::1", "::1", "::", "::ffff:192.0.2.1", "192.0.2.1", "224.0.0.1",
		"ff02::1", "ff05::2", "ff01::1", "ff0e::1", "::ffff:224.0.0.1", "::ffff:239.1.2.3", "::fffe:224.0.0.1", "fe80::1%eth0", "ff02::1%eth0"} {
		a := netip.MustParseAddr(s)
		m, ll := DstKind6(a)
		if m != a.IsMulticast() || ll != (!m && IsLinkLocal6(a)) {
			t.Errorf("DstKind6(%s) = %v %v, want %v %v", s, m, ll, a.IsMulticast(), !m && IsLinkLocal6(a))
		}
	}
}

// TestUnroutable6 is Unroutable6 against netip's tests and IsLinkLocal6.
func TestUnroutable6(t *testing.T) {
	for _, s := range []string{"::", "::%eth0", "::1", "::1%eth0", "::2", "fe80::1", "fe80::1%eth0", "febf::1", "fec0::1", "ff02::1", "ff05::1", "ff0e::1",
		"2001:db8::1", "::ffff:0.0.0.0", "::ffff:127.0.0.1", "::ffff:224.0.0.1", "::ffff:239.1.2.3", "::ffff:192.0.2.1", "::fffe:224.0.0.1", "0.0.0.0", "127.0.0.1", "224.0.0.1", "192.0.2.1"} {
		a := netip.MustParseAddr(s)
		never, ll := Unroutable6(a)
		if want := a.IsUnspecified() || a.IsMulticast() || a.IsLoopback(); never != want && a.Is6() {
			t.Errorf("Unroutable6(%s) never = %v, want %v", s, never, want)
		}
		if !never && ll != IsLinkLocal6(a) || never && a.IsMulticast() && ll != IsLinkLocal6(a) {
			t.Errorf("Unroutable6(%s) linkLocal = %v, IsLinkLocal6 %v", s, ll, IsLinkLocal6(a))
		}
	}
}
