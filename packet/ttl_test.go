package packet

import (
	"encoding/binary"
	"net/netip"
	"testing"
)

func TestDecTTLKeepsChecksum(t *testing.T) {
	for _, ttl := range []uint8{1, 2, 64, 255} {
		d, err := ParseShort("eth0 udp 203.0.113.7:1000 > 192.0.2.10:53")
		if err != nil {
			t.Fatal(err)
		}
		d.TTL = &ttl
		b, err := d.Build(0)
		if err != nil {
			t.Fatal(err)
		}
		var p Packet
		if err := p.Decode(b); err != nil {
			t.Fatal(err)
		}
		p.DecTTL()
		if p.TTL != ttl-1 || p.Data[8] != ttl-1 {
			t.Errorf("ttl %d: now %d", ttl, p.TTL)
		}
		if !p.IPChecksumOK() {
			t.Errorf("ttl %d: header checksum wrong after DecTTL", ttl)
		}
	}
}

// checkAddrs4 checks that Addrs4 reads what Src and Dst hold.
func checkAddrs4(t *testing.T, p *Packet) {
	t.Helper()
	src, dst := p.Addrs4()
	s4, d4 := p.Src.As4(), p.Dst.As4()
	if src != binary.BigEndian.Uint32(s4[:]) || dst != binary.BigEndian.Uint32(d4[:]) {
		t.Fatalf("Addrs4 %08x %08x, Src %v Dst %v", src, dst, p.Src, p.Dst)
	}
}

// Addrs4 reads the header; SetSrc and SetDst keep it and Src, Dst in
// step (the engine's rules read the addresses with Addrs4).
func TestAddrs4FollowsSetAddr(t *testing.T) {
	var p Packet
	if err := p.Decode(mustBuild(t, "eth0 udp 203.0.113.7:1000 > 192.0.2.10:53")); err != nil {
		t.Fatal(err)
	}
	checkAddrs4(t, &p)
	if src, dst := p.Addrs4(); src != 0xcb007107 || dst != 0xc000020a {
		t.Fatalf("Addrs4 %08x %08x", src, dst)
	}
	if err := p.SetSrc(netip.MustParseAddr("198.51.100.1")); err != nil {
		t.Fatal(err)
	}
	if err := p.SetDst(netip.MustParseAddr("198.51.100.2")); err != nil {
		t.Fatal(err)
	}
	checkAddrs4(t, &p)
	if src, dst := p.Addrs4(); src != 0xc6336401 || dst != 0xc6336402 {
		t.Fatalf("after SetSrc, SetDst: Addrs4 %08x %08x", src, dst)
	}
	var short Packet
	if src, dst := short.Addrs4(); src != 0 || dst != 0 {
		t.Fatalf("undecoded: Addrs4 %08x %08x", src, dst)
	}
}
