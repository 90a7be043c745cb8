package packet

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to Decode and checks that it never
// panics and that what it reports is true of the bytes: a success means
// a usable header, L4OK and L4Fixed promise the bytes the kernel would
// read, the accessors stay inside Data, and the rewrites keep checksums
// verifiable.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		"eth0 tcp 203.0.113.7:40000 > 198.51.100.1:22 S",
		"eth0 tcp 203.0.113.7:40000 > 198.51.100.1:22 PA len=10",
		"eth0 udp 192.0.2.10:53000 > 198.51.100.9:53 len=40",
		"eth0 icmp 198.51.100.9 > 198.51.100.1 type 8",
		"eth0 icmp 203.0.113.80 > 198.51.100.1 3/3 inner udp 198.51.100.1:46000 > 203.0.113.80:33434",
		"eth0 tcp 203.0.113.7:1 > 198.51.100.1:2 S frag_off=3 mf",
		"eth0 47 203.0.113.7 > 198.51.100.1 len=3",
		"eth0 tcp(raw) 203.0.113.7 > 198.51.100.1 len=20",
		"eth0 6 203.0.113.7 > 198.51.100.1 len=7 mf",
		"eth0 tcp [2001:db8:113::7]:40000 > [2001:db8:100::1]:22 S",
		"eth0 udp [2001:db8:2::10]:53000 > [2001:db8:100::9]:53 ext=hbh,dst/1,rt/0/1/2001:db8::5,ah/7 len=3",
		"eth0 icmpv6 2001:db8:113::80 > 2001:db8:100::1 1/4 inner udp [2001:db8:100::1]:46000 > [2001:db8:113::80]:33434",
		"eth0 icmpv6 fe80::ff:fe00:101 > ff02::1:ff00:1 neighbour-solicitation target=2001:db8:100::1",
		"eth0 tcp [2001:db8::1]:1 > [2001:db8::2]:2 frag_off=3 mf ext=dst",
		"eth0 59 2001:db8::1 > 2001:db8::2 ext=frag/0/0,rt/4/1/2001:db8::9/2001:db8::8",
	} {
		f.Add(mustBuild(f, s))
	}
	for _, e := range ipv6Examples {
		f.Add(mustHex(f, e.hex))
	}
	f.Add([]byte{0x45, 0, 0, 20})
	f.Add([]byte{0x4f, 0, 0, 60, 0, 0, 0, 0, 64, 6})
	f.Add(raw6(ProtoFragment, frag(ProtoDstOpts, 3, false), make([]byte, 16)))
	f.Add(raw6(ProtoDstOpts, []byte{ProtoTCP, 3, 1, 4, 0, 0, 0, 0}, tcp20))
	f.Fuzz(func(t *testing.T, data []byte) {
		orig := append([]byte(nil), data...)
		var p Packet
		err := p.Decode(data)
		if !bytes.Equal(data, orig) {
			t.Fatal("Decode changed its input")
		}
		if err != nil {
			if !reflect.DeepEqual(p, Packet{}) {
				t.Fatalf("error %v left a non-zero Packet", err)
			}
			_ = p.Summary()
			return
		}
		// A success means a header the kernel's ip_rcv (ip6_rcv_core)
		// would accept.
		minHdr := 20
		if p.Version == 6 {
			minHdr = 40
		}
		if len(data) < minHdr || data[0]>>4 != p.Version || p.HdrLen < minHdr || p.HdrLen > p.TotalLen ||
			p.TotalLen > len(data) || len(p.Data) != p.TotalLen || len(p.L4) != p.TotalLen-p.HdrLen {
			t.Fatalf("inconsistent header: v%d hdr %d total %d data %d", p.Version, p.HdrLen, p.TotalLen, len(data))
		}
		if p.Version == 4 {
			checkAddrs4(t, &p)
		}
		if p.Version == 6 {
			checkWalks(t, &p)
		}
		if p.L4OK && !p.L4Fixed {
			t.Fatal("L4OK without L4Fixed")
		}
		if p.L4Fixed && p.FragOff != 0 {
			t.Fatal("transport header claimed for a later fragment")
		}
		if p.L4Fixed {
			need := map[uint8]int{ProtoTCP: 20, ProtoUDP: 8}[p.Proto]
			if p.Proto == p.icmpProto() {
				need = 8
			}
			if len(p.L4) < need {
				t.Fatalf("L4Fixed with %d bytes for proto %d", len(p.L4), p.Proto)
			}
		}
		if p.L4OK && p.Proto == ProtoTCP && (p.TCPDoff < 20 || p.TCPDoff > len(p.L4)) {
			t.Fatalf("L4OK with data offset %d and %d bytes", p.TCPDoff, len(p.L4))
		}
		if !p.L4Fixed && (p.SrcPort|p.DstPort|p.Window|p.ICMPID|p.ICMPSeq) != 0 {
			t.Fatal("transport fields set without a transport header")
		}
		within := func(s []byte) bool {
			if len(s) == 0 {
				return true
			}
			for i := range p.Data {
				if &p.Data[i] == &s[0] {
					return i+len(s) <= len(p.Data)
				}
			}
			return false
		}
		if !within(p.TCPOptions()) || !within(p.Payload()) {
			t.Fatal("accessor outside Data")
		}
		_ = p.Summary()
		_ = p.IsICMPError()

		// Rewrites after a FixChecksums keep both checksums right.
		p.FixChecksums()
		if !p.IPChecksumOK() {
			t.Fatal("IP checksum wrong after FixChecksums")
		}
		l4ok := p.L4ChecksumOK()
		if p.Version == 6 {
			p.SetSrc(netip.MustParseAddr("2001:db8:113::9"))
			p.SetDst(netip.MustParseAddr("2001:db8:ffff::1"))
			p.DecTTL()
		} else {
			p.SetSrc(a1)
			p.SetDst(a2)
		}
		p.SetSrcPort(1234)
		p.SetDstPort(4321)
		p.SetICMPID(77)
		if !p.IPChecksumOK() {
			t.Fatal("IP checksum wrong after rewrites")
		}
		if l4ok && !p.L4ChecksumOK() {
			t.Fatal("transport checksum wrong after rewrites")
		}
		var q Packet
		if err := q.Decode(data); err != nil {
			t.Fatalf("rewritten packet no longer decodes: %v", err)
		}
		q.Data, q.L4 = p.Data, p.L4
		if !reflect.DeepEqual(p, q) {
			t.Fatalf("rewrite fields out of step with the bytes:\n%+v\n%+v", p, q)
		}
	})
}

// FuzzParseShort checks that ParseShort never panics, that every Desc
// it accepts prints back to a string that parses to the same Desc, and
// that it builds into a packet that decodes to what it says.
func FuzzParseShort(f *testing.F) {
	for _, s := range []string{
		"eth0 tcp 203.0.113.7:40000 > 198.51.100.1:22 S",
		"local tcp 198.51.100.1:22>203.0.113.7:40000 SA seq=5 ack=0x10",
		"wlan0 udp 192.0.2.10:53000 > 198.51.100.9:53 len=40 ttl=1 df mf frag_off=3",
		"eth0 icmp 198.51.100.9 > 198.51.100.1 echo-request delay_ms=1000",
		"eth0 icmp 203.0.113.80 > 198.51.100.1 type 3 code 3 inner udp 198.51.100.1:46000 > 203.0.113.80:33434",
		"eth0 47 203.0.113.7 > 198.51.100.1 len=4 src_mac=02:00:00:00:01:01",
		"tcp 1.2.3.4:1 > 1.2.3.5:2 none",
		"",
		">",
		"6 6 1.2.3.4:1 > 1.2.3.5:2",
		"6 6 1.2.3.4 > 1.2.3.5 len=20",
		"eth0 udp(raw) 1.2.3.4 > 1.2.3.5 len=8 frag_off=1",
		"local icmp(raw) 1.2.3.4 > 1.2.3.5",
		"eth0 tcp [2001:db8:113::7]:40000 > [2001:db8:100::1]:22 S flow=5 tos=3",
		"eth0 icmpv6 fe80::ff:fe00:101 > ff02::1:ff00:1 neighbour-advertisement target=2001:db8:100::1 ttl=3",
		"eth0 icmpv6 [2001:db8::1] > 2001:db8::2 2 mtu=1500 inner tcp [2001:db8::2]:1 > [2001:db8::1]:2",
		"eth0 icmpv6 2001:db8::1 > 2001:db8::2 parameter-problem pointer=7",
		"eth0 udp [2001:db8::1]:1 > [2001:db8::2]:2 ext=hbh/2,rt/2/1/2001:db8::3,frag/1/1/9,ah/1,dst id=4 frag_off=2",
		"eth0 58 2001:db8::1 > 2001:db8::2 len=3",
		"eth0 icmp 2001:db8::1 > 2001:db8::2 type 8",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseShort(s)
		if err != nil {
			if _, ok := err.(*ShortError); !ok {
				t.Fatalf("error %T is not a *ShortError: %v", err, err)
			}
			return
		}
		checkDesc(t, d)
		back, err := ParseShort(d.String())
		if err != nil {
			t.Fatalf("%q prints as %q, which does not parse: %v", s, d.String(), err)
		}
		if !reflect.DeepEqual(back, d) {
			t.Fatalf("%q prints as %q, which parses differently:\n%+v\n%+v", s, d.String(), d, back)
		}
		// The JSON form says the same (it needs "in" or "local").
		if d.In == "" && !d.Local {
			return
		}
		out, _ := d.MarshalJSON()
		j, err := ParseDescLine(out)
		if err != nil || !reflect.DeepEqual(j, d) {
			t.Fatalf("%q marshals as %s, which parses as %+v, %v", s, out, j, err)
		}
	})
}

// FuzzParseDescLine checks that ParseDescLine never panics, that every
// Desc it accepts marshals to a line that parses to the same Desc, and
// that it builds.
func FuzzParseDescLine(f *testing.F) {
	for _, e := range packetsMDExamples {
		f.Add([]byte(e.line))
	}
	for _, s := range []string{
		`{"in":"eth0","src":"203.0.113.7","dst":"198.51.100.1","proto":"tcp","sport":1,"dport":2,"flags":"","seq":0,"ttl":0,"id":0,"window":0,"ack":0}`,
		`{"in":"eth0","src":"203.0.113.7","dst":"198.51.100.1","proto":"47","len":3,"tos":255,"df":true,"mf":true,"frag_off":8191}`,
		`{"in":"eth0","src":"203.0.113.7","dst":"198.51.100.1","proto":"tcp","sport":1,"dport":2,"src_mac":"02:00:00:00:01:01","delay_ms":5}`,
		`{"in":"eth0","src":"203.0.113.7","dst":"198.51.100.1","proto":6,"len":20,"src_mac":"02:00:00:00:01:01","delay_ms":5}`,
		`{"local":true,"src":"203.0.113.7","dst":"198.51.100.1","proto":"17","len":7,"mf":true}`,
		`{"in":"wlan0","src":"203.0.113.7","dst":"198.51.100.1","proto":1,"frag_off":2}`,
		`{"in":"eth0","src":"203.0.113.7","dst":"198.51.100.1","proto":"icmp","type":3,"inner":{"src":"1.2.3.4","dst":"1.2.3.5","proto":6,"sport":1,"dport":2}}`,
		`{"in":"eth0","src":"203.0.113.7","dst":"198.51.100.1","proto":"tcp","sport":1,"dport":2,"sport":3}`,
		`{"in":"eth0"} trailing`,
		`{"inner":{"inner":1}}`,
		`null`,
		`{"in":"eth0","src":"2001:db8::1","dst":"2001:db8::2","proto":"udp","sport":1,"dport":2,"ext":[{"type":"frag","offset":0,"mf":true,"id":5},{"type":"hbh","len":300}]}`,
		`{"in":"eth0","src":"2001:db8::1","dst":"2001:db8::2","proto":"icmpv6","type":2,"mtu":9000,"flow":1,"ext":[]}`,
		`{"in":"eth0","src":"2001:db8::1","dst":"2001:db8::2","proto":"icmpv6","type":4,"pointer":0,"ext":[{"type":"ah","len":1}]}`,
	} {
		f.Add([]byte(s))
	}
	for _, e := range ipv6Examples {
		f.Add([]byte(e.line))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		d, err := ParseDescLine(line)
		if err != nil {
			return
		}
		checkDesc(t, d)
		out, err := d.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseDescLine(out)
		if err != nil {
			t.Fatalf("%s marshals as %s, which does not parse: %v", line, out, err)
		}
		if !reflect.DeepEqual(back, d) {
			t.Fatalf("%s marshals as %s, which parses differently:\n%+v\n%+v", line, out, d, back)
		}
		// The short form says the same, for the names it can carry.
		if d.In == "local" || strings.Contains(d.In, ">") {
			return
		}
		short, err := ParseShort(d.String())
		if err != nil || !reflect.DeepEqual(short, d) {
			t.Fatalf("%s prints as %q, which parses as %+v, %v", line, d.String(), short, err)
		}
	})
}

// checkDesc builds a valid Desc and checks the packet against it.
func checkDesc(t *testing.T, d Desc) {
	t.Helper()
	b, err := d.Build(3)
	if err != nil {
		t.Fatalf("accepted %+v but Build fails: %v", d, err)
	}
	var p Packet
	if err := p.Decode(b); err != nil {
		t.Fatalf("built packet does not decode: %v", err)
	}
	if d.IsIPv6() {
		checkDesc6(t, d, b, &p)
		return
	}
	if p.Src != d.Src || p.Dst != d.Dst || p.Proto != uint8(d.Proto) || p.TotalLen != len(b) ||
		p.FragOff != d.FragOff || p.MF != d.MF || p.DF != d.DF || p.TOS != d.TOS {
		t.Fatalf("built packet %+v does not match %+v", p, d)
	}
	if !p.IPChecksumOK() {
		t.Fatal("built packet has a bad IP checksum")
	}
	if d.Raw || !named(d.Proto) {
		// The IP header and len zero bytes, nothing else.
		if p.HdrLen != 20 || len(p.L4) != d.Len || bytes.Count(p.L4, []byte{0}) != d.Len {
			t.Fatalf("raw packet: %d-byte header and % x, want 20 and %d zeros", p.HdrLen, p.L4, d.Len)
		}
		return
	}
	if d.FragOff == 0 && !d.MF {
		if !p.L4OK || !p.L4ChecksumOK() {
			t.Fatalf("built packet: L4OK %v, checksum ok %v", p.L4OK, p.L4ChecksumOK())
		}
		switch d.Proto {
		case ProtoTCP, ProtoUDP:
			if p.SrcPort != d.Sport || p.DstPort != d.Dport {
				t.Fatal("ports differ")
			}
			if d.Proto == ProtoTCP && p.TCPFlags != uint8(d.TCPFlagBits()) {
				t.Fatal("flags differ")
			}
		case ProtoICMP:
			if p.ICMPType != d.Type || p.ICMPCode != d.Code {
				t.Fatal("icmp type/code differ")
			}
		}
	}
	if d.Proto == ProtoUDP {
		if got := int(binary.BigEndian.Uint16(p.L4[4:])); got != 8+d.Len {
			t.Fatalf("udp length %d, want %d", got, 8+d.Len)
		}
	}
}

// checkDesc6 is checkDesc for an IPv6 d built into b and decoded into p.
func checkDesc6(t *testing.T, d Desc, b []byte, p *Packet) {
	t.Helper()
	if p.Version != 6 || p.Src != d.Src || p.Dst != d.Dst || p.TOS != d.TOS || p.FlowLabel != d.Flow ||
		p.TotalLen != len(b) || len(b) != d.headerLen()+d.Len {
		t.Fatalf("built packet %+v does not match %+v", p, d)
	}
	// Where the chain has no later fragment, the walkers find the
	// upper layer right after the headers Build wrote.
	later := d.FragOff != 0
	for _, e := range d.Ext {
		later = later || (e.Type == "frag" && e.Offset != 0)
	}
	upper := 40 + d.extLen6()
	// A protocol number that is itself an extension header type makes
	// the len zero bytes read as that header.
	if IsExtHdr(uint8(d.Proto)) && d.Proto != ProtoNoNext {
		return
	}
	if !later {
		w := p.IP6tProto()
		if w.Err != ExtOK || w.Proto != uint8(d.Proto) || w.Off != upper || p.Proto != uint8(d.Proto) {
			t.Fatalf("legacy walk %+v, Proto %d; want %d at %d", w, p.Proto, d.Proto, upper)
		}
		if c := p.ConntrackProto(); d.Proto != ProtoNoNext && (c.Err != ExtOK || c.Proto != uint8(d.Proto) || c.Off != upper) {
			t.Fatalf("conntrack walk %+v; want %d at %d", c, d.Proto, upper)
		}
	}
	if d.Raw || !named(d.Proto) {
		if !bytes.Equal(b[upper:], make([]byte, d.Len)) {
			t.Fatalf("raw packet: % x after the headers, want %d zeros", b[upper:], d.Len)
		}
		return
	}
	if later {
		return
	}
	switch d.Proto {
	case ProtoTCP, ProtoUDP:
		if p.SrcPort != d.Sport || p.DstPort != d.Dport {
			t.Fatal("ports differ")
		}
	case ProtoICMPv6:
		if p.ICMPType != d.Type || p.ICMPCode != d.Code {
			t.Fatal("icmpv6 type/code differ")
		}
	}
	// The checksum is right for the final destination.
	q := *p
	q.Dst = finalDst(b, p.NextHdr, p.Dst)
	if !p.IsFragment() && !q.L4ChecksumOK() {
		t.Fatalf("built packet has a bad checksum for final destination %s", q.Dst)
	}
}

// checkWalks checks what the walkers and accessors say about a decoded
// IPv6 packet against each other and the bytes, and that none panics.
func checkWalks(t *testing.T, p *Packet) {
	t.Helper()
	w := p.IP6tProto()
	if (w.Err == ExtOK) != (p.ExtErr == ExtOK) || (w.Err == ExtOK && w.Proto != p.Proto) {
		t.Fatalf("Decode's walk (%d, %v) is not IP6tProto's %+v", p.Proto, p.ExtErr, w)
	}
	if w.Err != ExtOK && (w.FragOff != 0 || p.L4Fixed || p.Proto != 0) {
		t.Fatalf("failed walk with fragoff %d, L4Fixed %v, Proto %d", w.FragOff, p.L4Fixed, p.Proto)
	}
	n := p.NftProto()
	if w.Err == ExtOK && n.Err == ExtOK && n.Proto != ProtoAH && n != w {
		t.Fatalf("nft walk %+v differs from legacy %+v without AH", n, w)
	}
	c := p.ConntrackProto()
	if c.Err == ExtOK && c.FragOff == 0 && w.Err == ExtOK && w.FragOff == 0 && (c.Proto != w.Proto || c.Off != w.Off) {
		t.Fatalf("conntrack walk %+v differs from legacy %+v", c, w)
	}
	for _, tg := range []uint8{ProtoHopOpts, ProtoDstOpts, ProtoRouting, ProtoFragment, ProtoAH} {
		hdr, found, hotdrop := p.FindExt(tg, 2)
		if found && (hotdrop || len(hdr) < 2 || int(hdr[0]) > 255) {
			t.Fatal("FindExt: found with a drop or too few bytes")
		}
	}
	p.IPv6HeaderMask()
	if w := p.FindHdr(ProtoHopOpts, 0); w.Err == ExtOK {
		if v, ptr := OptsCheck(p.Data, w.Off, true, false); (v == OptsParamProb || v == OptsUnknownOption) && (ptr < w.Off || ptr >= len(p.Data)) {
			t.Fatalf("parameter problem pointing at %d, outside the header at %d", ptr, w.Off)
		}
	}
	if w := p.FindHdr(ProtoDstOpts, 0); w.Err == ExtOK {
		OptsCheck(p.Data, w.Off, false, true)
	}
	if q, ok := p.QuotedV6(); ok && (q.Off < p.HdrLen+48 || len(q.L4) > len(p.Data)) {
		t.Fatalf("quoted packet at %d", q.Off)
	}
	p.NDTarget()
	if o, ok := p.NDOption(1); ok && (len(o) < 8 || len(o)%8 != 0) {
		t.Fatalf("ND option of %d bytes", len(o))
	}
	p.NDLinkAddr(2)
	p.ICMPv6Param()
	_ = p.Payload()
}
