package rules

import (
	"fmt"
	"strings"

	"github.com/ipsift/ipsift/ext"
)

// Apply carries out a parsed command on the ruleset. It works on a copy
// and replaces the ruleset's tables only when the whole command
// succeeded, so a failing command changes nothing. Listing commands (-L,
// -S) change nothing and are left to the printers.
func (rs *Ruleset) Apply(c *Command) error {
	if c.Skipped {
		return nil
	}
	if rs.Legacy {
		// iptables-legacy creates the table when it first reads it,
		// before the command can fail.
		rs.EnsureTable(c.Table)
	}
	work := rs.Clone()
	if err := work.apply(c); err != nil {
		return err
	}
	if err := work.Validate(c.Table); err != nil {
		if d, ok := err.(*Diag); ok && d.Pos.Line == 0 {
			d.Pos = c.Pos
		}
		return err
	}
	rs.Tables = work.Tables
	return nil
}

func (rs *Ruleset) chainErr(c *Command, name string, t *Table) error {
	msg := fmt.Sprintf("chain %q does not exist in table %s", name, t.Name)
	pos := c.Pos
	if name == c.Chain && c.ChainPos.Line != 0 {
		pos = c.ChainPos
	}
	for _, r := range c.Rules {
		if r.Verdict == name && r.TargetPos.Line != 0 {
			pos = r.TargetPos
		}
	}
	d := &Diag{Pos: pos, Word: name, Msg: msg}
	var names []string
	for _, ch := range t.Chains {
		names = append(names, ch.Name)
	}
	if s := suggest(name, dropNames(names, func(s string) bool { return jumpsReach(t, c.Rules, s) })); s != "" {
		d.Msg += fmt.Sprintf(" (did you mean %s?)", s)
		d.Fix, d.Guess = s, true
	} else if isBuiltinOfAny(name) {
		var in []string
		for _, tn := range TableNames {
			if isBuiltinOf(tn, name) {
				in = append(in, tn)
			}
		}
		// A how-to's PREROUTING or POSTROUTING rule without -t is nearly
		// always meant for nat; a NAT target settles it.
		pick := in[0]
		for _, tn := range in {
			if tn == "nat" {
				pick = tn
			}
		}
		// Certain when only one table has the chain or a target settles it.
		d.Guess = len(in) > 1
		for _, r := range c.Rules {
			if r.TType != nil && len(r.TType.Tables) > 0 {
				pick, d.Guess = r.TType.Tables[0], len(r.TType.Tables) > 1
			}
		}
		d.Msg += fmt.Sprintf("; %s is a built-in chain of the %s table: add -t %s", name, strings.Join(in, "/"), pick)
		d.Fix = "-t " + pick
	} else {
		d.Msg += fmt.Sprintf("; create it first with -N %s", name)
		d.Assume = "-N " + name
	}
	return d
}

// dropNames returns the candidate names for which drop is false (a
// suggestion must not be one that would itself be wrong).
func dropNames(cands []string, drop func(string) bool) []string {
	var out []string
	for _, s := range cands {
		if !drop(s) {
			out = append(out, s)
		}
	}
	return out
}

// jumpsReach reports whether one of the rules, appended to chain name,
// would close a jump loop: a rule jumping to name itself or to a chain
// from which name is reached.
func jumpsReach(t *Table, rs []*Rule, name string) bool {
	for _, r := range rs {
		if (r.IsJump() || r.Goto) && (r.Verdict == name || reaches(t, r.Verdict, name)) {
			return true
		}
	}
	return false
}

// reaches reports whether chain to is reached from chain from through
// the table's jumps and gotos (from itself included).
func reaches(t *Table, from, to string) bool {
	seen := map[string]bool{}
	var walk func(name string) bool
	walk = func(name string) bool {
		if name == to {
			return true
		}
		if seen[name] {
			return false
		}
		seen[name] = true
		ch := t.Chain(name)
		if ch == nil {
			return false
		}
		for _, r := range ch.Rules {
			if (r.IsJump() || r.Goto) && walk(r.Verdict) {
				return true
			}
		}
		return false
	}
	return walk(from)
}

func isBuiltinOfAny(chain string) bool {
	for _, tn := range TableNames {
		if isBuiltinOf(tn, chain) {
			return true
		}
	}
	return false
}

// createsTable reports whether the command brings its table into being
// with the nf_tables backend (probed on the kernel): a command naming a
// chain to add to, change or flush, or creating one. -F, -X and -Z
// without a chain and the listings leave a missing table missing.
func createsTable(c *Command) bool {
	switch c.Kind {
	case CmdAppend, CmdInsert, CmdReplace, CmdDelete, CmdDeleteNum, CmdPolicy, CmdNewChain:
		return true
	case CmdFlush:
		return c.Chain != ""
	}
	return false
}

func (rs *Ruleset) apply(c *Command) error {
	if BuiltinChains(c.Table) == nil {
		return &Diag{Pos: c.Pos, Msg: fmt.Sprintf("table %q does not exist", c.Table)}
	}
	t := rs.Table(c.Table)
	switch {
	case t != nil:
	case rs.Legacy || createsTable(c):
		t = rs.EnsureTable(c.Table)
	case (c.Kind == CmdZero || c.Kind == CmdZeroNum) && c.Chain != "":
		return &Diag{Pos: c.Pos, Word: c.Chain, Msg: fmt.Sprintf("no chain %s: table %s does not exist yet, and -Z does not create it (a rule, -P, -N or -F %s would)", c.Chain, c.Table, c.Chain)}
	default:
		// The command reads the table as empty and creates nothing.
		t = New().EnsureTable(c.Table)
	}
	var ch *Chain
	needChain := func() error {
		ch = t.Chain(c.Chain)
		if ch == nil {
			return rs.chainErr(c, c.Chain, t)
		}
		return nil
	}
	checkRules := func() error {
		for _, r := range c.Rules {
			if r.IsJump() || r.Goto {
				target := t.Chain(r.Verdict)
				if target == nil {
					if r.Goto {
						return rs.chainErr(c, r.Verdict, t)
					}
					pos := c.Pos
					if r.TargetPos.Line != 0 {
						pos = r.TargetPos
					}
					if msg := removedTargetMessage(r.Verdict); msg != "" {
						return &Diag{Pos: pos, Word: r.Verdict, Msg: msg + fmt.Sprintf(" (and there is no chain %s in table %s)", r.Verdict, t.Name)}
					}
					d := &Diag{Pos: pos, Word: r.Verdict, Msg: fmt.Sprintf("-j %s: no such target, and no chain of that name in table %s", r.Verdict, t.Name)}
					cands := append(ext.TargetNames(rs.Family), "ACCEPT", "DROP", "RETURN", "QUEUE")
					for _, ch := range t.Chains {
						if !ch.Builtin {
							cands = append(cands, ch.Name)
						}
					}
					// Never suggest a jump that would loop back to this chain.
					cands = dropNames(cands, func(s string) bool { return s == c.Chain || reaches(t, s, c.Chain) })
					if s := suggest(r.Verdict, cands); s != "" {
						d.Msg += fmt.Sprintf(" (did you mean %s?)", s)
						d.Fix, d.Guess = s, true
					} else {
						d.Msg += fmt.Sprintf("; create the chain first with -N %s", r.Verdict)
						d.Assume = "-N " + r.Verdict
					}
					return d
				}
				if target.Builtin {
					return &Diag{Pos: c.Pos, Word: r.Verdict, Msg: fmt.Sprintf("cannot jump to the built-in chain %s", r.Verdict)}
				}
			}
		}
		return nil
	}
	switch c.Kind {
	case CmdAppend:
		if err := needChain(); err != nil {
			return err
		}
		if err := checkRules(); err != nil {
			return err
		}
		ch.Rules = append(ch.Rules, c.Rules...)
	case CmdInsert:
		if err := needChain(); err != nil {
			return err
		}
		if err := checkRules(); err != nil {
			return err
		}
		if c.RuleNum > len(ch.Rules)+1 {
			return &Diag{Pos: c.Pos, Msg: fmt.Sprintf("index of insertion too big: %s has %d rules", ch.Name, len(ch.Rules))}
		}
		// iptables inserts the rules of an address list one by one at
		// the same position, so they end up in reverse order (both
		// backends; see TestKernelAddressLists).
		at := c.RuleNum - 1
		rules := append([]*Rule{}, ch.Rules[:at]...)
		for i := len(c.Rules) - 1; i >= 0; i-- {
			rules = append(rules, c.Rules[i])
		}
		ch.Rules = append(rules, ch.Rules[at:]...)
	case CmdReplace:
		if err := needChain(); err != nil {
			return err
		}
		if err := checkRules(); err != nil {
			return err
		}
		if len(c.Rules) != 1 {
			return &Diag{Pos: c.Pos, Msg: "-R replaces one rule: give one source and one destination address"}
		}
		if c.RuleNum > len(ch.Rules) {
			return &Diag{Pos: c.Pos, Msg: fmt.Sprintf("index of replacement too big: %s has %d rules", ch.Name, len(ch.Rules))}
		}
		ch.Rules[c.RuleNum-1] = c.Rules[0]
	case CmdDelete, CmdCheck:
		if err := needChain(); err != nil {
			return err
		}
		// An address list deletes one rule per address, all or none:
		// iptables commits only when every deletion found its rule.
		kept := ch.Rules
		for _, r := range c.Rules {
			i := findRule(kept, r)
			if i < 0 {
				if c.Kind == CmdCheck {
					return &Diag{Pos: c.Pos, Msg: "bad rule (does a matching rule exist in that chain?)"}
				}
				return &Diag{Pos: c.Pos, Msg: fmt.Sprintf("bad rule (does a matching rule exist in that chain?): no rule %q in %s", r.Spec(), ch.Name)}
			}
			if c.Kind == CmdDelete {
				kept = append(kept[:i:i], kept[i+1:]...)
			}
		}
		ch.Rules = kept
	case CmdDeleteNum:
		if err := needChain(); err != nil {
			return err
		}
		hi := c.RuleNumEnd
		if hi == 0 {
			hi = len(ch.Rules)
		}
		if c.RuleNum > len(ch.Rules) || hi > len(ch.Rules) || c.RuleNum > hi {
			return &Diag{Pos: c.Pos, Msg: fmt.Sprintf("index of deletion too big: %s has %d rules", ch.Name, len(ch.Rules))}
		}
		ch.Rules = append(ch.Rules[:c.RuleNum-1:c.RuleNum-1], ch.Rules[hi:]...)
	case CmdNewChain:
		if t.Chain(c.Chain) != nil {
			return &Diag{Pos: c.Pos, Word: c.Chain, Msg: fmt.Sprintf("chain %q already exists", c.Chain)}
		}
		t.addChain(&Chain{Name: c.Chain, Pos: c.Pos})
	case CmdDeleteChain:
		var del []*Chain
		if c.Chain == "" {
			for _, ch := range t.Chains {
				if !ch.Builtin {
					del = append(del, ch)
				}
			}
		} else {
			if err := needChain(); err != nil {
				return err
			}
			if ch.Builtin {
				return &Diag{Pos: c.Pos, Word: c.Chain, Msg: fmt.Sprintf("cannot delete built-in chain %s", c.Chain)}
			}
			del = []*Chain{ch}
		}
		for _, d := range del {
			if len(d.Rules) > 0 && c.Chain != "" {
				return &Diag{Pos: c.Pos, Word: d.Name, Msg: fmt.Sprintf("chain %s is not empty: flush it first with -F %s", d.Name, d.Name)}
			}
		}
		for _, d := range del {
			for _, other := range t.Chains {
				if isIn(other, del) {
					continue
				}
				for _, r := range other.Rules {
					if (r.IsJump() || r.Goto) && r.Verdict == d.Name {
						return &Diag{Pos: c.Pos, Word: d.Name, Msg: fmt.Sprintf("chain %s is still referenced from %s", d.Name, other.Name)}
					}
				}
			}
		}
		var keep []*Chain
		for _, ch := range t.Chains {
			if !isIn(ch, del) {
				keep = append(keep, ch)
			}
		}
		t.Chains = keep
		t.reindex()
	case CmdRenameChain:
		if err := needChain(); err != nil {
			return err
		}
		if ch.Builtin {
			return &Diag{Pos: c.Pos, Word: c.Chain, Msg: fmt.Sprintf("cannot rename built-in chain %s", c.Chain)}
		}
		if t.Chain(c.NewName) != nil {
			return &Diag{Pos: c.Pos, Word: c.NewName, Msg: fmt.Sprintf("chain %q already exists", c.NewName)}
		}
		for _, other := range t.Chains {
			for _, r := range other.Rules {
				if (r.IsJump() || r.Goto) && r.Verdict == ch.Name {
					r.Verdict = c.NewName
				}
			}
		}
		ch.Name = c.NewName
		t.reindex()
	case CmdPolicy:
		if err := needChain(); err != nil {
			return err
		}
		if !ch.Builtin {
			return &Diag{Pos: c.Pos, Word: c.Chain, Msg: fmt.Sprintf("bad built-in chain name %s: only built-in chains have a policy", c.Chain)}
		}
		if c.Policy != "ACCEPT" && c.Policy != "DROP" {
			d := &Diag{Pos: c.Pos, Word: c.Policy, Msg: fmt.Sprintf("bad policy name %q: a policy is ACCEPT or DROP", c.Policy)}
			if s := suggest(c.Policy, []string{"ACCEPT", "DROP"}); s != "" {
				d.Fix, d.Guess = s, true
			}
			return d
		}
		ch.Policy, ch.PolicyPos = c.Policy, c.Pos
		if c.SetCounters != nil {
			ch.Counters = *c.SetCounters
		}
	case CmdFlush:
		if c.Chain == "" {
			for _, ch := range t.Chains {
				ch.Rules = nil
			}
			return nil
		}
		if err := needChain(); err != nil {
			return err
		}
		ch.Rules = nil
	case CmdZero, CmdZeroNum:
		var chains []*Chain
		if c.Chain == "" {
			chains = t.Chains
		} else {
			if err := needChain(); err != nil {
				return err
			}
			chains = []*Chain{ch}
		}
		for _, ch := range chains {
			if c.Kind == CmdZeroNum {
				if c.RuleNum > len(ch.Rules) {
					return &Diag{Pos: c.Pos, Msg: fmt.Sprintf("index of rule too big: %s has %d rules", ch.Name, len(ch.Rules))}
				}
				ch.Rules[c.RuleNum-1].Counters = Counters{}
				continue
			}
			ch.Counters = Counters{}
			for _, r := range ch.Rules {
				r.Counters = Counters{}
			}
		}
	case CmdList, CmdListRules:
		if c.Chain != "" {
			return needChain()
		}
	}
	return nil
}

func isIn(c *Chain, list []*Chain) bool {
	for _, x := range list {
		if x == c {
			return true
		}
	}
	return false
}

// findRule returns the index of the first of rules equal to r (same
// specification, counters aside), or -1.
func findRule(rules []*Rule, r *Rule) int {
	spec := r.Spec()
	for i, x := range rules {
		if x.Spec() == spec {
			return i
		}
	}
	return -1
}

// Validate checks a table as the kernel does when it is replaced: no
// jump loops, and every extension used only from hooks it allows, where
// a user chain's hooks are those of every built-in chain that reaches it
// (mark_source_chains and xt_check_match in the kernel).
func (rs *Ruleset) Validate(table string) error {
	t := rs.Table(table)
	if t == nil {
		return nil
	}
	hooks := map[*Chain]ext.HookMask{}
	var visit func(ch *Chain, h ext.HookMask, path []*Chain) error
	visit = func(ch *Chain, h ext.HookMask, path []*Chain) error {
		for _, p := range path {
			if p == ch {
				var names []string
				for _, q := range path {
					names = append(names, q.Name)
				}
				return &Diag{Pos: ch.Pos, Word: ch.Name, Msg: fmt.Sprintf("jump loop: %s -> %s", strings.Join(names, " -> "), ch.Name)}
			}
		}
		if hooks[ch]&h == h && len(path) > 0 {
			return nil
		}
		hooks[ch] |= h
		path = append(path, ch)
		for _, r := range ch.Rules {
			if r.IsJump() || r.Goto {
				if next := t.Chain(r.Verdict); next != nil {
					if err := visit(next, h, path); err != nil {
						return err
					}
				}
			}
		}
		return nil
	}
	for _, ch := range t.Chains {
		if h, ok := HookOf(ch.Name); ok && ch.Builtin {
			if err := visit(ch, 1<<h, nil); err != nil {
				return err
			}
		}
	}
	for _, ch := range t.Chains {
		h := hooks[ch]
		if ch.Builtin || h == 0 {
			continue
		}
		for _, r := range ch.Rules {
			w := Word{Pos: r.Pos}
			for _, m := range r.Matches {
				hooks, why := ext.AllowedHooks(m.Type.Hooks, m.M)
				if err := checkPlacement(w, "-m "+m.Type.Name, 0, nil, hooks, r, t.Name, h); err != nil {
					d := withWhy(err, why).(*Diag)
					d.Msg += fmt.Sprintf(" (chain %s is reached from %s)", ch.Name, hookList(h))
					return d
				}
			}
			if r.TType != nil {
				if err := checkPlacement(w, "-j "+r.TType.Name, 0, nil, r.TType.Hooks, r, t.Name, h); err != nil {
					d := err.(*Diag)
					d.Msg += fmt.Sprintf(" (chain %s is reached from %s)", ch.Name, hookList(h))
					return d
				}
			}
		}
	}
	return nil
}
