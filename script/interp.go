package script

import (
	"bytes"
	"fmt"
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
