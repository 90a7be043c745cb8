package script

import (
	"fmt"
	"strings"
)

// This file is the grammar: it turns the lexer's tokens (lex.go) into the
// syntax tree (syntax.go). The grammar is POSIX sh's
// (simple commands, pipelines, && and ||, lists, if, for, while, until,
// case, { }, ( ), functions, here-documents) plus the bash forms firewall
// scripts use ([[ ]], (( )), for ((;;)), function NAME, NAME=(...) arrays,
// $'...'). Words keep, for every byte, the place it was written, so that
// expansion can report a position for each argument.

// synErr is a syntax error: the shell would not run the script from the
// command containing it on.
type synErr struct {
	off int
	msg string
}

type parser struct {
	src     *source
	b       []byte
	i, end  int
	depth   int
	tok     *token // one token of lookahead; p.i is already past it
	last    int    // end of the last token consumed
	pending []*heredoc
	diags   *diagList
}

func (p *parser) fail(off int, format string, args ...any) {
	panic(synErr{off, fmt.Sprintf(format, args...)})
}

// try runs f, turning a syntax error raised inside it into a value.
func (p *parser) try(f func()) (err *synErr) {
	defer func() {
		if r := recover(); r != nil {
			e, ok := r.(synErr)
			if !ok {
				panic(r)
			}
			err = &e
		}
	}()
	f()
	return nil
}

// enter and leave bound the nesting of the syntax, so that a hostile
// script cannot exhaust the stack.
func (p *parser) enter() {
	p.depth++
	if p.depth > maxNest {
		p.fail(p.i, "the script nests deeper than %d levels; not followed", maxNest)
	}
}

func (p *parser) leave() { p.depth-- }

// parseProgram parses the script one complete command at a time, as a
// shell reads it; at a syntax error it returns the commands before it,
// which a shell would already have run.
func parseProgram(src *source, from int, diags *diagList) ([]*andOr, *synErr) {
	g := src.seg(from)
	p := &parser{src: src, b: src.b, i: g.base, end: g.end, diags: diags}
	if strings.HasPrefix(string(src.b[g.base:min(g.base+3, g.end)]), "\ufeff") {
		// Saved by an editor that marks UTF-8: bash would take the mark
		// as part of the first command's name.
		diags.add(g.base, "the file starts with a byte-order mark (U+FEFF); a shell would take it as part of the first command name, here it is skipped", true)
		p.i += 3
	}
	return p.program()
}

// parseRange parses the text at [from,to) as a script of its own (the
// inside of a command substitution), its diagnostics going to diags.
func parseRange(src *source, from, to int, diags *diagList) ([]*andOr, *synErr) {
	p := &parser{src: src, b: src.b, i: from, end: to, diags: diags}
	return p.program()
}

func (p *parser) program() ([]*andOr, *synErr) {
	var prog []*andOr
	for {
		var cmd *andOr
		eof := false
		err := p.try(func() {
			p.skipNewlines()
			t := p.peek()
			if t.kind == tEOF {
				eof = true
				return
			}
			cmd = p.andOr()
			t = p.peek()
			switch {
			case t.kind == tOp && (t.op == ";" || t.op == "&"), t.kind == tNewline:
				p.next()
			case t.kind == tEOF:
			default:
				p.unexpected(t)
			}
		})
		if err != nil {
			return prog, err
		}
		if eof {
			p.endHeredocs()
			return prog, nil
		}
		prog = append(prog, cmd)
	}
}

func (p *parser) unexpected(t *token) {
	switch t.kind {
	case tEOF:
		p.fail(t.pos, "syntax error: unexpected end of file")
	case tNewline:
		p.fail(t.pos, "syntax error: unexpected end of line")
	case tOp:
		p.fail(t.pos, "syntax error near unexpected token `%s'", t.op)
	}
	p.fail(t.pos, "syntax error near unexpected token `%s'", p.b[t.pos:t.end])
}

// Tokens.

func (p *parser) peek() *token {
	if p.tok == nil {
		p.tok = p.lex()
	}
	return p.tok
}

func (p *parser) next() *token {
	t := p.peek()
	p.tok = nil
	p.last = t.end
	if t.kind == tNewline && len(p.pending) > 0 {
		p.readHeredocs()
	}
	return t
}

func (p *parser) skipNewlines() {
	for p.peek().kind == tNewline {
		p.next()
	}
}

// isWord reports whether t is the unquoted word kw (a reserved word is
// only one when written plainly).
func isWord(t *token, kw string) bool {
	if t.kind != tWord {
		return false
	}
	s, ok := t.w.lit()
	return ok && s == kw
}

// closers end a list: they belong to the construct around it.
var closers = map[string]bool{"then": true, "do": true, "done": true, "fi": true, "esac": true, "elif": true, "else": true, "}": true}

func isCloser(t *token) bool {
	if t.kind != tWord {
		return false
	}
	s, ok := t.w.lit()
	return ok && closers[s]
}

// Grammar.

// list parses commands separated by ; & or newlines, up to a token that
// belongs to the construct around the list.
func (p *parser) list() *listNode {
	p.enter()
	defer p.leave()
	l := &listNode{}
	p.skipNewlines()
	l.pos = p.peek().pos
	l.end = l.pos
	for {
		p.skipNewlines()
		t := p.peek()
		if t.kind == tEOF || isCloser(t) || t.kind == tOp && (t.op == ")" || t.op == ";;" || t.op == ";&" || t.op == ";;&") {
			return l
		}
		l.items = append(l.items, p.andOr())
		l.end = p.last
		t = p.peek()
		switch {
		case t.kind == tOp && (t.op == ";" || t.op == "&"):
			p.next()
		case t.kind == tNewline:
		default:
			return l
		}
	}
}

func (p *parser) andOr() *andOr {
	a := &andOr{pipes: []*pipeline{p.pipeline()}}
	for {
		t := p.peek()
		if t.kind != tOp || t.op != "&&" && t.op != "||" {
			return a
		}
		p.next()
		p.skipNewlines()
		a.ops = append(a.ops, t.op)
		a.pipes = append(a.pipes, p.pipeline())
	}
}

func (p *parser) pipeline() *pipeline {
	pl := &pipeline{pos: p.peek().pos}
	if isWord(p.peek(), "!") {
		p.next()
		pl.bang = true
	}
	pl.cmds = append(pl.cmds, p.command())
	for {
		t := p.peek()
		if t.kind != tOp || t.op != "|" && t.op != "|&" {
			return pl
		}
		p.next()
		p.skipNewlines()
		pl.cmds = append(pl.cmds, p.command())
	}
}

// expect consumes the reserved word kw that closes or continues the
// construct opened by open at openPos.
func (p *parser) expect(kw, open string, openPos int) {
	t := p.peek()
	if isWord(t, kw) {
		p.next()
		return
	}
	if t.kind == tEOF {
		hint := ""
		if kw == "}" {
			hint = " (a } closes a group only after a ; or a line end: { cmd; })"
		}
		p.fail(openPos, "syntax error: the `%s' here has no `%s'%s", open, kw, hint)
	}
	p.fail(t.pos, "syntax error: `%s' expected here, for the `%s' at %s", kw, open, p.src.lineRef(openPos))
}

func (p *parser) expectOp(op, open string, openPos int) {
	t := p.peek()
	if t.kind == tOp && t.op == op {
		p.next()
		return
	}
	if t.kind == tEOF {
		p.fail(openPos, "syntax error: the `%s' here has no `%s'", open, op)
	}
	p.fail(t.pos, "syntax error: `%s' expected here, for the `%s' at %s", op, open, p.src.lineRef(openPos))
}

func (p *parser) command() command {
	p.enter()
	defer p.leave()
	t := p.peek()
	if t.kind == tOp && t.op == "(" {
		p.next()
		if t.end < p.end && p.b[t.end] == '(' {
			p.i = t.end + 1
			if raw, ok := p.scanArith(); ok {
				c := &arithCmd{cmdBase: cmdBase{pos: t.pos}, expr: raw}
				p.last = p.i
				p.redirects(&c.cmdBase)
				return c
			}
			p.i = t.end
		}
		g := &groupNode{cmdBase: cmdBase{pos: t.pos}, subshell: true}
		g.body = p.list()
		p.expectOp(")", "(", t.pos)
		p.redirects(&g.cmdBase)
		return g
	}
	if t.kind == tWord {
		kw, _ := t.w.lit()
		switch kw {
		case "if":
			return p.ifCmd()
		case "for":
			return p.forCmd()
		case "while", "until":
			return p.whileCmd()
		case "case":
			return p.caseCmd()
		case "{":
			p.next()
			g := &groupNode{cmdBase: cmdBase{pos: t.pos}}
			g.body = p.list()
			p.expect("}", "{", t.pos)
			p.redirects(&g.cmdBase)
			return g
		case "function":
			return p.functionCmd()
		case "[[":
			return p.condCmd()
		}
	}
	return p.simple()
}

func (p *parser) redirects(c *cmdBase) {
	for {
		t := p.peek()
		if t.kind == tIONum || t.kind == tOp && isRedirOp(t.op) {
			c.redirs = append(c.redirs, p.redirect())
			continue
		}
		return
	}
}

func isRedirOp(op string) bool {
	switch op {
	case "<", ">", ">>", "<&", ">&", "<>", ">|", "<<", "<<-", "<<<", "&>", "&>>":
		return true
	}
	return false
}

func (p *parser) redirect() *redir {
	t := p.next()
	pos := t.pos
	if t.kind == tIONum {
		t = p.next()
		if t.kind != tOp || !isRedirOp(t.op) {
			p.unexpected(t)
		}
	}
	r := &redir{op: t.op, pos: pos}
	tw := p.next()
	if tw.kind != tWord {
		p.unexpected(tw)
	}
	r.target = tw.w
	if r.op == "<<" || r.op == "<<-" {
		h := &heredoc{strip: r.op == "<<-", expand: true}
		var d []byte
		for _, pt := range tw.w.parts {
			if pt.quoted {
				h.expand = false
			}
			if pt.kind == pLit {
				d = append(d, pt.lit...)
			} else {
				d = append(d, p.b[pt.pos:pt.end]...)
			}
		}
		h.delim = string(d)
		r.here = h
		p.pending = append(p.pending, h)
	}
	return r
}

func (p *parser) ifCmd() command {
	t := p.next()
	n := &ifNode{cmdBase: cmdBase{pos: t.pos}}
	open, openPos := "if", t.pos
	for {
		n.conds = append(n.conds, p.list())
		p.expect("then", open, openPos)
		n.bodies = append(n.bodies, p.list())
		u := p.peek()
		if isWord(u, "elif") {
			p.next()
			open, openPos = "elif", u.pos
			continue
		}
		if isWord(u, "else") {
			p.next()
			n.els = p.list()
		}
		p.expect("fi", "if", t.pos)
		p.redirects(&n.cmdBase)
		return n
	}
}

func (p *parser) forCmd() command {
	t := p.next()
	if u := p.peek(); u.kind == tOp && u.op == "(" && u.end < p.end && p.b[u.end] == '(' {
		p.next()
		p.i = u.end + 1
		raw, ok := p.scanArith()
		if !ok {
			p.fail(u.pos, "syntax error: the for (( here has no ))")
		}
		parts := splitTop(raw, ';')
		if len(parts) != 3 {
			p.fail(u.pos, "syntax error: for (( needs three expressions separated by ';'")
		}
		n := &arithForNode{cmdBase: cmdBase{pos: t.pos}, init: parts[0], cond: parts[1], step: parts[2]}
		p.last = p.i
		if v := p.peek(); v.kind == tOp && v.op == ";" {
			p.next()
		}
		n.body = p.loopBody(t.pos)
		p.redirects(&n.cmdBase)
		return n
	}
	nt := p.next()
	name, ok := "", false
	if nt.kind == tWord {
		name, ok = nt.w.lit()
	}
	if !ok || !isName(name) {
		p.fail(nt.pos, "syntax error: `for' needs a variable name here")
	}
	n := &forNode{cmdBase: cmdBase{pos: t.pos}, name: name}
	p.skipNewlines()
	u := p.peek()
	switch {
	case isWord(u, "in"):
		p.next()
		n.hasIn = true
		n.words = []*word{}
		for p.peek().kind == tWord {
			n.words = append(n.words, p.next().w)
		}
		v := p.peek()
		switch {
		case v.kind == tOp && v.op == ";", v.kind == tNewline:
			p.next()
		default:
			p.unexpected(v)
		}
	case u.kind == tOp && u.op == ";":
		p.next()
	}
	n.body = p.loopBody(t.pos)
	p.redirects(&n.cmdBase)
	return n
}

// loopBody reads "do list done" (or bash's "{ list }").
func (p *parser) loopBody(openPos int) *listNode {
	p.skipNewlines()
	if isWord(p.peek(), "{") {
		u := p.next()
		body := p.list()
		p.expect("}", "{", u.pos)
		return body
	}
	p.expect("do", "for", openPos)
	body := p.list()
	p.expect("done", "do", openPos)
	return body
}

// splitTop splits s at sep outside parentheses.
func splitTop(s string, sep byte) []string {
	var out []string
	depth, last := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(':
			depth++
		case ')':
			depth--
		case sep:
			if depth == 0 {
				out = append(out, s[last:i])
				last = i + 1
			}
		}
	}
	return append(out, s[last:])
}

func (p *parser) whileCmd() command {
	t := p.next()
	kw, _ := t.w.lit()
	n := &whileNode{cmdBase: cmdBase{pos: t.pos}, until: kw == "until"}
	n.cond = p.list()
	p.expect("do", kw, t.pos)
	n.body = p.list()
	p.expect("done", kw, t.pos)
	p.redirects(&n.cmdBase)
	return n
}

func (p *parser) caseCmd() command {
	t := p.next()
	st := p.next()
	if st.kind != tWord {
		p.fail(st.pos, "syntax error: `case' needs a word here")
	}
	n := &caseNode{cmdBase: cmdBase{pos: t.pos}, subject: st.w}
	p.skipNewlines()
	p.expect("in", "case", t.pos)
	for {
		p.skipNewlines()
		u := p.peek()
		if isWord(u, "esac") {
			p.next()
			break
		}
		if u.kind == tEOF {
			p.fail(t.pos, "syntax error: the `case' here has no `esac'")
		}
		if u.kind == tOp && u.op == "(" {
			p.next()
		}
		arm := caseArm{pos: p.peek().pos}
		for {
			pt := p.next()
			if pt.kind != tWord {
				p.unexpected(pt)
			}
			arm.pats = append(arm.pats, pt.w)
			if v := p.peek(); v.kind == tOp && v.op == "|" {
				p.next()
				continue
			}
			break
		}
		p.expectOp(")", "case", t.pos)
		arm.body = p.list()
		n.arms = append(n.arms, arm)
		v := p.peek()
		switch {
		case v.kind == tOp && (v.op == ";;" || v.op == ";&" || v.op == ";;&"):
			p.next()
		case isWord(v, "esac"):
		default:
			p.fail(v.pos, "syntax error: `;;' or `esac' expected here, for the `case' at %s", p.src.lineRef(t.pos))
		}
	}
	p.redirects(&n.cmdBase)
	return n
}

func (p *parser) functionCmd() command {
	t := p.next()
	nt := p.next()
	name, ok := "", false
	if nt.kind == tWord {
		name, ok = nt.w.lit()
	}
	if !ok {
		p.fail(nt.pos, "syntax error: `function' needs a name here")
	}
	if u := p.peek(); u.kind == tOp && u.op == "(" {
		p.next()
		p.expectOp(")", "(", u.pos)
	}
	return p.funcBody(t.pos, name)
}

func (p *parser) funcBody(pos int, name string) command {
	p.skipNewlines()
	body := p.command()
	if _, simple := body.(*simpleCmd); simple {
		p.fail(body.start(), "syntax error: the body of function %s must be a compound command such as { ...; }", name)
	}
	return &funcDef{cmdBase: cmdBase{pos: pos}, name: name, body: body}
}

// condCmd reads bash's [[ ... ]], in which && || ( ) < > are words of the
// test, not shell operators.
func (p *parser) condCmd() command {
	t := p.next()
	c := &condCmd{cmdBase: cmdBase{pos: t.pos}}
	for {
		p.skipBlank()
		for p.i < p.end && (p.b[p.i] == '\n' || p.b[p.i] == '\r') {
			p.i++
			p.skipBlank()
		}
		if p.i >= p.end {
			p.fail(t.pos, "syntax error: the `[[' here has no `]]'")
		}
		if p.i+1 < p.end && p.b[p.i] == ']' && p.b[p.i+1] == ']' && (p.i+2 >= p.end || strings.IndexByte(" \t\n\r;&|)", p.b[p.i+2]) >= 0) {
			p.i += 2
			break
		}
		if strings.IndexByte("&|()<>;", p.b[p.i]) >= 0 {
			n := 1
			if p.i+1 < p.end && (p.b[p.i] == '&' || p.b[p.i] == '|') && p.b[p.i+1] == p.b[p.i] {
				n = 2
			}
			w := &word{pos: p.i, end: p.i + n}
			w.addLit(p.b[p.i:p.i+n], p.i, false)
			c.words = append(c.words, w)
			p.i += n
			continue
		}
		w := p.readWord()
		if w.end == w.pos {
			p.fail(p.i, "syntax error in [[ ]] near %q", p.b[p.i])
		}
		c.words = append(c.words, w)
	}
	p.last = p.i
	p.redirects(&c.cmdBase)
	return c
}

// asAssign reports whether w is NAME=value (or NAME+=value).
func asAssign(w *word) (name string, app bool, ok bool) {
	if len(w.parts) == 0 || w.parts[0].kind != pLit || w.parts[0].quoted {
		return "", false, false
	}
	s := w.parts[0].lit
	eq := -1
	for i, c := range s {
		if c == '=' {
			eq = i
			break
		}
	}
	if eq <= 0 {
		return "", false, false
	}
	n := string(s[:eq])
	if strings.HasSuffix(n, "+") {
		n, app = n[:len(n)-1], true
	}
	if !isName(n) {
		return "", false, false
	}
	return n, app, true
}

// assignValue returns the word after the '=' of an assignment word.
func assignValue(w *word) *word {
	v := &word{pos: w.pos, end: w.end}
	first := w.parts[0]
	eq := 0
	for first.lit[eq] != '=' {
		eq++
	}
	if eq+1 < len(first.lit) {
		rest := first
		rest.lit, rest.offs = first.lit[eq+1:], first.offs[eq+1:]
		rest.pos = int(rest.offs[0])
		v.parts = append(v.parts, rest)
	}
	v.parts = append(v.parts, w.parts[1:]...)
	if len(v.parts) > 0 {
		v.pos = v.parts[0].pos
	} else {
		v.pos = int(first.offs[eq]) + 1
	}
	return v
}

func (p *parser) simple() command {
	c := &simpleCmd{cmdBase: cmdBase{pos: p.peek().pos}}
	for {
		t := p.peek()
		switch {
		case t.kind == tIONum || t.kind == tOp && isRedirOp(t.op):
			c.redirs = append(c.redirs, p.redirect())
			continue
		case t.kind == tWord:
			p.next()
			if len(c.words) == 0 {
				if _, _, ok := asAssign(t.w); ok {
					c.assigns = append(c.assigns, t.w)
					continue
				}
			}
			c.words = append(c.words, t.w)
			if len(c.words) == 1 && len(c.assigns) == 0 && len(c.redirs) == 0 {
				if u := p.peek(); u.kind == tOp && u.op == "(" {
					name, ok := t.w.lit()
					if !ok {
						p.unexpected(u)
					}
					p.next()
					p.expectOp(")", "(", u.pos)
					return p.funcBody(t.pos, name)
				}
			}
			continue
		}
		break
	}
	if len(c.words) == 0 && len(c.assigns) == 0 && len(c.redirs) == 0 {
		p.unexpected(p.peek())
	}
	return c
}
