package script

import "unicode/utf8"

// This file applies the operators of ${X...} to a parameter's values:
// removing a prefix or suffix by pattern (# ## % %%), replacing by
// pattern (/ //), substrings (:off:len) and case changes (^^ ,,).

// transform applies ${X#pat}, ${X%pat}, ${X/pat/rep}, ${X:off:len},
// ${X^^} and the like to each value.
func (e *expander) transform(p *part, r pval) ([]value, bool) {
	s := e.s
	var pat xfield
	var g *globber
	if p.arg != nil && p.op != ":" {
		pe := s.newExpander()
		pe.bufs = []*xbuf{{start: p.arg.pos}}
		for i := range p.arg.parts {
			pe.part(&p.arg.parts[i], false, false)
		}
		pat = pe.joined()
		if pat.unknown() {
			return nil, false
		}
		g = s.compileGlob(pat)
	}
	out := make([]value, 0, len(r.vals))
	for _, v := range r.vals {
		var nv value
		switch p.op {
		case "#", "##", "%", "%%":
			nv = trimValue(v, g, p.op)
		case "/", "//", "/#", "/%":
			rep := value{}
			if p.arg2 != nil {
				re := s.newExpander()
				re.bufs = []*xbuf{{start: p.arg2.pos}}
				for i := range p.arg2.parts {
					re.part(&p.arg2.parts[i], true, false)
				}
				rf := re.joined()
				if rf.unknown() {
					return nil, false
				}
				rep = rf.value()
			}
			nv = replaceValue(v, g, rep, p.op)
		case ":":
			var ok bool
			nv, ok = e.substr(p, v)
			if !ok {
				return nil, false
			}
		case "^", "^^", ",", ",,":
			nv = value{b: append([]byte(nil), v.b...), orig: v.orig}
			for i, c := range nv.b {
				if i > 0 && len(p.op) == 1 {
					break
				}
				if p.op[0] == '^' && c >= 'a' && c <= 'z' {
					nv.b[i] = c - 32
				}
				if p.op[0] == ',' && c >= 'A' && c <= 'Z' {
					nv.b[i] = c + 32
				}
			}
		default:
			return nil, false
		}
		if g != nil && g.over() {
			return nil, false
		}
		out = append(out, nv)
	}
	return out, true
}

func subValue(v value, i, j int) value {
	return value{b: v.b[i:j], orig: v.orig[i:j]}
}

// runeStarts lists the byte offsets where runes of b start, and len(b).
func runeStarts(b []byte) []int {
	var out []int
	for i := 0; i < len(b); {
		out = append(out, i)
		_, n := utf8.DecodeRune(b[i:])
		i += n
	}
	return append(out, len(b))
}

func trimValue(v value, g *globber, op string) value {
	st := runeStarts(v.b)
	switch op {
	case "#":
		for _, i := range st {
			if g.match(v.b[:i]) {
				return subValue(v, i, len(v.b))
			}
		}
	case "##":
		for k := len(st) - 1; k >= 0; k-- {
			if g.match(v.b[:st[k]]) {
				return subValue(v, st[k], len(v.b))
			}
		}
	case "%":
		for k := len(st) - 1; k >= 0; k-- {
			if g.match(v.b[st[k]:]) {
				return subValue(v, 0, st[k])
			}
		}
	case "%%":
		for _, i := range st {
			if g.match(v.b[i:]) {
				return subValue(v, 0, i)
			}
		}
	}
	return v
}

func replaceValue(v value, g *globber, rep value, op string) value {
	st := runeStarts(v.b)
	var out value
	last, k := 0, 0
	for k < len(st) {
		i := st[k]
		if op == "/#" && k > 0 {
			break
		}
		// bash replaces the longest match starting at i.
		end := -1
		for m := len(st) - 1; m >= k && !g.over(); m-- {
			j := st[m]
			if op == "/%" && j != len(v.b) {
				continue
			}
			if g.match(v.b[i:j]) {
				end = j
				break
			}
		}
		// An empty match replaces nothing, except when anchored.
		if end < 0 || end == i && op != "/#" && op != "/%" {
			k++
			continue
		}
		out.b = append(append(out.b, v.b[last:i]...), rep.b...)
		out.orig = append(append(out.orig, v.orig[last:i]...), rep.orig...)
		last = end
		if op != "//" {
			break
		}
		for k < len(st) && st[k] < end {
			k++
		}
	}
	out.b = append(out.b, v.b[last:]...)
	out.orig = append(out.orig, v.orig[last:]...)
	return out
}

func (e *expander) substr(p *part, v value) (value, bool) {
	pe := e.s.newExpander()
	pe.bufs = []*xbuf{{start: p.arg.pos}}
	for i := range p.arg.parts {
		pe.part(&p.arg.parts[i], true, false)
	}
	f := pe.joined()
	if f.unknown() {
		return value{}, false
	}
	spec := splitTop(string(f.b), ':')
	st := runeStarts(v.b)
	n := int64(len(st) - 1)
	off, ok := e.s.arith(spec[0], p.pos)
	if !ok {
		return value{}, false
	}
	if off < 0 {
		off += n
	}
	if off < 0 || off > n {
		return value{}, true
	}
	end := n
	if len(spec) > 1 {
		l, ok := e.s.arith(spec[1], p.pos)
		if !ok {
			return value{}, false
		}
		if l < 0 {
			end = n + l
		} else {
			end = min(off+l, n)
		}
		if end < off {
			return value{}, false
		}
	}
	return subValue(v, st[off], st[end]), true
}
