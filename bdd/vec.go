package bdd

// Vec is a bit vector of functions, most significant bit first: a field
// of a packet whose bits may be variables, constants or any function of
// other fields (after a rewrite).
type Vec []Node

// VarVec returns the vector of variables first, first+1, ... (width bits).
func (m *Manager) VarVec(first, width int) Vec {
	v := make(Vec, width)
	for i := range v {
		v[i] = m.Var(first + i)
	}
	return v
}

// VarsVec returns the vector of the variables vars, in order.
func (m *Manager) VarsVec(vars []int) Vec {
	v := make(Vec, len(vars))
	for i, x := range vars {
		v[i] = m.Var(x)
	}
	return v
}

// ConstVec returns the constant vector of value (bytes big-endian, the
// last width bits of them).
func ConstVec(value []byte, width int) Vec {
	v := make(Vec, width)
	off := len(value)*8 - width
	for i := range v {
		if Bit(value, off+i) {
			v[i] = True
		}
	}
	return v
}

// UintVec is ConstVec for a number.
func UintVec(x uint64, width int) Vec {
	v := make(Vec, width)
	for i := range v {
		if x>>(width-1-i)&1 != 0 {
			v[i] = True
		}
	}
	return v
}

// Bit is bit i (0 = most significant) of a big-endian byte string.
func Bit(b []byte, i int) bool { return b[i/8]>>(7-i%8)&1 != 0 }

// Eq is v == c, for a constant of the same width.
func (m *Manager) Eq(v, c Vec) Node {
	return m.EqMasked(v, c, nil)
}

// EqMasked is v & mask == c & mask (mask nil: all ones).
func (m *Manager) EqMasked(v, c, mask Vec) Node {
	r := True
	for i := len(v) - 1; i >= 0; i-- {
		if mask != nil && mask[i] == False {
			continue
		}
		if c[i] == True {
			r = m.And(r, v[i])
		} else if c[i] == False {
			r = m.Diff(r, v[i])
		} else {
			r = m.And(r, m.Not(m.Xor(v[i], c[i])))
		}
	}
	return r
}

// Prefix is "the first n bits of v equal those of c".
func (m *Manager) Prefix(v, c Vec, n int) Node {
	return m.Eq(v[:n], c[:n])
}

// Le is v <= c (unsigned), c constant.
func (m *Manager) Le(v, c Vec) Node {
	r := True // equal so far (from the least significant bit up)
	for i := len(v) - 1; i >= 0; i-- {
		if c[i] == True {
			r = m.Ite(v[i], r, True)
		} else {
			r = m.Ite(v[i], False, r)
		}
	}
	return r
}

// Ge is v >= c (unsigned), c constant.
func (m *Manager) Ge(v, c Vec) Node {
	r := True
	for i := len(v) - 1; i >= 0; i-- {
		if c[i] == True {
			r = m.Ite(v[i], r, False)
		} else {
			r = m.Ite(v[i], True, r)
		}
	}
	return r
}

// Range is lo <= v <= hi.
func (m *Manager) Range(v, lo, hi Vec) Node { return m.And(m.Ge(v, lo), m.Le(v, hi)) }

// Differ is v != w, bit by bit.
func (m *Manager) Differ(v, w Vec) Node {
	r := False
	for i := range v {
		r = m.Or(r, m.Xor(v[i], w[i]))
	}
	return r
}

// Select is "if f then a else b", bit by bit.
func (m *Manager) Select(f Node, a, b Vec) Vec {
	if f == True {
		return a
	}
	if f == False {
		return b
	}
	out := make(Vec, len(a))
	for i := range a {
		out[i] = m.Ite(f, a[i], b[i])
	}
	return out
}

// Same reports whether v and w are the same functions.
func Same(v, w Vec) bool {
	if len(v) != len(w) {
		return false
	}
	for i := range v {
		if v[i] != w[i] {
			return false
		}
	}
	return true
}
