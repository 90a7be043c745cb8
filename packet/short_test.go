package packet

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func TestParseShort(t *testing.T) {
	b1, b2 := a1, a2 // 203.0.113.7, 198.51.100.1
	tests := []struct {
		in   string
		want Desc
	}{
		{"eth0 tcp 203.0.113.7:40000 > 198.51.100.1:22 S",
			Desc{In: "eth0", Src: b1, Dst: b2, Proto: ProtoTCP, Sport: 40000, Dport: 22, Flags: new(TCPFlags(TCPSyn))}},
		{"tcp 203.0.113.7:40000 > 198.51.100.1:22",
			Desc{Src: b1, Dst: b2, Proto: ProtoTCP, Sport: 40000, Dport: 22}},
		{"local tcp 203.0.113.7:1>198.51.100.1:2 AS",
			Desc{Local: true, Src: b1, Dst: b2, Proto: ProtoTCP, Sport: 1, Dport: 2, Flags: new(TCPFlags(TCPSyn | TCPAck))}},
		{"  wlan0\tudp 203.0.113.7:53000  >  198.51.100.1:53 len=40  ",
			Desc{In: "wlan0", Src: b1, Dst: b2, Proto: ProtoUDP, Sport: 53000, Dport: 53, Len: 40}},
		{"eth0 tcp 203.0.113.7:1 > 198.51.100.1:2 none seq=5 ack=0x10 window=0 ttl=3 tos=0x10 id=9 df mf frag_off=2 len=1 src_mac=02:00:00:00:01:01 delay_ms=1000",
			Desc{In: "eth0", Src: b1, Dst: b2, Proto: ProtoTCP, Sport: 1, Dport: 2, Flags: new(TCPFlags(0)),
				Seq: new(uint32(5)), Ack: new(uint32(16)), Window: new(uint16(0)), TTL: new(uint8(3)), TOS: 16,
				ID: new(uint16(9)), DF: true, MF: true, FragOff: 2, Len: 1, SrcMAC: MAC{2, 0, 0, 0, 1, 1}, DelayMS: 1000}},
		{"eth0 tcp 203.0.113.7:1 > 198.51.100.1:2 flags= df=false mf=1",
			Desc{In: "eth0", Src: b1, Dst: b2, Proto: ProtoTCP, Sport: 1, Dport: 2, Flags: new(TCPFlags(0)), MF: true}},
		{"eth0 icmp 203.0.113.7 > 198.51.100.1 type 8",
			Desc{In: "eth0", Src: b1, Dst: b2, Proto: ProtoICMP, Type: 8}},
		{"eth0 icmp 203.0.113.7 > 198.51.100.1 8/0",
			Desc{In: "eth0", Src: b1, Dst: b2, Proto: ProtoICMP, Type: 8}},
		{"eth0 icmp 203.0.113.7 > 198.51.100.1 echo-request",
			Desc{In: "eth0", Src: b1, Dst: b2, Proto: ProtoICMP, Type: 8}},
		{"eth0 icmp 203.0.113.7 > 198.51.100.1 code 1 type=11",
			Desc{In: "eth0", Src: b1, Dst: b2, Proto: ProtoICMP, Type: 11, Code: 1}},
		{"eth0 icmp 203.0.113.80 > 198.51.100.1 port-unreachable inner udp 198.51.100.1:46000 > 203.0.113.80:33434",
			Desc{In: "eth0", Src: netip4("203.0.113.80"), Dst: b2, Proto: ProtoICMP, Type: 3, Code: 3,
				Inner: &Inner{Src: b2, Dst: netip4("203.0.113.80"), Proto: ProtoUDP, Sport: 46000, Dport: 33434}}},
		{"eth0 icmp 203.0.113.80 > 198.51.100.1 inner tcp 198.51.100.1:1>203.0.113.80:2 3/1",
			Desc{In: "eth0", Src: netip4("203.0.113.80"), Dst: b2, Proto: ProtoICMP, Type: 3, Code: 1,
				Inner: &Inner{Src: b2, Dst: netip4("203.0.113.80"), Proto: ProtoTCP, Sport: 1, Dport: 2}}},
		{"eth1.100 47 203.0.113.7 > 198.51.100.1 len=4",
			Desc{In: "eth1.100", Src: b1, Dst: b2, Proto: 47, Len: 4}},
		// An interface named like a protocol number: a protocol is
		// never followed by another protocol.
		{"6 tcp 203.0.113.7:1 > 198.51.100.1:2",
			Desc{In: "6", Src: b1, Dst: b2, Proto: ProtoTCP, Sport: 1, Dport: 2}},
		// A number is a raw packet (packets.md): no header, no ports.
		{"6 203.0.113.7 > 198.51.100.1",
			Desc{Src: b1, Dst: b2, Proto: ProtoTCP, Raw: true}},
		{"6 6 203.0.113.7 > 198.51.100.1 len=19",
			Desc{In: "6", Src: b1, Dst: b2, Proto: ProtoTCP, Raw: true, Len: 19}},
		{"eth0 tcp(raw) 203.0.113.7 > 198.51.100.1 len=20 mf",
			Desc{In: "eth0", Src: b1, Dst: b2, Proto: ProtoTCP, Raw: true, Len: 20, MF: true}},
		{"tcp(raw) 203.0.113.7 > 198.51.100.1",
			Desc{Src: b1, Dst: b2, Proto: ProtoTCP, Raw: true}},
		{"local 17 203.0.113.7 > 198.51.100.1 len=7",
			Desc{Local: true, Src: b1, Dst: b2, Proto: ProtoUDP, Raw: true, Len: 7}},
		{"wlan0 icmp(raw) 203.0.113.7 > 198.51.100.1 frag_off=1",
			Desc{In: "wlan0", Src: b1, Dst: b2, Proto: ProtoICMP, Raw: true, FragOff: 1}},
	}
	for _, tt := range tests {
		d, err := ParseShort(tt.in)
		if err != nil {
			t.Errorf("ParseShort(%q): %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(d, tt.want) {
			t.Errorf("ParseShort(%q)\n got %+v\nwant %+v", tt.in, d, tt.want)
		}
	}
}

func TestParseShortErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "at end (column 1): empty packet description"},
		{"eth0", "at end (column 5): missing protocol"},
		{"eth0 sctp 1.2.3.4 > 1.2.3.5", `word 2 "sctp" (column 6): protocol "sctp": want tcp, udp, icmp, icmpv6 or a number 0-255`},
		{"eth0 tcp", "at end (column 9): missing source address"},
		{"eth0 tcp 1.2.3.4 > 1.2.3.5:2", `word 3 "1.2.3.4" (column 10): source: tcp needs a port (ADDR:PORT)`},
		{"eth0 tcp 1.2.3:1 > 1.2.3.5:2", `word 3 "1.2.3:1" (column 10): source: "1.2.3" is not an IP address`},
		{"eth0 tcp 1.2.3.4:70000 > 1.2.3.5:2", `word 3 "1.2.3.4:70000" (column 10): source: port "70000" is not a number 0-65535`},
		{"eth0 tcp 2001:db8::1 > 1.2.3.5:2", `source: tcp needs a port: write an IPv6 address with one as [ADDR]:PORT`},
		{"eth0 icmp 1.2.3.4:1 > 1.2.3.5", `word 3 "1.2.3.4:1" (column 11): source: icmp has no ports`},
		{"eth0 tcp 1.2.3.4:1 1.2.3.5:2", `word 4 "1.2.3.5:2" (column 20): want ">" between source and destination`},
		{"eth0 tcp 1.2.3.4:1 >", `at end (column 21): missing destination address`},
		{"eth0 tcp 1.2.3.4:1 > 1.2.3.5:2 SX", `word 6 "SX" (column 32): unexpected word: want tcp flags`},
		{"eth0 tcp 1.2.3.4:1 > 1.2.3.5:2 S A", `word 7 "A" (column 34): flags given twice`},
		{"eth0 tcp 1.2.3.4:1 > 1.2.3.5:2 SS", `word 6 "SS" (column 32): tcp flags "SS": flag "S" given twice`},
		{"eth0 tcp 1.2.3.4:1 > 1.2.3.5:2 ttl=300", `word 6 "ttl=300" (column 32): ttl=300: want a number 0-255`},
		{"eth0 tcp 1.2.3.4:1 > 1.2.3.5:2 ttl=1 ttl=2", `word 7 "ttl=2" (column 38): ttl given twice`},
		{"eth0 tcp 1.2.3.4:1 > 1.2.3.5:2 foo=1", `word 6 "foo=1" (column 32): unknown field "foo"`},
		{"eth0 tcp 1.2.3.4:1 > 1.2.3.5:2 sport=1", `sport is given by position`},
		{"eth0 tcp 1.2.3.4:1 > 1.2.3.5:2 df=yes", `df=yes: want true or false`},
		{"eth0 tcp 1.2.3.4:1 > 1.2.3.5:2 frag_off=8192", `frag_off=8192: want a number 0-8191`},
		{"eth0 tcp 1.2.3.4:1 > 1.2.3.5:2 src_mac=1", `mac address "1"`},
		{"eth0 udp 1.2.3.4:1 > 1.2.3.5:2 S", `word 6 "S" (column 32): unexpected word: want df, mf or KEY=VALUE`},
		{"eth0 udp 1.2.3.4:1 > 1.2.3.5:2 flags=S", `"flags" applies only to tcp`},
		{"eth0 icmp 1.2.3.4 > 1.2.3.5", `at end (column 28): icmp needs a type`},
		{"eth0 icmp 1.2.3.4 > 1.2.3.5 type", `at end (column 33): missing type number`},
		{"eth0 icmp 1.2.3.4 > 1.2.3.5 type x", `word 7 "x" (column 34): type=x: want a number 0-255`},
		{"eth0 icmp 1.2.3.4 > 1.2.3.5 echo-request type 8", `word 7 "type" (column 42): type given twice`},
		{"eth0 icmp 1.2.3.4 > 1.2.3.5 bogus", `word 6 "bogus" (column 29): unexpected word: want an icmp type`},
		{"eth0 icmp 1.2.3.4 > 1.2.3.5 3/3 inner icmp 1.2.3.5 > 1.2.3.4", `word 8 "icmp" (column 39): inner protocol: want tcp or udp`},
		{"eth0 icmp 1.2.3.4 > 1.2.3.5 3/3 inner udp 1.2.3.5:1 1.2.3.4:2", `word 10 "1.2.3.4:2" (column 53): want ">" between inner source`},
		{"eth0 icmp 1.2.3.4 > 1.2.3.5 3/3 inner udp 1.2.3.5:1 >", `missing inner destination address`},
		{"eth0 icmp 1.2.3.4 > 1.2.3.5 8/0 inner udp 1.2.3.5:1 > 1.2.3.4:2", `not to type 8`},
		{"a/b tcp 1.2.3.4:1 > 1.2.3.5:2", `word 1 "a/b" (column 1): interface name "a/b"`},
		{"eth0 tcp 1.2.3.4:1 > 1.2.3.5:2 len=65500", `"len": 65500 is too large`},
		{"6 203.0.113.7:1 > 198.51.100.1:2", `word 2 "203.0.113.7:1" (column 3): source: tcp(raw) has no ports`},
		{"eth0 tcp(raw) 1.2.3.4 > 1.2.3.5 S", `word 6 "S" (column 33): unexpected word: want df, mf or KEY=VALUE`},
		{"eth0 6 1.2.3.4 > 1.2.3.5 flags=S", `"flags" applies only to tcp, not to proto 6 written as a number`},
		{"eth0 1 1.2.3.4 > 1.2.3.5 8/0", `unexpected word: want df, mf or KEY=VALUE`},
		{"eth0 icmp(raw) 1.2.3.4 > 1.2.3.5 type 8", `"type" applies only to icmp, not to proto 1 written as a number`},
		{"eth0 47(raw) 1.2.3.4 > 1.2.3.5", `protocol "47(raw)": only tcp, udp and icmp have a raw form`},
	}
	for _, tt := range tests {
		_, err := ParseShort(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseShort(%q)\n error %v\n  want it to contain %q", tt.in, err, tt.want)
			continue
		}
		var se *ShortError
		if !errors.As(err, &se) {
			t.Errorf("ParseShort(%q): error is %T, not *ShortError", tt.in, err)
		}
	}
}

func TestShortStringRoundTrip(t *testing.T) {
	inputs := []string{
		"eth0 tcp 203.0.113.7:40000 > 198.51.100.1:22 S",
		"eth0 tcp 203.0.113.7:40000 > 198.51.100.1:22",
		"local tcp 198.51.100.1:22 > 203.0.113.7:40000 SA",
		"tcp 198.51.100.1:22 > 203.0.113.7:40000 none seq=0 ack=0 window=0",
		"wlan0 udp 192.0.2.10:53000 > 198.51.100.9:53 len=40 ttl=1 tos=255 id=0 df frag_off=8191 mf src_mac=02:00:00:00:02:01 delay_ms=5",
		"eth0 icmp 198.51.100.9 > 198.51.100.1 type 8 delay_ms=1000",
		"eth0 icmp 198.51.100.9 > 198.51.100.1 type 0",
		"eth0 icmp 203.0.113.80 > 198.51.100.1 type 3 code 3 inner udp 198.51.100.1:46000 > 203.0.113.80:33434",
		"eth0 47 203.0.113.7 > 198.51.100.1 len=4",
		"eth0 0 203.0.113.7 > 198.51.100.1",
		"eth0 tcp(raw) 203.0.113.7 > 198.51.100.1 len=20",
		"local udp(raw) 198.51.100.1 > 203.0.113.7 len=7 mf",
		"wlan0 icmp(raw) 192.0.2.10 > 198.51.100.1 frag_off=3",
	}
	for _, in := range inputs {
		d, err := ParseShort(in)
		if err != nil {
			t.Fatalf("ParseShort(%q): %v", in, err)
		}
		s := d.String()
		if s != in {
			t.Errorf("String() = %q, want %q", s, in)
		}
		back, err := ParseShort(s)
		if err != nil || !reflect.DeepEqual(back, d) {
			t.Errorf("round trip of %q: %+v, %v", in, back, err)
		}
	}
	// The packets.md examples, from JSON to the short form and back.
	for _, e := range packetsMDExamples {
		d, err := ParseDescLine([]byte(e.line))
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseShort(d.String())
		if err != nil || !reflect.DeepEqual(back, d) {
			t.Errorf("round trip of %s via %q: %+v, %v", e.line, d.String(), back, err)
		}
	}
}

func TestICMPNames(t *testing.T) {
	for _, n := range icmpNames {
		d, err := ParseShort("eth0 icmp 1.2.3.4 > 1.2.3.5 " + n.name)
		if err != nil || d.Type != n.typ || d.Code != n.code {
			t.Errorf("%s: %d/%d, %v", n.name, d.Type, d.Code, err)
		}
	}
}

func netip4(s string) netip.Addr { return netip.MustParseAddr(s) }
