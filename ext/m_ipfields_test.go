package ext

import (
	"testing"

	"github.com/ipsift/ipsift/packet"
)

// Tests of the matches on IP header fields: length, ttl, tos, dscp and
// the ecn match's IP part.

// withTOS and withTTL set a header field of a hand-built packet.
func withTOS(p *packet.Packet, tos uint8) *packet.Packet {
	p.TOS = tos
	p.Data[1] = tos
	return p
}

func withTTL(p *packet.Packet, ttl uint8) *packet.Packet {
	p.TTL = ttl
	p.Data[8] = ttl
	return p
}

func TestMatchLength(t *testing.T) {
	saves(t,
		"-m length --length 0x40:", "-m length --length 64:65535",
		"-m length ! --length 1000", "-m length ! --length 1000",
	)
	parseFails(t, "-m length", "-m length --length 1:2:3", "-m length --length 5:4", "-m length --length x")
	runPrintCases(t, []printCase{{"-m length ! --length 100:200", "length", " length !100:200", " length !100:200"}})
	p := udpPkt(1, 2) // 28 bytes
	runMatchCases(t, []matchCase{
		{rule: "-m length --length 28", name: "length", pkt: p, want: true},
		{rule: "-m length --length 29:", name: "length", pkt: p},
		{rule: "-m length ! --length 29:", name: "length", pkt: p, want: true},
		{rule: "-m length --length :28", name: "length", pkt: p, want: true},
	})
}

func TestMatchTTL(t *testing.T) {
	saves(t,
		"-m ttl --ttl 3", "-m ttl --ttl-eq 3",
		"-m ttl ! --ttl-eq 3", "-m ttl ! --ttl-eq 3",
		"-m ttl --ttl-gt 0x10", "-m ttl --ttl-gt 16",
	)
	parseFails(t, "-m ttl", "-m ttl --ttl-eq 1 --ttl-lt 5", "-m ttl --ttl-eq 1 --ttl 1",
		"-m ttl ! --ttl-lt 5", "-m ttl ! --ttl 5", "-m ttl --ttl-eq 256")
	runPrintCases(t, []printCase{
		{"-m ttl ! --ttl-eq 5", "ttl", " TTL match TTL != 5", " TTL match TTL != 5"},
		{"-m ttl --ttl-lt 5", "ttl", " TTL match TTL < 5", " TTL match TTL < 5"},
	})
	runMatchCases(t, []matchCase{
		{rule: "-m ttl --ttl-eq 64", name: "ttl", pkt: udpPkt(1, 2), want: true},
		{rule: "-m ttl ! --ttl-eq 64", name: "ttl", pkt: udpPkt(1, 2)},
		{rule: "-m ttl --ttl-lt 64", name: "ttl", pkt: udpPkt(1, 2)},
		{rule: "-m ttl --ttl-lt 64", name: "ttl", pkt: withTTL(udpPkt(1, 2), 63), want: true},
		{rule: "-m ttl --ttl-gt 1", name: "ttl", pkt: withTTL(udpPkt(1, 2), 2), want: true},
		{rule: "-m ttl --ttl-gt 1", name: "ttl", pkt: withTTL(udpPkt(1, 2), 1)},
	})
}

func TestMatchTOS(t *testing.T) {
	saves(t,
		"-m tos --tos minimize-delay", "-m tos --tos 0x10/0x3f",
		"-m tos --tos 16", "-m tos --tos 0x10/0xff",
		"-m tos ! --tos 0x04/0x0c", "-m tos ! --tos 0x04/0x0c",
	)
	parseFails(t, "-m tos", "-m tos --tos 256", "-m tos --tos 0x10/0x100", "-m tos --tos 0x10/", "-m tos --tos 1x")
	runPrintCases(t, []printCase{
		{"-m tos --tos Minimize-Delay", "tos", " tos match0x10/0x3f", " tos match Minimize-Delay"},
		{"-m tos ! --tos Minimize-Delay", "tos", " tos match!0x10/0x3f", " tos match! Minimize-Delay"},
		{"-m tos --tos 0x10", "tos", " tos match0x10/0xff", " tos match0x10/0xff"},
	})
	runMatchCases(t, []matchCase{
		// A name ignores the two precedence bits (mask 0x3f); a bare
		// number compares all eight.
		{rule: "-m tos --tos Minimize-Delay", name: "tos", pkt: withTOS(udpPkt(1, 2), 0x90), want: true},
		{rule: "-m tos --tos Minimize-Delay", name: "tos", pkt: withTOS(udpPkt(1, 2), 0x12)},
		{rule: "-m tos --tos 0x10", name: "tos", pkt: withTOS(udpPkt(1, 2), 0x90)},
		{rule: "-m tos ! --tos 0x10", name: "tos", pkt: withTOS(udpPkt(1, 2), 0x90), want: true},
		{rule: "-m tos --tos 0x10", name: "tos", pkt: withTOS(udpPkt(1, 2), 0x10), want: true},
	})
}

func TestMatchDSCP(t *testing.T) {
	saves(t,
		"-m dscp --dscp 46", "-m dscp --dscp 0x2e",
		"-m dscp ! --dscp-class af41", "-m dscp ! --dscp 0x22",
	)
	parseFails(t, "-m dscp", "-m dscp --dscp 64", "-m dscp --dscp-class XX", "-m dscp --dscp 1 --dscp-class EF")
	runPrintCases(t, []printCase{{"-m dscp ! --dscp-class EF", "dscp", " DSCP match !0x2e", " DSCP match !0x2e"}})
	runMatchCases(t, []matchCase{
		{rule: "-m dscp --dscp-class EF", name: "dscp", pkt: withTOS(udpPkt(1, 2), 0xb8), want: true},
		{rule: "-m dscp --dscp-class EF", name: "dscp", pkt: withTOS(udpPkt(1, 2), 0xbb), want: true},
		{rule: "-m dscp --dscp-class EF", name: "dscp", pkt: withTOS(udpPkt(1, 2), 0xb4)},
		{rule: "-m dscp ! --dscp 0", name: "dscp", pkt: udpPkt(1, 2)},
	})
}

func TestMatchECN(t *testing.T) {
	saves(t,
		"-p tcp -m ecn --ecn-ip-ect 3 --ecn-tcp-cwr", "-p tcp -m ecn --ecn-tcp-cwr --ecn-ip-ect 3",
		"-m ecn ! --ecn-ip-ect 0", "-m ecn ! --ecn-ip-ect 0",
	)
	parseFails(t, "-m ecn", "-m ecn --ecn-tcp-ece", "! -p tcp -m ecn --ecn-tcp-ece",
		"-p udp -m ecn --ecn-tcp-cwr", "-m ecn --ecn-ip-ect 4")
	runPrintCases(t, []printCase{
		{"-p tcp -m ecn ! --ecn-tcp-ece --ecn-tcp-cwr --ecn-ip-ect 3", "ecn", " ECN match !ECE CWR ECT=3", " ECN match !ECE CWR ECT=3"},
	})
	ece := tcpPkt(1, 2, packet.TCPSyn|packet.TCPEce|packet.TCPCwr)
	runMatchCases(t, []matchCase{
		{rule: "-p tcp -m ecn --ecn-tcp-ece", name: "ecn", pkt: ece, want: true},
		{rule: "-p tcp -m ecn --ecn-tcp-ece ! --ecn-tcp-cwr", name: "ecn", pkt: ece},
		{rule: "-p tcp -m ecn ! --ecn-tcp-ece", name: "ecn", pkt: tcpPkt(1, 2, packet.TCPSyn), want: true},
		{rule: "-p tcp -m ecn --ecn-ip-ect 2", name: "ecn", pkt: withTOS(tcpPkt(1, 2, 0), 0x02), want: true},
		{rule: "-p tcp -m ecn --ecn-ip-ect 2", name: "ecn", pkt: withTOS(tcpPkt(1, 2, 0), 0x03)},
		// No whole tcp header: the test fails, nothing is dropped.
		{rule: "-p tcp -m ecn ! --ecn-tcp-cwr", name: "ecn", pkt: truncated(tcpPkt(1, 2, 0), 12)},
	})
}

func TestMatchTCPMSS(t *testing.T) {
	saves(t,
		"-p tcp -m tcpmss --mss 1460", "-p tcp -m tcpmss --mss 1460",
		"-p tcp -m tcpmss ! --mss :536", "-p tcp -m tcpmss ! --mss 0:536",
	)
	parseFails(t, "-m tcpmss --mss 5", "-p tcp -m tcpmss", "-p tcp -m tcpmss --mss 5:4", "-p udp -m tcpmss --mss 5")
	runPrintCases(t, []printCase{{"-p tcp -m tcpmss ! --mss 100:1460", "tcpmss", " tcpmss match !100:1460", " tcpmss match !100:1460"}})
	syn := func(opts []byte) *packet.Packet {
		return ipPkt(packet.ProtoTCP, tcpSeg(1, 2, packet.TCPSyn, opts, ""))
	}
	mss1460 := []byte{1, 1, 4, 2, 2, 4, 0x05, 0xb4}
	bad := syn(nil)
	bad.L4[12] = 3 << 4
	runMatchCases(t, []matchCase{
		{rule: "-p tcp -m tcpmss --mss 1460", name: "tcpmss", pkt: syn(mss1460), want: true},
		{rule: "-p tcp -m tcpmss --mss 1400:1459", name: "tcpmss", pkt: syn(mss1460)},
		{rule: "-p tcp -m tcpmss ! --mss 1400:1459", name: "tcpmss", pkt: syn(mss1460), want: true},
		{rule: "-p tcp -m tcpmss --mss 1460", name: "tcpmss", pkt: syn(nil)},
		{rule: "-p tcp -m tcpmss ! --mss 1460", name: "tcpmss", pkt: syn(nil), want: true},
		// An MSS option with a wrong length is not an MSS option.
		{rule: "-p tcp -m tcpmss --mss 1460", name: "tcpmss", pkt: syn([]byte{2, 5, 0x05, 0xb4, 0})},
		{rule: "-p tcp -m tcpmss --mss 1460", name: "tcpmss", pkt: truncated(syn(mss1460), 24), hotdrop: true},
		{rule: "-p tcp -m tcpmss --mss 1460", name: "tcpmss", pkt: bad, hotdrop: true},
		{rule: "-p tcp -m tcpmss ! --mss 1460", name: "tcpmss", pkt: truncated(syn(nil), 10), hotdrop: true},
	})
}
