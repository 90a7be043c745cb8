package kerneldiff

import (
	"net/netip"
	"testing"

	"github.com/ipsift/ipsift/packet"
)

// TestKnown6 checks that the deliberate IPv6 difference (SNPT/DNPT and
// the quote of a local ICMPv6 error) passes only where it explains all
// of the difference, with an NPT rule in the ruleset, and that nothing
// else passes: the IPv6 engine has no open differences to excuse.
func TestKnown6(t *testing.T) {
	a := netip.MustParseAddr
	const npt = "*mangle\n-A POSTROUTING -j SNPT --src-pfx 2001:db8:300::/64 --dst-pfx 2001:db8:113::/64\nCOMMIT\n"
	local := packet.Desc{Local: true, Src: a("2001:db8:2::1"), Dst: a("2001:db8:300::5"), Proto: packet.ProtoICMPv6, Type: 4, Code: 2, Inner: &packet.Inner{}}
	for _, c := range []struct {
		name    string
		ruleset string
		d       Difference
		want    bool
	}{
		{"a local error's quoted packet", npt, Difference{
			Packet: local,
			Kernel: Observation{Verdict: "sent", Out: []string{"eth0 icmpv6 2001:db8:2::1>2001:db8:113::1ec type 4/2 quoting tcp 2001:db8:300::5:1>2001:db8:2::1:2"}},
			Ipsift: Observation{Verdict: "sent", Out: []string{"eth0 icmpv6 2001:db8:2::1>2001:db8:113::1ec type 4/2 quoting tcp 2001:db8:113::1ec:1>2001:db8:2::1:2"}},
		}, true},
		{"without an NPT rule", "*filter\nCOMMIT\n", Difference{
			Packet: local,
			Kernel: Observation{Verdict: "sent", Out: []string{"eth0 icmpv6 2001:db8:2::1>2001:db8:113::1ec type 4/2 quoting tcp 2001:db8:300::5:1>2001:db8:2::1:2"}},
			Ipsift: Observation{Verdict: "sent", Out: []string{"eth0 icmpv6 2001:db8:2::1>2001:db8:113::1ec type 4/2 quoting tcp 2001:db8:113::1ec:1>2001:db8:2::1:2"}},
		}, false},
		{"a local error's own address", npt, Difference{
			Packet: local,
			Kernel: Observation{Verdict: "sent", Out: []string{"eth0 icmpv6 2001:db8:2::1>2001:db8:300::5 type 4/2 quoting tcp 2001:db8:300::5:1>2001:db8:2::1:2"}},
			Ipsift: Observation{Verdict: "sent", Out: []string{"eth0 icmpv6 2001:db8:2::1>2001:db8:113::1ec type 4/2 quoting tcp 2001:db8:113::1ec:1>2001:db8:2::1:2"}},
		}, false},
		{"a held fragment (fixed: no longer excused)", npt, Difference{
			Packet: packet.Desc{In: "eth0", Src: a("2001:db8:113::7"), Dst: a("2001:db8:100::1"), Proto: packet.ProtoUDP, MF: true},
			Kernel: Observation{Verdict: "drop", Hits: "filter/INPUT/policy"},
			Ipsift: Observation{Verdict: "accept-local", Hits: "filter/INPUT/policy"},
		}, false},
	} {
		if got := known6(c.ruleset, c.d); (got != "") != c.want {
			t.Errorf("%s: known6 = %q, want excused %v", c.name, got, c.want)
		}
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
