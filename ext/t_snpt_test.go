package ext

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/ipsift/ipsift/packet"
)

// TestNPTActions: SNPT and DNPT translate per packet and go on to the
// next rule; an address they cannot translate is dropped (with the
// parameter problem, when the engine can emit one).
func TestNPTActions(t *testing.T) {
	udp := func(src, dst string) *packet.Packet {
		b := make([]byte, 48)
		b[0], b[6], b[7] = 0x60, 17, 64
		binary.BigEndian.PutUint16(b[4:], 8)
		s, d := netip.MustParseAddr(src).As16(), netip.MustParseAddr(dst).As16()
		copy(b[8:], s[:])
		copy(b[24:], d[:])
		binary.BigEndian.PutUint16(b[44:], 8)
		var p packet.Packet
		if err := p.Decode(b); err != nil {
			t.Fatal(err)
		}
		return &p
	}
	for _, c := range []struct {
		name, src, dst string
		want           Verdict
		wantAddr       string
	}{
		{"SNPT", "2001:db8:2::50", "2001:db8:113::7", Continue, "2001:db8:55:0:ffac::50"},
		{"SNPT", "2001:db8:2:0:ffff:ffff:ffff:ffff", "2001:db8:113::7", Drop, "2001:db8:55:0:ffff:ffff:ffff:ffff"},
		{"DNPT", "2001:db8:113::7", "2001:db8:2::50", Continue, "2001:db8:55:0:ffac::50"},
	} {
		tg := &nptTarget{name: c.name, src: netip.MustParsePrefix("2001:db8:2::/64"), dst: netip.MustParsePrefix("2001:db8:55::/64")}
		a, err := tg.Compile(&Compiler{Family: IPv6, Table: "mangle"})
		if err != nil {
			t.Fatal(err)
		}
		p := udp(c.src, c.dst)
		v := a.Do(&Ctx{Pkt: p})
		got := p.Src
		if c.name == "DNPT" {
			got = p.Dst
		}
		if v != c.want || got != netip.MustParseAddr(c.wantAddr) {
			t.Errorf("%s %s > %s: verdict %v, address %v", c.name, c.src, c.dst, v, got)
		}
	}
}
