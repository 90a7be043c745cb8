package diff

import (
	"os"
	"strings"
	"testing"
)

func TestProperties(t *testing.T) {
	gw, err := os.ReadFile("../examples/gateway.rules")
	if err != nil {
		t.Fatal(err)
	}
	rs := parse(t, string(gw))
	for _, c := range []struct {
		prop  string
		holds bool
		want  string // in the counterexample's classes or witness
	}{
		// The first packet of a connection: only the administrators.
		{"never: accept tcp dport 22 from !203.0.113.0/24 in eth0 state NEW first", true, ""},
		// A later packet of a connection DNATed to the inside passes.
		{"never: accept tcp dport 22 from !203.0.113.0/24 in eth0 state NEW", false, "DNATed"},
		{"never: accept tcp dport 22 from !203.0.113.0/24 in eth0", false, "ct=established"},
		// A TTL that runs out is not forwarded.
		{"always: forward from wlan0 to eth0 state NEW", false, "ttl"},
		{"never: accept-local in eth0 udp state NEW", true, ""},
		{"never: forward in eth0 tcp dport 2222 state NEW first", false, "2222"},
	} {
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
		if ce.Witness == nil || !ce.Witness.Reproduced && !ce.May {
			t.Errorf("%s: counterexample not confirmed by the engine: %+v", c.prop, ce.Witness)
			continue
		}
		text := strings.Join(ce.Classes, " ") + " " + ce.Witness.Text
		if !strings.Contains(text, c.want) {
			t.Errorf("%s: counterexample %q lacks %q", c.prop, text, c.want)
		}
		t.Logf("%s: %s: %s", c.prop, ce.Witness.Text, ce.Witness.Old)
	}
	for _, bad := range []string{"sometimes: accept", "never: permit tcp", "never: accept dport x", "never: accept state OPEN"} {
		if _, err := ParseProperty(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}
