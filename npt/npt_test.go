package npt

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/ipsift/ipsift/packet"
)

func mustNew(t *testing.T, src, dst string) Translation {
	t.Helper()
	tr, err := New(netip.MustParsePrefix(src), netip.MustParsePrefix(dst))
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func sum16(a [16]byte) uint16 {
	return packet.ChecksumFinish(packet.ChecksumAdd(0, a[:]))
}

// TestRFC6296Example is the worked example of RFC 6296 section 3.6.
func TestRFC6296Example(t *testing.T) {
	tr := mustNew(t, "fd01:203:405::/48", "2001:db8:1::/48")
	got, ok := tr.Map(netip.MustParseAddr("fd01:203:405:1::1234").As16())
	if want := netip.MustParseAddr("2001:db8:1:d550::1234"); !ok || netip.AddrFrom16(got) != want {
		t.Errorf("got %v %v, want %v", netip.AddrFrom16(got), ok, want)
	}
	// And back.
	back := mustNew(t, "2001:db8:1::/48", "fd01:203:405::/48")
	if r, ok := back.Map(got); !ok || netip.AddrFrom16(r) != netip.MustParseAddr("fd01:203:405:1::1234") {
		t.Errorf("back: %v", netip.AddrFrom16(r))
	}
}

func TestMapIsChecksumNeutral(t *testing.T) {
	for _, c := range []struct{ src, dst, addr string }{
		{"fd01:203:405::/48", "2001:db8:1::/48", "fd01:203:405:ffff::1"},
		{"fd00:1:2:3400::/56", "2001:db8:77:1200::/56", "fd00:1:2:3456:1:2:3:4"},
		{"fd00::/64", "2001:db8:5:6::/64", "fd00::7"},
		{"fd00::/12", "2001:db8::/32", "fd00:0:1234::1"}, // bits 12-31 zero: the kernel overwrites them
	} {
		tr := mustNew(t, c.src, c.dst)
		a := netip.MustParseAddr(c.addr).As16()
		r, ok := tr.Map(a)
		if !ok || sum16(r) != sum16(a) && !(sum16(r) == 0 || sum16(a) == 0) {
			t.Errorf("%v: %v (%v), sums %#x %#x", c, netip.AddrFrom16(r), ok, sum16(a), sum16(r))
		}
		p := netip.MustParsePrefix(c.dst)
		if n := max(p.Bits(), netip.MustParsePrefix(c.src).Bits()); netip.PrefixFrom(netip.AddrFrom16(r), n).Masked().Addr() != netip.PrefixFrom(p.Addr(), n).Masked().Addr() {
			t.Errorf("%v: %v not under %v", c, netip.AddrFrom16(r), p)
		}
	}
}

// TestAdjustedWord: up to /48 the adjustment goes into word 3 (bits
// 48-63); beyond, into the first word after bit 64 that is not 0xffff;
// when all four are, the translation fails.
func TestAdjustedWord(t *testing.T) {
	tr := mustNew(t, "fd00:1:2:3400::/56", "2001:db8:77:1200::/56")
	a := netip.MustParseAddr("fd00:1:2:3456:ffff:ffff:5:6").As16()
	r, ok := tr.Map(a)
	if !ok {
		t.Fatal("failed")
	}
	for w := 0; w < 8; w++ {
		changed := binary.BigEndian.Uint16(r[2*w:]) != binary.BigEndian.Uint16(a[2*w:])
		if want := w < 4 || w == 6; changed != want && w != 3 {
			t.Errorf("word %d changed %v: %v", w, changed, netip.AddrFrom16(r))
		}
	}
	if binary.BigEndian.Uint16(r[6:]) != 0x1256 {
		t.Errorf("word 3 beyond the prefix: %v", netip.AddrFrom16(r))
	}
	all := netip.MustParseAddr("fd00:1:2:3456:ffff:ffff:ffff:ffff").As16()
	r, ok = tr.Map(all)
	if ok || netip.AddrFrom16(r) != netip.MustParseAddr("2001:db8:77:1256:ffff:ffff:ffff:ffff") {
		t.Errorf("all 0xffff: %v %v", netip.AddrFrom16(r), ok)
	}
	// /48: word 3 even when it is 0xffff.
	tr48 := mustNew(t, "fd01:203:405::/48", "2001:db8:1::/48")
	if _, ok := tr48.Map(netip.MustParseAddr("fd01:203:405:ffff:ffff:ffff:ffff:ffff").As16()); !ok {
		t.Errorf("/48 failed")
	}
}

func TestNewRefuses(t *testing.T) {
	for _, c := range [][2]string{
		{"fd00::/65", "2001:db8::/64"},
		{"fd00::1/64", "2001:db8::/64"},
		{"fd00::/48", "2001:db8:1:1::/48"},
		{"192.0.2.0/24", "2001:db8::/64"},
	} {
		if _, err := New(netip.MustParsePrefix(c[0]), netip.MustParsePrefix(c[1])); err == nil {
			t.Errorf("%v accepted", c)
		}
	}
}

// TestSNPTQuoted: SNPT translates the source, and the destination a
// quoted packet of an ICMPv6 error had under the source prefix; the
// ICMPv6 checksum stays right. DNPT does the mirror image.
func TestSNPTQuoted(t *testing.T) {
	tr := mustNew(t, "fd01:203:405::/48", "2001:db8:1::/48")
	q := ip6(netip.MustParseAddr("2001:db8:113::7"), netip.MustParseAddr("fd01:203:405:1::1234"), 17, make([]byte, 8))
	errPkt := icmp6Err(netip.MustParseAddr("fd01:203:405:1::1234"), netip.MustParseAddr("2001:db8:113::7"), q)
	var p packet.Packet
	if err := p.Decode(errPkt); err != nil {
		t.Fatal(err)
	}
	if !tr.SNPT(&p) {
		t.Fatal("SNPT failed")
	}
	if p.Src != netip.MustParseAddr("2001:db8:1:d550::1234") {
		t.Errorf("source %v", p.Src)
	}
	if got := netip.AddrFrom16([16]byte(p.Data[48+24 : 48+40])); got != netip.MustParseAddr("2001:db8:1:d550::1234") {
		t.Errorf("quoted destination %v", got)
	}
	var d packet.Packet
	d.Decode(p.Data)
	if !d.L4ChecksumOK() {
		t.Errorf("ICMPv6 checksum broken")
	}
	// The mirror: DNPT of an error sent back in.
	back := mustNew(t, "2001:db8:1::/48", "fd01:203:405::/48")
	q2 := ip6(netip.MustParseAddr("2001:db8:1:d550::1234"), netip.MustParseAddr("2001:db8:113::7"), 17, make([]byte, 8))
	e2 := icmp6Err(netip.MustParseAddr("2001:db8:113::9"), netip.MustParseAddr("2001:db8:1:d550::1234"), q2)
	var p2 packet.Packet
	p2.Decode(e2)
	if !back.DNPT(&p2) || p2.Dst != netip.MustParseAddr("fd01:203:405:1::1234") ||
		netip.AddrFrom16([16]byte(p2.Data[48+8:48+24])) != netip.MustParseAddr("fd01:203:405:1::1234") {
		t.Errorf("DNPT: %v quoted %v", p2.Dst, netip.AddrFrom16([16]byte(p2.Data[48+8:48+24])))
	}
}

func ip6(src, dst netip.Addr, proto uint8, l4 []byte) []byte {
	b := make([]byte, 40+len(l4))
	b[0] = 0x60
	binary.BigEndian.PutUint16(b[4:], uint16(len(l4)))
	b[6], b[7] = proto, 64
	s, d := src.As16(), dst.As16()
	copy(b[8:], s[:])
	copy(b[24:], d[:])
	copy(b[40:], l4)
	return b
}

// icmp6Err builds a destination unreachable quoting q.
func icmp6Err(src, dst netip.Addr, q []byte) []byte {
	l4 := append([]byte{1, 4, 0, 0, 0, 0, 0, 0}, q...)
	binary.BigEndian.PutUint16(l4[2:], packet.ChecksumFinish(packet.ChecksumAdd(packet.PseudoHeaderSum6(src, dst, 58, len(l4)), l4)))
	return ip6(src, dst, 58, l4)
}
