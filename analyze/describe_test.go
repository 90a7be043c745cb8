package analyze

import (
	"github.com/ipsift/ipsift/rules"
	"testing"
)

// TestDescribe puts the packets of sample rules into words, as the limit
// warnings do.
func TestDescribe(t *testing.T) {
	rs := load(t, "t", filter("ACCEPT", nil,
		"-A INPUT -p tcp -m tcp --dport 25 --tcp-flags FIN,SYN,RST,ACK SYN -j ACCEPT",
		"-A INPUT -s 10.0.0.0/8 -p icmp -m icmp --icmp-type 8 -j ACCEPT",
		"-A INPUT -i eth+ -p udp -m udp ! --dport 53 -m conntrack --ctstate NEW -j ACCEPT",
		"-A INPUT -m iprange --dst-range 192.0.2.1-192.0.2.5 -p tcp -m tcp --tcp-flags SYN,ACK SYN,ACK -j ACCEPT",
		"-A INPUT -p tcp -m multiport --dports 22,80:81 -m mark --mark 0x1 -m ttl --ttl-lt 5 -j ACCEPT",
		"-A INPUT -f -m length --length 0:100 -j ACCEPT",
		"-A INPUT -m conntrack --ctstate DNAT -j ACCEPT",
	))
	atoms := newIfaceAtoms([]*rules.Ruleset{rs})
	want := []string{
		"tcp SYN packets to port 25",
		"icmp packets of type 8 from 10.0.0.0/8",
		"NEW udp packets to other than port 53 arriving on eth+",
		"tcp packets with TCP flags SYN,ACK SYN,ACK to 192.0.2.1-192.0.2.5",
		"tcp packets to ports 22,80:81 with mark 0x1 with TTL 0-4",
		"non-first fragment packets of length 0-100",
		"NEW/RELATED/ESTABLISHED/DNAT packets",
	}
	for i, r := range rs.Table("filter").Chain("INPUT").Rules {
		c, _ := ruleConds(r, atoms, nil, false)
		if len(c.upper) != 1 {
			t.Fatalf("rule %d: %d boxes", i+1, len(c.upper))
		}
		if got := describe(c.upper[0], atoms, nil); got != want[i] {
			t.Errorf("rule %d: %q, want %q", i+1, got, want[i])
		}
	}
}
