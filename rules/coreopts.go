package rules

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/ipsift/ipsift/ext"
)

// This file holds iptables' core options (those not of an extension):
// their getopt tables, the commands (-A, -D, -N ...) and the rule's own
// matches (-s, -d, -p, -i, -o, -f), as do_parse reads them.

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

// chainCommand sets a command that names a chain (-A, -C, -D, -E, -I,
// -N, -P, -R) and the chain, with where it was written for messages.
func (p *parser) chainCommand(w Word, k CommandKind, chain string) error {
	if err := p.setCommand(w, k); err != nil {
		return err
	}
	p.cmd.Chain = chain
	p.cmd.ChainPos = p.argWord(w, chain).Pos
	return nil
}

// optionalRuleNumber takes the rule number that may follow a chain
// (-I, -L, -S, -Z), if the next word is an argument; given says whether
// there was one.
func (p *parser) optionalRuleNumber() (n int, given bool, err error) {
	if !p.hasArg() {
		return 0, false, nil
	}
	nw := p.takeWord()
	n, err = ruleNumber(nw, nw.Text)
	return n, err == nil, err
}

func ruleNumber(w Word, s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 0, errAt(w, "invalid rule number `%s'", s)
	}
	return n, nil
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
		if err := p.chainCommand(w, kind, arg); err != nil {
			return err
		}
		if c == 'N' {
			if err := validChainName(w, arg); err != nil {
				return err
			}
		}
	case 'D':
		if err := p.chainCommand(w, CmdDelete, arg); err != nil {
			return err
		}
		if p.hasArg() {
			nw := p.takeWord()
			lo, hi, err := ruleRange(nw)
			if err != nil {
				return err
			}
			p.cmd.Kind, p.cmd.RuleNum, p.cmd.RuleNumEnd = CmdDeleteNum, lo, hi
		}
	case 'R':
		if err := p.chainCommand(w, CmdReplace, arg); err != nil {
			return err
		}
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
		if err := p.chainCommand(w, CmdInsert, arg); err != nil {
			return err
		}
		p.cmd.RuleNum = 1
		if n, given, err := p.optionalRuleNumber(); err != nil {
			return err
		} else if given {
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
		if n, given, err := p.optionalRuleNumber(); err != nil {
			return err
		} else if given {
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
		if n, given, err := p.optionalRuleNumber(); err != nil {
			return err
		} else if given {
			p.cmd.Kind, p.cmd.RuleNum = CmdZeroNum, n
		}
	case 'X':
		if err := p.setCommand(w, CmdDeleteChain); err != nil {
			return err
		}
		optionalChain()
	case 'E':
		if err := p.chainCommand(w, CmdRenameChain, arg); err != nil {
			return err
		}
		if !p.hasArg() {
			return errAt(w, "-E requires old-chain-name and new-chain-name")
		}
		nw := p.takeWord()
		if err := validChainName(nw, nw.Text); err != nil {
			return err
		}
		p.cmd.NewName = nw.Text
	case 'P':
		if err := p.chainCommand(w, CmdPolicy, arg); err != nil {
			return err
		}
		if !p.hasArg() {
			return errAt(w, "-P requires a chain and a policy")
		}
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
