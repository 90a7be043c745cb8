package script

import (
	"fmt"
	"strings"
)

// This file runs the compound commands: if, for, for (( )), while,
// until and case. Where a condition cannot be decided the branch that
// runs commands is followed (see interp.go), and loops count their
// passes against the limit.

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
	subj := s.condWord(n.subject)
	if subj.unknown() {
		// The usual init-script case "$1" in start) ... stop) ...:
		// follow start if there is one, else the first arm.
		pick := -1
		for i, arm := range n.arms {
			for _, pw := range arm.pats {
				pf := s.condWord(pw)
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
			pf := s.condWord(pw)
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
