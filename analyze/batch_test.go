package analyze

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ipsift/ipsift/rules"
)

// lintText is every finding of Lint on rs, one a line.
func lintText(rs *rules.Ruleset) string {
	var b strings.Builder
	for _, d := range Lint(rs) {
		fmt.Fprintf(&b, "%v %v %s %s\n", d.Pos, d.Severity, d.Word, d.Msg)
	}
	return b.String()
}

// withBatch runs f with runs of n rules or more walked in one go.
func withBatch(n int, f func()) {
	defer func(old int) { minBatch = old }(minBatch)
	minBatch = n
	f()
}

// TestBatchRandom walks the generated rulesets of the brute-force tests
// with every run, even of one rule, walked in one go: the findings must
// be those of the rule-by-rule walk, word for word, and still match
// the ground truth.
func TestBatchRandom(t *testing.T) {
	n := 300
	if testing.Short() {
		n = 80
	}
	ran := 0
	for seed := uint64(1); seed <= uint64(n); seed++ {
		var want, got1, got2 string
		withBatch(1<<30, func() { want = lintText(newGen(seed).ruleset()) })
		withBatch(1, func() { got1 = lintText(newGen(seed).ruleset()) })
		withBatch(2, func() { got2 = lintText(newGen(seed).ruleset()) })
		if got1 != want || got2 != want {
			t.Fatalf("seed %d: findings differ\nrule by rule:\n%s\nruns of 1+:\n%s\nruns of 2+:\n%s\n%s", seed, want, got1, got2, dump(newGen(seed).ruleset()))
		}
		ran++
	}
	var st randomStats
	withBatch(1, func() {
		for seed := uint64(1); st.seeds < n/2 && seed < uint64(4*n); seed++ {
			checkSeed(t, seed, &st)
			if t.Failed() {
				break
			}
		}
	})
	t.Logf("%d rulesets agree; %d checked against brute force with runs of one rule", ran, st.seeds)
}

// blockText is a filter table with runs of rules that differ in one
// field (sources, destinations, ports, interfaces), duplicates and
// overlapping prefixes among them, rules between the runs that keep a
// run from being walked in one go (they cut the region across the
// run's boxes), a user chain holding a run, limits, and a mangle table
// that drops some sources first (for the cross-table findings).
func blockText(seed uint64, n int) string {
	r := rand.New(rand.NewPCG(seed, 7))
	var b strings.Builder
	host := func() string { return fmt.Sprintf("203.0.113.%d", r.IntN(64)) }
	b.WriteString("*mangle\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n")
	for i := 0; i < 3; i++ {
		fmt.Fprintf(&b, "-A PREROUTING -s %s/32 -j DROP\n", host())
	}
	b.WriteString("COMMIT\n*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n:BL - [0:0]\n")
	b.WriteString("-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n")
	chains := []string{"FORWARD", "INPUT", "BL"}
	for i := 0; i < n; {
		ch := chains[r.IntN(len(chains))]
		switch r.IntN(10) {
		case 0:
			fmt.Fprintf(&b, "-A %s -s 203.0.113.%d/28 -p tcp -j ACCEPT\n", ch, 16*r.IntN(4))
			i++
			continue
		case 1:
			fmt.Fprintf(&b, "-A %s -s %s/32 -m limit --limit 1/sec -j ACCEPT\n", ch, host())
			i++
			continue
		case 2:
			fmt.Fprintf(&b, "-A FORWARD -i eth%d -j BL\n", r.IntN(3))
			i++
			continue
		}
		k := 1 + r.IntN(40)
		kind := r.IntN(5)
		verdict := []string{"DROP", "ACCEPT", "REJECT --reject-with icmp-port-unreachable"}[r.IntN(3)]
		for ; k > 0; k-- {
			switch kind {
			case 0:
				fmt.Fprintf(&b, "-A %s -s %s/%d -j %s\n", ch, host(), []int{32, 32, 32, 30}[r.IntN(4)], verdict)
			case 1:
				fmt.Fprintf(&b, "-A %s -d 198.51.100.%d/32 -p tcp -j %s\n", ch, r.IntN(40), verdict)
			case 2:
				lo := 1000 + r.IntN(30)
				fmt.Fprintf(&b, "-A %s -p tcp -m tcp --dport %d:%d -j %s\n", ch, lo, lo+r.IntN(30), verdict)
			case 3:
				fmt.Fprintf(&b, "-A %s -i eth%d -j %s\n", ch, r.IntN(6), verdict)
			default:
				fmt.Fprintf(&b, "-A %s -s %s/32 -p udp -j %s\n", ch, host(), verdict)
			}
			i++
		}
	}
	b.WriteString("COMMIT\n")
	return b.String()
}

// TestBatchRuns compares the walk in runs with the rule-by-rule walk on
// rulesets made of runs, word for word.
func TestBatchRuns(t *testing.T) {
	n := 30
	if testing.Short() {
		n = 8
	}
	shadowed, walked := 0, runsWalked
	for seed := uint64(1); seed <= uint64(n); seed++ {
		text := blockText(seed, 200)
		load := func() *rules.Ruleset {
			rs := rules.New()
			if ds, err := rs.Restore(strings.NewReader(text), rules.RestoreOptions{File: "bl"}); err != nil {
				t.Fatalf("seed %d: %v", seed, ds)
			}
			return rs
		}
		var want string
		withBatch(1<<30, func() { want = lintText(load()) })
		for _, m := range []int{1, 3, 32} {
			var got string
			withBatch(m, func() { got = lintText(load()) })
			if got != want {
				t.Fatalf("seed %d, runs of %d+: findings differ\nrule by rule:\n%s\nin runs:\n%s\n%s", seed, m, want, got, text)
			}
		}
		shadowed += strings.Count(want, "never matches")
	}
	if shadowed < n {
		t.Errorf("only %d shadowed rules in %d rulesets: the generator tests too little", shadowed, n)
	}
	if runsWalked == walked {
		t.Errorf("no run was walked in one go")
	}
	t.Logf("%d rulesets agree, %d shadowed rules, %d runs walked in one go", n, shadowed, runsWalked-walked)
}
