package ext

import "testing"

func TestUDPParseSave(t *testing.T) {
	saves(t,
		"-p udp --dport 53", "-p udp -m udp --dport 53",
		"-p udp -m udp --sport domain --dport 1024:", "-p udp -m udp --sport 53 --dport 1024:65535",
		"-p udp -m udp ! --source-port 123", "-p udp -m udp ! --sport 123",
		// getaddrinfo finds a service of any protocol.
		"-p udp -m udp --dport ssh", "-p udp -m udp --dport 22",
	)
	parseFails(t,
		"-p udp -m udp --sport 1 --sport 2",
		"-p udp -m udp --dport 1 --destination-port 2",
		"-p udp -m udp --dport 1:2:3",
		"-p udp -m udp --dport 3:2",
		"-p udp -m udp --tcp-flags SYN SYN",
		"-p tcp -m udp --dport 1",
	)
}

func TestUDPPrint(t *testing.T) {
	runPrintCases(t, []printCase{
		{"-p udp -m udp --dport 53", "udp", " udp dpt:53", " udp dpt:domain"},
		{"-p udp -m udp ! --sport 67:68", "udp", " udp spts:!67:68", " udp spts:!bootps:bootpc"},
		// Names per protocol, as getservbyport: ssh is tcp only.
		{"-p udp -m udp --dport 22", "udp", " udp dpt:22", " udp dpt:22"},
		{"-p udp -m udp --dport 1701", "udp", " udp dpt:1701", " udp dpt:l2f"},
	})
}

func TestUDPMatch(t *testing.T) {
	runMatchCases(t, []matchCase{
		{rule: "-p udp --dport 53", name: "udp", pkt: udpPkt(5353, 53), want: true},
		{rule: "-p udp --dport 53", name: "udp", pkt: udpPkt(53, 5353)},
		{rule: "-p udp --sport 53 --dport 1024:", name: "udp", pkt: udpPkt(53, 5353), want: true},
		{rule: "-p udp ! --sport 53", name: "udp", pkt: udpPkt(53, 5353)},
		{rule: "-p udp --dport 53", name: "udp", pkt: truncated(udpPkt(1, 53), 7), hotdrop: true},
		{rule: "-p udp ! --dport 53", name: "udp", pkt: truncated(udpPkt(1, 53), 0), hotdrop: true},
		{rule: "-p udp ! --dport 53", name: "udp", pkt: laterFragment(udpPkt(1, 53), 1)},
		{rule: "-p udp -m udp", name: "udp", pkt: tcpPkt(1, 2, 0)},
	})
}
