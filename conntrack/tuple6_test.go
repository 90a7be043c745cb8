package conntrack

import (
	"net/netip"
	"testing"

	"github.com/ipsift/ipsift/ext"
)

func TestTupleFamilies(t *testing.T) {
	a6, b6 := netip.MustParseAddr("2001:db8:113::7"), netip.MustParseAddr("2001:db8:100::1")
	tu, ok := MakeTuple(a6, b6, 40000, 22, 6)
	if !ok || !tu.V6 || tu.SrcAddr() != a6 || tu.DstAddr() != b6 {
		t.Fatalf("MakeTuple v6: %+v %v", tu, ok)
	}
	if got := tu.String(); got != "src=2001:db8:113::7 dst=2001:db8:100::1 sport=40000 dport=22" {
		t.Errorf("String: %s", got)
	}
	r, ok := tu.Invert()
	if !ok || !r.V6 || r.SrcAddr() != b6 || r.SrcPort != 22 || r.DstPort != 40000 {
		t.Errorf("Invert v6: %v", r)
	}
	back, ok := TupleOf(tu.ConnTuple())
	if !ok || back != tu {
		t.Errorf("TupleOf(ConnTuple()) = %v, want %v", back, tu)
	}
	// An IPv4 tuple and an IPv6 one whose 16 address bytes agree are
	// different connections, as l3num keeps them apart in the kernel.
	a4, b4 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("198.51.100.1")
	t4, _ := MakeTuple(a4, b4, 1, 2, 17)
	t6 := t4
	t6.V6 = true
	if t4 == t6 || t4.hash() == t6.hash() {
		t.Errorf("IPv4 and IPv6 tuples with the same bytes collide")
	}
	if t4.SrcAddr() != a4 || t6.SrcAddr() != netip.MustParseAddr("c000:201::") {
		t.Errorf("addresses: %v %v", t4.SrcAddr(), t6.SrcAddr())
	}
	// IPv4-mapped addresses are IPv6 on the wire; mixed families fail.
	m, ok := MakeTuple(netip.MustParseAddr("::ffff:192.0.2.1"), b6, 0, 0, 99)
	if !ok || !m.V6 {
		t.Errorf("mapped: %v %v", m, ok)
	}
	if _, ok := TupleOf(ext.ConnTuple{Src: a4, Dst: b6}); ok {
		t.Errorf("mixed families accepted")
	}
}

func TestTupleInvertICMPv6(t *testing.T) {
	a6, b6 := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
	for _, tc := range []struct {
		typ, want uint8
		ok        bool
	}{
		{128, 129, true}, {129, 128, true}, {139, 140, true}, {140, 139, true},
		{1, 0, false}, {127, 0, false}, {130, 0, false}, {135, 0, false}, {137, 0, false},
		{141, 0, false}, {200, 0, false}, {255, 0, false},
	} {
		tu, _ := MakeTuple(a6, b6, 77, uint16(tc.typ)<<8|5, 58)
		r, ok := tu.Invert()
		if ok != tc.ok || ok && (r.ICMPType() != tc.want || r.ICMPCode() != 5 || r.SrcPort != 77 || r.SrcAddr() != b6) {
			t.Errorf("type %d: %v %v", tc.typ, r, ok)
		}
	}
	// The protocol number decides, not the family (nf_ct_invert_tuple):
	// ICMP in IPv6 inverts as ICMP, ICMPv6 in IPv4 as ICMPv6.
	if r, ok := (Tuple{V6: true, Proto: 1, DstPort: 8 << 8}).Invert(); !ok || r.ICMPType() != 0 {
		t.Errorf("ICMP in IPv6, type 8: %v %v", r, ok)
	}
	if _, ok := (Tuple{Proto: 58, DstPort: 8 << 8}).Invert(); ok {
		t.Errorf("ICMPv6 type 8 inverted")
	}
}
