package rules

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ipsift/ipsift/ext"
)

// This file loads the extensions a rule names (-m, -j) and hands each
// of their options to its parser, with the checks xtables makes first
// (inversion, repetition, exclusion).

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
