package bdd

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

const nv = 6

// formula is a random boolean formula, evaluated both ways.
type formula struct {
	op   byte // 'v' var, 'n' not, '&', '|', '^', '?' ite, 'c' const
	v    int
	kids []*formula
}

func randFormula(r *rand.Rand, depth int) *formula {
	if depth == 0 || r.IntN(4) == 0 {
		if r.IntN(10) == 0 {
			return &formula{op: 'c', v: r.IntN(2)}
		}
		return &formula{op: 'v', v: r.IntN(nv)}
	}
	switch r.IntN(5) {
	case 0:
		return &formula{op: 'n', kids: []*formula{randFormula(r, depth-1)}}
	case 1:
		return &formula{op: '&', kids: []*formula{randFormula(r, depth-1), randFormula(r, depth-1)}}
	case 2:
		return &formula{op: '|', kids: []*formula{randFormula(r, depth-1), randFormula(r, depth-1)}}
	case 3:
		return &formula{op: '^', kids: []*formula{randFormula(r, depth-1), randFormula(r, depth-1)}}
	}
	return &formula{op: '?', kids: []*formula{randFormula(r, depth-1), randFormula(r, depth-1), randFormula(r, depth-1)}}
}

func (f *formula) eval(a uint) bool {
	switch f.op {
	case 'c':
		return f.v == 1
	case 'v':
		return a>>f.v&1 == 1
	case 'n':
		return !f.kids[0].eval(a)
	case '&':
		return f.kids[0].eval(a) && f.kids[1].eval(a)
	case '|':
		return f.kids[0].eval(a) || f.kids[1].eval(a)
	case '^':
		return f.kids[0].eval(a) != f.kids[1].eval(a)
	}
	if f.kids[0].eval(a) {
		return f.kids[1].eval(a)
	}
	return f.kids[2].eval(a)
}

func (f *formula) build(m *Manager) Node {
	switch f.op {
	case 'c':
		return Node(f.v)
	case 'v':
		return m.Var(f.v)
	case 'n':
		return m.Not(f.kids[0].build(m))
	case '&':
		return m.And(f.kids[0].build(m), f.kids[1].build(m))
	case '|':
		return m.Or(f.kids[0].build(m), f.kids[1].build(m))
	case '^':
		return m.Xor(f.kids[0].build(m), f.kids[1].build(m))
	}
	return m.Ite(f.kids[0].build(m), f.kids[1].build(m), f.kids[2].build(m))
}

// eval evaluates a node under assignment a (bit i = variable i).
func eval(m *Manager, n Node, a uint) bool {
	for n > True {
		if a>>m.Level(n)&1 == 1 {
			n = m.High(n)
		} else {
			n = m.Low(n)
		}
	}
	return n == True
}

func truth(m *Manager, n Node) uint64 {
	var t uint64
	for a := uint(0); a < 1<<nv; a++ {
		if eval(m, n, a) {
			t |= 1 << a
		}
	}
	return t
}

// TestAgainstTruthTables checks every operation against evaluation of
// the formula it was built from, and canonicity: equal truth tables are
// equal nodes.
func TestAgainstTruthTables(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	m := New(nv, 0)
	byTruth := map[uint64]Node{}
	for i := 0; i < 3000; i++ {
		f := randFormula(r, 5)
		n := f.build(m)
		var want uint64
		for a := uint(0); a < 1<<nv; a++ {
			if f.eval(a) {
				want |= 1 << a
			}
		}
		if got := truth(m, n); got != want {
			t.Fatalf("formula %d: truth table %x, want %x", i, got, want)
		}
		if prev, ok := byTruth[want]; ok && prev != n {
			t.Fatalf("formula %d: same function, two nodes %d and %d", i, prev, n)
		}
		byTruth[want] = n
		// SatOne gives a satisfying assignment, with any value for -1.
		if a, ok := m.SatOne(n); ok != (want != 0) {
			t.Fatalf("SatOne ok=%v for truth %x", ok, want)
		} else if ok {
			var x uint
			for v, b := range a {
				if b == 1 || b == -1 && r.IntN(2) == 0 {
					x |= 1 << v
				}
			}
			if !eval(m, n, x) {
				t.Fatalf("SatOne %v does not satisfy", a)
			}
		}
		// SatCount is the number of ones.
		ones := 0
		for a := uint(0); a < 1<<nv; a++ {
			if want>>a&1 == 1 {
				ones++
			}
		}
		if l := m.SatLog2(n); ones > 0 && math.Abs(l-math.Log2(float64(ones))) > 1e-9 || ones == 0 && !math.IsInf(l, -1) {
			t.Fatalf("SatLog2 %v, want log2 %d", l, ones)
		}
		if c := m.SatCount(n); c != float64(ones) {
			t.Fatalf("SatCount %v, want %d", c, ones)
		}
		// Simplify agrees with n on the care set.
		care := randFormula(r, 4).build(m)
		if sm := m.Simplify(n, care); m.And(sm, care) != m.And(n, care) {
			t.Fatalf("Simplify disagrees on the care set")
		}
		// Restrict, Exists and Forall against the table.
		v := r.IntN(nv)
		r0, r1 := m.Restrict(n, v, false), m.Restrict(n, v, true)
		ex, fa := m.Exists(n, []int{v}), m.Forall(n, []int{v})
		for a := uint(0); a < 1<<nv; a++ {
			a0, a1 := a&^(1<<v), a|1<<v
			if eval(m, r0, a) != f.eval(a0) || eval(m, r1, a) != f.eval(a1) {
				t.Fatalf("Restrict var %d wrong at %b", v, a)
			}
			if eval(m, ex, a) != (f.eval(a0) || f.eval(a1)) || eval(m, fa, a) != (f.eval(a0) && f.eval(a1)) {
				t.Fatalf("Exists/Forall var %d wrong at %b", v, a)
			}
		}
		// Cubes cover n exactly and are disjoint.
		var cover uint64
		m.Cubes(n, 1<<nv, func(c []int8) {
			for a := uint(0); a < 1<<nv; a++ {
				in := true
				for v, b := range c {
					if b >= 0 && a>>v&1 != uint(b) {
						in = false
					}
				}
				if in {
					if cover>>a&1 == 1 {
						t.Fatalf("cubes overlap at %b", a)
					}
					cover |= 1 << a
				}
			}
		})
		if cover != want {
			t.Fatalf("cubes cover %x, want %x", cover, want)
		}
	}
}

func TestVectorComparisons(t *testing.T) {
	m := New(8, 0)
	v := m.VarVec(0, 8)
	for _, c := range []struct{ lo, hi uint64 }{{0, 255}, {22, 22}, {1, 0}, {7, 200}, {128, 255}, {0, 127}} {
		rg := m.Range(v, UintVec(c.lo, 8), UintVec(c.hi, 8))
		for x := uint64(0); x < 256; x++ {
			var a uint
			for i := 0; i < 8; i++ {
				if x>>(7-i)&1 == 1 {
					a |= 1 << i
				}
			}
			if got, want := eval(m, rg, a), c.lo <= x && x <= c.hi; got != want {
				t.Fatalf("range %d-%d at %d: %v", c.lo, c.hi, x, got)
			}
		}
	}
	// A masked compare: x & 0x40 == 0x40 holds for half the values.
	f := m.EqMasked(v, UintVec(0x40, 8), UintVec(0x40, 8))
	if c := m.SatCount(f); c != 128 {
		t.Fatalf("masked compare counts %v, want 128", c)
	}
	if m.Prefix(v, UintVec(0xc0, 8), 2) != m.And(m.Var(0), m.Var(1)) {
		t.Fatal("prefix of 2 bits is not var0 & var1")
	}
}

// TestBudget: running out of nodes is an error, never a panic, and every
// later operation keeps failing.
func TestBudget(t *testing.T) {
	m := New(64, 200)
	v := m.VarVec(0, 32)
	w := m.VarVec(32, 32)
	// Equality of two 32-bit vectors needs far more than 200 nodes in
	// this order.
	r := True
	for i := range v {
		r = m.And(r, m.Not(m.Xor(v[i], w[i])))
	}
	if !errors.Is(m.Err(), ErrBudget) {
		t.Fatalf("Err = %v after exceeding the budget (size %d)", m.Err(), m.Size())
	}
	if m.Size() > 200 {
		t.Fatalf("%d nodes made with a budget of 200", m.Size())
	}
	if m.Or(m.Var(0), m.Var(1)) != False {
		t.Fatal("an operation after the budget ran out gave a result")
	}
}

// TestLargeTableGrows: many nodes keep their identity across the table's
// growth.
func TestLargeTableGrows(t *testing.T) {
	m := New(40, 0)
	v := m.VarVec(0, 20)
	w := m.VarVec(20, 20)
	var fs []Node
	for i := uint64(0); i < 2000; i++ {
		fs = append(fs, m.Or(m.Eq(v, UintVec(i, 20)), m.Eq(w, UintVec(i*7, 20))))
	}
	for i := uint64(0); i < 2000; i++ {
		if fs[i] != m.Or(m.Eq(v, UintVec(i, 20)), m.Eq(w, UintVec(i*7, 20))) {
			t.Fatalf("function %d was rebuilt as another node", i)
		}
	}
}

func BenchmarkAndChain(b *testing.B) {
	for b.Loop() {
		m := New(128, 0)
		v := m.VarVec(0, 32)
		r := False
		for i := uint64(0); i < 1000; i++ {
			r = m.Or(r, m.Prefix(v, UintVec(i*2654435761, 32), 24))
		}
	}
}
