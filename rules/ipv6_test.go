package rules

import (
	"strings"
	"testing"

	"github.com/ipsift/ipsift/ext"
)

func parse6(line string) (*Command, error) {
	return ParseCommand(SplitLine("f", 1, line), ParseOptions{Family: ext.IPv6})
}

// TestIPv6Addresses: -s/-d as ip6tables reads them (checked against
// ip6tables-nft 1.8.9 and its save output on this kernel).
func TestIPv6Addresses(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"-A INPUT -s 0/0 -j ACCEPT", "-j ACCEPT"},
		{"-A INPUT -s any/0", ""},
		{"-A INPUT -s ::1.2.3.4 -d ::ffff:1.2.3.4/ffff:ffff::ff00", "-s ::1.2.3.4/128 -d ::300/ffff:ffff::ff00"},
		{"-A INPUT -s 2001:db8::1/0x40", "-s 2001:db8::/64"},
		{"-A INPUT -s 2001:db8::1/010", "-s 2000::/8"},
		{"-A INPUT -d 2001:db8::/ffff:ffff::", "-d 2001:db8::/32"},
		{"-A INPUT -s 2001:db8::5/64 -p ipv6-icmp -j DROP", "-s 2001:db8::/64 -p ipv6-icmp -j DROP"},
		{"-A INPUT -s ::ffff:192.0.2.1", "-s ::ffff:192.0.2.1/128"},
		{"-A INPUT -s 2001:db8:0:0:1:0:0:1,2001:db8::2", "-s 2001:db8::1:0:0:1/128"},
	} {
		cmd, err := parse6(c.in)
		if err != nil {
			t.Errorf("%s: %v", c.in, err)
			continue
		}
		if got := cmd.Rules[0].Spec(); got != c.want {
			t.Errorf("%s: saved as %q, want %q", c.in, got, c.want)
		}
	}
	for _, c := range []struct{ in, msg string }{
		{"-A INPUT -s 0", "ip6tables reads only IPv6 addresses"},
		{"-A INPUT -s 10/8", "ip6tables reads only IPv6 addresses"},
		{"-A INPUT -s 192.0.2.1", "ip6tables reads only IPv6 addresses"},
		{"-A INPUT -s fe80::1%eth0", "neither an IPv6 address"},
		{"-A INPUT -s 2001:db8::/129", "invalid mask"},
		{"-A INPUT ! -s ::/0", "iptables-nft refuses it"},
		{"-A INPUT -f", "`-f' is not supported in IPv6, use -m frag instead"},
		{"-A INPUT -4 -j DROP", "-4 given to ip6tables"},
		{"-A INPUT -s gw.example.org", "is a name"},
	} {
		_, err := parse6(c.in)
		if err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: %v, want an error with %q", c.in, err, c.msg)
		}
	}
	if _, err := ParseCommand(SplitLine("f", 1, "-A INPUT -6 -j DROP"), ParseOptions{}); err == nil || !strings.Contains(err.Error(), "-6 given to iptables") {
		t.Errorf("iptables -6: %v", err)
	}
}

// TestIPv6RestoreSkipsOtherFamily: a restore line marked -4 is skipped
// by ip6tables-restore (and -6 by iptables-restore), silently, even when
// the rest of the line is not valid for the family.
func TestIPv6RestoreSkipsOtherFamily(t *testing.T) {
	text := "*filter\n-A INPUT -4 -s 192.0.2.1 -j DROP\n-A INPUT -6 -s 2001:db8::1 -j DROP\n-A INPUT -j ACCEPT\nCOMMIT\n"
	rs6 := New()
	rs6.Family = ext.IPv6
	if _, err := rs6.Restore(strings.NewReader(text), RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	rs6.Save(&b, SaveOptions{})
	if !strings.Contains(b.String(), "-A INPUT -s 2001:db8::1/128 -j DROP\n-A INPUT -j ACCEPT\n") || strings.Contains(b.String(), "192.0.2.1") {
		t.Errorf("ip6tables-restore:\n%s", b.String())
	}
	rs4 := restore(t, text)
	b.Reset()
	rs4.Save(&b, SaveOptions{})
	if !strings.Contains(b.String(), "-A INPUT -s 192.0.2.1/32 -j DROP\n-A INPUT -j ACCEPT\n") || strings.Contains(b.String(), "2001") {
		t.Errorf("iptables-restore:\n%s", b.String())
	}
}

// TestIPv6List: ip6tables -L columns (anywhere, ::/0 with -n, no /128),
// as ip6tables-nft 1.8.9 printed the same rules here.
func TestIPv6List(t *testing.T) {
	rs := New()
	rs.Family = ext.IPv6
	for _, l := range []string{"-A INPUT -j ACCEPT", "-A INPUT -s ::1.2.3.4 -d ::ffff:1.2.3.4/ffff:ffff::ff00", "-A INPUT -s 2001:db8::5/64"} {
		cmd, err := parse6(l)
		if err != nil {
			t.Fatal(err)
		}
		if err := rs.Apply(cmd); err != nil {
			t.Fatal(err)
		}
	}
	var b strings.Builder
	rs.List(&b, ListOptions{Chain: "INPUT"})
	want := `Chain INPUT (policy ACCEPT)
target     prot opt source               destination         
ACCEPT     all  --  anywhere             anywhere            
           all  --  ::1.2.3.4            ::300/ffff:ffff::ff00 
           all  --  2001:db8::/64        anywhere            
`
	if b.String() != want {
		t.Errorf("-L:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	rs.List(&b, ListOptions{Chain: "INPUT", Numeric: true})
	if !strings.Contains(b.String(), "ACCEPT     all  --  ::/0                 ::/0                \n") {
		t.Errorf("-L -n:\n%s", b.String())
	}
}
