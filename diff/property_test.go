package diff

import (
	"os"
	"strings"
	"testing"

	"github.com/ipsift/ipsift/rules"
)

func TestProperties(t *testing.T) {
	gw, err := os.ReadFile("../examples/gateway.rules")
	if err != nil {
		t.Fatal(err)
	}
	rs := parse(t, string(gw))
	checkProps(t, rs, true, []propCase{
		// The first packet of a connection: only the administrators.
		{"never: accept tcp dport 22 from !203.0.113.0/24 in eth0 state NEW first", true, ""},
		// A later packet of a connection DNATed to the inside passes.
		{"never: accept tcp dport 22 from !203.0.113.0/24 in eth0 state NEW", false, "DNATed"},
		{"never: accept tcp dport 22 from !203.0.113.0/24 in eth0", false, "ct=established"},
		// A TTL that runs out is not forwarded.
		{"always: forward from wlan0 to eth0 state NEW", false, "ttl"},
		{"never: accept-local in eth0 udp state NEW", true, ""},
		{"never: forward in eth0 tcp dport 2222 state NEW first", false, "2222"},
	})
	for _, bad := range []string{"sometimes: accept", "never: permit tcp", "never: accept dport x", "never: accept state OPEN"} {
		if _, err := ParseProperty(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// TestPropertyMarks: mark and ctmark name the marks a packet has when
// its verdict is given (after MARK and CONNMARK), under a mask as
// --mark takes it; the engine confirms a counterexample's marks too.
func TestPropertyMarks(t *testing.T) {
	rs := parse(t, `*mangle
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -i eth0 -p tcp --dport 22 -j MARK --set-xmark 0x4000/0x4000
-A PREROUTING -i eth0 -p tcp --dport 22 -j CONNMARK --set-xmark 0x7/0xff
COMMIT
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -m mark --mark 0x4000/0x4000 -p tcp --dport 22 -j ACCEPT
COMMIT
`)
	checkProps(t, rs, false, []propCase{
		// Only the marked packets are let in.
		{"never: accept-local in eth0 mark 0/0x4000", true, ""},
		{"never: accept-local in eth0 mark !0x4000/0x4000", true, ""},
		{"never: accept-local in eth0 tcp dport 22 mark 0x4000/0x4000", false, "dport 22"},
		{"always: accept-local in eth0 tcp dport 22 ctmark 0x7/0xff", false, ""},
		{"never: accept-local in eth0 ctmark 0x8/0xff", true, ""},
		{"never: drop in eth0 tcp dport 22 to 198.51.100.1 mark 0x4000/0x4000 first", true, ""},
		{"never: drop in eth0 tcp dport 22 mark 0x4000/0x4000", false, "dport 22"},
	})
	for _, bad := range []string{"never: accept mark x", "never: accept mark 1/y", "never: accept ctmark"} {
		if _, err := ParseProperty(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	// breaks reads the marks of the engine's outcome: a packet accepted
	// with another mark is not of the class.
	p, _ := ParseProperty("never: accept-local mark 0x4000/0x4000")
	if p.breaks("accept-local; mark 0x0") || !p.breaks("accept-local; mark 0x4001") || p.breaks("drop") {
		t.Errorf("breaks misreads the marks")
	}
	// and the interface a packet left by
	p, _ = ParseProperty("never: forward to eth0")
	if p.breaks("forward out wlan0; wlan0 IP 1.2.3.4 > 5.6.7.8") || !p.breaks("forward out eth0; eth0 IP 1.2.3.4 > 5.6.7.8") || p.breaks("drop") {
		t.Errorf("breaks misreads the output interface")
	}
	p, _ = ParseProperty("always: drop to !eth+")
	if p.breaks("forward out eth1; eth1 IP 1.2.3.4 > 5.6.7.8") || !p.breaks("forward out wlan0; wlan0 IP 1.2.3.4 > 5.6.7.8") {
		t.Errorf("breaks misreads a negated output interface")
	}
}

// propCase is a property, whether it holds, and for one that does not
// a text its counterexample (classes or witness) contains.
type propCase struct {
	prop  string
	holds bool
	want  string
}

// checkProps checks each property on rs: it holds or not as given, and
// a counterexample is confirmed by the engine (or, mayOK, depends on a
// stateful match) and contains want.
func checkProps(t *testing.T, rs *rules.Ruleset, mayOK bool, cases []propCase) {
	t.Helper()
	for _, c := range cases {
		p, err := ParseProperty(c.prop)
		if err != nil {
			t.Fatalf("%s: %v", c.prop, err)
		}
		ce, err := CheckProperty(rs, p, Options{})
		if err != nil {
			t.Fatalf("%s: %v", c.prop, err)
		}
		if (ce == nil) != c.holds {
			t.Errorf("%s: holds %v, want %v (%+v)", c.prop, ce == nil, c.holds, ce)
			continue
		}
		if ce == nil {
			continue
		}
		if ce.Witness == nil || !ce.Witness.Reproduced && !(mayOK && ce.May) {
			t.Errorf("%s: counterexample not confirmed by the engine: %+v", c.prop, ce.Witness)
			continue
		}
		if text := strings.Join(ce.Classes, " ") + " " + ce.Witness.Text; !strings.Contains(text, c.want) {
			t.Errorf("%s: counterexample %q lacks %q", c.prop, text, c.want)
		}
		t.Logf("%s: %s: %s", c.prop, ce.Witness.Text, ce.Witness.Old)
	}
}

// TestPropertyOutBeforeRouting: "to IFACE" (the output interface) of a
// packet dropped before routing is where its destination routes, so
// that a drop in PREROUTING breaks "always: forward ... to eth0"
// instead of leaving the packet out of the class; ttl narrows to the
// packets whose TTL does not run out.
func TestPropertyOutBeforeRouting(t *testing.T) {
	gw, err := os.ReadFile("../examples/gateway.rules")
	if err != nil {
		t.Fatal(err)
	}
	prop := "always: forward from wlan0 to eth0 ttl 2:255 first"
	checkProps(t, parse(t, string(gw)), false, []propCase{
		{prop, true, ""},
		// TTL 1 is not forwarded.
		{"always: forward from wlan0 to eth0 first", false, "ttl 0-1"},
	})
	mangled := strings.Replace(string(gw), "*nat\n", "*mangle\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -i wlan0 -p udp -j DROP\nCOMMIT\n*nat\n", 1)
	checkProps(t, parse(t, mangled), false, []propCase{
		{prop, false, "wlan0 udp"},
		// The host's own packets are not in the class: still holds for tcp.
		{"always: forward from wlan0 to eth0 ttl 2:255 first tcp", true, ""},
	})
	if _, err := ParseProperty("never: accept ttl 256"); err == nil {
		t.Error("ttl 256 parsed")
	}
}

// TestPropertyNoNatTable: a connection's NAT binding rewrites its packets
// only where the nat table has a chain (so does the engine, and the
// kernel registers no NAT hook without one): without a nat table, a
// packet of a "DNATed" connection is not sent elsewhere.
func TestPropertyNoNatTable(t *testing.T) {
	rs := parse(t, "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -p tcp --dport 23 -j DROP\nCOMMIT\n")
	checkProps(t, rs, false, []propCase{
		{"always: drop in eth0 tcp dport 23 to 198.51.100.1", true, ""},
	})
	withNat := parse(t, "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\nCOMMIT\n*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -p tcp --dport 23 -j DROP\nCOMMIT\n")
	checkProps(t, withNat, false, []propCase{
		// With a nat table, an existing DNAT connection's packets go
		// where it was translated to.
		{"always: drop in eth0 tcp dport 23 to 198.51.100.1", false, "DNATed"},
	})
}
