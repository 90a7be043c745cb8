package script

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// This file expands words: parameters, arithmetic, quote removal and
// field splitting. Every byte of an expanded word carries where it came
// from, so that each resulting argument can be given a position, and
// where a byte cannot be known the text as written is kept in its place.

// xc is what is known about one byte of an expanded word.
type xc struct {
	at   int32 // the source offset to report: the byte itself if written here, else the '$' of its expansion
	orig int32 // where the byte was written, if elsewhere (an assignment, a caller's argument); -1 if not
	v    int32 // 1 + index in expander.names of the variable it came from; 0 if none
	u    int32 // 1 + index in expander.unks if the byte is unknown text kept as written
	fl   uint8
}

const (
	fQuoted  uint8 = 1 << iota // quoted: not split, literal in a pattern
	fExp                       // from quotes, an escape or an expansion (Word.Quoted)
	fUnknown                   // cannot be known: text as written
	fSep                       // separates the elements of an unquoted $@: always splits
	fBare                      // unknown text outside quotes: once known, it could split into several words
)

func (c xc) off() int { return int(c.at) }

// xbuf is one word being expanded. A quoted "$@" breaks a word into
// several bufs.
type xbuf struct {
	b      []byte
	c      []xc
	quoted bool // a quoted part was seen: the word stays even if empty
	start  int  // where the word starts, for an empty word's position
}

// xfield is one expanded word after field splitting.
type xfield struct {
	b     []byte
	c     []xc
	start int
}

// unk records a part of a word that cannot be known.
type unk struct {
	off  int
	msg  string // the diagnostic, a full sentence
	subj string // how to name the part in a later message: "`$(cat list)`", "$WAN, which ..."
	// key is the same for every use of one unknown variable, which is
	// reported once, at its first use: "" for a part reported at its
	// place (a command substitution).
	key  string
	env  bool   // a variable the script never sets: from the environment
	why  string // for a variable: why it is unknown ("it is set at line 3 from ...")
	name string // for a variable: $NAME; msg and subj are then made from name and why
}

type expander struct {
	s     *state
	bufs  []*xbuf
	names []string
	unks  []unk
	// cond: the words are a condition's ([ ], test, [[ ]], case, an
	// arithmetic expression), where a variable the script never sets is
	// taken as bash has it when the environment does not set it: empty.
	cond bool
}

func (s *state) newExpander() *expander { return &expander{s: s} }

// condWord expands w as one word of a condition ([[ ]], a case subject
// or pattern): joined, never split, and a variable the script never sets
// taken as empty (see expander.cond).
func (s *state) condWord(w *word) xfield {
	ex := s.newExpander()
	ex.cond = true
	ex.word(w)
	return ex.joined()
}

func (e *expander) cur() *xbuf {
	if len(e.bufs) == 0 {
		e.bufs = append(e.bufs, &xbuf{})
	}
	return e.bufs[len(e.bufs)-1]
}

func (e *expander) nameIdx(n string) int32 {
	for i, m := range e.names {
		if m == n {
			return int32(i + 1)
		}
	}
	e.names = append(e.names, n)
	return int32(len(e.names))
}

func (e *expander) put(b byte, c xc) {
	if e.s.xbytes++; e.s.xbytes > maxExpand {
		if !e.s.stopped {
			e.s.stop(int(c.at), fmt.Sprintf("expansions produce more than %d bytes in all", maxExpand))
		}
		return
	}
	x := e.cur()
	x.b = append(x.b, b)
	x.c = append(x.c, c)
}

// word expands w as a new word.
func (e *expander) word(w *word) {
	e.bufs = append(e.bufs, &xbuf{start: w.pos})
	for i := range w.parts {
		e.part(&w.parts[i], false, false)
	}
}

// part expands one part into the current word. q: inside double quotes;
// arg: inside the word of ${X:-word}, where unquoted text is split like
// an expansion's result.
func (e *expander) part(p *part, q, arg bool) {
	quoted := q || p.quoted
	switch p.kind {
	case pLit:
		var fl uint8
		switch {
		case quoted:
			fl = fQuoted | fExp
			e.cur().quoted = true
		case arg:
			fl = fExp
		}
		for i, b := range p.lit {
			e.put(b, xc{at: p.offs[i], orig: -1, fl: fl})
		}
	case pParam:
		e.param(p, quoted)
	case pCmd:
		if t, ok := e.s.pureSubst(p); ok {
			e.putText(p, t, quoted)
			return
		}
		d := e.display(p)
		e.unknownPart(p, fmt.Sprintf("cannot follow %s without running the script", d), d)
	case pArith:
		v, ok := e.s.arith(p.raw, p.pos)
		if !ok {
			d := e.display(p)
			e.unknownPart(p, fmt.Sprintf("cannot work out %s without running the script", d), d)
			return
		}
		e.putText(p, strconv.FormatInt(v, 10), quoted)
	case pArray:
		// NAME=(...) outside an assignment: keep it as written.
		e.putRaw(p, 0, 0)
	}
}

// display names a part for a message: its text as written, shortened.
func (e *expander) display(p *part) string {
	return "`" + shorten(e.rawText(p), 40) + "`"
}

func (e *expander) rawText(p *part) string {
	if p.end > p.pos && p.end <= len(e.s.src.b) {
		return string(e.s.src.b[p.pos:p.end])
	}
	if p.kind == pParam {
		return "\"$" + p.name + "\""
	}
	return ""
}

// putRaw keeps the part's text as written, each byte at its own place.
func (e *expander) putRaw(p *part, fl uint8, u int32) {
	raw := e.rawText(p)
	synthetic := !(p.end > p.pos)
	var v int32
	if p.kind == pParam {
		v = e.nameIdx(p.name)
	}
	for i := 0; i < len(raw); i++ {
		at := int32(p.pos + i)
		if synthetic {
			at = int32(p.pos)
		}
		e.put(raw[i], xc{at: at, orig: -1, v: v, u: u, fl: fl | fQuoted | fExp})
	}
	e.cur().quoted = true
}

// unknownPart keeps a part that cannot be known as written, and records
// why.
func (e *expander) unknownPart(p *part, msg, subj string) {
	e.unknownKeyed(p, unk{off: p.pos, msg: msg, subj: subj})
}

// unknownVar keeps the parameter p, whose value cannot be known for the
// reason why, as written; every use of it with the same reason is one
// unknown, reported once.
func (e *expander) unknownVar(p *part, why string) {
	// The messages are made only when asked for: a loop may meet the
	// same unknown thousands of times, and it is said once.
	u := unk{off: p.pos, name: dollar(p), key: p.name + "\x00" + why, why: why}
	if why == neverWhy && isName(p.name) {
		u.env, u.key = true, envKey(p.name)
	}
	e.unknownKeyed(p, u)
}

// envKey is the key of the one note about a variable the script never
// sets, wherever it is used.
func envKey(name string) string { return "env\x00" + name }

// envNote is that note.
func envNote(name string) string {
	return fmt.Sprintf("$%s is never set in the script, so its value would come from the environment: in a condition it is taken as empty (as bash has it when the environment does not set %s), elsewhere as unknown, kept as written; said once, here", name, name)
}

// text is the diagnostic for u.
func (u *unk) text() string {
	switch {
	case u.name == "":
		return u.msg
	case u.env:
		return envNote(strings.TrimPrefix(u.key, envKey("")))
	}
	return fmt.Sprintf("cannot know %s without running the script: %s", u.name, u.why)
}

// subject names u in a later message: "`$(cat list)`", "$WAN, which ...".
func (u *unk) subject() string {
	if u.name == "" {
		return u.subj
	}
	return subjOf(u.name, u.why)
}

func (e *expander) unknownKeyed(p *part, u unk) {
	e.unks = append(e.unks, u)
	fl := fUnknown
	if !p.quoted || p.name == "@" || p.hasIdx && p.index == "@" {
		// Unquoted, or "$@": once known, any number of words.
		fl |= fBare
	}
	e.putRaw(p, fl, int32(len(e.unks)))
}

// putText adds text produced by the expansion p (say a length).
func (e *expander) putText(p *part, t string, quoted bool) {
	fl := fExp
	if quoted {
		fl |= fQuoted
		e.cur().quoted = true
	}
	for i := 0; i < len(t); i++ {
		e.put(t[i], xc{at: int32(p.pos), orig: -1, fl: fl})
	}
}

// putValue adds a variable's value, each byte remembering where it was
// written.
func (e *expander) putValue(p *part, v value, quoted bool) {
	if quoted {
		e.cur().quoted = true
	}
	if v.unknown {
		e.unknownVar(p, v.why)
		return
	}
	fl := fExp
	if quoted {
		fl |= fQuoted
	}
	ni := e.nameIdx(p.name)
	for i, b := range v.b {
		o := int32(-1)
		if i < len(v.orig) {
			o = v.orig[i]
		}
		e.put(b, xc{at: int32(p.pos), orig: o, v: ni, fl: fl})
	}
}

// subjOf names $X in a later message, carrying why it is unknown.
func subjOf(name, why string) string {
	return shorten(name+", which "+strings.TrimPrefix(why, "it "), 200)
}

func dollar(p *part) string {
	if p.brace || len(p.name) > 1 && allDigits(p.name) {
		return "${" + p.name + "}"
	}
	return "$" + p.name
}

// neverWhy is why a variable the script never sets is unknown.
const neverWhy = "the script never sets it"

// pval is a parameter looked up.
type pval struct {
	vals    []value
	list    bool // several values: $@, $*, ${A[@]}
	star    bool // joined as "$*" does
	set     bool // set, possibly to ""
	never   bool // a variable the script never sets
	unknown bool // cannot be known at all (the script's own $1, $$)
	why     string
}

func (e *expander) resolve(p *part) pval {
	s := e.s
	pf := s.params[len(s.params)-1]
	name := p.name
	switch {
	case name == "@" || name == "*":
		if pf.unknown {
			return pval{unknown: true, why: pf.whyOr("it holds the script's arguments")}
		}
		return pval{vals: pf.vals, list: true, star: name == "*", set: len(pf.vals) > 0}
	case name == "#":
		if pf.unknown {
			return pval{unknown: true, why: pf.whyOr("it counts the script's arguments")}
		}
		return pval{vals: []value{textValue(strconv.Itoa(len(pf.vals)), p.pos)}, set: true}
	case name == "?":
		if s.last == stOK {
			return pval{vals: []value{textValue("0", p.pos)}, set: true}
		}
		return pval{unknown: true, why: "it is the exit status of a command that is not run here"}
	case name == "0":
		return pval{vals: []value{textValue(s.name, p.pos)}, set: true}
	case allDigits(name):
		if pf.unknown {
			return pval{unknown: true, why: pf.whyOr("it is an argument to the script")}
		}
		n, err := strconv.Atoi(name)
		if err == nil && n >= 1 && n <= len(pf.vals) {
			return pval{vals: []value{pf.vals[n-1]}, set: true}
		}
		return pval{}
	case name == "$" || name == "!" || name == "-":
		return pval{unknown: true, why: "it is known only when the script runs"}
	}
	v := s.lookup(name)
	switch {
	case v == nil && e.cond && isName(name):
		s.envN++
		s.envLast = name
		s.noteOnce(envKey(name), p.pos, envNote(name))
		return pval{}
	case v == nil:
		return pval{never: true}
	case v.unset:
		return pval{}
	}
	if p.hasIdx {
		if p.index == "@" || p.index == "*" {
			return pval{vals: v.vals, list: true, star: p.index == "*", set: len(v.vals) > 0}
		}
		n, ok := s.arith(p.index, p.pos)
		if !ok {
			return pval{unknown: true, why: "its index " + p.index + " cannot be known"}
		}
		if n < 0 {
			n += int64(len(v.vals))
		}
		if n >= 0 && n < int64(len(v.vals)) {
			return pval{vals: []value{v.vals[n]}, set: true}
		}
		return pval{}
	}
	if len(v.vals) == 0 {
		return pval{}
	}
	return pval{vals: v.vals[:1], set: true}
}

func textValue(t string, at int) value {
	o := make([]int32, len(t))
	for i := range o {
		o[i] = int32(at)
	}
	return value{b: []byte(t), orig: o}
}

func (r pval) anyUnknown() bool {
	for _, v := range r.vals {
		if v.unknown {
			return true
		}
	}
	return false
}

func (r pval) empty() bool {
	if r.list {
		return len(r.vals) == 0
	}
	return len(r.vals) == 0 || len(r.vals[0].b) == 0
}

func (e *expander) param(p *part, q bool) {
	s := e.s
	unknownWhy := func(why string) { e.unknownVar(p, why) }
	if p.op == "bad" {
		d := e.display(p)
		e.unknownPart(p, fmt.Sprintf("cannot follow %s: this form of ${...} is not understood here", d), d)
		return
	}
	r := e.resolve(p)
	if r.unknown {
		unknownWhy(r.why)
		return
	}
	// null: what the ':' operators test; unset: what the others test.
	unset := !r.set
	null := unset
	decided := true
	if !unset {
		if r.anyUnknown() {
			decided = false
		} else {
			null = r.empty()
		}
	}
	switch p.op {
	case "":
		if r.never {
			unknownWhy(neverWhy)
			return
		}
		e.emit(p, r, q)
	case "len":
		switch {
		case r.never:
			unknownWhy(neverWhy)
		case r.anyUnknown():
			unknownWhy(firstWhy(r))
		case r.list:
			e.putText(p, strconv.Itoa(len(r.vals)), q)
		case len(r.vals) == 0:
			e.putText(p, "0", q)
		default:
			e.putText(p, strconv.Itoa(utf8.RuneCount(r.vals[0].b)), q)
		}
	case ":-", "-", ":=", "=":
		use := unset
		if p.op[0] == ':' {
			if !decided {
				unknownWhy(firstWhy(r))
				return
			}
			use = null
		}
		if !use {
			e.emit(p, r, q)
			return
		}
		if (p.op == ":=" || p.op == "=") && isName(p.name) {
			sub := s.newExpander()
			sub.bufs = []*xbuf{{start: p.arg.pos}}
			for i := range p.arg.parts {
				sub.part(&p.arg.parts[i], true, false)
			}
			f := sub.joined()
			v := f.value()
			if f.unknown() {
				v.why = fmt.Sprintf("it is set at %s from %s", s.src.lineRef(p.pos), f.subject(sub))
			}
			s.setScalar(p.name, v)
		}
		e.argWord(p.arg, q)
	case ":+", "+":
		use := !unset
		if p.op[0] == ':' {
			if !decided {
				unknownWhy(firstWhy(r))
				return
			}
			use = !null
		}
		if use {
			e.argWord(p.arg, q)
		} else if q {
			e.cur().quoted = true
		}
	case ":?", "?":
		use := unset
		if p.op[0] == ':' {
			use = null && decided
		}
		if use {
			unknownWhy("it is not set, and the script would stop here with an error")
			return
		}
		if r.never {
			unknownWhy(neverWhy)
			return
		}
		e.emit(p, r, q)
	default:
		// Operators that transform the value need it.
		switch {
		case r.never:
			unknownWhy(neverWhy)
			return
		case r.anyUnknown():
			unknownWhy(firstWhy(r))
			return
		}
		out, ok := e.transform(p, r)
		if !ok {
			d := e.display(p)
			e.unknownPart(p, fmt.Sprintf("cannot work out %s without running the script", d), d)
			return
		}
		r.vals = out
		e.emit(p, r, q)
	}
}

func firstWhy(r pval) string {
	for _, v := range r.vals {
		if v.unknown {
			return v.why
		}
	}
	return "its value cannot be known"
}

// argWord expands the word of ${X:-word} into the current word.
func (e *expander) argWord(w *word, q bool) {
	if w == nil {
		return
	}
	if q {
		e.cur().quoted = true
	}
	for i := range w.parts {
		e.part(&w.parts[i], q, true)
	}
}

// emit adds a parameter's value(s).
func (e *expander) emit(p *part, r pval, q bool) {
	if !r.list {
		if len(r.vals) == 0 {
			if q {
				e.cur().quoted = true
			}
			return
		}
		e.putValue(p, r.vals[0], q)
		return
	}
	if q && !r.star {
		// "$@": one word per value, even an empty one.
		for i, v := range r.vals {
			if i > 0 {
				e.bufs = append(e.bufs, &xbuf{start: p.pos})
			}
			e.putValue(p, v, true)
		}
		return
	}
	var sep []byte
	fl := fExp | fSep
	if q {
		sep = []byte{' '}
		if ifs, set := e.s.ifs(); set {
			sep = ifs[:min(1, len(ifs))]
		}
		fl = fExp | fQuoted
		e.cur().quoted = true
	} else {
		sep = []byte{' '}
	}
	for i, v := range r.vals {
		if i > 0 {
			for _, b := range sep {
				e.put(b, xc{at: int32(p.pos), orig: -1, fl: fl})
			}
		}
		e.putValue(p, v, q)
	}
}
