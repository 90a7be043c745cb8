package packet

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"
)

func TestChecksumVectors(t *testing.T) {
	tests := []struct {
		name string
		data string
		want uint16
	}{
		// RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to ddf2.
		{"rfc1071", "0001 f203 f4f5 f6f7", ^uint16(0xddf2)},
		// An odd byte is padded: 0001+f203+f4f5+f600 = 2dcf9, folded dcfb.
		{"odd length", "0001 f203 f4f5 f6", ^uint16(0xdcfb)},
		// A classic IPv4 header (checksum field zeroed); its checksum is b861.
		{"ipv4 header", "4500 0073 0000 4000 4011 0000 c0a8 0001 c0a8 00c7", 0xb861},
		{"empty", "", 0xffff},
		{"all zeros", "0000 0000", 0xffff},
		{"all ones", "ffff ffff", 0x0000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := mustHex(t, tt.data)
			if got := Checksum(b); got != tt.want {
				t.Errorf("Checksum = %#04x, want %#04x", got, tt.want)
			}
			// Chaining at any even split gives the same sum.
			for i := 0; i <= len(b); i += 2 {
				if got := ChecksumFinish(ChecksumAdd(ChecksumAdd(0, b[:i]), b[i:])); got != tt.want {
					t.Errorf("split at %d: %#04x, want %#04x", i, got, tt.want)
				}
			}
		})
	}
}

// refChecksum is the textbook RFC 1071 loop over 16-bit words, to check
// the 32-bit-at-a-time version against.
func refChecksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

func TestChecksumMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 200; n++ {
		b := make([]byte, r.IntN(3000))
		for i := range b {
			b[i] = byte(r.Uint32())
			if n%3 == 0 {
				b[i] = 0xff // long runs of ones stress the carries
			}
		}
		if got, want := Checksum(b), refChecksum(b); got != want {
			t.Fatalf("len %d: Checksum %#04x, reference %#04x", len(b), got, want)
		}
	}
}

// TestChecksumAddRunning checks running sums (what the pseudo-header
// checks compare with 0xffff) against the 16-bit-word loop, from any
// starting sum, on data of every length, all zeros and all ones
// included: the same value, not just the same one's complement number.
func TestChecksumAddRunning(t *testing.T) {
	ref := func(sum uint32, b []byte) uint32 {
		s := uint64(sum)
		for i := 0; i+1 < len(b); i += 2 {
			s += uint64(b[i])<<8 | uint64(b[i+1])
		}
		if len(b)%2 == 1 {
			s += uint64(b[len(b)-1]) << 8
		}
		for s>>16 != 0 {
			s = s&0xffff + s>>16
		}
		return uint32(s)
	}
	r := rand.New(rand.NewPCG(3, 4))
	for n := 0; n < 5000; n++ {
		b := make([]byte, r.IntN(200))
		for i := range b {
			switch n % 4 {
			case 0:
				b[i] = 0xff
			case 1:
				b[i] = 0
			default:
				b[i] = byte(r.Uint32())
			}
		}
		sums := []uint32{0, 0xffff, 0xfffe, 1, r.Uint32() & 0xffff, r.Uint32()}
		for _, sum := range sums {
			if got, want := ChecksumAdd(sum, b), ref(sum, b); got != want {
				t.Fatalf("ChecksumAdd(%#x, % x) = %#x, want %#x", sum, b, got, want)
			}
		}
	}
}

func TestFixChecksumsVerify(t *testing.T) {
	for _, s := range []string{
		"eth0 tcp 203.0.113.7:40000 > 198.51.100.1:22 PA len=33",
		"eth0 udp 192.0.2.10:53000 > 198.51.100.9:53 len=41",
		"eth0 icmp 198.51.100.9 > 198.51.100.1 type 8 len=7",
		"eth0 47 198.51.100.9 > 198.51.100.1 len=7",
	} {
		b := mustBuild(t, s)
		var p Packet
		if err := p.Decode(b); err != nil {
			t.Fatal(err)
		}
		if !p.IPChecksumOK() || !p.L4ChecksumOK() {
			t.Errorf("%s: built packet fails verification", s)
		}
		want := append([]byte(nil), b...)
		b[10], b[11] = 0xde, 0xad
		if len(p.L4) >= 18 {
			b[len(b)-1] ^= 0x55 // corrupt the payload: the L4 checksum must catch it
		}
		if p.IPChecksumOK() {
			t.Errorf("%s: corrupted IP checksum passes", s)
		}
		if p.Proto != 47 && len(p.L4) >= 18 && p.L4ChecksumOK() {
			t.Errorf("%s: corrupted payload passes", s)
		}
		b[len(b)-1] = want[len(b)-1]
		p.FixChecksums()
		if !bytes.Equal(b, want) {
			t.Errorf("%s: FixChecksums gave\n% x\nwant\n% x", s, b, want)
		}
	}
}

func TestUDPZeroChecksum(t *testing.T) {
	b := mustBuild(t, "eth0 udp 192.0.2.10:53000 > 198.51.100.9:53 len=4")
	b[26], b[27] = 0, 0 // "no checksum"
	var p Packet
	p.Decode(b)
	if !p.L4ChecksumOK() {
		t.Error("UDP checksum 0 should verify")
	}
	if err := p.SetSrc(a1); err != nil {
		t.Fatal(err)
	}
	if err := p.SetDstPort(9); err != nil {
		t.Fatal(err)
	}
	if b[26] != 0 || b[27] != 0 {
		t.Errorf("UDP checksum 0 became %02x%02x after NAT", b[26], b[27])
	}
	if !p.IPChecksumOK() {
		t.Error("IP checksum wrong after SetSrc")
	}
}

// A UDP checksum that comes out as 0 is sent as ffff, from scratch and
// incrementally.
func TestUDPChecksumNeverZero(t *testing.T) {
	b := mustBuild(t, "eth0 udp 192.0.2.10:1000 > 198.51.100.9:53 len=2")
	var p Packet
	p.Decode(b)
	// Choose the payload word so that the checksum is exactly 0.
	cs := binary.BigEndian.Uint16(b[26:])
	// The checksum is ~sum; adding a word equal to it makes the sum ffff.
	binary.BigEndian.PutUint16(b[28:], cs)
	p.FixChecksums()
	if got := binary.BigEndian.Uint16(b[26:]); got != 0xffff {
		t.Fatalf("from scratch: checksum %#04x, want 0xffff", got)
	}
	if !p.L4ChecksumOK() {
		t.Fatal("0xffff does not verify")
	}
	// Change a port and back: the incremental path meets the same case.
	p.SetSrcPort(1001)
	p.SetSrcPort(1000)
	if got := binary.BigEndian.Uint16(b[26:]); got != 0xffff {
		t.Errorf("incremental: checksum %#04x, want 0xffff", got)
	}
}

func randAddr(r *rand.Rand) netip.Addr {
	var a [4]byte
	binary.BigEndian.PutUint32(a[:], r.Uint32())
	if r.IntN(8) == 0 {
		a = [4]byte{0xff, 0xff, 0xff, byte(r.Uint32())} // near all-ones: carries
	}
	return netip.AddrFrom4(a)
}

// randPacket returns a random valid TCP, UDP or ICMP packet with correct
// checksums, possibly with IP options, TCP options and payload.
func randPacket(r *rand.Rand) []byte {
	protos := []Proto{ProtoTCP, ProtoUDP, ProtoICMP}
	d := Desc{In: "eth0", Src: randAddr(r), Dst: randAddr(r), Proto: protos[r.IntN(3)], Len: r.IntN(64)}
	switch d.Proto {
	case ProtoTCP:
		d.Sport, d.Dport = uint16(r.Uint32()), uint16(r.Uint32())
		d.Flags = new(TCPFlags(r.Uint32()))
		d.Seq, d.Ack, d.Window = new(r.Uint32()), new(r.Uint32()), new(uint16(r.Uint32()))
	case ProtoUDP:
		d.Sport, d.Dport = uint16(r.Uint32()), uint16(r.Uint32())
	case ProtoICMP:
		d.Type, d.Code = uint8(r.IntN(19)), uint8(r.IntN(4))
	}
	d.TTL, d.ID, d.TOS = new(uint8(r.Uint32())), new(uint16(r.Uint32())), uint8(r.Uint32())
	d.MF = r.IntN(8) == 0 // first fragments are rewritten too
	b, err := d.Build(0)
	if err != nil {
		panic(err)
	}
	for i := 40; i < len(b); i++ {
		b[i] = byte(r.Uint32())
	}
	if d.Proto == ProtoTCP && d.Len >= 4 && r.IntN(2) == 0 {
		b[32] = byte(5+r.IntN(d.Len/4+1)) << 4 // some payload becomes options
	}
	if r.IntN(4) == 0 { // IP options
		n := 4 * (1 + r.IntN(10))
		opts := make([]byte, n)
		for i := range opts {
			opts[i] = 1 // NOP
		}
		b = append(append(append([]byte{}, b[:20]...), opts...), b[20:]...)
		b[0] = byte(0x40 | (20+n)/4)
		binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	}
	var p Packet
	if err := p.Decode(b); err != nil {
		panic(err)
	}
	p.FixChecksums()
	return b
}

// The incremental rewrites must give exactly the bytes a from-scratch
// computation gives, for every field and every packet.
func TestIncrementalMatchesScratch(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	for n := 0; n < 5000; n++ {
		b := randPacket(r)
		var p Packet
		if err := p.Decode(b); err != nil {
			t.Fatal(err)
		}
		hadUDPSum := p.Proto == ProtoUDP && binary.BigEndian.Uint16(p.L4[6:]) != 0
		src, dst := randAddr(r), randAddr(r)
		sport, dport, id := uint16(r.Uint32()), uint16(r.Uint32()), uint16(r.Uint32())
		if err := p.SetSrc(src); err != nil {
			t.Fatal(err)
		}
		if err := p.SetDst(dst); err != nil {
			t.Fatal(err)
		}
		switch p.Proto {
		case ProtoTCP, ProtoUDP:
			if err := p.SetSrcPort(sport); err != nil {
				t.Fatal(err)
			}
			if err := p.SetDstPort(dport); err != nil {
				t.Fatal(err)
			}
		case ProtoICMP:
			if err := p.SetICMPID(id); err != nil {
				t.Fatal(err)
			}
		}
		got := append([]byte(nil), b...)

		var q Packet
		if err := q.Decode(b); err != nil {
			t.Fatal(err)
		}
		if q.Src != src || q.Dst != dst || p.Src != src || p.Dst != dst {
			t.Fatalf("addresses not rewritten: %v %v", q.Src, q.Dst)
		}
		if (q.Proto == ProtoTCP || q.Proto == ProtoUDP) && (q.SrcPort != sport || q.DstPort != dport || p.SrcPort != sport || p.DstPort != dport) {
			t.Fatalf("ports not rewritten")
		}
		if q.Proto == ProtoICMP && (q.ICMPID != id || p.ICMPID != id) {
			t.Fatalf("icmp id not rewritten")
		}
		q.FixChecksums()
		if !bytes.Equal(got, b) {
			t.Fatalf("packet %d (proto %d, udp sum %v): incremental\n% x\nfrom scratch\n% x", n, q.Proto, hadUDPSum, got, b)
		}
		if !q.IPChecksumOK() || !q.L4ChecksumOK() {
			t.Fatalf("packet %d does not verify after rewrite", n)
		}
	}
}

func TestRewriteErrors(t *testing.T) {
	icmp := mustBuild(t, "eth0 icmp 203.0.113.7 > 198.51.100.1 type 8")
	later := mustBuild(t, "eth0 tcp 203.0.113.7:1 > 198.51.100.1:2 frag_off=3")
	v6 := netip.MustParseAddr("2001:db8::1")
	mapped := netip.MustParseAddr("::ffff:192.0.2.1")
	tests := []struct {
		name string
		data []byte
		f    func(*Packet) error
		want error
	}{
		{"ipv6 src", icmp, func(p *Packet) error { return p.SetSrc(v6) }, ErrNotIPv4},
		{"4in6 dst", icmp, func(p *Packet) error { return p.SetDst(mapped) }, ErrNotIPv4},
		{"zero addr", icmp, func(p *Packet) error { return p.SetDst(netip.Addr{}) }, ErrNotIPv4},
		{"port on icmp", icmp, func(p *Packet) error { return p.SetSrcPort(1) }, ErrNoPorts},
		{"port on later fragment", later, func(p *Packet) error { return p.SetDstPort(1) }, ErrNoPorts},
		{"icmp id on tcp", later, func(p *Packet) error { return p.SetICMPID(1) }, ErrNoICMPID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := append([]byte(nil), tt.data...)
			var p Packet
			p.Decode(b)
			before := p
			if err := tt.f(&p); err != tt.want {
				t.Errorf("got %v, want %v", err, tt.want)
			}
			if !bytes.Equal(b, tt.data) || p.Src != before.Src || p.Dst != before.Dst || p.SrcPort != before.SrcPort {
				t.Error("a failed rewrite changed the packet")
			}
		})
	}
	// A later fragment's address can change; its payload is not a header.
	var p Packet
	b := append([]byte(nil), later...)
	p.Decode(b)
	if err := p.SetSrc(a2); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b[20:], later[20:]) || !p.IPChecksumOK() {
		t.Error("SetSrc on a later fragment touched its payload or broke the IP checksum")
	}
}

func TestRewriteAllocs(t *testing.T) {
	b := mustBuild(t, "eth0 tcp 203.0.113.7:40000 > 198.51.100.1:22 S")
	var p Packet
	p.Decode(b)
	n := testing.AllocsPerRun(1000, func() {
		p.SetSrc(a2)
		p.SetSrcPort(1)
		p.SetSrc(a1)
		p.SetSrcPort(40000)
		p.SetDst(netip.Addr{}) // error path
	})
	if n != 0 {
		t.Errorf("rewrites allocate %v times per run, want 0", n)
	}
}

// BenchmarkIncrementalNAT is one SNAT and its reverse: address and port,
// with both checksums, as MASQUERADE does to every packet.
func BenchmarkIncrementalNAT(b *testing.B) {
	data := mustBuild(b, "eth0 tcp 192.0.2.10:40000 > 198.51.100.1:443 PA len=1400")
	var p Packet
	if err := p.Decode(data); err != nil {
		b.Fatal(err)
	}
	pub, priv := netip.MustParseAddr("203.0.113.1"), p.Src
	b.ReportAllocs()
	for b.Loop() {
		p.SetSrc(pub)
		p.SetSrcPort(61000)
		p.SetSrc(priv)
		p.SetSrcPort(40000)
	}
}

func BenchmarkFixChecksums1500(b *testing.B) {
	data := mustBuild(b, "eth0 tcp 192.0.2.10:40000 > 198.51.100.1:443 PA len=1460")
	var p Packet
	p.Decode(data)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		p.FixChecksums()
	}
}

// TestPseudoHeaderAndIPChecksumWords: the pseudo-header sum and the
// header check added word by word agree with ChecksumAdd over the same
// bytes, zero sums and carries included.
func TestPseudoHeaderAndIPChecksumWords(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	for i := range 20000 {
		var a, b [4]byte
		for j := range 4 {
			a[j], b[j] = byte(r.IntN(256)), byte(r.IntN(256))
			if i%5 == 0 {
				a[j], b[j] = 0xff, 0xff
			}
			if i%7 == 0 {
				a[j] = 0
			}
		}
		proto, length := uint8(r.IntN(256)), r.IntN(70000)
		if i%11 == 0 {
			a, b, proto, length = [4]byte{}, [4]byte{}, 0, 0
		}
		want := foldAdd(ChecksumAdd(ChecksumAdd(0, a[:]), b[:]), uint32(proto)+uint32(uint16(length)))
		if got := PseudoHeaderSum(netip.AddrFrom4(a), netip.AddrFrom4(b), proto, length); got != want {
			t.Fatalf("PseudoHeaderSum(%v, %v, %d, %d) = %#x, want %#x", a, b, proto, length, got, want)
		}
		hdr := make([]byte, 20+4*r.IntN(11))
		for j := range hdr {
			hdr[j] = byte(r.IntN(256))
			if i%5 == 0 {
				hdr[j] = 0xff
			}
		}
		hdr[0] = 0x40 | byte(len(hdr)/4)
		if i%2 == 0 {
			hdr[10], hdr[11] = 0, 0
			c := ^uint16(ChecksumAdd(0, hdr))
			hdr[10], hdr[11] = byte(c>>8), byte(c)
		}
		p := Packet{Version: 4, HdrLen: len(hdr), Data: hdr}
		if got, want := p.IPChecksumOK(), ChecksumAdd(0, hdr) == 0xffff; got != want {
			t.Fatalf("IPChecksumOK(% x) = %v, want %v", hdr, got, want)
		}
	}
}

// addWords (assembly on amd64) against addWordsGo and the 16-bit-word
// reference, from every alignment of the data and any starting sum, on
// lengths around its 64-byte blocks, runs of ones (carries) included.
func TestAddWords(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	buf := make([]byte, 600)
	for n := 0; n < 4000; n++ {
		for i := range buf {
			buf[i] = byte(r.Uint32())
			if n%4 == 0 {
				buf[i] = 0xff
			}
		}
		off, l := r.IntN(8), r.IntN(len(buf)-8)
		if n < 300 {
			l = n % 290
		}
		b := buf[off : off+l]
		s := r.Uint64()
		if n%5 == 0 {
			s = ^uint64(0)
		}
		if got, want := addWords(s, b), addWordsGo(s, b); got != want {
			t.Fatalf("len %d offset %d sum %#x: addWords %#x, addWordsGo %#x", l, off, s, got, want)
		}
		sum := uint32(r.IntN(0x10000))
		if got, want := ChecksumFinish(ChecksumAdd(sum, b)), refChecksum(append(binary.BigEndian.AppendUint16(nil, uint16(sum)), b...)); got != want {
			t.Fatalf("len %d offset %d: ChecksumAdd %#04x, reference %#04x", l, off, got, want)
		}
	}
}

func FuzzChecksumAdd(f *testing.F) {
	f.Add(uint16(0), []byte{1, 2, 3})
	f.Add(uint16(0xffff), bytes.Repeat([]byte{0xff}, 131))
	f.Fuzz(func(t *testing.T, sum uint16, b []byte) {
		if got, want := addWords(uint64(sum), b), addWordsGo(uint64(sum), b); got != want {
			t.Fatalf("addWords %#x, addWordsGo %#x", got, want)
		}
		if got, want := ChecksumFinish(ChecksumAdd(uint32(sum), b)), refChecksum(append(binary.BigEndian.AppendUint16(nil, sum), b...)); got != want {
			t.Fatalf("ChecksumAdd %#04x, reference %#04x", got, want)
		}
	})
}

func BenchmarkChecksum1400(b *testing.B) {
	buf := make([]byte, 1400)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		Checksum(buf)
	}
}

// The IPv4 pseudo-header summed from the header's bytes is
// PseudoHeaderSum of the decoded addresses; the IPv4 header check
// without a loop is the 16-bit-word reference, options or not.
func TestPseudoFromHeader(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for range 2000 {
		b := randPacket(r)
		var p Packet
		if p.Decode(b) != nil || p.Version != 4 {
			continue
		}
		for _, proto := range []uint8{ProtoTCP, ProtoUDP} {
			n := r.IntN(70000)
			if got, want := p.pseudo(proto, n), PseudoHeaderSum(p.Src, p.Dst, proto, n); got != want {
				t.Fatalf("%v > %v proto %d length %d: pseudo %#x, PseudoHeaderSum %#x", p.Src, p.Dst, proto, n, got, want)
			}
		}
		if got, want := p.IPChecksumOK(), refChecksum(b[:p.HdrLen]) == 0; got != want {
			t.Fatalf("header of %d bytes: IPChecksumOK %v, reference %v", p.HdrLen, got, want)
		}
		b[10] ^= 1
		if got, want := p.IPChecksumOK(), refChecksum(b[:p.HdrLen]) == 0; got != want {
			t.Fatalf("header of %d bytes, a bit flipped: IPChecksumOK %v, reference %v", p.HdrLen, got, want)
		}
	}
}
