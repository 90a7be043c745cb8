package conntrack

import (
	"testing"

	"github.com/ipsift/ipsift/packet"
)

// A scenario is a sequence of forwarded packets between the client
// (outside, eth0) and the server (inside, wlan0), with the conntrack
// state each packet gets and the table left at the end, as the Linux
// kernel gives them. TestScenarios checks ipsift against these
// expectations; TestKernelScenarios (root only) checks that the kernel
// really behaves so, by sending the same packets through a namespace.
type scenario struct {
	name  string
	steps []step
	// table is the expected conntrack -L listing (sorted as sortStrings
	// does; times left are compared with a few seconds of slack).
	table []string
	// unitOnly keeps the scenario from the kernel test (where other
	// parts of the kernel, such as reassembly, see the packets first).
	unitOnly bool
}

// cs and sc build a TCP step from client to server and back, on the
// given client port, with window 8192 and no options.
func cs(port uint16, flags string, seq, ack uint32, n int, want string) step {
	return step{in: "eth0", pkt: tcpSegment(client, server, port, 22, flags, seq, ack, 8192, nil, n), want: want}
}

func sc(port uint16, flags string, seq, ack uint32, n int, want string) step {
	return step{in: "wlan0", pkt: tcpSegment(server, client, 22, port, flags, seq, ack, 8192, nil, n), want: want}
}

// handshake opens client port p: ISN 1000 (client), 5000 (server).
func handshake(p uint16) []step {
	return []step{
		cs(p, "S", 1000, 0, 0, "NEW"),
		sc(p, "SA", 5000, 1001, 0, "ESTABLISHED/REPLY"),
		cs(p, "A", 1001, 5001, 0, "ESTABLISHED"),
	}
}

func join(parts ...[]step) []step {
	var s []step
	for _, p := range parts {
		s = append(s, p...)
	}
	return s
}

func wait(s step, secs float64) step { s.wait = secs; return s }

const (
	tupleCS = "src=203.0.113.7 dst=192.0.2.50"
	tupleSC = "src=192.0.2.50 dst=203.0.113.7"
)

func tcpLine(timeout, state string, port string, flags string) string {
	l := "tcp      6 " + timeout + " " + state + " " + tupleCS + " sport=" + port + " dport=22"
	if flags == "U" {
		l += " [UNREPLIED]"
	}
	l += " " + tupleSC + " sport=22 dport=" + port
	if flags == "A" {
		l += " [ASSURED]"
	}
	return l + " mark=0 use=1"
}

var scenarios = []scenario{
	{
		name:  "handshake",
		steps: handshake(41000),
		table: []string{tcpLine("432000", "ESTABLISHED", "41000", "A")},
	},
	{
		name: "data and FIN close from the client",
		steps: join(handshake(41001), []step{
			cs(41001, "PA", 1001, 5001, 100, "ESTABLISHED"),
			sc(41001, "A", 5001, 1101, 0, "ESTABLISHED/REPLY"),
			cs(41001, "FA", 1101, 5001, 0, "ESTABLISHED"),
			sc(41001, "A", 5001, 1102, 0, "ESTABLISHED/REPLY"),
			sc(41001, "FA", 5001, 1102, 0, "ESTABLISHED/REPLY"),
			cs(41001, "A", 1102, 5002, 0, "ESTABLISHED"),
		}),
		table: []string{tcpLine("120", "TIME_WAIT", "41001", "A")},
	},
	{
		name: "FIN from the server, close_wait",
		steps: join(handshake(41002), []step{
			sc(41002, "FA", 5001, 1001, 0, "ESTABLISHED/REPLY"),
			cs(41002, "A", 1001, 5002, 0, "ESTABLISHED"),
		}),
		table: []string{tcpLine("60", "CLOSE_WAIT", "41002", "A")},
	},
	{
		name: "retransmitted SYN does not renew the timeout",
		steps: []step{
			cs(41003, "S", 1000, 0, 0, "NEW"),
			wait(cs(41003, "S", 1000, 0, 0, "NEW"), 3),
		},
		table: []string{tcpLine("117", "SYN_SENT", "41003", "U")},
	},
	{
		name: "SYN with a new ISN in SYN_SENT",
		steps: []step{
			cs(41004, "S", 1000, 0, 0, "NEW"),
			cs(41004, "S", 900000, 0, 0, "NEW"),
			sc(41004, "SA", 5000, 900001, 0, "ESTABLISHED/REPLY"),
			cs(41004, "A", 900001, 5001, 0, "ESTABLISHED"),
		},
		table: []string{tcpLine("432000", "ESTABLISHED", "41004", "A")},
	},
	{
		name: "SYN/ACK acknowledging an old SYN",
		steps: []step{
			cs(41005, "S", 1000, 0, 0, "NEW"),
			sc(41005, "SA", 5000, 77, 0, "ESTABLISHED/REPLY"),
		},
		table: []string{tcpLine("60", "SYN_RECV", "41005", "")},
	},
	{
		name: "simultaneous open",
		steps: []step{
			cs(41006, "S", 1000, 0, 0, "NEW"),
			sc(41006, "S", 5000, 0, 0, "ESTABLISHED/REPLY"),
			cs(41006, "SA", 1000, 5001, 0, "ESTABLISHED"),
			sc(41006, "SA", 5000, 1001, 0, "ESTABLISHED/REPLY"),
			cs(41006, "A", 1001, 5001, 0, "ESTABLISHED"),
			sc(41006, "A", 5001, 1001, 0, "ESTABLISHED/REPLY"),
		},
	},
	{
		name: "loose pickup of an ACK in mid-stream",
		steps: []step{
			cs(41007, "A", 123456, 654321, 0, "NEW"),
			sc(41007, "A", 654321, 123456, 0, "ESTABLISHED/REPLY"),
			cs(41007, "A", 123456, 654321, 0, "ESTABLISHED"),
		},
		table: []string{tcpLine("432000", "ESTABLISHED", "41007", "A")},
	},
	{
		name: "loose pickup, unreplied",
		steps: []step{
			cs(41008, "PA", 123456, 654321, 10, "NEW"),
		},
		table: []string{tcpLine("300", "ESTABLISHED", "41008", "U")},
	},
	{
		name: "flag combinations that make no connection",
		steps: []step{
			cs(41009, "SF", 1000, 0, 0, "INVALID"),
			cs(41009, "", 1000, 0, 0, "INVALID"),
			cs(41009, "F", 1000, 0, 0, "INVALID"),
			cs(41009, "R", 1000, 0, 0, "INVALID"),
			cs(41009, "RA", 1000, 1, 0, "INVALID"),
			cs(41009, "SA", 1000, 1, 0, "INVALID"),
			cs(41009, "FPU", 1000, 0, 0, "INVALID"),
			cs(41009, "SR", 1000, 0, 0, "INVALID"),
		},
	},
	{
		name: "RST answering the SYN deletes the connection",
		steps: []step{
			cs(41010, "S", 1000, 0, 0, "NEW"),
			sc(41010, "RA", 0, 1001, 0, "ESTABLISHED/REPLY"),
			cs(41010, "A", 1001, 1, 0, "NEW"),
		},
		table: []string{tcpLine("300", "ESTABLISHED", "41010", "U")},
	},
	{
		name: "RST in window closes",
		steps: join(handshake(41011), []step{
			sc(41011, "R", 5001, 0, 0, "ESTABLISHED/REPLY"),
		}),
		table: []string{tcpLine("10", "CLOSE", "41011", "A")},
	},
	{
		name: "RST below the window is INVALID",
		steps: join(handshake(41012), []step{
			sc(41012, "R", 4000, 0, 0, "INVALID"),
		}),
		table: []string{tcpLine("432000", "ESTABLISHED", "41012", "A")},
	},
	{
		name: "RST with an inexact sequence number keeps ESTABLISHED",
		steps: join(handshake(41013), []step{
			sc(41013, "R", 5100, 0, 0, "ESTABLISHED/REPLY"),
		}),
		table: []string{tcpLine("10", "ESTABLISHED", "41013", "A")},
	},
	{
		name: "data beyond the window is INVALID",
		steps: join(handshake(41014), []step{
			cs(41014, "PA", 1001+100000, 5001, 10, "INVALID"),
		}),
		table: []string{tcpLine("432000", "ESTABLISHED", "41014", "A")},
	},
	{
		name: "data far behind the window passes without update, not ahead of it",
		steps: join(handshake(41015), []step{
			cs(41015, "PA", 1001-200000+1<<32, 5001, 10, "ESTABLISHED"),
			cs(41015, "PA", 1001+0x7ffff000, 5001, 10, "INVALID"),
			cs(41015, "PA", 1001+0x80010000, 5001, 10, "ESTABLISHED"),
		}),
		table: []string{tcpLine("432000", "ESTABLISHED", "41015", "A")},
	},
	{
		name: "ACK of unseen data is INVALID",
		steps: join(handshake(41016), []step{
			cs(41016, "A", 1001, 9000, 0, "INVALID"),
		}),
		table: []string{tcpLine("432000", "ESTABLISHED", "41016", "A")},
	},
	{
		name: "unacknowledged data shortens the timeout",
		steps: join(handshake(41017), []step{
			cs(41017, "PA", 1001, 5001, 100, "ESTABLISHED"),
		}),
		table: []string{tcpLine("300", "ESTABLISHED", "41017", "A")},
	},
	{
		name: "retransmissions shorten the timeout",
		steps: join(handshake(41018), []step{
			cs(41018, "A", 1001, 5001, 0, "ESTABLISHED"),
			cs(41018, "A", 1001, 5001, 0, "ESTABLISHED"),
			cs(41018, "A", 1001, 5001, 0, "ESTABLISHED"),
		}),
		table: []string{tcpLine("300", "ESTABLISHED", "41018", "A")},
	},
	{
		name: "SYN in TIME_WAIT opens a new connection",
		steps: join(handshake(41019), []step{
			cs(41019, "FA", 1001, 5001, 0, "ESTABLISHED"),
			sc(41019, "FA", 5001, 1002, 0, "ESTABLISHED/REPLY"),
			cs(41019, "A", 1002, 5002, 0, "ESTABLISHED"),
			cs(41019, "S", 20000, 0, 0, "NEW"),
		}),
		table: []string{tcpLine("120", "SYN_SENT", "41019", "U")},
	},
	{
		name: "SYN after the server's RST",
		steps: join(handshake(41020), []step{
			sc(41020, "R", 5001, 0, 0, "ESTABLISHED/REPLY"),
			cs(41020, "S", 20000, 0, 0, "ESTABLISHED"),
			sc(41020, "SA", 7000, 20001, 0, "ESTABLISHED/REPLY"),
			cs(41020, "A", 20001, 7001, 0, "ESTABLISHED"),
		}),
		table: []string{tcpLine("432000", "ESTABLISHED", "41020", "A")},
	},
	{
		name: "SYN after the client's RST",
		steps: join(handshake(41021), []step{
			cs(41021, "R", 1001, 0, 0, "ESTABLISHED"),
			cs(41021, "S", 20000, 0, 0, "NEW"),
		}),
		table: []string{tcpLine("120", "SYN_SENT", "41021", "U")},
	},
	{
		name: "SYN in ESTABLISHED is ignored",
		steps: join(handshake(41022), []step{
			cs(41022, "S", 30000, 0, 0, "ESTABLISHED"),
			sc(41022, "A", 5001, 1001, 0, "ESTABLISHED/REPLY"),
		}),
		table: []string{tcpLine("432000", "ESTABLISHED", "41022", "A")},
	},
	{
		name: "bad TCP checksum is INVALID",
		steps: []step{
			{in: "eth0", pkt: badChecksum(tcpSegment(client, server, 41023, 22, "S", 1000, 0, 8192, nil, 0)), want: "INVALID"},
		},
	},
	{
		name: "truncated TCP header is INVALID",
		steps: []step{
			{in: "eth0", pkt: truncate(tcpSegment(client, server, 41024, 22, "S", 1000, 0, 8192, wscaleOpt(7), 0)), want: "INVALID"},
		},
	},
	{
		name: "window scaling: data in the scaled window",
		steps: []step{
			{in: "eth0", pkt: tcpSegment(client, server, 41025, 22, "S", 1000, 0, 8192, wscaleOpt(7), 0), want: "NEW"},
			{in: "wlan0", pkt: tcpSegment(server, client, 22, 41025, "SA", 5000, 1001, 8192, wscaleOpt(7), 0), want: "ESTABLISHED/REPLY"},
			{in: "eth0", pkt: tcpSegment(client, server, 41025, 22, "A", 1001, 5001, 8192, nil, 0), want: "ESTABLISHED"},
			{in: "wlan0", pkt: tcpSegment(server, client, 22, 41025, "A", 5001, 1001, 1000, nil, 0), want: "ESTABLISHED/REPLY"},
			{in: "eth0", pkt: tcpSegment(client, server, 41025, 22, "PA", 1001+100000, 5001, 8192, nil, 10), want: "ESTABLISHED"},
		},
	},
	{
		name: "window scaling needs both sides",
		steps: []step{
			{in: "eth0", pkt: tcpSegment(client, server, 41026, 22, "S", 1000, 0, 8192, wscaleOpt(7), 0), want: "NEW"},
			{in: "wlan0", pkt: tcpSegment(server, client, 22, 41026, "SA", 5000, 1001, 8192, nil, 0), want: "ESTABLISHED/REPLY"},
			{in: "eth0", pkt: tcpSegment(client, server, 41026, 22, "A", 1001, 5001, 8192, nil, 0), want: "ESTABLISHED"},
			{in: "wlan0", pkt: tcpSegment(server, client, 22, 41026, "A", 5001, 1001, 1000, nil, 0), want: "ESTABLISHED/REPLY"},
			{in: "eth0", pkt: tcpSegment(client, server, 41026, 22, "PA", 1001+100000, 5001, 8192, nil, 10), want: "INVALID"},
		},
	},
	{
		name: "FIN in SYN_SENT is INVALID",
		steps: []step{
			cs(41027, "S", 1000, 0, 0, "NEW"),
			cs(41027, "FA", 1001, 0, 0, "INVALID"),
			sc(41027, "A", 5000, 1001, 0, "ESTABLISHED/REPLY"),
		},
		table: []string{tcpLine("120", "SYN_SENT", "41027", "")},
	},
	{
		name: "udp: unreplied, then replied within 2 s",
		steps: []step{
			{in: "eth0", pkt: udpDatagram(client, server, 42000, 53, 10), want: "NEW"},
			{in: "wlan0", pkt: udpDatagram(server, client, 53, 42000, 10), want: "ESTABLISHED/REPLY"},
			{in: "eth0", pkt: udpDatagram(client, server, 42000, 53, 10), want: "ESTABLISHED"},
		},
		table: []string{"udp      17 30 src=203.0.113.7 dst=192.0.2.50 sport=42000 dport=53 src=192.0.2.50 dst=203.0.113.7 sport=53 dport=42000 mark=0 use=1"},
	},
	{
		name: "udp: a stream after 2 s",
		steps: []step{
			{in: "eth0", pkt: udpDatagram(client, server, 42001, 53, 10), want: "NEW"},
			{in: "wlan0", pkt: udpDatagram(server, client, 53, 42001, 10), want: "ESTABLISHED/REPLY"},
			{in: "eth0", pkt: udpDatagram(client, server, 42001, 53, 10), want: "ESTABLISHED", wait: 2.2},
		},
		table: []string{"udp      17 120 src=203.0.113.7 dst=192.0.2.50 sport=42001 dport=53 src=192.0.2.50 dst=203.0.113.7 sport=53 dport=42001 [ASSURED] mark=0 use=1"},
	},
	{
		name: "udp: malformed length is INVALID",
		steps: []step{
			{in: "eth0", pkt: udpBadLen(udpDatagram(client, server, 42002, 53, 10)), want: "INVALID"},
		},
	},
	{
		name: "icmp echo and reply",
		steps: []step{
			{in: "eth0", pkt: icmpMsg(client, server, 8, 0, 77, 1, nil), want: "NEW"},
			{in: "wlan0", pkt: icmpMsg(server, client, 0, 0, 77, 1, nil), want: "ESTABLISHED/REPLY"},
			{in: "eth0", pkt: icmpMsg(client, server, 8, 0, 77, 2, nil), want: "ESTABLISHED"},
			{in: "wlan0", pkt: icmpMsg(server, client, 0, 0, 78, 1, nil), want: "INVALID"},
			{in: "eth0", pkt: icmpMsg(client, server, 9, 0, 0, 0, nil), want: "INVALID"},
			{in: "eth0", pkt: icmpMsg(client, server, 19, 0, 0, 0, nil), want: "INVALID"},
			{in: "eth0", pkt: icmpMsg(client, server, 13, 0, 5, 0, make([]byte, 12)), want: "NEW"},
		},
		table: []string{
			"icmp     1 30 src=203.0.113.7 dst=192.0.2.50 type=13 code=0 id=5 [UNREPLIED] src=192.0.2.50 dst=203.0.113.7 type=14 code=0 id=5 mark=0 use=1",
			"icmp     1 30 src=203.0.113.7 dst=192.0.2.50 type=8 code=0 id=77 src=192.0.2.50 dst=203.0.113.7 type=0 code=0 id=77 mark=0 use=1",
		},
	},
	{
		name: "icmp errors are RELATED to the connection they quote",
		steps: []step{
			{in: "eth0", pkt: udpDatagram(client, server, 42003, 53, 0), want: "NEW"},
			{in: "wlan0", pkt: icmpError(server, client, 3, 3, udpDatagram(client, server, 42003, 53, 0), false), want: "RELATED/REPLY"},
			{in: "eth0", pkt: icmpError(client, server, 3, 3, udpDatagram(server, client, 53, 42003, 0), false), want: "RELATED"},
			{in: "wlan0", pkt: icmpError(server, client, 3, 3, udpDatagram(client, server, 42004, 53, 0), false), want: "INVALID"},
			{in: "wlan0", pkt: icmpError(server2, client, 11, 0, udpDatagram(client, server, 42003, 53, 0), false), want: "RELATED/REPLY"},
			{in: "eth0", pkt: icmpError(client, server2, 3, 3, udpDatagram(client, server, 42003, 53, 0), false), want: "INVALID"},
			{in: "wlan0", pkt: icmpError(server, client, 3, 3, tcpSegment(client, server, 42003, 53, "S", 1, 0, 8192, nil, 0), false), want: "INVALID"},
			{in: "wlan0", pkt: icmpError(server, client, 3, 3, udpDatagram(client, server, 42003, 53, 0)[:24], true), want: "RELATED/REPLY"},
			{in: "wlan0", pkt: icmpError(server, client, 3, 3, udpDatagram(client, server, 42003, 53, 0)[:23], true), want: "INVALID"},
			{in: "wlan0", pkt: badChecksum2(icmpError(server, client, 3, 3, udpDatagram(client, server, 42003, 53, 0), false)), want: "INVALID"},
		},
		table: []string{"udp      17 30 src=203.0.113.7 dst=192.0.2.50 sport=42003 dport=53 [UNREPLIED] src=192.0.2.50 dst=203.0.113.7 sport=53 dport=42003 mark=0 use=1"},
	},
	{
		name: "icmp error about an echo",
		steps: []step{
			{in: "eth0", pkt: icmpMsg(client, server, 8, 0, 99, 1, nil), want: "NEW"},
			{in: "wlan0", pkt: icmpError(server, client, 11, 0, icmpMsg(client, server, 8, 0, 99, 1, nil), false), want: "RELATED/REPLY"},
			{in: "wlan0", pkt: icmpError(server, client, 11, 0, icmpError(client, server, 3, 3, icmpMsg(client, server, 8, 0, 99, 1, nil), false), false), want: "INVALID"},
		},
	},
	{
		name: "gre and other protocols",
		steps: []step{
			{in: "eth0", pkt: rawIP(client, server, 47, 4), want: "NEW"},
			{in: "wlan0", pkt: rawIP(server, client, 47, 4), want: "ESTABLISHED/REPLY"},
			{in: "eth0", pkt: rawIP(client, server, 200, 4), want: "NEW"},
			{in: "wlan0", pkt: rawIP(server, client, 200, 4), want: "ESTABLISHED/REPLY"},
		},
		table: []string{
			"gre      47 30 src=203.0.113.7 dst=192.0.2.50 srckey=0x0 dstkey=0x0 src=192.0.2.50 dst=203.0.113.7 srckey=0x0 dstkey=0x0 mark=0 use=1",
			"unknown  200 600 src=203.0.113.7 dst=192.0.2.50 src=192.0.2.50 dst=203.0.113.7 mark=0 use=1",
		},
	},
	{
		// The ICMPv6 tracker refuses another family (and the ICMPv6
		// types without an answer make no connection at all).
		name: "icmpv6 in ipv4 is INVALID",
		steps: []step{
			{in: "eth0", pkt: ipPacket(client, server, 58, icmp6(client6, server6, 128, 0, 1)[40:]), want: "INVALID"},
			{in: "eth0", pkt: ipPacket(client, server, 58, icmp6(client6, server6, 1, 0, 1)[40:]), want: "INVALID"},
			{in: "eth0", pkt: rawIP(client, server, 58, 4), want: "INVALID"},
		},
		table: []string{},
	},
	{
		name: "gre stream",
		steps: []step{
			{in: "eth0", pkt: rawIP(client, server, 47, 4), want: "NEW"},
			{in: "wlan0", pkt: rawIP(server, client, 47, 4), want: "ESTABLISHED/REPLY"},
			{in: "eth0", pkt: rawIP(client, server, 47, 4), want: "ESTABLISHED"},
		},
		table: []string{
			"gre      47 180 src=203.0.113.7 dst=192.0.2.50 srckey=0x0 dstkey=0x0 src=192.0.2.50 dst=203.0.113.7 srckey=0x0 dstkey=0x0 [ASSURED] mark=0 use=1",
		},
	},
	{
		name: "RST with sequence 0 answering a SYN",
		steps: []step{
			cs(41028, "S", 1000, 0, 0, "NEW"),
			sc(41028, "R", 0, 0, 0, "ESTABLISHED/REPLY"),
		},
		table: []string{},
	},
	{
		name: "RST out of window before the handshake",
		steps: []step{
			cs(41029, "S", 1000, 0, 0, "NEW"),
			sc(41029, "RA", 5000, 99999, 0, "INVALID"),
		},
		table: []string{tcpLine("120", "SYN_SENT", "41029", "U")},
	},
	{
		name: "FIN, FIN, last ACK, retransmitted FIN",
		steps: join(handshake(41030), []step{
			cs(41030, "FA", 1001, 5001, 0, "ESTABLISHED"),
			sc(41030, "FA", 5001, 1002, 0, "ESTABLISHED/REPLY"),
			sc(41030, "FA", 5001, 1002, 0, "ESTABLISHED/REPLY"),
		}),
		table: []string{tcpLine("30", "LAST_ACK", "41030", "A")},
	},
	{
		name: "data after FIN",
		steps: join(handshake(41031), []step{
			cs(41031, "FA", 1001, 5001, 0, "ESTABLISHED"),
			sc(41031, "PA", 5001, 1002, 50, "ESTABLISHED/REPLY"),
			cs(41031, "A", 1002, 5051, 0, "ESTABLISHED"),
		}),
		table: []string{tcpLine("60", "CLOSE_WAIT", "41031", "A")},
	},
	{
		name: "RST in TIME_WAIT",
		steps: join(handshake(41032), []step{
			cs(41032, "FA", 1001, 5001, 0, "ESTABLISHED"),
			sc(41032, "FA", 5001, 1002, 0, "ESTABLISHED/REPLY"),
			cs(41032, "A", 1002, 5002, 0, "ESTABLISHED"),
			sc(41032, "R", 9999, 0, 0, "ESTABLISHED/REPLY"),
		}),
		table: []string{tcpLine("10", "CLOSE", "41032", "A")},
	},
	{
		name: "SYN in LAST_ACK and the challenge ACK",
		steps: join(handshake(41033), []step{
			cs(41033, "FA", 1001, 5001, 0, "ESTABLISHED"),
			sc(41033, "FA", 5001, 1002, 0, "ESTABLISHED/REPLY"),
			cs(41033, "S", 30000, 0, 0, "ESTABLISHED"),
			sc(41033, "A", 5002, 1002, 0, "ESTABLISHED/REPLY"),
		}),
		table: []string{tcpLine("30", "LAST_ACK", "41033", "A")},
	},
	{
		name: "SYN/ACK retransmitted by the server",
		steps: join(handshake(41034), []step{
			sc(41034, "SA", 5000, 1001, 0, "ESTABLISHED/REPLY"),
		}),
		table: []string{tcpLine("432000", "ESTABLISHED", "41034", "A")},
	},
	{
		name: "reply SYN in TIME_WAIT reopens",
		steps: join(handshake(41035), []step{
			cs(41035, "FA", 1001, 5001, 0, "ESTABLISHED"),
			sc(41035, "FA", 5001, 1002, 0, "ESTABLISHED/REPLY"),
			cs(41035, "A", 1002, 5002, 0, "ESTABLISHED"),
			sc(41035, "S", 90000, 0, 0, "NEW"),
		}),
		table: []string{
			"tcp      6 120 SYN_SENT src=192.0.2.50 dst=203.0.113.7 sport=22 dport=41035 [UNREPLIED] src=203.0.113.7 dst=192.0.2.50 sport=41035 dport=22 mark=0 use=1",
		},
	},
	{
		name: "zero window",
		steps: join(handshake(41036), []step{
			{in: "wlan0", pkt: tcpSegment(server, client, 22, 41036, "A", 5001, 1001, 0, nil, 0), want: "ESTABLISHED/REPLY"},
		}),
		table: []string{tcpLine("300", "ESTABLISHED", "41036", "A")},
	},
	{
		name: "SACK permitted and a SACK block beyond the data",
		steps: []step{
			{in: "eth0", pkt: tcpSegment(client, server, 41037, 22, "S", 1000, 0, 8192, sackPermOpt, 0), want: "NEW"},
			{in: "wlan0", pkt: tcpSegment(server, client, 22, 41037, "SA", 5000, 1001, 8192, sackPermOpt, 0), want: "ESTABLISHED/REPLY"},
			{in: "eth0", pkt: tcpSegment(client, server, 41037, 22, "A", 1001, 5001, 8192, []byte{1, 1, 5, 10, 0, 0, 0x13, 0x89, 0, 0, 0x27, 0x10}, 0), want: "INVALID"},
			{in: "eth0", pkt: tcpSegment(client, server, 41037, 22, "A", 1001, 5001, 8192, []byte{1, 1, 5, 10, 0, 0, 0x13, 0x88, 0, 0, 0x13, 0x89}, 0), want: "ESTABLISHED"},
		},
	},
	{
		name: "a closed connection expires after 10 s; then an ACK is picked up",
		steps: join(handshake(41040), []step{
			sc(41040, "R", 5001, 0, 0, "ESTABLISHED/REPLY"),
			wait(cs(41040, "A", 1001, 5001, 0, "NEW"), 10.3),
		}),
		table: []string{tcpLine("300", "ESTABLISHED", "41040", "U")},
	},
	{
		name: "udp-lite",
		steps: []step{
			{in: "eth0", pkt: udpliteDatagram(client, server, 42010, 53, 20, 8, false), want: "INVALID"},
			{in: "eth0", pkt: udpliteDatagram(client, server, 42010, 53, 20, 8, true), want: "NEW"},
			{in: "wlan0", pkt: udpliteDatagram(server, client, 53, 42010, 20, 0, true), want: "ESTABLISHED/REPLY"},
			{in: "eth0", pkt: udpliteDatagram(client, server, 42010, 53, 20, 12, true), want: "ESTABLISHED"},
			{in: "eth0", pkt: badLite(udpliteDatagram(client, server, 42010, 53, 20, 8, true)), want: "INVALID"},
			{in: "eth0", pkt: udpliteDatagram(client, server, 42010, 53, 20, 4, true), want: "INVALID"},
			{in: "eth0", pkt: udpliteDatagram(client, server, 42010, 53, 300, 0, false), want: "INVALID"},
			{in: "eth0", pkt: udpliteDatagram(client, server, 42010, 53, 300, 0, true), want: "ESTABLISHED"},
		},
		table: []string{"udplite  136 120 src=203.0.113.7 dst=192.0.2.50 sport=42010 dport=53 src=192.0.2.50 dst=203.0.113.7 sport=53 dport=42010 [ASSURED] mark=0 use=1"},
	},
}

func badLite(b []byte) []byte {
	b[20+6] ^= 0x21
	return b
}

func badChecksum(b []byte) []byte {
	b[20+16] ^= 0x55
	return b
}

// truncate cuts a TCP segment with options to 20 bytes of TCP, so that
// its data offset points past its end.
func truncate(b []byte) []byte {
	b = b[:20+20]
	b[2], b[3] = 0, byte(len(b))
	b[10], b[11] = 0, 0
	cs := packet.Checksum(b[:20])
	b[10], b[11] = byte(cs>>8), byte(cs)
	return b
}

// badChecksum2 breaks the ICMP checksum.
func badChecksum2(b []byte) []byte {
	b[20+2] ^= 0x55
	return b
}

func udpBadLen(b []byte) []byte {
	b[20+4], b[20+5] = 0, 200
	return b
}

func TestScenarios(t *testing.T) {
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			states, table, _ := simulate(t, DefaultConfig(), sc.steps)
			for i, s := range sc.steps {
				if s.want != "" && states[i] != s.want {
					t.Errorf("packet %d: state %s, want %s", i, states[i], s.want)
				}
			}
			if sc.table != nil {
				want := append([]string(nil), sc.table...)
				sortStrings(want)
				if !sameListing(table, want, 0) {
					t.Errorf("table:\n%s\nwant:\n%s", join2(table), join2(want))
				}
			}
		})
	}
}

func join2(l []string) string {
	s := ""
	for _, x := range l {
		s += "  " + x + "\n"
	}
	return s
}
