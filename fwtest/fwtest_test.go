package fwtest

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipsift/ipsift/packet"
)

const header = "rules ../examples/gateway.rules\n"

func TestParseErrors(t *testing.T) {
	for text, want := range map[string]string{
		"case x\n  packet eth0 tcp 1.2.3.4:1 > 5.6.7.8:2 S\n":                                         "t.spec:1:1: no rules",
		header + "verdict drop\n":                                                                     "t.spec:2:1: verdict before any packet",
		header + "case a\n  packet eth0 tcp 203.0.113.7:1 > 198.51.100.1:22 Q\n":                      "t.spec:3:51: packet: word 6 \"Q\"",
		header + "case a\n  packet eth0 tcp 203.0.113.7:1 > 198.51.100.1:22\n  verdict allow\n":       `t.spec:4:11: verdict "allow": want one of accept-local`,
		header + "case a\n  packet eth0 tcp 203.0.113.7:1 > 198.51.100.1:22\n  rule filter INPUT 0\n": `t.spec:4:8: "0": the rule number is counted from 1`,
		header + "case a\n  packet eth0 tcp 203.0.113.7:1 > 198.51.100.1:22\n  ct NEWISH\n":           `t.spec:4:6: ct "NEWISH"`,
		header + "case a\n  packet tcp 203.0.113.7:1 > 198.51.100.1:22\n":                             "t.spec:3:10: packet: say where it comes from",
		header + "case a\n": `t.spec:2:1: case "a" has no packet`,
		header + "case a\n  packet eth0 tcp 203.0.113.7:1 > 198.51.100.1:22\nrules x\n": "t.spec:4:1: rules belongs before the first case",
		header + "backend iptables\n": `t.spec:2:9: backend "iptables": want nft or legacy`,
		header + "frobnicate\n":       `t.spec:2:1: "frobnicate": want rules`,
		header + "case a\n  packet eth0 tcp 203.0.113.7:1 > 198.51.100.1:22\n  out tcp 1.2.3.4:1 > 5.6.7.8:2\n": "begin with the interface",
	} {
		_, err := Parse("t.spec", text)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q:\n got %v\nwant %s", text, err, want)
		}
	}
}

// failing has one case that passes and one that fails twice.
const failing = header + `
case ssh
  packet eth0 tcp 203.0.113.7:40000 > 198.51.100.1:22 S
  verdict accept-local
case telnet  # wrong on purpose
  packet eth0 tcp 203.0.113.7:40000 > 198.51.100.1:23 S
  verdict accept-local
  log none
  rule filter INPUT 10
`

func runText(t *testing.T, text string) *Report {
	t.Helper()
	s, err := Parse("t.spec", text)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := s.Run()
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestFailureOutput(t *testing.T) {
	rep := runText(t, failing)
	if rep.Failed() != 1 || !rep.Cases[0].Pass || rep.Cases[1].Pass {
		t.Fatalf("got %+v", rep.Cases)
	}
	var b bytes.Buffer
	rep.WriteText(&b, true)
	out := b.String()
	for _, want := range []string{
		"--- PASS: ssh (t.spec:3)\n",
		"--- FAIL: telnet (t.spec:6)\n",
		"    t.spec:8: packet eth0 tcp 203.0.113.7:40000 > 198.51.100.1:23 S\n        want verdict accept-local\n        got  verdict drop\n",
		"    t.spec:9: packet eth0 tcp 203.0.113.7:40000 > 198.51.100.1:23 S\n        want log none\n        got  log LOGDROP: IN=eth0",
		"    trace of the failing packet:\n        in eth0  IP 203.0.113.7.40000 > 198.51.100.1.23: Flags [S]",
		"verdict  dropped (LOGDROP rule 2, reached from filter INPUT rule 10)",
		"FAIL\tt.spec\t1 of 2 cases failed (backend nft)\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "want rule filter INPUT 10") {
		t.Errorf("an expectation that held is listed as failed:\n%s", out)
	}

	b.Reset()
	if err := rep.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b.Bytes(), &back); err != nil || len(back.Cases) != 2 || back.Cases[1].Failures[0].Got != "verdict drop" {
		t.Errorf("JSON: %v %s", err, b.String())
	}

	b.Reset()
	if err := WriteJUnit(&b, []*Report{rep}); err != nil {
		t.Fatal(err)
	}
	var ju junitSuites
	if err := xml.Unmarshal(b.Bytes(), &ju); err != nil {
		t.Fatal(err)
	}
	if s := ju.Suites[0]; s.Tests != 2 || s.Failures != 1 || s.Cases[0].Failure != nil || s.Cases[1].Failure == nil || !strings.Contains(s.Cases[1].Failure.Text, "got  verdict drop") {
		t.Errorf("JUnit:\n%s", b.String())
	}
}

// TestRecordRoundTrip records what the rules do and runs the record:
// it passes on the same rules, and fails on changed ones.
func TestRecordRoundTrip(t *testing.T) {
	var descs []packet.Desc
	for _, l := range []string{
		"eth0 tcp 203.0.113.7:40000 > 198.51.100.1:22 S",
		"eth0 tcp 203.0.113.7:40000 > 198.51.100.1:22 A",
		"eth0 tcp 203.0.113.7:40001 > 198.51.100.1:80 S",
		"wlan0 udp 192.0.2.10:53000 > 198.51.100.9:53",
		"eth0 icmp 198.51.100.9 > 198.51.100.1 echo-request",
		"eth0 tcp 198.51.100.9:443 > 198.51.100.1:40009 A ct=established,reply",
		"eth0 tcp 198.51.100.66:40000 > 198.51.100.1:22 S",
	} {
		d, err := packet.ParseShort(l)
		if err != nil {
			t.Fatal(err)
		}
		descs = append(descs, d)
	}
	var b bytes.Buffer
	if err := Record(&b, &Spec{File: "x", Rules: []string{"../examples/gateway.rules"}, Backend: "nft"}, "packets", descs, false); err != nil {
		t.Fatal(err)
	}
	text := b.String()
	if strings.Contains(text, "\n    rule ") || strings.Contains(text, "\n    decided ") {
		t.Errorf("a record of the effect pins rules:\n%s", text)
	}
	if !strings.Contains(text, "with the nft backend") || !strings.Contains(text, "out wlan0 tcp 203.0.113.7:40001 > 192.0.2.10:80 S") {
		t.Errorf("record:\n%s", text)
	}
	if rep := runText(t, text); rep.Failed() != 0 {
		var o bytes.Buffer
		rep.WriteText(&o, false)
		t.Errorf("the record fails on its own rules:\n%s\n%s", text, o.String())
	}
	changed := strings.Replace(text, "rules ../examples/gateway.rules", "rules ../examples/ipv6.rules", 1)
	if rep := runText(t, changed); rep.Failed() == 0 {
		t.Errorf("the record passes on other rules")
	}
	// LOG lines are recorded whole ("log none" for a packet without),
	// so a rule set that logs otherwise fails the record.
	logged := strings.Count(text, "\n    log LOGDROP: IN=eth0 OUT= MAC=")
	if logged == 0 || strings.Count(text, "\n    log none\n")+logged != len(descs) {
		t.Errorf("record without the LOG lines:\n%s", text)
	}
	orig, err := os.ReadFile("../examples/gateway.rules")
	if err != nil {
		t.Fatal(err)
	}
	relogged := filepath.Join(t.TempDir(), "gateway.rules")
	if err := os.WriteFile(relogged, bytes.Replace(orig, []byte(`--log-prefix "LOGDROP: "`), []byte(`--log-prefix "DROPPED: "`), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	rep := runText(t, strings.Replace(text, "rules ../examples/gateway.rules", "rules "+relogged, 1))
	if rep.Failed() != 1 || len(rep.Cases[0].Failures) != logged {
		t.Errorf("another log prefix: %+v", rep.Cases[0].Failures)
	}
	for _, f := range rep.Cases[0].Failures {
		if !strings.HasPrefix(f.Want, "log LOGDROP: ") || !strings.HasPrefix(f.Got, "log DROPPED: ") {
			t.Errorf("another log prefix: %+v", f)
		}
	}
}

// TestRuleText finds a rule by its text, as iptables takes it.
func TestRuleText(t *testing.T) {
	rep := runText(t, header+`case text
  packet eth0 tcp 203.0.113.7:40000 > 198.51.100.1:22 S
  rule -A INPUT -s 203.0.113.0/24 -p tcp --dport 22 --tcp-flags FIN,SYN,RST,ACK SYN -j ACCEPT
  norule -A INPUT -p tcp --syn -j LOGDROP
`)
	if rep.Failed() != 0 {
		t.Errorf("%+v", rep.Cases[0].Failures)
	}
	rep = runText(t, header+`case text
  packet eth0 tcp 203.0.113.7:40000 > 198.51.100.1:23 S
  rule -A INPUT -s 203.0.113.0/24 -p tcp --dport 22 --tcp-flags FIN,SYN,RST,ACK SYN -j ACCEPT
`)
	if rep.Failed() != 1 || rep.Cases[0].Failures[0].Want != "rule filter INPUT 7" {
		t.Errorf("%+v", rep.Cases[0].Failures)
	}
	s, _ := Parse("t.spec", header+"case a\n  packet eth0 tcp 203.0.113.7:1 > 198.51.100.1:22 S\n  rule -A INPUT -p tcp --dport 9 -j ACCEPT\n")
	if _, err := s.Run(); err == nil || !strings.Contains(err.Error(), "t.spec:4:1: rule -A INPUT -p tcp --dport 9 -j ACCEPT: no such rule in filter INPUT (as iptables-save writes it: -A INPUT -p tcp -m tcp --dport 9 -j ACCEPT)") {
		t.Errorf("unknown rule: %v", err)
	}
}

// TestSummaryLine: the last line counts the cases, one of them as "1 case".
func TestSummaryLine(t *testing.T) {
	rep := runText(t, header+"case a\n  packet eth0 tcp 203.0.113.7:40000 > 198.51.100.1:22 S\n  verdict accept-local\n")
	var b strings.Builder
	rep.WriteText(&b, false)
	if want := "ok  \tt.spec\t1 case (backend nft)\n"; b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}

// TestRunErrorPosition: a case that cannot be run is reported at its
// spec's FILE:LINE, as a parse error is.
func TestRunErrorPosition(t *testing.T) {
	s, err := Parse("t.spec", header+`case outside its entry
  packet eth0 tcp 203.0.113.7:40000 > 198.51.100.1:22 A ct="ipv4 2 tcp 6 300 ESTABLISHED src=198.51.100.9 dst=203.0.113.9 sport=22 dport=40006 src=203.0.113.9 dst=198.51.100.9 sport=40006 dport=22 mark=0 use=1"
  verdict drop
`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Run(); err == nil || !strings.HasPrefix(err.Error(), "t.spec:3: ct: the packet") || !strings.Contains(err.Error(), "neither tuple") {
		t.Errorf("want t.spec:3: ct: the packet ... neither tuple ..., got %v", err)
	}
}

// TestDecided: "decided" names the rule that decided the verdict, which
// "rule" (a counter rose) does not: a jump raises its counter and
// decides nothing, a DNAT accepts in nat and the filter table decides,
// a REJECT's answer passes OUTPUT after the packet and decides nothing
// about it, and a packet the host drops after the rules let it through
// was decided by no rule.
func TestDecided(t *testing.T) {
	rep := runText(t, header+`
case telnet: the jump to LOGDROP counts, LOGDROP's DROP decides
  packet eth0 tcp 203.0.113.7:40000 > 198.51.100.1:23 S
  rule filter INPUT 10
  decided filter LOGDROP 2
  decided -A LOGDROP -j DROP
case ssh
  packet eth0 tcp 203.0.113.7:40000 > 198.51.100.1:22 S
  decided filter INPUT 7
case the DNATed port: nat accepts, the filter table decides
  packet eth0 tcp 203.0.113.7:40000 > 198.51.100.1:2222 S
  rule nat PREROUTING 1
  decided filter FORWARD 2
case sent by the host: the OUTPUT policy
  packet local tcp 198.51.100.1:40000 > 203.0.113.7:80 S
  verdict sent
  decided filter OUTPUT policy
case a TTL that runs out: no rule decided
  packet wlan0 udp 192.0.2.10:53000 > 198.51.100.9:53 ttl=1
  verdict drop
  decided none
`)
	for _, c := range rep.Cases {
		if !c.Pass {
			t.Errorf("%s: %+v\n%s", c.Name, c.Failures, c.Trace)
		}
	}

	// Wrong on purpose: what failed says which rule decided.
	rep = runText(t, header+`case telnet
  packet eth0 tcp 203.0.113.7:40000 > 198.51.100.1:23 S
  decided filter INPUT 10
  rule filter INPUT 10
`)
	if f := rep.Cases[0].Failures; len(f) != 1 || f[0].Want != "decided filter INPUT 10" || f[0].Got != "decided filter LOGDROP 2 (verdict drop)" {
		t.Errorf("failures: %+v", f)
	}

	rej := filepath.Join(t.TempDir(), "reject.rules")
	if err := os.WriteFile(rej, []byte("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"+
		"-A INPUT -p tcp --dport 23 -j REJECT --reject-with tcp-reset\n-A OUTPUT -p tcp --sport 23 -j ACCEPT\nCOMMIT\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rep = runText(t, "rules "+rej+`
case the RST's OUTPUT rule decides nothing about the packet
  packet eth0 tcp 203.0.113.7:40000 > 198.51.100.1:23 S
  verdict reject
  decided filter INPUT 1
case accepted by the INPUT policy
  packet eth0 tcp 203.0.113.7:40000 > 198.51.100.1:24 S
  verdict accept-local
  decided filter INPUT policy
`)
	for _, c := range rep.Cases {
		if !c.Pass {
			t.Errorf("%s: %+v\n%s", c.Name, c.Failures, c.Trace)
		}
	}
	if _, err := Parse("t.spec", header+"case a\n  packet eth0 tcp 203.0.113.7:1 > 198.51.100.1:22\n  decided filter INPUT\n"); err == nil || !strings.Contains(err.Error(), "t.spec:4:11: \"filter INPUT\": want TABLE CHAIN NUMBER") {
		t.Errorf("bad decided: %v", err)
	}
}

// TestGatewayPropertiesCatchChanges: each property of gateway.spec
// fails on a gateway.rules changed against it, with a counterexample
// the engine confirmed and its trace.
func TestGatewayPropertiesCatchChanges(t *testing.T) {
	spec, err := os.ReadFile("../examples/gateway.spec")
	if err != nil {
		t.Fatal(err)
	}
	var props []string
	for _, l := range strings.Split(string(spec), "\n") {
		if strings.HasPrefix(l, "never:") || strings.HasPrefix(l, "always:") {
			props = append(props, l)
		}
	}
	orig, err := os.ReadFile("../examples/gateway.rules")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		prop, after, insert, want string
	}{
		{"never: accept tcp dport 22", "-A INPUT -i lo -j ACCEPT\n", "-A INPUT -p tcp --dport 22 -j ACCEPT\n", ":22 S"},
		{"never: accept-local tcp in eth0 from 198.51.100.66", "-A INPUT -i lo -j ACCEPT\n", "-A INPUT -s 198.51.100.0/24 -j ACCEPT\n", "198.51.100.66"},
		{"always: drop in eth0 tcp dport 3306", "-A INPUT -i lo -j ACCEPT\n", "-A INPUT -i eth0 -p tcp --dport 3306 -j ACCEPT\n", ":3306"},
		{"never: forward in eth0 out eth0", "-A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\n", "-A FORWARD -o eth0 -j ACCEPT\n", "eth0 "},
	} {
		var prop string
		for _, p := range props {
			if strings.HasPrefix(p, c.prop) {
				prop = p
			}
		}
		if prop == "" {
			t.Fatalf("gateway.spec has no property %q", c.prop)
		}
		changed := bytes.Replace(orig, []byte(c.after), []byte(c.after+c.insert), 1)
		if bytes.Equal(changed, orig) {
			t.Fatalf("%q not in gateway.rules", c.after)
		}
		rules := filepath.Join(t.TempDir(), "gateway.rules")
		if err := os.WriteFile(rules, changed, 0o644); err != nil {
			t.Fatal(err)
		}
		rep := runText(t, "rules "+rules+"\n"+prop+"\n")
		if rep.Failed() != 1 {
			t.Errorf("%s holds on gateway.rules with %s", prop, c.insert)
			continue
		}
		f := rep.Cases[0].Failures[0]
		// The rule put in decided the counterexample.
		if !strings.Contains(f.Got, "; decided filter ") || !strings.Contains(f.Got, "the engine confirms it") || !strings.Contains(f.Packet, c.want) || rep.Cases[0].Trace == "" || len(f.Classes) == 0 {
			t.Errorf("%s with %s: %+v\n%s", prop, c.insert, f, rep.Cases[0].Trace)
		}
	}
}

// TestPropertyFamilies: a property is checked on each family's rules;
// one that names an IPv6 address is about IPv6 even where the spec has
// no IPv6 rules (which then accept everything), instead of holding for
// want of rules.
func TestPropertyFamilies(t *testing.T) {
	prop6 := "never: accept-local tcp dport 23 from 2001:db8::/32 first\n"
	prop := "never: accept-local tcp dport 23 first\n"
	rep := runText(t, header+prop6+prop)
	if rep.Failed() != 1 || rep.Cases[0].Pass || !strings.Contains(rep.Cases[0].Failures[0].Packet, "2001:db8") {
		t.Errorf("IPv4 rules only: %+v %+v", rep.Cases[0], rep.Cases[1])
	}
	rep = runText(t, header+"rules ../examples/ipv6.rules\n"+prop6+prop)
	if rep.Failed() != 0 {
		t.Errorf("with ipv6.rules: %+v", rep.Cases)
	}
	// ipv6.rules refuses port 23 with a RST: never accepted; but the
	// IPv4 rules accept it when changed, and both families are checked.
	orig, _ := os.ReadFile("../examples/gateway.rules")
	open := filepath.Join(t.TempDir(), "gateway.rules")
	os.WriteFile(open, bytes.Replace(orig, []byte("-A INPUT -i lo -j ACCEPT\n"), []byte("-A INPUT -i lo -j ACCEPT\n-A INPUT -p tcp --dport 23 -j ACCEPT\n"), 1), 0o644)
	rep = runText(t, "rules "+open+"\nrules ../examples/ipv6.rules\n"+prop)
	if rep.Failed() != 1 || !strings.Contains(rep.Cases[0].Failures[0].Packet, ":23") {
		t.Errorf("port 23 open on IPv4: %+v", rep.Cases[0])
	}
}

// TestRecordRefactoring: a record of the effect passes on a refactored
// ruleset (a chain renamed), a record with --counters fails on it; both
// pass on the rules they were made from.
func TestRecordRefactoring(t *testing.T) {
	var descs []packet.Desc
	for _, l := range []string{
		"eth0 tcp 203.0.113.7:40000 > 198.51.100.1:23 S",
		"eth0 tcp 203.0.113.7:40000 > 198.51.100.1:22 S",
		"eth0 tcp 203.0.113.7:40000 > 198.51.100.1:2222 S",
	} {
		d, err := packet.ParseShort(l)
		if err != nil {
			t.Fatal(err)
		}
		descs = append(descs, d)
	}
	orig, err := os.ReadFile("../examples/gateway.rules")
	if err != nil {
		t.Fatal(err)
	}
	renamed := strings.NewReplacer(":LOGDROP - ", ":DROPLOG - ", "-j LOGDROP\n", "-j DROPLOG\n", "-A LOGDROP ", "-A DROPLOG ").Replace(string(orig))
	refactored := filepath.Join(t.TempDir(), "gateway.rules")
	if err := os.WriteFile(refactored, []byte(renamed), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, counters := range []bool{false, true} {
		var b bytes.Buffer
		if err := Record(&b, &Spec{File: "x", Rules: []string{"../examples/gateway.rules"}, Backend: "nft"}, "packets", descs, counters); err != nil {
			t.Fatal(err)
		}
		text := b.String()
		if strings.Contains(text, "\n    decided filter LOGDROP 2\n") != counters || strings.Contains(text, "\n    rule filter INPUT 10\n") != counters {
			t.Errorf("counters %v: record:\n%s", counters, text)
		}
		if rep := runText(t, text); rep.Failed() != 0 {
			t.Errorf("counters %v: the record fails on its own rules: %+v", counters, rep.Cases[0].Failures)
		}
		rep := runText(t, strings.Replace(text, "rules ../examples/gateway.rules", "rules "+refactored, 1))
		if (rep.Failed() == 0) == counters {
			t.Errorf("counters %v: on the refactored rules %d failed: %+v", counters, rep.Failed(), rep.Cases[0].Failures)
		}
	}
}

// FuzzParse: no spec text makes the parser panic, and what it accepts
// names rules and has packets (or a property) in every case.
func FuzzParse(f *testing.F) {
	spec, _ := os.ReadFile("../examples/gateway.spec")
	f.Add(string(spec))
	f.Add(failing)
	f.Add(header + "never: accept mark 0x1/0x1 ttl 2:3 to !eth+ from 2001:db8::/32\n")
	f.Add(header + "case a\n  packet eth0 tcp 203.0.113.7:1 > 198.51.100.1:22 S\n  decided -A INPUT -j ACCEPT\n  out none\n")
	f.Fuzz(func(t *testing.T, text string) {
		s, err := Parse("f.spec", text)
		if err != nil {
			return
		}
		if len(s.Rules) == 0 {
			t.Errorf("accepted without rules: %q", text)
		}
		for _, c := range s.Cases {
			if len(c.Steps) == 0 && c.Property == nil {
				t.Errorf("case %q without packets accepted", c.Name)
			}
		}
	})
}

// TestPropertyErrorWitness: a counterexample that is an ICMP error is
// traced with the connection it quotes in the table, so its trace shows
// it RELATED and accepted by the rule that decided, as the engine found.
func TestPropertyErrorWitness(t *testing.T) {
	rep := runText(t, header+"never: accept-local icmp state RELATED\n")
	c := rep.Cases[0]
	if c.Pass || !strings.Contains(c.Failures[0].Packet, "an error quoting the connection of ") || !strings.Contains(c.Failures[0].Got, "; decided filter INPUT 2 ") || !strings.Contains(c.Trace, "conntrack  RELATED") {
		t.Errorf("%+v\n%s", c.Failures, c.Trace)
	}
}

// TestIPv6Legacy: a spec of IPv6 rules under the legacy backend:
// decided, counters, LOG and a property over the IPv6 packets.
func TestIPv6Legacy(t *testing.T) {
	rep := runText(t, `rules ../examples/ipv6.rules
backend legacy
case ssh from the admins
  packet eth0 tcp [2001:db8:113::7]:40000 > [2001:db8:100::1]:22 S
  verdict accept-local
  decided filter INPUT 5
case telnet is refused with a RST, logged first
  packet eth0 tcp [2001:db8:113::7]:40000 > [2001:db8:100::1]:23 S
  verdict reject
  decided filter INPUT 8
  rule filter INPUT 7
  decided -A INPUT -p tcp -j REJECT --reject-with tcp-reset
  log v6 refused:
  out eth0 tcp [2001:db8:100::1]:23 > [2001:db8:113::7]:40000 RA
never: accept-local tcp dport 22 from !2001:db8:113::/64 first
`)
	if rep.Backend != "legacy" || rep.Failed() != 0 {
		for _, c := range rep.Cases {
			t.Errorf("%s: %+v\n%s", c.Name, c.Failures, c.Trace)
		}
	}
}

// TestPropertyRandomWitnessTrace: a counterexample that needs a random
// match's draw is traced with the engine seed it was confirmed with, so
// the trace shows what the failure says (here, whichever seed it took).
func TestPropertyRandomWitnessTrace(t *testing.T) {
	for _, stat := range []string{"--probability 0.3", "! --probability 0.6"} {
		rules := filepath.Join(t.TempDir(), "rand.rules")
		os.WriteFile(rules, []byte("*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n"+
			"-A PREROUTING -i eth0 -p tcp --dport 80 -m statistic --mode random "+stat+" -j DNAT --to-destination 192.0.2.10\nCOMMIT\n"+
			"*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n-A FORWARD -d 192.0.2.10 -j ACCEPT\nCOMMIT\n"), 0o644)
		rep := runText(t, "rules "+rules+"\nnever: forward in eth0 tcp dport 80 to 198.51.100.1 first\n")
		c := rep.Cases[0]
		if c.Pass || !strings.HasPrefix(c.Failures[0].Got, "forward out wlan0") || !strings.Contains(c.Trace, "verdict  forwarded out wlan0") {
			t.Errorf("%s: %+v\n%s", stat, c.Failures, c.Trace)
		}
	}
}
