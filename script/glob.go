package script

import "unicode/utf8"

// Shell pattern matching, for case, [[ == ]] and ${X#pattern}. Bytes of a
// pattern that were quoted match themselves; unquoted * ? [...] are
// wildcards. Matching is by runes, so ? matches a typographic dash.

type gkind uint8

const (
	gLit gkind = iota
	gAny
	gStar
	gClass
)

type gtok struct {
	kind   gkind
	r      rune
	neg    bool
	ranges []rune // pairs lo, hi
	named  []string
}

// globber is a compiled pattern with a work budget: patterns such as
// *a*a*a*b against long text take time, and a hostile script must not
// make the reader slow.
type globber struct {
	toks []gtok
	work *int // shared by all matches of a script
}

func (g *globber) over() bool { return *g.work > maxMatchWork }

func (s *state) compileGlob(pat xfield) *globber {
	g := &globber{work: &s.globWork}
	b := pat.b
	lit := func(i int) bool { return i < len(pat.c) && pat.c[i].fl&fQuoted != 0 }
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		switch {
		case lit(i):
			g.toks = append(g.toks, gtok{kind: gLit, r: r})
		case r == '*':
			if len(g.toks) == 0 || g.toks[len(g.toks)-1].kind != gStar {
				g.toks = append(g.toks, gtok{kind: gStar})
			}
		case r == '?':
			g.toks = append(g.toks, gtok{kind: gAny})
		case r == '\\' && i+1 < len(b):
			r, n = utf8.DecodeRune(b[i+1:])
			n++
			g.toks = append(g.toks, gtok{kind: gLit, r: r})
		case r == '[':
			if t, m, ok := parseClass(b[i:]); ok {
				g.toks = append(g.toks, t)
				n = m
			} else {
				g.toks = append(g.toks, gtok{kind: gLit, r: r})
			}
		default:
			g.toks = append(g.toks, gtok{kind: gLit, r: r})
		}
		i += n
	}
	return g
}

// parseClass reads a bracket expression at the start of b.
func parseClass(b []byte) (gtok, int, bool) {
	t := gtok{kind: gClass}
	i := 1
	if i < len(b) && (b[i] == '!' || b[i] == '^') {
		t.neg = true
		i++
	}
	first := true
	for i < len(b) {
		if b[i] == ']' && !first {
			return t, i + 1, true
		}
		first = false
		if b[i] == '[' && i+1 < len(b) && b[i+1] == ':' {
			j := i + 2
			for j+1 < len(b) && !(b[j] == ':' && b[j+1] == ']') {
				j++
			}
			if j+1 < len(b) {
				t.named = append(t.named, string(b[i+2:j]))
				i = j + 2
				continue
			}
		}
		lo, n := utf8.DecodeRune(b[i:])
		i += n
		hi := lo
		if i+1 < len(b) && b[i] == '-' && b[i+1] != ']' {
			var m int
			hi, m = utf8.DecodeRune(b[i+1:])
			i += 1 + m
		}
		t.ranges = append(t.ranges, lo, hi)
	}
	return gtok{}, 0, false
}

func (t *gtok) matchRune(r rune) bool {
	switch t.kind {
	case gLit:
		return r == t.r
	case gAny:
		return true
	case gClass:
		in := false
		for k := 0; k+1 < len(t.ranges); k += 2 {
			if r >= t.ranges[k] && r <= t.ranges[k+1] {
				in = true
			}
		}
		for _, n := range t.named {
			if namedClass(n, r) {
				in = true
			}
		}
		return in != t.neg
	}
	return false
}

func namedClass(n string, r rune) bool {
	lower := r >= 'a' && r <= 'z'
	upper := r >= 'A' && r <= 'Z'
	digit := r >= '0' && r <= '9'
	switch n {
	case "alpha":
		return lower || upper
	case "digit":
		return digit
	case "alnum":
		return lower || upper || digit
	case "upper":
		return upper
	case "lower":
		return lower
	case "space":
		return r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\v' || r == '\f'
	case "blank":
		return r == ' ' || r == '\t'
	case "xdigit":
		return digit || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F'
	case "punct":
		return r > ' ' && r < 127 && !(lower || upper || digit)
	}
	return false
}

// match reports whether all of s matches the pattern. Once the budget is
// spent it answers false; callers check over().
func (g *globber) match(s []byte) bool {
	pi, si := 0, 0
	starP, starS := -1, 0
	for si < len(s) {
		*g.work++
		if g.over() {
			return false
		}
		if pi < len(g.toks) && g.toks[pi].kind == gStar {
			starP, starS = pi, si
			pi++
			continue
		}
		r, n := utf8.DecodeRune(s[si:])
		if pi < len(g.toks) && g.toks[pi].matchRune(r) {
			pi++
			si += n
			continue
		}
		if starP < 0 {
			return false
		}
		// Let the last * take one more rune and try again.
		_, n = utf8.DecodeRune(s[starS:])
		starS += n
		pi, si = starP+1, starS
	}
	for pi < len(g.toks) && g.toks[pi].kind == gStar {
		pi++
	}
	return pi == len(g.toks)
}

// globMatch matches s against the pattern pat; ok is false if the match
// was given up as too costly.
func (st *state) globMatch(pat xfield, s []byte) (match, ok bool) {
	g := st.compileGlob(pat)
	m := g.match(s)
	return m, !g.over()
}
