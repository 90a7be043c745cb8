package script

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// The lexer: tokens, and words with their quoting, expansions, brace and
// array forms and here-documents, each byte keeping the place it was
// written (see syntax.go).

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
