// Package bdd is a reduced ordered binary decision diagram library:
// hash-consed nodes, so that two equal boolean functions are the same
// Node and equality is one comparison; the usual operations (Not, And,
// Or, Xor, Ite), Restrict and Exists/Forall, a satisfying assignment,
// counting, and a node budget after which every operation gives up
// cleanly (Err reports it) instead of exhausting memory.
//
// Variables are numbered from 0; a lower number is nearer the root.
// A Manager is not safe for concurrent use.
//
//	m := bdd.New(64, 0)
//	f := m.And(m.Var(0), m.Not(m.Var(1)))
//	a, ok := m.SatOne(f) // a[0] == 1, a[1] == 0
package bdd

import (
	"errors"
	"math"
)

// Node is a boolean function owned by a Manager. False and True are the
// same in every Manager.
type Node uint32

// The constant functions.
const (
	False Node = 0
	True  Node = 1
)

// ErrBudget is the error Err returns once the node budget is exhausted.
var ErrBudget = errors.New("bdd: node budget exhausted")

type node struct {
	v      int32 // variable; constants have v = numVars (below every variable)
	lo, hi Node
}

type cacheEntry struct {
	op      uint32
	a, b, c Node
	r       Node
}

// Manager owns the nodes of a family of functions over NumVars variables.
type Manager struct {
	nodes   []node
	table   []Node // open addressing: node index, 0 = empty slot
	mask    uint32
	cache   []cacheEntry
	cmask   uint32
	numVars int
	max     int
	err     error
	// quant is the variable set of the running Exists or Forall.
	quant []bool
	qid   uint32
}

// Operation codes of the cache.
const (
	opAnd uint32 = iota + 1
	opOr
	opXor
	opNot
	opIte
	opRestrict0
	opRestrict1
	opExists
	opForall
)

// New returns a Manager for numVars variables that stops at maxNodes
// nodes (0 means no budget).
func New(numVars, maxNodes int) *Manager {
	m := &Manager{numVars: numVars, max: maxNodes}
	m.nodes = make([]node, 2, 1<<12)
	m.nodes[0] = node{v: int32(numVars)}
	m.nodes[1] = node{v: int32(numVars), lo: 1, hi: 1}
	m.table = make([]Node, 1<<13)
	m.mask = 1<<13 - 1
	m.cache = make([]cacheEntry, 1<<14)
	m.cmask = 1<<14 - 1
	return m
}

// NumVars is the number of variables.
func (m *Manager) NumVars() int { return m.numVars }

// Size is the number of nodes made so far (the two constants included).
func (m *Manager) Size() int { return len(m.nodes) }

// Err is ErrBudget once an operation ran out of nodes: from then on
// every result is meaningless (operations return False) and the caller
// must give up.
func (m *Manager) Err() error { return m.err }

// Var is the function "variable i is 1".
//
// Once the budget is exhausted (Err is set), operations return
// meaningless results (often False) and the caller must give up.
func (m *Manager) Var(i int) Node { return m.mk(int32(i), False, True) }

// NVar is the function "variable i is 0".
func (m *Manager) NVar(i int) Node { return m.mk(int32(i), True, False) }

// Level is the variable at the root of n (NumVars for a constant).
func (m *Manager) Level(n Node) int { return int(m.nodes[n].v) }

// Low and High are n's cofactors for its root variable 0 and 1.
func (m *Manager) Low(n Node) Node  { return m.nodes[n].lo }
func (m *Manager) High(n Node) Node { return m.nodes[n].hi }

func hash3(v int32, lo, hi Node) uint32 {
	h := uint32(v)*0x9e3779b1 + uint32(lo)*0x85ebca77 + uint32(hi)*0xc2b2ae3d
	// murmur3's finalizer: every input bit reaches the low bits.
	h ^= h >> 16
	h *= 0x85ebca6b
	h ^= h >> 13
	h *= 0xc2b2ae35
	h ^= h >> 16
	return h
}

// mk returns the node (v, lo, hi), reduced and unique.
func (m *Manager) mk(v int32, lo, hi Node) Node {
	if lo == hi {
		return lo
	}
	i := hash3(v, lo, hi) & m.mask
	for {
		n := m.table[i]
		if n == 0 {
			break
		}
		if x := &m.nodes[n]; x.v == v && x.lo == lo && x.hi == hi {
			return n
		}
		i = (i + 1) & m.mask
	}
	if m.max > 0 && len(m.nodes) >= m.max {
		// Out of budget: every result from now on is meaningless, and
		// Err says so; returning a constant keeps the work bounded.
		m.err = ErrBudget
		return False
	}
	n := Node(len(m.nodes))
	m.nodes = append(m.nodes, node{v, lo, hi})
	m.table[i] = n
	if uint32(len(m.nodes))*2 > m.mask {
		m.grow()
	}
	return n
}

func (m *Manager) grow() {
	size := (m.mask + 1) * 2
	m.table = make([]Node, size)
	m.mask = size - 1
	for n := 2; n < len(m.nodes); n++ {
		x := &m.nodes[n]
		i := hash3(x.v, x.lo, x.hi) & m.mask
		for m.table[i] != 0 {
			i = (i + 1) & m.mask
		}
		m.table[i] = Node(n)
	}
	// The cache grows with the table, to a point.
	if m.cmask < 1<<22-1 && uint32(len(m.nodes)) > m.cmask {
		m.cache = make([]cacheEntry, (m.cmask+1)*4)
		m.cmask = (m.cmask+1)*4 - 1
	}
}

func (m *Manager) lookup(op uint32, a, b, c Node) (Node, bool, uint32) {
	h := op*0x27d4eb2d + uint32(a)*0x9e3779b1 + uint32(b)*0x85ebca77 + uint32(c)*0xc2b2ae3d
	h ^= h >> 16
	h *= 0x85ebca6b
	h ^= h >> 13
	h &= m.cmask
	e := &m.cache[h]
	if e.op == op && e.a == a && e.b == b && e.c == c {
		return e.r, true, h
	}
	return 0, false, h
}

func (m *Manager) store(h, op uint32, a, b, c, r Node) {
	m.cache[h] = cacheEntry{op, a, b, c, r}
}

// guard runs f unless the budget is already exhausted.
func (m *Manager) guard(f func() Node) Node {
	if m.err != nil {
		return False
	}
	return f()
}

// Not is ¬a.
func (m *Manager) Not(a Node) Node { return m.not(a) }

// And is a ∧ b.
func (m *Manager) And(a, b Node) Node { return m.apply(opAnd, a, b) }

// Or is a ∨ b.
func (m *Manager) Or(a, b Node) Node { return m.apply(opOr, a, b) }

// Xor is a ⊕ b.
func (m *Manager) Xor(a, b Node) Node { return m.apply(opXor, a, b) }

// Diff is a ∧ ¬b.
func (m *Manager) Diff(a, b Node) Node { return m.apply(opAnd, a, m.not(b)) }

// Imp reports whether a implies b (a ∧ ¬b is False).
func (m *Manager) Imp(a, b Node) bool { return m.Diff(a, b) == False }

// Ite is "if f then g else h".
func (m *Manager) Ite(f, g, h Node) Node { return m.ite(f, g, h) }

func (m *Manager) not(a Node) Node {
	if a <= True {
		return 1 - a
	}
	r, ok, h := m.lookup(opNot, a, 0, 0)
	if ok {
		return r
	}
	x := m.nodes[a]
	r = m.mk(x.v, m.not(x.lo), m.not(x.hi))
	m.store(h, opNot, a, 0, 0, r)
	return r
}

func (m *Manager) apply(op uint32, a, b Node) Node {
	switch op {
	case opAnd:
		if a == False || b == False {
			return False
		}
		if a == True || a == b {
			return b
		}
		if b == True {
			return a
		}
	case opOr:
		if a == True || b == True {
			return True
		}
		if a == False || a == b {
			return b
		}
		if b == False {
			return a
		}
	case opXor:
		if a == b {
			return False
		}
		if a == False {
			return b
		}
		if b == False {
			return a
		}
		if a == True {
			return m.not(b)
		}
		if b == True {
			return m.not(a)
		}
	}
	if a > b { // commutative: one cache entry for both orders
		a, b = b, a
	}
	r, ok, h := m.lookup(op, a, b, 0)
	if ok {
		return r
	}
	x, y := m.nodes[a], m.nodes[b]
	v := min(x.v, y.v)
	alo, ahi, blo, bhi := a, a, b, b
	if x.v == v {
		alo, ahi = x.lo, x.hi
	}
	if y.v == v {
		blo, bhi = y.lo, y.hi
	}
	r = m.mk(v, m.apply(op, alo, blo), m.apply(op, ahi, bhi))
	m.store(h, op, a, b, 0, r)
	return r
}

func (m *Manager) ite(f, g, h Node) Node {
	switch {
	case f == True:
		return g
	case f == False:
		return h
	case g == h:
		return g
	case g == True && h == False:
		return f
	case g == False && h == True:
		return m.not(f)
	case g == True:
		return m.apply(opOr, f, h)
	case h == False:
		return m.apply(opAnd, f, g)
	case g == False:
		return m.apply(opAnd, m.not(f), h)
	case h == True:
		return m.apply(opOr, m.not(f), g)
	}
	r, ok, slot := m.lookup(opIte, f, g, h)
	if ok {
		return r
	}
	v := min(m.nodes[f].v, m.nodes[g].v, m.nodes[h].v)
	f0, f1 := m.cof(f, v)
	g0, g1 := m.cof(g, v)
	h0, h1 := m.cof(h, v)
	r = m.mk(v, m.ite(f0, g0, h0), m.ite(f1, g1, h1))
	m.store(slot, opIte, f, g, h, r)
	return r
}

func (m *Manager) cof(n Node, v int32) (Node, Node) {
	x := m.nodes[n]
	if x.v != v {
		return n, n
	}
	return x.lo, x.hi
}

// Restrict is n with variable v fixed to val.
func (m *Manager) Restrict(n Node, v int, val bool) Node {
	return m.restrict(n, int32(v), val)
}

func (m *Manager) restrict(n Node, v int32, val bool) Node {
	x := m.nodes[n]
	if x.v > v {
		return n
	}
	if x.v == v {
		if val {
			return x.hi
		}
		return x.lo
	}
	op := opRestrict0
	if val {
		op = opRestrict1
	}
	r, ok, h := m.lookup(op, n, Node(v), 0)
	if ok {
		return r
	}
	r = m.mk(x.v, m.restrict(x.lo, v, val), m.restrict(x.hi, v, val))
	m.store(h, op, n, Node(v), 0, r)
	return r
}

// Exists is ∃vars. n.
func (m *Manager) Exists(n Node, vars []int) Node { return m.quantify(n, vars, opExists) }

// Forall is ∀vars. n.
func (m *Manager) Forall(n Node, vars []int) Node { return m.quantify(n, vars, opForall) }

func (m *Manager) quantify(n Node, vars []int, op uint32) Node {
	if len(vars) == 0 {
		return n
	}
	if m.quant == nil {
		m.quant = make([]bool, m.numVars)
	}
	for _, v := range vars {
		m.quant[v] = true
	}
	defer func() {
		for _, v := range vars {
			m.quant[v] = false
		}
	}()
	// The cache key holds a fresh id for each variable set.
	m.qid++
	return m.quant1(n, op, Node(m.qid))
}

func (m *Manager) quant1(n Node, op uint32, id Node) Node {
	if n <= True {
		return n
	}
	r, ok, h := m.lookup(op, n, id, 0)
	if ok {
		return r
	}
	x := m.nodes[n]
	lo, hi := m.quant1(x.lo, op, id), m.quant1(x.hi, op, id)
	switch {
	case !m.quant[x.v]:
		r = m.mk(x.v, lo, hi)
	case op == opExists:
		r = m.apply(opOr, lo, hi)
	default:
		r = m.apply(opAnd, lo, hi)
	}
	m.store(h, op, n, id, 0, r)
	return r
}

// SatOne returns one assignment satisfying n: a value per variable, 0 or
// 1 where the path fixes it and -1 where any value will do. ok is false
// when n is False.
func (m *Manager) SatOne(n Node) (a []int8, ok bool) {
	if n == False {
		return nil, false
	}
	a = make([]int8, m.numVars)
	for i := range a {
		a[i] = -1
	}
	for n > True {
		x := m.nodes[n]
		if x.lo != False {
			a[x.v] = 0
			n = x.lo
		} else {
			a[x.v] = 1
			n = x.hi
		}
	}
	return a, true
}

// SatCount is the number of assignments of the variables that satisfy
// n, as a float64 (2^NumVars at most).
func (m *Manager) SatCount(n Node) float64 {
	memo := map[Node]float64{}
	var count func(n Node) float64 // over the variables from n's level down
	count = func(n Node) float64 {
		if n == False {
			return 0
		}
		if n == True {
			return 1
		}
		if c, ok := memo[n]; ok {
			return c
		}
		x := m.nodes[n]
		lo := count(x.lo) * math.Exp2(float64(m.nodes[x.lo].v-x.v-1))
		hi := count(x.hi) * math.Exp2(float64(m.nodes[x.hi].v-x.v-1))
		memo[n] = lo + hi
		return lo + hi
	}
	return count(n) * math.Exp2(float64(m.nodes[n].v))
}

// Support returns the variables n depends on, in order.
func (m *Manager) Support(n Node) []int {
	seen := map[Node]bool{}
	vars := map[int32]bool{}
	var walk func(Node)
	walk = func(n Node) {
		if n <= True || seen[n] {
			return
		}
		seen[n] = true
		vars[m.nodes[n].v] = true
		walk(m.nodes[n].lo)
		walk(m.nodes[n].hi)
	}
	walk(n)
	var out []int
	for v := 0; v < m.numVars; v++ {
		if vars[int32(v)] {
			out = append(out, v)
		}
	}
	return out
}

// Cubes calls f with up to limit paths of n to True, each as an
// assignment (-1 where the path does not test a variable), lows first.
// The cubes are disjoint and together they are n when f saw them all.
func (m *Manager) Cubes(n Node, limit int, f func(cube []int8)) int {
	cube := make([]int8, m.numVars)
	for i := range cube {
		cube[i] = -1
	}
	count := 0
	var walk func(Node) bool
	walk = func(n Node) bool {
		if n == False {
			return true
		}
		if n == True {
			if count >= limit {
				return false
			}
			count++
			f(cube)
			return true
		}
		x := m.nodes[n]
		cube[x.v] = 0
		if !walk(x.lo) {
			return false
		}
		cube[x.v] = 1
		ok := walk(x.hi)
		cube[x.v] = -1
		return ok
	}
	walk(n)
	return count
}

// SatLog2 is log2 of SatCount, computed without overflow for any
// number of variables (-Inf for False).
func (m *Manager) SatLog2(n Node) float64 {
	memo := map[Node]float64{}
	var count func(n Node) float64 // log2, over the variables from n's level down
	count = func(n Node) float64 {
		if n == False {
			return math.Inf(-1)
		}
		if n == True {
			return 0
		}
		if c, ok := memo[n]; ok {
			return c
		}
		x := m.nodes[n]
		lo := count(x.lo) + float64(m.nodes[x.lo].v-x.v-1)
		hi := count(x.hi) + float64(m.nodes[x.hi].v-x.v-1)
		r := logAdd(lo, hi)
		memo[n] = r
		return r
	}
	return count(n) + float64(m.nodes[n].v)
}

// logAdd is log2(2^a + 2^b).
func logAdd(a, b float64) float64 {
	if math.IsInf(a, -1) {
		return b
	}
	if math.IsInf(b, -1) {
		return a
	}
	if a < b {
		a, b = b, a
	}
	return a + math.Log2(1+math.Exp2(b-a))
}

// Simplify returns a function that agrees with f wherever care holds,
// usually with fewer nodes (Coudert and Madre's restrict): what a
// description of f need not say because care says it already.
func (m *Manager) Simplify(f, care Node) Node {
	memo := map[[2]Node]Node{}
	var rec func(f, c Node) Node
	rec = func(f, c Node) Node {
		if c == False {
			return False
		}
		if c == True || f <= True {
			return f
		}
		if r, ok := memo[[2]Node{f, c}]; ok {
			return r
		}
		fx, cx := m.nodes[f], m.nodes[c]
		var r Node
		switch {
		case cx.v < fx.v:
			r = rec(f, m.apply(opOr, cx.lo, cx.hi))
		case cx.v == fx.v && cx.lo == False:
			r = rec(fx.hi, cx.hi)
		case cx.v == fx.v && cx.hi == False:
			r = rec(fx.lo, cx.lo)
		case cx.v == fx.v:
			r = m.mk(fx.v, rec(fx.lo, cx.lo), rec(fx.hi, cx.hi))
		default:
			r = m.mk(fx.v, rec(fx.lo, c), rec(fx.hi, c))
		}
		memo[[2]Node{f, c}] = r
		return r
	}
	return m.guard(func() Node { return rec(f, care) })
}
