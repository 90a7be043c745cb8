package ext

import (
	"strings"
	"testing"

	"github.com/ipsift/ipsift/packet"
)

func TestMatchU32ParseSave(t *testing.T) {
	saves(t,
		`-m u32 --u32 "0x0=0x0&&0x0=0x1"`, `-m u32 --u32 "0x0=0x0&&0x0=0x1"`,
		`-m u32 ! --u32 " 0 >> 22 & 0x3C @ 12 >> 26 & 0x3C @ 0 = 0x48545450 , 5:6 && 3<<1=2"`,
		`-m u32 ! --u32 "0x0>>0x16&0x3c@0xc>>0x1a&0x3c@0x0=0x48545450,0x5:0x6&&0x3<<0x1=0x2"`,
		`-m u32 --u32 "6&0xFF=6,17"`, `-m u32 --u32 "0x6&0xff=0x6,0x11"`,
	)
	ten := strings.TrimSuffix(strings.Repeat("0=0&&", 10), "&&")
	eleven := ten + "&&0=0"
	saves(t, "-m u32 --u32 "+ten, "-m u32 --u32 \""+strings.ReplaceAll(ten, "0", "0x0")+"\"")
	parseFails(t,
		"-m u32",
		"-m u32 --u32 0",
		"-m u32 --u32 0=",
		"-m u32 --u32 =1",
		"-m u32 --u32 0<1=1",
		"-m u32 --u32 0>1=1",
		"-m u32 --u32 0&&1",
		"-m u32 --u32 0=1&2=2",
		"-m u32 --u32 0=1&&",
		"-m u32 --u32 0=1;2",
		"-m u32 --u32 0x100000000=1",
		"-m u32 --u32 "+eleven,
		"-m u32 --u32 0&1&1&1&1&1&1&1&1&1&1=1",
		"-m u32 --u32 0=1,2,3,4,5,6,7,8,9,10,11",
		"-m u32 --u32 0<<32=0",
		"-m u32 --u32 0=0&&4>>0x20=0",
	)
	runPrintCases(t, []printCase{{`-m u32 ! --u32 "6&0xff=6"`, "u32", ` u32 ! "0x6&0xff=0x6"`, ` u32 ! "0x6&0xff=0x6"`}})
}

func TestMatchU32Match(t *testing.T) {
	// An HTTP request in TCP: 20 bytes of IP, 20 of TCP, then "GET ".
	p := ipPkt(packet.ProtoTCP, tcpSeg(40000, 80, packet.TCPAck|packet.TCPPsh, nil, "GET / HTTP/1.0\r\n"))
	http := "0>>22&0x3C@12>>26&0x3C@0=0x47455420" // the first word of the TCP payload
	runMatchCases(t, []matchCase{
		{rule: "-m u32 --u32 0>>28=4", name: "u32", pkt: p, want: true},
		{rule: "-m u32 --u32 6&0xFF=6,17", name: "u32", pkt: p, want: true},
		{rule: "-m u32 --u32 6&0xFF=17", name: "u32", pkt: p},
		{rule: "-m u32 ! --u32 6&0xFF=17", name: "u32", pkt: p, want: true},
		{rule: "-m u32 --u32 " + http, name: "u32", pkt: p, want: true},
		{rule: "-m u32 --u32 0>>28=4&&" + http + "&&6&0xff=17", name: "u32", pkt: p},
		// The destination port: 0>>22&0x3C@0&0xFFFF.
		{rule: "-m u32 --u32 0>>22&0x3C@0&0xFFFF=79:81", name: "u32", pkt: p, want: true},
		// Reads past the end fail the match; "!" then makes it true.
		{rule: "-m u32 --u32 56=0", name: "u32", pkt: p},
		{rule: "-m u32 ! --u32 56=0", name: "u32", pkt: p, want: true},
		{rule: "-m u32 --u32 52=0:0xffffffff", name: "u32", pkt: p, want: true},
		{rule: "-m u32 --u32 0>>22&0x3C@32=0:0xffffffff", name: "u32", pkt: p, want: true},
		{rule: "-m u32 --u32 0>>22&0x3C@33=0:0xffffffff", name: "u32", pkt: p},
		{rule: "-m u32 --u32 0<<31=0", name: "u32", pkt: p, want: true},
		// "@" past 4 GiB wraps: refused, not read.
		{rule: "-m u32 --u32 0@0@0xfffffffc=0:0xffffffff", name: "u32", pkt: p},
	})
}
