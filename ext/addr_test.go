package ext

import (
	"net/netip"
	"strings"
	"testing"
)

// TestParseIPv4Spec holds what iptables 1.8.9 saves for each -s word
// (probed with both backends; TestKernelCommandLines in package rules
// checks the same words against the kernel).
func TestParseIPv4Spec(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"0/0", "0.0.0.0/0"},
		{"any/0", "0.0.0.0/0"},
		{"www.example.org/0", "0.0.0.0/0"},
		{"1.2.3.4/0.0.0.0", "0.0.0.0/0"},
		{"10/8", "10.0.0.0/8"},
		{"127.1", "127.1.0.0/32"},
		{"192.168.1", "192.168.1.0/32"},
		{"0", "0.0.0.0/32"},
		{"010.0.0.1", "8.0.0.1/32"},
		{"0x7f.1", "127.1.0.0/32"},
		{"256", "0.0.1.0/32"},
		{"0x100", "0.0.1.0/32"},
		{"0x7f000001", "127.0.0.1/32"},
		{"2130706433", "127.0.0.1/32"},
		{"10.65535", "10.0.255.255/32"},
		{"localhost", "127.0.0.1/32"},
		{"LocalHost", "127.0.0.1/32"},
		{"default", "0.0.0.0/32"},
		{"loopback/8", "127.0.0.0/8"},
		{"LOOPBACK", "127.0.0.0/32"},
		{"link-local/16", "169.254.0.0/16"},
		{"10/255.0.0.0", "10.0.0.0/8"},
		{"10.1.2.3/255.0.255.0", "10.0.2.0/255.0.255.0"},
		{"10.1.2.3/0x8", "10.0.0.0/8"},
		{"1.2.3.4/+8", "1.0.0.0/8"},
		{"1.2.3.4/ 8", "1.0.0.0/8"},
		{"1.2.3.4/255.255.255.0x0", "1.2.3.0/24"},
		{" 1.2.3.4", "1.2.3.4/32"},
		{"+1.2.3.4", "1.2.3.4/32"},
		{"00000000000000000001.2.3.4", "0.0.0.0/32"}, // cut to 19 bytes
		{"192.0.2.77/24", "192.0.2.0/24"},
	} {
		a, m, err := ParseIPv4Spec(c.in)
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if got := FormatAddrMask(a, m); got != c.want {
			t.Errorf("%q = %s, want %s", c.in, got, c.want)
		}
	}
}

func TestParseIPv4SpecRefused(t *testing.T) {
	for _, c := range []struct {
		in, msg string
		lookup  bool
	}{
		{"10.1.2.3/08", "invalid mask \"08\"", false},
		{"1.2.3.4/33", "invalid mask \"33\"", false},
		{"1.2.3.4/-1", "invalid mask", false},
		{"1.2.3.4/", "invalid mask \"\"", false},
		{"1.2.3.4/255.0.255", "invalid mask", false},
		{"/8", "not found", false},
		{"1.2.3.4//8", "not found", false},
		{"1.2.3.4 ", "not found", false},
		{"1..2", "not found", false},
		{"ip6-localhost", "ipsift does no such lookup", true},
		{"gateway.example.org", "write the address", true},
		{"1.2.3.4.5", "is a name", true},
		{strings.Repeat("a", 256), "too long", false},
	} {
		_, _, err := ParseIPv4Spec(c.in)
		if err == nil {
			t.Errorf("%q accepted", c.in)
			continue
		}
		if !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%q: %v, want %q in it", c.in, err, c.msg)
		}
		if ae, ok := err.(*AddrError); !ok || ae.NeedsLookup != c.lookup {
			t.Errorf("%q: %#v, want an AddrError with NeedsLookup %v", c.in, err, c.lookup)
		}
	}
}

func TestInetAtonExact(t *testing.T) {
	for _, c := range []struct {
		in   string
		want string // "" refused
	}{
		{"1.2.3.4", "1.2.3.4"}, {"1", "0.0.0.1"}, {"1.2", "1.0.0.2"}, {"1.2.3", "1.2.0.3"},
		{"1.0xffffff", "1.255.255.255"}, {"1.0x1000000", ""}, {"4294967295", "255.255.255.255"},
		{"4294967296", ""}, {"256.1", ""}, {"1.2.3.4.5", ""}, {"1.2.3.", ""}, {"+1", ""}, {" 1", ""},
		{"0x", ""}, {"09", ""}, {"1.2.3.4 ", ""}, {"", ""},
	} {
		a, ok := InetAtonExact(c.in)
		got := ""
		if ok {
			got = a.String()
		}
		if got != c.want {
			t.Errorf("InetAtonExact(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestFormatIP: IPv6 addresses print as glibc's inet_ntop prints them
// (the expectations are Python's socket.inet_ntop on glibc).
func TestFormatIP(t *testing.T) {
	for in, want := range map[string]string{
		"::1.2.3.4": "::1.2.3.4", "::ffff:1.2.3.4": "::ffff:1.2.3.4", "::1": "::1", "::": "::",
		"1::": "1::", "2001:db8:0:1:0:0:0:1": "2001:db8:0:1::1", "1:0:0:2:0:0:3:4": "1::2:0:0:3:4",
		"::100": "::100", "::ffff:0:1.2.3.4": "::ffff:0:102:304", "0:0:0:0:0:1:1.2.3.4": "::1:102:304",
		"1:0:2::3": "1:0:2::3", "ffff::": "ffff::", "192.0.2.1": "192.0.2.1",
	} {
		if got := FormatIP(netip.MustParseAddr(in)); got != want {
			t.Errorf("FormatIP(%s) = %s, want %s", in, got, want)
		}
	}
}

// TestParseIPv6Spec: ip6tables' address forms.
func TestParseIPv6Spec(t *testing.T) {
	for in, want := range map[string]string{
		"0/0": "::/0", "any/0": "::/0", " 2001:db8::1/0x40": "2001:db8::/64", "ip6-localhost": "::1/128",
		"2001:db8::ff/ffff:ffff::f0": "2001:db8::f0/ffff:ffff::f0",
	} {
		a, m, err := ParseIPv6Spec(in)
		if err != nil || FormatAddrMask(a, m) != want {
			t.Errorf("ParseIPv6Spec(%q) = %s, %v; want %s", in, FormatAddrMask(a, m), err, want)
		}
	}
	for _, in := range []string{"0", "10/8", "1.2.3.4", "fe80::1%lo", "::/129", "::/-1", "::/08"} {
		if _, _, err := ParseIPv6Spec(in); err == nil {
			t.Errorf("ParseIPv6Spec(%q) accepted", in)
		}
	}
}
