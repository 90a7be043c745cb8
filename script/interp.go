package script

import (
	"bytes"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// This file runs the syntax tree, statically. Commands other than shell
// builtins are never run: an iptables-family command is recorded, any
// other is skipped and its exit status is unknown. Exit statuses are
// three-valued (success, failure, unknown); where a decision depends on an
// unknown status the reader takes the branch that runs commands (the then
// branch, the right side of && or ||, one pass of a while loop), notes it
// on the invocations found there and warns once at the decision.

// status is an exit status as far as it can be known.
type status int8

const (
	stOK      status = 0
	stFail    status = 1
	stUnknown status = -1
)

func (st status) not() status {
	switch st {
	case stOK:
		return stFail
	case stFail:
		return stOK
	}
	return stUnknown
}

// ctl is a pending change of control flow.
type ctlKind uint8

const (
	ctlNone ctlKind = iota
	ctlBreak
	ctlContinue
	ctlReturn
	ctlExit
	ctlAbort // a limit was reached: stop everything
)

type ctl struct {
	kind ctlKind
	n    int // loops to break or continue out of
	pos  int // where the exit, return, ... was written
}

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

type state struct {
	name    string
	src     *source
	diags   diagList
	invs    []Invocation
	globals *scope[*variable]
	locals  []*scope[*variable] // one per function call, innermost last
	params  []*params
	funcs   *scope[*funcDef] // a nil entry: unset -f
	notes   []string         // how execution got here: loops, calls, guesses

	opts        Options
	sourcing    []string          // the files being sourced, innermost last
	sourced     map[string]*sfile // each file read, by the path read
	sourceBytes int
	noted       map[string]bool // what noteOnce and warnOnce said
	envN        int             // variables taken as empty in conditions so far (see envSince)
	envLast     string          // the last of them

	steps, passes, nfields int
	globWork, xbytes       int
	stopped                bool
	last                   status // $?
	errexit                errexit
	// inputs are the standard inputs of the loops being run, innermost
	// last: the lines read takes (readin.go).
	inputs []*lineInput
}

func newState(name string, b []byte) *state {
	s := &state{name: name, src: newSource(b), globals: newScope[*variable](nil), funcs: newScope[*funcDef](nil)}
	s.diags.src = s.src
	s.params = []*params{{unknown: true}}
	s.errexit.on = shebangErrexit(b)
	if i := bytes.Index(b, []byte("\r\n")); i >= 0 {
		s.diag(i, "this line ends in \\r\\n (a Windows line end); a shell would keep the \\r as part of the line's last word, here it is read as a plain line end", true)
	}
	return s
}

func (s *state) diag(off int, msg string, warn bool) { s.diags.add(off, msg, warn) }

// noteOnce gives a note (what was assumed) the first time key is met.
func (s *state) noteOnce(key string, off int, msg string) { s.once(key, off, msg, true) }

// warnOnce gives a warning the first time key is met.
func (s *state) warnOnce(key string, off int, msg string) { s.once(key, off, msg, false) }

func (s *state) once(key string, off int, msg string, note bool) {
	if s.noted[key] {
		return
	}
	if s.noted == nil {
		s.noted = map[string]bool{}
	}
	s.noted[key] = true
	if note {
		s.diags.addNote(off, msg)
	} else {
		s.diag(off, msg, true)
	}
}

// reportUnknowns says why each unknown part of the words is unknown: a
// variable once, at its first use; anything else at its place.
func (s *state) reportUnknowns(ex *expander, fs []xfield) {
	for _, f := range fs {
		for _, u := range f.unks(ex) {
			switch {
			case u.key != "" && s.noted[u.key]:
			case u.env:
				s.noteOnce(u.key, u.off, u.text())
			case u.key != "":
				s.warnOnce(u.key, u.off, u.text())
			default:
				s.diag(u.off, u.text(), true)
			}
		}
	}
}

// stop ends interpretation because a limit was reached.
func (s *state) stop(off int, msg string) ctl {
	if !s.stopped {
		s.stopped = true
		s.diag(off, msg+"; the rest of the script is not followed", true)
	}
	return ctl{kind: ctlAbort}
}

func (s *state) run(prog []*andOr) {
	for _, a := range prog {
		_, c := s.andOr(a)
		if c.kind == ctlExit || c.kind == ctlAbort {
			return
		}
	}
}

// Variables.

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

// Notes.

func (s *state) pushNote(n string) { s.notes = append(s.notes, n) }
func (s *state) popNote()          { s.notes = s.notes[:len(s.notes)-1] }

// snippet is the text at [from,to) on one line, shortened, for messages.
func (s *state) snippet(from, to int) string {
	if to > len(s.src.b) {
		to = len(s.src.b)
	}
	if from < 0 || from >= to {
		return ""
	}
	t := s.src.b[from:to]
	if i := bytes.IndexByte(t, '\n'); i >= 0 {
		t = append(append([]byte(nil), t[:i]...), " ..."...)
	}
	return shorten(strings.TrimSpace(string(t)), 50)
}

func shorten(t string, n int) string {
	// Counted without converting t, which may be a long value.
	i, k := 0, 0
	for ; i < len(t) && k < n; k++ {
		_, w := utf8.DecodeRuneInString(t[i:])
		i += w
	}
	if i >= len(t) {
		return t
	}
	// n runes fit only if nothing follows; else n-1 and the ellipsis.
	_, w := utf8.DecodeLastRuneInString(t[:i])
	return strings.ToValidUTF8(t[:i-w], "\uFFFD") + "…"
}

// uncertain runs f as a branch taken only because a decision could not
// be made. A jump out of it (exit, return, break, continue) is dropped:
// it would happen only if the undecidable condition went this way, and
// following it would hide the rest of the script.
func (s *state) uncertain(note string, f func() (status, ctl)) (status, ctl) {
	return s.assumed("on a branch taken without knowing its condition", note, f)
}

// assumed is uncertain for a branch taken on an assumption, which reason
// names: "on a branch taken with $WAN empty".
func (s *state) assumed(reason, note string, f func() (status, ctl)) (status, ctl) {
	s.pushNote(note)
	st, c := f()
	s.popNote()
	switch c.kind {
	case ctlExit:
		s.diag(c.pos, "this exit is reached only "+reason+"; reading on after that branch", true)
		c = ctl{}
	case ctlReturn:
		s.diag(c.pos, "this return is reached only "+reason+"; reading on after that branch", true)
		c = ctl{}
	case ctlBreak, ctlContinue:
		c = ctl{}
	}
	return st, c
}

// envSince names the variable last taken as empty in a condition
// because the script never sets it, if that happened since mark n0
// (s.envN): the decision then rests on the environment not setting it.
func (s *state) envSince(n0 int) string {
	if s.envN > n0 {
		return s.envLast
	}
	return ""
}

// onEnv runs f, a branch decided by taking the variable v as empty: as
// bash would without v in the environment, but an exit or return there
// does not end the reading (a guard such as [ -z "$WAN" ] && exit would
// otherwise leave nothing to read).
func (s *state) onEnv(v, note string, f func() (status, ctl)) (status, ctl) {
	return s.assumed(fmt.Sprintf("on a branch taken with $%s empty, which the script never sets", v), note+fmt.Sprintf(", with $%s taken as empty", v), f)
}

// Lists.

func (s *state) list(l *listNode) (status, ctl) {
	st := stOK
	for _, a := range l.items {
		var c ctl
		st, c = s.andOr(a)
		if c.kind != ctlNone {
			return st, c
		}
	}
	return st, ctl{}
}

func (s *state) andOr(a *andOr) (status, ctl) {
	n0 := s.envN
	// A pipeline before && or || has its status tested: -e ignores it.
	tested := func(i int) func() {
		if i == len(a.pipes)-1 {
			return func() {}
		}
		s.errexit.tested++
		return func() { s.errexit.tested-- }
	}
	done := tested(0)
	st, c := s.pipeline(a.pipes[0])
	done()
	for i, op := range a.ops {
		if c.kind != ctlNone {
			return st, c
		}
		pl := a.pipes[i+1]
		run := st == stOK
		if op == "||" {
			run = st == stFail
		}
		switch {
		case st == stUnknown:
			note := fmt.Sprintf("after %s at %s, whose left side's result cannot be known", op, s.src.lineRef(pl.pos))
			var bst status
			bst, c = s.uncertain(note, func() (status, ctl) {
				defer tested(i + 1)()
				return s.pipeline(pl)
			})
			switch {
			case op == "||" && bst == stOK:
				st = stOK
			case op == "&&" && bst == stFail:
				st = stFail
			default:
				st = stUnknown
			}
		case run && s.envSince(n0) != "":
			note := fmt.Sprintf("after %s at %s", op, s.src.lineRef(pl.pos))
			st, c = s.onEnv(s.envSince(n0), note, func() (status, ctl) {
				defer tested(i + 1)()
				return s.pipeline(pl)
			})
		case run:
			done := tested(i + 1)
			st, c = s.pipeline(pl)
			done()
		}
	}
	return st, c
}

func (s *state) pipeline(pl *pipeline) (status, ctl) {
	var st status
	var c ctl
	if pl.bang {
		s.errexit.tested++
		defer func() { s.errexit.tested-- }()
	}
	for i, cmd := range pl.cmds {
		if i > 0 {
			// Its input is the pipe, whatever the loop around it reads.
			st, c = s.withInput(nil, func() (status, ctl) { return s.command(cmd, true) })
		} else {
			st, c = s.command(cmd, false)
		}
		if c.kind == ctlAbort {
			return st, c
		}
		if len(pl.cmds) > 1 {
			// Each command of a pipeline runs in a subshell: an
			// exit there ends only that command.
			c = ctl{}
		}
		if c.kind != ctlNone {
			break
		}
	}
	if pl.bang {
		st = st.not()
	}
	s.last = st
	return st, c
}

func (s *state) command(cmd command, piped bool) (status, ctl) {
	if s.stopped {
		return stUnknown, ctl{kind: ctlAbort}
	}
	switch n := cmd.(type) {
	case *simpleCmd:
		return s.simple(n, piped)
	case *ifNode:
		return s.ifCmd(n)
	case *forNode:
		return s.forCmd(n)
	case *arithForNode:
		return s.arithFor(n)
	case *whileNode:
		if in, ok := s.loopInput(n.redirs); ok {
			return s.withInput(in, func() (status, ctl) { return s.whileCmd(n) })
		}
		return s.whileCmd(n)
	case *caseNode:
		return s.caseCmd(n)
	case *groupNode:
		if !n.subshell {
			return s.list(n.body)
		}
		return s.subshell(func() (status, ctl) { return s.list(n.body) })
	case *funcDef:
		s.funcs.set(n.name, n)
		return stOK, ctl{}
	case *arithCmd:
		v, ok := s.arith(n.expr, n.pos)
		if !ok {
			return stUnknown, ctl{}
		}
		if v != 0 {
			return stOK, ctl{}
		}
		return stFail, ctl{}
	case *condCmd:
		return s.condTest(n), ctl{}
	}
	return stUnknown, ctl{}
}

// subshell runs f with its own layer over the variables and functions,
// as ( ) does: what it sets does not last, and exit leaves only the
// subshell.
func (s *state) subshell(f func() (status, ctl)) (status, ctl) {
	ls := make([]*scope[*variable], len(s.locals))
	for i, m := range s.locals {
		ls[i] = newScope(m)
	}
	ps := append([]*params(nil), s.params...)
	og, ol, of, op := s.globals, s.locals, s.funcs, s.params
	s.globals, s.locals, s.funcs, s.params = newScope(og), ls, newScope(of), ps
	st, c := f()
	s.globals, s.locals, s.funcs, s.params = og, ol, of, op
	if c.kind != ctlAbort {
		c = ctl{}
	}
	return st, c
}

// pass counts one loop pass against the limit.
func (s *state) pass(off int) (ctl, bool) {
	s.passes++
	if s.passes > maxLoopPasses {
		return s.stop(off, fmt.Sprintf("loops here run more than %d passes in all", maxLoopPasses)), false
	}
	return ctl{}, true
}

// loopCtl settles a body's control change inside a loop: it reports
// whether the loop goes on, and the change to pass outwards.
func loopCtl(c ctl) (cont bool, out ctl) {
	switch c.kind {
	case ctlBreak:
		if c.n > 1 {
			return false, ctl{kind: ctlBreak, n: c.n - 1, pos: c.pos}
		}
		return false, ctl{}
	case ctlContinue:
		if c.n > 1 {
			return false, ctl{kind: ctlContinue, n: c.n - 1, pos: c.pos}
		}
		return true, ctl{}
	case ctlNone:
		return true, ctl{}
	}
	return false, c
}

func (s *state) ifCmd(n *ifNode) (status, ctl) {
	n0 := s.envN
	for i, cond := range n.conds {
		s.errexit.tested++
		st, c := s.list(cond)
		s.errexit.tested--
		if c.kind != ctlNone {
			return st, c
		}
		switch {
		case st == stOK && s.envSince(n0) != "":
			note := fmt.Sprintf("in the branch of the if at %s", s.src.lineRef(cond.pos))
			return s.onEnv(s.envSince(n0), note, func() (status, ctl) { return s.list(n.bodies[i]) })
		case st == stOK:
			return s.list(n.bodies[i])
		case st == stUnknown:
			test := s.snippet(cond.pos, cond.end)
			s.diag(cond.pos, fmt.Sprintf("cannot decide `%s' without running the script; following its then-branch", test), true)
			note := fmt.Sprintf("in the then-branch of the if at %s, taken without knowing `%s'", s.src.lineRef(cond.pos), test)
			return s.uncertain(note, func() (status, ctl) { return s.list(n.bodies[i]) })
		}
	}
	if n.els != nil && s.envSince(n0) != "" {
		note := fmt.Sprintf("in the else-branch of the if at %s", s.src.lineRef(n.pos))
		return s.onEnv(s.envSince(n0), note, func() (status, ctl) { return s.list(n.els) })
	}
	if n.els != nil {
		return s.list(n.els)
	}
	return stOK, ctl{}
}

func (s *state) forCmd(n *forNode) (status, ctl) {
	ex := s.newExpander()
	if n.hasIn {
		for _, w := range n.words {
			ex.word(w)
		}
	} else {
		// for x; do: over "$@".
		ex.word(&word{pos: n.pos, end: n.pos, parts: []part{{kind: pParam, name: "@", quoted: true, pos: n.pos, end: n.pos}}})
	}
	items := ex.fields()
	if s.stopped {
		return stUnknown, ctl{kind: ctlAbort}
	}
	st := stOK
	for _, it := range items {
		if c, ok := s.pass(n.pos); !ok {
			return stUnknown, c
		}
		var note string
		if it.unknown() {
			subj := it.subject(ex)
			val := value{unknown: true, raw: string(it.b), why: fmt.Sprintf("it takes its values from %s at %s", subj, s.src.lineRef(it.c[0].off()))}
			s.setScalar(n.name, val)
			note = fmt.Sprintf("inside for loop %s=? (one pass standing for the values of %s)", n.name, subj)
		} else {
			s.setScalar(n.name, it.value())
			note = fmt.Sprintf("inside for loop %s=%s", n.name, shorten(string(it.b), 40))
		}
		s.pushNote(note)
		var c ctl
		st, c = s.list(n.body)
		s.popNote()
		cont, out := loopCtl(c)
		if !cont {
			return st, out
		}
	}
	return st, ctl{}
}

func (s *state) arithFor(n *arithForNode) (status, ctl) {
	if strings.TrimSpace(n.init) != "" {
		s.arith(n.init, n.pos)
	}
	st := stOK
	for i := 0; ; i++ {
		if c, ok := s.pass(n.pos); !ok {
			return stUnknown, c
		}
		decided, run := true, true
		if strings.TrimSpace(n.cond) != "" {
			v, ok := s.arith(n.cond, n.pos)
			decided, run = ok, v != 0
		}
		if !decided {
			s.diag(n.pos, fmt.Sprintf("cannot decide `%s' without running the script; following one pass of the loop", strings.TrimSpace(n.cond)), true)
			return s.uncertain(fmt.Sprintf("in one pass of the for (( )) loop at %s, whose test cannot be decided", s.src.lineRef(n.pos)), func() (status, ctl) {
				return s.list(n.body)
			})
		}
		if !run {
			return st, ctl{}
		}
		s.pushNote(fmt.Sprintf("inside for (( )) loop at %s, pass %d", s.src.lineRef(n.pos), i+1))
		var c ctl
		st, c = s.list(n.body)
		s.popNote()
		if cont, out := loopCtl(c); !cont {
			return st, out
		}
		if strings.TrimSpace(n.step) != "" {
			s.arith(n.step, n.pos)
		}
	}
}

func (s *state) whileCmd(n *whileNode) (status, ctl) {
	kw := "while"
	if n.until {
		kw = "until"
	}
	st := stOK
	for i := 0; ; i++ {
		if c, ok := s.pass(n.pos); !ok {
			return stUnknown, c
		}
		s.errexit.tested++
		cst, c := s.list(n.cond)
		s.errexit.tested--
		if c.kind != ctlNone {
			if cont, out := loopCtl(c); !cont {
				return cst, out
			}
			continue
		}
		if n.until {
			cst = cst.not()
		}
		switch cst {
		case stFail:
			return st, ctl{}
		case stUnknown:
			test := s.snippet(n.cond.pos, n.cond.end)
			s.diag(n.cond.pos, fmt.Sprintf("cannot decide `%s' without running the script; following one pass of the loop", test), true)
			note := fmt.Sprintf("in one pass of the %s loop at %s, taken without knowing `%s'", kw, s.src.lineRef(n.pos), test)
			return s.uncertain(note, func() (status, ctl) { return s.list(n.body) })
		}
		s.pushNote(fmt.Sprintf("inside %s loop at %s, pass %d", kw, s.src.lineRef(n.pos), i+1))
		st, c = s.list(n.body)
		s.popNote()
		if cont, out := loopCtl(c); !cont {
			return st, out
		}
	}
}

func (s *state) caseCmd(n *caseNode) (status, ctl) {
	n0 := s.envN
	ex := s.newExpander()
	ex.cond = true
	ex.word(n.subject)
	subj := ex.joined()
	if subj.unknown() {
		// The usual init-script case "$1" in start) ... stop) ...:
		// follow start if there is one, else the first arm.
		pick := -1
		for i, arm := range n.arms {
			for _, pw := range arm.pats {
				pe := s.newExpander()
				pe.cond = true
				pe.word(pw)
				pf := pe.joined()
				if !pf.unknown() {
					if m, ok := s.globMatch(pf, []byte("start")); ok && m {
						pick = i
						break
					}
				}
			}
			if pick >= 0 {
				break
			}
		}
		if pick < 0 {
			pick = 0
		}
		if len(n.arms) == 0 {
			return stOK, ctl{}
		}
		arm := n.arms[pick]
		pat := s.snippet(arm.pos, arm.pats[len(arm.pats)-1].end)
		s.diag(n.subject.pos, fmt.Sprintf("cannot know %s without running the script; following the case arm %s)", s.snippet(n.subject.pos, n.subject.end), pat), true)
		note := fmt.Sprintf("in the case arm %s) at %s, taken without knowing %s", pat, s.src.lineRef(arm.pos), s.snippet(n.subject.pos, n.subject.end))
		return s.uncertain(note, func() (status, ctl) { return s.list(arm.body) })
	}
	for _, arm := range n.arms {
		for _, pw := range arm.pats {
			pe := s.newExpander()
			pe.cond = true
			pe.word(pw)
			pf := pe.joined()
			m, ok := s.globMatch(pf, subj.b)
			if pf.unknown() || !ok {
				pat := s.snippet(arm.pos, arm.pats[len(arm.pats)-1].end)
				s.diag(pw.pos, fmt.Sprintf("cannot decide whether the case pattern %s matches without running the script; following its arm", pat), true)
				note := fmt.Sprintf("in the case arm %s) at %s, taken without knowing whether it matches", pat, s.src.lineRef(arm.pos))
				return s.uncertain(note, func() (status, ctl) { return s.list(arm.body) })
			}
			if m && s.envSince(n0) != "" {
				note := fmt.Sprintf("in the case arm at %s", s.src.lineRef(arm.pos))
				return s.onEnv(s.envSince(n0), note, func() (status, ctl) { return s.list(arm.body) })
			}
			if m {
				return s.list(arm.body)
			}
		}
	}
	return stOK, ctl{}
}

// Simple commands.

// declBuiltins take NAME=value arguments, expanded as assignments (no
// field splitting).
var declBuiltins = map[string]bool{"export": true, "readonly": true, "local": true, "declare": true, "typeset": true}

func (s *state) simple(c *simpleCmd, piped bool) (status, ctl) {
	s.steps++
	if s.steps > maxSteps {
		return stUnknown, s.stop(c.pos, fmt.Sprintf("the script runs more than %d commands", maxSteps))
	}
	if len(c.words) == 0 {
		st := stOK
		for _, a := range c.assigns {
			if !s.assign(a, false) {
				st = stUnknown
			}
		}
		return st, ctl{}
	}
	if name, ok := c.words[0].lit(); ok && declBuiltins[name] {
		return s.declare(name, c), ctl{}
	}
	ex := s.newExpander()
	if name, ok := c.words[0].lit(); ok && (name == "[" || name == "test") {
		ex.cond = true
	}
	for _, w := range c.words {
		ex.word(w)
	}
	fs := ex.fields()
	if s.stopped {
		return stUnknown, ctl{kind: ctlAbort}
	}
	if len(fs) == 0 {
		// $EMPTY alone: only the assignments happen.
		for _, a := range c.assigns {
			s.assign(a, false)
		}
		return stOK, ctl{}
	}
	return s.dispatch(c, ex, fs, piped, true)
}

// dispatch runs the command fs[0] with arguments fs[1:].
func (s *state) dispatch(c *simpleCmd, ex *expander, fs []xfield, piped, funcsOK bool) (status, ctl) {
	f0 := fs[0]
	if f0.unknown() {
		return s.unknownCommand(c, ex, fs, piped)
	}
	name := string(f0.b)
	args := fs[1:]
	argText := func(i int) string {
		if i < len(args) && !args[i].unknown() {
			return string(args[i].b)
		}
		return ""
	}
	switch name {
	case "sudo", "doas":
		i := 0
		for i < len(args) && strings.HasPrefix(argText(i), "-") {
			o := argText(i)
			i++
			if o == "--" {
				break
			}
			if len(o) == 2 && strings.IndexByte("ugChpUrtTD", o[1]) >= 0 {
				i++
			}
		}
		// sudo runs a program: the script's functions are not seen.
		return s.prefixed(c, ex, args, i, piped, false)
	case "command":
		i := 0
		for i < len(args) && strings.HasPrefix(argText(i), "-") {
			if o := argText(i); o == "-v" || o == "-V" {
				return s.known(c, args[i+1:]), ctl{} // a lookup, not a run
			}
			i++
		}
		return s.prefixed(c, ex, args, i, piped, false)
	case "exec", "nohup", "time", "builtin":
		i := 0
		for i < len(args) && strings.HasPrefix(argText(i), "-") {
			i++
		}
		st, cc := s.prefixed(c, ex, args, i, piped, name == "time")
		if name == "exec" && i < len(args) && cc.kind == ctlNone {
			// The shell becomes the command: nothing after it runs.
			cc = ctl{kind: ctlExit, pos: c.pos}
		}
		return st, cc
	case "env":
		i := 0
		for i < len(args) {
			a := argText(i)
			if a == "-u" {
				i += 2
				continue
			}
			if strings.HasPrefix(a, "-") || strings.Contains(a, "=") {
				i++
				continue
			}
			break
		}
		return s.prefixed(c, ex, args, i, piped, false)
	}
	if fn, _ := s.funcs.get(name); fn != nil && funcsOK {
		return s.call(fn, c, ex, args)
	}
	if st, cc, ok := s.builtin(name, c, ex, args); ok {
		return st, cc
	}
	if tool := path.Base(name); toolNames[tool] {
		return s.invoke(c, ex, tool, fs, piped), ctl{}
	}
	return stUnknown, ctl{}
}

func (s *state) prefixed(c *simpleCmd, ex *expander, args []xfield, i int, piped, funcsOK bool) (status, ctl) {
	if i >= len(args) {
		return stUnknown, ctl{}
	}
	return s.dispatch(c, ex, args[i:], piped, funcsOK)
}

// toolNames are the commands whose runs are reported.
var toolNames = map[string]bool{}

func init() {
	for _, fam := range []string{"iptables", "ip6tables"} {
		for _, be := range []string{"", "-legacy", "-nft"} {
			for _, kind := range []string{"", "-save", "-restore"} {
				toolNames[fam+be+kind] = true
			}
		}
	}
	// ipset's commands create the sets rules use
	toolNames["ipset"] = true
}

func isRestore(tool string) bool { return strings.HasSuffix(tool, "-restore") }

// unknownCommand runs a command whose name cannot be known: an iptables
// tool by its variable's name or value (IPT=$(which iptables), an
// IPTABLES from the environment), a function of the script when the name
// is the script's argument (init-script dispatch: "$1" or "$@"), and
// otherwise nothing, said once per unknown.
func (s *state) unknownCommand(c *simpleCmd, ex *expander, fs []xfield, piped bool) (status, ctl) {
	f0 := fs[0]
	us := f0.unks(ex)
	u := us[0]
	key := "cmd\x00" + u.key
	if u.key == "" {
		key += strconv.Itoa(u.off)
	}
	// What is said here covers the unknown parts of the command word.
	if s.noted == nil {
		s.noted = map[string]bool{}
	}
	for _, v := range us {
		if v.key != "" {
			s.noted[v.key] = true
		}
	}
	name := shorten(string(f0.b), 40)
	why := u.why
	if why == "" {
		why = "it is " + u.subject()
	}
	if tool := s.guessTool(f0, ex); tool != "" {
		if u.env {
			s.noteOnce(key, u.off, fmt.Sprintf("%s is never set in the script (its value would come from the environment): taking it to be %s wherever it is the command; said once, here", name, tool))
		} else {
			s.warnOnce(key, u.off, fmt.Sprintf("cannot know the command %s without running the script (%s): taking it to be %s wherever it is the command", name, why, tool))
		}
		return s.invoke(c, ex, tool, fs, piped), ctl{}
	}
	pf := s.params[len(s.params)-1]
	if v := f0.fromVar(ex); (v == "1" || v == "@" || v == "*") && pf.unknown && pf.why == "" {
		// The script's own arguments: run as an init script would be.
		if fn, _ := s.funcs.get("start"); fn != nil {
			s.warnOnce(key, u.off, fmt.Sprintf("cannot know the command %s: it is the script's argument; following function start, as for `%s start`", name, path.Base(s.name)))
			return s.uncertain(fmt.Sprintf("with the script's argument %s at %s taken to be start", name, s.src.lineRef(c.pos)), func() (status, ctl) {
				return s.call(fn, c, ex, fs[1:])
			})
		}
		fns := s.funcNames()
		list := ""
		if len(fns) > 0 {
			list = fmt.Sprintf(" (the script's functions: %s)", shorten(strings.Join(fns, ", "), 80))
		}
		s.warnOnce(key, u.off, fmt.Sprintf("cannot know the command %s: it is the script's argument; what it would run%s is not followed, and no rule it would add is read", name, list))
		return stUnknown, ctl{}
	}
	s.warnOnce(key, u.off, fmt.Sprintf("cannot know the command %s without running the script (%s); what it runs is not followed", name, why))
	return stUnknown, ctl{}
}

// funcNames lists the functions defined so far, sorted.
func (s *state) funcNames() []string {
	seen := map[string]bool{}
	var out []string
	for sc := s.funcs; sc != nil; sc = sc.up {
		for n, fn := range sc.m {
			if !seen[n] {
				seen[n] = true
				if fn != nil {
					out = append(out, n)
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

// guessTool decides whether an unknown command word is an iptables tool:
// IPT=$(which iptables) or an IPTABLES the script never sets are the
// usual reasons a firewall script's command word cannot be known.
func (s *state) guessTool(f xfield, ex *expander) string {
	hint := string(f.b)
	varName := f.fromVar(ex)
	if varName != "" {
		if v := s.lookup(varName); v != nil && len(v.vals) > 0 {
			hint += " " + v.vals[0].raw
		}
	}
	best := ""
	for t := range toolNames {
		if len(t) > len(best) && strings.Contains(hint, t) {
			best = t
		}
	}
	if best == "" && varName != "" {
		u := strings.ToUpper(varName)
		switch {
		case strings.Contains(u, "IP6T"):
			best = "ip6tables"
		case strings.Contains(u, "IPT"):
			best = "iptables"
		}
	}
	return best
}

// invoke records a run of tool with fs[0] the command word.
func (s *state) invoke(c *simpleCmd, ex *expander, tool string, fs []xfield, piped bool) status {
	if len(s.invs) >= maxInvs {
		s.stop(c.pos, fmt.Sprintf("the script makes more than %d iptables calls", maxInvs))
		return stUnknown
	}
	inv := Invocation{Tool: tool, Cmd: s.toWord(fs[0], ex), Note: strings.Join(s.notes, "; "), Errexit: s.errexit.active()}
	inv.Line = inv.Cmd.Line
	at := fs[0].start
	if len(fs[0].c) > 0 {
		at = fs[0].c[0].off()
	}
	inv.LineText = s.src.lineText(at)
	for _, f := range fs[1:] {
		inv.Args = append(inv.Args, s.toWord(f, ex))
	}
	s.reportUnknowns(ex, fs)
	if tool == "ipset" && len(inv.Args) > 0 && (inv.Args[0].Text == "restore" || inv.Args[0].Text == "-R") {
		inv.Stdin = s.stdin(c, piped)
		switch {
		case inv.Stdin == nil:
			s.diag(inv.Cmd.Offset, "ipset restore reads its sets from standard input, which the script does not give; not followed", true)
		case inv.Stdin.File != nil:
			s.diag(inv.Stdin.File.Offset, fmt.Sprintf("cannot follow ipset restore < %s: the sets are in that file, outside the script; put them before the rules of the file ipsift reads", inv.Stdin.File.Text), true)
		case inv.Stdin.Pipe:
			s.diag(inv.Cmd.Offset, "cannot follow ipset restore reading from a pipe without running the script", true)
		}
	} else if isRestore(tool) {
		inv.Stdin = s.stdin(c, piped)
		switch {
		case restoreFile(inv.Args) != nil:
			f := restoreFile(inv.Args)
			s.diag(f.Offset, fmt.Sprintf("cannot follow %s %s: the rules are in that file, outside the script; check it as an iptables-restore file", tool, f.Text), true)
		case inv.Stdin == nil:
			s.diag(inv.Cmd.Offset, tool+" reads its rules from standard input, which the script does not give; not followed", true)
		case inv.Stdin.File != nil:
			s.diag(inv.Stdin.File.Offset, fmt.Sprintf("cannot follow %s < %s: the rules are in that file, outside the script; check it as an iptables-restore file", tool, inv.Stdin.File.Text), true)
		case inv.Stdin.Pipe:
			s.diag(inv.Cmd.Offset, fmt.Sprintf("cannot follow %s reading from a pipe without running the script", tool), true)
		}
	}
	s.invs = append(s.invs, inv)
	return stUnknown
}

// restoreFile returns the file argument of an iptables-restore, if any:
// the last word that is neither an option nor an option's value.
func restoreFile(args []Word) *Word {
	takesValue := map[string]bool{"-M": true, "--modprobe": true, "-T": true, "--table": true, "-W": true, "--wait-interval": true}
	i := len(args) - 1
	if i < 0 || strings.HasPrefix(args[i].Text, "-") || i > 0 && takesValue[args[i-1].Text] {
		return nil
	}
	return &args[i]
}

// stdin tells what a command's standard input is: its last '<' or
// here-document, or the pipe it is in.
func (s *state) stdin(c *simpleCmd, piped bool) *Stdin {
	var in *Stdin
	for _, r := range c.redirs {
		switch {
		case r.op == "<" && r.target != nil:
			ex := s.newExpander()
			ex.word(r.target)
			w := s.toWord(ex.joined(), ex)
			in = &Stdin{File: &w}
		case r.here != nil:
			in = &Stdin{Heredoc: true, Pos: s.src.pos(r.here.pos)}
			if r.here.done {
				ex := s.newExpander()
				ex.word(&r.here.body)
				in.Text = string(ex.joined().b)
			}
		case r.op == "<<<" && r.target != nil:
			ex := s.newExpander()
			ex.word(r.target)
			in = &Stdin{Heredoc: true, Pos: s.src.pos(r.target.pos), Text: string(ex.joined().b) + "\n"}
		}
	}
	if in == nil && piped {
		in = &Stdin{Pipe: true}
	}
	return in
}

// call runs a shell function.
func (s *state) call(fn *funcDef, c *simpleCmd, ex *expander, args []xfield) (status, ctl) {
	if len(s.locals) >= maxCallDepth {
		return stUnknown, s.stop(c.pos, fmt.Sprintf("function calls nest deeper than %d", maxCallDepth))
	}
	pf := &params{}
	for _, a := range args {
		if a.unknown() && !a.quotedUnknown() {
			// main "$@": how many arguments cannot be known.
			cur := s.params[len(s.params)-1]
			if v := a.fromVar(ex); (v == "@" || v == "*") && cur.unknown {
				pf = &params{unknown: true, why: cur.why}
			} else {
				pf = &params{unknown: true, why: fmt.Sprintf("they are passed to %s at %s from %s, which may make any number of words", fn.name, s.src.lineRef(c.pos), a.subject(ex))}
			}
			break
		}
		v := a.value()
		if a.unknown() {
			v.why = fmt.Sprintf("it is passed to %s at %s as %s", fn.name, s.src.lineRef(c.pos), a.subject(ex))
		}
		pf.vals = append(pf.vals, v)
	}
	s.params = append(s.params, pf)
	s.locals = append(s.locals, newScope[*variable](nil))
	s.pushNote(fmt.Sprintf("in function %s, called at %s", fn.name, s.src.lineRef(c.pos)))
	st, cc := s.command(fn.body, false)
	s.popNote()
	s.locals = s.locals[:len(s.locals)-1]
	s.params = s.params[:len(s.params)-1]
	switch cc.kind {
	case ctlReturn:
		st = status(cc.n)
		cc = ctl{}
	case ctlBreak, ctlContinue:
		cc = ctl{}
	}
	return st, cc
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
		n, ok := num(0)
		r := status(stUnknown)
		if ok {
			r = stOK
			if n != 0 {
				r = stFail
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
