package engine_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/ipsift/ipsift/engine"
	"github.com/ipsift/ipsift/packet"
	"github.com/ipsift/ipsift/rules"
)

func mustRules(t testing.TB, text string) *rules.Ruleset {
	t.Helper()
	rs := rules.New()
	if _, err := rs.Restore(strings.NewReader(text), rules.RestoreOptions{File: "test"}); err != nil {
		t.Fatal(err)
	}
	return rs
}

func build(t testing.TB, short string) (packet.Desc, []byte) {
	t.Helper()
	d, err := packet.ParseShort(short)
	if err != nil {
		t.Fatalf("%q: %v", short, err)
	}
	b, err := d.Build(0)
	if err != nil {
		t.Fatal(err)
	}
	return d, b
}

func hitsString(hs []engine.Hit) string {
	var s []string
	for _, h := range hs {
		if h.Rule == 0 {
			s = append(s, h.Table+"/"+h.Chain+"/policy")
		} else {
			s = append(s, fmt.Sprintf("%s/%s/%d", h.Table, h.Chain, h.Rule))
		}
	}
	return strings.Join(s, " ")
}

func TestTraversal(t *testing.T) {
	rs := mustRules(t, `*filter
:INPUT DROP [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:admin - [0:0]
:gone - [0:0]
-A INPUT -i lo -j ACCEPT
-A INPUT -s 203.0.113.0/24 -j admin
-A INPUT -s 198.51.100.66 -j DROP
-A INPUT -s 198.51.100.0/24 -g gone
-A INPUT -p udp
-A admin -p tcp -j ACCEPT
-A admin -j RETURN
-A admin -j DROP
-A gone -s 198.51.100.9 -j RETURN
-A gone -j ACCEPT
-A FORWARD -o eth0 ! -s 192.0.2.0/24 -j DROP
COMMIT
`)
	cases := []struct {
		pkt, verdict, hits string
	}{
		// The admin chain accepts tcp...
		{"eth0 tcp 203.0.113.7:1000 > 198.51.100.1:22 S", "accept-local", "filter/INPUT/2 filter/admin/1"},
		// ...and RETURNs anything else to INPUT, where the udp rule only
		// counts and the policy drops.
		{"eth0 udp 203.0.113.7:1000 > 198.51.100.1:53", "drop", "filter/INPUT/2 filter/admin/2 filter/INPUT/5 filter/INPUT/policy"},
		{"eth0 tcp 198.51.100.66:1000 > 198.51.100.1:22 S", "drop", "filter/INPUT/3"},
		// -g: RETURN in the chain gone to returns to INPUT's policy.
		{"eth0 tcp 198.51.100.9:1000 > 198.51.100.1:22 S", "drop", "filter/INPUT/4 filter/gone/1 filter/INPUT/policy"},
		{"eth0 tcp 198.51.100.8:1000 > 198.51.100.1:22 S", "accept-local", "filter/INPUT/4 filter/gone/2"},
		{"wlan0 tcp 192.0.2.10:1000 > 203.0.113.7:80 S", "forward", "filter/FORWARD/policy"},
		{"wlan0 tcp 192.0.2.0:1000 > 203.0.113.7:80 S", "forward", "filter/FORWARD/policy"},
		{"eth0 tcp 203.0.113.9:1000 > 198.51.100.77:80 S", "drop", "filter/FORWARD/1"},
		{"local tcp 198.51.100.1:22 > 203.0.113.7:1000 SA", "sent", "filter/OUTPUT/policy"},
	}
	e, err := engine.New(rs, nil, engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	s := engine.NewState()
	for _, c := range cases {
		d, b := build(t, c.pkt)
		e.Process(s, &engine.Input{Data: b, In: d.In, Local: d.Local})
		if got := s.Result.Verdict.String(); got != c.verdict {
			t.Errorf("%s: verdict %s, want %s", c.pkt, got, c.verdict)
		}
		if got := hitsString(s.Result.Hits); got != c.hits {
			t.Errorf("%s: hits %s, want %s", c.pkt, got, c.hits)
		}
	}
	// Counters: bytes are the IP packets' lengths.
	for _, ctr := range e.Program().Counters() {
		if ctr.Table == "filter" && ctr.Chain == "INPUT" && ctr.Rule == 2 {
			if ctr.Packets != 2 || ctr.Bytes != 40+28 {
				t.Errorf("INPUT rule 2 counters %d/%d, want 2/68", ctr.Packets, ctr.Bytes)
			}
		}
	}
}

func TestNoRouteDrops(t *testing.T) {
	rs := mustRules(t, "*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n")
	e, err := engine.New(rs, nil, engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	s := engine.NewState()
	e.Process(s, &engine.Input{Data: []byte{0x45, 0}, In: "eth0"})
	if s.Result.Verdict != engine.Drop || len(s.Result.Hits) != 0 {
		t.Errorf("a broken packet: %v %v", s.Result.Verdict, s.Result.Hits)
	}
}

func TestProcessAllocatesNothing(t *testing.T) {
	rs := mustRules(t, `*filter
:INPUT DROP [0:0]
:LOG1 - [0:0]
-A FORWARD -s 192.0.2.0/24 -i wlan0 -j LOG1
-A FORWARD -p tcp -j ACCEPT
-A LOG1 -j RETURN
COMMIT
`)
	e, err := engine.New(rs, nil, engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	s := engine.NewState()
	// A forwarded packet: the hot path. (Packets delivered to the host
	// may draw an answer from its stack, which is built afresh.)
	d, b := build(t, "wlan0 tcp 192.0.2.10:1000 > 203.0.113.7:22 S")
	in := &engine.Input{Data: b, In: d.In}
	e.Process(s, in)
	if n := testing.AllocsPerRun(200, func() { b[8] = 64; e.Process(s, in) }); n != 0 {
		t.Errorf("Process allocates %.1f times per packet, want 0", n)
	}
}

// TestEstablishedFlowAllocatesNothing sends packets of an established,
// masqueraded connection through gateway.rules (conntrack, NAT binding,
// three tables): the hot path of a gateway must not allocate.
func TestEstablishedFlowAllocatesNothing(t *testing.T) {
	e := gatewayEngine(t)
	s := engine.NewState()
	_, out := build(t, "wlan0 tcp 192.0.2.10:40000 > 198.51.100.9:443 S")
	e.Process(s, &engine.Input{Data: out, In: "wlan0"})
	_, back := build(t, "eth0 tcp 198.51.100.9:443 > 198.51.100.1:40000 SA seq=5000 ack=1001")
	e.Process(s, &engine.Input{Data: back, In: "eth0"})
	if s.Result.Verdict != engine.Forward {
		t.Fatalf("the reply was not forwarded: %v %v", s.Result.Verdict, s.Result.Hits)
	}
	_, ack := build(t, "wlan0 tcp 192.0.2.10:40000 > 198.51.100.9:443 A seq=1001 ack=5001")
	buf := make([]byte, len(ack))
	in := &engine.Input{Data: buf, In: "wlan0"}
	n := testing.AllocsPerRun(200, func() {
		copy(buf, ack)
		e.Process(s, in)
	})
	if s.Result.Verdict != engine.Forward {
		t.Fatalf("established packet: %v %v", s.Result.Verdict, s.Result.Hits)
	}
	if n != 0 {
		t.Errorf("an established-flow packet allocates %.1f times, want 0", n)
	}
}

// gatewayEngine is an engine with examples/gateway.rules and the
// default host.
func gatewayEngine(t *testing.T) *engine.Engine {
	t.Helper()
	text, err := os.ReadFile("../examples/gateway.rules")
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.New(mustRules(t, string(text)), nil, engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestOutSharesNoCallerBuffer: a forwarded packet leaves in Result.Out
// as the caller's own bytes (no copy), and a later packet whose Out
// holds copies (a REJECT's answer) never writes into that caller's
// buffer.
func TestOutSharesNoCallerBuffer(t *testing.T) {
	rs := mustRules(t, "*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -p tcp --dport 23 -j REJECT --reject-with tcp-reset\nCOMMIT\n")
	e, err := engine.New(rs, nil, engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	s := engine.NewState()
	_, fwd := build(t, "wlan0 udp 192.0.2.10:5000 > 203.0.113.9:53 len=40")
	e.Process(s, &engine.Input{Data: fwd, In: "wlan0"})
	if s.Result.Verdict != engine.Forward || len(s.Result.Out) != 1 {
		t.Fatalf("forwarded: %v, %d out", s.Result.Verdict, len(s.Result.Out))
	}
	if &s.Result.Out[0].Data[0] != &fwd[0] {
		t.Error("the forwarded packet was copied into Out")
	}
	kept := append([]byte(nil), fwd...)
	_, rej := build(t, "wlan0 tcp 192.0.2.10:5000 > 203.0.113.9:23 S")
	e.Process(s, &engine.Input{Data: rej, In: "wlan0"})
	if s.Result.Verdict != engine.Reject || len(s.Result.Out) == 0 {
		t.Fatalf("rejected: %v, %d out", s.Result.Verdict, len(s.Result.Out))
	}
	if string(fwd) != string(kept) {
		t.Error("the answer to a later packet was written into an earlier packet's buffer")
	}
	if &s.Result.Out[0].Data[0] == &rej[0] {
		t.Error("an answer shares the caller's buffer")
	}
}
