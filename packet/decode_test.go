package packet

import (
	"encoding/hex"
	"errors"
	"net/netip"
	"reflect"
	"testing"
)

// mustHex decodes a hex string, ignoring spaces.
func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	var clean []byte
	for i := 0; i < len(s); i++ {
		if s[i] != ' ' && s[i] != '\n' && s[i] != '\t' {
			clean = append(clean, s[i])
		}
	}
	b, err := hex.DecodeString(string(clean))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// mustBuild builds the packet a short-form description gives.
func mustBuild(t testing.TB, short string) []byte {
	t.Helper()
	d, err := ParseShort(short)
	if err != nil {
		t.Fatalf("ParseShort(%q): %v", short, err)
	}
	b, err := d.Build(0)
	if err != nil {
		t.Fatalf("Build(%q): %v", short, err)
	}
	return b
}

// edit returns f applied to a copy of b; checksums are not fixed, as
// Decode does not check them.
func edit(b []byte, f func([]byte) []byte) []byte {
	c := append([]byte(nil), b...)
	return f(c)
}

var (
	a1 = netip.MustParseAddr("203.0.113.7")
	a2 = netip.MustParseAddr("198.51.100.1")
)

func TestDecode(t *testing.T) {
	syn := mustBuild(t, "eth0 tcp 203.0.113.7:40000 > 198.51.100.1:22 S seq=7 window=100 ttl=9 tos=0x10 id=77 df")
	withOpts := edit(mustBuild(t, "eth0 tcp 203.0.113.7:40000 > 198.51.100.1:22 SA len=8"), func(b []byte) []byte {
		b[32] = 7 << 4 // data offset 28: the 8 payload bytes become options
		copy(b[40:], []byte{2, 4, 5, 0xb4, 1, 1, 1, 0})
		return b
	})
	tests := []struct {
		name string
		data []byte
		want Packet // Data and L4 are checked by length only
		opts []byte
		pay  []byte
	}{
		{
			name: "tcp syn",
			data: syn,
			want: Packet{Version: 4, HdrLen: 20, TotalLen: 40, TOS: 0x10, TTL: 9, ID: 77, DF: true,
				Proto: ProtoTCP, Src: a1, Dst: a2, L4OK: true, L4Fixed: true, SrcPort: 40000, DstPort: 22,
				TCPFlags: TCPSyn, TCPDoff: 20, Seq: 7, Window: 100},
			pay: []byte{},
		},
		{
			name: "tcp with options",
			data: withOpts,
			want: Packet{Version: 4, HdrLen: 20, TotalLen: 48, TTL: 64, ID: 1,
				Proto: ProtoTCP, Src: a1, Dst: a2, L4OK: true, L4Fixed: true, SrcPort: 40000, DstPort: 22,
				TCPFlags: TCPSyn | TCPAck, TCPDoff: 28, Seq: 1000, Ack: 1001, Window: 8192},
			opts: []byte{2, 4, 5, 0xb4, 1, 1, 1, 0},
			pay:  []byte{},
		},
		{
			name: "tcp payload",
			data: mustBuild(t, "eth0 tcp 203.0.113.7:1 > 198.51.100.1:2 PA len=5"),
			want: Packet{Version: 4, HdrLen: 20, TotalLen: 45, TTL: 64, ID: 1,
				Proto: ProtoTCP, Src: a1, Dst: a2, L4OK: true, L4Fixed: true, SrcPort: 1, DstPort: 2,
				TCPFlags: TCPPsh | TCPAck, TCPDoff: 20, Seq: 1000, Ack: 1001, Window: 8192},
			pay: make([]byte, 5),
		},
		{
			name: "tcp data offset below 20: ports readable, L4OK false",
			data: edit(syn, func(b []byte) []byte { b[32] = 4 << 4; return b }),
			want: Packet{Version: 4, HdrLen: 20, TotalLen: 40, TOS: 0x10, TTL: 9, ID: 77, DF: true,
				Proto: ProtoTCP, Src: a1, Dst: a2, L4Fixed: true, SrcPort: 40000, DstPort: 22,
				TCPFlags: TCPSyn, TCPDoff: 16, Seq: 7, Window: 100},
		},
		{
			name: "tcp data offset beyond the segment",
			data: edit(syn, func(b []byte) []byte { b[32] = 6 << 4; return b }),
			want: Packet{Version: 4, HdrLen: 20, TotalLen: 40, TOS: 0x10, TTL: 9, ID: 77, DF: true,
				Proto: ProtoTCP, Src: a1, Dst: a2, L4Fixed: true, SrcPort: 40000, DstPort: 22,
				TCPFlags: TCPSyn, TCPDoff: 24, Seq: 7, Window: 100},
		},
		{
			name: "tcp header cut at 19 bytes",
			data: edit(syn, func(b []byte) []byte { b[3] = 39; return b[:39] }),
			want: Packet{Version: 4, HdrLen: 20, TotalLen: 39, TOS: 0x10, TTL: 9, ID: 77, DF: true,
				Proto: ProtoTCP, Src: a1, Dst: a2},
		},
		{
			name: "udp",
			data: mustBuild(t, "eth0 udp 192.0.2.10:53000 > 198.51.100.9:53 len=40"),
			want: Packet{Version: 4, HdrLen: 20, TotalLen: 68, TTL: 64, ID: 1, Proto: ProtoUDP,
				Src: netip.MustParseAddr("192.0.2.10"), Dst: netip.MustParseAddr("198.51.100.9"),
				L4OK: true, L4Fixed: true, SrcPort: 53000, DstPort: 53},
			pay: make([]byte, 40),
		},
		{
			name: "udp header cut at 7 bytes",
			data: edit(mustBuild(t, "eth0 udp 192.0.2.10:1 > 198.51.100.9:2"), func(b []byte) []byte { b[3] = 27; return b[:27] }),
			want: Packet{Version: 4, HdrLen: 20, TotalLen: 27, TTL: 64, ID: 1, Proto: ProtoUDP,
				Src: netip.MustParseAddr("192.0.2.10"), Dst: netip.MustParseAddr("198.51.100.9")},
		},
		{
			name: "icmp echo request",
			data: edit(mustBuild(t, "eth0 icmp 203.0.113.7 > 198.51.100.1 echo-request len=3"), func(b []byte) []byte {
				b[24], b[25], b[26], b[27] = 0x12, 0x34, 0, 9
				return b
			}),
			want: Packet{Version: 4, HdrLen: 20, TotalLen: 31, TTL: 64, ID: 1, Proto: ProtoICMP,
				Src: a1, Dst: a2, L4OK: true, L4Fixed: true, ICMPType: 8, ICMPID: 0x1234, ICMPSeq: 9},
			pay: make([]byte, 3),
		},
		{
			name: "icmp port unreachable: payload is the quoted packet",
			data: mustBuild(t, "eth0 icmp 203.0.113.7 > 198.51.100.1 3/3 inner udp 198.51.100.1:46000 > 203.0.113.80:33434"),
			want: Packet{Version: 4, HdrLen: 20, TotalLen: 56, TTL: 64, ID: 1, Proto: ProtoICMP,
				Src: a1, Dst: a2, L4OK: true, L4Fixed: true, ICMPType: 3, ICMPCode: 3},
			pay: mustHex(t, "4500001c000100004011144bc6336401cb007150b3b0829a0008630d"),
		},
		{
			name: "icmp cut at 7 bytes",
			data: edit(mustBuild(t, "eth0 icmp 203.0.113.7 > 198.51.100.1 type 8"), func(b []byte) []byte { b[3] = 27; return b[:27] }),
			want: Packet{Version: 4, HdrLen: 20, TotalLen: 27, TTL: 64, ID: 1, Proto: ProtoICMP, Src: a1, Dst: a2},
		},
		{
			name: "first fragment decodes its transport header",
			data: mustBuild(t, "eth0 tcp 203.0.113.7:1 > 198.51.100.1:2 S mf"),
			want: Packet{Version: 4, HdrLen: 20, TotalLen: 40, TTL: 64, ID: 1, MF: true,
				Proto: ProtoTCP, Src: a1, Dst: a2, L4OK: true, L4Fixed: true, SrcPort: 1, DstPort: 2,
				TCPFlags: TCPSyn, TCPDoff: 20, Seq: 1000, Window: 8192},
			pay: []byte{},
		},
		{
			name: "later fragment has no transport header",
			data: mustBuild(t, "eth0 tcp 203.0.113.7:1 > 198.51.100.1:2 S frag_off=185"),
			want: Packet{Version: 4, HdrLen: 20, TotalLen: 40, TTL: 64, ID: 1, FragOff: 185,
				Proto: ProtoTCP, Src: a1, Dst: a2},
			// All of L4: Build still wrote the TCP header's bytes.
			pay: mustHex(t, "00010002000003e80000000050022000 25bb0000"),
		},
		{
			name: "other protocol",
			data: mustBuild(t, "eth0 47 203.0.113.7 > 198.51.100.1 len=4"),
			want: Packet{Version: 4, HdrLen: 20, TotalLen: 24, TTL: 64, ID: 1, Proto: 47,
				Src: a1, Dst: a2, L4OK: true, L4Fixed: true},
			pay: make([]byte, 4),
		},
		{
			name: "ip options skipped; padding after total length dropped",
			data: func() []byte {
				b := mustBuild(t, "eth0 udp 192.0.2.10:1 > 198.51.100.9:2")
				// insert 4 bytes of options (NOP NOP NOP EOL), then pad.
				c := append(append(append([]byte{}, b[:20]...), 1, 1, 1, 0), b[20:]...)
				c[0] = 0x46
				c[3] = byte(len(c))
				return append(c, 0xee, 0xee, 0xee)
			}(),
			want: Packet{Version: 4, HdrLen: 24, TotalLen: 32, TTL: 64, ID: 1, Proto: ProtoUDP,
				Src: netip.MustParseAddr("192.0.2.10"), Dst: netip.MustParseAddr("198.51.100.9"),
				L4OK: true, L4Fixed: true, SrcPort: 1, DstPort: 2},
			pay: []byte{},
		},
		{
			name: "header only, total length 20",
			data: edit(mustBuild(t, "eth0 tcp 203.0.113.7:1 > 198.51.100.1:2"), func(b []byte) []byte { b[3] = 20; return b }),
			want: Packet{Version: 4, HdrLen: 20, TotalLen: 20, TTL: 64, ID: 1, Proto: ProtoTCP, Src: a1, Dst: a2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p Packet
			if err := p.Decode(tt.data); err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if len(p.Data) != p.TotalLen || &p.Data[0] != &tt.data[0] {
				t.Errorf("Data is not data[:TotalLen]: len %d, TotalLen %d", len(p.Data), p.TotalLen)
			}
			if len(p.L4) != p.TotalLen-p.HdrLen {
				t.Errorf("len(L4) = %d, want %d", len(p.L4), p.TotalLen-p.HdrLen)
			}
			got := p
			got.Data, got.L4 = nil, nil
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("decoded\n got %+v\nwant %+v", got, tt.want)
			}
			if o := p.TCPOptions(); !reflect.DeepEqual(o, tt.opts) {
				t.Errorf("TCPOptions() = %v, want %v", o, tt.opts)
			}
			if pay := p.Payload(); !reflect.DeepEqual(pay, tt.pay) {
				t.Errorf("Payload() = %v, want %v", pay, tt.pay)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	good := mustBuild(t, "eth0 tcp 203.0.113.7:1 > 198.51.100.1:2")
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"nil", nil, ErrShort},
		{"19 bytes", good[:19], ErrShort},
		{"version 7", edit(good, func(b []byte) []byte { b[0] = 0x75; return b }), ErrVersion},
		// An IPv4 packet's first bytes read as IPv6: 40 bytes, payload
		// length 0x0001 from the IPv4 id field, one byte short.
		{"version 6, payload beyond data", edit(good, func(b []byte) []byte { b[0] = 0x65; return b }), ErrTruncated6},
		{"version 6, 39 bytes", edit(good[:39], func(b []byte) []byte { b[0] = 0x60; return b }), ErrShort6},
		{"version 6, 20 bytes", edit(good[:20], func(b []byte) []byte { b[0] = 0x60; return b }), ErrShort6},
		{"version 0", edit(good, func(b []byte) []byte { b[0] = 0x05; return b }), ErrVersion},
		{"ihl 4", edit(good, func(b []byte) []byte { b[0] = 0x44; return b }), ErrHeaderLen},
		{"ihl 0", edit(good, func(b []byte) []byte { b[0] = 0x40; return b }), ErrHeaderLen},
		{"total length 19", edit(good, func(b []byte) []byte { b[3] = 19; return b }), ErrTotalLen},
		{"total length below ihl 6", edit(good, func(b []byte) []byte { b[0], b[3] = 0x46, 20; return b }), ErrTotalLen},
		{"total length beyond data", good[:39], ErrTruncated},
		{"ihl 15 beyond data", edit(good, func(b []byte) []byte { b[0], b[3] = 0x4f, 60; return b }), ErrTruncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Packet{TTL: 9, L4OK: true} // must be reset
			err := p.Decode(tt.data)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Decode = %v, want %v", err, tt.want)
			}
			if !reflect.DeepEqual(p, Packet{}) {
				t.Errorf("after an error p = %+v, want the zero Packet", p)
			}
		})
	}
}

// A reused Packet must not keep fields from the previous packet.
func TestDecodeReuse(t *testing.T) {
	var p Packet
	if err := p.Decode(mustBuild(t, "eth0 tcp 203.0.113.7:1 > 198.51.100.1:2 SA")); err != nil {
		t.Fatal(err)
	}
	b := mustBuild(t, "eth0 icmp 203.0.113.7 > 198.51.100.1 type 8")
	if err := p.Decode(b); err != nil {
		t.Fatal(err)
	}
	var fresh Packet
	fresh.Decode(b)
	if !reflect.DeepEqual(p, fresh) {
		t.Errorf("reused Packet differs from a fresh one:\n%+v\n%+v", p, fresh)
	}
}

func TestDecodeAllocs(t *testing.T) {
	pkts := [][]byte{
		mustBuild(t, "eth0 tcp 203.0.113.7:40000 > 198.51.100.1:22 S"),
		mustBuild(t, "eth0 udp 203.0.113.7:40000 > 198.51.100.1:53 len=100"),
		mustBuild(t, "eth0 icmp 203.0.113.7 > 198.51.100.1 type 8"),
		{0x60, 0, 0}, // error path
	}
	var p Packet
	n := testing.AllocsPerRun(1000, func() {
		for _, b := range pkts {
			p.Decode(b)
			_ = p.TCPOptions()
			_ = p.Payload()
		}
	})
	if n != 0 {
		t.Errorf("Decode allocates %v times per run, want 0", n)
	}
}

func TestFragmentPredicates(t *testing.T) {
	tests := []struct {
		short        string
		frag, later  bool
		icmpErrorish bool
	}{
		{"eth0 tcp 203.0.113.7:1 > 198.51.100.1:2", false, false, false},
		{"eth0 tcp 203.0.113.7:1 > 198.51.100.1:2 mf", true, false, false},
		{"eth0 tcp 203.0.113.7:1 > 198.51.100.1:2 frag_off=1", true, true, false},
		{"eth0 icmp 203.0.113.7 > 198.51.100.1 3/1", false, false, true},
		{"eth0 icmp 203.0.113.7 > 198.51.100.1 type 8", false, false, false},
		{"eth0 icmp 203.0.113.7 > 198.51.100.1 type 11 frag_off=2", true, true, false},
	}
	for _, tt := range tests {
		var p Packet
		if err := p.Decode(mustBuild(t, tt.short)); err != nil {
			t.Fatal(err)
		}
		if p.IsFragment() != tt.frag || p.IsLaterFragment() != tt.later || p.IsICMPError() != tt.icmpErrorish {
			t.Errorf("%s: IsFragment %v IsLaterFragment %v IsICMPError %v, want %v %v %v", tt.short,
				p.IsFragment(), p.IsLaterFragment(), p.IsICMPError(), tt.frag, tt.later, tt.icmpErrorish)
		}
	}
}

// The zero Packet's accessors say "nothing" rather than panic.
func TestZeroPacket(t *testing.T) {
	var p Packet
	if p.TCPOptions() != nil || p.Payload() != nil || p.IsFragment() || p.IsICMPError() ||
		p.IPChecksumOK() || p.L4ChecksumOK() || p.Summary() != "[|ip]" {
		t.Error("zero Packet accessors are not all empty/false")
	}
	p.FixChecksums() // must not panic
	if p.SetSrc(a1) != ErrNotDecoded || p.SetSrcPort(1) != ErrNoPorts || p.SetICMPID(1) != ErrNoICMPID {
		t.Error("rewrites of the zero Packet did not fail as documented")
	}
}

func BenchmarkDecodeTCP(b *testing.B) {
	data := mustBuild(b, "eth0 tcp 203.0.113.7:40000 > 198.51.100.1:22 PA len=100")
	var p Packet
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if err := p.Decode(data); err != nil || !p.L4OK {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeUDP(b *testing.B) {
	data := mustBuild(b, "eth0 udp 192.0.2.10:53000 > 198.51.100.9:53 len=40")
	var p Packet
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if err := p.Decode(data); err != nil || !p.L4OK {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeTCP6(b *testing.B) {
	data := mustBuild(b, "eth0 tcp [2001:db8:113::7]:40000 > [2001:db8:100::1]:22 PA len=100")
	var p Packet
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if err := p.Decode(data); err != nil || !p.L4OK {
			b.Fatal(err)
		}
	}
}

// IPv6 with a Hop-by-Hop, a Destination Options and a Fragment header
// (offset 0) before UDP: the walk to the upper layer, and the search
// for the Fragment header's fields.
func BenchmarkDecodeUDP6Ext(b *testing.B) {
	data := mustBuild(b, "eth0 udp [2001:db8:2::10]:53000 > [2001:db8:100::9]:53 len=40 ext=hbh,dst,frag/0/0")
	var p Packet
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if err := p.Decode(data); err != nil || !p.L4OK {
			b.Fatal(err)
		}
	}
}
