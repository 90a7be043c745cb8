package packet

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
)

// NAT66 rewrites keep the transport checksum exactly what a fresh
// computation gives, for TCP, UDP and ICMPv6 (whose pseudo-header
// covers the addresses too), behind extension headers as well.
func TestSetAddr6(t *testing.T) {
	src := netip.MustParseAddr("2001:db8:ffff::42")
	dst := netip.MustParseAddr("fd00::1:2:3:4")
	for _, short := range []string{
		"eth0 tcp [2001:db8:113::7]:40000 > [2001:db8:100::1]:22 PA len=7",
		"eth0 udp [2001:db8:113::7]:40000 > [2001:db8:100::1]:53 len=3",
		"eth0 icmpv6 2001:db8:113::7 > 2001:db8:100::1 echo-request len=5",
		"eth0 icmpv6 2001:db8:113::80 > 2001:db8:100::1 1/4 inner udp [2001:db8:100::1]:46000 > [2001:db8:113::80]:33434",
		"eth0 udp [2001:db8:113::7]:40000 > [2001:db8:100::1]:53 ext=hbh,ah/3,dst/2",
		"eth0 tcp [2001:db8:113::7]:40000 > [2001:db8:100::1]:22 S mf",
	} {
		b := mustBuild(t, short)
		var p Packet
		if err := p.Decode(b); err != nil {
			t.Fatal(err)
		}
		if err := p.SetSrc(src); err != nil {
			t.Fatal(err)
		}
		if err := p.SetDst(dst); err != nil {
			t.Fatal(err)
		}
		if p.Src != src || p.Dst != dst || netip.AddrFrom16([16]byte(b[8:24])) != src || netip.AddrFrom16([16]byte(b[24:40])) != dst {
			t.Fatalf("%s: addresses not rewritten", short)
		}
		if !p.L4ChecksumOK() && !p.IsFragment() {
			t.Errorf("%s: checksum wrong after the rewrite", short)
		}
		fresh := bytes.Clone(b)
		var q Packet
		if err := q.Decode(fresh); err != nil {
			t.Fatal(err)
		}
		q.FixChecksums()
		if !bytes.Equal(fresh, b) {
			t.Errorf("%s: incremental\n% x\nfrom scratch\n% x", short, b, fresh)
		}
		// Ports and the echo identifier too.
		p.SetSrcPort(1)
		p.SetDstPort(2)
		p.SetICMPID(99)
		q.Decode(bytes.Clone(b))
		q.FixChecksums()
		if !bytes.Equal(q.Data, b) {
			t.Errorf("%s: after port/id rewrites the checksum differs from a fresh one", short)
		}
	}
}

func TestSetAddr6Edges(t *testing.T) {
	var p Packet
	b := mustBuild(t, "eth0 udp [2001:db8::1]:1 > [2001:db8::2]:2")
	binary.BigEndian.PutUint16(b[40+6:], 0) // no checksum
	if err := p.Decode(b); err != nil {
		t.Fatal(err)
	}
	if p.SetSrc(netip.MustParseAddr("192.0.2.1")) != ErrNotIPv6 {
		t.Error("an IPv4 address went into an IPv6 packet")
	}
	if err := p.SetDst(netip.MustParseAddr("2001:db8::9")); err != nil {
		t.Fatal(err)
	}
	if binary.BigEndian.Uint16(b[40+6:]) != 0 {
		t.Error("a UDP checksum of 0 (none) was changed")
	}
	// An IPv4 packet refuses an IPv6 address, as before.
	var q Packet
	if err := q.Decode(mustBuild(t, "eth0 udp 192.0.2.1:1 > 192.0.2.2:2")); err != nil {
		t.Fatal(err)
	}
	if q.SetSrc(netip.MustParseAddr("2001:db8::1")) != ErrNotIPv4 {
		t.Error("an IPv6 address went into an IPv4 packet")
	}
}

func TestDecTTL6(t *testing.T) {
	b := mustBuild(t, "eth0 udp [2001:db8::1]:1 > [2001:db8::2]:2 ttl=2")
	orig := bytes.Clone(b)
	var p Packet
	if err := p.Decode(b); err != nil {
		t.Fatal(err)
	}
	p.DecTTL()
	if p.TTL != 1 || b[7] != 1 || !bytes.Equal(b[8:], orig[8:]) || !p.L4ChecksumOK() {
		t.Errorf("hop limit %d/%d, rest changed %v", p.TTL, b[7], !bytes.Equal(b[8:], orig[8:]))
	}
	p.DecTTL()
	p.DecTTL() // at 0 it stays 0
	if p.TTL != 0 || b[7] != 0 {
		t.Errorf("hop limit went below 0: %d", b[7])
	}
}

// A first fragment whose later fragments follow in the file carries the
// whole datagram's UDP length and checksum: reassembled, the datagram
// verifies.
func TestBuildFirstFragmentDatagram(t *testing.T) {
	for _, lines := range [][]string{
		{
			`{"in":"eth0","src":"2001:db8::1","dst":"2001:db8::2","proto":"udp","sport":1,"dport":2,"len":8,"mf":true,"id":9}`,
			`{"in":"eth0","src":"2001:db8::1","dst":"2001:db8::2","proto":"17","len":24,"frag_off":2,"id":9}`,
		},
		{
			`{"in":"eth0","src":"192.0.2.1","dst":"192.0.2.2","proto":"udp","sport":1,"dport":2,"len":8,"mf":true,"id":9}`,
			`{"in":"eth0","src":"192.0.2.1","dst":"192.0.2.2","proto":"17","len":24,"frag_off":2,"id":9}`,
		},
	} {
		var ds []Desc
		for _, l := range lines {
			d, err := ParseDescLine([]byte(l))
			if err != nil {
				t.Fatal(err)
			}
			ds = append(ds, d)
		}
		first, err := ds[0].BuildWith(0, BuildOpts{Rest: ds[1:]})
		if err != nil {
			t.Fatal(err)
		}
		alone, _ := ds[0].Build(0)
		later, _ := ds[1].Build(1)
		var p, q Packet
		if err := p.Decode(first); err != nil {
			t.Fatal(err)
		}
		if err := q.Decode(later); err != nil {
			t.Fatal(err)
		}
		// Reassemble by hand: the first fragment's data, then the
		// later one's at 16 bytes.
		dgram := append(bytes.Clone(p.L4), q.L4...)
		if len(p.L4) != 16 || len(dgram) != 40 {
			t.Fatalf("fragment data %d + %d", len(p.L4), len(q.L4))
		}
		if ul := binary.BigEndian.Uint16(dgram[4:]); ul != 40 {
			t.Errorf("%s: UDP length %d, want the datagram's 40", lines[0], ul)
		}
		sum := ChecksumAdd(pseudoSum(p.Src, p.Dst, ProtoUDP, len(dgram)), dgram)
		if sum != 0xffff {
			t.Errorf("%s: reassembled datagram's checksum does not verify", lines[0])
		}
		if bytes.Equal(first, alone) {
			t.Errorf("%s: the datagram changed nothing", lines[0])
		}
		// Another datagram's fragment (other id) changes nothing.
		other := ds[1]
		other.ID = new(uint16(10))
		b, _ := ds[0].BuildWith(0, BuildOpts{Rest: []Desc{other}})
		if !bytes.Equal(b, alone) {
			t.Errorf("%s: a fragment of another datagram was used", lines[0])
		}
	}
}
