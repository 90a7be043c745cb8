package script

import (
	"bytes"
	"fmt"
)

// This file turns expanded words into the fields a command receives:
// field splitting on IFS, joining for contexts that do not split, and
// what each field knows of itself (unknown parts, the variable it came
// from, its position as a reported Word).

// ifs returns the field separators, and whether the script set IFS.
func (s *state) ifs() ([]byte, bool) {
	v := s.lookup("IFS")
	if v == nil || v.unset || len(v.vals) == 0 || v.vals[0].unknown {
		return []byte(" \t\n"), false
	}
	return v.vals[0].b, true
}

// fields splits the expanded words into fields, as the shell does before
// running a command.
func (e *expander) fields() []xfield {
	var out []xfield
	ifs, _ := e.s.ifs()
	for _, x := range e.bufs {
		fs := splitFields(x, ifs)
		if e.s.opts.Glob != nil {
			fs = e.s.globFields(fs)
		}
		e.s.nfields += len(fs)
		if e.s.nfields > maxFields {
			e.s.stop(x.start, fmt.Sprintf("expansions make more than %d words in all", maxFields))
			return out
		}
		out = append(out, fs...)
	}
	return out
}

func isIFSWhite(b byte) bool { return b == ' ' || b == '\t' || b == '\n' }

func splitFields(x *xbuf, ifs []byte) []xfield {
	var out []xfield
	delim := func(i int) bool {
		c := x.c[i]
		if c.fl&fSep != 0 {
			return true
		}
		return c.fl&fQuoted == 0 && c.fl&fExp != 0 && bytes.IndexByte(ifs, x.b[i]) >= 0
	}
	open, start, afterWhite := false, 0, false
	emit := func(i, j int) {
		f := xfield{b: x.b[i:j], c: x.c[i:j], start: x.start}
		if i < len(x.c) {
			f.start = int(x.c[i].at)
		}
		out = append(out, f)
	}
	for i := range x.b {
		switch {
		case delim(i) && (isIFSWhite(x.b[i]) || x.c[i].fl&fSep != 0):
			if open {
				emit(start, i)
				open, afterWhite = false, true
			}
		case delim(i):
			if open {
				emit(start, i)
				open = false
			} else if !afterWhite {
				emit(i, i)
			}
			afterWhite = false
		default:
			if !open {
				open, start = true, i
			}
			afterWhite = false
		}
	}
	if open {
		emit(start, len(x.b))
	}
	if len(out) == 0 && x.quoted {
		out = append(out, xfield{start: x.start})
	}
	return out
}

// joined returns all words expanded as one, without splitting: the value
// of an assignment, a case subject, a redirection target.
func (e *expander) joined() xfield {
	var f xfield
	for i, x := range e.bufs {
		if i > 0 {
			f.b = append(f.b, ' ')
			f.c = append(f.c, xc{at: int32(x.start), orig: -1, fl: fExp | fQuoted})
		} else {
			f.start = x.start
		}
		f.b = append(f.b, x.b...)
		f.c = append(f.c, x.c...)
	}
	return f
}

// quotedUnknown reports whether every unknown byte of f was quoted, so
// that whatever it turns out to be, f stays one word.
func (f xfield) quotedUnknown() bool {
	for _, c := range f.c {
		if c.fl&fBare != 0 {
			return false
		}
	}
	return true
}

func (f xfield) unknown() bool {
	for _, c := range f.c {
		if c.fl&fUnknown != 0 {
			return true
		}
	}
	return false
}

// value turns an expanded word into a value to assign. An unknown word
// gives an unknown value; callers fill in why.
func (f xfield) value() value {
	if f.unknown() {
		return value{unknown: true, raw: string(f.b), why: "its value cannot be known"}
	}
	v := value{b: append([]byte(nil), f.b...), orig: make([]int32, len(f.b))}
	for i, c := range f.c {
		v.orig[i] = c.orig
		if c.orig < 0 {
			v.orig[i] = c.at
		}
	}
	return v
}

// unks lists the unknown parts of f, once each.
func (f xfield) unks(e *expander) []unk {
	var out []unk
	last := int32(0)
	for _, c := range f.c {
		if c.u != 0 && c.u != last {
			out = append(out, e.unks[c.u-1])
			last = c.u
		}
	}
	return out
}

// subject names the (first) unknown part of f for a later message.
func (f xfield) subject(e *expander) string {
	if us := f.unks(e); len(us) > 0 {
		return us[0].subject()
	}
	return "`" + shorten(string(f.b), 40) + "`"
}

func (f xfield) fromVar(e *expander) string {
	for _, c := range f.c {
		if c.v != 0 {
			return e.names[c.v-1]
		}
	}
	return ""
}

// toWord makes the Word reported for a field.
func (s *state) toWord(f xfield, e *expander) Word {
	w := Word{Text: string(f.b)}
	if len(f.c) == 0 {
		w.Pos = s.src.pos(f.start)
		w.Quoted = true // only quotes make an empty word
		return w
	}
	w.Pos = s.src.pos(int(f.c[0].at))
	if o := f.c[0].orig; o >= 0 && o != f.c[0].at {
		w.Origin = s.src.pos(int(o))
	}
	w.FromVar = f.fromVar(e)
	for i, c := range f.c {
		if c.fl&fExp != 0 {
			w.Quoted = true
		}
		if c.fl&fUnknown != 0 {
			w.Unknown = true
		}
		if i > 0 && !s.adjacent(int(f.c[i-1].at), int(c.at)) {
			// Something that left no characters came between two
			// written ones: empty quotes (ip''tables), an empty
			// expansion (ip${E}tables). The text at Pos is then not
			// the word, so it must not be taken for it.
			w.Quoted = true
		}
	}
	return w
}

// adjacent reports whether source offset b follows a directly, or after
// line continuations only (which the shell removes before anything else).
func (s *state) adjacent(a, b int) bool {
	for a++; a < b; {
		switch {
		case bytes.HasPrefix(s.src.b[a:], []byte("\\\n")):
			a += 2
		case bytes.HasPrefix(s.src.b[a:], []byte("\\\r\n")):
			a += 3
		default:
			return false
		}
	}
	return a == b
}
