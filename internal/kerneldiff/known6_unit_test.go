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

// TestKnown6Fix6 checks the entries fix6 added recognise their case and
// not its neighbours.
func TestKnown6Fix6(t *testing.T) {
	a := netip.MustParseAddr
	rt0 := packet.Ext{Type: "rt", Addrs: []netip.Addr{a("2001:db8:2::10")}}
	atomic := packet.Ext{Type: "frag"}
	for _, c := range []struct {
		name string
		d    Difference
		want string // a part of the name, "" for none
	}{
		{"rt0 and an atomic fragment", Difference{
			Packet: packet.Desc{In: "eth0", Src: a("2001:db8:113::7"), Dst: a("2001:db8:100::1"), Proto: packet.ProtoTCP, Ext: []packet.Ext{rt0, atomic}},
			Kernel: Observation{Verdict: "drop", Hits: "filter/INPUT/1"},
			Ipsift: Observation{Verdict: "accept-local", Hits: "filter/INPUT/1"},
		}, "atomic fragment"},
		{"rt0 and an atomic fragment, INPUT differing", Difference{
			Packet: packet.Desc{In: "eth0", Src: a("2001:db8:113::7"), Dst: a("2001:db8:100::1"), Proto: packet.ProtoTCP, Ext: []packet.Ext{rt0, atomic}},
			Kernel: Observation{Verdict: "drop", Hits: "filter/INPUT/2"},
			Ipsift: Observation{Verdict: "accept-local", Hits: "filter/INPUT/1"},
		}, ""},
		{"rt0 alone", Difference{
			Packet: packet.Desc{In: "eth0", Src: a("2001:db8:113::7"), Dst: a("2001:db8:100::1"), Proto: packet.ProtoTCP, Ext: []packet.Ext{rt0}},
			Kernel: Observation{Verdict: "drop"},
			Ipsift: Observation{Verdict: "accept-local"},
		}, ""},
		{"two fragment headers", Difference{
			Packet: packet.Desc{In: "eth0", Src: a("2001:db8:300::"), Dst: a("2001:db8:100::1"), Proto: packet.ProtoICMPv6, Type: 129, Ext: []packet.Ext{atomic, atomic}},
			Kernel: Observation{Verdict: "drop", Out: []string{"eth0 icmpv6 2001:db8:100::1>2001:db8:300:: type 4/0 quoting icmpv6 2001:db8:300:::0>2001:db8:100::1:0"}},
			Ipsift: Observation{Verdict: "accept-local", Out: []string{"eth0 icmpv6 2001:db8:100::1>2001:db8:300:: type 4/0 quoting icmpv6 2001:db8:300:::0>2001:db8:100::1:0"}},
		}, "second fragment header"},
		{"two fragment headers, the answer missing", Difference{
			Packet: packet.Desc{In: "eth0", Src: a("2001:db8:300::"), Dst: a("2001:db8:100::1"), Proto: packet.ProtoICMPv6, Type: 129, Ext: []packet.Ext{atomic, atomic}},
			Kernel: Observation{Verdict: "drop", Out: []string{"eth0 icmpv6 2001:db8:100::1>2001:db8:300:: type 4/0 quoting icmpv6 2001:db8:300:::0>2001:db8:100::1:0"}},
			Ipsift: Observation{Verdict: "accept-local"},
		}, ""},
		{"one fragment header", Difference{
			Packet: packet.Desc{In: "eth0", Src: a("2001:db8:300::"), Dst: a("2001:db8:100::1"), Proto: packet.ProtoICMPv6, Type: 129, Ext: []packet.Ext{atomic}},
			Kernel: Observation{Verdict: "drop", Out: []string{"eth0 icmpv6 2001:db8:100::1>2001:db8:300:: type 4/0 quoting icmpv6 2001:db8:300:::0>2001:db8:100::1:0"}},
			Ipsift: Observation{Verdict: "accept-local"},
		}, ""},
		{"a local error's quoted packet", Difference{
			Packet: packet.Desc{Local: true, Src: a("2001:db8:2::1"), Dst: a("2001:db8:300::5"), Proto: packet.ProtoICMPv6, Type: 4, Code: 2, Inner: &packet.Inner{}},
			Kernel: Observation{Verdict: "sent", Out: []string{"eth0 icmpv6 2001:db8:2::1>2001:db8:113::1ec type 4/2 quoting tcp 2001:db8:300::5:1>2001:db8:2::1:2"}},
			Ipsift: Observation{Verdict: "sent", Out: []string{"eth0 icmpv6 2001:db8:2::1>2001:db8:113::1ec type 4/2 quoting tcp 2001:db8:113::1ec:1>2001:db8:2::1:2"}},
		}, "quoted"},
		{"a local error's own address", Difference{
			Packet: packet.Desc{Local: true, Src: a("2001:db8:2::1"), Dst: a("2001:db8:300::5"), Proto: packet.ProtoICMPv6, Type: 4, Code: 2, Inner: &packet.Inner{}},
			Kernel: Observation{Verdict: "sent", Out: []string{"eth0 icmpv6 2001:db8:2::1>2001:db8:300::5 type 4/2 quoting tcp 2001:db8:300::5:1>2001:db8:2::1:2"}},
			Ipsift: Observation{Verdict: "sent", Out: []string{"eth0 icmpv6 2001:db8:2::1>2001:db8:113::1ec type 4/2 quoting tcp 2001:db8:113::1ec:1>2001:db8:2::1:2"}},
		}, ""},
		{"a local no next header", Difference{
			Packet: packet.Desc{Local: true, Src: a("2001:db8:100::1"), Dst: a("2001:db8:300::10"), Proto: packet.ProtoNoNext, Len: 8},
			Kernel: Observation{Verdict: "drop"},
			Ipsift: Observation{Verdict: "sent", Hits: "filter/OUTPUT/policy", Out: []string{"eth0 59 2001:db8:100::1>2001:db8:300::10"}},
		}, "no next header"},
		{"a local UDP lost", Difference{
			Packet: packet.Desc{Local: true, Src: a("2001:db8:100::1"), Dst: a("2001:db8:300::10"), Proto: packet.ProtoUDP},
			Kernel: Observation{Verdict: "drop"},
			Ipsift: Observation{Verdict: "sent", Hits: "filter/OUTPUT/policy", Out: []string{"eth0 udp 2001:db8:100::1:1>2001:db8:300::10:2"}},
		}, ""},
	} {
		got := known6(c.d)
		if c.want == "" && got != "" || c.want != "" && !strings.Contains(got, c.want) {
			t.Errorf("%s: known6 = %q, want one naming %q", c.name, got, c.want)
		}
	}
}
