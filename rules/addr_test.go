package rules

import (
	"math/rand/v2"

	"github.com/ipsift/ipsift/ext"
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

// TestPlainIPv4 checks the fast path of -s/-d against ext.ParseIPv4Spec
// on addresses it takes and forms it must leave to the general reader.
func TestPlainIPv4(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	parts := []string{"0", "1", "9", "10", "99", "100", "199", "255", "256", "300", "00", "01", "007", "0x1", "", "1000", "25", "2555"}
	masks := []string{"", "/0", "/1", "/8", "/24", "/29", "/32", "/33", "/00", "/08", "/255.255.255.0", "/", "/3a", " ", "/-1"}
	taken := 0
	for i := 0; i < 50000; i++ {
		s := ""
		for k := range 4 {
			if k > 0 {
				s += "."
			}
			s += parts[r.IntN(len(parts))]
		}
		s += masks[r.IntN(len(masks))]
		if i%50 == 0 {
			s = s[:r.IntN(len(s)+1)]
		}
		a, m, ok := plainIPv4(s)
		if !ok {
			continue
		}
		taken++
		wa, wm, err := ext.ParseIPv4Spec(s)
		if err != nil || a != wa || m != wm {
			t.Fatalf("%q: fast path %v/%v, ParseIPv4Spec %v/%v (%v)", s, a, m, wa, wm, err)
		}
	}
	if taken < 1000 {
		t.Errorf("the fast path took only %d addresses", taken)
	}
}
