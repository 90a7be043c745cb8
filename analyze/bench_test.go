package analyze

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ipsift/ipsift/rules"
)

// bigRules is a filter table of n rules in the style of the engine's
// benchmarks: host addresses, ports and interfaces drawn at random, so
// that later rules often repeat (and are shadowed by) earlier ones.
func bigRules(n int, seed uint64) string {
	r := rand.New(rand.NewPCG(seed, 2))
	var b strings.Builder
	b.WriteString("*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n")
	for i := 0; i < n; i++ {
		switch r.IntN(4) {
		case 0:
			fmt.Fprintf(&b, "-A FORWARD -s 203.0.113.%d/32 -j DROP\n", r.IntN(256))
		case 1:
			fmt.Fprintf(&b, "-A FORWARD -d 198.51.100.%d/32 -p tcp -m tcp --dport %d -j ACCEPT\n", r.IntN(256), 81+r.IntN(60000))
		case 2:
			fmt.Fprintf(&b, "-A FORWARD -i veth%d -p udp -m udp --sport %d:%d -j DROP\n", r.IntN(1000), 1000+r.IntN(1000), 3000+r.IntN(1000))
		default:
			fmt.Fprintf(&b, "-A FORWARD -s 192.0.2.%d/32 -d 203.0.113.0/24 -j ACCEPT\n", 11+r.IntN(200))
		}
	}
	b.WriteString("-A FORWARD -i wlan0 -o eth0 -j ACCEPT\nCOMMIT\n")
	return b.String()
}

func benchmarkLint(b *testing.B, n int) {
	rs := rules.New()
	if ds, err := rs.Restore(strings.NewReader(bigRules(n, 1)), rules.RestoreOptions{}); err != nil {
		b.Fatal(ds)
	}
	b.ReportAllocs()
	var ds rules.Diags
	for b.Loop() {
		ds = Lint(rs)
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

func BenchmarkLint1k(b *testing.B)  { benchmarkLint(b, 1000) }
func BenchmarkLint10k(b *testing.B) { benchmarkLint(b, 10000) }
