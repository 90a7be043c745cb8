package script

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// This file turns the script into a syntax tree. The grammar is POSIX sh's
// (simple commands, pipelines, && and ||, lists, if, for, while, until,
// case, { }, ( ), functions, here-documents) plus the bash forms firewall
// scripts use ([[ ]], (( )), for ((;;)), function NAME, NAME=(...) arrays,
// $'...'). Words keep, for every byte, the place it was written, so that
// expansion can report a position for each argument.

// partKind says what one piece of a word is.
type partKind uint8

const (
	pLit   partKind = iota // literal text, after quote removal
	pParam                 // $X, ${X}, ${X:-word}, $1, $@, ...
	pCmd                   // $(...) or `...`: never run
	pArith                 // $((...))
	pArray                 // (a b c) in NAME=(a b c)
)

// part is one piece of a word.
type part struct {
	kind   partKind
	quoted bool // inside quotes or escaped: not subject to field splitting
	pos    int  // source offset where the part starts ('$' for expansions)
	end    int  // source offset just after the part

	lit  []byte  // pLit: the text
	offs []int32 // pLit: source offset of each byte of lit

	// pParam
	name   string // "X", "1", "@", "#", ...
	index  string // ${A[index]}: the index as written ("@", "*", "0", "$i")
	hasIdx bool
	op     string // "", ":-", "-", ":=", "#", "##", "%", "/", ":", "len", "bad", ...
	arg    *word  // the word after the operator
	arg2   *word  // ${X/pat/rep}: rep
	brace  bool   // written with braces

	raw   string  // pCmd, pArith: the text inside
	elems []*word // pArray
}

// word is one shell word as written: the parts between blanks.
type word struct {
	parts    []part
	pos, end int
}

// lit returns the word's text when it is one unquoted literal (as
// reserved words, names and operators must be), else "".
func (w *word) lit() (string, bool) {
	if len(w.parts) != 1 || w.parts[0].kind != pLit || w.parts[0].quoted {
		return "", false
	}
	return string(w.parts[0].lit), true
}

// addLit appends text written at offset off (each byte one further, which
// holds for text copied straight from the source).
func (w *word) addLit(b []byte, off int, quoted bool) {
	offs := make([]int32, len(b))
	for i := range b {
		offs[i] = int32(off + i)
	}
	w.addLitOffs(b, offs, quoted)
}

func (w *word) addLitOffs(b []byte, offs []int32, quoted bool) {
	if n := len(w.parts); n > 0 && w.parts[n-1].kind == pLit && w.parts[n-1].quoted == quoted && len(b) > 0 {
		p := &w.parts[n-1]
		p.lit = append(p.lit, b...)
		p.offs = append(p.offs, offs...)
		p.end = int(offs[len(offs)-1]) + 1
		return
	}
	p := part{kind: pLit, quoted: quoted, lit: append([]byte(nil), b...), offs: append([]int32(nil), offs...)}
	if len(offs) > 0 {
		p.pos, p.end = int(offs[0]), int(offs[len(offs)-1])+1
	}
	w.parts = append(w.parts, p)
}

// Syntax tree. Every command records where it starts.

type listNode struct {
	items    []*andOr
	pos, end int
}

type andOr struct {
	pipes []*pipeline
	ops   []string // "&&" or "||" before pipes[i+1]
}

type pipeline struct {
	bang bool
	cmds []command
	pos  int
}

// command is one of the *...Cmd / *...Node types below.
type command interface{ start() int }

type cmdBase struct {
	pos    int
	redirs []*redir
}

func (c *cmdBase) start() int { return c.pos }

type simpleCmd struct {
	cmdBase
	assigns []*word // NAME=value words before the command name
	words   []*word
}

type ifNode struct {
	cmdBase
	conds, bodies []*listNode
	els           *listNode
}

type forNode struct {
	cmdBase
	name  string
	words []*word // nil with hasIn false: loop over "$@"
	hasIn bool
	body  *listNode
}

type arithForNode struct {
	cmdBase
	init, cond, step string
	body             *listNode
}

type whileNode struct {
	cmdBase
	until      bool
	cond, body *listNode
}

type caseArm struct {
	pats []*word
	body *listNode
	pos  int
}

type caseNode struct {
	cmdBase
	subject *word
	arms    []caseArm
}

type groupNode struct {
	cmdBase
	body     *listNode
	subshell bool
}

type funcDef struct {
	cmdBase
	name string
	body command
}

type arithCmd struct {
	cmdBase
	expr string
}

type condCmd struct {
	cmdBase
	words []*word
}

// redir is a redirection; only '<' and here-documents matter (to tell
// what an iptables-restore would read), the others are parsed and dropped.
type redir struct {
	op     string
	target *word
	here   *heredoc
	pos    int
}

type heredoc struct {
	delim  string
	strip  bool // <<-: leading tabs removed
	expand bool // delimiter unquoted: $ expansions in the body
	body   word // the body as a word (quoted parts: no field splitting)
	pos    int  // where the body starts
	done   bool
}

// Lexical tokens.

type tokKind uint8

const (
	tEOF tokKind = iota
	tNewline
	tOp
	tWord
	tIONum // digits right before a redirection: 2>/dev/null
)

type token struct {
	kind     tokKind
	op       string
	w        *word
	pos, end int
}

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

// skipBlank skips blanks, line continuations and comments.
func (p *parser) skipBlank() {
	for p.i < p.end {
		c := p.b[p.i]
		switch {
		case c == ' ' || c == '\t':
			p.i++
		case c == '\\' && p.i+1 < p.end && p.b[p.i+1] == '\n':
			p.i += 2
		case c == '\\' && p.i+2 < p.end && p.b[p.i+1] == '\r' && p.b[p.i+2] == '\n':
			p.i += 3
		case c == '\r' && p.i+1 < p.end && p.b[p.i+1] == '\n':
			// A Windows line end: read as a plain one (Read warns).
			p.i++
		case c == '#':
			for p.i < p.end && p.b[p.i] != '\n' {
				p.i++
			}
		default:
			return
		}
	}
}

func (p *parser) lex() *token {
	p.skipBlank()
	t := &token{pos: p.i}
	if p.i >= p.end {
		t.kind, t.end = tEOF, p.i
		return t
	}
	op := func(cands ...string) *token {
		for _, c := range cands {
			if p.i+len(c) <= p.end && string(p.b[p.i:p.i+len(c)]) == c {
				t.kind, t.op = tOp, c
				p.i += len(c)
				t.end = p.i
				return t
			}
		}
		panic("unreachable")
	}
	switch p.b[p.i] {
	case '\n':
		p.i++
		t.kind, t.end = tNewline, p.i
		return t
	case ';':
		return op(";;&", ";;", ";&", ";")
	case '&':
		return op("&&", "&>>", "&>", "&")
	case '|':
		return op("||", "|&", "|")
	case '(':
		return op("(")
	case ')':
		return op(")")
	case '<':
		return op("<<<", "<<-", "<<", "<&", "<>", "<")
	case '>':
		return op(">>", ">&", ">|", ">")
	}
	w := p.readWord()
	if w.end == w.pos {
		p.fail(p.i, "syntax error near unexpected character %q", p.b[p.i])
	}
	t.kind, t.w, t.end = tWord, w, p.i
	if s, ok := w.lit(); ok && allDigits(s) && p.i < p.end && (p.b[p.i] == '<' || p.b[p.i] == '>') {
		t.kind = tIONum
	}
	return t
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func isNameStart(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isNameChar(c byte) bool { return isNameStart(c) || c >= '0' && c <= '9' }

func isName(s string) bool {
	if s == "" || !isNameStart(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isNameChar(s[i]) {
			return false
		}
	}
	return true
}

// Words.

// readWord reads an unquoted-context word at p.i.
func (p *parser) readWord() *word {
	w := &word{pos: p.i}
	for p.i < p.end {
		c := p.b[p.i]
		switch c {
		case ' ', '\t', '\n', ';', '&', '|', '<', '>', ')':
			w.end = p.i
			return w
		case '(':
			if isArrayStart(w) {
				p.readArray(w)
				continue
			}
			w.end = p.i
			return w
		case '\r':
			if p.i+1 < p.end && p.b[p.i+1] == '\n' {
				w.end = p.i
				return w
			}
			w.addLit(p.b[p.i:p.i+1], p.i, false)
			p.i++
		case '\\':
			p.escape(w)
		case '\'':
			p.readSQ(w)
		case '"':
			p.readDQ(w, false)
		case '$':
			p.readDollar(w, false)
		case '`':
			p.readBQ(w, false)
		default:
			w.addLit(p.b[p.i:p.i+1], p.i, false)
			p.i++
		}
	}
	w.end = p.i
	return w
}

// escape handles a backslash outside quotes: a line continuation vanishes,
// any other character is taken literally.
func (p *parser) escape(w *word) {
	switch {
	case p.i+1 >= p.end:
		w.addLit([]byte{'\\'}, p.i, false)
		p.i++
	case p.b[p.i+1] == '\n':
		p.i += 2
	case p.b[p.i+1] == '\r' && p.i+2 < p.end && p.b[p.i+2] == '\n':
		p.i += 3
	default:
		_, n := utf8.DecodeRune(p.b[p.i+1 : p.end])
		w.addLit(p.b[p.i+1:p.i+1+n], p.i+1, true)
		p.i += 1 + n
	}
}

func (p *parser) readSQ(w *word) {
	start := p.i
	j := p.i + 1
	for j < p.end && p.b[j] != '\'' {
		j++
	}
	if j >= p.end {
		p.fail(start, "unterminated quote: the ' opened here is never closed")
	}
	w.addLit(p.b[start+1:j], start+1, true)
	if j == start+1 {
		// An empty '' still makes a (quoted, empty) word.
		w.parts = append(w.parts, part{kind: pLit, quoted: true, pos: start, end: j + 1})
	}
	p.i = j + 1
}

// readDQ reads "..." (or, with here true, a here-document body line, in
// which a double quote is an ordinary character).
func (p *parser) readDQ(w *word, here bool) {
	start := p.i
	if !here {
		p.i++
	}
	n := len(w.parts)
	for {
		if p.i >= p.end {
			if here {
				return
			}
			p.fail(start, "unterminated quote: the \" opened here is never closed")
		}
		c := p.b[p.i]
		switch {
		case c == '"' && !here:
			p.i++
			if len(w.parts) == n {
				w.parts = append(w.parts, part{kind: pLit, quoted: true, pos: start, end: p.i})
			}
			return
		case c == '\\' && p.i+1 < p.end:
			d := p.b[p.i+1]
			switch {
			case d == '$' || d == '`' || d == '\\' || d == '"' && !here:
				w.addLit(p.b[p.i+1:p.i+2], p.i+1, true)
				p.i += 2
			case d == '\n':
				p.i += 2
			case d == '\r' && p.i+2 < p.end && p.b[p.i+2] == '\n':
				p.i += 3
			default:
				w.addLit(p.b[p.i:p.i+1], p.i, true)
				p.i++
			}
		case c == '$':
			p.readDollar(w, true)
		case c == '`':
			p.readBQ(w, true)
		default:
			w.addLit(p.b[p.i:p.i+1], p.i, true)
			p.i++
		}
	}
}

func (p *parser) readBQ(w *word, quoted bool) {
	start := p.i
	j := p.i + 1
	for j < p.end && p.b[j] != '`' {
		if p.b[j] == '\\' {
			j++
		}
		j++
	}
	if j >= p.end {
		p.fail(start, "unterminated command substitution: the ` opened here is never closed")
	}
	w.parts = append(w.parts, part{kind: pCmd, quoted: quoted, pos: start, end: j + 1, raw: string(p.b[start+1 : j])})
	p.i = j + 1
}

// readDollar reads what follows a '$'.
func (p *parser) readDollar(w *word, quoted bool) {
	start := p.i
	if p.i+1 >= p.end {
		w.addLit([]byte{'$'}, p.i, quoted)
		p.i++
		return
	}
	c := p.b[p.i+1]
	switch {
	case c == '{':
		p.readBrace(w, quoted)
	case c == '(':
		if p.i+2 < p.end && p.b[p.i+2] == '(' {
			p.i += 3
			if raw, ok := p.scanArith(); ok {
				w.parts = append(w.parts, part{kind: pArith, quoted: quoted, pos: start, end: p.i, raw: raw})
				return
			}
			// Not arithmetic after all: $( (subshell) ).
			p.i = start
		}
		p.readCmdSubst(w, quoted)
	case isNameStart(c):
		j := p.i + 1
		for j < p.end && isNameChar(p.b[j]) {
			j++
		}
		w.parts = append(w.parts, part{kind: pParam, quoted: quoted, pos: start, end: j, name: string(p.b[p.i+1 : j])})
		p.i = j
	case c >= '0' && c <= '9' || strings.IndexByte("@*#?$!-", c) >= 0:
		w.parts = append(w.parts, part{kind: pParam, quoted: quoted, pos: start, end: p.i + 2, name: string(c)})
		p.i += 2
	case c == '\'' && !quoted:
		p.readANSI(w)
	case c == '"' && !quoted:
		// $"..." is a translatable string; no translation here.
		p.i++
		p.readDQ(w, false)
	default:
		w.addLit([]byte{'$'}, p.i, quoted)
		p.i++
	}
}

// readCmdSubst parses $(...) as a script, so that the closing parenthesis
// is found the way a shell finds it (quotes, case patterns, nesting). The
// commands inside are never run.
func (p *parser) readCmdSubst(w *word, quoted bool) {
	start := p.i
	p.enter()
	p.i += 2
	// Called while lexing, so no token is waiting; keep it that way
	// for the caller even so.
	saved := p.tok
	p.tok = nil
	p.list()
	t := p.next()
	if t.kind != tOp || t.op != ")" {
		if t.kind == tEOF {
			p.fail(start, "unterminated command substitution: the $( opened here is never closed")
		}
		p.unexpected(t)
	}
	p.tok = saved
	p.leave()
	w.parts = append(w.parts, part{kind: pCmd, quoted: quoted, pos: start, end: p.i, raw: string(p.b[start+2 : p.i-1])})
}

// scanArith finds the "))" closing $(( or ((, returning the text between.
func (p *parser) scanArith() (string, bool) {
	start := p.i
	depth := 0
	for j := p.i; j < p.end; j++ {
		switch p.b[j] {
		case '(':
			depth++
		case ')':
			if depth > 0 {
				depth--
				continue
			}
			if j+1 < p.end && p.b[j+1] == ')' {
				p.i = j + 2
				return string(p.b[start:j]), true
			}
			return "", false
		case '\'', '"', '`':
			return "", false
		}
	}
	return "", false
}

// readANSI reads bash's $'...' with its C-style escapes.
func (p *parser) readANSI(w *word) {
	start := p.i
	p.i += 2
	n := len(w.parts)
	for {
		if p.i >= p.end {
			p.fail(start, "unterminated quote: the $' opened here is never closed")
		}
		c := p.b[p.i]
		if c == '\'' {
			p.i++
			break
		}
		if c != '\\' || p.i+1 >= p.end {
			w.addLit(p.b[p.i:p.i+1], p.i, true)
			p.i++
			continue
		}
		at := p.i
		d := p.b[p.i+1]
		p.i += 2
		var out byte
		switch d {
		case 'n':
			out = '\n'
		case 't':
			out = '\t'
		case 'r':
			out = '\r'
		case 'a':
			out = 7
		case 'b':
			out = 8
		case 'e', 'E':
			out = 27
		case 'f':
			out = 12
		case 'v':
			out = 11
		case 'x':
			v, k := 0, 0
			for ; k < 2 && p.i < p.end && hexVal(p.b[p.i]) >= 0; k++ {
				v = v*16 + hexVal(p.b[p.i])
				p.i++
			}
			if k == 0 {
				w.addLit([]byte{'\\', 'x'}, at, true)
				continue
			}
			out = byte(v)
		case '0', '1', '2', '3', '4', '5', '6', '7':
			v := int(d - '0')
			for k := 0; k < 2 && p.i < p.end && p.b[p.i] >= '0' && p.b[p.i] <= '7'; k++ {
				v = v*8 + int(p.b[p.i]-'0')
				p.i++
			}
			out = byte(v)
		default:
			out = d
		}
		w.addLitOffs([]byte{out}, []int32{int32(at)}, true)
	}
	if len(w.parts) == n {
		w.parts = append(w.parts, part{kind: pLit, quoted: true, pos: start, end: p.i})
	}
}

func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// braceOps are the ${X<op>word} operators, longest first so that ":-"
// is not read as ":".
var braceOps = []string{":-", ":=", ":+", ":?", "##", "%%", "//", "/#", "/%", "^^", ",,", "-", "=", "+", "?", "#", "%", "/", "^", ",", ":"}

// readBrace reads ${...}.
func (p *parser) readBrace(w *word, quoted bool) {
	start := p.i
	p.enter()
	defer p.leave()
	p.i += 2
	pt := part{kind: pParam, quoted: quoted, pos: start, brace: true}
	at := func(c byte) bool { return p.i < p.end && p.b[p.i] == c }
	if at('#') && p.i+1 < p.end && p.b[p.i+1] != '}' {
		pt.op = "len"
		p.i++
	}
	j := p.i
	switch {
	case j < p.end && isNameStart(p.b[j]):
		for j < p.end && isNameChar(p.b[j]) {
			j++
		}
	case j < p.end && p.b[j] >= '0' && p.b[j] <= '9':
		for j < p.end && p.b[j] >= '0' && p.b[j] <= '9' {
			j++
		}
	case j < p.end && strings.IndexByte("@*#?$!-", p.b[j]) >= 0:
		j++
	}
	pt.name = string(p.b[p.i:j])
	p.i = j
	if pt.name == "" {
		p.badBrace(w, &pt)
		return
	}
	if at('[') {
		k := p.i + 1
		for k < p.end && p.b[k] != ']' && p.b[k] != '}' {
			k++
		}
		if k >= p.end || p.b[k] != ']' {
			p.badBrace(w, &pt)
			return
		}
		pt.index, pt.hasIdx = string(p.b[p.i+1:k]), true
		p.i = k + 1
	}
	if !at('}') {
		if pt.op == "len" {
			p.badBrace(w, &pt)
			return
		}
		for _, op := range braceOps {
			if p.i+len(op) <= p.end && string(p.b[p.i:p.i+len(op)]) == op {
				pt.op = op
				p.i += len(op)
				break
			}
		}
		if pt.op == "" {
			p.badBrace(w, &pt)
			return
		}
		slash := pt.op == "/" || pt.op == "//" || pt.op == "/#" || pt.op == "/%"
		pt.arg = p.readBraceArg(quoted, slash)
		if slash && at('/') {
			p.i++
			pt.arg2 = p.readBraceArg(quoted, false)
		}
	}
	if !at('}') {
		p.fail(start, "unterminated ${: the ${ opened here is never closed")
	}
	p.i++
	pt.end = p.i
	w.parts = append(w.parts, pt)
}

// badBrace skips to the closing brace of a ${...} this reader does not
// understand; expanding it will say so.
func (p *parser) badBrace(w *word, pt *part) {
	depth := 0
	for ; p.i < p.end; p.i++ {
		switch p.b[p.i] {
		case '{':
			depth++
		case '}':
			if depth == 0 {
				p.i++
				pt.op, pt.end = "bad", p.i
				w.parts = append(w.parts, *pt)
				return
			}
			depth--
		}
	}
	p.fail(pt.pos, "unterminated ${: the ${ opened here is never closed")
}

// readBraceArg reads the word after a ${X<op>: blanks are part of it, it
// ends at the closing brace (or a '/' for the pattern of ${X/pat/rep}).
func (p *parser) readBraceArg(quoted, slash bool) *word {
	w := &word{pos: p.i}
	for p.i < p.end {
		c := p.b[p.i]
		switch {
		case c == '}' || slash && c == '/':
			w.end = p.i
			return w
		case c == '\\':
			if quoted {
				if p.i+1 < p.end && strings.IndexByte("$`\\\"}", p.b[p.i+1]) >= 0 {
					w.addLit(p.b[p.i+1:p.i+2], p.i+1, true)
					p.i += 2
				} else {
					w.addLit(p.b[p.i:p.i+1], p.i, true)
					p.i++
				}
			} else {
				p.escape(w)
			}
		case c == '\'' && !quoted:
			p.readSQ(w)
		case c == '"':
			p.readDQ(w, false)
		case c == '$':
			p.readDollar(w, quoted)
		case c == '`':
			p.readBQ(w, quoted)
		default:
			w.addLit(p.b[p.i:p.i+1], p.i, quoted)
			p.i++
		}
	}
	w.end = p.i
	return w
}

// isArrayStart reports whether w so far is NAME= or NAME+=, so that a '('
// opens an array value rather than ending the word.
func isArrayStart(w *word) bool {
	s, ok := w.lit()
	if !ok || !strings.HasSuffix(s, "=") {
		return false
	}
	s = strings.TrimSuffix(strings.TrimSuffix(s, "="), "+")
	return isName(s)
}

func (p *parser) readArray(w *word) {
	start := p.i
	p.enter()
	defer p.leave()
	p.i++
	pt := part{kind: pArray, pos: start}
	for {
		for p.i < p.end && (p.b[p.i] == '\n' || p.b[p.i] == '\r') {
			p.i++
		}
		p.skipBlank()
		if p.i >= p.end {
			p.fail(start, "unterminated array: the ( opened here is never closed")
		}
		if p.b[p.i] == '\n' || p.b[p.i] == '\r' {
			continue
		}
		if p.b[p.i] == ')' {
			p.i++
			break
		}
		e := p.readWord()
		if e.end == e.pos {
			p.fail(p.i, "syntax error in array near %q", p.b[p.i])
		}
		pt.elems = append(pt.elems, e)
	}
	pt.end = p.i
	w.parts = append(w.parts, pt)
}

// Here-documents.

// readHeredocs reads the bodies of the here-documents whose operators
// came on the line just ended.
func (p *parser) readHeredocs() {
	hs := p.pending
	p.pending = nil
	for _, h := range hs {
		h.pos = p.i
		h.body.pos = p.i
		for {
			if p.i >= p.end {
				p.diags.add(h.pos, fmt.Sprintf("here-document ends at the end of the file; wanted a line %q", h.delim), true)
				break
			}
			e := p.i
			for e < p.end && p.b[e] != '\n' {
				e++
			}
			ls := p.i
			if h.strip {
				for ls < e && p.b[ls] == '\t' {
					ls++
				}
			}
			le := e
			if le > ls && p.b[le-1] == '\r' {
				le--
			}
			next := e
			if next < p.end {
				next++
			}
			if string(p.b[ls:le]) == h.delim {
				p.i = next
				break
			}
			p.heredocLine(h, ls, next)
			p.i = next
		}
		h.body.end = p.i
		h.done = true
	}
}

// heredocLine adds one body line [ls,le) to h. An expanding body is read
// like the inside of double quotes; if that fails (say a $( spanning
// lines), the line is kept literally rather than failing the script.
func (p *parser) heredocLine(h *heredoc, ls, le int) {
	if !h.expand {
		h.body.addLit(p.b[ls:le], ls, true)
		return
	}
	sub := &parser{src: p.src, b: p.b, i: ls, end: le, depth: p.depth, diags: p.diags}
	var w word
	if sub.try(func() { sub.readDQ(&w, true) }) != nil {
		h.body.addLit(p.b[ls:le], ls, true)
		return
	}
	h.body.parts = append(h.body.parts, w.parts...)
}

// endHeredocs warns about here-documents still waiting for their line
// when the script ends.
func (p *parser) endHeredocs() {
	for _, h := range p.pending {
		h.pos, h.body.pos, h.body.end = p.end, p.end, p.end
		p.diags.add(p.end, fmt.Sprintf("here-document ends at the end of the file; wanted a line %q", h.delim), true)
	}
	p.pending = nil
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
