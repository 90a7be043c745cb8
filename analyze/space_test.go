package analyze

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestSetOps(t *testing.T) {
	a := setOf(span{1, 3}, span{10, 20}, span{4, 5}) // 1-5, 10-20
	if want := (set{{1, 5}, {10, 20}}); !a.equal(want) {
		t.Fatalf("setOf merged to %v, want %v", a, want)
	}
	b := set{{3, 12}}
	for _, tc := range []struct {
		name      string
		got, want set
	}{
		{"intersect", a.intersect(b), set{{3, 5}, {10, 12}}},
		{"minus", a.minus(b, dimSport), set{{1, 2}, {13, 20}}},
		{"union", a.union(b), set{{1, 20}}},
		{"complement", a.complement(dimTTL), set{{0, 0}, {6, 9}, {21, 255}}},
		{"complement of full", full(dimSrc).complement(dimSrc), nil},
		{"complement at the top", set{{0, 4294967294}}.complement(dimSrc), set{{4294967295, 4294967295}}},
	} {
		if !tc.got.equal(tc.want) {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	if !(set{{11, 12}}).subsetOf(a, 0) || (set{{5, 10}}).subsetOf(a, 0) {
		t.Errorf("subsetOf is wrong")
	}
	if !a.overlaps(b) || a.overlaps(set{{6, 9}}) {
		t.Errorf("overlaps is wrong")
	}
}

// The region property test works in a small corner of the space: four
// dimensions with few values, the others held at 0.
var smallDims = []struct{ d, n int }{{dimFrag, 2}, {dimState, numCTValues}, {dimProto, 6}, {dimTTL, 5}}

func randomSet(r *rand.Rand, d, n int) set {
	if r.IntN(4) == 0 {
		return full(d)
	}
	var spans []span
	for range 1 + r.IntN(2) {
		lo := uint32(r.IntN(n))
		spans = append(spans, span{lo, min(lo+uint32(r.IntN(2)), dimMax[d])})
	}
	return setOf(spans...)
}

func randomRegion(r *rand.Rand) region {
	var out region
	for range r.IntN(4) {
		b := fullBox()
		for _, sd := range smallDims {
			b = b.with(sd.d, randomSet(r, sd.d, sd.n))
		}
		out = append(out, b)
	}
	return out
}

// eachPoint calls f for every point of the small corner.
func eachPoint(f func(p probe)) {
	var rec func(i int, p probe)
	rec = func(i int, p probe) {
		if i == len(smallDims) {
			f(p)
			return
		}
		for v := 0; v <= min(smallDims[i].n, int(dimMax[smallDims[i].d])); v++ {
			q := probe{}
			for k, x := range p {
				q[k] = x
			}
			q[smallDims[i].d] = uint32(v)
			rec(i+1, q)
		}
	}
	rec(0, probe{})
}

// TestRegionOps checks the region operations point by point against set
// membership on random regions.
func TestRegionOps(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	for i := 0; i < 300; i++ {
		a, b := randomRegion(r), randomRegion(r)
		w := &work{left: 1 << 30}
		minus, _ := a.minus(b, w)
		plus, _ := a.plus(b, w)
		meet := a.meet(b)
		compact := plus.compact()
		var hull *box
		if !a.empty() {
			hull = a.hull()
		}
		marked := a.setDim(dimTTL, point(3))
		havoc := a.havoc(1 << dimProto)
		eachPoint(func(p probe) {
			inA, inB := p.in(a), p.in(b)
			check := func(name string, got, want bool) {
				if got != want {
					t.Fatalf("case %d: %s: point %v: got %v, want %v\na=%v\nb=%v", i, name, p, got, want, a, b)
				}
			}
			check("minus", p.in(minus), inA && !inB)
			check("plus", p.in(plus), inA || inB)
			check("meet", p.in(meet), inA && inB)
			check("meets", a.meets(b), !meet.empty())
			check("compact", p.in(compact), inA || inB)
			if hull != nil && inA {
				check("hull", p.in(region{hull}), true)
			}
			if inA && !p.in(region{fullBox().with(dimTTL, point(3))}) {
				q := probe{}
				for k, v := range p {
					q[k] = v
				}
				q[dimTTL] = 3
				check("setDim", q.in(marked), true)
			}
			if inA {
				for v := uint32(0); v < 6; v++ {
					q := probe{}
					for k, x := range p {
						q[k] = x
					}
					q[dimProto] = v
					check("havoc", q.in(havoc), true)
				}
			}
			if a.within(b) {
				check("within", !inA || inB, true)
			}
		})
	}
}

// TestCutIsDisjoint checks that subtraction yields disjoint pieces, which
// keeps regions from filling with overlaps.
func TestCutIsDisjoint(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	for i := 0; i < 300; i++ {
		a, b := randomRegion(r), randomRegion(r)
		if len(a) == 0 || len(b) == 0 {
			continue
		}
		pieces := a[0].cut(b[0], nil)
		for x := range pieces {
			for y := x + 1; y < len(pieces); y++ {
				if pieces[x].meets(pieces[y]) {
					t.Fatalf("pieces %v and %v of %v minus %v overlap", pieces[x], pieces[y], a[0], b[0])
				}
			}
		}
	}
}

// TestSetMinus checks set.minus against its definition, s ∩ ¬t, on
// random sets of a small dimension and of a full 32-bit one.
func TestSetMinus(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	randSet := func(max uint32) set {
		var spans []span
		for range r.IntN(5) {
			lo := r.Uint32N(max)
			hi := lo + r.Uint32N(max-lo+1)
			if r.IntN(4) == 0 {
				hi = max
			}
			spans = append(spans, span{lo, hi})
		}
		return setOf(spans...)
	}
	for i := 0; i < 20000; i++ {
		d := dimFlags
		if i%2 == 1 {
			d = dimSrc
		}
		max := dimMax[d]
		if d == dimSrc && i%4 == 1 {
			max = 300 // small values, so that spans meet often
		}
		s, u := randSet(max), randSet(max)
		if d == dimSrc && i%8 == 3 {
			s = setOf(append(s, span{math.MaxUint32 - 2, math.MaxUint32})...)
		}
		want, got := s.intersect(u.complement(d)), s.minus(u, d)
		if !want.equal(got) {
			t.Fatalf("%v minus %v = %v, want %v", s, u, got, want)
		}
	}
}
