package kerneldiff

import "testing"

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
