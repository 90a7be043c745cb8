package engine_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/ipsift/ipsift/engine"
)

// generatedRules returns a filter table with n rules over addresses,
// ports and interfaces, none of which the benchmark packet matches, so
// every rule is evaluated (the worst case for a linear walk), with one
// accepting rule at the end.
func generatedRules(n int, seed uint64) string {
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

func benchmarkClassify(b *testing.B, text, pkt string) {
	rs := mustRules(b, text)
	e, err := engine.New(rs, nil, engine.Config{})
	if err != nil {
		b.Fatal(err)
	}
	s := engine.NewState()
	d, data := build(b, pkt)
	in := &engine.Input{Data: data, In: d.In}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Forwarding lowers the TTL in place: restore it so every
		// iteration sees the same packet.
		data[8] = 64
		e.Process(s, in)
	}
}

// BenchmarkClassifyGateway runs a forwarded packet through
// gateway.rules (the stateless engine: every packet is a new connection).
func BenchmarkClassifyGateway(b *testing.B) {
	text, err := os.ReadFile("../examples/gateway.rules")
	if err != nil {
		b.Fatal(err)
	}
	benchmarkClassify(b, string(text), "wlan0 udp 192.0.2.10:53000 > 198.51.100.9:53 len=40")
}

func BenchmarkClassify1k(b *testing.B) {
	benchmarkClassify(b, generatedRules(1000, 1), "wlan0 tcp 192.0.2.10:40000 > 198.51.100.9:80 S")
}

func BenchmarkClassify10k(b *testing.B) {
	benchmarkClassify(b, generatedRules(10000, 1), "wlan0 tcp 192.0.2.10:40000 > 198.51.100.9:80 S")
}
