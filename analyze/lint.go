// Package analyze finds what a ruleset does not do as written: rules that
// can never match because earlier rules decide every packet they could
// match (shadowed rules, in their own table or, through drops, in the
// tables and hooks before them), rate limits that never apply to part of their
// traffic, and user chains that nothing jumps to.
//
// The analysis is symbolic. A packet is a point in a space of header and
// state fields (addresses, interfaces, protocol, ports, TCP flags, ICMP
// type and code, conntrack state, fragment, mark, length, TTL); a rule's
// match is a region of that space, a union of boxes. Walking each built-in
// chain of each table from its hook, the analysis keeps the region of
// packets that may still arrive at each rule: a rule that decides (ACCEPT,
// DROP, REJECT, a jump to a chain that decides, ...) removes what it surely
// matches; jumps, gotos, RETURN and chain ends are followed as the kernel
// follows them. A rule is shadowed when, on every way to it, no packet
// that may arrive can match it.
//
// Matches are read from their canonical iptables-save text, never from an
// extension's Go types, so every extension that prints what iptables-save
// prints is understood. Matches the model cannot express (rate limits,
// statistic, recent, and matches on fields outside the model) are opaque:
// such a rule may or may not match a packet in its region, so it never
// shadows another rule but can itself be shadowed.
//
// The analysis over-approximates what arrives and under-approximates what
// is decided, so a warning is always true of the ruleset as the model
// sees it. When the regions grow too large (past 4096 boxes) it goes on
// with a coarser region that holds more packets, and past a work budget
// it drops a table's shadowing findings: either way it may miss findings,
// says so in a note, and never reports something wrong. Rulesets of
// thousands of rules take a second or a few (see the benchmarks).
//
// Use:
//
//	diags := analyze.Lint(rs)
//	for _, d := range diags {
//		fmt.Println(d.Error())
//	}
package analyze

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/ipsift/ipsift/rules"
)

// Lint analyses every table of rs and returns its findings, each at the
// position of the rule (or chain) it is about, with Word the rule's
// target (or "-A" for a rule without one):
//
//   - warnings for shadowed rules, naming the earlier rules that decide
//     every packet they could match;
//   - warnings for rules whose every packet a DROP, REJECT or DROP
//     policy earlier on the packet's way through the hooks and tables
//     surely drops, naming those (crosstable.go);
//   - warnings for rate-limited rules (-m limit, -m hashlimit) that an
//     earlier unlimited rule with the same verdict bypasses for part of
//     their traffic, or whose excess packets meet the same verdict anyway;
//   - notes for user chains that no rule jumps to, or that no packet can
//     enter, and for chains too complex to analyse fully.
//
// Findings come sorted by position. Lint does not modify rs.
func Lint(rs *rules.Ruleset) rules.Diags {
	a := newAnalyzer(rs, newIfaceAtoms([]*rules.Ruleset{rs}))
	complete := map[*rules.Table]bool{}
	for _, t := range rs.Tables {
		complete[t] = a.table(t)
	}
	a.crossTable(complete)
	slices.SortStableFunc(a.diags, func(x, y *rules.Diag) int {
		return cmp.Or(cmp.Compare(x.Pos.File, y.Pos.File), cmp.Compare(x.Pos.Line, y.Pos.Line), cmp.Compare(x.Pos.Col, y.Pos.Col))
	})
	return a.diags
}

// analyzer holds one Lint run.
type analyzer struct {
	rs         *rules.Ruleset
	atoms      *ifaceAtoms
	addrs      *addrAtoms // nil for IPv4
	chainInfos map[*rules.Chain][]*ruleInfo
	diags      rules.Diags
	// explainLeft is what remains of totalExplainWork.
	explainLeft int
	conds       *condReader
}

// newAnalyzer reads every rule of rs into the model, with the interface
// atoms given (those of rs, or of rs and its other family's twin).
func newAnalyzer(rs *rules.Ruleset, atoms *ifaceAtoms) *analyzer {
	a := &analyzer{
		rs:         rs,
		atoms:      atoms,
		addrs:      newAddrAtoms(rs),
		chainInfos: map[*rules.Chain][]*ruleInfo{},

		explainLeft: totalExplainWork,
	}
	for _, t := range rs.Tables {
		a.prepare(t)
	}
	return a
}

// prepare reads every rule of table t into the model.
func (a *analyzer) prepare(t *rules.Table) {
	if a.conds == nil {
		a.conds = newCondReader(a.atoms, a.addrs, a.rs.Legacy)
	}
	for _, ch := range t.Chains {
		infos := make([]*ruleInfo, len(ch.Rules))
		for i, r := range ch.Rules {
			c, opaque := a.conds.rule(r)
			ri := &ruleInfo{r: r, table: t, chain: ch, num: i + 1, c: c, opaque: opaque, act: classify(r, t)}
			for _, m := range r.Matches {
				if m.Type.Name == "limit" || m.Type.Name == "hashlimit" {
					ri.limited = true
				}
			}
			infos[i] = ri
		}
		a.chainInfos[ch] = infos
	}
}

// table analyses one table from each of its hooks and reports; it says
// whether the walk finished within its budget.
func (a *analyzer) table(t *rules.Table) bool {
	tr := &tableRun{a: a, t: t, w: work{left: tableWork}, onStack: map[*rules.Chain]bool{}, widened: map[*ruleInfo]bool{}, widenedChain: map[*rules.Chain]bool{}, record: a.mayBeKilled(t)}
	complete := true
	for _, ch := range t.Chains {
		if !ch.Builtin {
			continue
		}
		if _, ok := tr.walk(ch, universe(), nil, 0); !ok {
			complete = false
			break
		}
	}
	if !complete {
		// Out of budget: nothing about shadowing in this table can be
		// trusted, so say only that.
		d := &rules.Diag{Severity: rules.SevNote, Word: t.Name,
			Msg: fmt.Sprintf("table %s is too complex for the shadowing analysis: its rules were not checked", t.Name)}
		for _, ch := range t.Chains {
			if len(ch.Rules) > 0 {
				d.Pos, d.Word = ch.Rules[0].Pos, word(ch.Rules[0])
				break
			}
		}
		a.diags = append(a.diags, d)
	} else {
		for ri := range tr.widened {
			a.diags = append(a.diags, &rules.Diag{Pos: ri.r.Pos, Severity: rules.SevNote, Word: word(ri.r),
				Msg: fmt.Sprintf("the shadowing analysis simplified at %s: too many cases to follow (over %d boxes); from here on it may miss shadowed rules", ref(ri), maxBoxes)})
		}
		a.unusedChains(t)
	}
	for _, ch := range t.Chains {
		for _, ri := range a.chainInfos[ch] {
			if complete && ri.visited && !ri.mayMatch && !ri.unknown {
				a.shadowed(ri)
			}
			if ri.limited {
				a.limitChecks(ri)
			}
		}
	}
	return complete
}

// shadowed reports a rule that no arriving packet can match.
func (a *analyzer) shadowed(ri *ruleInfo) {
	d := &rules.Diag{Pos: ri.r.Pos, Severity: rules.SevWarning, Word: word(ri.r), Fails: true}
	if ri.c.upper.empty() {
		d.Msg = "never matches anything: its own conditions exclude each other"
		a.diags = append(a.diags, d)
		return
	}
	type contrib struct {
		ri    *ruleInfo
		entry bool
	}
	var list []contrib
	seen := map[contrib]bool{}
	w := &work{left: min(explainWork, a.explainLeft)}
	complete := true
	for _, ctx := range ri.ctxs {
		complete = explain(ctx, ri.num-1, ri.c.upper, w, func(o *ruleInfo, entry bool) {
			k := contrib{o, entry}
			if !seen[k] {
				seen[k] = true
				list = append(list, k)
			}
		})
		if !complete {
			break
		}
	}
	a.explainLeft -= min(explainWork, a.explainLeft) - max(w.left, 0)
	if !complete {
		d.Msg = "never matches anything: " + a.coverMsg(ri)
		a.diags = append(a.diags, d)
		return
	}
	var decided, entries []*ruleInfo
	for _, c := range list {
		if c.entry {
			entries = append(entries, c.ri)
		} else {
			decided = append(decided, c.ri)
		}
	}
	var parts []string
	if main := a.covering(ri); main != nil && len(decided) > 1 && slices.Contains(decided, main) {
		// One rule takes them all, but earlier rules took some first:
		// name the one a reader looks for first, then the others.
		var others []string
		for _, o := range decided {
			if o != main {
				others = append(others, clause(o))
			}
		}
		parts = append(parts, "every packet it could match is already "+clause(main)+"; some of them earlier: "+limitList(others, "; "))
	} else if len(decided) > 0 {
		verbs := map[string]bool{}
		for _, o := range decided {
			verbs[verb(o)] = true
		}
		if v := verb(decided[0]); len(verbs) == 1 && v != "" {
			parts = append(parts, "every packet it could match is already "+v+" by "+refList(decided))
		} else {
			var clauses []string
			for _, o := range decided {
				clauses = append(clauses, clause(o))
			}
			parts = append(parts, "every packet it could match is handled before it: "+limitList(clauses, "; "))
		}
	}
	for _, e := range entries {
		parts = append(parts, fmt.Sprintf("no packet it could match enters %s by %s", ri.chain.Name, ref(e)))
	}
	if len(parts) == 0 {
		// Every way to the rule started with nothing left to match.
		parts = append(parts, "no packet it could match ever arrives at it")
	}
	d.Msg = "never matches anything: " + strings.Join(parts, "; and ")
	a.diags = append(a.diags, d)
}

// Explaining a shadowed rule exactly replays the walk for its packets;
// these cap the work per rule and per Lint, past which messages name only
// the first rule that covers it all (see cover). (Variables so that tests
// can force the fallback.)
var (
	explainWork      = 200_000
	totalExplainWork = 5_000_000
)

// covering returns the earlier rule that alone takes every packet the
// shadowed rule could match, on every way to it; nil if there is none.
func (a *analyzer) covering(ri *ruleInfo) *ruleInfo {
	var main *ruleInfo
	for _, ctx := range ri.ctxs {
		o := cover(ctx, ri.num-1, ri.c.upper)
		if o == nil || main != nil && o != main {
			return nil
		}
		main = o
	}
	return main
}

// coverMsg explains a shadowed rule cheaply, for when the exact
// explanation costs too much: it names the earlier rule that takes all
// of its packets, if there is one.
func (a *analyzer) coverMsg(ri *ruleInfo) string {
	if o := a.covering(ri); o != nil {
		return "every packet it could match is already " + clause(o) + ", or by an earlier rule"
	}
	return "every packet it could match is already handled by earlier rules (too many to name)"
}

// verb says what a deciding rule does to a packet, as a participle, or ""
// when one word does not say it.
func verb(o *ruleInfo) string {
	if o.act.kind != kTerminal {
		return ""
	}
	switch o.r.Verdict {
	case "ACCEPT":
		return "accepted"
	case "DROP":
		return "dropped"
	case "REJECT":
		return "rejected"
	case "QUEUE", "NFQUEUE":
		return "queued"
	case "DNAT", "SNAT", "MASQUERADE", "REDIRECT", "NETMAP":
		return "translated"
	}
	return ""
}

// clause says what an earlier rule does with the packets it takes.
func clause(o *ruleInfo) string {
	if v := verb(o); v != "" {
		return v + " by " + ref(o)
	}
	switch o.act.kind {
	case kJump:
		return "decided in chain " + o.act.chain.Name + ", where " + ref(o) + " sends them"
	case kGoto:
		return "sent for good to chain " + o.act.chain.Name + " by " + ref(o)
	case kReturn:
		if o.chain.Builtin {
			return fmt.Sprintf("handed to the %s policy (%s) by %s", o.chain.Name, o.chain.Policy, ref(o))
		}
		return "returned from " + o.chain.Name + " by " + ref(o)
	case kContinue, kMaybe:
		// Not a decision: the rule rewrote the packets (MARK, CT
		// --notrack, ...) so that they no longer fit.
		if o.act.setMark != nil {
			return fmt.Sprintf("given mark 0x%x by %s", *o.act.setMark, ref(o))
		}
		return "rewritten by " + ref(o)
	}
	return "decided by " + ref(o)
}

// ref names a rule by its chain, number and position, with its text.
func ref(o *ruleInfo) string {
	// Kept: in a big ruleset one rule shadows thousands, and each of
	// their messages names it.
	if o.refText == "" {
		o.refText = fmt.Sprintf("%s rule %d (%s) `%s`", chainLabel(o.table, o.chain), o.num, posLabel(o.r.Pos), o.r.Spec())
	}
	return o.refText
}

func refList(os []*ruleInfo) string {
	var refs []string
	for _, o := range os {
		refs = append(refs, ref(o))
	}
	return limitList(refs, " and ")
}

// limitList joins at most five items and says how many more there are.
func limitList(items []string, sep string) string {
	if len(items) > 5 {
		return strings.Join(items[:5], sep) + fmt.Sprintf("%s%d more rules", sep, len(items)-5)
	}
	return strings.Join(items, sep)
}

func chainLabel(t *rules.Table, c *rules.Chain) string {
	if t.Name == "filter" {
		return c.Name
	}
	return t.Name + " " + c.Name
}

// posLabel is FILE:LINE, the column being the rule's start anyway.
func posLabel(p rules.Pos) string {
	p.Col = 0
	if s := p.String(); s != "" {
		return s
	}
	return "no position"
}

// word is the word a rule's finding is about: its target.
func word(r *rules.Rule) string {
	if r.Verdict != "" {
		return r.Verdict
	}
	return "-A"
}

// unusedChains notes the user chains of t that no packet can enter.
func (a *analyzer) unusedChains(t *rules.Table) {
	// Which chains jump to which, and which chains a hook reaches.
	callers := map[*rules.Chain][]*ruleInfo{}
	for _, ch := range t.Chains {
		for _, ri := range a.chainInfos[ch] {
			if c := ri.act.chain; c != nil {
				callers[c] = append(callers[c], ri)
			}
		}
	}
	reached := map[*rules.Chain]bool{}
	for _, ch := range t.Chains {
		if ch.Builtin {
			a.reach(ch, reached, func(*ruleInfo) {})
		}
	}
	for _, ch := range t.Chains {
		if ch.Builtin {
			continue
		}
		d := &rules.Diag{Pos: ch.Pos, Severity: rules.SevNote, Word: ch.Name}
		switch {
		case len(callers[ch]) == 0:
			d.Msg = fmt.Sprintf("chain %s is never used: no rule jumps to it", ch.Name)
		case !reached[ch]:
			var from []string
			for _, ri := range callers[ch] {
				if !slices.Contains(from, ri.chain.Name) {
					from = append(from, ri.chain.Name)
				}
			}
			d.Msg = fmt.Sprintf("chain %s is never used: only rules of %s jump to it, and no built-in chain leads there", ch.Name, strings.Join(from, ", "))
		default:
			entered, unknown := false, false
			for _, ri := range callers[ch] {
				entered = entered || ri.mayMatch
				unknown = unknown || ri.unknown
			}
			if entered || unknown {
				continue
			}
			d.Msg = fmt.Sprintf("no packet ever enters chain %s: every rule that jumps to it never matches", ch.Name)
		}
		a.diags = append(a.diags, d)
	}
}

// reach calls f for each rule of ch and of every chain not in seen that
// its rules jump or go to, adding each chain it visits to seen.
func (a *analyzer) reach(ch *rules.Chain, seen map[*rules.Chain]bool, f func(*ruleInfo)) {
	if seen[ch] {
		return
	}
	seen[ch] = true
	for _, ri := range a.chainInfos[ch] {
		f(ri)
		if ri.act.chain != nil {
			a.reach(ri.act.chain, seen, f)
		}
	}
}

// limitChecks looks for rate limits that do not limit what they seem to.
func (a *analyzer) limitChecks(ri *ruleInfo) {
	if ri.act.kind != kTerminal && ri.act.kind != kReturn {
		// A limit on LOG or a jump limits something else than a verdict.
		return
	}
	if len(ri.c.upper) != 1 {
		return
	}
	rb := ri.c.upper[0]
	infos := a.chainInfos[ri.chain]
	// An earlier unlimited rule with the same verdict that takes a special
	// case of this rule's traffic: that part is never limited. "Special
	// case" means it is at least as narrow in every field this rule
	// restricts, so a rule that merely overlaps (ACCEPT everything on lo,
	// ACCEPT ESTABLISHED) is not taken for a mistake.
	for _, o := range infos[:ri.num-1] {
		if o.act.kind != ri.act.kind || len(o.opaque) > 0 || o.limited || !sameVerdict(o.r, ri.r) {
			continue
		}
		for _, ob := range o.c.lower {
			p := ob.meet(rb)
			if p == nil || !narrower(ob, rb) {
				continue
			}
			a.diags = append(a.diags, &rules.Diag{Pos: ri.r.Pos, Severity: rules.SevWarning, Word: word(ri.r), Fails: true,
				Msg: fmt.Sprintf("the limit never bites for %s: they are %s by %s before this limit applies",
					describe(p, a.atoms, a.addrs), participle(ri), ref(o))})
			break
		}
	}
	a.excessChecks(ri, infos)
}

// narrower reports whether box o is within box r in every dimension that
// r restricts.
func narrower(o, r *box) bool {
	for d := range r {
		if !r[d].isFull(d) && !o[d].subsetOf(r[d], d) {
			return false
		}
	}
	return true
}

// participle says what a rule's verdict does, for limit messages.
func participle(ri *ruleInfo) string {
	if v := verb(ri); v != "" {
		return v
	}
	if ri.act.kind == kReturn {
		return "returned"
	}
	return "decided (" + ri.r.Verdict + ")"
}

// excessChecks finds a limit whose excess packets (those over the rate,
// which go on to the next rules) meet the same verdict anyway, so that
// the limit changes nothing. It looks only at the rule's own chain and
// stops, saying nothing, at anything it cannot be sure of.
func (a *analyzer) excessChecks(ri *ruleInfo, infos []*ruleInfo) {
	w := &work{left: 1 << 20}
	x := ri.c.upper
	var takers []*ruleInfo
	for _, o := range infos[ri.num:] {
		if x.empty() {
			break
		}
		if !x.meets(o.c.upper) {
			continue
		}
		switch {
		case o.act.kind == kContinue && o.act.mut == 0 && o.act.setMark == nil:
			continue
		case o.act.kind == ri.act.kind && sameVerdict(o.r, ri.r):
			if o.c.lower.empty() {
				continue
			}
			var ok bool
			if x, ok = x.minus(o.c.lower, w); !ok {
				return
			}
			takers = append(takers, o)
			continue
		}
		return // a rule that may treat the excess differently
	}
	var by []string
	for _, o := range takers {
		by = append(by, ref(o))
	}
	if !x.empty() {
		if !ri.chain.Builtin || ri.act.kind != kTerminal || ri.r.Verdict != ri.chain.Policy {
			return
		}
		by = append(by, fmt.Sprintf("the %s policy %s", chainLabel(ri.table, ri.chain), ri.chain.Policy))
	}
	a.diags = append(a.diags, &rules.Diag{Pos: ri.r.Pos, Severity: rules.SevWarning, Word: word(ri.r), Fails: true,
		Msg: fmt.Sprintf("the limit never bites: packets over the limit are %s anyway by %s", participle(ri), limitList(by, " and "))})
}

// itoa is strconv.Itoa for uint32s.
func itoa(v uint32) string { return strconv.FormatUint(uint64(v), 10) }
