package rules

import (
	"strings"
	"testing"
)

// removedCases are how-to rules with extensions no current system loads:
// what ipsift says (a part of the message) and the rule it writes
// instead, where the replacement is mechanical. TestKernelCommandLines
// loads each replacement into the kernel.
var removedCases = []struct {
	line, msg, fix string
}{
	{"-A INPUT -p tcp --dport 22 -j ULOG --ulog-prefix ssh --ulog-nlgroup 2 --ulog-cprange 64 --ulog-qthreshold 5",
		"removed from Linux in 3.17", "iptables -A INPUT -p tcp --dport 22 -j NFLOG --nflog-group 2 --nflog-prefix ssh --nflog-size 64 --nflog-threshold 5"},
	{"-A INPUT -j ULOG", "kernel refuses the rule", "iptables -A INPUT -j NFLOG --nflog-group 1"},
	{"-A INPUT -jULOG --ulog-prefix x", "Use NFLOG", "iptables -A INPUT -j NFLOG --nflog-group 1 --nflog-prefix x"},
	{"-A INPUT -d 192.0.2.1 -j CLUSTERIP --new --hashmode sourceip --clustermac 01:00:5e:00:00:20 --total-nodes 2 --local-node 1 --hash-init 7",
		"removed from Linux in 6.7", "iptables -A INPUT -d 192.0.2.1 -m cluster --cluster-total-nodes 2 ! --cluster-local-node 1 --cluster-hash-seed 7 -j DROP"},
	{"-t nat -A POSTROUTING -o eth0 -j SAME --to 192.0.2.1-192.0.2.5", "removed from Linux in 2.6.25",
		"iptables -t nat -A POSTROUTING -o eth0 -j SNAT --to-source 192.0.2.1-192.0.2.5 --persistent"},
	{"-t nat -A PREROUTING -j SAME --to 192.0.2.1-192.0.2.5 --nodst", "SNAT and DNAT with an address range",
		"iptables -t nat -A PREROUTING -j DNAT --to-destination 192.0.2.1-192.0.2.5 --persistent"},
	{"-A OUTPUT -m owner --pid-owner 1 -j DROP", "--pid-owner was removed from the owner match in Linux 2.6.14", ""},
	{"-A OUTPUT -m owner --sid-owner 1 -j DROP", "--sid-owner was removed", ""},
	{"-A OUTPUT -m owner --cmd-owner sshd -j DROP", "--cmd-owner was removed", ""},
	{"-A INPUT -m random --average 25 -j DROP", "replaced by the statistic match",
		"iptables -A INPUT -m statistic --mode random --probability 0.25 -j DROP"},
	{"-A INPUT -p tcp --syn -m iplimit ! --iplimit-above 3 --iplimit-mask 24 -j ACCEPT", "renamed connlimit",
		"iptables -A INPUT -p tcp --syn -m connlimit ! --connlimit-above 3 --connlimit-mask 24 -j ACCEPT"},
	{"-A INPUT -m unclean -j DROP", "removed from Linux in 2.6.11", ""},
	{"-A INPUT -m time --days Mon,Tue -j ACCEPT", "calls it --weekdays", ""},
	{"-A INPUT -m geoip --src-cc CN -j DROP", "from xtables-addons, never part of Linux", ""},
	{"-A INPUT -m psd -j DROP", "-m psd: the psd match is from xtables-addons", ""},
	{"-A INPUT -m condition --condition x -j DROP", "xtables-addons", ""},
	{"-A INPUT -p tcp -j TARPIT --tarpit", "-j TARPIT: the TARPIT target is from xtables-addons", ""},
	{"-A INPUT -j MIRROR", "Linux 2.4 experiment", ""},
	{"-A INPUT -p tcp -j TARPIT", "xtables-addons", ""},
}

func TestRemovedExtensions(t *testing.T) {
	for _, c := range removedCases {
		rs := New()
		cmd, err := ParseCommand(SplitLine("f", 1, c.line), ParseOptions{})
		if err == nil {
			err = rs.Apply(cmd)
		}
		d, ok := err.(*Diag)
		if !ok {
			t.Errorf("%s: %v, want an error", c.line, err)
			continue
		}
		if !strings.Contains(d.Msg, c.msg) {
			t.Errorf("%s: %q, want %q in it", c.line, d.Msg, c.msg)
		}
		if strings.Contains(d.Msg, "unknown") || strings.Contains(d.Msg, "did you mean") {
			t.Errorf("%s: %q still calls it unknown", c.line, d.Msg)
		}
		if d.FixLine != c.fix {
			t.Errorf("%s: write instead %q, want %q", c.line, d.FixLine, c.fix)
		}
	}
	// --days is the same option renamed: a certain fix of the word.
	_, err := ParseCommand(Words(strings.Fields("-A INPUT -m time --days Mon")), ParseOptions{})
	if d, ok := err.(*Diag); !ok || d.Fix != "--weekdays" {
		t.Errorf("--days: %v, want the fix --weekdays", err)
	}
	// In a restore file the replacement is a restore line.
	_, err = ParseCommand(SplitLine("f", 1, `-A INPUT -j ULOG --ulog-prefix "a b"`), ParseOptions{Restore: true})
	if d, ok := err.(*Diag); !ok || d.FixLine != `-A INPUT -j NFLOG --nflog-group 1 --nflog-prefix "a b"` {
		t.Errorf("restore line: %#v", err)
	}
	// A chain may carry a removed target's name (iptables has no MIRROR).
	rs := New()
	for _, l := range []string{"-N MIRROR", "-A INPUT -j MIRROR"} {
		cmd, err := ParseCommand(SplitLine("f", 1, l), ParseOptions{})
		if err == nil {
			err = rs.Apply(cmd)
		}
		if err != nil {
			t.Errorf("%s: %v", l, err)
		}
	}
}
