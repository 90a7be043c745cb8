package ext

import (
	"testing"

	"github.com/ipsift/ipsift/packet"
)

func TestMultiportParseSave(t *testing.T) {
	saves(t,
		"-p tcp -m multiport --dports ssh,http,https", "-p tcp -m multiport --dports 22,80,443",
		"-p tcp -m multiport --destination-ports 22", "-p tcp -m multiport --dports 22",
		"-p udp -m multiport --source-ports 1:1023", "-p udp -m multiport --sports 1:1023",
		"-p tcp -m multiport ! --ports 0x16,25", "-p tcp -m multiport ! --ports 22,25",
		"-p tcp -m multiport --dports 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15", "-p tcp -m multiport --dports 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15",
		"-p tcp -m multiport --dports 1:2,3,4,5,6,7,8,9,10,11,12,13,14,15", "-p tcp -m multiport --dports 1:2,3,4,5,6,7,8,9,10,11,12,13,14,15",
		"-m multiport --dports 22 -p tcp", "-p tcp -m multiport --dports 22",
		"-p udp -m multiport --dports ntp,domain", "-p udp -m multiport --dports 123,53",
		"-p sctp -m multiport --dports 22", "-p sctp -m multiport --dports 22",
	)
	parseFails(t,
		"-p tcp -m multiport",
		"-m multiport --dports 22",
		"-p icmp -m multiport --dports 22",
		"! -p tcp -m multiport --dports 22",
		"-p tcp -m multiport --dports 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16",
		"-p tcp -m multiport --dports 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15:16",
		"-p tcp -m multiport --dports 80:80",
		"-p tcp -m multiport --dports 81:80",
		"-p tcp -m multiport --dports 22,",
		"-p tcp -m multiport --dports 22,,80",
		"-p tcp -m multiport --dports :80",
		"-p tcp -m multiport --dports 22 --sports 80",
		"-p tcp -m multiport --dports 22 --destination-ports 80",
		"-p tcp -m multiport --dports 22 --ports 80",
		"-p tcp --multiport 22",
		"-p tcp -m multiport --dports ntp", // a udp service
		"-p sctp -m multiport --dports ssh",
	)
}

func TestMultiportPrint(t *testing.T) {
	runPrintCases(t, []printCase{
		{"-p tcp -m multiport --dports 22,443:445", "multiport", " multiport dports 22,443:445", " multiport dports ssh,https:microsoft-ds"},
		{"-p tcp -m multiport ! --ports 22", "multiport", " multiport ports  !22", " multiport ports  !ssh"},
		{"-p udp -m multiport --dports 123,1701,22", "multiport", " multiport dports 123,1701,22", " multiport dports ntp,l2f,22"},
	})
}

func TestMultiportMatch(t *testing.T) {
	sctp := ipPkt(132, []byte{0x13, 0x88, 0, 22, 0, 0, 0, 0, 0, 0, 0, 0})
	runMatchCases(t, []matchCase{
		{rule: "-p tcp -m multiport --dports 22,80,443", name: "multiport", pkt: tcpPkt(40000, 80, packet.TCPSyn), want: true},
		{rule: "-p tcp -m multiport --dports 22,80,443", name: "multiport", pkt: tcpPkt(80, 40000, packet.TCPSyn)},
		{rule: "-p tcp -m multiport --sports 22,80,443", name: "multiport", pkt: tcpPkt(80, 40000, packet.TCPSyn), want: true},
		{rule: "-p tcp -m multiport --ports 22,80,443", name: "multiport", pkt: tcpPkt(80, 40000, packet.TCPSyn), want: true},
		{rule: "-p tcp -m multiport --ports 22,80,443", name: "multiport", pkt: tcpPkt(40000, 443, packet.TCPSyn), want: true},
		{rule: "-p tcp -m multiport --ports 22,80,443", name: "multiport", pkt: tcpPkt(40000, 444, packet.TCPSyn)},
		{rule: "-p tcp -m multiport --dports 1000:2000,3000", name: "multiport", pkt: tcpPkt(1, 2000, 0), want: true},
		{rule: "-p tcp -m multiport --dports 1000:2000,3000", name: "multiport", pkt: tcpPkt(1, 2001, 0)},
		{rule: "-p tcp -m multiport ! --dports 1000:2000,3000", name: "multiport", pkt: tcpPkt(1, 2001, 0), want: true},
		{rule: "-p tcp -m multiport ! --dports 1000:2000,3000", name: "multiport", pkt: tcpPkt(1, 3000, 0)},
		{rule: "-p udp -m multiport --dports 53,123", name: "multiport", pkt: udpPkt(1, 123), want: true},
		{rule: "-p sctp -m multiport --dports 22", name: "multiport", pkt: sctp, want: true},
		{rule: "-p sctp -m multiport --sports 5000", name: "multiport", pkt: sctp, want: true},
		// Only the four port bytes are needed; fewer are dropped.
		{rule: "-p tcp -m multiport --dports 22", name: "multiport", pkt: truncated(tcpPkt(1, 22, 0), 4), want: true},
		{rule: "-p tcp -m multiport --dports 22", name: "multiport", pkt: truncated(tcpPkt(1, 22, 0), 3), hotdrop: true},
		{rule: "-p tcp -m multiport ! --dports 22", name: "multiport", pkt: laterFragment(tcpPkt(1, 80, 0), 1)},
	})
}
