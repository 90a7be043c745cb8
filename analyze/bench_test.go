package analyze

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/rules"
)

// bigRules is a filter table of n rules in the style of the engine's
// benchmarks: host addresses, ports and interfaces drawn at random, so
// that later rules often repeat (and are shadowed by) earlier ones. six
// gives the IPv6 twin (2001:db8:113::X for 203.0.113.X, ...).
func bigRules(n int, seed uint64, six bool) string {
	r := rand.New(rand.NewPCG(seed, 2))
	var b strings.Builder
	b.WriteString("*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n")
	host := func(net string, i int) string {
		if six {
			return fmt.Sprintf("2001:db8:%s::%x/128", map[string]string{"203.0.113": "113", "198.51.100": "100", "192.0.2": "2"}[net], i)
		}
		return fmt.Sprintf("%s.%d/32", net, i)
	}
	subnet := "203.0.113.0/24"
	if six {
		subnet = "2001:db8:113::/48"
	}
	for i := 0; i < n; i++ {
		switch r.IntN(4) {
		case 0:
			fmt.Fprintf(&b, "-A FORWARD -s %s -j DROP\n", host("203.0.113", r.IntN(256)))
		case 1:
			fmt.Fprintf(&b, "-A FORWARD -d %s -p tcp -m tcp --dport %d -j ACCEPT\n", host("198.51.100", r.IntN(256)), 81+r.IntN(60000))
		case 2:
			fmt.Fprintf(&b, "-A FORWARD -i veth%d -p udp -m udp --sport %d:%d -j DROP\n", r.IntN(1000), 1000+r.IntN(1000), 3000+r.IntN(1000))
		default:
			fmt.Fprintf(&b, "-A FORWARD -s %s -d %s -j ACCEPT\n", host("192.0.2", 11+r.IntN(200)), subnet)
		}
	}
	b.WriteString("-A FORWARD -i wlan0 -o eth0 -j ACCEPT\nCOMMIT\n")
	return b.String()
}

func bigRuleset(b *testing.B, n int, six bool) *rules.Ruleset {
	rs := rules.New()
	if six {
		rs.Family = ext.IPv6
	}
	if ds, err := rs.Restore(strings.NewReader(bigRules(n, 1, six)), rules.RestoreOptions{}); err != nil {
		b.Fatal(ds)
	}
	return rs
}

func benchmarkLint(b *testing.B, n int, six bool) {
	rs := bigRuleset(b, n, six)
	b.ReportAllocs()
	var ds rules.Diags
	for b.Loop() {
		ds = Lint(rs)
	}
	b.ReportMetric(float64(len(ds)), "findings")
}

// benchmarkFamilies times the two IPv6 checks of a dual-stack host of n
// rules per family: CutOff on the IPv6 rules, FamilyGap on both.
func benchmarkFamilies(b *testing.B, n int) {
	v4, v6 := bigRuleset(b, n, false), bigRuleset(b, n, true)
	b.ReportAllocs()
	var ds rules.Diags
	for b.Loop() {
		ds = append(CutOff(v6), FamilyGap(v4, v6)...)
	}
	b.ReportMetric(float64(len(ds)), "findings")
}

func BenchmarkLintGateway(b *testing.B) {
	rs := rules.New()
	if ds, err := rs.Restore(strings.NewReader(gatewayText(&testing.T{})), rules.RestoreOptions{}); err != nil {
		b.Fatal(ds)
	}
	for b.Loop() {
		Lint(rs)
	}
}

func BenchmarkLint1k(b *testing.B)      { benchmarkLint(b, 1000, false) }
func BenchmarkLint10k(b *testing.B)     { benchmarkLint(b, 10000, false) }
func BenchmarkLint6_1k(b *testing.B)    { benchmarkLint(b, 1000, true) }
func BenchmarkLint6_10k(b *testing.B)   { benchmarkLint(b, 10000, true) }
func BenchmarkFamilies1k(b *testing.B)  { benchmarkFamilies(b, 1000) }
func BenchmarkFamilies10k(b *testing.B) { benchmarkFamilies(b, 10000) }
