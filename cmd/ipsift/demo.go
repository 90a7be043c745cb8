package main

import (
	"fmt"
	"io"

	"github.com/ipsift/ipsift/engine"
	"github.com/ipsift/ipsift/examples"
	"github.com/ipsift/ipsift/host"
	"github.com/ipsift/ipsift/load"
	"github.com/ipsift/ipsift/packet"
	"github.com/ipsift/ipsift/rules"
	"github.com/ipsift/ipsift/sim"
)

// demoSteps are the packets of the tour, each with what it shows.
var demoSteps = []struct {
	caption string
	packet  string
}{
	{"2: ssh from the administrators' network is accepted", "eth0 tcp 203.0.113.7:40000 > 198.51.100.1:22 S"},
	{"1: any other connection attempt is logged and dropped", "eth0 tcp 198.51.100.9:40001 > 198.51.100.1:22 S"},
	{"7: the hostile address cannot reach the host itself (note: gateway.rules still forwards its web requests, rule 10 and FORWARD rule 2)", "eth0 tcp 198.51.100.66:40002 > 198.51.100.1:22 S"},
	{"6: SYNs to the mail server go through the syn-flood limit", "eth0 tcp 198.51.100.9:40003 > 198.51.100.1:25 S"},
	{"8: a RST probe goes through the port-scan limit", "eth0 tcp 198.51.100.9:40004 > 198.51.100.1:8080 R"},
	{"5: outside port 2222 is forwarded to the inside ssh host", "eth0 tcp 203.0.113.9:40005 > 198.51.100.1:2222 S"},
	{"10: new web connections are spread over four mirrors", "eth0 tcp 203.0.113.9:40006 > 198.51.100.1:80 S"},
	{"9: the inside network may use the services offered to it", "wlan0 tcp 192.0.2.10:40007 > 192.0.2.1:443 S"},
	{"masquerade: inside hosts reach the outside as 198.51.100.1", "wlan0 udp 192.0.2.10:53000 > 198.51.100.9:53 len=40"},
}

// demoSteps6 are the IPv6 packets of the tour, through ipv6.rules.
var demoSteps6 = []struct {
	caption string
	packet  string
}{
	{"IPv6: neighbour discovery is let in, and the host's own stack answers the solicitation", "eth0 icmpv6 fe80::ff:fe00:101 > ff02::1:ff00:1 type=135 target=2001:db8:100::1"},
	{"IPv6: ssh from the administrators' 2001:db8:113::/64 is accepted", "eth0 tcp [2001:db8:113::7]:40000 > [2001:db8:100::1]:22 S"},
	{"IPv6: from elsewhere it is logged and refused with a RST", "eth0 tcp [2001:db8:114::7]:40001 > [2001:db8:100::1]:22 S"},
	{"IPv6: iptables-nft's -p stops at an Authentication Header, so this is not -p tcp (ip6tables-legacy would see tcp)", "eth0 tcp [2001:db8:114::7]:40002 > [2001:db8:100::1]:22 S ext=ah/7"},
	{"IPv6: the inside network is forwarded out", "wlan0 udp [2001:db8:2::10]:53000 > [2001:db8:113::53]:53 len=40"},
}

func init() {
	register(&command{
		name: "demo", args: "",
		summary: "A tour of gateway.rules (built in): the ten ideas of a popular iptables how-to, one packet each,\ntraced through the rules as the kernel would run them.",
		example: "  ipsift demo",
		run: func(args []string, stdout, stderr io.Writer) int {
			if len(args) > 0 {
				return usageError(stderr, "demo", fmt.Errorf("demo takes no arguments"))
			}
			res := load.Bytes("gateway.rules", examples.GatewayRules, load.Options{})
			if res.Diags.HasErrors() {
				printDiags(stderr, res.Diags, false)
				return exitProblems
			}
			fmt.Fprintln(stdout, "ipsift demo: the rules of examples/gateway.rules on its host")
			fmt.Fprintln(stdout, "(eth0 198.51.100.1/24 outside, wlan0 192.0.2.1/24 inside; admins in 203.0.113.0/24; 198.51.100.66 hostile)")
			var descs []packet.Desc
			for _, s := range demoSteps {
				d, err := packet.ParseShort(s.packet)
				if err != nil {
					fmt.Fprintf(stderr, "demo packet %q: %v\n", s.packet, err)
					return exitProblems
				}
				descs = append(descs, d)
			}
			for i, s := range demoSteps {
				fmt.Fprintf(stdout, "\n══ %s\n$ ipsift trace gateway.rules '%s'\n", s.caption, s.packet)
				if code := tracePackets(res.Rules, host.Default(), descs[i:i+1], traceOptions{quiet: true}, stdout, stderr); code != exitOK {
					return code
				}
			}
			if code := demoSequences(res.Rules, stdout, stderr); code != exitOK {
				return code
			}
			if code := demoIPv6(res.Rules, stdout, stderr); code != exitOK {
				return code
			}
			fmt.Fprintln(stdout, "\nTry your own: ipsift trace FILE 'eth0 tcp 203.0.113.7:40000 > 198.51.100.1:22 S'  (ipsift trace --help)")
			return exitOK
		},
	})
}

// demoSequences shows the ideas that need more than one packet, one line
// per packet: connection state, rate limits, load spreading.
func demoSequences(rs *rules.Ruleset, stdout, stderr io.Writer) int {
	seqs := []struct {
		caption string
		packets []string
	}{
		{"10: eight new web connections, spread over the four mirrors in turn", []string{
			"eth0 tcp 203.0.113.9:44000 > 198.51.100.1:80 S", "eth0 tcp 203.0.113.9:44001 > 198.51.100.1:80 S",
			"eth0 tcp 203.0.113.9:44002 > 198.51.100.1:80 S", "eth0 tcp 203.0.113.9:44003 > 198.51.100.1:80 S",
			"eth0 tcp 203.0.113.9:44004 > 198.51.100.1:80 S", "eth0 tcp 203.0.113.9:44005 > 198.51.100.1:80 S",
			"eth0 tcp 203.0.113.9:44006 > 198.51.100.1:80 S", "eth0 tcp 203.0.113.9:44007 > 198.51.100.1:80 S",
		}},
		{"3 and 5: the answer of the forwarded ssh host goes back un-NATed, as ESTABLISHED", []string{
			"eth0 tcp 203.0.113.9:43000 > 198.51.100.1:2222 S",
			"wlan0 tcp 192.0.2.50:22 > 203.0.113.9:43000 SA seq=5000 ack=1001",
			"eth0 tcp 203.0.113.9:43000 > 198.51.100.1:2222 A seq=1001 ack=5001",
		}},
		{"6: a burst of SYNs to the mail port: 4 pass (the burst), the rest are logged and dropped; after a second, one more passes", []string{
			"eth0 tcp 198.51.100.9:42000 > 198.51.100.1:25 S", "eth0 tcp 198.51.100.9:42001 > 198.51.100.1:25 S",
			"eth0 tcp 198.51.100.9:42002 > 198.51.100.1:25 S", "eth0 tcp 198.51.100.9:42003 > 198.51.100.1:25 S",
			"eth0 tcp 198.51.100.9:42004 > 198.51.100.1:25 S", "eth0 tcp 198.51.100.9:42005 > 198.51.100.1:25 S",
			"eth0 tcp 198.51.100.9:42006 > 198.51.100.1:25 S delay_ms=1000",
		}},
	}
	e, err := engine.New(rs, host.Default(), engine.Config{})
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitProblems
	}
	s := sim.New(e)
	n := 0
	for _, sq := range seqs {
		fmt.Fprintf(stdout, "\n══ %s\n", sq.caption)
		for _, ps := range sq.packets {
			d, err := packet.ParseShort(ps)
			if err != nil {
				fmt.Fprintf(stderr, "demo packet %q: %v\n", ps, err)
				return exitProblems
			}
			r, err := s.Run(n, d)
			n++
			if err != nil {
				fmt.Fprintln(stderr, err)
				return exitProblems
			}
			line := fmt.Sprintf("  %-52s → %s", ps, r.Verdict)
			for _, o := range r.Out {
				if !o.HostReply {
					line += fmt.Sprintf(", out %s to %s", o.If, o.Dst)
				}
			}
			if len(r.Hits) > 0 {
				// The filter table's decision says most about the idea.
				h := r.Hits[len(r.Hits)-1]
				for _, x := range r.Hits {
					if x.Table == "filter" {
						h = x
					}
				}
				if h.Policy {
					line += fmt.Sprintf("  (%s %s policy)", h.Table, h.Chain)
				} else {
					line += fmt.Sprintf("  (%s %s rule %d)", h.Table, h.Chain, h.Rule)
				}
			}
			fmt.Fprintln(stdout, line)
		}
	}
	return exitOK
}

// demoIPv6 traces the IPv6 packets of the tour through ipv6.rules, the
// host's ip6tables rules, beside gateway.rules for IPv4.
func demoIPv6(rs *rules.Ruleset, stdout, stderr io.Writer) int {
	res := load.Bytes("ipv6.rules", examples.IPv6Rules, load.Options{})
	if res.Diags.HasErrors() || res.Rules6 == nil {
		printDiags(stderr, res.Diags, false)
		return exitProblems
	}
	fmt.Fprintln(stdout, "\nipsift demo: the IPv6 rules of examples/ipv6.rules on the same host")
	fmt.Fprintln(stdout, "(eth0 2001:db8:100::1/64 outside, wlan0 2001:db8:2::1/64 inside; admins in 2001:db8:113::/64)")
	for _, st := range demoSteps6 {
		d, err := packet.ParseShort(st.packet)
		if err != nil {
			fmt.Fprintf(stderr, "demo packet %q: %v\n", st.packet, err)
			return exitProblems
		}
		fmt.Fprintf(stdout, "\n══ %s\n$ ipsift trace ipv6.rules '%s'\n", st.caption, st.packet)
		if code := tracePackets(rs, host.Default(), []packet.Desc{d}, traceOptions{quiet: true, rules6: res.Rules6}, stdout, stderr); code != exitOK {
			return code
		}
	}
	return exitOK
}
