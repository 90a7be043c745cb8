package analyze

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/rules"
)

// load6 reads an ip6tables-restore text with the real parser.
func load6(t *testing.T, file, text string, legacy bool) *rules.Ruleset {
	t.Helper()
	rs := rules.New()
	rs.Family, rs.Legacy = ext.IPv6, legacy
	if ds, err := rs.Restore(strings.NewReader(text), rules.RestoreOptions{File: file, Legacy: legacy}); err != nil {
		t.Fatalf("restore: %v", ds)
	}
	return rs
}

// TestLint6 checks the shadowing and limit analysis over ip6tables
// rulesets: 128-bit prefixes, negations, ranges, the ICMPv6 and hop
// limit matches, and -p as ip6_tables tests it.
func TestLint6(t *testing.T) {
	for _, tc := range []struct {
		name   string
		text   string
		legacy bool
		want   []finding
	}{
		{
			name: "a longer prefix inside a shorter one",
			text: filter("ACCEPT", nil,
				"-A INPUT -s 2001:db8::/32 -j DROP",
				"-A INPUT -s 2001:db8:1::/48 -p tcp -j ACCEPT",
				"-A INPUT -s 2001:db9::/48 -j ACCEPT",
				"-A INPUT -d 2001:db8::1/128 -j DROP",
				"-A INPUT -d 2001:db8::1 -j DROP"),
			want: []finding{
				warn(6, "already dropped by INPUT rule 1 (t:5) `-s 2001:db8::/32 -j DROP`"),
				warn(9, "already dropped by INPUT rule 4 (t:8) `-d 2001:db8::1/128 -j DROP`"),
			},
		},
		{
			name: "a wider prefix after a narrower one is not shadowed",
			text: filter("ACCEPT", nil,
				"-A INPUT -s 2001:db8:1::/48 -j DROP",
				"-A INPUT -s 2001:db8::/32 -j DROP",
				"-A INPUT -s 2001:db8:0:0:8000::/65 -j ACCEPT",
				"-A INPUT -s 2001:db8::/64 -j ACCEPT"),
			want: []finding{
				warn(7, "already dropped by INPUT rule 2 (t:6) `-s 2001:db8::/32 -j DROP`"),
				warn(8, "already dropped by INPUT rule 2"),
			},
		},
		{
			name: "negated prefixes",
			text: filter("ACCEPT", nil,
				"-A INPUT ! -s 2001:db8::/32 -j DROP",
				"-A INPUT -s 2001:db9::1 -j ACCEPT",
				"-A INPUT -s 2001:db8::5 -j ACCEPT",
				"-A INPUT ! -d fe80::/10 -s 2001:db8::/32 -j DROP",
				"-A INPUT -d 2001:db8::9 -j ACCEPT",
				"-A INPUT -d fe80::1 -j ACCEPT"),
			want: []finding{
				warn(6, "already dropped by INPUT rule 1 (t:5) `! -s 2001:db8::/32 -j DROP`"),
				warn(9, "dropped by INPUT rule 4 (t:8) `-s 2001:db8::/32 ! -d fe80::/10 -j DROP`"),
			},
		},
		{
			name: "iprange with IPv6 ends",
			text: filter("ACCEPT", nil,
				"-A INPUT -m iprange --src-range 2001:db8::1-2001:db8::ff -j DROP",
				"-A INPUT -s 2001:db8::10/124 -j ACCEPT",
				"-A INPUT -s 2001:db8::100/120 -j ACCEPT",
				"-A INPUT -m iprange ! --dst-range 2001:db8::-2001:db8::ffff -j DROP",
				"-A INPUT -d 2001:db8::1:0 -j ACCEPT",
				"-A INPUT -d 2001:db8::fffe -j ACCEPT"),
			want: []finding{
				warn(6, "already dropped by INPUT rule 1 (t:5) `-m iprange --src-range 2001:db8::1-2001:db8::ff -j DROP`"),
				warn(9, "already dropped by INPUT rule 4"),
			},
		},
		{
			name: "icmp6 types and codes; type 255 is no wildcard",
			text: filter("ACCEPT", nil,
				"-A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type 128 -j ACCEPT",
				"-A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type echo-request -j DROP",
				"-A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type 255 -j DROP",
				"-A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type 129 -j DROP",
				"-A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type port-unreachable -j DROP",
				"-A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type destination-unreachable -j DROP",
				"-A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type 1/4 -j ACCEPT"),
			want: []finding{
				warn(6, "already accepted by INPUT rule 1"),
				warn(11, "already dropped by INPUT rule 5"),
			},
		},
		{
			name: "hop limit",
			text: filter("ACCEPT", nil,
				"-A INPUT -m hl --hl-lt 2 -j DROP",
				"-A INPUT -m hl --hl-eq 1 -j ACCEPT",
				"-A INPUT -m hl --hl-eq 2 -j ACCEPT",
				"-A INPUT -p ipv6-icmp -m hl ! --hl-eq 255 -j DROP",
				"-A INPUT -p ipv6-icmp -m hl --hl-gt 254 -j ACCEPT",
				"-A INPUT -p ipv6-icmp -m hl --hl-eq 64 -j ACCEPT"),
			want: []finding{
				warn(6, "already dropped by INPUT rule 1 (t:5) `-m hl --hl-lt 2 -j DROP`"),
				warn(10, "already dropped by INPUT rule 4"),
			},
		},
		{
			// A packet whose header chain -p cannot walk fails -p tcp
			// and ! -p tcp alike, so the DROP still sees it (IPv4 has
			// no such packet: there the DROP is shadowed).
			name: "! -p leaves out packets whose protocol -p cannot find",
			text: filter("ACCEPT", nil,
				"-A INPUT -p tcp -j ACCEPT",
				"-A INPUT ! -p tcp -j ACCEPT",
				"-A INPUT -j DROP",
				"-A INPUT -p udp -j DROP"),
			want: []finding{warn(8, "already accepted by INPUT rule 2 (t:6) `! -p tcp -j ACCEPT`")},
		},
		{
			// Legacy's -p all fails those packets too; nft has no
			// test for it, so there the LOG is shadowed.
			name:   "legacy: a rule without -p may be -p all",
			legacy: true,
			text: filter("ACCEPT", nil,
				"-A INPUT -j ACCEPT",
				"-A INPUT -j LOG",
				"-A INPUT -p tcp -j LOG"),
			want: []finding{warn(7, "already accepted by INPUT rule 1")},
		},
		{
			name: "nft: a rule without -p matches every packet",
			text: filter("ACCEPT", nil,
				"-A INPUT -j ACCEPT",
				"-A INPUT -j LOG"),
			want: []finding{warn(6, "already accepted by INPUT rule 1")},
		},
		{
			// The extension header matches are opaque: they never
			// shadow, even when they repeat themselves.
			name: "extension header matches",
			text: filter("ACCEPT", nil,
				"-A INPUT -m frag --fragmore -j DROP",
				"-A INPUT -m frag --fragmore -j DROP",
				"-A INPUT -m ipv6header --header frag --soft -j DROP",
				"-A INPUT -m rt --rt-type 0 -j DROP",
				"-A INPUT -m ipv6header --header frag --soft -j DROP",
				"-A INPUT -m rt --rt-type 0 -j DROP"),
		},
		{
			name: "dropped in raw before filter",
			text: "*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A PREROUTING -s 2001:db8::/32 -j DROP\nCOMMIT\n" +
				filter("ACCEPT", nil,
					"-A INPUT -s 2001:db8:1::/48 -j ACCEPT",
					"-A INPUT -s 2001:db9::/48 -j ACCEPT"),
			want: []finding{warn(10, "dropped earlier on its way, by raw PREROUTING rule 1 (t:4) `-s 2001:db8::/32 -j DROP`")},
		},
		{
			name: "a limit an earlier IPv6 rule bypasses",
			text: filter("ACCEPT", nil,
				"-A INPUT -s 2001:db8::/32 -p tcp -m tcp --dport 22 -j ACCEPT",
				"-A INPUT -p tcp -m tcp --dport 22 -m limit --limit 1/sec -j ACCEPT",
				"-A INPUT -p tcp -m tcp --dport 22 -j DROP"),
			want: []finding{warn(6, "the limit never bites for tcp packets from 2001:db8::/32 to port 22: they are accepted by INPUT rule 1")},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkFindings(t, Lint(load6(t, "t", tc.text, tc.legacy)), tc.want)
		})
	}
}

// TestAddrAtoms checks the IPv6 address points: each named interval is a
// range of points, ends included, and the points map back to it.
func TestAddrAtoms(t *testing.T) {
	rs := load6(t, "t", filter("ACCEPT", nil,
		"-A INPUT -s 2001:db8::/32 -j DROP",
		"-A INPUT -m iprange --dst-range 2001:db8::5-2001:db8::9 -j DROP",
		"-A INPUT -d ffff::/16 -j DROP"), false)
	a := newAddrAtoms(rs)
	for _, tc := range []struct{ p, want string }{
		{"2001:db8::/32", "2001:db8::/32"},
		{"ffff::/16", "ffff::/16"},
		{"fe80::/10", "fe80::/10"},
		{"::/0", "::/0"},
	} {
		s := a.prefix(pfx(tc.p))
		if len(s) != 1 {
			t.Fatalf("%s: %v", tc.p, s)
		}
		if got := rangeText(a.bounds(s[0].lo, s[0].hi)); got != tc.want {
			t.Errorf("%s maps back to %s", tc.p, got)
		}
	}
	s, ok := a.interval(ip("2001:db8::5"), ip("2001:db8::9"))
	if !ok || rangeText(a.bounds(s[0].lo, s[0].hi)) != "2001:db8::5-2001:db8::9" {
		t.Errorf("range: %v %v", s, ok)
	}
	if _, ok := a.interval(ip("2001:db8::6"), ip("2001:db8::9")); ok {
		t.Errorf("an interval no rule names has no exact points")
	}
}

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

// TestRandomIPv6 runs the generated rulesets of random_test.go as
// ip6tables rulesets, each IPv4 prefix a/n moved to 2001:db8::a/(96+n),
// and checks that every rule Lint reports shadowed is one that no packet
// of the reference universe (moved alike) reaches and matches. IPv6 has
// packets IPv4 has not (addresses outside 2001:db8::/96, headers -p cannot
// walk), so a few shadowed rules may go unreported; none may be wrong.
func TestRandomIPv6(t *testing.T) {
	seeds, reported, truth := 0, 0, 0
	for seed := uint64(1); seeds < 300 && seed < 3000; seed++ {
		g := newGen(seed)
		u := g.universe(20_000)
		if u == nil {
			continue
		}
		seeds++
		hit, _, unentered := g.truth(u)
		rs := g.ruleset().Clone()
		rs.Family = ext.IPv6
		move := func(a, m *netip.Addr) {
			if !a.IsValid() {
				return
			}
			n := ext.MaskLen(*m)
			b := netip.MustParseAddr("2001:db8::").As16()
			v4 := a.As4()
			copy(b[12:], v4[:])
			*a, *m = netip.AddrFrom16(b), ext.PrefixMask(128, 96+n)
		}
		byKey := map[[2]string]*gRule{}
		for _, gr := range g.all {
			byKey[[2]string{gr.chain, fmt.Sprint(gr.num)}] = gr
			if !hit[gr.id] && !unentered[gr.chain] {
				truth++
			}
		}
		for _, tb := range rs.Tables {
			for _, c := range tb.Chains {
				for _, r := range c.Rules {
					move(&r.Src, &r.SrcMask)
					move(&r.Dst, &r.DstMask)
				}
			}
		}
		got, _, _, ds := lintResult(t, rs)
		for k := range got {
			if gr := byKey[k]; hit[gr.id] {
				t.Fatalf("seed %d: %s rule %s reported shadowed, but a packet reaches and matches it\n%s\n%v", seed, k[0], k[1], dump(rs), ds)
			}
			reported++
		}
	}
	t.Logf("%d rulesets: %d rules reported shadowed of %d that are", seeds, reported, truth)
	if reported < truth/2 {
		t.Errorf("only %d of %d shadowed rules reported", reported, truth)
	}
}
