package conntrack

import (
	"strings"
	"testing"

	"github.com/ipsift/ipsift/packet"
)

func TestContextOf(t *testing.T) {
	d, err := packet.ParseShort("eth0 tcp 203.0.113.7:40000 > 198.51.100.1:2222 A ct=established,dnat=192.0.2.50:22,mark=7")
	if err != nil {
		t.Fatal(err)
	}
	p, err := ContextOf(d)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p.Orig.String()+" "+p.Reply.String(), "src=203.0.113.7 dst=198.51.100.1 sport=40000 dport=2222 src=192.0.2.50 dst=203.0.113.7 sport=22 dport=40000"; got != want {
		t.Errorf("tuples:\n got %s\nwant %s", got, want)
	}
	if p.TCPState != TCPEstablished || !p.Assured || !p.SeenReply || p.Mark != 7 {
		t.Errorf("got %+v", p)
	}
	d, _ = packet.ParseShort("eth0 udp 198.51.100.9:53 > 198.51.100.1:5000 ct=unreplied,reply")
	p, _ = ContextOf(d)
	if p.SeenReply || p.Assured || p.Orig.SrcPort != 5000 || p.TCPState != TCPNone {
		t.Errorf("unreplied reply: %+v", p)
	}
	d, _ = packet.ParseShort(`eth0 tcp 203.0.113.7:1 > 198.51.100.1:22 A ct="ipv4 2 tcp 6 300 ESTABLISHED src=203.0.113.8 dst=198.51.100.1 sport=1 dport=22 src=198.51.100.1 dst=203.0.113.8 sport=22 dport=1 mark=0 use=1"`)
	if _, err := ContextOf(d); err == nil || !strings.Contains(err.Error(), "neither tuple") {
		t.Errorf("a line of another connection: %v", err)
	}
	d, _ = packet.ParseShort(`eth0 tcp 203.0.113.7:1 > 198.51.100.1:22 A ct="ipv4 2 tcp 6 300 NOSUCH src=203.0.113.8"`)
	if _, err := ContextOf(d); err == nil || !strings.Contains(err.Error(), "column 18") {
		t.Errorf("a bad line: %v", err)
	}
}
