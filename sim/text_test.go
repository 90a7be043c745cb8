package sim

import (
	"bytes"
	"strings"
	"testing"

	"github.com/ipsift/ipsift/engine"
	"github.com/ipsift/ipsift/load"
	"github.com/ipsift/ipsift/packet"
)

// traceText runs one packet through rules (a restore file) and returns
// its text trace, verdict line included.
func traceText(t *testing.T, rules string, legacy bool, pkt string) string {
	t.Helper()
	res := load.Bytes("r.rules", []byte(rules), load.Options{Legacy: legacy})
	if res.Diags.HasErrors() {
		t.Fatal(res.Diags)
	}
	e, err := engine.New(res.Rules, nil, engine.Config{Legacy: legacy})
	if err != nil {
		t.Fatal(err)
	}
	s := New(e)
	var b bytes.Buffer
	tt := &TextTracer{W: &b}
	s.State.SetTracer(tt)
	d, err := packet.ParseShort(pkt)
	if err != nil {
		t.Fatal(err)
	}
	tt.Begin("in eth0", "")
	if _, err := s.Run(0, d); err != nil {
		t.Fatal(err)
	}
	tt.End()
	return b.String()
}

// TestTextTracerRejectDecider: a REJECT's RST passes OUTPUT after the
// packet's own walk; the verdict line names the REJECT rule, not the
// OUTPUT policy the answer met.
func TestTextTracerRejectDecider(t *testing.T) {
	out := traceText(t, "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"+
		"-A INPUT -p tcp --dport 23 -j REJECT --reject-with tcp-reset\nCOMMIT\n", false, "eth0 tcp 203.0.113.7:40000 > 198.51.100.1:23 S")
	if !strings.Contains(out, "filter OUTPUT\n    policy ACCEPT") || !strings.HasSuffix(out, "verdict  rejected (filter INPUT rule 1)\n") {
		t.Errorf("trace:\n%s", out)
	}
}

// TestTextTracerHotdropDecider: a match that cannot read the packet
// drops it at once (legacy's tcp match on a fragment at offset 8): the
// verdict line names that rule, not "the host, after the rules let it
// through" (raw's ACCEPT was the last rule that matched).
func TestTextTracerHotdropDecider(t *testing.T) {
	out := traceText(t, "*raw\n-A PREROUTING -j ACCEPT\nCOMMIT\n*filter\n-A FORWARD -p tcp --dport 22 -j ACCEPT\nCOMMIT\n", true, "eth0 tcp 203.0.113.7:40000 > 192.0.2.10:22 S frag_off=1")
	if !strings.Contains(out, "dropped at once") || !strings.HasSuffix(out, "verdict  dropped (filter FORWARD rule 1)\n") {
		t.Errorf("trace:\n%s", out)
	}
}

// TestTextTracerHotdropMatched: legacy's sctp match can match and ask
// for the drop at once (an inverted chunk test on a chunk it cannot
// read): the rule counts and its ACCEPT is not what happens. The verdict
// line names the rule as the one that dropped the packet.
func TestTextTracerHotdropMatched(t *testing.T) {
	out := traceText(t, "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p sctp -m sctp ! --chunk-types any DATA -j ACCEPT\nCOMMIT\n", true, "eth0 132 203.0.113.7 > 198.51.100.1 len=40")
	if !strings.Contains(out, "1 ✓") || !strings.HasSuffix(out, "verdict  dropped (filter INPUT rule 1)\n") {
		t.Errorf("trace:\n%s", out)
	}
}
