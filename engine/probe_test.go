package engine_test

import (
	"testing"

	"github.com/ipsift/ipsift/engine"
	"github.com/ipsift/ipsift/rules"
)

// TestProbe: after a connection's SYN went through gateway.rules (the
// port-80 DNAT), a probe of its later segments records their way
// (FORWARD's ESTABLISHED rule) and changes nothing: no counter, no
// conntrack state, no limit bucket. A probe stops before a match its
// allow function refuses, and before a rule whose target acts.
func TestProbe(t *testing.T) {
	e := gatewayEngine(t)
	s := engine.NewState()
	_, syn := build(t, "eth0 tcp 203.0.113.7:40000 > 198.51.100.1:80 S")
	e.Process(s, &engine.Input{Data: syn, In: "eth0"})
	ent, reply := s.Conn()
	if s.Result.Verdict != engine.Forward || ent == nil || reply {
		t.Fatalf("the SYN: %v %v", s.Result.Verdict, s.Result.Hits)
	}
	before := e.Program().Counters()
	state, _, _, _ := ent.TCPInfo()
	p0, _ := ent.Counters(0)
	all := func(*rules.Rule, int) bool { return true }
	ps := engine.NewState()
	var path engine.Path
	_, ack := build(t, "eth0 tcp 203.0.113.7:40000 > 198.51.100.1:80 A")
	if !e.Probe(ps, &engine.Input{Data: ack, In: "eth0"}, ent, false, all, &path) {
		t.Fatal("the probe of the original direction failed")
	}
	if ps.Result.Verdict != engine.Forward || len(path.Steps) != 1 || path.Steps[0].Chain != "FORWARD" || path.Steps[0].Number != 1 || !path.Steps[0].Matched {
		t.Errorf("probe: %v, path %+v", ps.Result.Verdict, path.Steps)
	}
	_, back := build(t, "wlan0 tcp 192.0.2.10:80 > 203.0.113.7:40000 A")
	if !e.Probe(ps, &engine.Input{Data: back, In: "wlan0"}, ent, true, all, &path) || ps.Result.Verdict != engine.Forward {
		t.Fatalf("the probe of the reply direction: %v %+v", ps.Result.Verdict, path.Steps)
	}
	// The reply leaves un-DNATed, as the kernel's binding would send it.
	if len(ps.Result.Out) != 1 || string(ps.Result.Out[0].Data[12:16]) != string([]byte{198, 51, 100, 1}) {
		t.Errorf("the reply probe's packet: %+v", ps.Result.Out)
	}
	after := e.Program().Counters()
	for i := range before {
		if before[i] != after[i] {
			t.Errorf("a probe raised %+v to %+v", before[i], after[i])
		}
	}
	if st, _, _, _ := ent.TCPInfo(); st != state {
		t.Errorf("a probe changed the connection's state %v to %v", state, st)
	}
	if p, _ := ent.Counters(0); p != p0 {
		t.Errorf("a probe was counted in the connection's accounting")
	}
	// Refused: the first match of FORWARD rule 1 (-m conntrack).
	none := func(*rules.Rule, int) bool { return false }
	if e.Probe(ps, &engine.Input{Data: ack, In: "eth0"}, ent, false, none, &path) {
		t.Error("a probe ran a match it was refused")
	}
	// A target that acts ends the probe: a LOG ahead of the ESTABLISHED
	// rule.
	e2, err := engine.New(mustRules(t, "*filter\n:FORWARD DROP [0:0]\n-A FORWARD -j LOG\n-A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\n-A FORWARD -m conntrack --ctstate NEW -j ACCEPT\nCOMMIT\n"), nil, engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	_, syn = build(t, "eth0 tcp 203.0.113.7:40000 > 198.51.100.9:80 S")
	e2.Process(s, &engine.Input{Data: syn, In: "eth0"})
	ent, _ = s.Conn()
	if e2.Probe(ps, &engine.Input{Data: ack, In: "eth0"}, ent, false, all, &path) {
		t.Error("a probe ran LOG")
	}
}
