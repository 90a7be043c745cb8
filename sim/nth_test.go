package sim

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ipsift/ipsift/engine"
	"github.com/ipsift/ipsift/load"
	"github.com/ipsift/ipsift/packet"
	"github.com/ipsift/ipsift/rules"
)

// TestArticleNthSpreadsInOrder loads the article's four-line form of rule
// 10 (the legacy nth match sharing counter 0), with -t nat added and the
// servers renumbered into 192.0.2.0/24, and checks that new connections
// go to .10 .20 .30 .40 in turn, as the old shared counter made them.
func TestArticleNthSpreadsInOrder(t *testing.T) {
	var script strings.Builder
	script.WriteString("#!/bin/sh\n")
	for i, srv := range []string{"10", "20", "30", "40"} {
		fmt.Fprintf(&script, "iptables -t nat -A PREROUTING -i eth0 -p tcp --dport 80 -m state --state NEW -m nth --counter 0 --every 4 --packet %d -j DNAT --to-destination 192.0.2.%s:80\n", i, srv)
	}
	res := load.Bytes("rule10.sh", []byte(script.String()), load.Options{})
	if res.Diags.HasErrors() {
		t.Fatal(res.Diags)
	}
	note := false
	for _, d := range res.Diags {
		if d.Severity == rules.SevNote && strings.Contains(d.Msg, "--every 3 --packet 0") {
			note = true
		}
	}
	if !note {
		t.Errorf("no note showing the statistic rules the nth group became: %v", res.Diags)
	}
	e, err := engine.New(res.Rules, nil, engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	s := New(e)
	var got []string
	for i := 0; i < 8; i++ {
		d, err := packet.ParseShort(fmt.Sprintf("eth0 tcp 203.0.113.9:%d > 198.51.100.1:80 S", 44000+i))
		if err != nil {
			t.Fatal(err)
		}
		r, err := s.Run(i, d)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Out) != 1 {
			t.Fatalf("connection %d: %+v", i, r)
		}
		got = append(got, r.Out[0].Dst)
	}
	want := "192.0.2.10 192.0.2.20 192.0.2.30 192.0.2.40 192.0.2.10 192.0.2.20 192.0.2.30 192.0.2.40"
	if strings.Join(got, " ") != want {
		t.Errorf("connections went to %v, want %s", got, want)
	}
}
