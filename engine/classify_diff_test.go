package engine_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ipsift/ipsift/engine"
	"github.com/ipsift/ipsift/internal/kerneldiff"
	"github.com/ipsift/ipsift/packet"
	"github.com/ipsift/ipsift/sim"
)

// The compiled chain classifier must change nothing but speed: these
// tests run the same rulesets and packets through an engine that walks
// every chain rule by rule and one that classifies every chain, and
// compare every packet's result (verdict, hits, packets out, answers),
// the LOG lines and, at the end, every counter.

// twin is one engine of a comparison, with what it logged.
type twin struct {
	sim *sim.Simulator
	log *bytes.Buffer
}

func newTwin(t testing.TB, text string, legacy, six bool, mode engine.ClassifyMode) (*twin, bool) {
	lr, ours := kerneldiff.LoadFamily("generated.rules", text, six)
	if ours == nil {
		return nil, false
	}
	e, err := engine.New(ours, nil, engine.Config{Legacy: legacy, Sets: lr.Sets, Classify: mode})
	if err != nil {
		return nil, false
	}
	var log bytes.Buffer
	e.Log = &log
	s := sim.New(e)
	lr.Sets.Shift(s.Now)
	return &twin{sim: s, log: &log}, true
}

// compareWalks runs pkts through both engines and reports the first
// difference ("" when none). Answers (Of >= 0) are resolved from what
// the linear engine sent, as the kernel harness does from the kernel.
// six: the rules are ip6tables rules.
func compareWalks(t testing.TB, text string, pkts []kerneldiff.Packet, legacy, six bool, loaded *int) string {
	lin, ok1 := newTwin(t, text, legacy, six, engine.ClassifyLinear)
	cmp, ok2 := newTwin(t, text, legacy, six, engine.ClassifyCompiled)
	if ok1 != ok2 {
		return fmt.Sprintf("one engine loads the ruleset, the other not (linear %v, compiled %v)", ok1, ok2)
	}
	if !ok1 {
		return ""
	}
	*loaded++
	var sent []packet.Desc
	outs := make([][]sim.Out, len(pkts))
	for i, p := range pkts {
		d, ok := kerneldiff.Resolve(p, pkts, sent, outs)
		sent = append(sent, d)
		if !ok {
			continue
		}
		a, errA := lin.sim.Run(i, d)
		aj := ""
		if errA == nil {
			aj = string(a.JSON())
			outs[i] = a.Out
		}
		b, errB := cmp.sim.Run(i, d)
		bj := ""
		if errB == nil {
			bj = string(b.JSON())
		}
		if aj != bj || (errA == nil) != (errB == nil) {
			return fmt.Sprintf("packet %d %s:\n linear   %s %v\n compiled %s %v", i, d.String(), aj, errA, bj, errB)
		}
	}
	if lin.log.String() != cmp.log.String() {
		return fmt.Sprintf("LOG lines differ:\n linear:\n%s compiled:\n%s", lin.log, cmp.log)
	}
	ca, _ := json.Marshal(lin.sim.Engine.Program().Counters())
	cb, _ := json.Marshal(cmp.sim.Engine.Program().Counters())
	if !bytes.Equal(ca, cb) {
		return fmt.Sprintf("counters differ:\n linear   %s\n compiled %s", ca, cb)
	}
	return ""
}

// TestClassifiedKernelDiffRulesets runs the kernel harness's generated
// rulesets and packets (every extension it knows, jumps, negations,
// fragments, truncated packets, answers) on both walks, both backends.
func TestClassifiedKernelDiffRulesets(t *testing.T) {
	testKernelDiffRulesets(t, kerneldiff.Generate, false)
}

// TestClassifiedKernelDiffRulesets6 is the same with the harness's
// ip6tables rulesets and IPv6 packets (extension headers, fragments,
// ICMPv6).
func TestClassifiedKernelDiffRulesets6(t *testing.T) {
	testKernelDiffRulesets(t, kerneldiff.Generate6, true)
}

func testKernelDiffRulesets(t *testing.T, gen func(seed uint64, i, packets int) (string, []kerneldiff.Packet), six bool) {
	n := 400
	if testing.Short() {
		n = 60
	}
	loaded := 0
	for i := 0; i < n; i++ {
		text, pkts := gen(7, i, 40)
		for _, legacy := range []bool{false, true} {
			if d := compareWalks(t, text, pkts, legacy, six, &loaded); d != "" {
				t.Fatalf("ruleset %d (legacy %v): %s\n--- ruleset\n%s", i, legacy, d, text)
			}
		}
	}
	enoughLoaded(t, loaded, 2*n)
}

// enoughLoaded fails a comparison whose rulesets mostly did not load:
// it would have compared nothing.
func enoughLoaded(t *testing.T, loaded, tried int) {
	t.Logf("%d of %d rulesets loaded and compared", loaded, tried)
	if loaded < tried*8/10 {
		t.Fatalf("only %d of %d generated rulesets loaded", loaded, tried)
	}
}

// TestClassifiedBigChains runs long chains of the rules the classifier
// indexes, mixed with ones it must leave in place (limit, statistic,
// length, LOG, MARK changing what later rules test, jumps, gotos,
// RETURN), on packets drawn from the same few addresses and ports.
func TestClassifiedBigChains(t *testing.T) { testBigChains(t, &gen4) }

// TestClassifiedBigChains6 is TestClassifiedBigChains in IPv6: ip6tables
// rules, packets with and without extension headers.
func TestClassifiedBigChains6(t *testing.T) { testBigChains(t, &gen6) }

func testBigChains(t *testing.T, g *gen) {
	n := 150
	if testing.Short() {
		n = 20
	}
	loaded := 0
	for i := 0; i < n; i++ {
		r := rand.New(rand.NewPCG(11, uint64(i)))
		text := g.chainRuleset(r, 20+r.IntN(300))
		pkts := g.chainPackets(r, 60)
		for _, legacy := range []bool{false, true} {
			if d := compareWalks(t, text, pkts, legacy, g.six, &loaded); d != "" {
				t.Fatalf("ruleset %d (legacy %v): %s\n--- ruleset\n%s", i, legacy, d, text)
			}
		}
	}
	enoughLoaded(t, loaded, 2*n)
}

// FuzzClassified compares the walks on rulesets and packets drawn from
// the fuzzer's seeds (IPv6 when s2 is odd).
func FuzzClassified(f *testing.F) {
	f.Add(uint64(1), uint64(2), uint16(50))
	f.Add(uint64(3), uint64(4), uint16(300))
	f.Fuzz(func(t *testing.T, s1, s2 uint64, n uint16) {
		r := rand.New(rand.NewPCG(s1, s2))
		g := &gen4
		if s2&1 == 1 {
			g = &gen6
		}
		text := g.chainRuleset(r, 1+int(n%400))
		pkts := g.chainPackets(r, 30)
		legacy := s1&1 == 1
		loaded := 0
		if d := compareWalks(t, text, pkts, legacy, g.six, &loaded); d != "" {
			t.Fatalf("legacy %v: %s\n--- ruleset\n%s", legacy, d, text)
		}
		if loaded == 0 {
			t.Fatalf("the generated ruleset does not load:\n%s", text)
		}
	})
}

// gen is what the chain generator writes for one family.
type gen struct {
	six   bool
	addrs []string
	lens  []int // prefix lengths
	icmp  string
}

var (
	gen4 = gen{
		addrs: []string{"192.0.2.10", "192.0.2.11", "192.0.2.200", "198.51.100.9", "198.51.100.77", "203.0.113.5", "203.0.113.130", "198.51.100.1", "192.0.2.1"},
		lens:  []int{0, 1, 8, 16, 24, 25, 30}, icmp: "icmp",
	}
	gen6 = gen{
		six: true,
		addrs: []string{"2001:db8:2::10", "2001:db8:2::11", "2001:db8:2:1::200", "2001:db8:100::9", "2001:db8:100::77", "2001:db8:113::5",
			"2001:db8:113:0:8000::130", "2001:db8:100::1", "2001:db8:2::1"},
		lens: []int{0, 1, 16, 32, 48, 64, 65, 100, 127}, icmp: "icmpv6",
	}
	genPorts = []int{22, 53, 80, 443, 1024, 8080, 40000}
)

func pickOf[T any](r *rand.Rand, s []T) T { return s[r.IntN(len(s))] }

func (g *gen) addr(r *rand.Rand) string {
	a := pickOf(r, g.addrs)
	switch r.IntN(8) {
	case 0:
		if g.six {
			return a + "/ffff:ffff:0:ffff::ff" // a mask that is no prefix
		}
		return a + "/255.255.0.255"
	case 1, 2:
		if g.six {
			return a + "/128"
		}
		return a + "/32"
	}
	return a + "/" + fmt.Sprint(pickOf(r, g.lens))
}

func genPortRange(r *rand.Rand) string {
	a, b := pickOf(r, genPorts), pickOf(r, genPorts)
	if r.IntN(2) == 0 || a == b {
		return fmt.Sprint(a)
	}
	return fmt.Sprintf("%d:%d", min(a, b), max(a, b))
}

func bang(r *rand.Rand, n int) string {
	if r.IntN(n) == 0 {
		return "! "
	}
	return ""
}

// chainRule writes one rule of chain c.
func (g *gen) chainRule(r *rand.Rand, c string, users []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "-A %s", c)
	for _, opt := range []string{"-s", "-d"} {
		if r.IntN(2) == 0 {
			neg, a := bang(r, 6), g.addr(r)
			if neg != "" && strings.HasSuffix(a, "/0") {
				a = strings.TrimSuffix(a, "/0") + "/8" // "! -s x/0" matches nothing: iptables-nft refuses it
			}
			fmt.Fprintf(&b, " %s%s %s", neg, opt, a)
		}
	}
	if r.IntN(6) == 0 {
		fmt.Fprintf(&b, " %s-i %s", bang(r, 4), pickOf(r, []string{"eth0", "eth+", "wlan0", "w+"}))
	}
	if c == "FORWARD" && r.IntN(6) == 0 {
		fmt.Fprintf(&b, " %s-o %s", bang(r, 4), pickOf(r, []string{"eth0", "eth+", "wlan0"}))
	}
	proto := pickOf(r, []string{"", "tcp", "tcp", "udp", "udp", g.icmp, "!tcp"})
	switch proto {
	case "!tcp":
		b.WriteString(" ! -p tcp")
	case "":
	default:
		fmt.Fprintf(&b, " -p %s", proto)
	}
	if !g.six && r.IntN(8) == 0 {
		b.WriteString(" -f")
	}
	// Matches, in random order: indexed, pure but not indexed, stateful.
	var ms []string
	switch proto {
	case "tcp", "udp":
		if r.IntN(3) != 0 {
			m := " -m " + proto
			if r.IntN(2) == 0 {
				m += fmt.Sprintf(" %s--dport %s", bang(r, 5), genPortRange(r))
			}
			if r.IntN(3) == 0 {
				m += fmt.Sprintf(" %s--sport %s", bang(r, 5), genPortRange(r))
			}
			if proto == "tcp" && r.IntN(4) == 0 {
				m += pickOf(r, []string{" --syn", " ! --syn", " --tcp-flags SYN,ACK ACK", " --tcp-flags ALL NONE", " --tcp-option 2"})
			}
			ms = append(ms, m)
		}
		if r.IntN(4) == 0 {
			ms = append(ms, fmt.Sprintf(" -m multiport %s--%s %d,%s,%d", bang(r, 5), pickOf(r, []string{"dports", "sports", "ports"}), pickOf(r, genPorts), genPortRange(r), pickOf(r, genPorts)))
		}
	case "icmpv6":
		if r.IntN(2) == 0 {
			ms = append(ms, fmt.Sprintf(" -m icmp6 %s--icmpv6-type %s", bang(r, 5), pickOf(r, []string{"echo-request", "echo-reply", "1/3", "destination-unreachable"})))
		}
	case "icmp":
		if r.IntN(2) == 0 {
			ms = append(ms, fmt.Sprintf(" -m icmp %s--icmp-type %s", bang(r, 5), pickOf(r, []string{"echo-request", "echo-reply", "3/1", "destination-unreachable", "any"})))
		}
	}
	if r.IntN(5) == 0 {
		ms = append(ms, fmt.Sprintf(" -m mark %s--mark %s", bang(r, 5), pickOf(r, []string{"0x1", "0x1/0x1", "0x4000/0x4000", "0x2/0x3", "0x0"})))
	}
	if r.IntN(6) == 0 {
		ms = append(ms, " -m comment --comment \"c\"")
	}
	if r.IntN(6) == 0 {
		ms = append(ms, fmt.Sprintf(" -m conntrack --ctstate %s", pickOf(r, []string{"NEW", "ESTABLISHED,RELATED", "INVALID", "UNTRACKED"})))
	}
	if r.IntN(10) == 0 {
		ms = append(ms, " -m limit --limit 3/sec --limit-burst 2")
	}
	if r.IntN(10) == 0 {
		ms = append(ms, fmt.Sprintf(" -m statistic --mode nth --every %d --packet 0", 2+r.IntN(3)))
	}
	if r.IntN(10) == 0 {
		ms = append(ms, " -m length --length 0:60")
	}
	r.Shuffle(len(ms), func(i, j int) { ms[i], ms[j] = ms[j], ms[i] })
	for _, m := range ms {
		b.WriteString(m)
	}
	var targets []string
	targets = append(targets, " -j ACCEPT", " -j DROP", "", " -j LOG --log-prefix \"L \"", " -j MARK --set-xmark 0x1/0x1", " -j MARK --set-mark 0x4000", " -j REJECT")
	if c != "FORWARD" && c != "INPUT" && c != "OUTPUT" {
		targets = append(targets, " -j RETURN")
	}
	for _, u := range users {
		targets = append(targets, " -j "+u, " -g "+u)
	}
	b.WriteString(pickOf(r, targets))
	b.WriteString("\n")
	return b.String()
}

// chainRuleset writes a filter table of about n rules: long built-in
// chains and user chains that later rules jump to (a chain only jumps
// to chains defined after it: no loops).
func (g *gen) chainRuleset(r *rand.Rand, n int) string {
	var b strings.Builder
	b.WriteString("*filter\n")
	fmt.Fprintf(&b, ":INPUT %s [0:0]\n:FORWARD %s [0:0]\n:OUTPUT ACCEPT [0:0]\n", pickOf(r, []string{"ACCEPT", "DROP"}), pickOf(r, []string{"ACCEPT", "DROP"}))
	users := []string{"U1", "U2", "U3"}
	for _, u := range users {
		fmt.Fprintf(&b, ":%s - [0:0]\n", u)
	}
	chains := []string{"FORWARD", "INPUT", "U1", "U2", "U3"}
	for ci, c := range chains {
		var later []string
		if ci < 2 {
			later = users
		} else {
			later = users[ci-1:]
		}
		m := n / 2
		if ci > 0 {
			m = n / 8
		}
		for j := 0; j < m; j++ {
			b.WriteString(g.chainRule(r, c, later))
		}
	}
	b.WriteString("COMMIT\n")
	return b.String()
}

func (g *gen) chainPackets(r *rand.Rand, n int) []kerneldiff.Packet {
	var out []kerneldiff.Packet
	for i := 0; i < n; i++ {
		in := pickOf(r, []string{"eth0", "wlan0"})
		src, dst := pickOf(r, g.addrs), pickOf(r, g.addrs)
		hp := func(a string, port int) string {
			if g.six {
				return fmt.Sprintf("[%s]:%d", a, port)
			}
			return fmt.Sprintf("%s:%d", a, port)
		}
		var s string
		switch r.IntN(4) {
		case 0, 1:
			s = fmt.Sprintf("%s tcp %s > %s %s", in, hp(src, pickOf(r, genPorts)), hp(dst, pickOf(r, genPorts)), pickOf(r, []string{"S", "SA", "A", "none", "FPA", "R"}))
		case 2:
			s = fmt.Sprintf("%s udp %s > %s", in, hp(src, pickOf(r, genPorts)), hp(dst, pickOf(r, genPorts)))
		default:
			types := []string{"echo-request", "echo-reply", "3/1", "3/3", "type 11"}
			if g.six {
				types = []string{"echo-request", "echo-reply", "1/3", "type 3"}
			}
			s = fmt.Sprintf("%s %s %s > %s %s", in, g.icmp, src, dst, pickOf(r, types))
		}
		switch r.IntN(12) {
		case 0:
			s += " frag_off=3"
			if g.six {
				s = strings.TrimSuffix(s, " frag_off=3") + " ext=frag/3/0"
			}
		case 1:
			s += " mf"
			if g.six {
				s = strings.TrimSuffix(s, " mf") + " ext=hbh,frag/0/1"
			}
		case 2:
			s += " len=2"
		case 3:
			if g.six {
				s += " ext=hbh,dst/1"
			}
		}
		if r.IntN(3) == 0 {
			s += fmt.Sprintf(" delay_ms=%d", r.IntN(400))
		}
		d, err := packet.ParseShort(s)
		if err != nil {
			panic(fmt.Sprintf("%q: %v", s, err))
		}
		out = append(out, kerneldiff.Packet{Desc: d, Of: -1})
	}
	return out
}

func TestParseClassifyMode(t *testing.T) {
	for _, m := range []engine.ClassifyMode{engine.ClassifyAuto, engine.ClassifyLinear, engine.ClassifyCompiled} {
		got, err := engine.ParseClassifyMode(m.String())
		if err != nil || got != m {
			t.Errorf("ParseClassifyMode(%q) = %v, %v", m.String(), got, err)
		}
	}
	if _, err := engine.ParseClassifyMode("fast"); err == nil || !strings.Contains(err.Error(), "auto, linear or compiled") {
		t.Errorf("ParseClassifyMode(fast): %v, want an error naming the modes", err)
	}
}
