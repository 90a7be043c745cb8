package rules

import (
	"strings"
	"testing"

	"github.com/ipsift/ipsift/ext"
)

// A rule read for iptables-translate keeps iptables' own checks and skips
// the kernel's: the kernel refuses these, iptables-translate prints them.
func TestUserspaceSkipsKernelChecks(t *testing.T) {
	for _, c := range []struct {
		fam  ext.Family
		line string
	}{
		{ext.IPv4, "-A INPUT -m tcpmss --mss 42"},
		{ext.IPv4, "-A INPUT -j TOS --set-tos 0x10"},
		{ext.IPv4, "-A INPUT -m ecn --ecn-tcp-cwr"},
		{ext.IPv4, "-A INPUT -m limit --limit 10/s --limit-burst 0"},
		{ext.IPv4, "-I INPUT ! -s 0.0.0.0/0"},
		{ext.IPv6, "-I INPUT ! -s ::/0"},
	} {
		words := SplitLine("t", 1, c.line)
		if _, err := ParseCommand(words, ParseOptions{Family: c.fam}); err == nil {
			t.Errorf("%s: accepted for the kernel", c.line)
		}
		if _, err := ParseCommand(words, ParseOptions{Family: c.fam, Userspace: true}); err != nil {
			t.Errorf("%s: refused for iptables-translate: %v", c.line, err)
		}
	}
	// iptables' own checks stay.
	if _, err := ParseCommand(SplitLine("t", 1, "-t nat -A PREROUTING -j DROP"), ParseOptions{Userspace: true}); err == nil {
		t.Error("DROP in nat accepted")
	}
}

// -p NAME loads the match of the name written (iptables' find_proto):
// -p mh loads mh although iptables calls protocol 135 mobility-header.
func TestProtoLoadsMatchByWrittenName(t *testing.T) {
	cmd, err := ParseCommand(SplitLine("t", 1, "-A INPUT -p mh --mh-type 1 -j ACCEPT"), ParseOptions{Family: ext.IPv6})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	cmd.Rules[0].writeSpec(&b)
	if got, want := b.String(), " -p mobility-header -m mh --mh-type 1 -j ACCEPT"; got != want {
		t.Errorf("saved as %q, want %q", got, want)
	}
}
