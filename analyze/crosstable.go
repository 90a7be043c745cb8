package analyze

import (
	"fmt"
	"slices"

	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/rules"
)

// Dead rules across tables. A packet meets the tables of a hook in the
// kernel's order, and the hooks along its way: every packet in INPUT or
// FORWARD went through PREROUTING first, whatever the routing decision
// (a DNAT can change which of the two it takes, but not that it came
// through PREROUTING). A rule earlier on that way that surely drops a
// packet (DROP, REJECT, or a DROP policy; an ACCEPT only ends the
// packet's way through its own table) keeps it from every later rule, so
// a later rule all of whose packets an earlier stage surely drops is
// dead.
//
// Soundness rests on three things, and where one fails no warning is
// given:
//
//   - What surely drops is an under-approximation: a DROP rule of a
//     built-in chain takes the packets it surely matches, less every
//     packet that an earlier rule of that chain may do anything with (a
//     verdict, a jump, a rewrite); a DROP policy takes the packets no
//     rule but pure ones (LOG, ...) may touch. nat chains are never
//     killers: they see only a connection's first packet.
//   - The packet the later rule sees must be the one the earlier rule
//     saw, in every field the drop depends on. Anything that may change
//     such a field between the two makes the killer not count: a rule's
//     target in any table the packet crosses (MARK, CONNMARK, DNAT, SNAT,
//     MASQUERADE, REDIRECT, NETMAP, TTL, CT, a queue's verdict, an
//     unknown target, in the chains themselves or any chain they jump
//     to), the rewrite of every packet of a NATed connection at each nat
//     stage when the ruleset has NAT rules, the conntrack lookup after
//     raw (the state), the TTL decrement before FORWARD, reassembly
//     before INPUT (the length, and the TCP flags a tiny first fragment
//     may not carry), the reroute after mangle and nat OUTPUT (the
//     output interface).
//   - The later rule's packets are what its own table's walk says may
//     arrive at it and match it, from each hook separately; every hook
//     must be covered.
//
// The killers are named in the warning.

// stage is one table's place at one hook.
type stage struct {
	hook  ext.Hook
	table string
}

// hookTables lists the tables at each hook in the kernel's priority
// order (raw -300, mangle -150, nat DNAT -100, filter 0, security 50,
// nat SNAT 100).
var hookTables = [ext.NumHooks][]string{
	ext.PreRouting:  {"raw", "mangle", "nat"},
	ext.LocalIn:     {"mangle", "filter", "security", "nat"},
	ext.Forward:     {"mangle", "filter", "security"},
	ext.LocalOut:    {"raw", "mangle", "nat", "filter", "security"},
	ext.PostRouting: {"mangle", "nat"},
}

// path returns the stages every packet at stage s has passed, in order,
// s last. POSTROUTING is reached from FORWARD and from OUTPUT, so only
// its own tables are on every way to it.
func path(s stage) []stage {
	var out []stage
	if s.hook == ext.LocalIn || s.hook == ext.Forward {
		for _, t := range hookTables[ext.PreRouting] {
			out = append(out, stage{ext.PreRouting, t})
		}
	}
	for _, t := range hookTables[s.hook] {
		out = append(out, stage{s.hook, t})
		if t == s.table {
			return out
		}
	}
	return nil // the table has no such hook
}

// natDims are the fields the conntrack NAT binding may rewrite at a nat
// stage, for any packet of a NATed connection (replies and later
// packets too, which no nat rule sees), with the state's SNAT/DNAT bits,
// the output interface the new destination routes to, and the length a
// helper's payload rewrite (FTP, SIP) changes.
const natDims = 1<<dimSrc | 1<<dimDst | 1<<dimSport | 1<<dimDport | 1<<dimState | 1<<dimOut | 1<<dimLen

// killer is an earlier rule (or policy) and the packets it surely drops.
type killer struct {
	ri    *ruleInfo    // nil for the policy
	table *rules.Table // the policy's
	chain *rules.Chain
	drops region
	reads dimMask // the fields membership in drops depends on
	// parts, when set, makes this the union of a chain's killers: what
	// a chain drops as a whole can depend on fewer fields than what any
	// one of its rules drops (a DROP of some packets and a DROP policy
	// for the rest drop everything, whatever the fields).
	parts []*killer
}

// meeting returns the killers that take some of x: k, or its parts.
func (k *killer) meeting(x region) []*killer {
	if k.parts == nil {
		return []*killer{k}
	}
	var out []*killer
	for _, p := range k.parts {
		if x.meets(p.drops) {
			out = append(out, p)
		}
	}
	return out
}

func (k *killer) name() string {
	if k.ri != nil {
		return ref(k.ri)
	}
	return fmt.Sprintf("the %s policy %s", chainLabel(k.table, k.chain), k.chain.Policy)
}

// mayBeKilled returns the hooks of table t before which some stage may
// drop packets (a DROP or REJECT rule, or a DROP policy, in a built-in
// chain of another stage on the way): only from those do the rules of
// t need to keep what arrives at them.
func (a *analyzer) mayBeKilled(t *rules.Table) ext.HookMask {
	var m ext.HookMask
	for _, name := range rules.BuiltinChains(t.Name) {
		h, _ := rules.HookOf(name)
		p := path(stage{h, t.Name})
		for _, s := range p[:max(len(p)-1, 0)] {
			if a.dropsIn(s) {
				m |= 1 << h
				break
			}
		}
	}
	return m
}

// dropsIn reports whether the built-in chain of stage s may drop: it
// exists outside nat and has a DROP or REJECT rule or a DROP policy.
func (a *analyzer) dropsIn(s stage) bool {
	t := a.rs.Table(s.table)
	if t == nil || s.table == "nat" {
		return false
	}
	ch := t.Chain(s.hook.String())
	if ch == nil {
		return false
	}
	if ch.Policy == "DROP" {
		return true
	}
	for _, r := range ch.Rules {
		if r.Verdict == "DROP" || r.Verdict == "REJECT" {
			return true
		}
	}
	return false
}

// crossRun holds what the cross-table analysis computes once per Lint.
type crossRun struct {
	a        *analyzer
	killers  map[stage][]*killer
	mut      map[stage]dimMask
	natRules bool
}

// crossTable reports the rules that earlier tables or hooks keep every
// packet from. complete says which tables' walks finished.
func (a *analyzer) crossTable(complete map[*rules.Table]bool) {
	cr := &crossRun{a: a, killers: map[stage][]*killer{}, mut: map[stage]dimMask{}}
	if nat := a.rs.Table("nat"); nat != nil {
		for _, ch := range nat.Chains {
			for _, ri := range a.chainInfos[ch] {
				if ri.act.kind == kMaybe || crossMut(ri)&(1<<dimDst|1<<dimSrc) != 0 {
					cr.natRules = true
				}
			}
		}
	}
	for _, t := range a.rs.Tables {
		for _, name := range rules.BuiltinChains(t.Name) {
			h, _ := rules.HookOf(name)
			ch := t.Chain(name)
			if ch == nil {
				continue
			}
			st := stage{h, t.Name}
			cr.mut[st] = cr.stageMut(ch)
			if t.Name != "nat" {
				cr.killers[st] = cr.chainKillers(t, ch)
			}
		}
	}
	for _, t := range a.rs.Tables {
		if !complete[t] {
			continue
		}
		for _, ch := range t.Chains {
			for _, ri := range a.chainInfos[ch] {
				if !ri.mayMatch || ri.unknown {
					continue
				}
				if ks, ok := cr.dead(ri); ok {
					a.crossDead(ri, ks)
				}
			}
		}
	}
}

// stageMut is every field a rule of ch, or of a chain it leads to, may
// rewrite.
func (cr *crossRun) stageMut(ch *rules.Chain) dimMask {
	var m dimMask
	cr.a.reach(ch, map[*rules.Chain]bool{}, func(ri *ruleInfo) { m |= crossMut(ri) })
	return m
}

// crossMut is what a rule's target may rewrite in a packet that goes on
// to later tables: beside what the walk knows (MARK, TTL, CT, ...), the
// NAT targets, which end the packet's way through their own table but
// send it on rewritten, TPROXY's mark, and a queue, whose listener may
// hand back another packet and mark.
func crossMut(ri *ruleInfo) dimMask {
	m := ri.act.mut
	if ri.act.setMark != nil {
		m |= 1 << dimMark
	}
	name := ri.r.Verdict
	if ri.r.TType != nil {
		name = ri.r.TType.Name
	}
	switch name {
	case "DNAT", "SNAT", "MASQUERADE", "REDIRECT", "NETMAP":
		m |= natDims
	case "TPROXY":
		m |= 1 << dimMark
	case "QUEUE", "NFQUEUE":
		m |= allDims
	}
	return m
}

// killMax caps the boxes of the region of packets an earlier rule of a
// chain may touch; past it the chain offers no more killers.
const killMax = 2048

// chainKillers finds the rules of built-in chain ch that surely drop
// packets entering it, and its DROP policy.
func (cr *crossRun) chainKillers(t *rules.Table, ch *rules.Chain) []*killer {
	var out []*killer
	w := &work{left: 1 << 22}
	var touched region // packets an earlier rule may do something with
	for _, ri := range cr.a.chainInfos[ch] {
		if ri.act.kind == kContinue && crossMut(ri) == 0 {
			continue // LOG, a rule without a target, ...: changes nothing
		}
		if ri.act.kind == kTerminal && (ri.r.Verdict == "DROP" || ri.r.Verdict == "REJECT") && !ri.c.lower.empty() {
			drops, ok := ri.c.lower.minus(touched, w)
			if !ok {
				return out
			}
			if !drops.empty() {
				out = append(out, &killer{ri: ri, table: t, chain: ch, drops: drops, reads: restricted(drops)})
			}
		}
		var ok bool
		if touched, ok = touched.plus(ri.c.upper, w); !ok || len(touched) > killMax {
			return out
		}
	}
	if ch.Policy == "DROP" {
		drops, ok := universe().minus(touched, w)
		if ok && !drops.empty() {
			out = append(out, &killer{table: t, chain: ch, drops: drops, reads: restricted(drops)})
		}
	}
	if len(out) > 1 {
		// The parts are disjoint (each takes only what no earlier rule
		// touched), so their union is their boxes together; merged back
		// as far as they go, it shows which fields it really reads.
		var all region
		var reads dimMask
		for _, k := range out {
			all = append(all, k.drops...)
			reads |= k.reads
		}
		for n := len(all) + 1; len(all) < n; {
			n = len(all)
			all = all.compact()
		}
		if r := restricted(all); r != reads {
			out = append(out, &killer{table: t, chain: ch, drops: all, reads: r, parts: slices.Clone(out)})
		}
	}
	return out
}

// restricted is the set of dimensions some box of r does not leave
// full: whether a packet is in r depends on those fields only.
func restricted(r region) dimMask {
	var m dimMask
	for _, b := range r {
		for d := range b {
			if !b[d].isFull(d) {
				m |= 1 << d
			}
		}
	}
	return m
}

// changed is what may be rewritten in a packet between the entry of
// stage from and the rule at stage to (both on one path, from first):
// the targets of every stage from "from" to "to" included, and what the
// kernel itself does on the way.
func (cr *crossRun) changed(p []stage, from, to int) dimMask {
	var m dimMask
	for i := from; i <= to; i++ {
		s := p[i]
		m |= cr.mut[s]
		if i > from && i < to && s.table == "nat" && cr.natRules {
			m |= natDims
		}
		if i < to {
			if s.table == "raw" {
				m |= 1 << dimState // conntrack runs after raw
			}
			if s.hook == ext.LocalOut && (s.table == "mangle" || s.table == "nat") {
				m |= 1 << dimOut // rerouted after a changed mark, TOS or address
			}
			switch next := p[i+1].hook; {
			case s.hook == ext.PreRouting && next == ext.Forward:
				m |= 1 << dimTTL
			case s.hook == ext.PreRouting && next == ext.LocalIn:
				m |= 1<<dimLen | 1<<dimFlags | 1<<dimExt
			}
		}
	}
	return m
}

// crossWork caps the region arithmetic of one rule's test.
const crossWork = 1 << 20

// dead reports whether every packet that may reach ri and match it, from
// every hook, is surely dropped earlier on its way; with the killers
// that take some of them.
func (cr *crossRun) dead(ri *ruleInfo) ([]*killer, bool) {
	var named []*killer
	reached := false
	for h := ext.Hook(0); h < ext.NumHooks; h++ {
		if !ri.matchFrom.Has(h) {
			continue
		}
		arrive := ri.arrive[h]
		if arrive.empty() {
			// Not kept: no stage before can drop (mayBeKilled).
			return nil, false
		}
		if ri.arriveWide[h] {
			arrive = region{arrive.hull()}.meet(ri.c.upper)
		}
		reached = true
		p := path(stage{h, ri.table.Name})
		if p == nil {
			return nil, false
		}
		w := &work{left: crossWork}
		left := arrive
		var used []*killer
		for i := 0; i < len(p)-1 && !left.empty(); i++ {
			ch := cr.changed(p, i, len(p)-1)
			for _, k := range cr.killers[p[i]] {
				if k.reads&ch != 0 || !left.meets(k.drops) {
					continue
				}
				used = append(used, k.meeting(left)...)
				var ok bool
				if left, ok = left.minus(k.drops, w); !ok {
					return nil, false
				}
			}
		}
		if !left.empty() {
			return nil, false
		}
		for _, k := range used {
			if !containsKiller(named, k) {
				named = append(named, k)
			}
		}
	}
	return named, reached
}

func containsKiller(ks []*killer, k *killer) bool {
	for _, o := range ks {
		if o == k {
			return true
		}
	}
	return false
}

// crossDead reports a rule that earlier tables keep every packet from.
func (a *analyzer) crossDead(ri *ruleInfo, ks []*killer) {
	var names []string
	for _, k := range ks {
		names = append(names, k.name())
	}
	a.diags = append(a.diags, &rules.Diag{Pos: ri.r.Pos, Severity: rules.SevWarning, Word: word(ri.r), Fails: true,
		Msg: "never matches anything: every packet it could match is dropped earlier on its way, by " + limitList(names, " and ")})
}
