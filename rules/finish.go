package rules

import (
	"fmt"
	"strings"

	"github.com/ipsift/ipsift/ext"
)

// finish checks a parsed command as a whole, as iptables does once it has
// read every option: the command's needs, the matches' and target's
// final checks, and where their tables and hooks allow them.

func (p *parser) finish() error {
	if p.invert {
		return errAt(p.invertWord, "nothing appropriate following !")
	}
	c := p.cmd
	if c.Kind == CmdNone {
		return errAt(p.lastWord(), "no command specified (add -A CHAIN, -I CHAIN, -N CHAIN ...)")
	}
	if c.Chain != "" && len(c.Chain) >= 29 {
		return errAt(p.cmdWord, "chain name `%s' too long (must be under 29 chars)", c.Chain)
	}
	if c.Table == "nat" && (c.Policy == "DROP" || p.r.Verdict == "DROP") {
		return errAt(p.cmdWord, "the nat table is not intended for filtering: DROP is not allowed there (filter in the filter table instead)")
	}
	ruleCmd := false
	switch c.Kind {
	case CmdAppend, CmdCheck, CmdDelete, CmdReplace, CmdInsert:
		ruleCmd = true
	}
	if !ruleCmd {
		for _, l := range []byte("sdpiojfc") {
			if p.seenCore.has(l) && !(l == 'c' && (c.Kind == CmdPolicy)) {
				return errAt(p.cmdWord, "illegal option `%s' with this command", coreOptionName(l))
			}
		}
		if len(p.exts) > 0 || p.tgt != nil {
			return errAt(p.cmdWord, "matches and targets only go with -A, -I, -R, -D and -C")
		}
		return nil
	}
	if c.Kind != CmdDelete && c.Kind != CmdCheck && p.seenCore.has('c') {
		// -c sets the new rule's counters.
	} else if p.seenCore.has('c') {
		return errAt(p.cmdWord, "illegal option `--set-counters' with this command")
	}
	if c.Kind == CmdAppend || c.Kind == CmdInsert || c.Kind == CmdReplace || c.Kind == CmdDelete || c.Kind == CmdCheck {
		if c.Chain == "PREROUTING" || c.Chain == "INPUT" {
			if p.seenCore.has('o') {
				return errAt(p.cmdWord, "can't use -o with %s: packets there have no output interface yet", c.Chain)
			}
		}
		if c.Chain == "POSTROUTING" || c.Chain == "OUTPUT" {
			if p.seenCore.has('i') {
				return errAt(p.cmdWord, "can't use -i with %s: locally generated packets have no input interface", c.Chain)
			}
		}
	}
	// Final checks of every extension (x6_fcheck), matches first.
	info := &ext.RuleInfo{Family: p.opts.Family, Table: c.Table, Chain: c.Chain, Proto: p.r.Proto, InvProto: p.r.InvProto, Userspace: p.opts.Userspace}
	if h, ok := HookOf(c.Chain); ok && isBuiltinOf(c.Table, c.Chain) {
		info.Hooks = 1 << h
	}
	for _, e := range p.exts {
		if err := p.finishExt(e, e.match.Options, info); err != nil {
			return err
		}
	}
	if p.tgt != nil {
		if err := p.finishExt(p.tgt, p.tgt.target.Options, info); err != nil {
			return err
		}
	}
	// The kernel's checks that depend on the rule: protocol, table, hook.
	for _, e := range p.exts {
		if p.opts.Userspace {
			break
		}
		hooks, why := ext.AllowedHooks(e.match.Hooks, e.p)
		if err := checkPlacement(e.word, "-m "+e.name, e.match.Proto, e.match.Tables, hooks, &p.r, c.Table, info.Hooks); err != nil {
			return withWhy(err, why)
		}
	}
	if p.tgt != nil && !p.opts.Userspace {
		t := p.tgt.target
		if err := checkPlacement(p.tgt.word, "-j "+t.Name, t.Proto, t.Tables, t.Hooks, &p.r, c.Table, info.Hooks); err != nil {
			return err
		}
	}
	if c.SetCounters != nil {
		p.r.Counters = *c.SetCounters
	}
	p.r.Pos = c.Pos
	return p.expandAddresses()
}

func isBuiltinOf(table, chain string) bool {
	for _, b := range builtin[table] {
		if b == chain {
			return true
		}
	}
	return false
}

func (p *parser) finishExt(e *extInst, opts []ext.Option, info *ext.RuleInfo) error {
	for _, o := range opts {
		if o.Mandatory && !e.saw(o.Name) {
			return errAt(e.word, "%s: option \"--%s\" must be specified", e.name, o.Name)
		}
		if e.saw(o.Name) {
			for _, a := range o.Also {
				if !e.saw(a) {
					return errAt(e.word, "%s: option \"--%s\" also requires \"--%s\"", e.name, o.Name, a)
				}
			}
		}
	}
	if err := e.p.Finish(info); err != nil {
		return p.extError(e.word, e, "", err)
	}
	return nil
}

// checkPlacement applies the kernel's xt_check_match/xt_check_target
// rules: the protocol an extension needs, and the tables and hooks it may
// be used in (hooks == 0 for a user chain: checked again on commit).
func checkPlacement(w Word, what string, proto uint8, tables []string, hooks ext.HookMask, r *Rule, table string, ruleHooks ext.HookMask) error {
	if proto != 0 && (r.Proto != proto || r.InvProto) {
		name := ext.ProtoName(proto)
		return &Diag{Pos: w.Pos, Word: w.Text, Msg: fmt.Sprintf("%s is only valid for protocol %s: add -p %s before it", what, name, name)}
	}
	// The kernel's xt_check_match/xt_check_target check an extension's
	// one .table before its hooks; an extension allowed in several
	// tables (rpfilter: raw and mangle) checks them in its checkentry,
	// after the hooks, so its rule in filter INPUT is refused for the
	// hook, as the kernel's message says.
	hooksFirst := len(tables) > 1
	if hooksFirst {
		if err := checkHooks(w, what, hooks, ruleHooks); err != nil {
			return err
		}
	}
	if len(tables) > 0 {
		ok := false
		for _, t := range tables {
			ok = ok || t == table
		}
		if !ok {
			return &Diag{Pos: w.Pos, Word: w.Text, Fix: "-t " + tables[0], Guess: len(tables) > 1, Msg: fmt.Sprintf("%s is only valid in the %s table, not %s: add -t %s", what, strings.Join(tables, "/"), table, tables[0])}
		}
	}
	if !hooksFirst {
		return checkHooks(w, what, hooks, ruleHooks)
	}
	return nil
}

// withWhy adds an extension's reason for its hook restriction to a
// placement error.
func withWhy(err error, why string) error {
	if d, ok := err.(*Diag); ok && why != "" {
		d.Msg += " (" + why + ")"
	}
	return err
}

// checkHooks refuses an extension used from a hook it does not allow.
func checkHooks(w Word, what string, hooks, ruleHooks ext.HookMask) error {
	if hooks != 0 && ruleHooks != 0 && ruleHooks&^hooks != 0 {
		return &Diag{Pos: w.Pos, Word: w.Text, Msg: fmt.Sprintf("%s cannot be used from %s: only from %s", what, hookList(ruleHooks&^hooks), hookList(hooks))}
	}
	return nil
}

func hookList(m ext.HookMask) string {
	var s []string
	for h := ext.Hook(0); h < ext.NumHooks; h++ {
		if m.Has(h) {
			s = append(s, h.String())
		}
	}
	return strings.Join(s, "/")
}
