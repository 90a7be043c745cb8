package diff

import (
	"strings"
	"testing"

	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/internal/kerneldiff"
	"github.com/ipsift/ipsift/load"
	"github.com/ipsift/ipsift/rules"
)

func parse(t *testing.T, text string) *rules.Ruleset {
	t.Helper()
	res := load.Bytes("test.rules", []byte(text), load.Options{})
	if res.Diags.HasErrors() {
		t.Fatalf("rules: %v\n%s", res.Diags.Err(), text)
	}
	if res.Rules6 != nil && len(res.Rules.Tables) == 0 {
		return res.Rules6
	}
	return res.Rules
}

func filter(policy string, lines ...string) string {
	return "*filter\n:INPUT " + policy + " [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n" + strings.Join(lines, "\n") + "\nCOMMIT\n"
}

// compare runs diff and checks what every answer must hold: no
// unconfirmed region, every certain region's witness reproduced.
func compare(t *testing.T, old, new string, o Options) *Result {
	t.Helper()
	res, err := Compare(parse(t, old), parse(t, new), o)
	if err != nil {
		t.Fatal(err)
	}
	if res.GaveUp != nil {
		t.Fatalf("gave up: %v", res.GaveUp)
	}
	for _, g := range res.Unconfirmed {
		t.Errorf("unconfirmed region %v → %v %v: witness %+v", g.Old, g.New, g.Classes, g.Witness)
	}
	for _, g := range res.Regions {
		if !g.May && (g.Witness == nil || !g.Witness.Reproduced) {
			t.Errorf("region %v → %v: no reproduced witness", g.Old, g.New)
		}
	}
	return res
}

// TestKnownEquivalentRewrites: which rule decides is not part of the
// effect.
func TestKnownEquivalentRewrites(t *testing.T) {
	for _, c := range []struct{ name, old, new string }{
		{"reordered rules that do not overlap",
			filter("DROP", "-A INPUT -p tcp --dport 22 -j ACCEPT", "-A INPUT -p udp --dport 53 -j ACCEPT", "-A INPUT -s 192.0.2.0/24 -p icmp -j REJECT"),
			filter("DROP", "-A INPUT -s 192.0.2.0/24 -p icmp -j REJECT", "-A INPUT -p udp --dport 53 -j ACCEPT", "-A INPUT -p tcp --dport 22 -j ACCEPT")},
		{"renamed user chain",
			filter("DROP", ":SSH - [0:0]", "-A INPUT -p tcp -j SSH", "-A SSH -s 203.0.113.0/24 -p tcp --dport 22 -j ACCEPT"),
			filter("DROP", ":ADMIN - [0:0]", "-A INPUT -p tcp -j ADMIN", "-A ADMIN -s 203.0.113.0/24 -p tcp --dport 22 -j ACCEPT")},
		{"added user chain",
			filter("DROP", "-A INPUT -s 203.0.113.0/24 -p tcp --dport 22 -j ACCEPT"),
			filter("DROP", ":ADMIN - [0:0]", ":UNUSED - [0:0]", "-A INPUT -s 203.0.113.0/24 -j ADMIN", "-A ADMIN -p tcp --dport 22 -j ACCEPT", "-A UNUSED -j ACCEPT")},
		{"split rule",
			filter("DROP", "-A INPUT -p tcp --dport 20:29 -j ACCEPT"),
			filter("DROP", "-A INPUT -p tcp --dport 20:24 -j ACCEPT", "-A INPUT -p tcp --dport 25:29 -j ACCEPT")},
		{"state for conntrack",
			filter("DROP", "-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT", "-A INPUT -m conntrack --ctstate INVALID -j DROP"),
			filter("DROP", "-A INPUT -m state --state ESTABLISHED,RELATED -j ACCEPT", "-A INPUT -m state --state INVALID -j DROP")},
		{"a /24 for two /25s",
			filter("ACCEPT", "-A INPUT -s 198.51.100.0/24 -j DROP"),
			filter("ACCEPT", "-A INPUT -s 198.51.100.128/25 -j DROP", "-A INPUT -s 198.51.100.0/25 -j DROP")},
		{"goto for jump and RETURN",
			filter("DROP", ":W - [0:0]", "-A INPUT -i wlan0 -g W", "-A INPUT -p tcp --dport 80 -j ACCEPT", "-A W -p udp -j ACCEPT"),
			filter("DROP", ":W - [0:0]", "-A INPUT -i wlan0 -j W", "-A INPUT -i wlan0 -j DROP", "-A INPUT -p tcp --dport 80 -j ACCEPT", "-A W -p udp -j ACCEPT", "-A W -j RETURN")},
		{"multiport for a list",
			filter("DROP", "-A INPUT -p tcp -m multiport --dports 22,80,443,8000:8080 -j ACCEPT"),
			filter("DROP", "-A INPUT -p tcp --dport 443 -j ACCEPT", "-A INPUT -p tcp --dport 22 -j ACCEPT", "-A INPUT -p tcp --dport 8000:8080 -j ACCEPT", "-A INPUT -p tcp --dport 80 -j ACCEPT")},
		{"masked mark, as kube-proxy writes it",
			"*mangle\n-A PREROUTING -s 192.0.2.0/24 -j MARK --set-xmark 0x4000/0x4000\nCOMMIT\n" + filter("ACCEPT", "-A INPUT -m mark --mark 0x4000/0x4000 -j DROP"),
			"*mangle\n-A PREROUTING -s 192.0.2.0/25 -j MARK --set-xmark 0x4000/0x4000\n-A PREROUTING -s 192.0.2.128/25 -j MARK --or-mark 0x4000\nCOMMIT\n" + filter("ACCEPT", "-A INPUT -m mark ! --mark 0x0/0x4000 -j DROP")},
		{"IPv6: a /64 for two /65s",
			filter("ACCEPT", "-A INPUT -s 2001:db8:100::/64 -j DROP"),
			filter("ACCEPT", "-A INPUT -s 2001:db8:100:0:8000::/65 -j DROP", "-A INPUT -s 2001:db8:100::/65 -j DROP")},
		{"IPv6: multiport for a list, state for conntrack",
			filter("DROP", "-A INPUT -s 2001:db8::/32 -p ipv6-icmp -j ACCEPT", "-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT", "-A INPUT -p tcp -m multiport --dports 22,443 -j ACCEPT"),
			filter("DROP", "-A INPUT -s 2001:db8::/32 -p ipv6-icmp -j ACCEPT", "-A INPUT -m state --state ESTABLISHED,RELATED -j ACCEPT", "-A INPUT -p tcp --dport 443 -j ACCEPT", "-A INPUT -p tcp --dport 22 -j ACCEPT")},
		{"the same limit at the same place",
			filter("DROP", "-A INPUT -p icmp -m limit --limit 1/s -j ACCEPT", "-A INPUT -p tcp --dport 22 -j ACCEPT"),
			filter("DROP", "-A INPUT -p tcp --dport 22 -j ACCEPT", "-A INPUT -p icmp -m limit --limit 1/s -j ACCEPT")},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := compare(t, c.old, c.new, Options{})
			if strings.HasPrefix(c.name, "IPv6") != (res.Family == ext.IPv6) {
				t.Fatalf("compared as %v", res.Family)
			}
			if !res.Equivalent() {
				for _, g := range res.Regions {
					t.Errorf("differs: OLD %v NEW %v: %v (witness %+v)", g.Old, g.New, g.Classes, g.Witness)
				}
				return
			}
			// And the engine agrees: packets of every leaf, at the
			// values the rules name, and a harness sequence.
			if st := engineAgrees(t, c.old, c.new); st.packets < 50 {
				t.Errorf("only %d packets run", st.packets)
			}
		})
	}
}

// TestDifferences: each change is found, described and witnessed.
func TestDifferences(t *testing.T) {
	for _, c := range []struct {
		name, old, new string
		o              Options
		want           []string // in the first region's text
		may            bool
	}{
		{"ssh narrowed",
			filter("DROP", "-A INPUT -p tcp --dport 22 -j ACCEPT"),
			filter("DROP", "-A INPUT -s 203.0.113.0/24 -p tcp --dport 22 -j ACCEPT"),
			Options{}, []string{"from ! 203.0.113.0/24", "dport 22", "to the host"}, false},
		{"a masked mark",
			"*mangle\n-A PREROUTING -i wlan0 -j MARK --set-xmark 0x6000/0x6000\nCOMMIT\n" + filter("ACCEPT", "-A INPUT -m mark --mark 0x4000/0x4000 -j DROP"),
			"*mangle\n-A PREROUTING -i wlan0 -j MARK --set-xmark 0x6000/0x6000\nCOMMIT\n" + filter("ACCEPT", "-A INPUT -m mark --mark 0x4000/0x6000 -j DROP"),
			Options{}, []string{"mark 0x6000/0x6000"}, false},
		{"DNAT to another port",
			"*nat\n-A PREROUTING -i eth0 -p tcp --dport 80 -j DNAT --to-destination 192.0.2.10:8080\nCOMMIT\n" + filter("ACCEPT", "-A FORWARD -j ACCEPT"),
			"*nat\n-A PREROUTING -i eth0 -p tcp --dport 80 -j DNAT --to-destination 192.0.2.10:8081\nCOMMIT\n" + filter("ACCEPT", "-A FORWARD -j ACCEPT"),
			Options{}, []string{"in eth0", "dport 80"}, false},
		{"a log record",
			filter("ACCEPT", "-A INPUT -p udp -j LOG --log-prefix \"udp \""),
			filter("ACCEPT"),
			Options{}, []string{"udp"}, false},
		{"a limit that moved behind another rule",
			filter("DROP", "-A INPUT -p icmp -m limit --limit 1/s -j ACCEPT"),
			filter("DROP", "-A INPUT -s 192.0.2.0/24 -j DROP", "-A INPUT -p icmp -m limit --limit 1/s -j ACCEPT"),
			Options{}, []string{"icmp"}, true},
		{"the same log record of another packet",
			"*mangle\n-A FORWARD -j TTL --ttl-set 10\n-A FORWARD -j LOG --log-prefix fwd\n-A POSTROUTING -j TTL --ttl-set 64\nCOMMIT\n" + filter("ACCEPT", "-A FORWARD -j ACCEPT"),
			"*mangle\n-A FORWARD -j LOG --log-prefix fwd\n-A POSTROUTING -j TTL --ttl-set 64\nCOMMIT\n" + filter("ACCEPT", "-A FORWARD -j ACCEPT"),
			Options{}, []string{"ttl"}, false},
		{"a different limit",
			filter("DROP", "-A INPUT -p icmp -m limit --limit 1/s -j ACCEPT"),
			filter("DROP", "-A INPUT -p icmp -m limit --limit 2/s -j ACCEPT"),
			Options{}, []string{"icmp"}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := compare(t, c.old, c.new, c.o)
			if res.Equivalent() || len(res.Regions) == 0 {
				t.Fatal("equivalent")
			}
			g := res.Regions[0]
			text := strings.Join(g.Classes, " | ")
			for _, w := range c.want {
				if !strings.Contains(text, w) {
					t.Errorf("first region %q lacks %q", text, w)
				}
			}
			if g.May != c.may {
				t.Errorf("may differ = %v, want %v (because %v)", g.May, c.may, g.Because)
			}
		})
	}
}

func TestIgnore(t *testing.T) {
	old := "*mangle\n-A PREROUTING -p udp -j MARK --set-mark 7\nCOMMIT\n" + filter("ACCEPT", "-A INPUT -p udp -j LOG")
	new := filter("ACCEPT")
	if res := compare(t, old, new, Options{}); res.Equivalent() {
		t.Fatal("a mark and a log record are differences")
	}
	if res := compare(t, old, new, Options{IgnoreLog: true}); res.Equivalent() {
		t.Fatal("a mark is a difference with --ignore log")
	}
	if res := compare(t, old, new, Options{IgnoreLog: true, IgnoreMark: true}); !res.Equivalent() {
		t.Fatalf("--ignore log,mark: %d regions differ", len(res.Regions))
	}
}

func TestFocusAndMatrix(t *testing.T) {
	old := filter("DROP", "-A INPUT -p tcp --dport 22 -j ACCEPT", "-A INPUT -p tcp --dport 80 -j ACCEPT")
	new := filter("DROP", "-A INPUT -s 203.0.113.0/24 -p tcp --dport 22 -j ACCEPT", "-A INPUT -p tcp --dport 80 -j ACCEPT")
	res := compare(t, old, new, Options{Focus: &Focus{Proto: 17, Port: -1, SrcPort: -1, DstPort: -1}})
	if !res.Equivalent() {
		t.Fatal("nothing changed for UDP")
	}
	res = compare(t, old, new, Options{Matrix: true})
	if len(res.Matrix) == 0 {
		t.Fatal("no service matrix row changed")
	}
	row := res.Matrix[0]
	if row.Port != 22 || row.Old != "all" || row.New != "from 203.0.113.0/24" {
		t.Fatalf("matrix row %+v", row)
	}
}

func TestGiveUp(t *testing.T) {
	old := filter("DROP", "-A INPUT -p tcp --dport 22 -j ACCEPT")
	res, err := Compare(parse(t, old), parse(t, filter("DROP")), Options{MaxNodes: 500})
	if err != nil {
		t.Fatal(err)
	}
	if res.GaveUp == nil || res.Equivalent() {
		t.Fatalf("a budget of 500 nodes: gave up %v, equivalent %v", res.GaveUp, res.Equivalent())
	}
}

func TestIPv6(t *testing.T) {
	old := "*filter\n:INPUT DROP [0:0]\n-A INPUT -p ipv6-icmp -j ACCEPT\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n"
	new := "*filter\n:INPUT DROP [0:0]\n-A INPUT -p ipv6-icmp -j ACCEPT\n-A INPUT -s 2001:db8:3::/48 -p tcp --dport 22 -j ACCEPT\nCOMMIT\n"
	r6 := func(text string) *rules.Ruleset {
		res := load.Bytes("test.rules", []byte(text), load.Options{Family: 2})
		if res.Diags.HasErrors() {
			t.Fatal(res.Diags.Err())
		}
		return res.Rules6
	}
	res, err := Compare(r6(old), r6(old), Options{})
	if err != nil || !res.Equivalent() {
		t.Fatalf("same IPv6 rules: %v %+v", err, res)
	}
	res, err = Compare(r6(old), r6(new), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Equivalent() || len(res.Unconfirmed) > 0 {
		t.Fatalf("IPv6: equivalent %v, unconfirmed %d", res.Equivalent(), len(res.Unconfirmed))
	}
	if !strings.Contains(strings.Join(res.Regions[0].Classes, " "), "2001:db8:3::/48") {
		t.Errorf("classes %v", res.Regions[0].Classes)
	}
}

// TestMaxRegions: regions past MaxRegions are neither described nor
// checked, but still make the answer "different".
func TestMaxRegions(t *testing.T) {
	old := filter("DROP", "-A INPUT -p tcp --dport 22 -j ACCEPT", "-A INPUT -p udp --dport 53 -j ACCEPT")
	all := compare(t, old, filter("DROP"), Options{})
	if len(all.Regions) < 2 || all.Unchecked != 0 {
		t.Fatalf("want at least 2 checked regions, got %d (unchecked %d)", len(all.Regions), all.Unchecked)
	}
	res := compare(t, old, filter("DROP"), Options{MaxRegions: 1})
	if len(res.Regions) != 1 || res.Unchecked != len(all.Regions)-1 {
		t.Fatalf("--max 1: %d regions, %d unchecked; want 1 and %d", len(res.Regions), res.Unchecked, len(all.Regions)-1)
	}
	if res.Equivalent() {
		t.Fatal("unchecked regions must not make the answer equivalent")
	}
}

// TestModeledMatches: the stateless matches the model reads exactly
// (ecn, helper, conntrack's --ctproto, --ctorigsrc and --ctorigdst for
// packets of the original direction) are not reported as unknown, and
// what diff says of them holds in the engine; so does a REJECT that
// answers nothing (an ICMP error, a broadcast), which is a DROP.
func TestModeledMatches(t *testing.T) {
	for _, c := range []struct {
		name, old, new string
		equivalent     bool
		opaque         string // allowed in Opaque ("" none)
	}{
		{"ecn ece for cwr",
			filter("ACCEPT", "-A INPUT -p tcp -m ecn --ecn-tcp-ece -j DROP"),
			filter("ACCEPT", "-A INPUT -p tcp -m ecn --ecn-tcp-cwr -j DROP"), false, ""},
		{"ecn ect as tos",
			filter("ACCEPT", "-A INPUT -m ecn --ecn-ip-ect 3 -j DROP"),
			filter("ACCEPT", "-A INPUT -m tos --tos 0x3/0x3 -j DROP"), true, ""},
		{"ecn ect changed",
			filter("ACCEPT", "-A INPUT -m ecn --ecn-ip-ect 1 -j DROP"),
			filter("ACCEPT", "-A INPUT -m ecn ! --ecn-ip-ect 2 -j DROP"), false, ""},
		{"helper never matches",
			filter("ACCEPT", "-A INPUT -m helper --helper ftp -j DROP"),
			filter("ACCEPT"), true, ""},
		{"ctproto for -p",
			filter("DROP", "-A INPUT -m conntrack --ctstate NEW,ESTABLISHED -m conntrack --ctproto 6 -j ACCEPT"),
			filter("DROP", "-A INPUT -p tcp -m conntrack --ctstate NEW,ESTABLISHED -j ACCEPT"), true, "related"},
		{"ctproto of related packets",
			filter("DROP", "-A INPUT -m conntrack --ctstate NEW,ESTABLISHED,RELATED -m conntrack --ctproto 17 -j ACCEPT"),
			filter("DROP", "-A INPUT -p udp -m conntrack --ctstate NEW,ESTABLISHED -j ACCEPT"), false, "related"},
		{"ctorigsrc for -s, new connections",
			filter("DROP", "-A INPUT -m conntrack --ctstate NEW --ctorigsrc 203.0.113.0/24 -j ACCEPT"),
			filter("DROP", "-A INPUT -s 203.0.113.0/24 -m conntrack --ctstate NEW -j ACCEPT"), false, "NAT"},
		{"a REJECT of ICMP errors answers nothing",
			filter("ACCEPT", "-A INPUT -p icmp --icmp-type destination-unreachable -j REJECT"),
			filter("ACCEPT", "-A INPUT -p icmp --icmp-type destination-unreachable -j DROP"), true, ""},
		{"a REJECT of broadcasts answers nothing",
			filter("ACCEPT", "-A INPUT -d 198.51.100.255 -p udp -j REJECT", "-A INPUT -d 255.255.255.255 -p tcp -j REJECT --reject-with tcp-reset"),
			filter("ACCEPT", "-A INPUT -d 198.51.100.255 -p udp -j DROP", "-A INPUT -d 255.255.255.255 -p tcp -j DROP"), true, ""},
		{"a REJECT of others answers",
			filter("ACCEPT", "-A INPUT -d 198.51.100.1 -p udp -j REJECT"),
			filter("ACCEPT", "-A INPUT -d 198.51.100.1 -p udp -j DROP"), false, ""},
		{"ctorigdst moved",
			filter("DROP", "-A INPUT -m conntrack --ctstate NEW --ctorigdst 198.51.100.1 -j ACCEPT"),
			filter("DROP", "-A INPUT -m conntrack --ctstate NEW --ctorigdst 198.51.100.2 -j ACCEPT"), false, "NAT"},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := compare(t, c.old, c.new, Options{})
			if res.Equivalent() != c.equivalent {
				t.Errorf("equivalent %v, want %v (%d regions)", res.Equivalent(), c.equivalent, len(res.Regions))
			}
			for _, o := range res.Opaque {
				if c.opaque == "" || !strings.Contains(o, c.opaque) {
					t.Errorf("read as unknown: %s", o)
				}
			}
			if !res.Equivalent() {
				return
			}
			engineAgrees(t, c.old, c.new)
		})
	}
}

// harnessPackets is a packet sequence of the kernel harness for a
// family.
func harnessPackets(f ext.Family) (string, []kerneldiff.Packet) {
	if f == ext.IPv6 {
		return kerneldiff.Generate6(7, 3, 60)
	}
	return kerneldiff.Generate(7, 3, 60)
}

// TestInvalidWitness: a difference only INVALID packets without a
// connection show is witnessed: an arriving packet with a wrong
// checksum, a UDP packet the host sends with a UDP length of 7.
func TestInvalidWitness(t *testing.T) {
	res := compare(t, filter("DROP", "-A INPUT -m conntrack --ctstate NEW,ESTABLISHED -p udp -j ACCEPT"), filter("DROP", "-A INPUT -p udp -j ACCEPT"), Options{})
	if len(res.Regions) != 2 {
		t.Fatalf("%d regions, want 2 (arriving, and sent by the host to itself)", len(res.Regions))
	}
	for _, g := range res.Regions {
		if g.Witness == nil || !g.Witness.Reproduced || !g.Witness.BadChecksum {
			t.Errorf("region %v: witness %+v", g.Classes, g.Witness)
		}
	}
}

// engineAgrees puts an "equivalent" to the engine (refute: a harness
// sequence of the family and packets of every leaf) and returns what it
// ran.
func engineAgrees(t *testing.T, old, new string) harnessStats {
	t.Helper()
	a, b := parse(t, old), parse(t, new)
	_, cmp, err := compareRuns(a, b, Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, pkts := harnessPackets(a.Family)
	var st harnessStats
	if d := cmp.refute(t, a, b, harnessPair{old: old, new: new, pkts: pkts}, &st); d != "" {
		t.Errorf("equivalent, but %s", d)
	}
	return st
}
