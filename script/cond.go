package script

import (
	"strconv"
	"strings"
)

// Tests: [ ], test and [[ ]]. What depends only on strings and numbers
// the script sets is decided; file tests (-x /sbin/iptables), unknown
// words and anything else are unknown.

// fileOps are unary tests about the machine the script runs on.
var fileOps = map[string]bool{"-a": true, "-b": true, "-c": true, "-d": true, "-e": true, "-f": true, "-g": true, "-h": true, "-k": true, "-p": true, "-r": true, "-s": true, "-t": true, "-u": true, "-w": true, "-x": true, "-G": true, "-L": true, "-N": true, "-O": true, "-S": true}

var binOps = map[string]bool{"=": true, "==": true, "!=": true, "<": true, ">": true, "-eq": true, "-ne": true, "-lt": true, "-le": true, "-gt": true, "-ge": true, "-nt": true, "-ot": true, "-ef": true, "=~": true}

type tester struct {
	s    *state
	a    []xfield
	i    int
	bash bool // [[ ]]: && || are operators, == matches a pattern
}

// op returns the text of argument i when it is known, for comparing with
// operators.
func (t *tester) op(i int) string {
	if i < 0 || i >= len(t.a) || t.a[i].unknown() {
		return "\x00"
	}
	return string(t.a[i].b)
}

func and3(x, y status) status {
	switch {
	case x == stFail || y == stFail:
		return stFail
	case x == stOK && y == stOK:
		return stOK
	}
	return stUnknown
}

func or3(x, y status) status {
	switch {
	case x == stOK || y == stOK:
		return stOK
	case x == stFail && y == stFail:
		return stFail
	}
	return stUnknown
}

func boolStatus(b bool) status {
	if b {
		return stOK
	}
	return stFail
}

// test runs [ args ] / test args, with POSIX's rules by argument count
// before the general grammar.
func (s *state) test(args []xfield) status {
	t := &tester{s: s, a: args}
	n := len(args)
	switch {
	case n == 0:
		return stFail
	case n == 1:
		return t.nonEmpty(0)
	case n == 2 && t.op(0) == "!":
		return t.nonEmpty(1).not()
	case n == 2:
		return t.unary(t.op(0), 1)
	case n == 3 && binOps[t.op(1)]:
		return t.binary(0, t.op(1), 2)
	case n == 3 && t.op(0) == "!":
		t.i = 1
		return t.prim().not()
	case n == 3 && t.op(0) == "(" && t.op(2) == ")":
		return t.nonEmpty(1)
	}
	st := t.or()
	if t.i != len(t.a) {
		return stFail // a syntax error in the test: status 2
	}
	return st
}

// condTest runs [[ ... ]].
func (s *state) condTest(n *condCmd) status {
	t := &tester{s: s, bash: true}
	for _, w := range n.words {
		t.a = append(t.a, s.condWord(w))
	}
	if len(t.a) == 0 {
		return stFail
	}
	st := t.or()
	if t.i != len(t.a) {
		return stUnknown
	}
	return st
}

func (t *tester) nonEmpty(i int) status {
	if t.a[i].unknown() {
		return stUnknown
	}
	return boolStatus(len(t.a[i].b) > 0)
}

func (t *tester) or() status {
	st := t.and()
	for t.i < len(t.a) && (t.op(t.i) == "-o" && !t.bash || t.op(t.i) == "||" && t.bash) {
		t.i++
		st = or3(st, t.and())
	}
	return st
}

func (t *tester) and() status {
	st := t.not()
	for t.i < len(t.a) && (t.op(t.i) == "-a" && !t.bash || t.op(t.i) == "&&" && t.bash) {
		t.i++
		st = and3(st, t.not())
	}
	return st
}

func (t *tester) not() status {
	if t.i < len(t.a) && t.op(t.i) == "!" {
		t.i++
		return t.not().not()
	}
	return t.prim()
}

func (t *tester) prim() status {
	if t.i >= len(t.a) {
		return stFail
	}
	if t.op(t.i) == "(" {
		t.i++
		st := t.or()
		if t.op(t.i) != ")" {
			t.i = len(t.a) + 1
			return stFail
		}
		t.i++
		return st
	}
	if t.i+2 < len(t.a) && binOps[t.op(t.i+1)] {
		st := t.binary(t.i, t.op(t.i+1), t.i+2)
		t.i += 3
		return st
	}
	if op := t.op(t.i); t.i+1 < len(t.a) && (fileOps[op] || op == "-n" || op == "-z" || op == "-v") {
		st := t.unary(op, t.i+1)
		t.i += 2
		return st
	}
	st := t.nonEmpty(t.i)
	t.i++
	return st
}

func (t *tester) unary(op string, i int) status {
	switch {
	case op == "-n":
		return t.nonEmpty(i)
	case op == "-z":
		return t.nonEmpty(i).not()
	case op == "-v":
		if t.a[i].unknown() {
			return stUnknown
		}
		v := t.s.lookup(string(t.a[i].b))
		if v == nil {
			return stUnknown // maybe set in the environment
		}
		return boolStatus(!v.unset)
	case fileOps[op] && !t.a[i].unknown() && len(t.a[i].b) == 0:
		// No file has the empty name (bash: [ -r "" ] fails), as in
		// [ -r "$CONF" ] && . "$CONF" with CONF never set.
		return stFail
	case fileOps[op]:
		return stUnknown
	}
	return stFail
}

func (t *tester) binary(i int, op string, j int) status {
	l, r := t.a[i], t.a[j]
	if l.unknown() || r.unknown() {
		return stUnknown
	}
	ls, rs := string(l.b), string(r.b)
	switch op {
	case "=", "==", "!=":
		eq := ls == rs
		if t.bash {
			m, ok := t.s.globMatch(r, l.b)
			if !ok {
				return stUnknown
			}
			eq = m
		}
		if op == "!=" {
			return boolStatus(!eq)
		}
		return boolStatus(eq)
	case "<":
		return boolStatus(ls < rs)
	case ">":
		return boolStatus(ls > rs)
	case "-eq", "-ne", "-lt", "-le", "-gt", "-ge":
		var x, y int64
		if t.bash {
			var ok1, ok2 bool
			x, ok1 = t.s.arith(ls, l.start)
			y, ok2 = t.s.arith(rs, r.start)
			if !ok1 || !ok2 {
				return stUnknown
			}
		} else {
			var err1, err2 error
			x, err1 = strconv.ParseInt(strings.TrimSpace(ls), 10, 64)
			y, err2 = strconv.ParseInt(strings.TrimSpace(rs), 10, 64)
			if err1 != nil || err2 != nil {
				return stFail // "integer expression expected": status 2
			}
		}
		switch op {
		case "-eq":
			return boolStatus(x == y)
		case "-ne":
			return boolStatus(x != y)
		case "-lt":
			return boolStatus(x < y)
		case "-le":
			return boolStatus(x <= y)
		case "-gt":
			return boolStatus(x > y)
		}
		return boolStatus(x >= y)
	}
	return stUnknown // -nt -ot -ef =~
}
