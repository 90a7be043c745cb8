package script

import "fmt"

// This file holds the shell's variables and positional parameters: their
// values (known, or unknown with the reason), the scopes a subshell or a
// function call layers over them, and the assignments that set them.

// value is a variable's value (or a positional parameter's).
type value struct {
	b    []byte
	orig []int32 // where each byte was written
	// unknown: the value cannot be known statically; why says why, as
	// the end of "cannot know $X without running the script: <why>",
	// and raw is the unknown text as written (for guessing the tool
	// of $IPT set from $(which iptables)).
	unknown bool
	why     string
	raw     string
}

// variable is a shell variable. Variables are never changed in place
// (an assignment makes a new one), so a subshell can copy the maps.
type variable struct {
	vals  []value // one value for a scalar, the elements of an array
	array bool
	unset bool // the script unset it (or declared it without a value): empty, and known to be
}

// params are the positional parameters of the script or of a function
// call. The script's own arguments are unknown.
type params struct {
	vals    []value
	unknown bool
	// why the unknown parameters are unknown, when they are not simply
	// the script's own arguments (set $X with X unknown).
	why string
}

func (pf *params) whyOr(def string) string {
	if pf.why != "" {
		return pf.why
	}
	return def
}

// scope is a map that a subshell can shadow without copying it: reads
// fall through to the scope it was made from, writes stay in it.
type scope[T any] struct {
	m  map[string]T
	up *scope[T]
}

func newScope[T any](up *scope[T]) *scope[T] { return &scope[T]{m: map[string]T{}, up: up} }

func (sc *scope[T]) get(k string) (T, bool) {
	for ; sc != nil; sc = sc.up {
		if v, ok := sc.m[k]; ok {
			return v, true
		}
	}
	var zero T
	return zero, false
}

func (sc *scope[T]) set(k string, v T) { sc.m[k] = v }

func (s *state) lookup(name string) *variable {
	for i := len(s.locals) - 1; i >= 0; i-- {
		if v, ok := s.locals[i].get(name); ok {
			return v
		}
	}
	v, _ := s.globals.get(name)
	return v
}

func (s *state) setVar(name string, v *variable) {
	for i := len(s.locals) - 1; i >= 0; i-- {
		if _, ok := s.locals[i].get(name); ok {
			s.locals[i].set(name, v)
			return
		}
	}
	s.globals.set(name, v)
}

func (s *state) setScalar(name string, val value) {
	s.setVar(name, &variable{vals: []value{val}})
}

// assign performs NAME=value (or NAME+=value, NAME=(a b)). It reports
// whether the value is known.
func (s *state) assign(w *word, local bool) bool {
	name, app, _ := asAssign(w)
	vw := assignValue(w)
	if len(vw.parts) == 1 && vw.parts[0].kind == pArray {
		var vals []value
		if app {
			if old := s.lookup(name); old != nil && !old.unset {
				vals = append(vals, old.vals...)
			}
		}
		known := true
		for _, e := range vw.parts[0].elems {
			ex := s.newExpander()
			ex.word(e)
			for _, f := range ex.fields() {
				v := f.value()
				if f.unknown() {
					v.why = fmt.Sprintf("it is set at %s from %s", s.src.lineRef(w.pos), f.subject(ex))
					known = false
				}
				vals = append(vals, v)
			}
		}
		s.define(name, &variable{vals: vals, array: true}, local)
		return known
	}
	ex := s.newExpander()
	ex.word(vw)
	f := ex.joined()
	v := f.value()
	if f.unknown() {
		v.why = fmt.Sprintf("it is set at %s from %s", s.src.lineRef(w.pos), f.subject(ex))
	}
	if app {
		if old := s.lookup(name); old != nil && !old.unset && len(old.vals) > 0 {
			v = concatValues(old.vals[0], v)
		} else if old == nil {
			v = value{unknown: true, why: fmt.Sprintf("it is appended to at %s, but never set before", s.src.lineRef(w.pos)), raw: string(v.b)}
		}
	}
	if len(v.b) > maxValue {
		v = value{unknown: true, why: fmt.Sprintf("at %s its value grows beyond %d bytes, which is not followed", s.src.lineRef(w.pos), maxValue)}
	}
	if old := s.lookup(name); old != nil && old.array && !local {
		vals := append([]value{v}, old.vals[min(1, len(old.vals)):]...)
		s.setVar(name, &variable{vals: vals, array: true})
	} else {
		s.define(name, &variable{vals: []value{v}}, local)
	}
	return !v.unknown
}

func (s *state) define(name string, v *variable, local bool) {
	if local && len(s.locals) > 0 {
		s.locals[len(s.locals)-1].set(name, v)
		return
	}
	s.setVar(name, v)
}

func concatValues(a, b value) value {
	if a.unknown {
		return a
	}
	if b.unknown {
		return b
	}
	return value{b: append(append([]byte(nil), a.b...), b.b...), orig: append(append([]int32(nil), a.orig...), b.orig...)}
}
