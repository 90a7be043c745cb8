package ext

import (
	"testing"

	"github.com/ipsift/ipsift/packet"
)

// nftMatcher compiles a rule's match with ipsift's default semantics,
// those of iptables-nft.
func nftMatcher(t *testing.T, rule, name string) Matcher {
	t.Helper()
	m, err := ruleMatch(t, rule, name).Compile(NewCompiler(nil))
	if err != nil {
		t.Fatalf("%q: compile: %v", rule, err)
	}
	return m
}

// TestTCPUDPNftSemantics covers where iptables-nft's expressions differ
// from xt_tcpudp (the kernel comparison in m_proto_kernel_test.go runs
// the same on both backends).
func TestTCPUDPNftSemantics(t *testing.T) {
	later := laterFragment(tcpPkt(40000, 22, packet.TCPSyn), 100)
	cases := []struct {
		rule, name string
		pkt        *packet.Packet
		want       bool
	}{
		// A later fragment is read as if it had a header.
		{"-p tcp --dport 22", "tcp", later, true},
		{"-p tcp --tcp-flags SYN,ACK SYN", "tcp", later, true},
		{"-p tcp ! --dport 22", "tcp", later, false},
		// Cut short: the tests that cannot read fail, nothing is dropped.
		{"-p tcp --dport 22", "tcp", truncated(tcpPkt(40000, 22, packet.TCPSyn), 4), true},
		{"-p tcp --tcp-flags SYN SYN", "tcp", truncated(tcpPkt(40000, 22, packet.TCPSyn), 4), false},
		{"-p tcp -m tcp", "tcp", truncated(tcpPkt(40000, 22, packet.TCPSyn), 1), true},
		{"-p udp --sport 53", "udp", truncated(udpPkt(53, 1000), 1), false},
		{"-p udp --sport 53", "udp", truncated(udpPkt(53, 1000), 2), true},
		// The whole range is no test at all.
		{"-p tcp ! --sport 0:65535", "tcp", tcpPkt(40000, 22, packet.TCPSyn), true},
		// One port each way, both negated: one comparison of both.
		{"-p tcp ! --sport 40000 ! --dport 80", "tcp", tcpPkt(40000, 22, packet.TCPSyn), true},
		{"-p tcp ! --sport 40000 ! --dport 22", "tcp", tcpPkt(40000, 22, packet.TCPSyn), false},
		{"-p udp ! --sport 1 ! --dport 2", "udp", udpPkt(1, 3), true},
	}
	for _, c := range cases {
		m := nftMatcher(t, c.rule, c.name)
		ctx := &Ctx{Pkt: c.pkt}
		if got := m.Match(ctx); got != c.want {
			t.Errorf("%s on %s: %v, want %v", c.rule, c.pkt.Summary(), got, c.want)
		}
		if h, ok := m.(Hotdropper); ok && h.Hotdrop(ctx) {
			t.Errorf("%s: nf_tables drops nothing, but Hotdrop said to", c.rule)
		}
		if n := testing.AllocsPerRun(20, func() { m.Match(ctx) }); n != 0 {
			t.Errorf("%s: Match allocates %.0f times", c.rule, n)
		}
	}
}
