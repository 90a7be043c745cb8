package kerneldiff

import (
	"strings"
	"testing"

	"github.com/ipsift/ipsift/packet"
)

// maxShrinkRuns bounds the kernel runs one shrink may take; each is a
// fresh firewall and the packets, about a tenth of a second.
const maxShrinkRuns = 400

// shrinker tests candidate cases: a candidate is interesting when it
// still shows an unknown difference.
type shrinker struct {
	t    testing.TB
	cfg  Config
	runs int
	diff Difference // the first difference of the last interesting candidate
}

func (s *shrinker) fails(rs string, descs []packet.Desc) bool {
	if s.runs >= maxShrinkRuns {
		return false
	}
	s.runs++
	ours := rs
	if s.cfg.Mutate != nil {
		ours = s.cfg.Mutate(rs)
	}
	out := execute(s.t, s.cfg.Backend, setup{kernelRules: rs, ipsiftRules: ours, tamper: s.cfg.Tamper, six: s.cfg.IPv6}, fixed(descs))
	if out.refused != nil || out.loadErr != nil {
		return false
	}
	for _, d := range out.diffs {
		if s.cfg.Known != nil && s.cfg.Known(rs, d) != "" {
			continue
		}
		s.diff = d
		return true
	}
	return false
}

// shrink reduces rep.Minimal to the rules and packets that matter, by
// delta debugging (ddmin) over the rule lines, then the packets, then the
// rules again (fewer packets often free more rules), and finally by
// setting DROP policies to ACCEPT and dropping tables left without rules.
func shrink(t testing.TB, cfg Config, rep *Report) {
	s := &shrinker{t: t, cfg: cfg}
	rs, descs := rep.Minimal.Ruleset, rep.Minimal.Packets
	if !s.fails(rs, descs) {
		// Not reproducible on a rerun (timing?): report it as found.
		t.Logf("kernel-diff: the difference did not show again on a rerun; reporting it unshrunk")
		rep.Runs, rep.NotReproduced = s.runs, true
		return
	}
	for pass := 0; pass < 2; pass++ {
		head, lines := splitRules(rs)
		lines = ddmin(lines, func(c []string) bool { return s.fails(joinRules(head, c), descs) })
		rs = joinRules(head, lines)
		descs = ddmin(descs, func(c []packet.Desc) bool { return s.fails(rs, c) })
	}
	// Policies back to ACCEPT, one at a time.
	lines := strings.SplitAfter(rs, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, ":") && strings.Contains(l, " DROP ") {
			try := append([]string(nil), lines...)
			try[i] = strings.Replace(l, " DROP ", " ACCEPT ", 1)
			if s.fails(strings.Join(try, ""), descs) {
				lines = try
			}
		}
	}
	rs = strings.Join(lines, "")
	// Tables without rules, one at a time (an empty nat table still
	// switches conntrack on, so each must be tried).
	for _, tb := range tableBlocks(rs) {
		if strings.Contains(tb, "\n-A ") {
			continue
		}
		if try := strings.Replace(rs, tb, "", 1); s.fails(try, descs) {
			rs = try
		}
	}
	// The last successful run's difference belongs to the final case
	// only if it was the last run; run it once more to be sure.
	s.fails(rs, descs)
	rep.Minimal = Case{Ruleset: rs, Packets: descs}
	rep.Difference = s.diff
	rep.Runs = s.runs
}

// splitRules separates a restore file into its skeleton (everything but
// the rule lines) and its rule lines, each prefixed with its table and a
// NUL so that it goes back into the right table (PREROUTING, say, is a
// chain of four tables).
func splitRules(rs string) (head []string, rules []string) {
	table := ""
	for l := range strings.Lines(rs) {
		switch {
		case strings.HasPrefix(l, "*"):
			table = strings.TrimSpace(l[1:])
			head = append(head, l)
		case strings.HasPrefix(l, "-A "):
			rules = append(rules, table+"\x00"+l)
		default:
			head = append(head, l)
		}
	}
	return head, rules
}

// joinRules rebuilds a restore file from its skeleton and the kept
// rules: each rule goes before the COMMIT of its table, in the order
// kept (ddmin keeps the order, so every chain keeps its rule order).
func joinRules(head, keep []string) string {
	blocks := tableBlocks(strings.Join(head, ""))
	for _, r := range keep {
		table, line, _ := strings.Cut(r, "\x00")
		for i, tb := range blocks {
			if strings.HasPrefix(tb, "*"+table+"\n") {
				blocks[i] = strings.Replace(tb, "COMMIT\n", line+"COMMIT\n", 1)
				break
			}
		}
	}
	return strings.Join(blocks, "")
}

// tableBlocks splits a restore file into its "*table ... COMMIT" blocks.
func tableBlocks(rs string) []string {
	var out []string
	var cur strings.Builder
	for l := range strings.Lines(rs) {
		cur.WriteString(l)
		if strings.TrimSpace(l) == "COMMIT" {
			out = append(out, cur.String())
			cur.Reset()
		}
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

// ddmin is Zeller's delta debugging minimisation: it returns a subset of
// items (order kept) for which fails still holds and from which no
// single chunk at the finest granularity tried can be removed.
func ddmin[T any](items []T, fails func([]T) bool) []T {
	n := 2
	for len(items) >= 2 {
		chunk := (len(items) + n - 1) / n
		reduced := false
		for start := 0; start < len(items); start += chunk {
			end := min(start+chunk, len(items))
			comp := append(append([]T(nil), items[:start]...), items[end:]...)
			if fails(comp) {
				items = comp
				n = max(n-1, 2)
				reduced = true
				break
			}
		}
		if !reduced {
			if n >= len(items) {
				break
			}
			n = min(n*2, len(items))
		}
	}
	if len(items) == 1 && fails(nil) {
		return nil
	}
	return items
}
