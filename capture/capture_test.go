package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"testing"
	"testing/iotest"
)

// ipv4 is a minimal IPv4/UDP packet 192.0.2.1 -> 198.51.100.2.
var ipv4 = []byte{
	0x45, 0, 0, 28, 0, 1, 0, 0, 64, 17, 0, 0, 192, 0, 2, 1, 198, 51, 100, 2,
	0x30, 0x39, 0, 53, 0, 8, 0, 0,
}

func readAll(t *testing.T, b []byte) (*Reader, []Record) {
	t.Helper()
	r, err := NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	var out []Record
	for {
		var rec Record
		err := r.Next(&rec)
		if err == io.EOF {
			return r, out
		}
		if err != nil {
			t.Fatal(err)
		}
		rec.Data = append([]byte(nil), rec.Data...)
		if rec.Comment != nil {
			rec.Comment = append([]byte(nil), rec.Comment...)
		}
		out = append(out, rec)
	}
}

// pcapFile builds a pcap file by hand in either byte order.
func pcapFile(order binary.AppendByteOrder, magic uint32, link uint32, recs ...[]byte) []byte {
	var b []byte
	b = order.AppendUint32(b, magic)
	b = order.AppendUint16(b, 2)
	b = order.AppendUint16(b, 4)
	b = order.AppendUint32(b, 0)
	b = order.AppendUint32(b, 0)
	b = order.AppendUint32(b, 65535)
	b = order.AppendUint32(b, link)
	for i, d := range recs {
		b = order.AppendUint32(b, 1700000000+uint32(i))
		b = order.AppendUint32(b, 123456)
		b = order.AppendUint32(b, uint32(len(d)))
		b = order.AppendUint32(b, uint32(len(d)+10))
		b = append(b, d...)
	}
	return b
}

func TestPcapMicroNanoBothOrders(t *testing.T) {
	for _, tc := range []struct {
		name  string
		order binary.AppendByteOrder
		magic uint32
		want  int64
	}{
		{"micro LE", binary.LittleEndian, 0xa1b2c3d4, 1700000000*1e9 + 123456000},
		{"micro BE", binary.BigEndian, 0xa1b2c3d4, 1700000000*1e9 + 123456000},
		{"nano LE", binary.LittleEndian, 0xa1b23c4d, 1700000000*1e9 + 123456},
		{"nano BE", binary.BigEndian, 0xa1b23c4d, 1700000000*1e9 + 123456},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The FCS bits above the link type are ignored.
			r, recs := readAll(t, pcapFile(tc.order, tc.magic, 101|1<<28, ipv4, ipv4))
			if len(recs) != 2 || recs[0].Time != tc.want || recs[1].Time != tc.want+1e9 {
				t.Fatalf("records %+v", recs)
			}
			if recs[0].Link != LinkRaw || r.Interfaces()[0].Snaplen != 65535 || recs[0].OrigLen != len(ipv4)+10 || !bytes.Equal(recs[0].Data, ipv4) {
				t.Fatalf("record %+v", recs[0])
			}
			if recs[0].BigEndian != (tc.order == binary.BigEndian) {
				t.Fatal("byte order not reported")
			}
		})
	}
}

func TestPcapErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ErrFormat},
		{"bad magic", make([]byte, 24), ErrFormat},
		{"cut record", pcapFile(binary.LittleEndian, 0xa1b2c3d4, 1, ipv4)[:24+16+3], io.ErrUnexpectedEOF},
		{"huge record", func() []byte {
			b := pcapFile(binary.LittleEndian, 0xa1b2c3d4, 1, ipv4)
			binary.LittleEndian.PutUint32(b[24+8:], MaxPacket+1)
			return b
		}(), ErrFormat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewReader(bytes.NewReader(tc.data))
			if err == nil {
				var rec Record
				err = r.Next(&rec)
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

// ngBlock builds one pcapng block in order.
func ngBlock(order binary.AppendByteOrder, typ uint32, body []byte) []byte {
	for len(body)%4 != 0 {
		body = append(body, 0)
	}
	n := uint32(len(body) + 12)
	var b []byte
	b = order.AppendUint32(b, typ)
	b = order.AppendUint32(b, n)
	b = append(b, body...)
	return order.AppendUint32(b, n)
}

func ngOpt(order binary.AppendByteOrder, code uint16, v []byte) []byte {
	b := order.AppendUint16(nil, code)
	b = order.AppendUint16(b, uint16(len(v)))
	b = append(b, v...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func shb(order binary.AppendByteOrder) []byte {
	b := order.AppendUint32(nil, 0x1A2B3C4D)
	b = order.AppendUint16(b, 1)
	b = order.AppendUint16(b, 0)
	b = order.AppendUint64(b, ^uint64(0))
	return ngBlock(order, blockSHB, b)
}

func idb(order binary.AppendByteOrder, link LinkType, name string, opts ...[]byte) []byte {
	b := order.AppendUint16(nil, uint16(link))
	b = order.AppendUint16(b, 0)
	b = order.AppendUint32(b, 262144)
	if name != "" {
		b = append(b, ngOpt(order, 2, []byte(name))...)
	}
	for _, o := range opts {
		b = append(b, o...)
	}
	return ngBlock(order, blockIDB, append(b, 0, 0, 0, 0))
}

func epb(order binary.AppendByteOrder, iface uint32, ticks uint64, data []byte, flags uint32) []byte {
	b := order.AppendUint32(nil, iface)
	b = order.AppendUint32(b, uint32(ticks>>32))
	b = order.AppendUint32(b, uint32(ticks))
	b = order.AppendUint32(b, uint32(len(data)))
	b = order.AppendUint32(b, uint32(len(data)))
	b = append(b, data...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	if flags != 0 {
		b = append(b, ngOpt(order, 2, order.AppendUint32(nil, flags))...)
		b = append(b, ngOpt(order, 1, []byte("a comment"))...)
		b = append(b, 0, 0, 0, 0)
	}
	return ngBlock(order, blockEPB, b)
}

func eth(vlans ...uint16) []byte {
	b := []byte{2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 1, 1}
	for _, v := range vlans {
		b = append(b, 0x81, 0x00, byte(v>>8), byte(v))
	}
	b = append(b, 0x08, 0x00)
	return append(b, ipv4...)
}

func sll2(ifindex uint32, pktType uint8) []byte {
	b := []byte{0x08, 0x00, 0, 0}
	b = binary.BigEndian.AppendUint32(b, ifindex)
	b = append(b, 0, 1, pktType, 6, 2, 0, 0, 0, 2, 1, 0, 0)
	return append(b, ipv4...)
}

func TestPcapngInterfacesResolutionsFlags(t *testing.T) {
	le, be := binary.LittleEndian, binary.BigEndian
	var f []byte
	f = append(f, shb(le)...)
	// eth0: microseconds (the default); any: nanoseconds with an offset
	// of 100 s; tun0: 2^-10 s ticks.
	f = append(f, idb(le, LinkEthernet, "eth0")...)
	f = append(f, idb(le, LinkSLL2, "any", ngOpt(le, 9, []byte{9}), ngOpt(le, 14, le.AppendUint64(nil, 100)))...)
	f = append(f, idb(le, LinkRaw, "tun0", ngOpt(le, 9, []byte{0x80 | 10}))...)
	f = append(f, epb(le, 0, 1_700_000_000_000_001, eth(100), 1|3<<2)...)
	f = append(f, ngBlock(le, 5, make([]byte, 16))...) // a statistics block, skipped
	f = append(f, epb(le, 1, 1_700_000_000_000_000_002, sll2(3, PktOutgoing), 0)...)
	f = append(f, epb(le, 2, 1700000000<<10|512, ipv4, 2)...)
	// A second section in the other byte order starts its own interfaces.
	f = append(f, shb(be)...)
	f = append(f, idb(be, LinkNFLOG, "nflog:5")...)
	f = append(f, epb(be, 0, 5, nflogRecord(be, HookPrerouting, 2, "in: "), 0)...)

	r, recs := readAll(t, f)
	ifs := r.Interfaces()
	if len(ifs) != 4 || ifs[0].Name != "eth0" || ifs[1].Link != LinkSLL2 || ifs[2].Name != "tun0" || ifs[3].Link != LinkNFLOG {
		t.Fatalf("interfaces %+v", ifs)
	}
	if len(recs) != 4 {
		t.Fatalf("%d records", len(recs))
	}
	want := []struct {
		iface int
		time  int64
		dir   Direction
		link  LinkType
	}{
		{0, 1_700_000_000_000_001_000, DirIn, LinkEthernet},
		{1, 1_700_000_000_000_000_002 + 100e9, DirUnknown, LinkSLL2},
		{2, 1_700_000_000_500_000_000, DirOut, LinkRaw},
		{3, 5000, DirUnknown, LinkNFLOG},
	}
	for i, w := range want {
		g := recs[i]
		if g.Iface != w.iface || g.Time != w.time || g.Dir != w.dir || g.Link != w.link {
			t.Errorf("record %d: iface %d time %d dir %v link %v, want %+v", i, g.Iface, g.Time, g.Dir, g.Link, w)
		}
	}
	if recs[0].Reception != 3 {
		t.Errorf("reception type %d, want 3 (broadcast)", recs[0].Reception)
	}
	if !recs[3].BigEndian || recs[0].BigEndian {
		t.Error("section byte order not carried to its records")
	}

	var fr Frame
	if err := fr.Decode(recs[0].Link, recs[0].Data, false); err != nil || fr.NVLAN != 1 || fr.VLANs[0] != 100 || !bytes.Equal(fr.IP, ipv4) || fr.Dir != DirUnknown {
		t.Errorf("Ethernet frame: %v %+v", err, fr)
	}
	if err := fr.Decode(recs[1].Link, recs[1].Data, false); err != nil || fr.IfIndex != 3 || fr.Dir != DirOut || !fr.HasSrcMAC || !bytes.Equal(fr.IP, ipv4) {
		t.Errorf("SLL2 frame: %v %+v", err, fr)
	}
	if err := fr.Decode(recs[3].Link, recs[3].Data, true); err != nil || fr.Dir != DirIn || fr.IfIndex != 2 || string(fr.Prefix) != "in: " || fr.Group != 5 || !bytes.Equal(fr.IP, ipv4) {
		t.Errorf("NFLOG frame: %v %+v", err, fr)
	}
}

func TestPcapngUndeclaredInterface(t *testing.T) {
	le := binary.LittleEndian
	f := append(shb(le), idb(le, LinkRaw, "")...)
	f = append(f, shb(le)...) // a new section forgets the interfaces before it
	f = append(f, epb(le, 0, 1, ipv4, 0)...)
	r, err := NewReader(bytes.NewReader(f))
	if err != nil {
		t.Fatal(err)
	}
	var rec Record
	if err := r.Next(&rec); !errors.Is(err, ErrFormat) {
		t.Fatalf("got %v, want a format error", err)
	}
}

// nflogRecord builds an NFLOG record as the kernel's nfnetlink_log and
// libpcap write it: TLV headers in the capturing host's order.
func nflogRecord(order binary.AppendByteOrder, hook uint8, indev uint32, prefix string) []byte {
	b := []byte{2, 0, 0, 5}
	tlv := func(typ uint16, v []byte) {
		b = order.AppendUint16(b, uint16(4+len(v)))
		b = order.AppendUint16(b, typ)
		b = append(b, v...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
	}
	tlv(nfulaPacketHdr, []byte{0x08, 0x00, hook, 0})
	tlv(nfulaPrefix, append([]byte(prefix), 0))
	tlv(nfulaIfInDev, binary.BigEndian.AppendUint32(nil, indev))
	tlv(3, make([]byte, 16)) // a timestamp, ignored
	tlv(nfulaPayload, ipv4)
	return b
}

func TestLinkTypes(t *testing.T) {
	sll := append([]byte{0, PktBroadcast, 0, 1, 0, 6, 2, 0, 0, 0, 2, 1, 0, 0, 0x08, 0x00}, ipv4...)
	arp := []byte{2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 1, 1, 0x08, 0x06, 0, 1}
	for _, tc := range []struct {
		name  string
		lt    LinkType
		data  []byte
		big   bool
		check func(f *Frame) bool
		err   error
	}{
		{"raw v4", LinkRaw, ipv4, false, func(f *Frame) bool { return f.EtherType == EtherIPv4 && len(f.IP) == len(ipv4) }, nil},
		{"raw v6", LinkRaw, []byte{0x60, 0, 0, 0}, false, func(f *Frame) bool { return f.EtherType == EtherIPv6 }, nil},
		{"ipv4", LinkIPv4, ipv4, false, func(f *Frame) bool { return f.EtherType == EtherIPv4 && f.IP != nil }, nil},
		{"sll broadcast", LinkSLL, sll, false, func(f *Frame) bool {
			return f.Dir == DirIn && f.PktType == PktBroadcast && f.SrcMAC == [6]byte{2, 0, 0, 0, 2, 1} && f.IP != nil
		}, nil},
		{"sll2 host", LinkSLL2, sll2(7, PktHost), false, func(f *Frame) bool { return f.Dir == DirIn && f.IfIndex == 7 }, nil},
		{"ethernet arp", LinkEthernet, arp, false, func(f *Frame) bool { return f.EtherType == 0x0806 && f.IP == nil }, nil},
		{"qinq", LinkEthernet, eth(10, 20), false, func(f *Frame) bool { return f.NVLAN == 2 && f.VLANs == [2]uint16{10, 20} && f.IP != nil }, nil},
		{"three tags", LinkEthernet, eth(1, 2, 3), false, nil, ErrTooManyTags},
		{"short ethernet", LinkEthernet, arp[:10], false, nil, ErrShortLink},
		{"nflog LE output", LinkNFLOG, nflogRecord(binary.LittleEndian, HookLocalOut, 0, ""), false, func(f *Frame) bool {
			return f.HasHook && f.Hook == HookLocalOut && f.Dir == DirOut && f.IP != nil
		}, nil},
		{"nflog forward", LinkNFLOG, nflogRecord(binary.LittleEndian, HookForward, 1, ""), false, func(f *Frame) bool { return f.Dir == DirUnknown && f.IfIndex == 1 }, nil},
		{"nflog wrong order", LinkNFLOG, nflogRecord(binary.LittleEndian, 0, 0, ""), true, nil, ErrNFLOG},
		{"unknown", 9999, ipv4, false, nil, ErrUnknownLink},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var f Frame
			err := f.Decode(tc.lt, tc.data, tc.big)
			if !errors.Is(err, tc.err) {
				t.Fatalf("error %v, want %v", err, tc.err)
			}
			if err == nil && !tc.check(&f) {
				t.Fatalf("frame %+v", f)
			}
		})
	}
}

func TestWriterRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	nw, _ := NewNGWriter(&buf)
	a, _ := nw.AddInterface("eth0", LinkEthernet, 65535)
	b, _ := nw.AddInterface("", LinkRaw, 128)
	nw.WritePacket(a, 1_700_000_000_123_456_789, eth(), 0, DirIn, "DROP filter/INPUT rule 7; ct NEW")
	nw.WritePacket(b, 1_700_000_001_000_000_000, ipv4, 1500, DirOut, "")
	nw.WritePacket(b, 1_700_000_002_000_000_000, ipv4, 0, DirUnknown, "x")
	nw.Flush()
	r, recs := readAll(t, buf.Bytes())
	if len(r.Interfaces()) != 2 || len(recs) != 3 {
		t.Fatalf("%d interfaces, %d records", len(r.Interfaces()), len(recs))
	}
	if string(recs[0].Comment) != "DROP filter/INPUT rule 7; ct NEW" || recs[1].Comment != nil || string(recs[2].Comment) != "x" {
		t.Errorf("comments %q %q %q", recs[0].Comment, recs[1].Comment, recs[2].Comment)
	}
	if recs[0].Time != 1_700_000_000_123_456_789 || recs[0].Dir != DirIn || recs[1].Dir != DirOut || recs[1].OrigLen != 1500 || recs[2].Dir != DirUnknown {
		t.Fatalf("%+v", recs)
	}

	buf.Reset()
	pw, _ := NewPcapWriter(&buf, LinkRaw, 65535)
	pw.WritePacket(1_700_000_000_000_000_007, ipv4, 0)
	pw.Flush()
	_, recs = readAll(t, buf.Bytes())
	if len(recs) != 1 || recs[0].Time != 1_700_000_000_000_000_007 || !bytes.Equal(recs[0].Data, ipv4) {
		t.Fatalf("%+v", recs)
	}
}

// The reading loop allocates nothing per packet, whatever the format.
func TestReadAllocatesNothing(t *testing.T) {
	le := binary.LittleEndian
	var ng []byte
	ng = append(ng, shb(le)...)
	ng = append(ng, idb(le, LinkEthernet, "eth0")...)
	ng = append(ng, idb(le, LinkNFLOG, "nflog:5")...)
	const n = 200
	for i := range n {
		ng = append(ng, epb(le, 0, uint64(i), eth(100), 1)...)
		ng = append(ng, epb(le, 1, uint64(i), nflogRecord(le, 0, 2, "p"), 0)...)
	}
	var recs [][]byte
	for range 2 * n {
		recs = append(recs, ipv4)
	}
	pc := pcapFile(le, 0xa1b2c3d4, 101, recs...)
	for name, file := range map[string][]byte{"pcapng": ng, "pcap": pc} {
		rd := bytes.NewReader(file)
		r, err := NewReader(rd)
		if err != nil {
			t.Fatal(err)
		}
		var rec Record
		var fr Frame
		got := 0
		allocs := testing.AllocsPerRun(2*n-1, func() {
			if r.Next(&rec) != nil || fr.Decode(rec.Link, rec.Data, rec.BigEndian) != nil || fr.IP == nil {
				t.Fatal("bad record")
			}
			got++
		})
		if allocs != 0 {
			t.Errorf("%s: %.1f allocations per packet", name, allocs)
		}
	}
}

func BenchmarkReadPcapng(b *testing.B) {
	le := binary.LittleEndian
	var ng []byte
	ng = append(ng, shb(le)...)
	ng = append(ng, idb(le, LinkEthernet, "eth0")...)
	for i := range 10000 {
		ng = append(ng, epb(le, 0, uint64(i), eth(), 1)...)
	}
	b.SetBytes(int64(len(ng)) / 10000)
	b.ReportAllocs()
	var rec Record
	var fr Frame
	r, _ := NewReader(bytes.NewReader(ng))
	for b.Loop() {
		if r.Next(&rec) == io.EOF {
			r, _ = NewReader(bytes.NewReader(ng))
			r.Next(&rec)
		}
		fr.Decode(rec.Link, rec.Data, rec.BigEndian)
	}
}

// padded is b with n more bytes.
func padded(b []byte, n int) []byte { return append(b, bytes.Repeat([]byte{byte(n)}, n)...) }

// The Reader buffers the stream itself: the same records, offsets and
// end from a source that gives one byte at a time, half of what is
// asked, an error with the last bytes, or a cut file; a source that
// fails mid-stream gives its error.
func TestReaderSources(t *testing.T) {
	le := binary.LittleEndian
	var ng []byte
	ng = append(ng, shb(le)...)
	ng = append(ng, idb(le, LinkEthernet, "eth0")...)
	for i := range 2000 { // over a megabyte: blocks across the Reader's buffer's end
		ng = append(ng, epb(le, 0, uint64(i), padded(eth(), i*37%1500), uint32(1+i%2))...)
	}
	ng = append(ng, shb(binary.BigEndian)...) // a second section, the other byte order
	ng = append(ng, idb(binary.BigEndian, LinkRaw, "tun0")...)
	ng = append(ng, epb(binary.BigEndian, 0, 7, ipv4, 0)...)
	var pcs [][]byte
	for range 2000 {
		pcs = append(pcs, padded(eth(), len(pcs)*53%1500))
	}
	pc := pcapFile(le, 0xa1b2c3d4, 1, pcs...)
	type got struct {
		recs []string
		offs []int64
		err  error
	}
	read := func(src io.Reader) got {
		var g got
		r, err := NewReader(src)
		if err != nil {
			g.err = err
			return g
		}
		var rec Record
		for {
			if g.err = r.Next(&rec); g.err != nil {
				return g
			}
			g.recs = append(g.recs, fmt.Sprintf("%d %d %d %v %x", rec.Time, rec.Iface, rec.OrigLen, rec.Dir, rec.Data))
			g.offs = append(g.offs, r.Offset())
		}
	}
	for name, file := range map[string][]byte{"pcapng": ng, "pcap": pc} {
		want := read(bytes.NewReader(file))
		if want.err != io.EOF || len(want.recs) < 300 || want.offs[len(want.offs)-1] != int64(len(file)) {
			t.Fatalf("%s: %d records, last offset %d of %d, %v", name, len(want.recs), want.offs[len(want.offs)-1], len(file), want.err)
		}
		for sname, src := range map[string]io.Reader{
			"one byte":  iotest.OneByteReader(bytes.NewReader(file)),
			"half":      iotest.HalfReader(bytes.NewReader(file)),
			"data+EOF":  iotest.DataErrReader(bytes.NewReader(file)),
			"timeout":   iotest.TimeoutReader(bytes.NewReader(file)), // the second read fails
			"cut short": bytes.NewReader(file[:len(file)-5]),
		} {
			g := read(src)
			switch sname {
			case "timeout":
				if !errors.Is(g.err, iotest.ErrTimeout) {
					t.Errorf("%s, %s: %v, want the source's error", name, sname, g.err)
				}
				continue
			case "cut short":
				if g.err != io.ErrUnexpectedEOF || len(g.recs) != len(want.recs)-1 {
					t.Errorf("%s, %s: %d records, %v", name, sname, len(g.recs), g.err)
				}
				continue
			}
			if g.err != io.EOF || !slices.Equal(g.recs, want.recs) || !slices.Equal(g.offs, want.offs) {
				t.Errorf("%s, %s: %d records (want %d), %v; same records %v, same offsets %v", name, sname, len(g.recs), len(want.recs), g.err, slices.Equal(g.recs, want.recs), slices.Equal(g.offs, want.offs))
			}
		}
	}
}

// After Keep, a record's data stays as read until its buffer is given
// back, whatever the Reader reads meanwhile; buffers given back are
// read into again, so holding a window of records takes a few buffers,
// not one per megabyte of the file.
func TestReaderKeep(t *testing.T) {
	le := binary.LittleEndian
	var ng []byte
	ng = append(ng, shb(le)...)
	ng = append(ng, idb(le, LinkEthernet, "eth0")...)
	var want [][]byte
	for i := range 6000 { // about 4.5 MB
		d := padded(eth(), i*37%1500)
		want = append(want, d)
		ng = append(ng, epb(le, 0, uint64(i), d, 1)...)
	}
	for _, src := range []io.Reader{bytes.NewReader(ng), iotest.HalfReader(bytes.NewReader(ng))} {
		r, err := NewReader(src)
		if err != nil {
			t.Fatal(err)
		}
		r.Keep()
		type kept struct {
			i    int
			data []byte
			buf  *Buffer
		}
		var window []kept
		bufs := map[*Buffer]bool{}
		check := func(k kept) {
			if !bytes.Equal(k.data, want[k.i]) {
				t.Fatalf("record %d changed while held", k.i)
			}
			r.Release(k.buf)
		}
		var rec Record
		for i := 0; ; i++ {
			if err := r.Next(&rec); err == io.EOF {
				break
			} else if err != nil {
				t.Fatal(err)
			}
			if rec.Buf == nil {
				t.Fatal("no buffer after Keep")
			}
			bufs[rec.Buf] = true
			window = append(window, kept{i, rec.Data, rec.Buf})
			if len(window) > 1100 { // replay's window and batches in flight
				check(window[0])
				window = window[1:]
			}
		}
		for _, k := range window {
			check(k)
		}
		if len(bufs) > 4 {
			t.Errorf("%d buffers for %d bytes", len(bufs), len(ng))
		}
	}
}

// packetBlock sets a Record field by field (not *rec = Record{...}):
// a field added to Record must be set there too.
func TestRecordFields(t *testing.T) {
	if n := reflect.TypeOf(Record{}).NumField(); n != 10 {
		t.Errorf("Record has %d fields: set the new ones in packetBlock, then change this count", n)
	}
}
