package script

import (
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
)

// This file runs simple commands: it finds what the command word names
// (a wrapper such as sudo or env, a function of the script, a builtin,
// an iptables-family tool, or a word that cannot be known) and calls it.

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
