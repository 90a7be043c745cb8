package script

import (
	"strconv"
	"strings"
)

// Shell arithmetic, for $((...)), ((...)), let, for ((;;)) and array
// indexes: 64-bit integers with C's operators. A variable whose value is
// unknown makes the result unknown; one the script never sets is 0, as
// bash has it unless the environment sets it (and said once).

type arithParser struct {
	s     *state
	src   string
	i     int
	pos   int  // where the expression is, for assigned values
	depth int  // nesting of parentheses and operators
	vars  int  // nesting of variables whose values are expressions
	bad   bool // unknown or invalid: the result is not known
}

// arith evaluates expr; ok is false if the value cannot be known.
func (s *state) arith(expr string, pos int) (int64, bool) {
	return s.arithDepth(expr, pos, 0)
}

func (s *state) arithDepth(expr string, pos, vars int) (int64, bool) {
	if vars > 8 {
		return 0, false // x=x: bash too gives up
	}
	a := &arithParser{s: s, src: expr, pos: pos, vars: vars}
	v, _ := a.expr(1)
	a.skip()
	if a.bad || a.i < len(a.src) {
		return 0, false
	}
	return v, true
}

func (a *arithParser) skip() {
	for a.i < len(a.src) && strings.IndexByte(" \t\n\r", a.src[a.i]) >= 0 {
		a.i++
	}
}

// binary operators by precedence, tightest last.
var arithPrec = map[string]int{
	",": 1,
	"=": 2, "+=": 2, "-=": 2, "*=": 2, "/=": 2, "%=": 2, "<<=": 2, ">>=": 2, "&=": 2, "^=": 2, "|=": 2,
	"?":  3,
	"||": 4, "&&": 5, "|": 6, "^": 7, "&": 8,
	"==": 9, "!=": 9,
	"<": 10, "<=": 10, ">": 10, ">=": 10,
	"<<": 11, ">>": 11,
	"+": 12, "-": 12,
	"*": 13, "/": 13, "%": 13,
	"**": 14,
}

var arithOps = []string{"<<=", ">>=", "**", "<<", ">>", "<=", ">=", "==", "!=", "&&", "||", "+=", "-=", "*=", "/=", "%=", "&=", "^=", "|=", "++", "--", "+", "-", "*", "/", "%", "<", ">", "&", "^", "|", "=", "?", ":", ",", "!", "~", "(", ")"}

func (a *arithParser) peekOp() string {
	a.skip()
	for _, op := range arithOps {
		if strings.HasPrefix(a.src[a.i:], op) {
			return op
		}
	}
	return ""
}

// expr parses operators of precedence min or tighter (precedence
// climbing); name is set when the result is a plain variable, an lvalue
// for = and ++.
func (a *arithParser) expr(min int) (int64, string) {
	a.depth++
	defer func() { a.depth-- }()
	if a.depth > 200 {
		a.bad = true
		return 0, ""
	}
	v, name := a.unary()
	for !a.bad {
		op := a.peekOp()
		prec, ok := arithPrec[op]
		if !ok || prec < min {
			return v, name
		}
		a.i += len(op)
		switch {
		case op == "?":
			t, _ := a.expr(1)
			if a.peekOp() != ":" {
				a.bad = true
				return 0, ""
			}
			a.i++
			f, _ := a.expr(3)
			if v == 0 {
				t = f
			}
			v, name = t, ""
		case prec == 2:
			r, _ := a.expr(2)
			if name == "" {
				a.bad = true
				return 0, ""
			}
			if op != "=" {
				r = a.apply(strings.TrimSuffix(op, "="), v, r)
			}
			a.assign(name, r)
			v, name = r, ""
		case op == "**":
			r, _ := a.expr(prec)
			v, name = a.apply(op, v, r), ""
		default:
			r, _ := a.expr(prec + 1)
			if op == "," {
				v, name = r, ""
				continue
			}
			v, name = a.apply(op, v, r), ""
		}
	}
	return v, name
}

func (a *arithParser) apply(op string, l, r int64) int64 {
	b := func(x bool) int64 {
		if x {
			return 1
		}
		return 0
	}
	switch op {
	case "+":
		return l + r
	case "-":
		return l - r
	case "*":
		return l * r
	case "/", "%":
		if r == 0 || l == -1<<63 && r == -1 {
			a.bad = true
			return 0
		}
		if op == "/" {
			return l / r
		}
		return l % r
	case "**":
		if r < 0 {
			a.bad = true
			return 0
		}
		res := int64(1)
		for ; r > 0; r >>= 1 {
			if r&1 == 1 {
				res *= l
			}
			l *= l
		}
		return res
	case "<<":
		return l << uint64(r&63)
	case ">>":
		return l >> uint64(r&63)
	case "<":
		return b(l < r)
	case "<=":
		return b(l <= r)
	case ">":
		return b(l > r)
	case ">=":
		return b(l >= r)
	case "==":
		return b(l == r)
	case "!=":
		return b(l != r)
	case "&":
		return l & r
	case "^":
		return l ^ r
	case "|":
		return l | r
	case "&&":
		return b(l != 0 && r != 0)
	case "||":
		return b(l != 0 || r != 0)
	}
	a.bad = true
	return 0
}

func (a *arithParser) unary() (int64, string) {
	op := a.peekOp()
	switch op {
	case "+", "-", "!", "~":
		a.i++
		v, _ := a.unary()
		switch op {
		case "-":
			return -v, ""
		case "!":
			if v == 0 {
				return 1, ""
			}
			return 0, ""
		case "~":
			return ^v, ""
		}
		return v, ""
	case "++", "--":
		a.i += 2
		v, name := a.unary()
		if name == "" {
			a.bad = true
			return 0, ""
		}
		if op == "++" {
			v++
		} else {
			v--
		}
		a.assign(name, v)
		return v, ""
	case "(":
		a.i++
		v, _ := a.expr(1)
		if a.peekOp() != ")" {
			a.bad = true
			return 0, ""
		}
		a.i++
		return v, ""
	}
	v, name := a.primary()
	if name != "" {
		if op := a.peekOp(); op == "++" || op == "--" {
			a.i += 2
			nv := v + 1
			if op == "--" {
				nv = v - 1
			}
			a.assign(name, nv)
			return v, ""
		}
	}
	return v, name
}

func (a *arithParser) primary() (int64, string) {
	a.skip()
	if a.i >= len(a.src) {
		a.bad = true
		return 0, ""
	}
	c := a.src[a.i]
	switch {
	case c >= '0' && c <= '9':
		j := a.i
		for j < len(a.src) && (isNameChar(a.src[j]) || a.src[j] == '#') {
			j++
		}
		v, ok := parseShellInt(a.src[a.i:j])
		a.i = j
		if !ok {
			a.bad = true
		}
		return v, ""
	case isNameStart(c):
		j := a.i
		for j < len(a.src) && isNameChar(a.src[j]) {
			j++
		}
		name := a.src[a.i:j]
		a.i = j
		if a.peekOp() == "=" {
			// Only assigned to: its old value does not matter, and
			// may well be unknown.
			return 0, name
		}
		return a.variable(name), name
	case c == '$':
		j := a.i + 1
		brace := j < len(a.src) && a.src[j] == '{'
		if brace {
			j++
		}
		k := j
		switch {
		case k < len(a.src) && isNameStart(a.src[k]):
			for k < len(a.src) && isNameChar(a.src[k]) {
				k++
			}
		case k < len(a.src) && a.src[k] >= '0' && a.src[k] <= '9':
			for k < len(a.src) && a.src[k] >= '0' && a.src[k] <= '9' {
				k++
			}
		case k < len(a.src) && strings.IndexByte("#?", a.src[k]) >= 0:
			k++
		}
		name := a.src[j:k]
		if brace {
			if k >= len(a.src) || a.src[k] != '}' {
				a.bad = true
				return 0, ""
			}
			k++
		}
		a.i = k
		if name == "" {
			a.bad = true
			return 0, ""
		}
		return a.variable(name), ""
	}
	a.bad = true
	return 0, ""
}

// variable reads a variable (or positional parameter) as a number.
func (a *arithParser) variable(name string) int64 {
	p := &part{kind: pParam, name: name, pos: a.pos}
	e := a.s.newExpander()
	e.cond = true
	r := e.resolve(p)
	if r.unknown || r.never || r.anyUnknown() {
		a.bad = true
		return 0
	}
	if len(r.vals) == 0 {
		return 0
	}
	t := strings.TrimSpace(string(r.vals[0].b))
	if t == "" {
		return 0
	}
	if v, ok := parseShellInt(t); ok {
		return v
	}
	// bash evaluates a variable's value as an expression.
	v, ok := a.s.arithDepth(t, a.pos, a.vars+1)
	if !ok {
		a.bad = true
	}
	return v
}

func (a *arithParser) assign(name string, v int64) {
	if !isName(name) {
		a.bad = true
		return
	}
	a.s.setScalar(name, textValue(strconv.FormatInt(v, 10), a.pos))
}

// parseShellInt reads 42, 0x2a, 052 or 16#2a.
func parseShellInt(t string) (int64, bool) {
	if i := strings.IndexByte(t, '#'); i > 0 {
		base, err := strconv.Atoi(t[:i])
		if err != nil || base < 2 || base > 36 {
			return 0, false
		}
		v, err := strconv.ParseInt(t[i+1:], base, 64)
		return v, err == nil
	}
	v, err := strconv.ParseInt(t, 0, 64)
	if err != nil {
		// 08 and 09 are invalid octal in the shell too.
		return 0, false
	}
	return v, true
}
