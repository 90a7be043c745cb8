package kerneldiff

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/ipsift/ipsift/packet"
)

// TestKnown6 checks that a known IPv6 difference is recognised only when
// the known bug explains all of it.
func TestKnown6(t *testing.T) {
	d := Difference{
		Packet: packet.Desc{In: "eth0", Src: netip.MustParseAddr("2001:db8:113::7"), Dst: netip.MustParseAddr("2001:db8:100::1"), Proto: packet.ProtoUDP, MF: true},
		Kernel: Observation{Verdict: "drop", Hits: "filter/INPUT/policy"},
		Ipsift: Observation{Verdict: "accept-local", Hits: "filter/INPUT/policy"},
	}
	if k := known6(d); !strings.Contains(k, "reassembly") {
		t.Errorf("a held fragment's verdict is not recognised: %q", k)
	}
	other := d
	other.Ipsift.Hits = "filter/INPUT/1"
	if k := known6(other); k != "" {
		t.Errorf("a difference in INPUT's counters is taken for a known bug: %q", k)
	}
	v4 := d
	v4.Packet.Src, v4.Packet.Dst = netip.MustParseAddr("203.0.113.7"), netip.MustParseAddr("198.51.100.1")
	if k := known6(v4); k != "" {
		t.Errorf("an IPv4 difference is taken for a known IPv6 bug: %q", k)
	}
}

// TestNumbered1811 checks the one allowance of the IPv6 save comparison:
// the protocol names 1.8.11 prints where 1.8.9 prints numbers.
func TestNumbered1811(t *testing.T) {
	for in, want := range map[string]string{
		`-A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type 1 -j ACCEPT`: `-A INPUT -p 58 -m icmp6 --icmpv6-type 1 -j ACCEPT`,
		`-A u0 ! -p mobility-header -j ACCEPT`:                     `-A u0 ! -p 135 -j ACCEPT`,
		`-A INPUT -p tcp -m comment --comment "ipv6-icmp"`:         `-A INPUT -p tcp -m comment --comment "ipv6-icmp"`,
	} {
		if got := numbered1811(in); got != want {
			t.Errorf("numbered1811(%q) = %q, want %q", in, got, want)
		}
	}
}
