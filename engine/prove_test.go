package engine_test

import (
	"strings"
	"testing"

	"github.com/ipsift/ipsift/engine"
	"github.com/ipsift/ipsift/host"
	"github.com/ipsift/ipsift/packet"
	"github.com/ipsift/ipsift/rules"
)

const testHost = "iface eth0 198.51.100.1/24\niface wlan0 192.0.2.1/24\n"

// handshake is a connection through a port-80 DNAT: the client's SYN,
// the server's SYN/ACK, then the packets whose paths are proved.
var handshake = []string{
	"eth0 tcp 198.51.100.7:40000 > 198.51.100.1:80 S seq=1000",
	"wlan0 tcp 192.0.2.10:80 > 198.51.100.7:40000 SA seq=5000 ack=1001",
}

var (
	origACK  = "eth0 tcp 198.51.100.7:40000 > 198.51.100.1:80 A seq=1001 ack=5001"
	replyACK = "wlan0 tcp 192.0.2.10:80 > 198.51.100.7:40000 A seq=5001 ack=1001 len=140"
)

const natPart = `*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -i eth0 -p tcp --dport 80 -j DNAT --to-destination 192.0.2.10:80
COMMIT
`

// proveAfter loads rules (a filter section after natPart), runs the
// handshake and proves the path of each of pkts.
func proveAfter(t *testing.T, filter string, pkts ...string) (ok []bool, why []string, verdicts []engine.Verdict) {
	t.Helper()
	// Every case lets the handshake through first.
	i := strings.LastIndex(filter, "COMMIT")
	filter = filter[:i] + "-I FORWARD 1 -m conntrack --ctstate NEW -j ACCEPT\n" + filter[i:]
	rs := rules.New()
	if _, err := rs.Restore(strings.NewReader(natPart+filter), rules.RestoreOptions{}); err != nil {
		t.Fatalf("rules: %v", err)
	}
	h, err := host.Parse(strings.NewReader(testHost), "test")
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.New(rs, h, engine.Config{NoHostStack: true})
	if err != nil {
		t.Fatal(err)
	}
	st := engine.NewState()
	var path engine.Path
	pr := engine.NewProver(rs)
	now := int64(1e18)
	for i, s := range append(append([]string{}, handshake...), pkts...) {
		d, err := packet.ParseShort(s)
		if err != nil {
			t.Fatal(err)
		}
		data, err := d.Build(0)
		if err != nil {
			t.Fatal(err)
		}
		rec := i >= len(handshake)
		if rec {
			st.RecordPath(&path)
		}
		e.Process(st, &engine.Input{Data: data, In: d.In, Now: now + int64(i)*1e6})
		st.RecordPath(nil)
		if rec {
			o, w := pr.Prove(path.Steps)
			why1 := w.String()
			if w.Step != nil && w.Step.Rule != nil {
				why1 += " (" + w.Step.Rule.Spec() + ")"
			}
			ok, why, verdicts = append(ok, o), append(why, why1), append(verdicts, st.Result.Verdict)
		}
	}
	return ok, why, verdicts
}

func TestProvePaths(t *testing.T) {
	for _, c := range []struct {
		name, rules string
		ok          bool
		why         string // part of the reason when !ok
	}{
		{"established accept", `*filter
:FORWARD DROP [0:0]
-A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
-A FORWARD -i eth0 -o wlan0 -m conntrack --ctstate DNAT -j ACCEPT
COMMIT
`, true, ""},
		{"policy accept, no rules", "*filter\n:FORWARD ACCEPT [0:0]\nCOMMIT\n", true, ""},
		{"limit before the state rule", `*filter
:FORWARD DROP [0:0]
-A FORWARD -m limit --limit 5/sec -j ACCEPT
-A FORWARD -m conntrack --ctstate ESTABLISHED -j ACCEPT
COMMIT
`, false, "-m limit"},
		{"limit behind a failing ctstate NEW never runs", `*filter
:FORWARD DROP [0:0]
-A FORWARD -m conntrack --ctstate NEW -m limit --limit 5/sec -j ACCEPT
-A FORWARD -m conntrack --ctstate ESTABLISHED -j ACCEPT
COMMIT
`, true, ""},
		{"limit behind a failing source never runs", `*filter
:FORWARD DROP [0:0]
-A FORWARD -s 203.0.113.0/24 -m limit --limit 5/sec -j DROP
-A FORWARD -m conntrack --ctstate ESTABLISHED -j ACCEPT
COMMIT
`, true, ""},
		{"LOG on the path", `*filter
:FORWARD DROP [0:0]
-A FORWARD -m conntrack --ctstate ESTABLISHED -j LOG
-A FORWARD -m conntrack --ctstate ESTABLISHED -j ACCEPT
COMMIT
`, false, "-j LOG"},
		{"syn-only TCPMSS never matches a carried segment", `*mangle
:FORWARD ACCEPT [0:0]
-A FORWARD -p tcp -m tcp --tcp-flags SYN,RST SYN -j TCPMSS --clamp-mss-to-pmtu
COMMIT
*filter
:FORWARD DROP [0:0]
-A FORWARD -p tcp -m tcp --syn -j DROP
-A FORWARD -m state --state ESTABLISHED -j ACCEPT
COMMIT
`, true, ""},
		{"tcp flags with ACK", `*filter
:FORWARD DROP [0:0]
-A FORWARD -p tcp -m tcp --tcp-flags ACK,PSH PSH -j DROP
-A FORWARD -m state --state ESTABLISHED -j ACCEPT
COMMIT
`, false, "--tcp-flags"},
		{"tcp option", `*filter
:FORWARD DROP [0:0]
-A FORWARD -p tcp -m tcp --tcp-option 8 -j DROP
-A FORWARD -m state --state ESTABLISHED -j ACCEPT
COMMIT
`, false, "--tcp-option"},
		{"ports and multiport", `*filter
:FORWARD DROP [0:0]
-A FORWARD -p tcp -m tcp --dport 443 -j DROP
-A FORWARD -p tcp -m multiport --ports 80,8080 -m comment --comment web -j ACCEPT
COMMIT
`, true, ""},
		{"length", `*filter
:FORWARD DROP [0:0]
-A FORWARD -m length --length 0:60 -j DROP
-A FORWARD -j ACCEPT
COMMIT
`, false, "-m length"},
		{"mark", `*filter
:FORWARD DROP [0:0]
-A FORWARD -m mark --mark 0x1 -j DROP
-A FORWARD -j ACCEPT
COMMIT
`, false, "-m mark"},
		{"connmark nobody sets", `*filter
:FORWARD DROP [0:0]
-A FORWARD -m connmark --mark 0x1 -j DROP
-A FORWARD -j ACCEPT
COMMIT
`, true, ""},
		{"connmark a rule sets", `*mangle
:PREROUTING ACCEPT [0:0]
-A PREROUTING -p icmp -j CONNMARK --set-mark 0x1
COMMIT
*filter
:FORWARD DROP [0:0]
-A FORWARD -m connmark --mark 0x1 -j DROP
-A FORWARD -j ACCEPT
COMMIT
`, false, "CONNMARK"},
		{"ctexpire", `*filter
:FORWARD DROP [0:0]
-A FORWARD -m conntrack --ctexpire 0:10 -j DROP
-A FORWARD -j ACCEPT
COMMIT
`, false, "--ctexpire"},
		{"statistic", `*filter
:FORWARD DROP [0:0]
-A FORWARD -m statistic --mode nth --every 1000 --packet 0 -j DROP
-A FORWARD -j ACCEPT
COMMIT
`, false, "-m statistic"},
		{"recent", `*filter
:FORWARD DROP [0:0]
-A FORWARD -m recent --name x --rcheck -j DROP
-A FORWARD -j ACCEPT
COMMIT
`, false, "-m recent"},
		{"user chain, return and counting rule", `*filter
:FORWARD DROP [0:0]
:web - [0:0]
-A FORWARD -p tcp -j web
-A FORWARD -m conntrack --ctstate ESTABLISHED -j ACCEPT
-A web -s 192.0.2.0/24
-A web -m conntrack --ctstate NEW -m hashlimit --hashlimit-upto 1/sec --hashlimit-name h -j ACCEPT
-A web -j RETURN
COMMIT
`, true, ""},
		{"drop is no accept", `*filter
:FORWARD DROP [0:0]
-A FORWARD -m conntrack --ctstate NEW -j ACCEPT
-A FORWARD -p tcp -j DROP
COMMIT
`, false, "-j DROP"},
		{"MARK target", `*mangle
:FORWARD ACCEPT [0:0]
-A FORWARD -j MARK --set-mark 0x5
COMMIT
*filter
:FORWARD ACCEPT [0:0]
COMMIT
`, false, "-j MARK"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ok, why, v := proveAfter(t, c.rules, origACK, replyACK)
			for i := range ok {
				if ok[i] && v[i] != engine.Forward {
					t.Errorf("packet %d proved but %s", i, v[i])
				}
				if ok[i] != c.ok || !strings.Contains(why[i], c.why) {
					t.Errorf("packet %d (%s): proved %v (%q), want %v (%q)", i, v[i], ok[i], why[i], c.ok, c.why)
				}
			}
		})
	}
}

// The steps' counters are the rules' own: adding to them shows in the
// program's counters exactly where the packet counted.
func TestPathCounters(t *testing.T) {
	rs := rules.New()
	rs.Restore(strings.NewReader(natPart+`*filter
:FORWARD DROP [0:0]
-A FORWARD -m conntrack --ctstate NEW -j ACCEPT
-A FORWARD -m conntrack --ctstate ESTABLISHED -j ACCEPT
COMMIT
`), rules.RestoreOptions{})
	h, _ := host.Parse(strings.NewReader(testHost), "test")
	e, _ := engine.New(rs, h, engine.Config{NoHostStack: true})
	st := engine.NewState()
	var path engine.Path
	st.RecordPath(&path)
	d, _ := packet.ParseShort(handshake[0])
	data, _ := d.Build(0)
	e.Process(st, &engine.Input{Data: data, In: d.In, Now: 1e18})
	var counted int
	for i := range path.Steps {
		if path.Steps[i].Matched {
			counted++
			path.Steps[i].AddCounters(10, 1000)
		}
	}
	if counted == 0 {
		t.Fatal("no step counted")
	}
	for _, c := range e.Program().Counters() {
		if c.Table == "filter" && c.Chain == "FORWARD" && c.Rule == 1 && (c.Packets != 11 || c.Bytes != 1040) {
			t.Errorf("rule 1: %d packets %d bytes, want 11 and 1040", c.Packets, c.Bytes)
		}
		if c.Table == "filter" && c.Chain == "FORWARD" && c.Rule == 2 && c.Packets != 0 {
			t.Errorf("rule 2 counted %d", c.Packets)
		}
	}
}

func TestProveEmpty(t *testing.T) {
	if ok, _ := engine.NewProver().Prove(nil); ok {
		t.Error("an empty path proved")
	}
}

func TestMatchFixed(t *testing.T) {
	for _, c := range []struct {
		rule  string
		fixed bool
	}{
		{"-p tcp -m tcp --dport 80", true},
		{"-p tcp -m tcp --syn", true},                            // asks for SYN: never true
		{"-p tcp -m tcp ! --syn", true},                          // never false
		{"-p tcp -m tcp --tcp-flags SYN,RST NONE", true},         // SYN, RST only
		{"-p tcp -m tcp --tcp-flags FIN,SYN,RST FIN", true},      // asks for FIN
		{"-p tcp -m tcp --tcp-flags ACK ACK", false},             // ACK varies
		{"-p tcp -m tcp --tcp-flags ALL NONE", false},            // ALL includes ACK, PSH, URG
		{"-p tcp -m tcp --tcp-flags SYN,ACK,FIN,RST ACK", false}, // ACK alone, the rest clear
		{"-p tcp -m tcp --tcp-option 2", false},
		{"-m conntrack --ctstate ESTABLISHED --ctstatus ASSURED --ctdir REPLY", true},
		{"-m conntrack --ctexpire 10:20", false},
		{"-m state --state ESTABLISHED", true},
		{"-m iprange --src-range 192.0.2.1-192.0.2.9", true},
		{"-m comment --comment x", true},
		{"-m addrtype --dst-type LOCAL", true},
		{"-m connmark --mark 0x1", true},
		{"-m mark --mark 0x1", false},
		{"-m limit --limit 1/sec", false},
		{"-m length --length 100", false},
		{"-m ttl --ttl-eq 64", false},
		{"-m tos --tos 0x10", false},
		{"-m dscp --dscp 10", false},
		{"-m quota --quota 1000", false},
		{"-m connbytes --connbytes 10: --connbytes-dir both --connbytes-mode packets", false},
		{"-p tcp -m connlimit --connlimit-above 2", false},
		{"-m time --timestart 09:00", false},
		{"-m cpu --cpu 0", false},
		{"-m u32 --u32 0>>22&0x3C@12>>26&0x3F=0x10", false},
		{"-m string --string x --algo bm", false},
		{"-p tcp -m tcpmss --mss 1000", false},
		{"-m pkttype --pkt-type unicast", true},
		{"-m rpfilter", true},
	} {
		rs := rules.New()
		if _, err := rs.Restore(strings.NewReader("*mangle\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING "+c.rule+"\nCOMMIT\n"), rules.RestoreOptions{}); err != nil {
			t.Errorf("%s: %v", c.rule, err)
			continue
		}
		r := rs.Table("mangle").Chain("PREROUTING").Rules[0]
		m := r.Matches[len(r.Matches)-1]
		if ok, why := engine.MatchFixed(m, true); ok != c.fixed {
			t.Errorf("%s: fixed %v (%s), want %v", c.rule, ok, why, c.fixed)
		}
	}
}

// oneRule returns a mangle PREROUTING rule's ruleset and the path of a
// packet that ran all of its matches.
func oneRule(t *testing.T, rule string) (*rules.Ruleset, []engine.PathStep, bool) {
	t.Helper()
	rs := rules.New()
	if _, err := rs.Restore(strings.NewReader("*mangle\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING "+rule+"\nCOMMIT\n"), rules.RestoreOptions{}); err != nil {
		t.Errorf("%s: %v", rule, err)
		return nil, nil, false
	}
	r := rs.Table("mangle").Chain("PREROUTING").Rules[0]
	return rs, []engine.PathStep{{Table: "mangle", Chain: "PREROUTING", Rule: r, Number: 1, Tried: len(r.Matches)}}, true
}

// TestProveCarryClose: when the kernel carries FIN and RST too, only a
// --tcp-flags test that looks at SYN alone or asks for SYN is fixed
// (close); and a SYN-ACK's path stands for its direction's later
// segments only without flag or status tests (synAck).
func TestProveCarryClose(t *testing.T) {
	for _, c := range []struct {
		rule          string
		close, synAck bool
	}{
		{"-p tcp -m tcp --dport 80", true, true},
		{"-p tcp -m tcp --syn", true, false},
		{"-p tcp -m tcp ! --syn", true, false},
		{"-p tcp -m tcp --tcp-flags SYN NONE", true, false},
		{"-p tcp -m tcp --tcp-flags SYN,RST NONE", false, false},
		{"-p tcp -m tcp --tcp-flags FIN,SYN,RST FIN", false, false},
		{"-p tcp -m tcp --tcp-flags SYN,ACK SYN,ACK", true, false},
		{"-m conntrack --ctstate ESTABLISHED", true, true},
		{"-m conntrack --ctstatus ASSURED", true, false},
	} {
		rs, steps, ok := oneRule(t, c.rule)
		if !ok {
			continue
		}
		p := engine.NewProverClose(rs)
		if ok, f := p.Prove(steps); ok != c.close {
			t.Errorf("%s: proved %v (%s), want %v", c.rule, ok, f, c.close)
		}
		if ok, f := p.ProveSynAck(steps); ok != c.synAck {
			t.Errorf("%s: proved for a SYN-ACK %v (%s), want %v", c.rule, ok, f, c.synAck)
		}
	}
}
