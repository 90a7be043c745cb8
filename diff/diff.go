// Package diff compares two rulesets by their effect: for every packet
// and connection context, do both give the same verdict, the same packet
// after rewrites, the same mark, connection mark and NAT binding, and
// the same log records? It runs both symbolically (package symbolic),
// finds the regions of the input space where the outcomes differ,
// describes each as packet classes, and checks a witness packet of each
// with the real engine before reporting it.
package diff

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/ipsift/ipsift/bdd"
	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/host"
	"github.com/ipsift/ipsift/ipset"
	"github.com/ipsift/ipsift/rules"
	"github.com/ipsift/ipsift/symbolic"
)

// Options tune a comparison.
type Options struct {
	Host   *host.Host // nil: host.Default()
	Legacy bool       // the legacy backend's semantics
	Sets   *ipset.Registry
	// IgnoreLog and IgnoreMark weaken equivalence (--ignore log,mark).
	IgnoreLog, IgnoreMark bool
	// MaxNodes is the node budget (0: DefaultMaxNodes).
	MaxNodes int
	// MaxRegions bounds the regions described (0: 20).
	MaxRegions int
	// Focus restricts the comparison to packets of a class (a filter
	// in the words of Parse Focus); nil: all.
	Focus *Focus
	// Matrix computes the service matrix: MatrixAll every row, else
	// the rows that change.
	Matrix, MatrixAll bool
	// IgnoreField is the planted bug of the tests: the comparison
	// treats every match on this field as unknown. Only tests set it.
	IgnoreField symbolic.Field
}

// DefaultMaxNodes is the default node budget: about 2 GiB of nodes and
// caches at most.
const DefaultMaxNodes = 40_000_000

// Outcome is what one ruleset does with a region's packets.
type Outcome struct {
	Verdict string `json:"verdict"`
	Why     string `json:"why,omitempty"`
}

func (o Outcome) String() string {
	if o.Why == "" {
		return o.Verdict
	}
	return o.Verdict + " (" + o.Why + ")"
}

// Region is a set of packets on which OLD and NEW differ.
type Region struct {
	Old, New Outcome
	// Classes describe the region as packet classes, iptables-like.
	Classes []string
	// More is the number of classes not listed.
	More int
	// Log2Size is log2 of the number of inputs (header bits and
	// connection context) in the region.
	Log2Size float64
	// May is set when the difference depends on a stateful or opaque
	// match (Because names them): the outcomes differ for some of their
	// answers only.
	May     bool
	Because []string
	// Aspects says what differs: verdict, packet, mark, ctmark, log.
	Aspects []string
	Witness *Witness
	g       bdd.Node
}

// Result is the answer of a comparison.
type Result struct {
	Family  ext.Family
	Regions []*Region
	// Unconfirmed are regions whose witnesses the engine did not
	// reproduce: a bug of the model (never printed as differences).
	Unconfirmed []*Region
	// Opaque lists the matches the model read as free variables.
	Opaque []string
	// GaveUp is set when the budget ran out: the answer is partial.
	GaveUp error
	Nodes  int
	// Matrix is the service matrix (Options.Matrix).
	Matrix []MatrixRow
	// Unchecked counts the regions past Options.MaxRegions: neither
	// described nor witnessed.
	Unchecked int
}

// Equivalent reports whether the rulesets were proven to have the same
// effect: no region differs, none is unconfirmed, and the comparison
// finished.
func (r *Result) Equivalent() bool {
	return len(r.Regions) == 0 && len(r.Unconfirmed) == 0 && r.GaveUp == nil && r.Unchecked == 0
}

// Brief is the answer in a few words: equivalent, how many regions
// differ (and how many only may), unsure, or gave up.
func (r *Result) Brief() string {
	switch {
	case r.GaveUp != nil:
		return "gave up (" + r.GaveUp.Error() + "): partial answer"
	case len(r.Unconfirmed) > 0:
		return fmt.Sprintf("unsure: %d regions the engine did not confirm (internal error)", len(r.Unconfirmed))
	case r.Equivalent():
		return "equivalent"
	}
	may := 0
	for _, g := range r.Regions {
		if g.May {
			may++
		}
	}
	n := len(r.Regions) + r.Unchecked
	var notes []string
	if may > 0 {
		notes = append(notes, fmt.Sprintf("%d only may differ", may))
	}
	if r.Unchecked > 0 {
		notes = append(notes, fmt.Sprintf("%d past --max not checked", r.Unchecked))
	}
	if len(notes) > 0 {
		return fmt.Sprintf("%d regions differ (%s)", n, strings.Join(notes, ", "))
	}
	return fmt.Sprintf("%d regions differ", n)
}

// Size is the region's number of inputs as a power of two ("2^236.4").
func (g *Region) Size() string {
	if math.IsInf(g.Log2Size, -1) {
		return "0"
	}
	return fmt.Sprintf("2^%.1f", g.Log2Size)
}

// Compare compares two rulesets of one family.
func Compare(old, new *rules.Ruleset, o Options) (*Result, error) {
	res, _, err := compareRuns(old, new, o)
	return res, err
}

// newSpace makes the symbolic space of a comparison or a property check
// with o's host and node budget (their defaults when unset), its node
// pool sized for rulesets of matches matches in all.
func (o Options) newSpace(fam ext.Family, matches int) *symbolic.Space {
	h := o.Host
	if h == nil {
		h = host.Default()
	}
	budget := o.MaxNodes
	if budget == 0 {
		budget = DefaultMaxNodes
	}
	return symbolic.New(fam, h, 4096+8*matches, budget)
}

// compareRuns is Compare, also returning the comparer (its symbolic
// runs: the tests sample packets from their leaves); nil when the
// comparison gave up before the runs finished.
func compareRuns(old, new *rules.Ruleset, o Options) (*Result, *comparer, error) {
	if old.Family != new.Family {
		return nil, nil, errors.New("diff: the rulesets are of different families")
	}
	s := o.newSpace(old.Family, countMatches(old)+countMatches(new))
	res := &Result{Family: old.Family}
	split := map[string]bool{}
	var ro, rn *symbolic.Run
	for round := 0; ; round++ {
		var err1, err2 error
		ro, err1 = symbolic.Execute(s, old, symbolic.Options{IgnoreField: o.IgnoreField, Split: split, Tag: "OLD"})
		rn, err2 = symbolic.Execute(s, new, symbolic.Options{IgnoreField: o.IgnoreField, Split: split, Tag: "NEW"})
		if err := errors.Join(err1, err2); err != nil {
			res.GaveUp = err
			res.Nodes = s.M.Size()
			return res, nil, nil
		}
		// A stateful match is shared by OLD and NEW only where the same
		// packets reach it.
		changed := false
		for k, r := range ro.Reach {
			if r2, ok := rn.Reach[k]; ok && r2 != r && !split[k] && s.M.And(r, s.Domain) != s.M.And(r2, s.Domain) {
				split[k] = true
				changed = true
			}
		}
		if !changed || round > 3 {
			break
		}
	}
	// A REJECT that answers nothing is a drop.
	for _, r := range []*symbolic.Run{ro, rn} {
		var leaves []*symbolic.Leaf
		for _, l := range r.Leaves {
			silent := s.M.And(l.G, s.SilentReject(l))
			if silent == bdd.False {
				leaves = append(leaves, l)
				continue
			}
			leaves = append(leaves, symbolic.Silenced(l, silent))
			if rest := s.M.Diff(l.G, silent); rest != bdd.False {
				k := *l
				k.G = rest
				leaves = append(leaves, &k)
			}
		}
		r.Leaves = leaves
	}
	c := &comparer{s: s, o: o, old: ro, new: rn}
	c.compare(res)
	for k, d := range ro.Opaque {
		_ = k
		res.Opaque = append(res.Opaque, d)
	}
	for _, d := range rn.Opaque {
		res.Opaque = append(res.Opaque, d)
	}
	res.Opaque = dedupe(res.Opaque)
	if err := s.M.Err(); err != nil && res.GaveUp == nil {
		res.GaveUp = err
	}
	res.Nodes = s.M.Size()
	if res.GaveUp == nil {
		c.witnesses(res, old, new)
		if o.Matrix {
			c.matrix(res, old, new, o.MatrixAll)
		}
	}
	return res, c, nil
}

func dedupe(l []string) []string {
	sort.Strings(l)
	out := l[:0]
	for i, x := range l {
		if i == 0 || x != l[i-1] {
			out = append(out, x)
		}
	}
	return out
}

func countMatches(rs *rules.Ruleset) int {
	n := 0
	for _, t := range rs.Tables {
		for _, c := range t.Chains {
			for _, r := range c.Rules {
				n += len(r.Matches) + 1
			}
		}
	}
	return n
}

type comparer struct {
	s        *symbolic.Space
	o        Options
	old, new *symbolic.Run
}

// observed is what of a leaf is compared: the vectors, in a fixed order
// per verdict, and the effects.
func (c *comparer) observed(l *symbolic.Leaf) []bdd.Vec {
	st := l.St
	m := c.s.M
	var vs []bdd.Vec
	first := st.F[symbolic.FFirst][0]
	if !c.o.IgnoreMark {
		// What a dropped first packet leaves on its connection is
		// forgotten with the connection.
		if l.Verdict == "drop" || strings.HasPrefix(l.Verdict, "reject") {
			vs = append(vs, m.Select(first, bdd.UintVec(0, 32), st.F[symbolic.FCTMark]))
		} else {
			vs = append(vs, st.F[symbolic.FMark], st.F[symbolic.FCTMark])
		}
	}
	if l.Verdict == "drop" {
		return vs
	}
	for _, f := range []symbolic.Field{symbolic.FSrc, symbolic.FDst, symbolic.FSport, symbolic.FDport, symbolic.FTTL, symbolic.FTOS, symbolic.FOut} {
		vs = append(vs, st.F[f])
	}
	return vs
}

func (c *comparer) leafKey(l *symbolic.Leaf) string {
	b := make([]byte, 0, 1024)
	b = append(b, l.Verdict...)
	b = append(b, 0)
	for _, v := range c.observed(l) {
		for _, n := range v {
			b = binary.LittleEndian.AppendUint32(b, uint32(n))
		}
		b = append(b, 0xff, 0xff, 0xff, 0xff)
	}
	if !c.o.IgnoreLog {
		// Effect ids are canonical: the same records of the same
		// packet fields.
		b = binary.LittleEndian.AppendUint32(b, uint32(l.St.Eff))
	}
	return string(b)
}

// compare finds the regions where the outcomes differ.
func (c *comparer) compare(res *Result) {
	m := c.s.M
	dom := c.s.Domain
	if c.o.Focus != nil {
		dom = m.And(dom, c.o.Focus.node(c.s))
	}
	byKey := func(r *symbolic.Run) map[string]bdd.Node {
		out := map[string]bdd.Node{}
		for _, l := range r.Leaves {
			k := c.leafKey(l)
			out[k] = m.Or(out[k], l.G)
		}
		return out
	}
	ko, kn := byKey(c.old), byKey(c.new)
	same := bdd.False
	for k, g := range ko {
		if g2, ok := kn[k]; ok {
			same = m.Or(same, m.And(g, g2))
		}
	}
	rest := m.Diff(dom, same)
	if rest == bdd.False {
		return
	}
	type pair struct{ o, n Outcome }
	groups := map[pair]*Region{}
	var order []pair
	var lo, ln []*symbolic.Leaf
	for _, l := range c.old.Leaves {
		if m.And(l.G, rest) != bdd.False {
			lo = append(lo, l)
		}
	}
	for _, l := range c.new.Leaves {
		if m.And(l.G, rest) != bdd.False {
			ln = append(ln, l)
		}
	}
	for _, a := range lo {
		ga := m.And(a.G, rest)
		for _, b := range ln {
			g := m.And(ga, b.G)
			if g == bdd.False {
				continue
			}
			var aspects []string
			if a.Verdict != b.Verdict {
				aspects = append(aspects, "verdict")
			} else {
				va, vb := c.observed(a), c.observed(b)
				d := bdd.False
				names := c.observedNames(a)
				for i := range va {
					x := m.Differ(va[i], vb[i])
					if m.And(g, x) != bdd.False {
						aspects = append(aspects, names[i])
					}
					d = m.Or(d, x)
				}
				if !c.o.IgnoreLog && a.St.Eff != b.St.Eff {
					if x := c.logsDiffer(a.St.Eff, b.St.Eff); m.And(g, x) != bdd.False {
						d = m.Or(d, x)
						aspects = append(aspects, "log")
					}
				}
				g = m.And(g, d)
				if g == bdd.False {
					continue
				}
			}
			k := pair{Outcome{a.Verdict, a.Why}, Outcome{b.Verdict, b.Why}}
			r := groups[k]
			if r == nil {
				r = &Region{Old: k.o, New: k.n, g: bdd.False}
				groups[k] = r
				order = append(order, k)
			}
			r.g = m.Or(r.g, g)
			r.Aspects = dedupe(append(r.Aspects, aspects...))
		}
	}
	pool := c.s.PoolVars()
	for _, k := range order {
		r := groups[k]
		// The part that differs whatever the free variables say, and
		// the part that differs for some of their answers only.
		sure := m.Forall(r.g, pool)
		maybe := m.Diff(r.g, sure)
		if sure != bdd.False {
			res.Regions = append(res.Regions, c.region(r, sure, false))
		}
		if maybe != bdd.False && m.Exists(maybe, pool) != bdd.False {
			res.Regions = append(res.Regions, c.region(r, maybe, true))
		}
	}
	// What surely differs first, then what may; each by size.
	sort.SliceStable(res.Regions, func(i, j int) bool {
		a, b := res.Regions[i], res.Regions[j]
		if a.May != b.May {
			return !a.May
		}
		return a.Log2Size > b.Log2Size
	})
}

// loggedFields are what a log record shows of the packet.
var loggedFields = []symbolic.Field{symbolic.FIn, symbolic.FOut, symbolic.FSrc, symbolic.FDst, symbolic.FProto, symbolic.FSport, symbolic.FDport,
	symbolic.FFlags, symbolic.FIType, symbolic.FICode, symbolic.FTTL, symbolic.FTOS, symbolic.FLen, symbolic.FMark}

// logsDiffer is where two effect lists record differently: other
// records, or the same records of packets that differ then.
func (c *comparer) logsDiffer(x, y int32) bdd.Node {
	m := c.s.M
	ex, ey := c.s.EffectList(x), c.s.EffectList(y)
	if len(ex) != len(ey) {
		return bdd.True
	}
	d := bdd.False
	for i := range ex {
		if ex[i].Text != ey[i].Text {
			return bdd.True
		}
		for _, f := range loggedFields {
			d = m.Or(d, m.Differ(ex[i].At.F[f], ey[i].At.F[f]))
		}
	}
	return d
}

// region makes a region of part of a group's inputs.
func (c *comparer) region(r *Region, g bdd.Node, may bool) *Region {
	m := c.s.M
	pool := c.s.PoolVars()
	n := &Region{Old: r.Old, New: r.New, Aspects: r.Aspects, g: g, May: may}
	n.Log2Size = c.log2Size(m.Exists(g, pool))
	if may {
		for _, v := range m.Support(g) {
			if name, ok := c.s.Names[v]; ok {
				n.Because = append(n.Because, c.describeVar(name))
			}
		}
		n.Because = dedupe(n.Because)
	}
	return n
}

func (c *comparer) describeVar(name string) string {
	for _, r := range []*symbolic.Run{c.old, c.new} {
		for k, d := range r.Opaque {
			if strings.HasPrefix(name, k) {
				return d
			}
		}
	}
	switch {
	case strings.HasPrefix(name, "nat "):
		return "the address or port a NAT rule chooses from its range"
	case strings.HasPrefix(name, "rewrite "):
		return "a rewrite the model does not read"
	case strings.HasPrefix(name, "ignored "):
		return "an ignored field"
	}
	return name
}

func (c *comparer) observedNames(l *symbolic.Leaf) []string {
	var n []string
	if !c.o.IgnoreMark {
		if l.Verdict == "drop" || strings.HasPrefix(l.Verdict, "reject") {
			n = append(n, "ctmark")
		} else {
			n = append(n, "mark", "ctmark")
		}
	}
	if l.Verdict == "drop" {
		return n
	}
	return append(n, "src", "dst", "sport", "dport", "ttl", "tos", "out interface")
}

// log2Size is log2 of the number of header assignments in n.
func (c *comparer) log2Size(n bdd.Node) float64 {
	// n does not depend on the pool: count over every variable and
	// take the pool's share out.
	return c.s.M.SatLog2(n) - float64(c.s.M.NumVars()-c.s.Header)
}
