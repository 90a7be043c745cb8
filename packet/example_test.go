package packet_test

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/ipsift/ipsift/packet"
)

func ExamplePacket_Decode() {
	d, _ := packet.ParseShort("eth0 tcp 203.0.113.7:40000 > 198.51.100.1:22 S")
	data, _ := d.Build(0)

	var p packet.Packet
	if err := p.Decode(data); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(p.Src, p.SrcPort, "->", p.Dst, p.DstPort)
	fmt.Println("syn:", p.TCPFlags&packet.TCPSyn != 0, "L4OK:", p.L4OK, "bytes:", p.TotalLen)

	// A header Decode cannot use is an error; a short transport header is not.
	fmt.Println(p.Decode(data[:10]))
	// Output:
	// 203.0.113.7 40000 -> 198.51.100.1 22
	// syn: true L4OK: true bytes: 40
	// packet: shorter than an IPv4 header (20 bytes)
}

func ExamplePacket_SetSrc() {
	d, _ := packet.ParseShort("eth0 udp 192.0.2.10:53000 > 198.51.100.9:53 len=12")
	data, _ := d.Build(0)
	var p packet.Packet
	p.Decode(data)

	// SNAT: address and port, with both checksums updated in place.
	p.SetSrc(netip.MustParseAddr("203.0.113.1"))
	p.SetSrcPort(61000)
	fmt.Println(p.Summary())
	fmt.Println("checksums ok:", p.IPChecksumOK(), p.L4ChecksumOK())
	// Output:
	// IP 203.0.113.1.61000 > 198.51.100.9.53: UDP, length 12
	// checksums ok: true true
}

func ExampleChecksum() {
	// A classic IPv4 header (UDP, 192.168.0.1 to 192.168.0.199), checksum zeroed.
	hdr := []byte{0x45, 0, 0, 0x73, 0, 0, 0x40, 0, 0x40, 0x11, 0, 0, 0xc0, 0xa8, 0, 1, 0xc0, 0xa8, 0, 0xc7}
	fmt.Printf("%#04x\n", packet.Checksum(hdr))
	// Output: 0xb861
}

func ExampleParseShort() {
	d, err := packet.ParseShort("eth0 tcp 203.0.113.7:40000 > 198.51.100.1:22 SA ttl=3")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(d.Proto, d.Sport, d.TCPFlagBits(), *d.TTL)
	fmt.Println(d)

	_, err = packet.ParseShort("eth0 tcp 203.0.113.7:40000 > 198.51.100.1:22 SZ")
	fmt.Println(err)
	// Output:
	// tcp 40000 SA 3
	// eth0 tcp 203.0.113.7:40000 > 198.51.100.1:22 SA ttl=3
	// word 6 "SZ" (column 46): unexpected word: want tcp flags (letters from FSRPAUEC, or none), df, mf or KEY=VALUE
}

func ExampleParseDescLine() {
	d, err := packet.ParseDescLine([]byte(`{"in":"eth0","src":"198.51.100.9","dst":"198.51.100.1","proto":"icmp","type":8,"delay_ms":1000}`))
	fmt.Println(d, err)

	_, err = packet.ParseDescLine([]byte(`{"in":"eth0","src":"198.51.100.9","dst":"198.51.100.1","proto":"udp","sport":1}`))
	fmt.Println(err)
	// Output:
	// eth0 icmp 198.51.100.9 > 198.51.100.1 type 8 delay_ms=1000 <nil>
	// missing field "dport" (required for udp)
}

func ExampleReadDescs() {
	in := `{"in":"eth0","src":"203.0.113.7","dst":"198.51.100.1","proto":"tcp","sport":40000,"dport":22}
{"in":"eth0","src":"203.0.113.7","dst":"198.51.100.1","proto":"tcp","sport":40000,"dport":22,"flags":"A"}
{"in":"eth0","src":"203.0.113.7","dst":"198.51.100.1","proto":"tcp","sport":40000,"dport":22,"foo":1}
`
	_, err := packet.ReadDescs(strings.NewReader(in))
	fmt.Println(err)
	// Output: line 3: unknown field "foo"
}

func ExampleDesc_Build() {
	d, _ := packet.ParseShort("eth0 icmp 203.0.113.80 > 198.51.100.1 port-unreachable inner udp 198.51.100.1:46000 > 203.0.113.80:33434")
	data, _ := d.Build(3)
	fmt.Printf("% x\n", data[:20])
	fmt.Printf("% x\n", data[20:28])
	fmt.Printf("% x\n", data[28:])
	// Output:
	// 45 00 00 38 00 04 00 00 40 01 14 3c cb 00 71 50 c6 33 64 01
	// 03 03 63 9c 00 00 00 00
	// 45 00 00 1c 00 01 00 00 40 11 14 4b c6 33 64 01 cb 00 71 50 b3 b0 82 9a 00 08 63 0d
}

func ExamplePacket_Summary() {
	for _, s := range []string{
		"eth0 tcp 203.0.113.9:40000 > 198.51.100.1:80 S",
		"local tcp 198.51.100.1:80 > 203.0.113.9:40000 RA",
		"eth0 udp 192.0.2.10:53000 > 198.51.100.9:33434 len=32",
		"eth0 icmp 198.51.100.9 > 198.51.100.1 echo-request",
		"eth0 tcp 203.0.113.9:40000 > 198.51.100.1:80 frag_off=185",
	} {
		d, _ := packet.ParseShort(s)
		data, _ := d.Build(0)
		var p packet.Packet
		p.Decode(data)
		fmt.Println(p.Summary())
	}
	// Output:
	// IP 203.0.113.9.40000 > 198.51.100.1.80: Flags [S], seq 1000, win 8192, length 0
	// IP 198.51.100.1.80 > 203.0.113.9.40000: Flags [R.], seq 1000, ack 1001, win 8192, length 0
	// IP 192.0.2.10.53000 > 198.51.100.9.33434: UDP, length 32
	// IP 198.51.100.9 > 198.51.100.1: ICMP echo request, id 0, seq 0, length 8
	// IP 203.0.113.9 > 198.51.100.1: ip-proto-6 (frag 1:20@1480)
}
