package replay

import (
	"strings"
	"testing"
	"time"

	"github.com/ipsift/ipsift/conntrack"
)

const ctList = `ipv4     2 tcp      6 431999 ESTABLISHED src=192.0.2.10 dst=203.0.113.5 sport=40000 dport=80 src=203.0.113.5 dst=198.51.100.1 sport=80 dport=40000 [ASSURED] mark=0 use=1
ipv4     2 udp      17 29 src=127.0.0.1 dst=127.0.0.1 sport=35757 dport=5353 [UNREPLIED] src=127.0.0.1 dst=127.0.0.1 sport=5353 dport=35757 mark=3 use=1
ipv4     2 icmp     1 29 src=203.0.113.9 dst=198.51.100.1 type=8 code=0 id=4660 src=198.51.100.1 dst=203.0.113.9 type=0 code=0 id=4660 mark=0 use=1
ipv6     10 tcp      6 119 TIME_WAIT src=2001:db8:2::10 dst=2001:db8:113::9 sport=5000 dport=443 packets=9 bytes=900 src=2001:db8:113::9 dst=2001:db8:2::10 sport=443 dport=5000 packets=7 bytes=4000 [ASSURED] mark=0 zone=0 use=1
conntrack v1.4.7 (conntrack-tools): 4 flow entries have been shown.
`

func TestReadConntrackList(t *testing.T) {
	ps, err := ReadConntrackList(strings.NewReader(ctList), "ct.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 4 {
		t.Fatalf("%d entries", len(ps))
	}
	tcp, udp, icmp, six := ps[0], ps[1], ps[2], ps[3]
	if tcp.TCPState != conntrack.TCPEstablished || !tcp.Assured || !tcp.SeenReply || tcp.Timeout != 431999*time.Second ||
		tcp.Orig.SrcPort != 40000 || tcp.Reply.DstAddr().String() != "198.51.100.1" {
		t.Errorf("tcp %+v", tcp)
	}
	if udp.SeenReply || udp.Assured || udp.Mark != 3 || udp.Orig.DstPort != 5353 {
		t.Errorf("udp %+v", udp)
	}
	if icmp.Orig.SrcPort != 4660 || icmp.Orig.DstPort != 8<<8 || icmp.Reply.DstPort != 0 {
		t.Errorf("icmp %+v", icmp)
	}
	if !six.Orig.V6 || six.TCPState != conntrack.TCPTimeWait || six.Reply.SrcPort != 443 {
		t.Errorf("ipv6 %+v", six)
	}
	for _, tc := range []struct{ line, want string }{
		{"ipv5 2 tcp 6 1 ESTABLISHED", `x:1:1: "ipv5": want ipv4 or ipv6`},
		{"ipv4 2 tcp 6 1 ESTABLISHD src=192.0.2.1", `x:1:16: "ESTABLISHD": not a TCP state`},
		{"ipv4 2 udp 17 1 src=192.0.2.1 dst=192.0.2.2 sport=1 dport=2", "x:1:60: want two tuples"},
		{"ipv4 2 udp 17 1 src=192.0.2.1 dst=2001:db8::1 sport=1 dport=2 src=192.0.2.2 dst=192.0.2.1 sport=2 dport=1", "x:1:31: dst=2001:db8::1: not an address of the line's family"},
		{"ipv4 2 udp 17 1 src=192.0.2.1 dst=192.0.2.2 sport=x dport=2 src=192.0.2.2 dst=192.0.2.1 sport=2 dport=1", "x:1:45: sport=x: want a number"},
		{"ipv4 2 udp 17 1 src=192.0.2.1 dst=192.0.2.2 sport=1 dport=2 src=192.0.2.2 dst=192.0.2.1 sport=2 dport=1 zone=3", "x:1:105: zone=3: conntrack zones are not modelled"},
	} {
		_, err := ReadConntrackList(strings.NewReader(tc.line), "x")
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.line, err, tc.want)
		}
	}
}

// A connection open when the capture began: without --conntrack its
// first packet (an answer to the host's masqueraded address) is judged
// mid-stream and dropped, with it the packets of a connection begun
// before the capture; preloaded, it is forwarded as the kernel did.
func TestReplayPreload(t *testing.T) {
	rs := gateway(t)
	lines := []string{
		"eth0 tcp 203.0.113.5:80 > 198.51.100.1:40000 PA seq=5000 ack=1000 len=500",
		"wlan0 tcp 192.0.2.10:40000 > 203.0.113.5:80 A seq=1000 ack=5500",
		"eth0 tcp 203.0.113.5:80 > 198.51.100.1:40000 PA seq=5500 ack=1000 len=500",
	}
	pkts := build(t, lines)
	in := rawCapture(pkts, nil)

	rep, _ := runReplay(t, rs, in, Options{Flows: true})
	if rep.Verdicts["drop"] == nil || rep.PreCaptureFlows == 0 || rep.PreCapture["drop"] == nil {
		t.Fatalf("without --conntrack: verdicts %v, pre-capture %d %v", rep.Verdicts, rep.PreCaptureFlows, rep.PreCapture)
	}

	pre, err := ReadConntrackList(strings.NewReader(ctList), "ct.txt")
	if err != nil {
		t.Fatal(err)
	}
	rep, _ = runReplay(t, rs, in, Options{Flows: true, Preload: pre})
	if rep.Verdicts["forward"] == nil || rep.Verdicts["forward"].Packets != 3 || rep.PreCaptureFlows != 0 || rep.Preloaded != 4 {
		t.Fatalf("preloaded: verdicts %v, pre-capture %d, preloaded %d", rep.Verdicts, rep.PreCaptureFlows, rep.Preloaded)
	}
	if len(rep.Flows) != 1 || !rep.Flows[0].Preloaded || rep.Flows[0].Packets != [2]uint64{1, 2} || rep.Flows[0].State != "ESTABLISHED" {
		t.Errorf("flows %+v", rep.Flows)
	}
}
