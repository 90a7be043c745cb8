// Package script reads a shell script of iptables commands without running
// it, and returns the iptables invocations the script would make.
//
// Firewall how-tos hand out shell scripts, not iptables-restore files: they
// set IPT=/sbin/iptables and write $IPT -A INPUT ..., loop over ports, wrap
// rules in functions and guard them with if-blocks. To report a mistake at
// the script's own line and column, the rule parser needs every argument of
// every iptables call together with where it was written. Running the
// script under a shim would give the arguments but lose the positions, and
// would run whatever else the script does; so this package interprets a
// small subset of POSIX sh (plus the bash forms common in such scripts)
// statically. It never runs an external command and touches no
// environment; the only files it reads are those the script sources, and
// only through Options.ReadFile. What it cannot know it keeps as written,
// marks, and explains in a Diag.
//
// What is followed: quoting and escapes, line continuations, comments,
// ; && || | & and newlines, variables (NAME=, export, readonly, local,
// declare, unset, bash arrays), $X ${X} and the ${X...} operators, $1..
// $@ $# in functions, shift, set (with or without --, options first, as
// bash sets the positional parameters), field splitting (with IFS),
// arithmetic, for / while / until / for ((;;)) loops with break and
// continue, functions, if / case / [ ] / test / [[ ]] on what the script
// itself sets, declare -f, type and command -v of the script's functions,
// calls through "$@", "$func" and $1 when their values are known, ( ) and
// { }, here-documents, . FILE and source FILE (with ReadWith: looked for
// in Options.Dir, the script's directory, then as written, relative to
// the working directory where bash looks; read recursively, each place in
// its own file, a file sourcing itself read once), and sudo / command /
// env / exec prefixes. An iptables-family tool is recognised by its base
// name, whether written directly, as a path, or through a variable.
//
// A variable the script never sets would come from the environment. In a
// condition ([ ], test, [[ ]], case) and in arithmetic it is taken as
// bash has it when the environment does not set it, empty (or 0), and a
// note says so once. Anywhere else (a rule's address, the command word
// $IPTABLES) its value is unknown: a note at its first use says so, once
// for all its uses, and the word keeps the text as written, marked
// Unknown. An unknown command word is taken to be an iptables tool when
// its name or value says so ($IPT, $(which iptables)); when it is the
// script's own argument ("$@" or $1 dispatch of an init script), the
// function start is followed, as the case "$1" in start) arm is.
//
// What is not followed, and said so in a Diag where it matters:
// command substitution $(...) and `...` (the text is kept as written;
// only dirname and basename of known paths are worked out, as coreutils
// does, for . "$(dirname "$0")/fw.conf"),
// read, the script's own arguments, file tests ([ -x /sbin/iptables ]),
// whether the host has a program (command -v ipset), the exit status of
// any external command, eval, aliases, and the files iptables-restore
// reads. Where a decision depends on something unknown, the reader takes
// the then-branch (the "start" arm of a case, else the first, one pass
// of a while loop, the right side of && and ||), warns at that line
// naming what it assumed, and notes it on the invocations found there;
// an exit or return reached that way does not end the reading. Pathname
// expansion (globs) is done only through Options.Glob (for f in
// /etc/fw.d/*.sh); tilde and brace expansion are not done: such words
// are kept as written, as is every character, typographic dashes
// included.
//
// Everything is bounded (loop passes, commands run, call depth, value
// sizes, sourced files, output size), so any input, however hostile,
// ends quickly.
package script

import (
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"
)

// Pos is a place in the script: a 1-based line, a 1-based column counted
// in characters (runes, as editors count them, so a typographic dash is
// one column), and the 0-based byte offset from the start of the script.
// The zero Pos means "no place".
type Pos struct {
	Line, Col, Offset int
	// File is the file the place is in when it is in a file the script
	// sources (. FILE, source FILE): the path as it was read. It is ""
	// for the script itself, and Offset counts from the start of File.
	File string
}

// IsValid reports whether p names a place.
func (p Pos) IsValid() bool { return p.Line > 0 }

// Word is one argument of an invocation, after the shell's expansions and
// quote removal, with the place it came from.
type Word struct {
	// Text is the argument as the command would receive it. Characters
	// are passed through byte for byte: a typographic dash (U+2013 –,
	// U+2014 —, U+2212 −) or a non-breaking space stays in the word, so
	// the rule parser can point at it. For an Unknown word, Text holds
	// the unknown parts as written (for example "$(cat list)").
	Text string
	// Pos is where the word's first character appears in the script.
	// For a character that came from an expansion, that is the '$' (or
	// '`') of the expansion in the command, not the place the variable
	// was assigned: an error is reported on the line that runs the
	// command. For an empty word it is where the word starts.
	Pos
	// Origin is where the first character of Text was written when it
	// came from a value assigned elsewhere in the script (a variable's
	// assignment, a function's caller, a for loop's list); otherwise the
	// zero Pos. It lets a message say "from IPT_OPTS, set at line 3".
	Origin Pos
	// Quoted is true when some of the word came from quotes, a
	// backslash escape or an expansion, that is, when Text is not simply
	// the characters written at Pos. When it is false (and no line
	// continuation splits the word), script[Offset:Offset+len(Text)] is
	// Text, so a fix can be spliced into the line.
	Quoted bool
	// FromVar names the first variable (or positional parameter, "1",
	// "@") whose expansion gave characters to the word; "" if none.
	FromVar string
	// Unknown is true when part of the word cannot be known without
	// running the script (command substitution, a variable the script
	// never sets, read, ...). A Diag at the unknown part says why.
	Unknown bool
}

// Invocation is one run of an iptables-family tool that the script would
// make.
type Invocation struct {
	// Tool is the command's base name as written: "iptables",
	// "ip6tables", "iptables-legacy", "iptables-nft", the
	// "-restore" and "-save" tools of each, ... Only the rule tools
	// (without -save or -restore) take a rule on their command line.
	Tool string
	// Cmd is the command word itself (say "/sbin/iptables", or the
	// expansion of $IPT), with its place.
	Cmd Word
	// Args are the arguments after the command name (and after sudo,
	// command, env or exec prefixes), redirections left out.
	Args []Word
	// Line is the line of the command word (in Cmd.File), and LineText
	// that line as written.
	Line     int
	LineText string
	// Note says how the script got here, outermost first, when it was
	// not straight-line code: "in function allow, called at line 12;
	// inside for loop p=22". Empty at the top level.
	Note string
	// Stdin is what a -restore tool would read, when the script says:
	// a here-document, a file redirected with <, or a pipe. Nil
	// otherwise.
	Stdin *Stdin
	// Errexit is true when set -e (or a #! line's -e) is in effect and
	// the invocation's status is not tested (no if or while condition,
	// no && or || after it, no !): if it fails, the script ends there.
	Errexit bool
}

// Stdin describes the standard input of an invocation.
type Stdin struct {
	// File is the word after '<', when input comes from a file the
	// script names (it is not read).
	File *Word
	// Heredoc is true when input is a here-document; Text is then its
	// body after expansion (unknown parts kept as written) and Pos is
	// where the body starts, so line k of Text is line Pos.Line+k-1 of
	// the script.
	Heredoc bool
	Text    string
	Pos
	// Pipe is true when input comes from another command through '|'.
	Pipe bool
}

// Diag is a problem or a caveat found while reading the script.
type Diag struct {
	Pos
	Msg string
	// Warn is true for caveats (something could not be followed, a
	// guess was made); false for errors (the shell itself would refuse
	// the script, for example an unterminated quote).
	Warn bool
	// Note is true (with Warn) for what is only an assumption the
	// reading rests on, said once: a variable the script never sets,
	// whose value would come from the environment.
	Note bool
}

// Limits on the interpretation. They are far above what a firewall script
// needs and keep hostile input (say `while :; do :; done`, or a function
// that calls itself twice) from running long or using much memory.
const (
	maxLoopPasses = 10000   // loop passes in total, over all loops
	maxSteps      = 200000  // simple commands run in total
	maxCallDepth  = 100     // nested function calls
	maxNest       = 200     // nesting of the script's syntax
	maxValue      = 1 << 14 // bytes in one variable's value
	maxInvs       = 100000  // invocations reported
	maxFields     = 1000000 // words produced by expansion, in total
	maxDiags      = 1000    // diagnostics reported
	maxMatchWork  = 1 << 22 // steps of pattern matching, in total
	maxExpand     = 1 << 23 // bytes produced by expansion, in total
)

// Options says what Read may use besides the script's text.
type Options struct {
	// ReadFile reads a file the script sources (. FILE or source FILE),
	// os.ReadFile for the command line. Nil: no file is read, and each
	// such command is reported as not followed.
	ReadFile func(path string) ([]byte, error)
	// Dir is where a relative FILE is looked for first (the script's
	// directory); then it is tried as written, that is relative to the
	// working directory, where bash would look for it.
	Dir string
	// Glob lists the files a pattern matches (filepath.Glob), for the
	// pathname expansion of unquoted * ? [ in words, as bash does it:
	// for f in /etc/fw.d/*.sh; do . "$f"; done. Nil: patterns are kept
	// as written.
	Glob func(pattern string) ([]string, error)
}

// Read interprets the script src (named name, which becomes $0) and
// returns the iptables-family invocations it would make, in the order it
// would make them, with diagnostics sorted by place. It reads no file.
func Read(name string, src []byte) (invs []Invocation, diags []Diag) {
	return ReadWith(name, src, Options{})
}

// ReadWith is Read with the files the script sources read through
// o.ReadFile, each followed where the script sources it.
func ReadWith(name string, src []byte, o Options) (invs []Invocation, diags []Diag) {
	s := newState(name, src)
	s.opts = o
	prog, perr := parseProgram(s.src, 0, &s.diags)
	s.run(prog)
	if perr != nil {
		s.diag(perr.off, perr.msg, false)
	}
	// By place: the script's own lines in order, then each sourced file's.
	idx := make([]int, len(s.diags.list))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(i, j int) bool { return s.diags.at[idx[i]] < s.diags.at[idx[j]] })
	for _, i := range idx {
		diags = append(diags, s.diags.list[i])
	}
	return s.invs, diags
}

// source holds the text read, the script's and then that of each file it
// sources, one after the other, so that one offset names a place in any
// of them; and it maps offsets to files, lines and rune columns.
type source struct {
	b    []byte
	segs []*segment // in the order of their offsets
}

// segment is one file's text within source.b.
type segment struct {
	file      string // "" for the script itself
	base, end int    // its bytes are source.b[base:end]
	lines     []int  // offset (in source.b) where each line starts
	// Checkpoints every few hundred bytes, at rune boundaries, with the
	// number of runes before them, so that a column costs a short count
	// however long the line and in whatever order places are asked for.
	cps []checkpoint
}

type checkpoint struct{ off, runes int }

const cpEvery = 256

func newSource(b []byte) *source {
	s := &source{}
	s.add("", b)
	return s
}

// add appends a file's text and returns the segment it makes.
func (s *source) add(file string, b []byte) *segment {
	base := len(s.b)
	s.b = append(s.b, b...)
	g := &segment{file: file, base: base, end: len(s.b), lines: []int{base}, cps: []checkpoint{{base, 0}}}
	runes, last := 0, base
	for i := base; i < g.end; {
		if i-last >= cpEvery {
			g.cps = append(g.cps, checkpoint{i, runes})
			last = i
		}
		c := s.b[i]
		n := 1
		if c >= utf8.RuneSelf {
			_, n = utf8.DecodeRune(s.b[i:g.end])
		} else if c == '\n' {
			g.lines = append(g.lines, i+1)
		}
		i += n
		runes++
	}
	s.segs = append(s.segs, g)
	return g
}

// seg returns the segment holding offset off (its end counting as in it).
func (s *source) seg(off int) *segment {
	k := sort.Search(len(s.segs), func(i int) bool { return s.segs[i].base > off }) - 1
	return s.segs[max(k, 0)]
}

// runesBefore counts the runes in the segment before off, an invalid byte
// counting as one, as utf8.RuneCount does. A line starts after '\n',
// where decoding is always in step, so differences give columns.
func (s *source) runesBefore(g *segment, off int) int {
	k := sort.Search(len(g.cps), func(i int) bool { return g.cps[i].off > off }) - 1
	return g.cps[k].runes + utf8.RuneCount(s.b[g.cps[k].off:off])
}

// pos turns an offset into a Pos; columns count runes so they match what
// an editor shows.
func (s *source) pos(off int) Pos {
	if off < 0 {
		return Pos{}
	}
	g := s.seg(off)
	off = min(off, g.end)
	ln := sort.Search(len(g.lines), func(i int) bool { return g.lines[i] > off }) - 1
	col := 1 + s.runesBefore(g, off) - s.runesBefore(g, g.lines[ln])
	return Pos{Line: ln + 1, Col: col, Offset: off - g.base, File: g.file}
}

// lineRef names the line of offset off in a message: "line 3", or "line
// 3 of conf.sh" in a sourced file.
func (s *source) lineRef(off int) string {
	if f := s.seg(off).file; f != "" {
		return fmt.Sprintf("line %d of %s", s.line(off), f)
	}
	return fmt.Sprintf("line %d", s.line(off))
}

// line returns the 1-based line of an offset, in its file.
func (s *source) line(off int) int { return s.pos(off).Line }

// lineText returns the line holding offset off, without its line end.
func (s *source) lineText(off int) string {
	g := s.seg(off)
	from, to := off, off
	for from > g.base && s.b[from-1] != '\n' {
		from--
	}
	for to < g.end && s.b[to] != '\n' {
		to++
	}
	return strings.TrimSuffix(string(s.b[from:to]), "\r")
}

// diagList collects diagnostics, once per place and message: a loop that
// meets the same unknown word ten times says so once.
type diagList struct {
	src  *source
	list []Diag
	at   []int // the offset of each, to sort them by
	seen map[diagKey]bool
}

type diagKey struct {
	off int
	msg string
}

func (d *diagList) add(off int, msg string, warn bool) {
	k := diagKey{off, msg}
	if d.seen[k] || len(d.list) >= maxDiags {
		return
	}
	if d.seen == nil {
		d.seen = map[diagKey]bool{}
	}
	d.seen[k] = true
	d.list = append(d.list, Diag{Pos: d.src.pos(off), Msg: msg, Warn: warn})
	d.at = append(d.at, off)
}

func (d *diagList) addNote(off int, msg string) {
	n := len(d.list)
	d.add(off, msg, true)
	if len(d.list) > n {
		d.list[n].Note = true
	}
}
