package analyze

import (
	"strings"
	"testing"

	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/rules"
)

// TestCutOff checks the ICMPv6 cut-off findings: what is lost, why, by
// which rule or policy, and that the rules offered let it through (the
// finding is gone once they are added).
func TestCutOff(t *testing.T) {
	for _, tc := range []struct {
		name string
		text string
		want []finding // the first message part and the fix lines
		fix  []string
	}{
		{
			name: "a stateful ruleset that forgets neighbour discovery",
			text: filter("DROP", nil,
				"-A INPUT -i lo -j ACCEPT",
				"-A INPUT -m conntrack --ctstate NEW,RELATED,ESTABLISHED -j ACCEPT"),
			want: []finding{
				warn(2, "ICMPv6 that the host needs is dropped in INPUT: neighbour solicitation (type 135), neighbour advertisement (type 136), by the INPUT policy DROP (t:2); without neighbour discovery the host cannot reach its neighbours: it loses IPv6 on those links; they are UNTRACKED to conntrack, so INPUT rule 2 (t:6) `-m conntrack --ctstate NEW,RELATED,ESTABLISHED -j ACCEPT` does not accept them"),
				note(2, "router advertisement (type 134), by the INPUT policy DROP (t:2)"),
			},
			fix: []string{
				"ip6tables -A INPUT -p ipv6-icmp --icmpv6-type neighbour-solicitation -m hl --hl-eq 255 -j ACCEPT",
				"ip6tables -A INPUT -p ipv6-icmp --icmpv6-type neighbour-advertisement -m hl --hl-eq 255 -j ACCEPT",
				"ip6tables -A INPUT -p ipv6-icmp --icmpv6-type router-advertisement -m hl --hl-eq 255 -j ACCEPT",
			},
		},
		{
			name: "a stateless ruleset loses the errors too",
			text: filter("DROP", nil,
				"-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT",
				"-A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type 128 -j ACCEPT",
				"-A INPUT -j DROP"),
			want: []finding{
				warn(7, "neighbour solicitation (type 135), neighbour advertisement (type 136), destination unreachable (type 1), packet too big (type 2), time exceeded (type 3 code 0), parameter problem (unknown header) (type 4 code 1), parameter problem (unknown option) (type 4 code 2), by INPUT rule 3 (t:7) `-j DROP`"),
				note(7, "router advertisement (type 134), by INPUT rule 3 (t:7) `-j DROP`"),
			},
			fix: []string{
				"ip6tables -I INPUT 3 -p ipv6-icmp --icmpv6-type neighbour-solicitation -m hl --hl-eq 255 -j ACCEPT",
				"ip6tables -I INPUT 3 -p ipv6-icmp --icmpv6-type packet-too-big -j ACCEPT",
			},
		},
		{
			name: "dropped in a user chain, and in OUTPUT",
			text: filter("ACCEPT", []string{"in"},
				"-A INPUT -j in",
				"-A OUTPUT -p ipv6-icmp -j DROP",
				"-A OUTPUT -j ACCEPT",
				"-A in -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
				"-A in -p tcp -m tcp --dport 22 -j ACCEPT",
				"-A in -j DROP"),
			want: []finding{
				warn(7, "ICMPv6 that the host needs is dropped in OUTPUT: neighbour solicitation (type 135), neighbour advertisement (type 136), by OUTPUT rule 1 (t:7) `-p ipv6-icmp -j DROP`"),
				note(7, "router solicitation (type 133)"),
				warn(11, "ICMPv6 that the host needs is dropped in INPUT: neighbour solicitation (type 135), neighbour advertisement (type 136), by in rule 3 (t:11) `-j DROP`"),
				note(11, "router advertisement (type 134), echo request (type 128), by in rule 3"),
			},
			fix: []string{
				"ip6tables -I INPUT 1 -p ipv6-icmp --icmpv6-type neighbour-solicitation -m hl --hl-eq 255 -j ACCEPT",
				"ip6tables -I OUTPUT 1 -p ipv6-icmp --icmpv6-type neighbour-solicitation -j ACCEPT",
			},
		},
		{
			// A drop of packets with a type 0 routing header (ufw's)
			// says nothing about packets without extension headers.
			name: "behind an extension header match",
			text: filter("DROP", []string{"before"},
				"-A INPUT -j before",
				"-A before -m rt --rt-type 0 -j DROP",
				"-A before -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
				"-A before -p ipv6-icmp -m icmp6 --icmpv6-type 128 -j ACCEPT"),
			want: []finding{
				warn(2, "neighbour solicitation (type 135), neighbour advertisement (type 136), by the INPUT policy DROP (t:2)"),
				note(2, "router advertisement (type 134), by the INPUT policy DROP (t:2)"),
			},
			fix: []string{"ip6tables -A INPUT -p ipv6-icmp --icmpv6-type neighbour-solicitation -m hl --hl-eq 255 -j ACCEPT"},
		},
		{
			name: "forwarded errors",
			text: "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n" +
				"-A FORWARD -m conntrack --ctstate ESTABLISHED -j ACCEPT\n" +
				"-A FORWARD -i eth1 -o eth0 -j ACCEPT\nCOMMIT\n",
			want: []finding{
				warn(3, "ICMPv6 that the host needs is dropped in FORWARD, arriving on eth0 or other interfaces: destination unreachable (type 1), packet too big (type 2), time exceeded (type 3 code 0), parameter problem (unknown header) (type 4 code 1), parameter problem (unknown option) (type 4 code 2), by the FORWARD policy DROP (t:3); RFC 4890 says they must not be dropped"),
			},
			fix: []string{"ip6tables -A FORWARD -p ipv6-icmp --icmpv6-type packet-too-big -j ACCEPT"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs := load6(t, "t", tc.text, false)
			ds := CutOff(rs)
			checkFindings(t, ds, tc.want)
			var all string
			for _, d := range ds {
				all += d.Msg
			}
			for _, f := range tc.fix {
				if !strings.Contains(all, "\n    "+f+"\n") && !strings.HasSuffix(all, "\n    "+f) && !strings.Contains(all, "\n    "+f) {
					t.Errorf("no fix line %q in\n%s", f, all)
				}
			}
			// Adding every rule offered clears every finding.
			fixed := rs.Clone()
			for _, d := range ds {
				_, lines, _ := strings.Cut(d.Msg, "add:\n    ")
				for _, l := range strings.Split(lines, "\n    ") {
					c, err := rules.ParseCommand(rules.Words(strings.Fields(l)[1:]), rules.ParseOptions{Family: ext.IPv6})
					if err == nil {
						err = fixed.Apply(c)
					}
					if err != nil {
						t.Fatalf("%s: %v", l, err)
					}
				}
			}
			if ds := CutOff(fixed); len(ds) > 0 {
				t.Errorf("still cut off after the fix: %v", ds)
			}
		})
	}
}

// TestCutOffFine: rulesets that let neighbour discovery and the errors
// through as ufw's before6.rules does, or close IPv6 on purpose, get no
// finding.
func TestCutOffFine(t *testing.T) {
	for name, text := range map[string]string{
		"ufw-like": filter("DROP", []string{"ufw6-before-input"},
			"-A INPUT -j ufw6-before-input",
			"-A ufw6-before-input -i lo -j ACCEPT",
			"-A ufw6-before-input -m rt --rt-type 0 -j DROP",
			"-A ufw6-before-input -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
			"-A ufw6-before-input -m conntrack --ctstate INVALID -j DROP",
			"-A ufw6-before-input -p ipv6-icmp -m icmp6 --icmpv6-type 1 -j ACCEPT",
			"-A ufw6-before-input -p ipv6-icmp -m icmp6 --icmpv6-type 2 -j ACCEPT",
			"-A ufw6-before-input -p ipv6-icmp -m icmp6 --icmpv6-type 3 -j ACCEPT",
			"-A ufw6-before-input -p ipv6-icmp -m icmp6 --icmpv6-type 4 -j ACCEPT",
			"-A ufw6-before-input -p ipv6-icmp -m icmp6 --icmpv6-type 128 -j ACCEPT",
			"-A ufw6-before-input -p ipv6-icmp -m icmp6 --icmpv6-type 133 -m hl --hl-eq 255 -j ACCEPT",
			"-A ufw6-before-input -p ipv6-icmp -m icmp6 --icmpv6-type 134 -m hl --hl-eq 255 -j ACCEPT",
			"-A ufw6-before-input -p ipv6-icmp -m icmp6 --icmpv6-type 135 -m hl --hl-eq 255 -j ACCEPT",
			"-A ufw6-before-input -p ipv6-icmp -m icmp6 --icmpv6-type 136 -m hl --hl-eq 255 -j ACCEPT",
			"-A ufw6-before-input -s fe80::/10 -d fe80::/10 -p udp -m udp --sport 547 --dport 546 -j ACCEPT",
			"-A ufw6-before-input -p tcp -m tcp --dport 22 -j ACCEPT"),
		"link-local neighbour discovery only": filter("DROP", nil,
			"-A INPUT -s fe80::/64 -p ipv6-icmp -j ACCEPT",
			"-A INPUT -p ipv6-icmp -m conntrack --ctstate RELATED -j ACCEPT",
			"-A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type 128 -j ACCEPT",
			"-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT"),
		"IPv6 closed on purpose": filter("DROP", nil, "-A INPUT -j DROP"),
		"all ICMPv6 accepted first": filter("DROP", nil,
			"-A INPUT -p ipv6-icmp -j ACCEPT",
			"-A INPUT -m conntrack --ctstate ESTABLISHED -j ACCEPT"),
		// A limit may or may not let a packet through: not surely dropped.
		"rate-limited neighbour discovery": filter("DROP", nil,
			"-A INPUT -p ipv6-icmp -m limit --limit 10/sec -j ACCEPT",
			"-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT"),
	} {
		t.Run(name, func(t *testing.T) {
			checkFindings(t, CutOff(load6(t, "t", text, false)), nil)
		})
	}
	// An IPv4 ruleset is not IPv6's business.
	if ds := CutOff(load(t, "t", filter("DROP", nil, "-A INPUT -p tcp -j ACCEPT"))); len(ds) > 0 {
		t.Errorf("IPv4: %v", ds)
	}
}
