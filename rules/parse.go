package rules

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/ipsift/ipsift/ext"
)

// CommandKind is what an iptables command line asks for.
type CommandKind uint8

// Command kinds, one per iptables command option.
const (
	CmdNone CommandKind = iota
	CmdAppend
	CmdCheck
	CmdDelete
	CmdDeleteNum
	CmdReplace
	CmdInsert
	CmdList
	CmdListRules
	CmdFlush
	CmdZero
	CmdZeroNum
	CmdNewChain
	CmdDeleteChain
	CmdRenameChain
	CmdPolicy
)

var commandLetters = map[CommandKind]string{
	CmdAppend: "-A", CmdCheck: "-C", CmdDelete: "-D", CmdDeleteNum: "-D",
	CmdReplace: "-R", CmdInsert: "-I", CmdList: "-L", CmdListRules: "-S",
	CmdFlush: "-F", CmdZero: "-Z", CmdZeroNum: "-Z", CmdNewChain: "-N",
	CmdDeleteChain: "-X", CmdRenameChain: "-E", CmdPolicy: "-P",
}

// Command is one parsed iptables command line.
type Command struct {
	Kind       CommandKind
	Table      string
	Chain      string
	NewName    string // -E
	Policy     string // -P
	RuleNum    int    // -I, -R, -D N, -Z N, -L/-S N; 0 when not given
	RuleNumEnd int
	// Rules holds the rule of -A -I -R -D -C: more than one when -s or -d
	// listed several addresses, as iptables expands them.
	Rules []*Rule
	// Listing options.
	Numeric, Verbose, Exact, LineNumbers bool
	// SetCounters is -c PKTS BYTES.
	SetCounters *Counters

	Pos Pos // position of the command word (-A ...)
	// ChainPos is where the chain name was written, for messages.
	ChainPos Pos
	// Warnings are things iptables accepts but that are most likely
	// not what the writer meant (a placeholder as an interface name, a
	// legacy match ipsift translated).
	Warnings Diags
	// Skipped is set for a restore line marked -4 or -6 for the other
	// family: the tools skip it silently and so does Apply.
	Skipped bool
}

// errSkipLine stops the parse of a line the restore tools skip.
var errSkipLine = errors.New("line skipped")

// optEntry is one long option in the getopt_long table.
type optEntry struct {
	name string
	arg  ext.ArgKind
	core byte // core option letter, or 0 for an extension's
	inst *extInst
	opt  *ext.Option
}

// ParseOptions controls ParseCommand.
type ParseOptions struct {
	Family ext.Family
	// Table is the table when the line gives no -t (restore files fix
	// it per section and forbid -t).
	Table string
	// Restore is set for lines of an iptables-restore file.
	Restore bool
	// Legacy reads the line as iptables-legacy does; the default is
	// iptables-nft, the backend of current distributions. The two differ
	// in a few rules one of them refuses (see finish).
	Legacy bool
	// Userspace applies only iptables' own checks, none of the kernel's
	// (the protocol, table and hooks an extension needs): iptables-translate
	// never hands the rule to a kernel, so it translates rules the kernel
	// would refuse, such as -m tcpmss without -p tcp.
	Userspace bool
}

type parser struct {
	opts  ParseOptions
	words []Word
	texts []string // the words' texts, for extensions (made at the first need)
	i     int      // next word
	cmd   *Command
	// table is the extensions' options, newest extension first; getopt
	// sees coreOpts then table (see option).
	table []optEntry
	exts  []*extInst // matches in load order
	tgt   *extInst

	// the rule being built
	r          Rule
	srcs, dsts []string
	srcWord    Word
	dstWord    Word
	protoSet   bool
	protoUsed  bool
	protoName  string  // -p as written, lower case
	seenCore   letters // core options given
	tableSet   bool
	cmdWord    Word
	invert     bool
	invertWord Word
}

// letters is a set of bytes (option letters).
type letters [4]uint64

func (l *letters) add(c byte)      { l[c>>6] |= 1 << (c & 63) }
func (l *letters) has(c byte) bool { return l[c>>6]&(1<<(c&63)) != 0 }

// ParseCommand parses one iptables command line (the words after
// "iptables") into a Command, as iptables' do_parse does: getopt_long over
// the core options and the options of every loaded extension, with
// unique-prefix abbreviations, "!" before an option, implicit loading of
// the protocol's match, and the final checks of every extension.
func ParseCommand(words []Word, o ParseOptions) (*Command, error) {
	if o.Family == 0 {
		o.Family = ext.IPv4
	}
	if o.Table == "" {
		o.Table = "filter"
	}
	p := &parser{opts: o, words: words, cmd: &Command{Table: o.Table}}
	if err := p.run(); err != nil {
		return nil, err
	}
	return p.cmd, nil
}

func (p *parser) lastWord() Word {
	if len(p.words) == 0 {
		return Word{}
	}
	w := p.words[len(p.words)-1]
	w.Pos.Col += utf8.RuneCountInString(w.Text)
	w.Text = ""
	return w
}

// hasArg is xs_has_arg: the next word exists and starts with neither '-'
// nor '!'.
func (p *parser) hasArg() bool {
	return p.i < len(p.words) && !strings.HasPrefix(p.words[p.i].Text, "-") && !strings.HasPrefix(p.words[p.i].Text, "!")
}

func (p *parser) run() error {
	for p.i < len(p.words) {
		w := p.words[p.i]
		p.i++
		t := w.Text
		switch {
		case t == "--":
			// getopt stops at "--"; iptables then complains about the rest.
			if p.i < len(p.words) {
				return errAt(p.words[p.i], "unknown arguments found on commandline")
			}
		case strings.HasPrefix(t, "--"):
			if err := p.longOpt(w); err != nil {
				if err == errSkipLine {
					return nil
				}
				return err
			}
		case strings.HasPrefix(t, "-") && t != "-":
			if err := p.shortOpts(w); err != nil {
				if err == errSkipLine {
					return nil
				}
				return err
			}
		default:
			if t == "!" {
				if p.invert {
					return errAt(w, "multiple consecutive ! not allowed")
				}
				p.invert, p.invertWord = true, w
				continue
			}
			return p.badArgument(w)
		}
	}
	return p.finish()
}

// lookupLong finds a long option as glibc's getopt_long does: an exact
// name first, else the only option the word is a prefix of.
func (p *parser) lookupLong(w Word, name string) (*optEntry, error) {
	n := p.options()
	for i := range n {
		if e := p.option(i); e.name == name {
			return e, nil
		}
	}
	var found *optEntry
	var cands []string
	for i := range n {
		e := p.option(i)
		if !strings.HasPrefix(e.name, name) {
			continue
		}
		if found == nil {
			found = e
			cands = append(cands, "--"+e.name)
			continue
		}
		// Entries that are the same option (--src and --source) do not
		// make an abbreviation ambiguous.
		if e.arg != found.arg || e.core != found.core || e.inst != found.inst || e.opt != found.opt || e.core == 0 {
			cands = append(cands, "--"+e.name)
		}
	}
	if len(cands) > 1 {
		return nil, &Diag{Pos: w.Pos, Word: w.Text, Msg: fmt.Sprintf("option %q is ambiguous; possibilities: %s", w.Text, strings.Join(cands, " "))}
	}
	return found, nil
}

func (p *parser) longOpt(w Word) error {
	name, val, hasVal := strings.Cut(w.Text[2:], "=")
	e, err := p.lookupLong(w, name)
	if err != nil {
		return err
	}
	if e == nil {
		return p.unknownOption(w, w.Text)
	}
	var arg *string
	switch e.arg {
	case ext.NoArg:
		if hasVal {
			return errAt(w, "option '--%s' doesn't allow an argument", e.name)
		}
	case ext.OneArg:
		if hasVal {
			arg = &val
		} else {
			if p.i >= len(p.words) {
				return errAt(w, "option %q requires an argument", w.Text)
			}
			a := p.words[p.i].Text
			p.i++
			arg = &a
		}
	case ext.OptionalArg:
		if hasVal {
			arg = &val
		}
	}
	return p.dispatch(w, e, arg)
}

func (p *parser) shortOpts(w Word) error {
	t := w.Text
	for j := 1; j < len(t); j++ {
		c := t[j]
		kind, ok := shortOpts[c]
		if !ok {
			return p.unknownOption(w, "-"+string(c))
		}
		e := &optEntry{name: string(c), arg: kind, core: c}
		var arg *string
		switch kind {
		case ext.OneArg:
			if j+1 < len(t) {
				a := t[j+1:]
				arg = &a
			} else {
				if p.i >= len(p.words) {
					return errAt(w, "option requires an argument -- '%c'", c)
				}
				a := p.words[p.i].Text
				p.i++
				arg = &a
			}
			j = len(t)
		case ext.OptionalArg:
			if j+1 < len(t) {
				a := t[j+1:]
				arg = &a
				j = len(t)
			}
		}
		if err := p.dispatch(w, e, arg); err != nil {
			return err
		}
	}
	return nil
}

func (p *parser) dispatch(w Word, e *optEntry, arg *string) error {
	inv, invWord := p.invert, p.invertWord
	p.invert = false
	if e.core != 0 {
		return p.coreOption(w, e.core, arg, inv, invWord)
	}
	return p.extOption(w, e, arg, inv, invWord)
}

// argWord returns the word that held the argument of the option in w:
// w itself when the argument was attached, else the word after it.
func (p *parser) argWord(w Word, arg string) Word {
	if p.i > 0 && p.words[p.i-1].Text == arg && p.words[p.i-1].Pos != w.Pos {
		return p.words[p.i-1]
	}
	return w
}

func (p *parser) takeWord() Word {
	w := p.words[p.i]
	p.i++
	return w
}

// options is the number of options getopt knows now: the core ones and
// those of the extensions loaded.
func (p *parser) options() int { return len(coreOpts) + len(p.table) }

// option is option i of the options getopt knows, in its order. The
// core options are shared by every parser: never write through it.
func (p *parser) option(i int) *optEntry {
	if i < len(coreOpts) {
		return &coreOpts[i]
	}
	return &p.table[i-len(coreOpts)]
}

func (p *parser) unknownOption(w Word, opt string) error {
	// An option no loaded extension knows: iptables first loads the
	// match named by -p (tcp, udp, icmp ...) and tries again.
	if p.protoSet && !p.protoUsed {
		p.protoUsed = true
		// iptables' find_proto looks the match up by the name the user
		// wrote (-p mh loads mh), and by iptables' own name for a number.
		name := p.protoName
		if name == "" || name[0] >= '0' && name[0] <= '9' || ext.LookupMatch(name, p.opts.Family) == nil {
			name = ext.ProtoName(p.r.Proto)
		}
		if t := ext.LookupMatch(name, p.opts.Family); t != nil && name != "all" {
			p.addMatch(w, t)
			p.i-- // read the same word again
			return nil
		}
	}
	if d := p.removedOption(w, opt); d != nil {
		return d
	}
	d := &Diag{Pos: w.Pos, Word: w.Text, Msg: fmt.Sprintf("unknown option %q", opt)}
	p.hint(d, w)
	return d
}

func (p *parser) badArgument(w Word) error {
	d := &Diag{Pos: w.Pos, Word: w.Text, Msg: fmt.Sprintf("bad argument %q", w.Text)}
	p.hint(d, w)
	return d
}
