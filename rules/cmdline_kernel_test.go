package rules

import (
	"strings"
	"testing"

	"github.com/ipsift/ipsift/internal/kernel"
)

// cmdlineCase is a few iptables command lines run in order, by the real
// iptables in a namespace and by ipsift's parser and Apply.
type cmdlineCase struct {
	name string
	cmds [][]string
	// refused says which backends refuse the last command (both, when
	// nft and legacy are set): the case states what the kernel was seen
	// to do, so a harness that runs nothing cannot pass it silently.
	refused map[kernel.Backend]bool
}

var bothRefuse = map[kernel.Backend]bool{kernel.NFT: true, kernel.Legacy: true}

func cmds(lines ...string) [][]string {
	var out [][]string
	for _, l := range lines {
		out = append(out, strings.Fields(l))
	}
	return out
}

// addressCases are issue 16's list of -s/-d forms, each as iptables 1.8.9
// reads it.
var addressCases = []cmdlineCase{
	{name: "zero mask", cmds: cmds("-A INPUT -s 0/0 -d any/0 -j ACCEPT")},
	{name: "named zero mask", cmds: cmds("-A INPUT -s nosuchhost.example/0 -j ACCEPT")},
	{name: "short forms", cmds: cmds("-A INPUT -s 10/8 -d 127.1", "-A INPUT -s 192.168.1 -d 0", "-A INPUT -s 256 -d 0x100")},
	{name: "octal and hex bytes", cmds: cmds("-A INPUT -s 010.0.0.1 -d 0x7f.1")},
	{name: "inet_aton forms", cmds: cmds("-A INPUT -s 0x7f000001 -d 10.65535", "-A INPUT -s 2130706433")},
	{name: "hosts and networks names", cmds: cmds("-A INPUT -s localhost -d LOOPBACK/8", "-A INPUT -s default -d link-local/16", "-A INPUT -d LocalHost")},
	{name: "dotted masks", cmds: cmds("-A INPUT -s 10/255.0.0.0 -d 10.1.2.3/255.0.255.0", "-A INPUT -s 1.2.3.4/255.255.255.0x0")},
	{name: "numeric masks", cmds: cmds("-A INPUT -s 10.1.2.3/0x8 -d 1.2.3.4/+8")},
	{name: "host bits cleared", cmds: cmds("-A INPUT -s 192.0.2.77/24 -d 198.51.100.200/25")},
	{name: "long word cut", cmds: cmds("-A INPUT -s 00000000000000000001.2.3.4")},
	{name: "octal-looking mask", cmds: cmds("-A INPUT -s 10.1.2.3/08"), refused: bothRefuse},
	{name: "mask too long", cmds: cmds("-A INPUT -d 1.2.3.4/33"), refused: bothRefuse},
	{name: "IPv6 hosts name", cmds: cmds("-A INPUT -s ip6-localhost"), refused: bothRefuse},
	{name: "five parts", cmds: cmds("-A INPUT -s 1.2.3.4.5"), refused: bothRefuse},
	{name: "inverted zero mask", cmds: cmds("-A INPUT ! -s 0/0 -j DROP"), refused: map[kernel.Backend]bool{kernel.NFT: true}},
	{name: "inverted zero mask destination", cmds: cmds("-A INPUT ! -d 10.0.0.0/0"), refused: map[kernel.Backend]bool{kernel.NFT: true}},
	{name: "lists", cmds: cmds("-A INPUT -s 192.0.2.1,192.0.2.2 -d 198.51.100.1,198.51.100.2 -j ACCEPT")},
	{name: "insert list", cmds: cmds("-A INPUT -s 9.9.9.9", "-I INPUT 1 -s 1.1.1.1,2.2.2.2 -d 3.3.3.3,4.4.4.4", "-I INPUT 2 -s 5.5.5.5,6.6.6.6")},
	{name: "delete list", cmds: cmds("-A INPUT -s 1.1.1.1", "-A INPUT -s 2.2.2.2", "-A INPUT -s 3.3.3.3", "-D INPUT -s 1.1.1.1,3.3.3.3")},
	{name: "delete list partly missing", cmds: cmds("-A INPUT -s 1.1.1.1", "-D INPUT -s 1.1.1.1,7.7.7.7"), refused: bothRefuse},
	{name: "delete by zero mask", cmds: cmds("-A INPUT -j ACCEPT", "-A INPUT -s 10/8 -j ACCEPT", "-D INPUT -s any/0 -j ACCEPT", "-D INPUT -s 10.9.9.9/255.0.0.0 -j ACCEPT")},
	{name: "check list", cmds: cmds("-A INPUT -s 1.1.1.1", "-A INPUT -s 2.2.2.2", "-C INPUT -s 1.1.1.1,2.2.2.2")},
	{name: "empty list element", cmds: cmds("-A INPUT -s 1.1.1.1,,2.2.2.2"), refused: bothRefuse},
}

// serviceCases are port words as each extension reads them: tcp, sctp
// and multiport with getservbyname(name, proto), udp, dccp and
// conntrack with getaddrinfo (a name of tcp or udp), NAT with
// getservbyname(name, NULL); names from Debian 12's netbase 6.4.
var serviceCases = []cmdlineCase{
	{name: "tcp-only name for tcp", cmds: cmds("-A INPUT -p tcp --dport git -j ACCEPT", "-A INPUT -p tcp --sport ssh:http")},
	{name: "udp-only name for tcp", cmds: cmds("-A INPUT -p tcp --dport mdns"), refused: bothRefuse},
	{name: "udp-only name for udp", cmds: cmds("-A INPUT -p udp --dport mdns -j ACCEPT", "-A INPUT -p udp --sport bootpc:tftp")},
	{name: "tcp-only name for udp", cmds: cmds("-A INPUT -p udp --dport git", "-A INPUT -p dccp --dport ssh")},
	{name: "alias", cmds: cmds("-A INPUT -p tcp --dport www", "-A INPUT -p tcp -m multiport --dports imap,webcache", "-A INPUT -p udp --dport www")},
	{name: "case", cmds: cmds("-A INPUT -p tcp --dport SSH"), refused: bothRefuse},
	{name: "case udp", cmds: cmds("-A INPUT -p udp --dport Domain"), refused: bothRefuse},
	{name: "sctp name", cmds: cmds("-A INPUT -p sctp --dport amqp", "-A INPUT -p sctp -m multiport --dports amqp,1")},
	{name: "tcp name for sctp", cmds: cmds("-A INPUT -p sctp --dport http"), refused: bothRefuse},
	{name: "udp-only name for multiport tcp", cmds: cmds("-A INPUT -p tcp -m multiport --dports 22,tftp"), refused: bothRefuse},
	{name: "udp name for multiport udp", cmds: cmds("-A INPUT -p udp -m multiport --sports tftp,ntp,mdns")},
	{name: "no dccp names in multiport", cmds: cmds("-A INPUT -p dccp -m multiport --dports ssh"), refused: bothRefuse},
	{name: "conntrack ports", cmds: cmds("-A INPUT -m conntrack --ctorigdstport mdns --ctreplsrcport http-alt:git")},
	{name: "numbers in base 0", cmds: cmds("-A INPUT -p tcp --dport 0x35", "-A INPUT -p tcp --sport 053", "-A INPUT -p udp --dport 053", "-A INPUT -p udp --dport +53")},
	{name: "hex refused by udp", cmds: cmds("-A INPUT -p udp --dport 0x35"), refused: bothRefuse},
	{name: "udp port wraps", cmds: cmds("-A INPUT -p udp --dport 65536", "-A INPUT -p udp --sport 70000", "-A INPUT -p udp --sport 4294967296")},
	{name: "udp port negative", cmds: cmds("-A INPUT -p udp --dport -1"), refused: bothRefuse},
	{name: "udp port beyond int", cmds: cmds("-A INPUT -p udp --dport 4294967295"), refused: bothRefuse},
	{name: "tcp port too big", cmds: cmds("-A INPUT -p tcp --dport 65536"), refused: bothRefuse},
	{name: "nat port names", cmds: cmds("-t nat -A PREROUTING -p tcp -j REDIRECT --to-ports http", "-t nat -A PREROUTING -p udp -j DNAT --to-destination 192.0.2.1:mdns")},
}

// TestKernelCommandLines runs each case with the real iptables of both
// backends and with ipsift: the same commands must be refused, and the
// rules left must save the same.
func TestKernelCommandLines(t *testing.T) {
	kernel.Require(t)
	var cases []cmdlineCase
	cases = append(cases, addressCases...)
	cases = append(cases, serviceCases...)
	// Removed and out-of-tree extensions: refused by both backends, and
	// each replacement ipsift writes loads and saves the same.
	for _, c := range removedCases {
		cases = append(cases, cmdlineCase{name: c.line, cmds: cmds(c.line), refused: bothRefuse})
		if c.fix != "" {
			cases = append(cases, cmdlineCase{name: "replacement " + c.fix, cmds: cmds(strings.TrimPrefix(c.fix, "iptables "))})
		}
	}
	for _, be := range kernel.Backends {
		t.Run(string(be), func(t *testing.T) {
			fw := kernel.NewFirewall(t, be)
			ipt := "iptables-" + string(be)
			for _, c := range cases {
				for _, table := range []string{"filter", "nat", "mangle", "raw"} {
					if _, err := fw.Run(ipt, "-w", "-t", table, "-F"); err != nil {
						t.Fatal(err)
					}
					fw.Run(ipt, "-w", "-t", table, "-X")
				}
				rs := New()
				for i, args := range c.cmds {
					_, kerr := fw.Run(append([]string{ipt, "-w"}, args...)...)
					cmd, err := ParseCommand(Words(args), ParseOptions{Legacy: be == kernel.Legacy})
					if err == nil {
						err = rs.Apply(cmd)
					}
					last := i == len(c.cmds)-1
					if want := last && c.refused[be]; (kerr != nil) != want {
						t.Errorf("%s: %v: the case says refused=%v, the kernel said %v", c.name, args, want, kerr)
					}
					if (kerr != nil) != (err != nil) {
						t.Errorf("%s: %v: kernel: %v; ipsift: %v", c.name, args, kerr, err)
					}
				}
				theirs, err := fw.Save()
				if err != nil {
					t.Fatal(err)
				}
				var ours strings.Builder
				rs.Save(&ours, SaveOptions{})
				if k, o := ruleLines(theirs), ruleLines(ours.String()); k != o {
					t.Errorf("%s: rules differ\nkernel:\n%s\nipsift:\n%s", c.name, k, o)
				}
			}
		})
	}
}

// ruleLines keeps the table headers and -A lines of a save, sorted by
// table, so that the backends' different table order compares.
func ruleLines(save string) string {
	blocks := map[string][]string{}
	cur := ""
	for _, l := range strings.Split(save, "\n") {
		switch {
		case strings.HasPrefix(l, "*"):
			cur = l
		case strings.HasPrefix(l, "-A "):
			blocks[cur] = append(blocks[cur], l)
		}
	}
	var out []string
	for _, table := range []string{"*raw", "*mangle", "*nat", "*filter", "*security"} {
		if len(blocks[table]) > 0 {
			out = append(out, table)
			out = append(out, blocks[table]...)
		}
	}
	return strings.Join(out, "\n")
}
