package sim

import (
	"bytes"
	"strings"
	"testing"

	"github.com/ipsift/ipsift/engine"
	"github.com/ipsift/ipsift/load"
	"github.com/ipsift/ipsift/packet"
)

// TestTextTracerRejectDecider: a REJECT's RST passes OUTPUT after the
// packet's own walk; the verdict line names the REJECT rule, not the
// OUTPUT policy the answer met.
func TestTextTracerRejectDecider(t *testing.T) {
	res := load.Bytes("r.rules", []byte("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"+
		"-A INPUT -p tcp --dport 23 -j REJECT --reject-with tcp-reset\nCOMMIT\n"), load.Options{})
	if res.Diags.HasErrors() {
		t.Fatal(res.Diags)
	}
	e, err := engine.New(res.Rules, nil, engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	s := New(e)
	var b bytes.Buffer
	tt := &TextTracer{W: &b}
	s.State.SetTracer(tt)
	d, err := packet.ParseShort("eth0 tcp 203.0.113.7:40000 > 198.51.100.1:23 S")
	if err != nil {
		t.Fatal(err)
	}
	tt.Begin("in eth0", "")
	if _, err := s.Run(0, d); err != nil {
		t.Fatal(err)
	}
	tt.End()
	out := b.String()
	if !strings.Contains(out, "filter OUTPUT\n    policy ACCEPT") || !strings.HasSuffix(out, "verdict  rejected (filter INPUT rule 1)\n") {
		t.Errorf("trace:\n%s", out)
	}
}
