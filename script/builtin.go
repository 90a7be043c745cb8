package script

import (
	"fmt"
	"path"
	"strconv"
	"strings"
)

// This file runs the shell builtins that change what a script does next:
// declarations (export, local, declare), set, shift, unset, read, let,
// test, return, exit, break and continue, type and command -v.

// isLastStatus reports whether f is $? alone ("$?" or $?).
func isLastStatus(f xfield, ex *expander) bool {
	if string(f.b) != "$?" || f.fromVar(ex) != "?" {
		return false
	}
	for _, c := range f.c {
		if c.fl&fUnknown == 0 {
			return false
		}
	}
	return true
}

// shellWords are the builtins and reserved words bash knows whatever the
// host has: type and command -v find them.
var shellWords = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`! [[ ]] { } case do done elif else esac fi for function if in select then time until while
		. : [ alias bg bind break builtin caller cd command compgen complete compopt continue declare dirs disown echo enable
		eval exec exit export false fc fg getopts hash help history jobs kill let local logout mapfile popd printf pushd pwd
		read readarray readonly return set shift shopt source suspend test times trap true type typeset ulimit umask unalias unset wait`) {
		shellWords[w] = true
	}
}

// known runs type NAME... or command -v NAME...: success if every NAME
// is a function of the script, a builtin or a tool ipsift reads the
// commands of (iptables, ipset: the host ipsift models has them);
// otherwise it depends on the programs of the host the script will run
// on, which cannot be known.
func (s *state) known(c *simpleCmd, names []xfield) status {
	st := stOK
	for _, n := range names {
		t := string(n.b)
		if strings.HasPrefix(t, "-") && !n.unknown() {
			continue // type -t, -a, -P ...
		}
		if fn, _ := s.funcs.get(t); n.unknown() || fn == nil && !shellWords[t] && !toolNames[path.Base(t)] {
			// Not a function (or one unset -f removed): bash looks in
			// PATH, on a host this reader does not see.
			st = and3(st, stUnknown)
		}
	}
	return st
}

// declaredFuncs runs declare -f/-F NAME...: success when each NAME is a
// function the script has defined (and not unset) by now. Functions come
// only from the script (bash's exported functions aside), so this is
// certain.
func (s *state) declaredFuncs(names []xfield) status {
	st := stOK
	for _, n := range names {
		if n.unknown() {
			st = and3(st, stUnknown)
			continue
		}
		if strings.HasPrefix(string(n.b), "-") || strings.HasPrefix(string(n.b), "+") {
			continue
		}
		if fn, _ := s.funcs.get(string(n.b)); fn == nil {
			st = and3(st, stFail)
		}
	}
	return st
}

// declare runs export, readonly, local, declare and typeset.
func (s *state) declare(name string, c *simpleCmd) status {
	if name == "declare" || name == "typeset" {
		ex := s.newExpander()
		for _, w := range c.words[1:] {
			ex.word(w)
		}
		fs := ex.fields()
		for _, f := range fs {
			t := string(f.b)
			if f.unknown() || len(t) < 2 || t[0] != '-' {
				continue
			}
			if strings.ContainsAny(t, "fF") {
				if len(fs) > 0 && len(c.assigns) == 0 {
					return s.declaredFuncs(fs)
				}
			}
		}
	}
	local := name == "local" || (name == "declare" || name == "typeset") && len(s.locals) > 0
	for _, a := range c.assigns {
		s.assign(a, false)
	}
	for _, w := range c.words[1:] {
		if _, _, ok := asAssign(w); ok {
			s.assign(w, local)
			continue
		}
		ex := s.newExpander()
		ex.word(w)
		for _, f := range ex.fields() {
			n := string(f.b)
			if !isName(n) || f.unknown() {
				continue // an option such as -r, or export -p
			}
			if local && len(s.locals) > 0 {
				if _, ok := s.locals[len(s.locals)-1].get(n); !ok {
					s.locals[len(s.locals)-1].set(n, &variable{unset: true})
				}
			}
		}
	}
	return stOK
}

// set runs the set builtin as bash does for the positional parameters:
// options (-e, +x, -o NAME, clusters such as -eo pipefail) come first; the
// first word that is not an option, or every word after -- or -, becomes
// $1 $2 ...; a set with options only, or none at all, leaves them as they
// were ("set $EMPTY" is a bare set), a "set --" alone clears them. The
// options themselves change nothing this reader follows.
func (s *state) set(c *simpleCmd, ex *expander, args []xfield) {
	i := 0
	for i < len(args) {
		a := args[i]
		if a.unknown() {
			if !a.quotedUnknown() {
				// $OPTS from the environment: options or parameters,
				// and how many, cannot be known.
				s.params[len(s.params)-1] = &params{unknown: true, why: fmt.Sprintf("they are set at %s from %s", s.src.lineRef(c.pos), a.subject(ex))}
				return
			}
			break
		}
		t := string(a.b)
		if t == "--" || t == "-" {
			i++
			if i == len(args) && t == "-" {
				return
			}
			break
		}
		if len(t) < 2 || t[0] != '-' && t[0] != '+' {
			break
		}
		i++
		if strings.Contains(t[1:], "o") && i < len(args) {
			i++ // the option's name: set -o pipefail
		}
	}
	if i == len(args) && (i == 0 || string(args[i-1].b) != "--") {
		return
	}
	pf := &params{}
	for _, a := range args[i:] {
		if a.unknown() && !a.quotedUnknown() {
			pf = &params{unknown: true, why: fmt.Sprintf("they are set at %s from %s, which may make any number of words", s.src.lineRef(c.pos), a.subject(ex))}
			break
		}
		v := a.value()
		if a.unknown() {
			v.why = fmt.Sprintf("it is set by set at %s from %s", s.src.lineRef(c.pos), a.subject(ex))
		}
		pf.vals = append(pf.vals, v)
	}
	s.params[len(s.params)-1] = pf
}

// builtin runs the shell builtins that matter for following a script.
// ok is false for a command that is not one of them.
func (s *state) builtin(name string, c *simpleCmd, ex *expander, args []xfield) (st status, cc ctl, ok bool) {
	num := func(def int) (int, bool) {
		if len(args) == 0 {
			return def, true
		}
		if args[0].unknown() {
			return 0, false
		}
		n, err := strconv.Atoi(string(args[0].b))
		return n, err == nil
	}
	switch name {
	case ":", "true":
		return stOK, ctl{}, true
	case "false":
		return stFail, ctl{}, true
	case "echo", "printf":
		return stOK, ctl{}, true
	case "type":
		return s.known(c, args), ctl{}, true
	case "[", "test":
		if name == "[" {
			if len(args) == 0 || args[len(args)-1].unknown() || string(args[len(args)-1].b) != "]" {
				s.diag(c.pos, "this [ has no closing ]: a shell would fail the test", true)
				return stFail, ctl{}, true
			}
			args = args[:len(args)-1]
		}
		return s.test(args), ctl{}, true
	case "exit":
		return stUnknown, ctl{kind: ctlExit, pos: c.pos}, true
	case "return":
		if len(s.locals) == 0 && len(s.sourcing) == 0 {
			// Outside a function bash complains and goes on.
			return stFail, ctl{}, true
		}
		// return and return $? give the last command's status, known
		// as success or failure even where its number is not.
		r := s.last
		if len(args) > 0 && !isLastStatus(args[0], ex) {
			n, ok := num(0)
			r = stUnknown
			if ok {
				r = boolStatus(n == 0)
			}
		}
		return r, ctl{kind: ctlReturn, n: int(r), pos: c.pos}, true
	case "break", "continue":
		n, ok := num(1)
		if !ok || n < 1 {
			n = 1
		}
		k := ctlBreak
		if name == "continue" {
			k = ctlContinue
		}
		return stOK, ctl{kind: k, n: n, pos: c.pos}, true
	case "shift":
		n, ok := num(1)
		pf := s.params[len(s.params)-1]
		if !ok || pf.unknown {
			if !pf.unknown {
				s.params[len(s.params)-1] = &params{unknown: true}
			}
			return stUnknown, ctl{}, true
		}
		if n > len(pf.vals) || n < 0 {
			return stFail, ctl{}, true
		}
		s.params[len(s.params)-1] = &params{vals: pf.vals[n:]}
		return stOK, ctl{}, true
	case "set":
		s.errexit.setOptions(args)
		s.set(c, ex, args)
		return stOK, ctl{}, true
	case "unset":
		fn := false
		for _, a := range args {
			t := string(a.b)
			switch {
			case a.unknown():
			case t == "-f":
				fn = true
			case t == "-v":
				fn = false
			case fn:
				s.funcs.set(t, nil)
			case isName(t):
				s.setVar(t, &variable{unset: true})
			}
		}
		return stOK, ctl{}, true
	case "read":
		if in := s.knownInput(c); in != nil {
			if st, ok := s.readLine(in, args); ok {
				return st, ctl{}, true
			}
		}
		for i := 0; i < len(args); i++ {
			t := string(args[i].b)
			if args[i].unknown() {
				continue
			}
			if strings.HasPrefix(t, "-") {
				if len(t) == 2 && strings.IndexByte("pdtnNuaS", t[1]) >= 0 {
					i++ // the option's value
				}
				continue
			}
			if isName(t) {
				s.setScalar(t, value{unknown: true, raw: "$" + t, why: fmt.Sprintf("it is set by read at %s", s.src.lineRef(c.pos))})
			}
		}
		if len(args) == 0 {
			s.setScalar("REPLY", value{unknown: true, raw: "$REPLY", why: fmt.Sprintf("it is set by read at %s", s.src.lineRef(c.pos))})
		}
		return stUnknown, ctl{}, true
	case "let":
		st := stUnknown
		for _, a := range args {
			if a.unknown() {
				return stUnknown, ctl{}, true
			}
			v, ok := s.arith(string(a.b), c.pos)
			if !ok {
				return stUnknown, ctl{}, true
			}
			st = stOK
			if v == 0 {
				st = stFail
			}
		}
		return st, ctl{}, true
	case "alias":
		if len(args) > 0 {
			s.diag(c.pos, "aliases are not followed: commands that use this one are not recognised", true)
		}
		return stOK, ctl{}, true
	case "eval":
		s.diag(c.pos, "cannot follow eval without running the script; the commands it would build are not read", true)
		return stUnknown, ctl{}, true
	case ".", "source":
		st, cc := s.source(name, c, ex, args)
		return st, cc, true
	}
	return 0, ctl{}, false
}
