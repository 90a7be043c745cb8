package diff

import (
	"testing"

	"github.com/ipsift/ipsift/load"
	"github.com/ipsift/ipsift/rules"
)

func parse(t *testing.T, text string) *rules.Ruleset {
	t.Helper()
	res := load.Bytes("test.rules", []byte(text), load.Options{})
	if res.Diags.HasErrors() {
		t.Fatalf("rules: %v", res.Diags.Err())
	}
	return res.Rules
}

func TestQuick(t *testing.T) {
	debugBox = true
	a := parse(t, "*filter\n:INPUT DROP [0:0]\n-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n")
	b := parse(t, "*filter\n:INPUT DROP [0:0]\n-A INPUT -m state --state RELATED,ESTABLISHED -j ACCEPT\n-A INPUT -p tcp -m tcp --dport 22 -s 203.0.113.0/24 -j ACCEPT\nCOMMIT\n")
	res, err := Compare(a, a, Options{})
	if err != nil || !res.Equivalent() {
		t.Fatalf("same: %v %+v", err, res)
	}
	res, err = Compare(a, b, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.Regions {
		t.Logf("%v -> %v %v size %.1f may %v %v", r.Old, r.New, r.Classes, r.Log2Size, r.May, r.Aspects)
		if r.Witness != nil {
			t.Logf("  witness %s: %s / %s %v", r.Witness.Text, r.Witness.Old, r.Witness.New, r.Witness.Reproduced)
		}
	}
	for _, r := range res.Unconfirmed {
		t.Logf("UNCONFIRMED %v -> %v %v", r.Old, r.New, r.Classes)
		if r.Witness != nil {
			t.Logf("  witness %s: %s / %s", r.Witness.Text, r.Witness.Old, r.Witness.New)
		}
	}
	t.Logf("nodes %d", res.Nodes)
}
