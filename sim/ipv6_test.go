package sim

import (
	"strings"
	"testing"

	"github.com/ipsift/ipsift/engine"
	"github.com/ipsift/ipsift/load"
	"github.com/ipsift/ipsift/packet"
)

// simulate6 loads an IPv4 and an IPv6 restore file into one engine and
// runs the short-form packets against the reference host, one result
// per packet.
func simulate6(t *testing.T, rules4, rules6 string, legacy bool, pkts ...string) []*Result {
	t.Helper()
	r4 := load.Bytes("r4.rules", []byte(rules4), load.Options{Legacy: legacy})
	r6 := load.Bytes("r6.rules", []byte(rules6), load.Options{Legacy: legacy, Family: 2})
	if r4.Diags.HasErrors() || r6.Diags.HasErrors() {
		t.Fatal(r4.Diags, r6.Diags)
	}
	e, err := engine.New(r4.Rules, nil, engine.Config{Legacy: legacy, Rules6: r6.Rules6})
	if err != nil {
		t.Fatal(err)
	}
	s := New(e)
	var out []*Result
	for i, p := range pkts {
		d, err := packet.ParseShort(p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		r, err := s.Run(i, d)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		out = append(out, r)
	}
	return out
}

const filterAccept = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n"

func hitList(hs []Hit) string {
	var b []string
	for _, h := range hs {
		if h.Policy {
			b = append(b, h.Table+" "+h.Chain+" policy")
		} else {
			b = append(b, h.Table+" "+h.Chain+" "+string(rune('0'+h.Rule)))
		}
	}
	return strings.Join(b, ", ")
}

// TestIPv6FamiliesApart: an IPv6 packet goes through the ip6tables
// rules and an IPv4 one through the iptables rules of the same engine,
// in one packet stream against one host.
func TestIPv6FamiliesApart(t *testing.T) {
	r4 := "*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n"
	r6 := "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -s 2001:db8:113::/64 -p tcp -m tcp --dport 22 -j DROP\nCOMMIT\n"
	res := simulate6(t, r4, r6, false,
		"eth0 tcp 203.0.113.7:40000 > 198.51.100.1:22 S",
		"eth0 tcp [2001:db8:113::7]:40000 > [2001:db8:100::1]:22 S",
		"eth0 tcp [2001:db8:114::7]:40000 > [2001:db8:100::1]:22 S",
	)
	if res[0].Verdict != "drop" || hitList(res[0].Hits) != "filter INPUT policy" {
		t.Errorf("IPv4: %s", res[0].JSON())
	}
	if res[1].Verdict != "drop" || hitList(res[1].Hits) != "filter INPUT 1" {
		t.Errorf("IPv6 from 2001:db8:113::7: %s", res[1].JSON())
	}
	// Not matched: delivered, and the host's stack answers a SYN to a
	// closed port with a RST through OUTPUT.
	if res[2].Verdict != "accept-local" || len(res[2].Out) != 1 || res[2].Out[0].Proto != "tcp" || *res[2].Out[0].Flags != "RA" || !res[2].Out[0].HostReply {
		t.Errorf("IPv6 from 2001:db8:114::7: %s", res[2].JSON())
	}
}
