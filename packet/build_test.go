package packet

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// The five input lines of formats/packets.md, and the bytes they stand
// for. The expected bytes were computed independently of this package
// (a short Python script with struct and its own RFC 1071 sum), so the
// test checks the builder against the format, not against itself.
var packetsMDExamples = []struct {
	line string
	hex  string
}{
	{
		`{"in":"eth0","src":"203.0.113.7","dst":"198.51.100.1","proto":"tcp","sport":40000,"dport":22,"flags":"S"}`,
		"450000280001000040061493cb007107c63364019c400016000003e8000000005002200089670000",
	},
	{
		`{"in":"wlan0","src":"192.0.2.10","dst":"198.51.100.9","proto":"udp","sport":53000,"dport":53,"len":40}`,
		"450000440002000040118e60c000020ac6336409cf0800350030440900000000000000000000000000000000000000000000000000000000000000000000000000000000",
	},
	{
		`{"in":"eth0","src":"198.51.100.9","dst":"198.51.100.1","proto":"icmp","type":8,"code":0,"delay_ms":1000}`,
		"4500001c000300004001266dc6336409c63364010800f7ff00000000",
	},
	{
		`{"in":"eth0","src":"203.0.113.80","dst":"198.51.100.1","proto":"icmp","type":3,"code":3,"inner":{"src":"198.51.100.1","dst":"203.0.113.80","proto":"udp","sport":46000,"dport":33434}}`,
		"45000038000400004001143ccb007150c63364010303639c000000004500001c000100004011144bc6336401cb007150b3b0829a0008630d",
	},
	{
		`{"local":true,"src":"198.51.100.1","dst":"203.0.113.7","proto":"tcp","sport":22,"dport":40000,"flags":"SA"}`,
		"45000028000500004006148fc6336401cb00710700169c40000003e8000003e950122000856e0000",
	},
}

func TestBuildPacketsMDExamples(t *testing.T) {
	descs, err := ReadDescs(strings.NewReader(func() string {
		var b strings.Builder
		for _, e := range packetsMDExamples {
			b.WriteString(e.line + "\n")
		}
		return b.String()
	}()))
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range packetsMDExamples {
		got, err := descs[i].Build(i)
		if err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		if want := mustHex(t, e.hex); !bytes.Equal(got, want) {
			t.Errorf("line %d:\n got % x\nwant % x", i, got, want)
		}
	}
}

// The quoted TCP packet of an error: IP header with total length 40 and
// the ports and seq 1000 (independently computed, as above).
func TestBuildInnerTCP(t *testing.T) {
	d, err := ParseDescLine([]byte(`{"in":"eth0","src":"203.0.113.80","dst":"198.51.100.1","proto":"icmp","type":3,"code":3,"inner":{"src":"198.51.100.1","dst":"203.0.113.80","proto":"tcp","sport":46000,"dport":80}}`))
	if err != nil {
		t.Fatal(err)
	}
	got, err := d.Build(5)
	if err != nil {
		t.Fatal(err)
	}
	want := mustHex(t, "45000038000600004001143acb007150c6336401030345140000000045000028000100004006144ac6336401cb007150b3b00050000003e8")
	if !bytes.Equal(got, want) {
		t.Errorf("\n got % x\nwant % x", got, want)
	}
}

// A protocol written as a number is the IP header and len zero bytes,
// whatever the protocol (packets.md), with no transport header or
// checksum: a truncated or zeroed tcp, udp or icmp header. The expected
// bytes were computed independently, as for packetsMDExamples.
func TestBuildRaw(t *testing.T) {
	tests := []struct {
		line, hex string
		want      Desc
	}{
		{`{"in":"eth0","src":"203.0.113.7","dst":"198.51.100.1","proto":6,"len":8}`,
			"4500001c000100004006149fcb007107c63364010000000000000000",
			Desc{In: "eth0", Src: a1, Dst: a2, Proto: ProtoTCP, Raw: true, Len: 8}},
		// 20 zero bytes: a tcp header with data offset 0.
		{`{"in":"eth0","src":"203.0.113.7","dst":"198.51.100.1","proto":"6","len":20}`,
			"450000280002000040061492cb007107c63364010000000000000000000000000000000000000000",
			Desc{In: "eth0", Src: a1, Dst: a2, Proto: ProtoTCP, Raw: true, Len: 20}},
		{`{"in":"wlan0","src":"192.0.2.10","dst":"198.51.100.9","proto":17,"mf":true}`,
			"450000140003200040116e8fc000020ac6336409",
			Desc{In: "wlan0", Src: netip4("192.0.2.10"), Dst: netip4("198.51.100.9"), Proto: ProtoUDP, Raw: true, MF: true}},
		{`{"in":"eth0","src":"198.51.100.9","dst":"198.51.100.1","proto":1,"len":7,"frag_off":3}`,
			"4500001b000400034001266ac6336409c633640100000000000000",
			Desc{In: "eth0", Src: netip4("198.51.100.9"), Dst: a2, Proto: ProtoICMP, Raw: true, Len: 7, FragOff: 3}},
	}
	for i, tt := range tests {
		d, err := ParseDescLine([]byte(tt.line))
		if err != nil {
			t.Fatalf("%s: %v", tt.line, err)
		}
		if !reflect.DeepEqual(d, tt.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tt.line, d, tt.want)
		}
		got, err := d.Build(i)
		if err != nil {
			t.Fatalf("%s: %v", tt.line, err)
		}
		if want := mustHex(t, tt.hex); !bytes.Equal(got, want) {
			t.Errorf("%s:\n got % x\nwant % x", tt.line, got, want)
		}
		// Written back as a number, and read back the same.
		out, _ := d.MarshalJSON()
		if want := strings.Replace(tt.line, `"6"`, "6", 1); string(out) != want {
			t.Errorf("MarshalJSON:\n got %s\nwant %s", out, want)
		}
		if back, err := ParseDescLine(out); err != nil || !reflect.DeepEqual(back, d) {
			t.Errorf("%s: round trip %+v, %v", out, back, err)
		}
		if back, err := ParseShort(d.String()); err != nil || !reflect.DeepEqual(back, d) {
			t.Errorf("%s: short form %q parses as %+v, %v", tt.line, d.String(), back, err)
		}
	}

	// A name keeps its header; a number of another protocol has never
	// had one, and is not "raw".
	for line, want := range map[string]Desc{
		`{"in":"eth0","src":"203.0.113.7","dst":"198.51.100.1","proto":"tcp","sport":1,"dport":2}`: {In: "eth0", Src: a1, Dst: a2, Proto: ProtoTCP, Sport: 1, Dport: 2},
		`{"in":"eth0","src":"203.0.113.7","dst":"198.51.100.1","proto":47,"len":1}`:                {In: "eth0", Src: a1, Dst: a2, Proto: 47, Len: 1},
		`{"in":"eth0","src":"203.0.113.7","dst":"198.51.100.1","proto":"47","len":1}`:              {In: "eth0", Src: a1, Dst: a2, Proto: 47, Len: 1},
	} {
		if d, err := ParseDescLine([]byte(line)); err != nil || !reflect.DeepEqual(d, want) {
			t.Errorf("%s: %+v, %v", line, d, err)
		}
	}

	// The decoder sees what the kernel would: a truncated or unreadable
	// transport header.
	for _, c := range []struct {
		short          string
		l4Fixed, l4OK  bool
		total, l4Bytes int
	}{
		{"eth0 tcp(raw) 192.0.2.1 > 192.0.2.2", false, false, 20, 0},
		{"eth0 6 192.0.2.1 > 192.0.2.2 len=19", false, false, 39, 19},
		{"eth0 6 192.0.2.1 > 192.0.2.2 len=20", true, false, 40, 20}, // data offset 0
		{"eth0 6 192.0.2.1 > 192.0.2.2 len=24", true, false, 44, 24},
		{"eth0 udp(raw) 192.0.2.1 > 192.0.2.2 len=7", false, false, 27, 7},
		{"eth0 17 192.0.2.1 > 192.0.2.2 len=8", true, true, 28, 8},
		{"eth0 icmp(raw) 192.0.2.1 > 192.0.2.2 len=1", false, false, 21, 1},
		{"eth0 1 192.0.2.1 > 192.0.2.2 len=8", true, true, 28, 8},
		{"eth0 6 192.0.2.1 > 192.0.2.2 len=20 frag_off=1", false, false, 40, 20},
	} {
		b := mustBuild(t, c.short)
		var p Packet
		if err := p.Decode(b); err != nil {
			t.Fatalf("%s: %v", c.short, err)
		}
		if p.L4Fixed != c.l4Fixed || p.L4OK != c.l4OK || p.TotalLen != c.total || len(p.L4) != c.l4Bytes {
			t.Errorf("%s: L4Fixed %v L4OK %v total %d l4 %d", c.short, p.L4Fixed, p.L4OK, p.TotalLen, len(p.L4))
		}
		if p.SrcPort != 0 || p.DstPort != 0 || p.TCPFlags != 0 || p.TCPDoff != 0 && p.Proto == ProtoTCP {
			t.Errorf("%s: not all zeros: %+v", c.short, p)
		}
		if !p.IPChecksumOK() {
			t.Errorf("%s: bad IP checksum", c.short)
		}
	}
}

// Every field of Desc reaches the bytes where the format says.
func TestBuildFields(t *testing.T) {
	tests := []struct {
		short string
		check func(p *Packet) bool
	}{
		{"eth0 tcp 192.0.2.1:1 > 192.0.2.2:2", func(p *Packet) bool {
			return p.TCPFlags == TCPSyn && p.Seq == 1000 && p.Ack == 0 && p.Window == 8192 && p.TTL == 64 && p.ID == 1 && p.TCPDoff == 20
		}},
		{"eth0 tcp 192.0.2.1:1 > 192.0.2.2:2 A", func(p *Packet) bool { return p.TCPFlags == TCPAck && p.Ack == 1001 }},
		{"eth0 tcp 192.0.2.1:1 > 192.0.2.2:2 A ack=0", func(p *Packet) bool { return p.Ack == 0 }},
		{"eth0 tcp 192.0.2.1:1 > 192.0.2.2:2 S ack=5", func(p *Packet) bool { return p.Ack == 5 }},
		{"eth0 tcp 192.0.2.1:1 > 192.0.2.2:2 none", func(p *Packet) bool { return p.TCPFlags == 0 }},
		{"eth0 tcp 192.0.2.1:1 > 192.0.2.2:2 EC", func(p *Packet) bool { return p.TCPFlags == TCPEce|TCPCwr }},
		{"eth0 tcp 192.0.2.1:1 > 192.0.2.2:2 seq=4294967295 window=0", func(p *Packet) bool { return p.Seq == 1<<32-1 && p.Window == 0 }},
		{"eth0 tcp 192.0.2.1:1 > 192.0.2.2:2 ttl=0 tos=0xb8 id=0 df", func(p *Packet) bool {
			return p.TTL == 0 && p.TOS == 0xb8 && p.ID == 0 && p.DF && !p.MF
		}},
		{"eth0 udp 192.0.2.1:1 > 192.0.2.2:2 len=3", func(p *Packet) bool {
			return p.TotalLen == 31 && p.L4[5] == 11 // udp length 8+3
		}},
		{"eth0 udp 192.0.2.1:1 > 192.0.2.2:2 frag_off=8191 mf", func(p *Packet) bool { return p.FragOff == 8191 && p.MF }},
		{"eth0 icmp 192.0.2.1 > 192.0.2.2 type 0", func(p *Packet) bool { return p.ICMPType == 0 && p.TotalLen == 28 }},
		{"eth0 icmp 192.0.2.1 > 192.0.2.2 3/4 inner tcp 192.0.2.2:1 > 192.0.2.9:2 len=10", func(p *Packet) bool {
			return p.TotalLen == 20+8+28+10 && p.L4[8+19] == 0x09
		}},
		{"eth0 255 192.0.2.1 > 192.0.2.2 len=0", func(p *Packet) bool { return p.Proto == 255 && p.TotalLen == 20 }},
		{"eth0 0 192.0.2.1 > 192.0.2.2 len=1", func(p *Packet) bool { return p.Proto == 0 && p.TotalLen == 21 }},
	}
	for _, tt := range tests {
		b := mustBuild(t, tt.short)
		var p Packet
		if err := p.Decode(b); err != nil {
			t.Fatalf("%s: %v", tt.short, err)
		}
		if !tt.check(&p) {
			t.Errorf("%s: wrong packet: %+v", tt.short, p)
		}
		if !p.IPChecksumOK() || !p.L4ChecksumOK() {
			t.Errorf("%s: bad checksums", tt.short)
		}
	}
}

func TestBuildIDFromIndex(t *testing.T) {
	d, _ := ParseShort("eth0 udp 192.0.2.1:1 > 192.0.2.2:2")
	for _, c := range []struct {
		index int
		id    uint16
	}{{0, 1}, {41, 42}, {65534, 65535}, {65535, 0}, {-1, 0}} {
		b, err := d.Build(c.index)
		if err != nil {
			t.Fatal(err)
		}
		if got := uint16(b[4])<<8 | uint16(b[5]); got != c.id {
			t.Errorf("index %d: id %d, want %d", c.index, got, c.id)
		}
	}
}

func TestBuildLenLimit(t *testing.T) {
	d, _ := ParseShort("eth0 tcp 192.0.2.1:1 > 192.0.2.2:2")
	d.Len = 65535 - 40
	if b, err := d.Build(0); err != nil || len(b) != 65535 {
		t.Fatalf("largest packet: len %d, %v", len(b), err)
	}
	d.Len++
	if _, err := d.Build(0); err == nil || !strings.Contains(err.Error(), `"len"`) {
		t.Errorf("oversized packet: %v", err)
	}
}

func TestValidate(t *testing.T) {
	base := Desc{In: "eth0", Src: a1, Dst: a2, Proto: ProtoTCP, Sport: 1, Dport: 2}
	tests := []struct {
		name string
		f    func(*Desc)
		want string // substring; "" means valid
	}{
		{"ok", func(d *Desc) {}, ""},
		{"no src", func(d *Desc) { d.Src = netip.Addr{} }, `missing field "src"`},
		{"ipv6 dst", func(d *Desc) { d.Dst = netip.MustParseAddr("2001:db8::1") }, `fields "src" and "dst": 203.0.113.7 and 2001:db8::1 are not of one family`},
		{"in and local", func(d *Desc) { d.Local = true }, `"in" and "local" exclude each other`},
		{"long ifname", func(d *Desc) { d.In = "abcdefghijklmnop" }, "interface name"},
		{"ifname slash", func(d *Desc) { d.In = "a/b" }, "interface name"},
		{"flags on udp", func(d *Desc) { d.Proto = ProtoUDP; d.Flags = new(TCPFlags(0)) }, `"flags" applies only to tcp`},
		{"raw tcp", func(d *Desc) { d.Raw, d.Sport, d.Dport, d.Len = true, 0, 0, 20 }, ""},
		{"raw tcp max len", func(d *Desc) { d.Raw, d.Sport, d.Dport, d.Len = true, 0, 0, 65535-20 }, ""},
		{"raw tcp too long", func(d *Desc) { d.Raw, d.Sport, d.Dport, d.Len = true, 0, 0, 65535-19 }, `"len": 65516 is too large (at most 65515`},
		{"raw tcp ports", func(d *Desc) { d.Raw = true }, `"sport" applies only to tcp and udp, not to proto 6 written as a number (a raw packet`},
		{"raw tcp dport", func(d *Desc) { d.Raw, d.Sport = true, 0 }, `"dport" applies only to tcp and udp, not to proto 6 written as a number`},
		{"raw tcp flags", func(d *Desc) { d.Raw, d.Sport, d.Dport, d.Flags = true, 0, 0, new(TCPFlags(TCPSyn)) }, `"flags" applies only to tcp, not to proto 6 written as a number`},
		{"raw tcp seq", func(d *Desc) { d.Raw, d.Sport, d.Dport, d.Seq = true, 0, 0, new(uint32(1)) }, `"seq" applies only to tcp, not to proto 6 written as a number`},
		{"raw udp ports", func(d *Desc) { d.Proto, d.Raw = ProtoUDP, true }, `"sport" applies only to tcp and udp, not to proto 17 written as a number`},
		{"raw icmp type", func(d *Desc) { d.Proto, d.Raw, d.Sport, d.Dport, d.Type = ProtoICMP, true, 0, 0, 8 }, `"type" applies only to icmp, not to proto 1 written as a number`},
		{"raw icmp inner", func(d *Desc) {
			*d = Desc{Src: a1, Dst: a2, Proto: ProtoICMP, Raw: true, Inner: &Inner{Src: a1, Dst: a2, Proto: ProtoUDP}}
		}, `"inner" applies only to icmp errors, not to proto 1 written as a number`},
		{"raw 47", func(d *Desc) { d.Proto, d.Raw, d.Sport, d.Dport = 47, true, 0, 0 }, `raw applies only to tcp, udp, icmp and icmpv6`},
		{"ports on icmp", func(d *Desc) { d.Proto = ProtoICMP; d.Dport = 0 }, `"sport" applies only to tcp and udp`},
		{"type on tcp", func(d *Desc) { d.Type = 3 }, `"type" applies only to icmp`},
		{"inner on echo", func(d *Desc) {
			*d = Desc{Src: a1, Dst: a2, Proto: ProtoICMP, Type: 8, Inner: &Inner{Src: a1, Dst: a2, Proto: ProtoUDP}}
		}, `not to type 8`},
		{"inner icmp", func(d *Desc) {
			*d = Desc{Src: a1, Dst: a2, Proto: ProtoICMP, Type: 3, Inner: &Inner{Src: a1, Dst: a2, Proto: ProtoICMP}}
		}, `"inner.proto": want tcp or udp`},
		{"inner no src", func(d *Desc) {
			*d = Desc{Src: a1, Dst: a2, Proto: ProtoICMP, Type: 3, Inner: &Inner{Dst: a2, Proto: ProtoUDP}}
		}, `missing field "inner.src"`},
		{"negative len", func(d *Desc) { d.Len = -1 }, `"len": -1 is negative`},
		{"frag_off", func(d *Desc) { d.FragOff = 8192 }, `"frag_off": 8192`},
		{"src_mac on local", func(d *Desc) { d.In = ""; d.Local = true; d.SrcMAC = MAC{2} }, `"src_mac"`},
		{"negative delay", func(d *Desc) { d.DelayMS = -5 }, `"delay_ms": -5`},
	}
	for _, tt := range tests {
		d := base
		tt.f(&d)
		err := d.Validate()
		if tt.want == "" {
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.want)
		}
		if b, err := d.Build(0); b != nil || err == nil {
			t.Errorf("%s: Build succeeded on an invalid Desc", tt.name)
		}
	}
}

func TestParseDescLine(t *testing.T) {
	d, err := ParseDescLine([]byte(`{"in":"eth0","src":"203.0.113.7","dst":"198.51.100.1","proto":"tcp","sport":40000,"dport":22,` +
		`"flags":"","seq":0,"ack":7,"window":0,"len":3,"ttl":0,"tos":16,"id":0,"df":true,"frag_off":1,"mf":true,` +
		`"src_mac":"02:00:00:00:01:01","delay_ms":250}`))
	if err != nil {
		t.Fatal(err)
	}
	want := Desc{In: "eth0", Src: a1, Dst: a2, Proto: ProtoTCP, Sport: 40000, Dport: 22,
		Flags: new(TCPFlags(0)), Seq: new(uint32(0)), Ack: new(uint32(7)), Window: new(uint16(0)),
		Len: 3, TTL: new(uint8(0)), TOS: 16, ID: new(uint16(0)), DF: true, FragOff: 1, MF: true,
		SrcMAC: MAC{2, 0, 0, 0, 1, 1}, DelayMS: 250}
	if !reflect.DeepEqual(d, want) {
		t.Errorf("got  %+v\nwant %+v", d, want)
	}

	ok := []struct {
		line string
		want Desc
	}{
		// A number, even in a string, is a raw packet (no udp header).
		{`{"local":true,"src":"198.51.100.1","dst":"203.0.113.7","proto":"17","len":2}`,
			Desc{Local: true, Src: a2, Dst: a1, Proto: ProtoUDP, Raw: true, Len: 2}},
		{`{"local":true,"src":"198.51.100.1","dst":"203.0.113.7","proto":6}`,
			Desc{Local: true, Src: a2, Dst: a1, Proto: ProtoTCP, Raw: true}},
		// An inner packet always has its ports: 17 there is udp.
		{`{"in":"eth0","src":"198.51.100.1","dst":"203.0.113.7","proto":"icmp","type":3,` +
			`"inner":{"src":"203.0.113.7","dst":"198.51.100.1","proto":17,"sport":1,"dport":2}}`,
			Desc{In: "eth0", Src: a2, Dst: a1, Proto: ProtoICMP, Type: 3,
				Inner: &Inner{Src: a1, Dst: a2, Proto: ProtoUDP, Sport: 1, Dport: 2}}},
		{`{"in":"eth0","src":"198.51.100.1","dst":"203.0.113.7","proto":47,"len":9}`,
			Desc{In: "eth0", Src: a2, Dst: a1, Proto: 47, Len: 9}},
		{` { "in" : "eth0", "src":"198.51.100.1", "dst":"203.0.113.7", "proto":"icmp", "type":0, "seq":null } `,
			Desc{In: "eth0", Src: a2, Dst: a1, Proto: ProtoICMP}},
		{`{"in":"eth0","local":false,"src":"198.51.100.1","dst":"203.0.113.7","proto":"icmp","type":11,"code":1,` +
			`"inner":{"src":"203.0.113.7","dst":"198.51.100.1","proto":"tcp","sport":1,"dport":2}}`,
			Desc{In: "eth0", Src: a2, Dst: a1, Proto: ProtoICMP, Type: 11, Code: 1,
				Inner: &Inner{Src: a1, Dst: a2, Proto: ProtoTCP, Sport: 1, Dport: 2}}},
	}
	for _, tt := range ok {
		d, err := ParseDescLine([]byte(tt.line))
		if err != nil {
			t.Errorf("%s: %v", tt.line, err)
			continue
		}
		if !reflect.DeepEqual(d, tt.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tt.line, d, tt.want)
		}
	}
}

func TestParseDescLineErrors(t *testing.T) {
	const tcp = `"in":"eth0","src":"203.0.113.7","dst":"198.51.100.1","proto":"tcp","sport":1,"dport":2`
	const icmp = `"in":"eth0","src":"203.0.113.7","dst":"198.51.100.1","proto":"icmp"`
	tests := []struct{ line, want string }{
		{`{` + tcp + `,"foo":1}`, `unknown field "foo"`},
		{`{` + tcp + `,"Flags":"S"}`, `unknown field "Flags"`},
		{`{` + tcp + `,"sport":3}`, `field "sport" given twice`},
		{`{"in":"eth0","dst":"198.51.100.1","proto":"tcp","sport":1,"dport":2}`, `missing field "src"`},
		{`{"in":"eth0","src":"203.0.113.7","proto":"tcp","sport":1,"dport":2}`, `missing field "dst"`},
		{`{"in":"eth0","src":"203.0.113.7","dst":"198.51.100.1","sport":1,"dport":2}`, `missing field "proto"`},
		{`{"in":"eth0","src":"203.0.113.7","dst":"198.51.100.1","proto":"tcp","dport":2}`, `missing field "sport" (required for tcp)`},
		{`{"in":"eth0","src":"203.0.113.7","dst":"198.51.100.1","proto":"udp","sport":2}`, `missing field "dport" (required for udp)`},
		{`{"in":"eth0","src":"203.0.113.7","dst":"198.51.100.1","proto":"udp","sport":null,"dport":2}`, `missing field "sport"`},
		{`{"src":"203.0.113.7","dst":"198.51.100.1","proto":"udp","sport":1,"dport":2}`, `missing field "in"`},
		{`{` + icmp + `}`, `missing field "type" (required for icmp)`},
		{`{` + icmp + `,"type":8,"sport":0}`, `field "sport" applies only to tcp and udp`},
		{`{` + icmp + `,"type":8,"flags":"S"}`, `field "flags" applies only to tcp`},
		{`{` + tcp + `,"code":0}`, `field "code" applies only to icmp`},
		{`{` + icmp + `,"type":3,"inner":{"src":"1.2.3.4","dst":"1.2.3.5","proto":"udp","sport":1}}`, `missing field "inner.dport"`},
		{`{` + icmp + `,"type":3,"inner":{"src":"1.2.3.4","dst":"1.2.3.5","proto":"udp","sport":1,"dport":2,"x":1}}`, `unknown field "inner.x"`},
		{`{` + icmp + `,"type":3,"inner":[1]}`, `field "inner": want an object`},
		{`{` + icmp + `,"type":8,"inner":{"src":"1.2.3.4","dst":"1.2.3.5","proto":"udp","sport":1,"dport":2}}`, `not to type 8`},
		{`{` + tcp + `,"flags":"SX"}`, `field "flags": tcp flags "SX": unknown flag "X"`},
		{`{` + tcp + `,"flags":2}`, `field "flags": got 2, want a string of flag letters`},
		{`{` + tcp + `,"ttl":256}`, `field "ttl": got 256, want an integer 0-255`},
		{`{` + tcp + `,"ttl":-1}`, `field "ttl": got -1, want an integer 0-255`},
		{`{` + tcp + `,"seq":1.5}`, `field "seq": got 1.5, want an integer 0-4294967295`},
		{`{` + tcp + `,"window":"5"}`, `field "window": got "5", want an integer 0-65535`},
		{`{` + tcp + `,"df":1}`, `field "df": got 1, want true or false`},
		{`{` + tcp + `,"len":"a"}`, `field "len": got "a", want an integer`},
		{`{` + tcp + `,"src_mac":"02:00:00:00:01"}`, `field "src_mac": mac address "02:00:00:00:01"`},
		{`{"in":"eth0","src":"203.0.113","dst":"198.51.100.1","proto":"tcp","sport":1,"dport":2}`, `field "src": "203.0.113" is not an IP address`},
		{`{"in":"eth0","src":7,"dst":"198.51.100.1","proto":"tcp","sport":1,"dport":2}`, `field "src": want an IP address as a string, got 7`},
		{`{"in":"eth0","src":"2001:db8::1","dst":"198.51.100.1","proto":"tcp","sport":1,"dport":2}`, `fields "src" and "dst": 2001:db8::1 and 198.51.100.1 are not of one family`},
		{`{"in":"eth0","src":"203.0.113.7","dst":"198.51.100.1","proto":"sctp"}`, `field "proto": protocol "sctp": want tcp, udp, icmp, icmpv6 or a number 0-255`},
		{`{"in":"eth0","src":"203.0.113.7","dst":"198.51.100.1","proto":256}`, `field "proto": protocol "256"`},
		{`{"in":"eth0","src":"203.0.113.7","dst":"198.51.100.1","proto":"tcp(raw)"}`, `field "proto": protocol "tcp(raw)"`},
		{`{"local":true,"src":"198.51.100.1","dst":"203.0.113.7","proto":"17","sport":1,"dport":2}`,
			`field "sport" applies only to tcp and udp, not to proto 17 written as a number (a raw packet: the IP header and len zero bytes; "udp" gives a udp header)`},
		{`{"in":"eth0","src":"203.0.113.7","dst":"198.51.100.1","proto":6,"sport":0}`, `field "sport" applies only to tcp and udp, not to proto 6 written as a number`},
		{`{"in":"eth0","src":"203.0.113.7","dst":"198.51.100.1","proto":6,"flags":"S"}`, `field "flags" applies only to tcp, not to proto 6 written as a number`},
		{`{"in":"eth0","src":"203.0.113.7","dst":"198.51.100.1","proto":6,"window":1}`, `field "window" applies only to tcp, not to proto 6`},
		{`{"in":"eth0","src":"203.0.113.7","dst":"198.51.100.1","proto":1,"type":8}`, `field "type" applies only to icmp, not to proto 1 written as a number`},
		{`{"in":"eth0","src":"203.0.113.7","dst":"198.51.100.1","proto":1,"code":0}`, `field "code" applies only to icmp, not to proto 1 written as a number`},
		{`{` + tcp + `} {}`, `unexpected data after the JSON object`},
		{`{` + tcp, `invalid JSON: unexpected end of line`},
		{`[1]`, `want a JSON object`},
		{``, `invalid JSON: unexpected end of line`},
		{`{"in":"eth0",}`, `invalid JSON`},
		{`{` + tcp + `,"delay_ms":-1}`, `"delay_ms": -1 is negative`},
		{`{` + tcp + `,"local":true}`, `"in" and "local" exclude each other`},
		{`{"in":"","src":"0.0.0.0","dst":"0.0.0.0","proto":0}`, `field "in": "" is not an interface name`},
	}
	for _, tt := range tests {
		_, err := ParseDescLine([]byte(tt.line))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s\n error %v\n want it to contain %q", tt.line, err, tt.want)
		}
	}
}

func TestDescJSONRoundTrip(t *testing.T) {
	for _, e := range packetsMDExamples {
		d, err := ParseDescLine([]byte(e.line))
		if err != nil {
			t.Fatal(err)
		}
		out, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		// The examples are written in packets.md's field order with
		// defaults left out, except "code":0 which is a default.
		if want := strings.Replace(e.line, `,"code":0`, "", 1); string(out) != want {
			t.Errorf("Marshal:\n got %s\nwant %s", out, want)
		}
		var back Desc
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back, d) {
			t.Errorf("round trip changed %s", e.line)
		}
	}
	// json.Unmarshal into a Desc is as strict as ParseDescLine.
	var d Desc
	if err := json.Unmarshal([]byte(`{"in":"eth0","src":"1.2.3.4","dst":"1.2.3.5","proto":"udp","sport":1,"dport":2,"Len":1}`), &d); err == nil {
		t.Error("json.Unmarshal accepted a field in the wrong case")
	}
}

func TestReadDescs(t *testing.T) {
	in := `{"in":"eth0","src":"203.0.113.7","dst":"198.51.100.1","proto":"tcp","sport":1,"dport":2}

{"in":"eth0","src":"203.0.113.7","dst":"198.51.100.1","proto":"icmp","type":8}
`
	ds, err := ReadDescs(strings.NewReader(in))
	if err != nil || len(ds) != 2 || ds[1].Proto != ProtoICMP {
		t.Fatalf("ReadDescs = %v, %v", ds, err)
	}

	bad := in + `{"in":"eth0","src":"203.0.113.7","dst":"198.51.100.1","proto":"icmp","type":8,"foo":1}` + "\n"
	_, err = ReadDescs(strings.NewReader(bad))
	if err == nil || err.Error() != `line 4: unknown field "foo"` {
		t.Errorf("error %q", err)
	}
	var le *LineError
	if !errors.As(err, &le) || le.Line != 4 {
		t.Errorf("not a *LineError for line 4: %#v", err)
	}

	path := filepath.Join(t.TempDir(), "packets.jsonl")
	if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, err = ReadDescs(f)
	if want := path + `:4: unknown field "foo"`; err == nil || err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}

	if ds, err := ReadDescs(strings.NewReader("")); err != nil || ds != nil {
		t.Errorf("empty input: %v, %v", ds, err)
	}
	long := `{"in":"` + strings.Repeat("x", 2<<20) + `"}`
	if _, err := ReadDescs(strings.NewReader(long)); err == nil || !strings.Contains(err.Error(), "line 1: line longer than 1 MiB") {
		t.Errorf("long line: %v", err)
	}
}

func TestTextTypes(t *testing.T) {
	for _, s := range []string{"", "F", "S", "SA", "RA", "FSRPAUEC"} {
		f, err := ParseTCPFlags(s)
		if err != nil || f.String() != s {
			t.Errorf("ParseTCPFlags(%q) = %v %v", s, f, err)
		}
	}
	if f, _ := ParseTCPFlags("AS"); f.String() != "SA" {
		t.Errorf("AS prints as %q", f.String())
	}
	for _, s := range []string{"s", "SS", "X", " S"} {
		if _, err := ParseTCPFlags(s); err == nil {
			t.Errorf("ParseTCPFlags(%q) accepted", s)
		}
	}
	for _, s := range []string{"02:00:00:00:01:01", "ff:ff:ff:ff:ff:ff"} {
		m, err := ParseMAC(s)
		if err != nil || m.String() != s {
			t.Errorf("ParseMAC(%q) = %v %v", s, m, err)
		}
	}
	if m, _ := ParseMAC("0A:0b:00:00:00:00"); m.String() != "0a:0b:00:00:00:00" {
		t.Errorf("upper-case hex: %v", m)
	}
	for _, s := range []string{"", "02:00:00:00:01", "02-00-00-00-01-01", "02:00:00:00:01:0g", "2:00:00:00:01:01:"} {
		if _, err := ParseMAC(s); err == nil {
			t.Errorf("ParseMAC(%q) accepted", s)
		}
	}
	for s, want := range map[string]Proto{"tcp": 6, "udp": 17, "icmp": 1, "0": 0, "255": 255, "47": 47} {
		p, err := ParseProto(s)
		if err != nil || p != want {
			t.Errorf("ParseProto(%q) = %v %v", s, p, err)
		}
	}
	for _, s := range []string{"TCP", "256", "-1", "", "0x6", "sctp"} {
		if _, err := ParseProto(s); err == nil {
			t.Errorf("ParseProto(%q) accepted", s)
		}
	}
}
