package rules

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
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

// The core long options of iptables, in its order (iptables.c
// original_opts); core letters map to the short options.
var coreOpts = []optEntry{
	{name: "append", arg: ext.OneArg, core: 'A'},
	{name: "delete", arg: ext.OneArg, core: 'D'},
	{name: "check", arg: ext.OneArg, core: 'C'},
	{name: "insert", arg: ext.OneArg, core: 'I'},
	{name: "replace", arg: ext.OneArg, core: 'R'},
	{name: "list", arg: ext.OptionalArg, core: 'L'},
	{name: "list-rules", arg: ext.OptionalArg, core: 'S'},
	{name: "flush", arg: ext.OptionalArg, core: 'F'},
	{name: "zero", arg: ext.OptionalArg, core: 'Z'},
	{name: "new-chain", arg: ext.OneArg, core: 'N'},
	{name: "delete-chain", arg: ext.OptionalArg, core: 'X'},
	{name: "rename-chain", arg: ext.OneArg, core: 'E'},
	{name: "policy", arg: ext.OneArg, core: 'P'},
	{name: "source", arg: ext.OneArg, core: 's'},
	{name: "destination", arg: ext.OneArg, core: 'd'},
	{name: "src", arg: ext.OneArg, core: 's'},
	{name: "dst", arg: ext.OneArg, core: 'd'},
	{name: "protocol", arg: ext.OneArg, core: 'p'},
	{name: "in-interface", arg: ext.OneArg, core: 'i'},
	{name: "jump", arg: ext.OneArg, core: 'j'},
	{name: "table", arg: ext.OneArg, core: 't'},
	{name: "match", arg: ext.OneArg, core: 'm'},
	{name: "numeric", arg: ext.NoArg, core: 'n'},
	{name: "out-interface", arg: ext.OneArg, core: 'o'},
	{name: "verbose", arg: ext.NoArg, core: 'v'},
	{name: "wait", arg: ext.OptionalArg, core: 'w'},
	{name: "wait-interval", arg: ext.OptionalArg, core: 'W'},
	{name: "exact", arg: ext.NoArg, core: 'x'},
	{name: "fragments", arg: ext.NoArg, core: 'f'},
	{name: "version", arg: ext.NoArg, core: 'V'},
	{name: "help", arg: ext.OptionalArg, core: 'h'},
	{name: "line-numbers", arg: ext.NoArg, core: '0'},
	{name: "modprobe", arg: ext.OneArg, core: 'M'},
	{name: "set-counters", arg: ext.OneArg, core: 'c'},
	{name: "goto", arg: ext.OneArg, core: 'g'},
	{name: "ipv4", arg: ext.NoArg, core: '4'},
	{name: "ipv6", arg: ext.NoArg, core: '6'},
}

// shortOpts is iptables' IPT_OPTSTRING: the short options and whether
// each takes an argument (1) or an optional attached one (2).
var shortOpts = map[byte]ext.ArgKind{
	'A': 1, 'C': 1, 'D': 1, 'E': 1, 'F': 2, 'I': 1, 'L': 2, 'M': 1, 'N': 1,
	'P': 1, 'R': 1, 'S': 2, 'V': 0, 'X': 2, 'Z': 2, 'c': 1, 'd': 1, 'i': 1,
	'j': 1, 'o': 1, 'p': 1, 's': 1, 't': 1, 'v': 0, 'W': 2, '4': 0, '6': 0,
	'f': 0, 'g': 1, 'h': 2, 'm': 1, 'n': 0, 'w': 2, 'x': 0,
}

// extInst is one loaded extension in the rule being parsed.
type extInst struct {
	name      string
	match     *ext.MatchType
	target    *ext.TargetType
	p         ext.Parser
	seen      []string // the options given, in order (few: a slice beats a map)
	completed bool     // a later instance of the same match took over
	word      Word     // the -m / -j word, for messages
}

// saw reports whether option name was given.
func (e *extInst) saw(name string) bool { return slices.Contains(e.seen, name) }

// see records that option name was given.
func (e *extInst) see(name string) {
	if !e.saw(name) {
		e.seen = append(e.seen, name)
	}
}

func (e *extInst) optionList() []ext.Option {
	if e.match != nil {
		return e.match.Options
	}
	return e.target.Options
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

func (p *parser) setCommand(w Word, k CommandKind) error {
	if p.cmd.Kind != CmdNone {
		return errAt(w, "cannot use %s with %s: one command per line", w.Text, commandLetters[p.cmd.Kind])
	}
	if p.invert {
		return errAt(w, "cannot have ! before %s", w.Text)
	}
	p.cmd.Kind = k
	p.cmd.Pos = w.Pos
	p.cmdWord = w
	return nil
}

func (p *parser) setCoreOption(w Word, c byte, inv bool, invWord Word) error {
	if p.seenCore.has(c) {
		return errAt(w, "multiple %s options not allowed", coreOptionName(c))
	}
	p.seenCore.add(c)
	if inv {
		switch c {
		case 's', 'd', 'p', 'i', 'o', 'f':
		default:
			return errAt(invWord, "cannot have ! before %s", coreOptionName(c))
		}
	}
	return nil
}

func coreOptionName(c byte) string {
	switch c {
	case 'n':
		return "--numeric"
	case 's':
		return "--source"
	case 'd':
		return "--destination"
	case 'p':
		return "--protocol"
	case 'j', 'g':
		return "--jump"
	case 'v':
		return "--verbose"
	case 'x':
		return "--exact"
	case 'i':
		return "--in-interface"
	case 'o':
		return "--out-interface"
	case '0':
		return "--line-numbers"
	case 'c':
		return "--set-counters"
	case 'f':
		return "--fragments"
	}
	return "-" + string(c)
}

func ruleNumber(w Word, s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 0, errAt(w, "invalid rule number `%s'", s)
	}
	return n, nil
}

func (p *parser) takeWord() Word {
	w := p.words[p.i]
	p.i++
	return w
}

func (p *parser) coreOption(w Word, c byte, argp *string, inv bool, invWord Word) error {
	arg := ""
	if argp != nil {
		arg = *argp
	}
	optionalChain := func() {
		if argp != nil {
			p.cmd.Chain = arg
		} else if p.hasArg() {
			p.cmd.Chain = p.takeWord().Text
		}
	}
	if inv {
		p.invert = true // restore for setCommand's check
	}
	switch c {
	case 'A', 'C', 'N':
		kind := CmdAppend
		switch c {
		case 'C':
			kind = CmdCheck
		case 'N':
			kind = CmdNewChain
		}
		if err := p.setCommand(w, kind); err != nil {
			return err
		}
		p.cmd.Chain = arg
		p.cmd.ChainPos = p.argWord(w, arg).Pos
		if c == 'N' {
			if err := validChainName(w, arg); err != nil {
				return err
			}
		}
	case 'D':
		if err := p.setCommand(w, CmdDelete); err != nil {
			return err
		}
		p.cmd.Chain = arg
		p.cmd.ChainPos = p.argWord(w, arg).Pos
		if p.hasArg() {
			nw := p.takeWord()
			lo, hi, err := ruleRange(nw)
			if err != nil {
				return err
			}
			p.cmd.Kind, p.cmd.RuleNum, p.cmd.RuleNumEnd = CmdDeleteNum, lo, hi
		}
	case 'R':
		if err := p.setCommand(w, CmdReplace); err != nil {
			return err
		}
		p.cmd.Chain = arg
		p.cmd.ChainPos = p.argWord(w, arg).Pos
		if !p.hasArg() {
			return errAt(w, "-R requires a rule number")
		}
		nw := p.takeWord()
		n, err := ruleNumber(nw, nw.Text)
		if err != nil {
			return err
		}
		p.cmd.RuleNum = n
	case 'I':
		if err := p.setCommand(w, CmdInsert); err != nil {
			return err
		}
		p.cmd.Chain = arg
		p.cmd.ChainPos = p.argWord(w, arg).Pos
		p.cmd.RuleNum = 1
		if p.hasArg() {
			nw := p.takeWord()
			n, err := ruleNumber(nw, nw.Text)
			if err != nil {
				return err
			}
			p.cmd.RuleNum = n
		}
	case 'L', 'S':
		k := CmdList
		if c == 'S' {
			k = CmdListRules
		}
		if err := p.setCommand(w, k); err != nil {
			return err
		}
		optionalChain()
		if p.hasArg() {
			nw := p.takeWord()
			n, err := ruleNumber(nw, nw.Text)
			if err != nil {
				return err
			}
			p.cmd.RuleNum = n
		}
	case 'F':
		if err := p.setCommand(w, CmdFlush); err != nil {
			return err
		}
		optionalChain()
	case 'Z':
		if err := p.setCommand(w, CmdZero); err != nil {
			return err
		}
		optionalChain()
		if p.hasArg() {
			nw := p.takeWord()
			n, err := ruleNumber(nw, nw.Text)
			if err != nil {
				return err
			}
			p.cmd.Kind, p.cmd.RuleNum = CmdZeroNum, n
		}
	case 'X':
		if err := p.setCommand(w, CmdDeleteChain); err != nil {
			return err
		}
		optionalChain()
	case 'E':
		if err := p.setCommand(w, CmdRenameChain); err != nil {
			return err
		}
		p.cmd.Chain = arg
		p.cmd.ChainPos = p.argWord(w, arg).Pos
		if !p.hasArg() {
			return errAt(w, "-E requires old-chain-name and new-chain-name")
		}
		nw := p.takeWord()
		if err := validChainName(nw, nw.Text); err != nil {
			return err
		}
		p.cmd.NewName = nw.Text
	case 'P':
		if err := p.setCommand(w, CmdPolicy); err != nil {
			return err
		}
		if !p.hasArg() {
			return errAt(w, "-P requires a chain and a policy")
		}
		p.cmd.Chain = arg
		p.cmd.ChainPos = p.argWord(w, arg).Pos
		p.cmd.Policy = p.takeWord().Text
	case 'h':
		return errAt(w, "-h (help) is not a rule; run `ipsift iptables --help`")
	case 'V':
		return errAt(w, "-V (version) is not a rule")
	case 'p':
		if err := p.setCoreOption(w, c, inv, invWord); err != nil {
			return err
		}
		proto, err := ext.ParseProto(arg)
		if err != nil {
			return errAt(w, "%v", err)
		}
		if proto == 0 && inv {
			return errAt(w, "rule would never match protocol")
		}
		p.r.Proto, p.r.InvProto, p.r.ProtoGiven, p.protoSet = proto, inv, true, true
		p.protoName = strings.ToLower(arg)
	case 's', 'd':
		if err := p.setCoreOption(w, c, inv, invWord); err != nil {
			return err
		}
		aw := w
		if argp != nil && p.i > 0 && p.words[p.i-1].Text == arg {
			aw = p.words[p.i-1]
		}
		if aw.Text == w.Text && len(w.Text) > 2 && !strings.HasPrefix(w.Text, "--") {
			// "-syn" is getopt's "-s yn": say what the writer meant.
			first, _, _ := strings.Cut(arg, ",")
			if _, _, err := parseAddress(first, p.opts.Family); err != nil {
				if long, ok := singleDashLong(w.Text, anyExtOption); ok {
					return &Diag{Pos: w.Pos, Word: w.Text, Fix: long,
						Msg: fmt.Sprintf("%q is read as -%c %s (an address); the long option needs two dashes: write %s", w.Text, c, arg, long)}
				}
			}
		}
		if c == 's' {
			p.srcs, p.r.InvSrc, p.srcWord = strings.Split(arg, ","), inv, aw
		} else {
			p.dsts, p.r.InvDst, p.dstWord = strings.Split(arg, ","), inv, aw
		}
	case 'i', 'o':
		if arg == "" {
			return errAt(w, "Empty interface is likely to be undesired")
		}
		if err := p.setCoreOption(w, c, inv, invWord); err != nil {
			return err
		}
		if len(arg) >= 16 {
			return errAt(w, "interface name `%s' must be shorter than 16 characters", arg)
		}
		if strings.ContainsAny(arg, "/ \t\n\v\f\r") {
			// iptables warns ("weird character in interface") and loads
			// the rule; the kernel's interface names never contain these.
			aw := p.argWord(w, arg)
			p.cmd.Warnings = append(p.cmd.Warnings, &Diag{Pos: aw.Pos, Severity: SevWarning, Word: arg,
				Msg: fmt.Sprintf("interface name %q has a '/' or a blank, which no interface name can contain: the rule never matches (iptables loads it with a warning, and its iptables-save prints the name so that it does not read back)", arg)})
		}
		if looksLikePlaceholder(strings.TrimSuffix(arg, "+")) {
			aw := p.argWord(w, arg)
			p.cmd.Warnings = append(p.cmd.Warnings, &Diag{Pos: aw.Pos, Severity: SevWarning, Word: arg,
				Msg: fmt.Sprintf("%q looks like a placeholder from a how-to, not an interface name: put the real interface here (e.g. eth0, wlan0)", arg)})
		}
		if c == 'i' {
			p.r.In, p.r.InvIn = arg, inv
		} else {
			p.r.Out, p.r.InvOut = arg, inv
		}
	case 'f':
		if p.opts.Family == ext.IPv6 {
			return &Diag{Pos: w.Pos, Word: w.Text, Msg: "`-f' is not supported in IPv6, use -m frag instead: IPv6 fragments carry a Fragment header, which -m frag matches (--fragid, --fragfirst, --fragmore, --fraglast)"}
		}
		if err := p.setCoreOption(w, c, inv, invWord); err != nil {
			return err
		}
		p.r.Frag, p.r.InvFrag = true, inv
	case 'j', 'g':
		if err := p.setCoreOption(w, 'j', inv, invWord); err != nil {
			return err
		}
		p.r.TargetPos = p.argWord(w, arg).Pos
		return p.jump(w, arg, c == 'g')
	case 'm':
		if inv {
			return errAt(invWord, "unexpected ! flag before --match")
		}
		return p.loadMatch(w, arg)
	case 't':
		if inv {
			return errAt(invWord, "unexpected ! flag before --table")
		}
		if p.opts.Restore {
			return errAt(w, "the -t option cannot be used in iptables-restore input: put the rule in a *%s section", arg)
		}
		if p.tableSet {
			return errAt(w, "multiple -t options not allowed")
		}
		if BuiltinChains(arg) == nil {
			return errAt(w, "table `%s' does not exist (tables: %s)", arg, strings.Join(TableNames, ", "))
		}
		p.tableSet = true
		p.cmd.Table = arg
	case 'n':
		p.cmd.Numeric = true
	case 'v':
		p.cmd.Verbose = true
	case 'x':
		p.cmd.Exact = true
	case '0':
		p.cmd.LineNumbers = true
	case 'c':
		if err := p.setCoreOption(w, c, inv, invWord); err != nil {
			return err
		}
		pc, bc, hasComma := strings.Cut(arg, ",")
		if !hasComma {
			if !p.hasArg() {
				return errAt(w, "-c requires packet and byte counter")
			}
			bc = p.takeWord().Text
		}
		pk, err1 := strconv.ParseUint(pc, 10, 64)
		by, err2 := strconv.ParseUint(bc, 10, 64)
		if err1 != nil {
			return errAt(w, "-c packet counter not numeric")
		}
		if err2 != nil {
			return errAt(w, "-c byte counter not numeric")
		}
		p.cmd.SetCounters = &Counters{Packets: pk, Bytes: by}
	case 'w', 'W':
		if p.opts.Restore {
			return errAt(w, "you cannot use `-%c' from iptables-restore", c)
		}
		if argp == nil && p.hasArg() {
			p.takeWord()
		}
	case 'M':
	case '4', '6':
		want := ext.IPv4
		if c == '6' {
			want = ext.IPv6
		}
		if p.opts.Family != want {
			if p.opts.Restore {
				// iptables-restore and ip6tables-restore skip a line
				// marked for the other family, silently, so that one
				// file can serve both (do_parse returns at once).
				p.cmd.Skipped = true
				return errSkipLine
			}
			if c == '4' {
				return errAt(w, "-4 given to ip6tables: this rule is for IPv4 only; run it with iptables, or drop -4")
			}
			return errAt(w, "-6 given to iptables (IPv4): this rule is for IPv6 only; run it with ip6tables, or drop -6")
		}
	}
	p.invert = false
	return nil
}

func ruleRange(w Word) (int, int, error) {
	lo, hi, isRange := strings.Cut(w.Text, ":")
	if !isRange {
		n, err := ruleNumber(w, w.Text)
		return n, n, err
	}
	a, b := 1, 0
	var err error
	if lo != "" {
		if a, err = ruleNumber(w, lo); err != nil {
			return 0, 0, err
		}
	}
	if hi != "" {
		if b, err = ruleNumber(w, hi); err != nil {
			return 0, 0, err
		}
	}
	return a, b, nil
}

func validChainName(w Word, name string) error {
	if len(name) >= 29 {
		return errAt(w, "chain name `%s' too long (must be under 29 chars)", name)
	}
	if name == "" {
		return errAt(w, "empty chain name")
	}
	if name[0] == '-' || name[0] == '!' {
		return errAt(w, "chain name not allowed to start with `%c'", name[0])
	}
	if strings.ContainsAny(name, " \t\n") {
		return errAt(w, "invalid chain name `%s'", name)
	}
	if isStandardVerdict(name) || ext.LookupTarget(name, ext.AnyFamily) != nil {
		return errAt(w, "chain name may not clash with target name")
	}
	return nil
}

func (p *parser) jump(w Word, name string, isGoto bool) error {
	if name == "" {
		return errAt(w, "invalid target name (too short)")
	}
	if len(name) >= 29 {
		return errAt(w, "invalid target name `%s' (28 chars max)", name)
	}
	if strings.ContainsAny(name, " \t") {
		return errAt(w, "invalid target name `%s'", name)
	}
	p.r.Verdict, p.r.Goto = name, isGoto
	if isGoto {
		return nil
	}
	if name == "CONTINUE" {
		p.r.Verdict = ""
		return nil
	}
	if err := p.removedTargetError(w, name); err != nil {
		return err
	}
	t := ext.LookupTarget(name, p.opts.Family)
	if t == nil {
		return nil // a standard verdict or a chain, resolved when applied
	}
	inst := &extInst{name: name, target: t, p: t.New(), word: w}
	p.r.Target, p.r.TType = inst.p.(ext.Target), t
	p.tgt = inst
	p.mergeOptions(inst, t.Options)
	return nil
}

func (p *parser) loadMatch(w Word, name string) error {
	if name == "nth" {
		return p.loadNth(w)
	}
	t := ext.LookupMatch(name, p.opts.Family)
	if t == nil {
		if err := p.removedMatchError(w, name); err != nil {
			return err
		}
		msg := fmt.Sprintf("unknown match %q", name)
		if s := suggest(name, ext.MatchNames(p.opts.Family)); s != "" {
			return &Diag{Pos: w.Pos, Word: name, Msg: msg + fmt.Sprintf(" (did you mean -m %s?)", s), Fix: s, Guess: true}
		}
		return &Diag{Pos: w.Pos, Word: name, Msg: msg}
	}
	p.addMatch(w, t)
	return nil
}

func (p *parser) addMatch(w Word, t *ext.MatchType) *extInst {
	for _, e := range p.exts {
		if e.match == t {
			e.completed = true
		}
	}
	inst := &extInst{name: t.Name, match: t, p: t.New(), word: w}
	p.exts = append(p.exts, inst)
	p.r.Matches = append(p.r.Matches, &MatchUse{Type: t, M: inst.p.(ext.Match)})
	p.mergeOptions(inst, t.Options)
	return inst
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

// mergeOptions puts an extension's options right after the core options,
// before those of extensions loaded earlier, as xtables_merge_options
// does: the newest extension wins an exact name. (The core options are
// not copied into each parser's table: 100,000 rules copied them at
// about 9 KB a rule.)
func (p *parser) mergeOptions(inst *extInst, opts []ext.Option) {
	n := make([]optEntry, 0, len(opts)+len(p.table))
	for i := range opts {
		n = append(n, optEntry{name: opts[i].Name, arg: opts[i].Arg, inst: inst, opt: &opts[i]})
	}
	p.table = append(n, p.table...)
}

func (p *parser) extOption(w Word, e *optEntry, argp *string, inv bool, invWord Word) error {
	inst := e.inst
	if inst.completed {
		// getopt found an option of an instance that a later -m of the
		// same match replaced; iptables hands it to the newest one.
		for k := len(p.exts) - 1; k >= 0; k-- {
			if p.exts[k].match == inst.match {
				inst = p.exts[k]
				break
			}
		}
	}
	o := e.opt
	if inv && !o.Invert {
		return errAt(invWord, "%s: option \"--%s\" cannot be inverted", inst.name, o.Name)
	}
	if inst.saw(o.Name) && !o.Multi {
		return errAt(w, "%s: option \"--%s\" can only be used once", inst.name, o.Name)
	}
	for _, x := range o.Excludes {
		if inst.saw(x) {
			return errAt(w, "%s: option \"--%s\" cannot be used together with --%s", inst.name, o.Name, x)
		}
	}
	// xtables checks an exclusion whichever of the pair came first.
	for _, other := range inst.optionList() {
		if inst.saw(other.Name) {
			for _, x := range other.Excludes {
				if x == o.Name {
					return errAt(w, "%s: option \"--%s\" cannot be used together with --%s", inst.name, o.Name, other.Name)
				}
			}
		}
	}
	inst.see(o.Name)
	arg := ""
	if argp != nil {
		arg = *argp
	}
	if p.texts == nil {
		// The words' texts, once per line: extensions read them and keep
		// no slice of them.
		p.texts = make([]string, len(p.words))
		for i, x := range p.words {
			p.texts[i] = x.Text
		}
	}
	more := &ext.Args{Words: p.texts[p.i:len(p.texts):len(p.texts)], Next: 0}
	if err := inst.p.Parse(o.Name, arg, inv, more); err != nil {
		if looksLikePlaceholder(arg) {
			aw := p.argWord(w, arg)
			return &Diag{Pos: aw.Pos, Word: arg, Assume: placeholderStandIn(o.Name),
				Msg: fmt.Sprintf("%q looks like a placeholder from a how-to: put a real value for --%s here", arg, o.Name)}
		}
		return p.extError(w, inst, o.Name, err)
	}
	p.i += more.Next
	return nil
}

func (p *parser) extError(w Word, inst *extInst, opt string, err error) error {
	if d, ok := err.(*Diag); ok {
		return d
	}
	msg := err.Error()
	if opt != "" && !strings.Contains(msg, "--"+opt) {
		msg = "--" + opt + ": " + msg
	}
	if !strings.HasPrefix(msg, inst.name) {
		msg = inst.name + ": " + msg
	}
	return &Diag{Pos: w.Pos, Word: w.Text, Msg: msg}
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
