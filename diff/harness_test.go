package diff

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ipsift/ipsift/bdd"
	"github.com/ipsift/ipsift/internal/kerneldiff"
	"github.com/ipsift/ipsift/packet"
	"github.com/ipsift/ipsift/rules"
	"github.com/ipsift/ipsift/sim"
	"github.com/ipsift/ipsift/symbolic"
)

// The proof test on the kernel harness's rulesets: OLD is a ruleset the
// harness generates (raw, mangle, nat and filter tables, user chains,
// jumps and gotos, NAT, marks, every extension the generator knows,
// stateful ones included; IPv4 and IPv6), NEW a mutation of it (some
// mutations keep the effect, most change it). Every answer of diff is
// checked in the engine:
//
//   - every witness is run again through both rulesets and must show the
//     difference it was printed for;
//   - every "equivalent" is refuted or not by running packets through
//     both: the harness's packet sequence for OLD (flows, answers,
//     fragments, truncated packets, addressed after NAT as the harness
//     does), and packets sampled from every leaf of both symbolic runs
//     (random members of each region the model distinguishes, with every
//     connection context), each also with its addresses and ports moved
//     to the values the rules name and their neighbours (the cut points).
//
// A diff made to skip one field (the planted bug) must be caught by the
// same check (TestHarnessPlantedBugIsCaught).

// harnessPair is one OLD, NEW pair with OLD's packets.
type harnessPair struct {
	old, new string
	mutation string
	six      bool
	pkts     []kerneldiff.Packet
}

var (
	ruleLine   = regexp.MustCompile(`^-A (\S+) `)
	userChain  = regexp.MustCompile(`(?m)^:(u\d+) - `)
	numberWord = regexp.MustCompile(`\b\d{2,5}\b`)
	addr4Word  = regexp.MustCompile(`\b\d+\.\d+\.\d+\.\d+\b`)
	addr6Word  = regexp.MustCompile(`\b2001:db8:[0-9a-f:]*`)
	policyLine = regexp.MustCompile(`(?m)^:(INPUT|FORWARD|OUTPUT) (ACCEPT|DROP) `)
)

// mutateText makes NEW from OLD's restore text; it returns OLD (changed
// only by the "source moved" mutation), NEW and what it did.
//
// moved, when not "", makes it the "moved" mutation on that option
// ("-s ", "-d " or "-p tcp --dport ") every time: the planted bug's
// test.
func mutateText(r *rand.Rand, text string, six bool, moved string) (old, new, what string) {
	for try := 0; try < 8; try++ {
		kind := r.IntN(14)
		if kind == 13 || moved != "" {
			// The same rule in both, on another source, destination
			// or port, first in filter INPUT and FORWARD: what a diff
			// that skips that field must get wrong.
			a, b := "198.51.100.0/25", "198.51.100.128/25"
			if six {
				a, b = "2001:db8:100::/65", "2001:db8:100:0:8000::/65"
			}
			opt := []string{"-s ", "-d ", "-p tcp --dport "}[r.IntN(3)]
			if moved != "" {
				opt = moved
			}
			if opt == "-p tcp --dport " {
				a, b = "22", "80"
			}
			target := []string{"DROP", "ACCEPT", "REJECT"}[r.IntN(3)]
			return insertFirst(text, opt+a+" -j "+target), insertFirst(text, opt+b+" -j "+target), "moved " + opt + a + " to " + b + " (" + target + ")"
		}
		if n, what := mutateOnce(r, text, six, kind); what != "" {
			return text, n, what
		}
	}
	return text, text, "same"
}

// insertFirst puts rule first in filter INPUT and FORWARD.
func insertFirst(text, rule string) string {
	var out []string
	in := false
	done := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		switch {
		case l == "*filter":
			in = true
		case in && (strings.HasPrefix(l, "-A ") || l == "COMMIT"):
			for _, c := range []string{"INPUT", "FORWARD"} {
				if !done[c] {
					out = append(out, "-A "+c+" "+rule)
					done[c] = true
				}
			}
			if l == "COMMIT" {
				in = false
			}
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n") + "\n"
}

// mutateOnce applies mutation kind; what is "" when it does not apply.
func mutateOnce(r *rand.Rand, text string, six bool, kind int) (string, string) {
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	var rulesAt []int
	for i, l := range lines {
		if ruleLine.MatchString(l) {
			rulesAt = append(rulesAt, i)
		}
	}
	join := func(ls []string) string { return strings.Join(ls, "\n") + "\n" }
	if len(rulesAt) == 0 && kind >= 3 {
		return text, ""
	}
	pickRule := func() int { return rulesAt[r.IntN(len(rulesAt))] }
	switch kind {
	case 0:
		return text, "same"
	case 1:
		// Rename a user chain (equivalent).
		m := userChain.FindAllStringSubmatch(text, -1)
		if len(m) == 0 {
			return text, ""
		}
		name := m[r.IntN(len(m))][1]
		re := regexp.MustCompile(`(^|[ :])` + name + `\b`)
		var out []string
		for _, l := range lines {
			out = append(out, re.ReplaceAllString(l, "${1}renamed"+name))
		}
		return join(out), "rename chain " + name
	case 2:
		// Add a user chain nothing jumps to (equivalent).
		for i, l := range lines {
			if l == "*filter" {
				out := append(append([]string(nil), lines[:i+1]...), ":unused - [0:0]")
				rest := append([]string(nil), lines[i+1:]...)
				for j, l2 := range rest {
					if l2 == "COMMIT" {
						rest = append(rest[:j], append([]string{"-A unused -j DROP"}, rest[j:]...)...)
						break
					}
				}
				return join(append(out, rest...)), "add an unused chain"
			}
		}
		return text, ""
	case 3:
		// Duplicate a rule (equivalent unless it has effects or history).
		i := pickRule()
		out := append(append(append([]string(nil), lines[:i+1]...), lines[i]), lines[i+1:]...)
		return join(out), "duplicate " + lines[i]
	case 4:
		i := pickRule()
		out := append(append([]string(nil), lines[:i]...), lines[i+1:]...)
		return join(out), "delete " + lines[i]
	case 5:
		i := pickRule()
		if i+1 < len(lines) && ruleLine.FindStringSubmatch(lines[i+1]) != nil && ruleLine.FindStringSubmatch(lines[i])[1] == ruleLine.FindStringSubmatch(lines[i+1])[1] {
			out := append([]string(nil), lines...)
			out[i], out[i+1] = out[i+1], out[i]
			return join(out), "swap " + lines[i] + " | " + lines[i+1]
		}
		return text, ""
	case 6:
		locs := policyLine.FindAllStringSubmatchIndex(text, -1)
		if len(locs) == 0 {
			return text, ""
		}
		l := locs[r.IntN(len(locs))]
		p := text[l[4]:l[5]]
		q := map[string]string{"ACCEPT": "DROP", "DROP": "ACCEPT"}[p]
		return text[:l[4]] + q + text[l[5]:], "policy of " + text[l[2]:l[3]] + " to " + q
	case 7, 8:
		// Move an address to another one.
		i := pickRule()
		re, others := addr4Word, []string{"192.0.2.11", "198.51.100.2", "203.0.113.8", "192.0.2.128", "198.51.100.0"}
		if six {
			re, others = addr6Word, []string{"2001:db8:1::9", "2001:db8:2::", "2001:db8:3::1", "2001:db8::"}
		}
		locs := re.FindAllStringIndex(lines[i], -1)
		if len(locs) == 0 {
			return text, ""
		}
		l := locs[r.IntN(len(locs))]
		out := append([]string(nil), lines...)
		out[i] = lines[i][:l[0]] + others[r.IntN(len(others))] + lines[i][l[1]:]
		return join(out), "address: " + out[i]
	case 9:
		// A number (port, length, TTL, prefix length) one off.
		i := pickRule()
		locs := numberWord.FindAllStringIndex(lines[i], -1)
		if len(locs) == 0 {
			return text, ""
		}
		l := locs[r.IntN(len(locs))]
		v, _ := strconv.Atoi(lines[i][l[0]:l[1]])
		out := append([]string(nil), lines...)
		out[i] = lines[i][:l[0]] + strconv.Itoa(v+1) + lines[i][l[1]:]
		return join(out), "number: " + out[i]
	case 10:
		i := pickRule()
		out := append([]string(nil), lines...)
		if strings.Contains(lines[i], "! ") {
			out[i] = strings.Replace(lines[i], "! ", "", 1)
		} else if strings.Contains(lines[i], " -s ") && !strings.Contains(lines[i], ",") {
			out[i] = strings.Replace(lines[i], " -s ", " ! -s ", 1)
		} else {
			return text, ""
		}
		return join(out), "negation: " + out[i]
	default:
		i := pickRule()
		out := append([]string(nil), lines...)
		switch {
		case strings.HasSuffix(lines[i], "-j ACCEPT"):
			out[i] = strings.TrimSuffix(lines[i], "ACCEPT") + "DROP"
		case strings.HasSuffix(lines[i], "-j DROP"):
			out[i] = strings.TrimSuffix(lines[i], "DROP") + "ACCEPT"
		default:
			return text, ""
		}
		return join(out), "target: " + out[i]
	}
}

// genHarnessPair is pair i: IPv6 one time in three.
func genHarnessPair(seed uint64, i int, moved string) harnessPair {
	r := rand.New(rand.NewPCG(seed, uint64(i)+1000))
	six := i%3 == 2
	var text string
	var pkts []kerneldiff.Packet
	if six {
		text, pkts = kerneldiff.Generate6(seed, i, 30)
	} else {
		text, pkts = kerneldiff.Generate(seed, i, 30)
	}
	old, new, what := mutateText(r, text, six, moved)
	return harnessPair{old: old, new: new, mutation: what, six: six, pkts: pkts}
}

// harnessStats counts what a run of pairs did.
type harnessStats struct {
	pairs, skipped, equivalent, different, may int
	gaveUp                                     []string
	witnesses, packets                         int
	// problems are the answers the engine refutes: a false
	// "equivalent" (refuted), or a witness that does not reproduce.
	refuted, unreproduced []string
}

// checkHarnessPair checks diff's answer on one pair in the engine.
func checkHarnessPair(t *testing.T, p harnessPair, o Options, st *harnessStats) {
	t.Helper()
	_, a := kerneldiff.LoadFamily("generated.rules", p.old, p.six)
	_, b := kerneldiff.LoadFamily("generated.rules", p.new, p.six)
	if a == nil || b == nil {
		st.skipped++
		return
	}
	st.pairs++
	o.MaxRegions = 1000
	// A budget that keeps the test short: a pair past it is counted
	// (diff answers "gave up", exit 2, never a wrong answer).
	o.MaxNodes = 1_500_000
	res, c, err := compareRuns(a, b, o)
	if err != nil {
		t.Fatal(err)
	}
	if res.GaveUp != nil {
		st.gaveUp = append(st.gaveUp, p.mutation)
		return
	}
	for _, g := range res.Unconfirmed {
		st.unreproduced = append(st.unreproduced, fmt.Sprintf("region OLD %v NEW %v %v: witness %+v", g.Old, g.New, g.Classes, g.Witness))
	}
	for _, g := range res.Regions {
		if g.May {
			st.may++
		}
		w := g.Witness
		if g.May && (w == nil || !w.Reproduced) {
			continue
		}
		// Run the printed witness again, on fresh engines.
		st.witnesses++
		again := c.check(witnessInput{d: w.Packet, conn: w.Conn, mark: w.Mark, badSum: w.BadChecksum}, a, b)
		if !again.Reproduced && !g.May {
			st.unreproduced = append(st.unreproduced, fmt.Sprintf("region OLD %v NEW %v: witness %s gives OLD %s, NEW %s", g.Old, g.New, w.Text, again.Old, again.New))
		}
	}
	if !res.Equivalent() {
		st.different++
		return
	}
	st.equivalent++
	if d := c.refute(t, a, b, p, st); d != "" {
		st.refuted = append(st.refuted, fmt.Sprintf("mutation %s: diff says equivalent, but %s", p.mutation, d))
	}
}

// refute looks for a packet on which a and b differ in the engine: the
// harness's sequence, then samples of every leaf. It returns the first
// difference ("" when none).
func (c *comparer) refute(t *testing.T, a, b *rules.Ruleset, p harnessPair, st *harnessStats) string {
	t.Helper()
	if d := c.refuteSequence(a, b, p.pkts, st); d != "" {
		return d
	}
	r := rand.New(rand.NewPCG(uint64(len(p.old)), uint64(len(p.new))))
	cuts := cutPoints(p.old+p.new, p.six)
	m := c.s.M
	for _, run := range []*symbolic.Run{c.old, c.new} {
		for _, l := range run.Leaves {
			g := m.And(l.G, c.s.Domain)
			if g == bdd.False {
				continue
			}
			for k := 0; k < 3; k++ {
				wi, ok := c.desc(randomSat(m, g, r))
				if !ok {
					continue
				}
				for _, w := range []witnessInput{wi, cuts.move(r, wi), cuts.move(r, wi)} {
					st.packets++
					if got := c.check(w, a, b); got.Reproduced {
						return fmt.Sprintf("%s (conn %s) gives OLD %s, NEW %s", got.Text, got.ConnText, got.Old, got.New)
					}
				}
			}
		}
	}
	return ""
}

// refuteSequence runs the harness's packets through both rulesets, one
// engine each (connections, answers, history), and compares every
// packet's effect.
func (c *comparer) refuteSequence(a, b *rules.Ruleset, pkts []kerneldiff.Packet, st *harnessStats) string {
	ea, err1 := c.newEngine(a, 0)
	eb, err2 := c.newEngine(b, 0)
	if err1 != nil || err2 != nil {
		return fmt.Sprintf("engine: %v %v", err1, err2)
	}
	var la, lb bytes.Buffer
	ea.Log, eb.Log = &la, &lb
	sa, sb := sim.New(ea), sim.New(eb)
	var sent []packet.Desc
	outs := make([][]sim.Out, len(pkts))
	for i, p := range pkts {
		d, ok := kerneldiff.Resolve(p, pkts, sent, outs)
		sent = append(sent, d)
		if !ok {
			continue
		}
		la.Reset()
		lb.Reset()
		ra, errA := sa.Run(i, d)
		rb, errB := sb.Run(i, d)
		if (errA == nil) != (errB == nil) {
			return fmt.Sprintf("packet %d %s: OLD error %v, NEW error %v", i, d.String(), errA, errB)
		}
		if errA != nil {
			continue
		}
		st.packets++
		outs[i] = ra.Out
		x := c.outcomeText(sa.State, d.CT != nil, &la)
		y := c.outcomeText(sb.State, d.CT != nil, &lb)
		if x != y || ra.Verdict != rb.Verdict {
			return fmt.Sprintf("packet %d of the harness's sequence %s gives OLD %s, NEW %s", i, d.String(), x, y)
		}
		_ = rb
	}
	return ""
}

// randomSat is a random member of n (not False), every variable set.
func randomSat(m *bdd.Manager, n bdd.Node, r *rand.Rand) []int8 {
	a := make([]int8, m.NumVars())
	for i := range a {
		a[i] = int8(r.IntN(2))
	}
	for n != bdd.True {
		v, lo, hi := m.Level(n), m.Low(n), m.High(n)
		high := hi != bdd.False && (lo == bdd.False || r.IntN(2) == 0)
		if high {
			a[v], n = 1, hi
		} else {
			a[v], n = 0, lo
		}
	}
	return a
}

// cutSet holds the addresses and ports the rules name, with their
// neighbours.
type cutSet struct {
	addrs []netip.Addr
	ports []uint16
}

func cutPoints(text string, six bool) cutSet {
	var c cutSet
	re := addr4Word
	if six {
		re = addr6Word
	}
	for _, w := range re.FindAllString(text, -1) {
		if a, err := netip.ParseAddr(strings.TrimRight(w, ":")); err == nil {
			c.addrs = append(c.addrs, a, a.Prev(), a.Next())
		} else if a, err := netip.ParseAddr(w + ":"); err == nil {
			c.addrs = append(c.addrs, a, a.Prev(), a.Next())
		}
	}
	// Prefix ends: the last address of every prefix.
	for _, w := range regexp.MustCompile(`[0-9a-f:.]+/\d+`).FindAllString(text, -1) {
		if p, err := netip.ParsePrefix(w); err == nil && p.Addr().Is6() == six {
			last := p.Masked().Addr()
			for i := p.Bits(); i < last.BitLen(); i++ {
				b := last.AsSlice()
				b[i/8] |= 1 << (7 - i%8)
				last, _ = netip.AddrFromSlice(b)
			}
			c.addrs = append(c.addrs, last, last.Next())
		}
	}
	for _, w := range numberWord.FindAllString(text, -1) {
		if v, err := strconv.Atoi(w); err == nil && v < 65535 {
			c.ports = append(c.ports, uint16(v), uint16(v+1), uint16(max(v-1, 0)))
		}
	}
	var valid []netip.Addr
	for _, a := range c.addrs {
		if a.IsValid() {
			valid = append(valid, a)
		}
	}
	c.addrs = valid
	return c
}

// move gives wi addresses and ports the rules name (each with even odds).
func (c cutSet) move(r *rand.Rand, wi witnessInput) witnessInput {
	d := wi.d
	if wi.conn == nil && len(c.addrs) > 0 {
		if r.IntN(2) == 0 {
			d.Src = c.addrs[r.IntN(len(c.addrs))]
		}
		if r.IntN(2) == 0 {
			d.Dst = c.addrs[r.IntN(len(c.addrs))]
		}
	}
	if (d.Proto == packet.ProtoTCP || d.Proto == packet.ProtoUDP) && len(c.ports) > 0 {
		if r.IntN(2) == 0 {
			d.Sport = c.ports[r.IntN(len(c.ports))]
		}
		if r.IntN(2) == 0 {
			d.Dport = c.ports[r.IntN(len(c.ports))]
		}
	}
	wi.d = d
	return wi
}

func runHarnessPairs(t *testing.T, n int, o Options, moved string, stop func(*harnessStats) bool) *harnessStats {
	st := &harnessStats{}
	for i := 0; i < n && !stop(st); i++ {
		p := genHarnessPair(11, i, moved)
		before := len(st.refuted) + len(st.unreproduced)
		t0 := time.Now()
		checkHarnessPair(t, p, o, st)
		if testing.Verbose() {
			t.Logf("pair %d %v %s (%d packets so far; equivalent %d, gave up %d, refuted %d)", i, time.Since(t0), p.mutation, st.packets, st.equivalent, len(st.gaveUp), len(st.refuted))
		}
		if len(st.refuted)+len(st.unreproduced) > before && o.IgnoreField == 0 {
			t.Errorf("pair %d (%s):\nOLD:\n%sNEW:\n%s", i, p.mutation, p.old, p.new)
		}
	}
	return st
}

// TestHarnessRulesetPairs: diff's every answer on the harness's rulesets
// holds in the engine.
func TestHarnessRulesetPairs(t *testing.T) {
	n := 60
	if testing.Short() {
		n = 20
	}
	st := runHarnessPairs(t, n, Options{}, "", func(*harnessStats) bool { return false })
	for _, p := range append(st.refuted, st.unreproduced...) {
		t.Error(p)
	}
	t.Logf("diff-harness: %d pairs (%d not loadable), %d equivalent, %d different (%d regions only may differ), %d gave up; %d witnesses rerun, %d packets refuting equivalence found nothing",
		st.pairs, st.skipped, st.equivalent, st.different, st.may, len(st.gaveUp), st.witnesses, st.packets)
	if len(st.gaveUp) > st.pairs/10 {
		t.Errorf("gave up on %d of %d pairs: %v", len(st.gaveUp), st.pairs, st.gaveUp)
	}
	if st.equivalent < st.pairs/8 || st.different < st.pairs/8 {
		t.Errorf("too few of one kind: %d equivalent, %d different", st.equivalent, st.different)
	}
}

// TestHarnessPlantedBugIsCaught: a diff that skips every condition on
// the source address (or the destination address, or the destination
// port) must be refuted by the same check, on pairs whose NEW moves a
// rule's value of that field (which that diff cannot see).
func TestHarnessPlantedBugIsCaught(t *testing.T) {
	n := 60
	if testing.Short() {
		n = 20
	}
	for f, opt := range map[symbolic.Field]string{symbolic.FSrc: "-s ", symbolic.FDst: "-d ", symbolic.FDport: "-p tcp --dport "} {
		st := runHarnessPairs(t, n, Options{IgnoreField: f}, opt, func(st *harnessStats) bool { return len(st.refuted) > 0 })
		t.Logf("planted bug (%v ignored): %d pairs, %d false equivalents refuted, %d witnesses not reproduced", f, st.pairs, len(st.refuted), len(st.unreproduced))
		if len(st.refuted) == 0 {
			t.Errorf("a diff that ignores the %v was never refuted: the check cannot catch a false equivalent", f)
			continue
		}
		t.Logf("first: %s", st.refuted[0])
	}
}
