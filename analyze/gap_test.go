package analyze

import (
	"testing"
)

// TestFamilyGap checks the comparison of the two families' INPUT and
// FORWARD: a port closed in IPv4 and open in IPv6 is a warning at the
// IPv4 rule (or the IPv6 one when IPv4 closes it by policy), the other
// way round a note, and symmetric rulesets get nothing.
func TestFamilyGap(t *testing.T) {
	for _, tc := range []struct {
		name   string
		v4, v6 string
		want   []finding
	}{
		{
			name: "IPv6 left open",
			v4: filter("DROP", nil,
				"-A INPUT -i lo -j ACCEPT",
				"-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
				"-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT"),
			v6: filter("ACCEPT", nil),
			want: []finding{
				warn(2, "IPv4 blocks new tcp connections to any port but 22 from every source (the INPUT policy DROP (v4:2)), but IPv6 accepts them from every source (the INPUT policy ACCEPT (v6:2)): the host is open over IPv6"),
				warn(2, "IPv4 blocks new udp connections to any port but 67:68,546:547 from every source"),
			},
		},
		{
			name: "a port restricted in IPv4 and open to all in IPv6",
			v4: filter("DROP", nil,
				"-A INPUT -s 192.0.2.0/24 -p tcp -m tcp --dport 22 -j ACCEPT",
				"-A INPUT -p tcp -m tcp --dport 22 -j DROP",
				"-A INPUT -p tcp -m tcp --dport 80 -j ACCEPT"),
			v6: filter("DROP", nil,
				"-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT",
				"-A INPUT -p tcp -m tcp --dport 80 -j ACCEPT"),
			want: []finding{
				warn(6, "IPv4 blocks new tcp connections to port 22 from other than 192.0.2.0/24 (INPUT rule 2 (v4:6) `-p tcp -m tcp --dport 22 -j DROP`), but IPv6 accepts them from every source (INPUT rule 1 (v6:5) `-p tcp -m tcp --dport 22 -j ACCEPT`)"),
			},
		},
		{
			// One finding per set of ports with the same sources and
			// rules, however the region arithmetic cut them.
			name: "the sources each port is restricted to",
			v4: filter("DROP", nil,
				"-A INPUT -s 198.51.100.0/24 -p tcp -m tcp --dport 22 -j ACCEPT",
				"-A INPUT -s 192.0.2.0/24 -p tcp -m tcp --dport 3306 -j ACCEPT",
				"-A INPUT -p tcp -m multiport --dports 80,443 -j ACCEPT"),
			v6: filter("DROP", nil, "-A INPUT -p tcp -j ACCEPT"),
			want: []finding{
				warn(5, "IPv4 blocks new tcp connections to any port but 22,80,443,3306 from every source (the INPUT policy DROP (v4:2)), but IPv6 accepts them from every source (INPUT rule 1 (v6:5) `-p tcp -j ACCEPT`)"),
				warn(5, "IPv4 blocks new tcp connections to port 22 from other than 198.51.100.0/24 (the INPUT policy DROP (v4:2))"),
				warn(5, "IPv4 blocks new tcp connections to port 3306 from other than 192.0.2.0/24 (the INPUT policy DROP (v4:2))"),
			},
		},
		{
			// A block list in IPv4 (bogons) that IPv6 lacks is a
			// difference, not an open port: a note.
			name: "an IPv4 block list",
			v4: filter("DROP", nil,
				"-A INPUT -s 10.0.0.0/8 -j DROP",
				"-A INPUT -p tcp -m tcp --dport 80 -j ACCEPT"),
			v6: filter("DROP", nil, "-A INPUT -p tcp -m tcp --dport 80 -j ACCEPT"),
			want: []finding{
				note(5, "IPv4 blocks new tcp connections to port 80 from 10.0.0.0/8 (INPUT rule 1 (v4:5) `-s 10.0.0.0/8 -j DROP`), but IPv6 accepts them from every source (INPUT rule 1 (v6:5) `-p tcp -m tcp --dport 80 -j ACCEPT`): the rules of the two families differ here"),
			},
		},
		{
			name: "a port blocked by a rule in IPv4 only, and one closed in IPv6 only",
			v4: filter("ACCEPT", nil,
				"-A INPUT -p udp -m udp --dport 161 -j DROP",
				"-A INPUT -p tcp -m tcp --dport 8080 -j ACCEPT"),
			v6: filter("ACCEPT", nil,
				"-A INPUT -p tcp -m tcp --dport 8080 -j REJECT"),
			want: []finding{
				warn(5, "IPv4 blocks new udp connections to port 161 from every source (INPUT rule 1 (v4:5) `-p udp -m udp --dport 161 -j DROP`), but IPv6 accepts them from every source (the INPUT policy ACCEPT (v6:2))"),
				note(6, "IPv6 blocks new tcp connections to port 8080 from every source (INPUT rule 1 (v6:5) `-p tcp -m tcp --dport 8080 -j REJECT --reject-with icmp6-port-unreachable`), but IPv4 accepts them from every source (INPUT rule 2 (v4:6) `-p tcp -m tcp --dport 8080 -j ACCEPT`): the rules of the two families differ"),
			},
		},
		{
			// ufw: IPv6's rules sit behind a drop of type 0 routing
			// headers, which plain packets never meet; DHCP and DHCPv6
			// exist in one family each.
			name: "ufw-like",
			v4: filter("DROP", []string{"ufw-before-input", "ufw-user-input"},
				"-A INPUT -j ufw-before-input",
				"-A INPUT -j ufw-user-input",
				"-A ufw-before-input -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
				"-A ufw-before-input -p udp -m udp --sport 67 --dport 68 -j ACCEPT",
				"-A ufw-user-input -s 192.0.2.0/24 -p tcp -m tcp --dport 22 -j ACCEPT"),
			v6: filter("DROP", []string{"ufw6-before-input", "ufw6-user-input"},
				"-A INPUT -j ufw6-before-input",
				"-A INPUT -j ufw6-user-input",
				"-A ufw6-before-input -m rt --rt-type 0 -j DROP",
				"-A ufw6-before-input -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
				"-A ufw6-before-input -s fe80::/10 -d fe80::/10 -p udp -m udp --sport 547 --dport 546 -j ACCEPT",
				"-A ufw6-user-input -p tcp -m tcp --dport 22 -j ACCEPT"),
			want: []finding{
				warn(12, "IPv4 blocks new tcp connections to port 22 from other than 192.0.2.0/24 (the INPUT policy DROP (v4:2)), but IPv6 accepts them from every source (ufw6-user-input rule 1 (v6:12) `-p tcp -m tcp --dport 22 -j ACCEPT`)"),
			},
		},
		{
			name: "interfaces and forwarding",
			v4: "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n" +
				"-A INPUT -i eth0 -p tcp -m tcp --dport 3306 -j DROP\n" +
				"-A FORWARD -i eth1 -o eth0 -j ACCEPT\nCOMMIT\n",
			v6: "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n" +
				"-A FORWARD -i eth1 -o eth0 -j ACCEPT\n-A FORWARD -i eth0 -o eth1 -p tcp -m tcp --dport 22 -j ACCEPT\nCOMMIT\n",
			want: []finding{
				warn(5, "IPv4 blocks new tcp connections to port 3306 arriving on eth0 from every source"),
				warn(6, "IPv4 blocks forwarded new tcp connections to port 22 arriving on eth0 leaving by eth1 from every source (the FORWARD policy DROP (v4:3)), but IPv6 accepts them from every source (FORWARD rule 2 (v6:6)"),
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkFindings(t, FamilyGap(load(t, "v4", tc.v4), load6(t, "v6", tc.v6, false)), tc.want)
		})
	}
}

// TestFamilyGapNone: rulesets written symmetrically, with each family's
// own addresses, ICMP and neighbour discovery, get no finding.
func TestFamilyGapNone(t *testing.T) {
	v4 := load(t, "v4", filter("DROP", []string{"svc"},
		"-A INPUT -i lo -j ACCEPT",
		"-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
		"-A INPUT -p icmp -m icmp --icmp-type 8 -j ACCEPT",
		"-A INPUT -j svc",
		"-A svc -s 192.0.2.0/24 -p tcp -m tcp --dport 22 -j ACCEPT",
		"-A svc -p tcp -m multiport --dports 80,443 -j ACCEPT",
		"-A svc -p udp -m udp --dport 53 -j ACCEPT"))
	v6 := load6(t, "v6", filter("DROP", []string{"svc"},
		"-A INPUT -i lo -j ACCEPT",
		"-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
		"-A INPUT -p ipv6-icmp -j ACCEPT",
		"-A INPUT -j svc",
		"-A svc -s 2001:db8::/32 -p tcp -m tcp --dport 22 -j ACCEPT",
		"-A svc -p tcp -m multiport --dports 80,443 -j ACCEPT",
		"-A svc -p udp -m udp --dport 53 -j ACCEPT"), false)
	checkFindings(t, FamilyGap(v4, v6), nil)
	// Limits, and rules the model cannot read, decide nothing surely.
	v4 = load(t, "v4", filter("DROP", nil, "-A INPUT -p tcp -m tcp --dport 22 -m limit --limit 3/min -j ACCEPT"))
	v6 = load6(t, "v6", filter("DROP", nil, "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT"), false)
	checkFindings(t, FamilyGap(v4, v6), nil)
}
