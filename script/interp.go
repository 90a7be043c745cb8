package script

import (
	"bytes"
	"fmt"
	"path"
	"strconv"
	"strings"
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

	steps, passes, nfields int
	globWork, xbytes       int
	stopped                bool
	last                   status // $?
	// inputs are the standard inputs of the loops being run, innermost
	// last: the lines read takes (readin.go).
	inputs []*lineInput
}

func newState(name string, b []byte) *state {
	s := &state{name: name, src: newSource(b), globals: newScope[*variable](nil), funcs: newScope[*funcDef](nil)}
	s.diags.src = s.src
	s.params = []*params{{unknown: true}}
	if i := bytes.Index(b, []byte("\r\n")); i >= 0 {
		s.diag(i, "this line ends in \\r\\n (a Windows line end); a shell would keep the \\r as part of the line's last word, here it is read as a plain line end", true)
	}
	return s
}

func (s *state) diag(off int, msg string, warn bool) { s.diags.add(off, msg, warn) }

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
	if len([]rune(t)) <= n {
		return t
	}
	return string([]rune(t)[:n-1]) + "…"
}

// uncertain runs f as a branch taken only because a decision could not
// be made. A jump out of it (exit, return, break, continue) is dropped:
// it would happen only if the undecidable condition went this way, and
// following it would hide the rest of the script.
func (s *state) uncertain(note string, f func() (status, ctl)) (status, ctl) {
	s.pushNote(note)
	st, c := f()
	s.popNote()
	switch c.kind {
	case ctlExit:
		s.diag(c.pos, "this exit is reached only on a branch taken without knowing its condition; reading on after that branch", true)
		c = ctl{}
	case ctlReturn:
		s.diag(c.pos, "this return is reached only on a branch taken without knowing its condition; reading on after that branch", true)
		c = ctl{}
	case ctlBreak, ctlContinue:
		c = ctl{}
	}
	return st, c
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
	st, c := s.pipeline(a.pipes[0])
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
			note := fmt.Sprintf("after %s at line %d, whose left side's result cannot be known", op, s.src.line(pl.pos))
			var bst status
			bst, c = s.uncertain(note, func() (status, ctl) { return s.pipeline(pl) })
			switch {
			case op == "||" && bst == stOK:
				st = stOK
			case op == "&&" && bst == stFail:
				st = stFail
			default:
				st = stUnknown
			}
		case run:
			st, c = s.pipeline(pl)
		}
	}
	return st, c
}

func (s *state) pipeline(pl *pipeline) (status, ctl) {
	var st status
	var c ctl
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
	for i, cond := range n.conds {
		st, c := s.list(cond)
		if c.kind != ctlNone {
			return st, c
		}
		switch st {
		case stOK:
			return s.list(n.bodies[i])
		case stUnknown:
			test := s.snippet(cond.pos, cond.end)
			s.diag(cond.pos, fmt.Sprintf("cannot decide `%s' without running the script; following its then-branch", test), true)
			note := fmt.Sprintf("in the then-branch of the if at line %d, taken without knowing `%s'", s.src.line(cond.pos), test)
			return s.uncertain(note, func() (status, ctl) { return s.list(n.bodies[i]) })
		}
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
			val := value{unknown: true, raw: string(it.b), why: fmt.Sprintf("it takes its values from %s at line %d", subj, s.src.line(it.c[0].off()))}
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
			return s.uncertain(fmt.Sprintf("in one pass of the for (( )) loop at line %d, whose test cannot be decided", s.src.line(n.pos)), func() (status, ctl) {
				return s.list(n.body)
			})
		}
		if !run {
			return st, ctl{}
		}
		s.pushNote(fmt.Sprintf("inside for (( )) loop at line %d, pass %d", s.src.line(n.pos), i+1))
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
		cst, c := s.list(n.cond)
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
			note := fmt.Sprintf("in one pass of the %s loop at line %d, taken without knowing `%s'", kw, s.src.line(n.pos), test)
			return s.uncertain(note, func() (status, ctl) { return s.list(n.body) })
		}
		s.pushNote(fmt.Sprintf("inside %s loop at line %d, pass %d", kw, s.src.line(n.pos), i+1))
		st, c = s.list(n.body)
		s.popNote()
		if cont, out := loopCtl(c); !cont {
			return st, out
		}
	}
}

func (s *state) caseCmd(n *caseNode) (status, ctl) {
	ex := s.newExpander()
	ex.word(n.subject)
	subj := ex.joined()
	if subj.unknown() {
		// The usual init-script case "$1" in start) ... stop) ...:
		// follow start if there is one, else the first arm.
		pick := -1
		for i, arm := range n.arms {
			for _, pw := range arm.pats {
				pe := s.newExpander()
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
		note := fmt.Sprintf("in the case arm %s) at line %d, taken without knowing %s", pat, s.src.line(arm.pos), s.snippet(n.subject.pos, n.subject.end))
		return s.uncertain(note, func() (status, ctl) { return s.list(arm.body) })
	}
	for _, arm := range n.arms {
		for _, pw := range arm.pats {
			pe := s.newExpander()
			pe.word(pw)
			pf := pe.joined()
			m, ok := s.globMatch(pf, subj.b)
			if pf.unknown() || !ok {
				pat := s.snippet(arm.pos, arm.pats[len(arm.pats)-1].end)
				s.diag(pw.pos, fmt.Sprintf("cannot decide whether the case pattern %s matches without running the script; following its arm", pat), true)
				note := fmt.Sprintf("in the case arm %s) at line %d, taken without knowing whether it matches", pat, s.src.line(arm.pos))
				return s.uncertain(note, func() (status, ctl) { return s.list(arm.body) })
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
		if tool, why := s.guessTool(f0, ex); tool != "" {
			s.diag(f0.c[0].off(), why, true)
			return s.invoke(c, ex, tool, fs, piped), ctl{}
		}
		return stUnknown, ctl{}
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
				return stUnknown, ctl{} // a lookup, not a run
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

// guessTool decides whether an unknown command word is an iptables tool:
// IPT=$(which iptables) or an IPTABLES the script never sets are the
// usual reasons a firewall script's command word cannot be known.
func (s *state) guessTool(f xfield, ex *expander) (tool, why string) {
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
	if best == "" {
		return "", ""
	}
	return best, fmt.Sprintf("cannot know the command %s without running the script; taking it to be %s", shorten(string(f.b), 40), best)
}

// invoke records a run of tool with fs[0] the command word.
func (s *state) invoke(c *simpleCmd, ex *expander, tool string, fs []xfield, piped bool) status {
	if len(s.invs) >= maxInvs {
		s.stop(c.pos, fmt.Sprintf("the script makes more than %d iptables calls", maxInvs))
		return stUnknown
	}
	inv := Invocation{Tool: tool, Cmd: s.toWord(fs[0], ex), Note: strings.Join(s.notes, "; ")}
	inv.Line = inv.Cmd.Line
	for _, f := range fs[1:] {
		inv.Args = append(inv.Args, s.toWord(f, ex))
	}
	// Say why each unknown word is unknown, once per word part.
	for _, f := range fs {
		for _, u := range f.unks(ex) {
			s.diag(u.off, u.msg, true)
		}
	}
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
		v := a.value()
		if a.unknown() {
			v.why = fmt.Sprintf("it is passed to %s at line %d as %s", fn.name, s.src.line(c.pos), a.subject(ex))
		}
		pf.vals = append(pf.vals, v)
	}
	s.params = append(s.params, pf)
	s.locals = append(s.locals, newScope[*variable](nil))
	s.pushNote(fmt.Sprintf("in function %s, called at line %d", fn.name, s.src.line(c.pos)))
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
					v.why = fmt.Sprintf("it is set at line %d from %s", s.src.line(w.pos), f.subject(ex))
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
		v.why = fmt.Sprintf("it is set at line %d from %s", s.src.line(w.pos), f.subject(ex))
	}
	if app {
		if old := s.lookup(name); old != nil && !old.unset && len(old.vals) > 0 {
			v = concatValues(old.vals[0], v)
		} else if old == nil {
			v = value{unknown: true, why: fmt.Sprintf("it is appended to at line %d, but never set before", s.src.line(w.pos)), raw: string(v.b)}
		}
	}
	if len(v.b) > maxValue {
		v = value{unknown: true, why: fmt.Sprintf("at line %d its value grows beyond %d bytes, which is not followed", s.src.line(w.pos), maxValue)}
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

// declare runs export, readonly, local, declare and typeset.
func (s *state) declare(name string, c *simpleCmd) status {
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
		if len(s.locals) == 0 {
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
		for i, a := range args {
			if !a.unknown() && string(a.b) == "--" {
				pf := &params{}
				for _, b := range args[i+1:] {
					pf.vals = append(pf.vals, b.value())
				}
				s.params[len(s.params)-1] = pf
				break
			}
		}
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
				s.setScalar(t, value{unknown: true, raw: "$" + t, why: fmt.Sprintf("it is set by read at line %d", s.src.line(c.pos))})
			}
		}
		if len(args) == 0 {
			s.setScalar("REPLY", value{unknown: true, raw: "$REPLY", why: fmt.Sprintf("it is set by read at line %d", s.src.line(c.pos))})
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
		what := "a file"
		if len(args) > 0 {
			what = string(args[0].b)
		}
		s.diag(c.pos, fmt.Sprintf("cannot follow `%s %s': it reads commands from another file", name, shorten(what, 40)), true)
		return stUnknown, ctl{}, true
	}
	return 0, ctl{}, false
}
