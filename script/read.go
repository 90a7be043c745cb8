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
// statically. It never runs an external command, reads no file and touches
// no environment: what it cannot know it keeps as written, marks, and
// explains in a Diag.
//
// What is followed: quoting and escapes, line continuations, comments,
// ; && || | & and newlines, variables (NAME=, export, readonly, local,
// declare, unset, bash arrays), $X ${X} and the ${X...} operators, $1..
// $@ $# in functions, shift, set --, field splitting (with IFS),
// arithmetic, for / while / until / for ((;;)) loops with break and
// continue, functions, if / case / [ ] / test / [[ ]] on what the script
// itself sets, ( ) and { }, here-documents, and sudo / command / env /
// exec prefixes. An iptables-family tool is recognised by its base name,
// whether written directly, as a path, or through a variable.
//
// What is not followed, and said so in a Diag where it matters:
// command substitution $(...) and `...` (the text is kept as written),
// variables the script never sets (from the environment), read, the
// script's own arguments, file tests ([ -x /sbin/iptables ]) and the
// exit status of any external command, eval, . and source, aliases, and
// the files iptables-restore reads. Where a decision depends on something
// unknown, the reader takes the then-branch (the first matching or the
// "start" arm of a case, one pass of a while loop, the right side of &&
// and ||), warns, and notes it on the invocations found there; an exit or
// return reached that way does not end the reading. Pathname expansion
// (globs), tilde and brace expansion are not done: such words are kept
// as written, as is every character, typographic dashes included.
//
// Everything is bounded (loop passes, commands run, call depth, value
// sizes, output size), so any input, however hostile, ends quickly.
package script

import (
	"sort"
	"unicode/utf8"
)

// Pos is a place in the script: a 1-based line, a 1-based column counted
// in characters (runes, as editors count them, so a typographic dash is
// one column), and the 0-based byte offset from the start of the script.
// The zero Pos means "no place".
type Pos struct {
	Line, Col, Offset int
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
	// Line is the line of the command word.
	Line int
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
	maxMatchWork  = 1 << 25 // steps of pattern matching, in total
	maxExpand     = 1 << 23 // bytes produced by expansion, in total
)

// Read interprets the script src (named name, which becomes $0) and
// returns the iptables-family invocations it would make, in the order it
// would make them, with diagnostics sorted by place.
func Read(name string, src []byte) (invs []Invocation, diags []Diag) {
	s := newState(name, src)
	prog, perr := parseProgram(s.src, &s.diags)
	s.run(prog)
	if perr != nil {
		s.diag(perr.off, perr.msg, false)
	}
	sort.SliceStable(s.diags.list, func(i, j int) bool {
		return s.diags.list[i].Offset < s.diags.list[j].Offset
	})
	return s.invs, s.diags.list
}

// source maps byte offsets of a script to lines and rune columns.
type source struct {
	b     []byte
	lines []int // byte offset where each line starts
	// Checkpoints every few hundred bytes, at rune boundaries, with the
	// number of runes before them, so that a column costs a short count
	// however long the line and in whatever order places are asked for.
	cps []checkpoint
}

type checkpoint struct{ off, runes int }

const cpEvery = 256

func newSource(b []byte) *source {
	s := &source{b: b, lines: []int{0}, cps: []checkpoint{{0, 0}}}
	runes, last := 0, 0
	for i := 0; i < len(b); {
		if i-last >= cpEvery {
			s.cps = append(s.cps, checkpoint{i, runes})
			last = i
		}
		c := b[i]
		n := 1
		if c >= utf8.RuneSelf {
			_, n = utf8.DecodeRune(b[i:])
		} else if c == '\n' {
			s.lines = append(s.lines, i+1)
		}
		i += n
		runes++
	}
	return s
}

// runesBefore counts the runes in b[:off], an invalid byte counting as
// one, as utf8.RuneCount does. A line starts after '\n', where decoding
// is always in step, so differences give columns.
func (s *source) runesBefore(off int) int {
	k := sort.Search(len(s.cps), func(i int) bool { return s.cps[i].off > off }) - 1
	return s.cps[k].runes + utf8.RuneCount(s.b[s.cps[k].off:off])
}

// pos turns a byte offset into a Pos; columns count runes so they match
// what an editor shows.
func (s *source) pos(off int) Pos {
	if off < 0 {
		return Pos{}
	}
	if off > len(s.b) {
		off = len(s.b)
	}
	ln := sort.Search(len(s.lines), func(i int) bool { return s.lines[i] > off }) - 1
	col := 1 + s.runesBefore(off) - s.runesBefore(s.lines[ln])
	return Pos{Line: ln + 1, Col: col, Offset: off}
}

// line returns the 1-based line of a byte offset.
func (s *source) line(off int) int { return s.pos(off).Line }

// diagList collects diagnostics, once per place and message: a loop that
// meets the same unknown word ten times says so once.
type diagList struct {
	src  *source
	list []Diag
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
}
