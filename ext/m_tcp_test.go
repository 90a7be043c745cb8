package ext

import (
	"testing"

	"github.com/ipsift/ipsift/packet"
)

func TestTCPParseSave(t *testing.T) {
	saves(t,
		"-p tcp --dport 22", "-p tcp -m tcp --dport 22",
		"-p tcp -m tcp --sport ssh", "-p tcp -m tcp --sport 22",
		"-p tcp -m tcp --dport 0x16", "-p tcp -m tcp --dport 22",
		"-p tcp -m tcp --destination-port 1024:", "-p tcp -m tcp --dport 1024:65535",
		"-p tcp -m tcp --syn", "-p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN",
		"-p tcp -m tcp ! --syn", "-p tcp -m tcp ! --tcp-flags FIN,SYN,RST,ACK SYN",
		"-p tcp -m tcp --tcp-flags all none", "-p tcp -m tcp --tcp-flags FIN,SYN,RST,PSH,ACK,URG NONE",
		"-p tcp -m tcp --tcp-flags=SYN,ACK SYN", "-p tcp -m tcp --tcp-flags SYN,ACK SYN",
		"-p tcp -m tcp --tcp-option 2 --dport 80", "-p tcp -m tcp --dport 80 --tcp-option 2",
		"-p tcp -m tcp ! --tcp-option 8", "-p tcp -m tcp ! --tcp-option 8",
		"-p tcp --dp 22", "-p tcp -m tcp --dport 22",
	)
	parseFails(t,
		"-p tcp -m tcp --sport 1 --source-port 2",
		"-p tcp -m tcp --syn --tcp-flags SYN SYN",
		"-p tcp -m tcp --tcp-flags SYN",
		"-p tcp -m tcp --tcp-flags SYN ! SYN",
		"-p tcp -m tcp --tcp-flags SYN --dport 22",
		"-p tcp -m tcp --tcp-flags SYN,FOO SYN",
		"-p tcp -m tcp --tcp-option 0",
		"-p tcp -m tcp --tcp-option 256",
		"-p tcp -m tcp --dport 08080",
		"-p tcp -m tcp --dport nosuchservice",
		"-p tcp -m tcp --dport bootps", // a udp service
		"-p udp -m tcp --dport 22",
		"! -p tcp -m tcp --dport 22",
		"-p tcp --d 22", // ambiguous: --destination-port, --dport
	)
}

func TestTCPPrint(t *testing.T) {
	runPrintCases(t, []printCase{
		{"-p tcp -m tcp", "tcp", " tcp", " tcp"},
		{"-p tcp -m tcp --dport 22", "tcp", " tcp dpt:22", " tcp dpt:ssh"},
		{"-p tcp -m tcp ! --sport 1:1023 --dport 443", "tcp", " tcp spts:!1:1023 dpt:443", " tcp spts:!tcpmux:1023 dpt:https"},
		{"-p tcp -m tcp --dport 123:514", "tcp", " tcp dpts:123:514", " tcp dpts:123:shell"},
		{"-p tcp -m tcp --dport 80", "tcp", " tcp dpt:80", " tcp dpt:http"},
		{"-p tcp -m tcp --syn", "tcp", " tcp flags:0x17/0x02", " tcp flags:FIN,SYN,RST,ACK/SYN"},
		{"-p tcp -m tcp ! --tcp-flags ALL NONE", "tcp", " tcp flags:!0x3F/0x00", " tcp flags:!FIN,SYN,RST,PSH,ACK,URG/NONE"},
		{"-p tcp -m tcp ! --tcp-option 2", "tcp", " tcp option=!2", " tcp option=!2"},
		{"-p tcp -m tcp ! --sport :", "tcp", " tcp spts:!0:65535", " tcp spts:!0:65535"},
	})
}

func TestTCPMatch(t *testing.T) {
	mss := []byte{2, 4, 0x05, 0xb4, 1, 1, 4, 2} // MSS 1460, NOP, NOP, SACK permitted
	withOpts := func(opts []byte) *packet.Packet {
		return ipPkt(packet.ProtoTCP, tcpSeg(40000, 22, packet.TCPSyn, opts, ""))
	}
	// A SYN whose data offset claims 8 bytes of options the packet lacks.
	shortOpts := truncated(withOpts(mss), 22)
	badDoff := tcpPkt(40000, 22, packet.TCPSyn)
	badDoff.L4[12] = 4 << 4 // data offset 16
	refill(badDoff)
	runMatchCases(t, []matchCase{
		{rule: "-p tcp --dport 22", name: "tcp", pkt: tcpPkt(40000, 22, packet.TCPSyn), want: true},
		{rule: "-p tcp --dport 22", name: "tcp", pkt: tcpPkt(40000, 80, packet.TCPSyn)},
		{rule: "-p tcp ! --dport 22", name: "tcp", pkt: tcpPkt(40000, 80, packet.TCPSyn), want: true},
		{rule: "-p tcp --sport 1024:", name: "tcp", pkt: tcpPkt(1023, 80, packet.TCPAck)},
		{rule: "-p tcp --sport 1024:", name: "tcp", pkt: tcpPkt(1024, 80, packet.TCPAck), want: true},
		{rule: "-p tcp --syn", name: "tcp", pkt: tcpPkt(1, 2, packet.TCPSyn), want: true},
		{rule: "-p tcp --syn", name: "tcp", pkt: tcpPkt(1, 2, packet.TCPSyn|packet.TCPEce|packet.TCPCwr), want: true},
		{rule: "-p tcp --syn", name: "tcp", pkt: tcpPkt(1, 2, packet.TCPSyn|packet.TCPAck)},
		{rule: "-p tcp ! --syn", name: "tcp", pkt: tcpPkt(1, 2, packet.TCPSyn|packet.TCPAck), want: true},
		{rule: "-p tcp --tcp-flags ALL NONE", name: "tcp", pkt: tcpPkt(1, 2, 0), want: true},
		{rule: "-p tcp --tcp-flags ALL NONE", name: "tcp", pkt: tcpPkt(1, 2, packet.TCPEce), want: true},
		{rule: "-p tcp --tcp-flags SYN,FIN SYN,FIN", name: "tcp", pkt: tcpPkt(1, 2, packet.TCPSyn|packet.TCPFin|packet.TCPPsh), want: true},
		{rule: "-p tcp --tcp-option 2", name: "tcp", pkt: withOpts(mss), want: true},
		{rule: "-p tcp --tcp-option 4", name: "tcp", pkt: withOpts(mss), want: true},
		{rule: "-p tcp --tcp-option 8", name: "tcp", pkt: withOpts(mss)},
		{rule: "-p tcp ! --tcp-option 8", name: "tcp", pkt: withOpts(mss), want: true},
		{rule: "-p tcp ! --tcp-option 2", name: "tcp", pkt: tcpPkt(1, 2, packet.TCPSyn), want: true},
		{rule: "-p tcp --tcp-option 2", name: "tcp", pkt: tcpPkt(1, 2, packet.TCPSyn)},
		// The option scan skips an option's body by its length byte:
		// a 5 inside the MSS value is not option 5.
		{rule: "-p tcp --tcp-option 5", name: "tcp", pkt: withOpts([]byte{2, 4, 5, 5})},
		// A length byte of 0 steps one byte, as the kernel does.
		{rule: "-p tcp --tcp-option 5", name: "tcp", pkt: withOpts([]byte{3, 0, 5, 1}), want: true},
		// Hotdrops: options cut short, a data offset below 20, a header
		// cut short, the "evil" fragment at offset 8.
		{rule: "-p tcp --tcp-option 2", name: "tcp", pkt: shortOpts, hotdrop: true},
		{rule: "-p tcp --tcp-option 2 --dport 23", name: "tcp", pkt: shortOpts},
		{rule: "-p tcp --dport 22", name: "tcp", pkt: shortOpts, want: true},
		{rule: "-p tcp --tcp-option 2", name: "tcp", pkt: badDoff, hotdrop: true},
		{rule: "-p tcp --dport 22", name: "tcp", pkt: truncated(tcpPkt(1, 22, 0), 19), hotdrop: true},
		{rule: "-p tcp ! --dport 22", name: "tcp", pkt: truncated(tcpPkt(1, 22, 0), 4), hotdrop: true},
		{rule: "-p tcp -m tcp", name: "tcp", pkt: laterFragment(tcpPkt(1, 22, 0), 1), hotdrop: true},
		{rule: "-p tcp -m tcp", name: "tcp", pkt: laterFragment(tcpPkt(1, 22, 0), 2)},
		{rule: "-p tcp ! --dport 22", name: "tcp", pkt: laterFragment(tcpPkt(1, 22, 0), 185)},
		{rule: "-p tcp -m tcp", name: "tcp", pkt: udpPkt(1, 2)},
	})
}
