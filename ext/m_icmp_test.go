package ext

import "testing"

func TestICMPParseSave(t *testing.T) {
	saves(t,
		"-p icmp --icmp-type echo-request", "-p icmp -m icmp --icmp-type 8",
		"-p icmp -m icmp --icmp-type ping", "-p icmp -m icmp --icmp-type 8",
		"-p icmp -m icmp --icmp-type Echo-Req", "-p icmp -m icmp --icmp-type 8",
		"-p icmp -m icmp ! --icmp-type any", "-p icmp -m icmp ! --icmp-type any",
		"-p icmp -m icmp --icmp-type port-unreachable", "-p icmp -m icmp --icmp-type 3/3",
		"-p icmp -m icmp --icmp-type network-unreachable", "-p icmp -m icmp --icmp-type 3/0",
		"-p icmp -m icmp --icmp-type 0x3/0x4", "-p icmp -m icmp --icmp-type 3/4",
		"-p icmp -m icmp --icmp-type 3:3", "-p icmp -m icmp --icmp-type 3",
		// iptables-save keeps only the low code of a code range.
		"-p icmp -m icmp --icmp-type 3/1:4", "-p icmp -m icmp --icmp-type 3/1",
		"-p icmp -m icmp --icmp-type 3/0:255", "-p icmp -m icmp --icmp-type 3",
	)
	parseFails(t,
		"-p icmp -m icmp",
		"-p icmp -m icmp --icmp-type echo",    // echo-reply or echo-request
		"-p icmp -m icmp --icmp-type host-un", // unreachable or unknown
		"-p icmp -m icmp --icmp-type 3:4",
		"-p icmp -m icmp --icmp-type 256",
		"-p icmp -m icmp --icmp-type 3/256",
		"-p icmp -m icmp --icmp-type 3/1x",
		"-p icmp -m icmp --icmp-type 3-1",
		"-p icmp -m icmp --icmp-type destination-unreachable/network-unreachable",
		"-p icmp -m icmp --icmp-type nonsense",
		"-p icmp -m icmp --icmp-type ''",
		"-p icmp -m icmp --icmp-type 8 --icmp-type 0",
		"-m icmp --icmp-type 8",
	)
}

func TestICMPPrint(t *testing.T) {
	runPrintCases(t, []printCase{
		{"-p icmp -m icmp --icmp-type echo-request", "icmp", " icmptype 8", " icmp echo-request"},
		{"-p icmp -m icmp --icmp-type pong", "icmp", " icmptype 0", " icmp echo-reply"},
		{"-p icmp -m icmp ! --icmp-type 8", "icmp", " icmp !type 8", " icmp !echo-request"},
		{"-p icmp -m icmp --icmp-type any", "icmp", " icmptype 255", " icmp any"},
		{"-p icmp -m icmp --icmp-type 3/4", "icmp", " icmptype 3 code 4", " icmp fragmentation-needed"},
		{"-p icmp -m icmp --icmp-type 3/1:4", "icmp", " icmptype 3 codes 1-4", " icmptype 3 codes 1-4"},
		{"-p icmp -m icmp --icmp-type 42", "icmp", " icmptype 42", " icmptype 42"},
	})
}

func TestICMPMatch(t *testing.T) {
	runMatchCases(t, []matchCase{
		{rule: "-p icmp --icmp-type echo-request", name: "icmp", pkt: icmpPkt(8, 0), want: true},
		{rule: "-p icmp --icmp-type echo-request", name: "icmp", pkt: icmpPkt(0, 0)},
		{rule: "-p icmp ! --icmp-type echo-request", name: "icmp", pkt: icmpPkt(0, 0), want: true},
		{rule: "-p icmp --icmp-type any", name: "icmp", pkt: icmpPkt(42, 7), want: true},
		{rule: "-p icmp ! --icmp-type any", name: "icmp", pkt: icmpPkt(42, 7)},
		{rule: "-p icmp --icmp-type 255/255", name: "icmp", pkt: icmpPkt(3, 3), want: true},
		{rule: "-p icmp --icmp-type port-unreachable", name: "icmp", pkt: icmpPkt(3, 3), want: true},
		{rule: "-p icmp --icmp-type port-unreachable", name: "icmp", pkt: icmpPkt(3, 1)},
		{rule: "-p icmp --icmp-type 3/1:4", name: "icmp", pkt: icmpPkt(3, 4), want: true},
		{rule: "-p icmp --icmp-type 3/1:4", name: "icmp", pkt: icmpPkt(3, 5)},
		{rule: "-p icmp --icmp-type any", name: "icmp", pkt: truncated(icmpPkt(8, 0), 4), hotdrop: true},
		{rule: "-p icmp --icmp-type any", name: "icmp", pkt: laterFragment(icmpPkt(8, 0), 1)},
		{rule: "-p icmp ! --icmp-type 8", name: "icmp", pkt: laterFragment(icmpPkt(0, 0), 3)},
	})
}
