package rules

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Pos is a place in an input: a file, a 1-based line and a 1-based column
// counted in characters (runes), as editors count them.
type Pos struct {
	File string
	Line int
	Col  int
}

// String prints FILE:LINE:COL, leaving out what is unknown.
func (p Pos) String() string {
	s := p.File
	if p.Line > 0 {
		if s != "" {
			s += ":"
		}
		s += fmt.Sprint(p.Line)
		if p.Col > 0 {
			s += fmt.Sprint(":", p.Col)
		}
	}
	return s
}

// Severity tells an error from a warning or a note.
type Severity uint8

// Severities.
const (
	SevError Severity = iota
	SevWarning
	SevNote
)

func (s Severity) String() string {
	switch s {
	case SevWarning:
		return "warning"
	case SevNote:
		return "note"
	}
	return "error"
}

// Diag is one problem found in an input: where, the word it is about,
// what is wrong and, where known, what to write instead.
type Diag struct {
	Pos      Pos
	Severity Severity
	Word     string // the word at Pos, as written
	Msg      string
	// Fix is the corrected word or text, when the intent is certain
	// enough to offer one; FixLine the whole corrected line.
	Fix     string
	FixLine string
	// Guess marks a Fix that is a likely intent ("did you mean"), not a
	// certain one: it is offered in the message, and a checker may try
	// it to read on through the rest of the line, but it never changes
	// the model, since the script as written does something else.
	Guess bool
	// Assume is a stand-in value that lets a checker read on past a
	// placeholder (never offered to the user as a fix).
	Assume string
	// Fails marks a warning that fails ipsift check like an error: a
	// rule that can never matter (shadowed, a limit that never bites),
	// or a form ipsift reads on past but iptables itself refuses. Other
	// warnings and notes inform; they fail check only with --strict.
	Fails bool
}

// FailsCheck reports whether the finding makes ipsift check exit 1:
// every error, a warning marked Fails, and with strict every warning.
func (d *Diag) FailsCheck(strict bool) bool {
	switch d.Severity {
	case SevError:
		return true
	case SevWarning:
		return d.Fails || strict
	}
	return false
}

// Error makes Diag an error value.
func (d *Diag) Error() string {
	var b strings.Builder
	if s := d.Pos.String(); s != "" {
		b.WriteString(s)
		b.WriteString(": ")
	}
	if d.Severity != SevError {
		b.WriteString(d.Severity.String())
		b.WriteString(": ")
	}
	b.WriteString(d.Msg)
	return b.String()
}

// Diags is a list of problems; as an error it reports the first and how
// many more follow.
type Diags []*Diag

func (ds Diags) Error() string {
	switch len(ds) {
	case 0:
		return "no problems"
	case 1:
		return ds[0].Error()
	}
	return fmt.Sprintf("%s (and %d more)", ds[0].Error(), len(ds)-1)
}

// HasErrors reports whether any of the problems is an error.
func (ds Diags) HasErrors() bool {
	for _, d := range ds {
		if d.Severity == SevError {
			return true
		}
	}
	return false
}

// Err returns ds as an error when it holds an error, else nil.
func (ds Diags) Err() error {
	if ds.HasErrors() {
		return ds
	}
	return nil
}

// Word is one argument with the place it was written.
type Word struct {
	Text string
	Pos  Pos
}

func errAt(w Word, format string, args ...any) *Diag {
	return &Diag{Pos: w.Pos, Word: w.Text, Msg: fmt.Sprintf(format, args...)}
}

// Words turns plain strings into Words without positions, for callers
// that have an argv (the iptables front end) rather than a file.
func Words(args []string) []Word {
	ws := make([]Word, len(args))
	for i, a := range args {
		ws[i] = Word{Text: a, Pos: Pos{Col: 0}}
	}
	return ws
}

// SplitLine splits one line of an iptables-restore file into words the
// way iptables-restore does (add_param_to_argv): blanks separate words,
// double quotes group and are removed, a backslash inside quotes escapes
// the next character. Columns are counted in runes from 1.
func SplitLine(file string, line int, s string) []Word {
	return splitLineInto(nil, file, line, s)
}

// splitLineInto is SplitLine appending to buf[:0], for a reader that
// splits line after line and keeps no line's words.
func splitLineInto(buf []Word, file string, line int, s string) []Word {
	if strings.IndexByte(s, '"') < 0 {
		return splitPlain(buf[:0], file, line, s)
	}
	return splitQuoted(file, line, s)
}

// splitQuoted is SplitLine for any line.
func splitQuoted(file string, line int, s string) []Word {
	var words []Word
	var cur strings.Builder
	inWord, quoted, inQuote, escaped := false, false, false, false
	startCol := 0
	col := 0
	flush := func() {
		if inWord || quoted {
			words = append(words, Word{Text: cur.String(), Pos: Pos{File: file, Line: line, Col: startCol}})
		}
		cur.Reset()
		inWord, quoted = false, false
	}
	// Bytes are copied as they are, not as runes: a byte that is not
	// UTF-8 (a Latin-1 comment) stays itself, as iptables-restore
	// passes it to the kernel, instead of becoming U+FFFD.
	for i, r := range s {
		col++
		_, n := utf8.DecodeRuneInString(s[i:])
		raw := s[i : i+n]
		if inQuote {
			switch {
			case escaped:
				cur.WriteString(raw)
				escaped = false
			case r == '\\':
				escaped = true
			case r == '"':
				inQuote = false
				flush()
			default:
				cur.WriteString(raw)
			}
			continue
		}
		switch r {
		case '"':
			if !inWord {
				startCol = col
			}
			inQuote, quoted = true, true
		case ' ', '\t', '\n', '\r':
			flush()
		default:
			if !inWord && !quoted {
				startCol = col
			}
			inWord = true
			cur.WriteString(raw)
		}
	}
	flush()
	return words
}

// splitPlain is SplitLine for a line without quotes: its words are
// substrings of s, not copies (a restore file of 100,000 rules spent a
// sixth of its allocations copying words rune by rune).
func splitPlain(words []Word, file string, line int, s string) []Word {
	if words == nil {
		words = make([]Word, 0, strings.Count(s, " ")+1)
	}
	start, startCol, col := -1, 0, 0
	for i, r := range s {
		col++
		switch r {
		case ' ', '\t', '\n', '\r':
			if start >= 0 {
				words = append(words, Word{Text: s[start:i], Pos: Pos{File: file, Line: line, Col: startCol}})
				start = -1
			}
		default:
			if start < 0 {
				start, startCol = i, col
			}
		}
	}
	if start >= 0 {
		words = append(words, Word{Text: s[start:], Pos: Pos{File: file, Line: line, Col: startCol}})
	}
	return words
}
