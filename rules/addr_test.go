package rules

import (
	"strings"
	"testing"
)

// TestAddressErrorPositions: an address error points at the list element,
// and within it at the mask or name that is wrong.
func TestAddressErrorPositions(t *testing.T) {
	for _, c := range []struct {
		line string
		col  int
		msg  string
	}{
		{"-A INPUT -s 192.0.2.1,gw.example.org -j DROP", 23, "is a name"},
		{"-A INPUT -s 10.0.0.1/08", 22, "invalid mask"},
		{"-A INPUT -d192.0.2.1,192.0.2.0/33", 32, "invalid mask"},
		{"-A INPUT ! -s 0/0", 15, "iptables-nft refuses it"},
		{"-A INPUT -s ip6-localhost", 13, "ipsift does no such lookup"},
	} {
		_, err := ParseCommand(SplitLine("f", 1, c.line), ParseOptions{})
		d, ok := err.(*Diag)
		if !ok {
			t.Errorf("%s: %v, want an error", c.line, err)
			continue
		}
		if d.Pos.Col != c.col || !strings.Contains(d.Msg, c.msg) {
			t.Errorf("%s: col %d %q, want col %d and %q", c.line, d.Pos.Col, d.Msg, c.col, c.msg)
		}
	}
	// The legacy backend loads ! -s 0/0 (a rule that matches nothing).
	cmd, err := ParseCommand(SplitLine("f", 1, "-A INPUT ! -s 0/0 -j DROP"), ParseOptions{Legacy: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := cmd.Rules[0].Spec(); !strings.Contains(got, "! -s 0.0.0.0/0") {
		t.Errorf("legacy ! -s 0/0 reads as %q", got)
	}
}
