package analyze

import (
	"strings"
	"testing"

	"github.com/ipsift/ipsift/rules"
)

// outcome is who decides a packet and how: a rule's id (or -1 for the
// policy) and whether it drops it.
type outcome struct {
	id   int
	drop bool
}

// outcomes runs p from rule i of chain c with the reference semantics
// (random_test.go) and returns every way it can end (opaque matches go
// both ways), and the packets that leave c without a verdict.
func (g *gen) outcomes(c *gChain, i int, p pkt, depth int) (ends []outcome, back []pkt) {
	for ; i < len(c.rules); i++ {
		gr := c.rules[i]
		matched := true
		for _, f := range gr.preds {
			if !f(&p) {
				matched = false
				break
			}
		}
		if !matched {
			continue
		}
		if gr.opaque {
			e, b := g.outcomes(c, i+1, p, depth)
			ends, back = append(ends, e...), append(back, b...)
		}
		switch gr.kind {
		case tAccept, tDrop, tReject:
			return append(ends, outcome{gr.id, gr.kind != tAccept}), back
		case tLog, tNone:
			continue
		case tMark:
			p.mark = gr.mark
			continue
		case tReturn:
			if c.builtin {
				return append(ends, outcome{-1, c.policy == "DROP"}), back
			}
			return ends, append(back, p)
		case tJump, tGoto:
			e, returned := g.outcomes(g.byName[gr.target], 0, p, depth+1)
			ends = append(ends, e...)
			if gr.kind == tGoto {
				if c.builtin {
					for range returned {
						ends = append(ends, outcome{-1, c.policy == "DROP"})
					}
					return ends, back
				}
				return ends, append(back, returned...)
			}
			for _, q := range uniq(returned) {
				e, b := g.outcomes(c, i+1, q, depth)
				ends, back = append(ends, e...), append(back, b...)
			}
			return ends, back
		}
	}
	if c.builtin {
		return append(ends, outcome{-1, c.policy == "DROP"}), back
	}
	return ends, append(back, p)
}

// point is the packet's point in the model's space.
func (p *pkt) point(atoms *ifaceAtoms) [numDims]uint32 {
	var v [numDims]uint32
	v[dimSrc], v[dimDst] = p.src, p.dst
	v[dimIn], v[dimOut] = atoms.of(p.in), atoms.of(p.out)
	v[dimProto], v[dimSport], v[dimDport], v[dimFlags] = uint32(p.proto), uint32(p.sport), uint32(p.dport), uint32(p.flags)
	v[dimICMP] = uint32(p.icmpType) << 8
	switch p.ctBase {
	case 0, 1:
		v[dimState] = uint32(p.ctBase)
	default:
		v[dimState] = 2 + uint32(p.ctBase-2)*4
		if p.snat {
			v[dimState]++
		}
		if p.dnat {
			v[dimState] += 2
		}
	}
	if p.frag {
		v[dimFrag] = 1
	}
	v[dimMark], v[dimLen], v[dimTTL] = p.mark, uint32(p.length), uint32(p.ttl)
	return v
}

// of is the atom of interface name n: the name itself, else the longest
// wildcard prefix it starts with, else the value past the atoms.
func (a *ifaceAtoms) of(n string) uint32 {
	if i, ok := a.index[n]; ok {
		return uint32(i)
	}
	best, at := -1, uint32(len(a.reps))
	for i, rep := range a.reps {
		if p, ok := strings.CutSuffix(rep, "\x01"); ok && strings.HasPrefix(n, p) && len(p) > best {
			best, at = len(p), uint32(i)
		}
	}
	return at
}

func (r region) holds(v [numDims]uint32) bool {
	for _, b := range r {
		in := true
		for d := range b {
			if !b[d].has(v[d]) {
				in = false
				break
			}
		}
		if in {
			return true
		}
	}
	return false
}

// TestFateRandom checks the fate walk against the reference evaluator on
// generated rulesets: every packet it says a rule or policy surely drops
// or accepts is, on every way the reference can run it, decided so by
// that rule or policy.
func TestFateRandom(t *testing.T) {
	seeds, checked, sure := 0, 0, 0
	for seed := uint64(1); seeds < 300 && seed < 2000; seed++ {
		g := newGen(seed)
		u := g.universe(20_000)
		if u == nil {
			continue
		}
		seeds++
		rs := g.ruleset()
		a := newAnalyzer(rs, newIfaceAtoms([]*rules.Ruleset{rs}))
		for _, gc := range g.chains {
			if !gc.builtin {
				continue
			}
			h, _ := rules.HookOf(gc.name)
			drops, accepts, _ := a.fateAt(h, universe(), full(dimState))
			for _, p := range u {
				ends, _ := g.outcomes(gc, 0, p, 0)
				v := p.point(a.atoms)
				checked++
				for _, d := range append(drops, accepts...) {
					if !d.r.holds(v) {
						continue
					}
					sure++
					want := outcome{-1, d.drop}
					if d.ri != nil {
						want.id = d.ri.r.Pos.Line - 1
					}
					for _, e := range ends {
						if e != want {
							t.Fatalf("seed %d: %+v is surely %s by %s, but the reference ends it %+v\n%s", seed, p, map[bool]string{true: "dropped", false: "accepted"}[d.drop], d.name(), e, dump(rs))
						}
					}
				}
			}
		}
	}
	t.Logf("%d rulesets, %d packets, %d surely decided", seeds, checked, sure)
	if sure == 0 {
		t.Fatal("nothing was decided: the test tested nothing")
	}
}
