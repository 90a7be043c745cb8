package engine_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/ipsift/ipsift/engine"
	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/internal/benchsets"
	"github.com/ipsift/ipsift/rules"
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
	d, orig := build(b, pkt)
	data := make([]byte, len(orig))
	in := &engine.Input{Data: data, In: d.In}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Process rewrites the packet in place (TTL, NAT): start every
		// iteration from the same bytes, one established flow.
		copy(data, orig)
		e.Process(s, in)
	}
}

// BenchmarkPipelineMixedFlows runs gateway.rules on a stream where one
// packet in eight opens a new connection (a new source port, through
// conntrack, the nat chains and MASQUERADE) and the rest belong to 64
// established flows.
func BenchmarkPipelineMixedFlows(b *testing.B) {
	text, err := os.ReadFile("../examples/gateway.rules")
	if err != nil {
		b.Fatal(err)
	}
	rs := mustRules(b, string(text))
	e, err := engine.New(rs, nil, engine.Config{})
	if err != nil {
		b.Fatal(err)
	}
	s := engine.NewState()
	var flows [][]byte
	for i := 0; i < 64; i++ {
		_, data := build(b, fmt.Sprintf("wlan0 udp 192.0.2.10:%d > 198.51.100.9:53 len=40", 20000+i))
		flows = append(flows, data)
	}
	buf := make([]byte, len(flows[0]))
	in := &engine.Input{Data: buf, In: "wlan0"}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		copy(buf, flows[i%64])
		if i%8 == 7 {
			// A new connection: a source port no flow has used.
			p := 30000 + uint16(i/8%30000)
			buf[20], buf[21] = byte(p>>8), byte(p)
			buf[26], buf[27] = 0, 0 // no UDP checksum
		}
		in.Now = int64(i) * 1000
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

// generatedRules6 is generatedRules for ip6tables: n rules over IPv6
// addresses, ports and interfaces, none matching the benchmark packet,
// then one accepting rule.
func generatedRules6(n int, seed uint64) string {
	r := rand.New(rand.NewPCG(seed, 2))
	var b strings.Builder
	b.WriteString("*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n")
	for i := 0; i < n; i++ {
		switch r.IntN(4) {
		case 0:
			fmt.Fprintf(&b, "-A FORWARD -s 2001:db8:113::%x/128 -j DROP\n", r.IntN(65536))
		case 1:
			fmt.Fprintf(&b, "-A FORWARD -d 2001:db8:100::%x/128 -p tcp -m tcp --dport %d -j ACCEPT\n", r.IntN(65536), 81+r.IntN(60000))
		case 2:
			fmt.Fprintf(&b, "-A FORWARD -i veth%d -p udp -m udp --sport %d:%d -j DROP\n", r.IntN(1000), 1000+r.IntN(1000), 3000+r.IntN(1000))
		default:
			fmt.Fprintf(&b, "-A FORWARD -s 2001:db8:2::%x/128 -d 2001:db8:113::/64 -j ACCEPT\n", 0x11+r.IntN(200))
		}
	}
	b.WriteString("-A FORWARD -i wlan0 -o eth0 -j ACCEPT\nCOMMIT\n")
	return b.String()
}

// BenchmarkClassify1kIPv6 is Classify1k for an IPv6 packet through
// 1,000 ip6tables rules: the 128-bit address tests of a linear walk.
func BenchmarkClassify1kIPv6(b *testing.B) {
	rs := rules.New()
	rs.Family = ext.IPv6
	if _, err := rs.Restore(strings.NewReader(generatedRules6(1000, 1)), rules.RestoreOptions{File: "bench6"}); err != nil {
		b.Fatal(err)
	}
	e, err := engine.New(rules.New(), nil, engine.Config{Rules6: rs})
	if err != nil {
		b.Fatal(err)
	}
	s := engine.NewState()
	d, orig := build(b, "wlan0 tcp [2001:db8:2::10]:40000 > [2001:db8:100::9]:80 S")
	data := make([]byte, len(orig))
	in := &engine.Input{Data: data, In: d.In}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		copy(data, orig)
		e.Process(s, in)
	}
	if s.Result.Verdict != engine.Forward {
		b.Fatalf("verdict %v", s.Result.Verdict)
	}
}

// BenchmarkOneRule and BenchmarkOneRuleIPv6 are the engine's fixed
// cost on each family (issue 14): one stateless packet forwarded
// through a FORWARD chain of one rule, no other table loaded; the
// destination cycles through 256 addresses beyond the default route.
func BenchmarkOneRule(b *testing.B) {
	benchmarkOneRule(b, false)
}

func BenchmarkOneRuleIPv6(b *testing.B) {
	benchmarkOneRule(b, true)
}

func benchmarkOneRule(b *testing.B, v6 bool) {
	const text = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n-A FORWARD -i wlan0 -j ACCEPT\nCOMMIT\n"
	rs := rules.New()
	if v6 {
		rs.Family = ext.IPv6
	}
	if _, err := rs.Restore(strings.NewReader(text), rules.RestoreOptions{File: "one"}); err != nil {
		b.Fatal(err)
	}
	cfg, rs4 := engine.Config{}, rs
	if v6 {
		cfg.Rules6, rs4 = rs, rules.New()
	}
	e, err := engine.New(rs4, nil, cfg)
	if err != nil {
		b.Fatal(err)
	}
	var pkts [][]byte
	for i := range 256 {
		short := fmt.Sprintf("wlan0 udp 192.0.2.10:5000 > 203.%d.%d.9:53 len=40", i, 255-i)
		if v6 {
			short = fmt.Sprintf("wlan0 udp [2001:db8:2::10]:5000 > [2001:db8:%x::9]:53 len=40", 0x400+i)
		}
		_, data := build(b, short)
		pkts = append(pkts, data)
	}
	s := engine.NewState()
	buf := make([]byte, len(pkts[0]))
	in := &engine.Input{Data: buf, In: "wlan0"}
	b.ReportAllocs()
	cpu := benchsets.StartCPU()
	for i := 0; b.Loop(); i++ {
		copy(buf, pkts[i%len(pkts)])
		e.Process(s, in)
	}
	cpu.Report(b)
	if s.Result.Verdict != engine.Forward {
		b.Fatalf("verdict %v", s.Result.Verdict)
	}
}
