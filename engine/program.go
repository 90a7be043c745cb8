// Package engine runs packets through a compiled ruleset the way the
// kernel's netfilter does: the hooks in order (PREROUTING, the routing
// decision, INPUT or FORWARD, OUTPUT, POSTROUTING), in each hook the
// tables by priority (raw, mangle, nat, filter, security), and in each
// chain the rules in order with jumps, gotos, RETURN and policies, raising
// per-rule and per-policy counters as ip_tables.c does.
//
// A Program is the compiled form of a rules.Ruleset: chain names are
// resolved, addresses are masks, extensions are compiled Matchers and
// Actions. Evaluating a packet does no string work and no allocation.
// An Engine holds the current Program behind an atomic pointer, so a
// reload is one store and packets in flight finish on the old Program.
package engine

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
	"sync/atomic"

	"github.com/ipsift/ipsift/classify"
	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/ipset"
	"github.com/ipsift/ipsift/rules"
)

// Table indexes, in the order the kernel runs them within one hook.
const (
	tRaw = iota
	tMangle
	tNAT
	tFilter
	tSecurity
	numTables
)

var tableIndex = map[string]int{"raw": tRaw, "mangle": tMangle, "nat": tNAT, "filter": tFilter, "security": tSecurity}

// Program is a compiled ruleset. It is safe for concurrent use; its
// counters and the state of its rules (limit buckets, nth counters) live
// in it.
//
// The family is data, as in the kernel, where iptables and ip6tables
// are two sets of tables over the same x_tables: a Program holds the
// tables of one family, and the Program an Engine runs is the IPv4 one,
// whose six field holds the IPv6 tables (IPv6). Packets pick theirs by
// IP version.
type Program struct {
	legacy bool
	family ext.Family
	six    *Program // the IPv6 tables, on the IPv4 Program an Engine runs
	tables [numTables]*table
	stages [numStages][]*table // the tables each stage runs (hooks.go)
	active uint16              // bit i: stage i has tables
	source *rules.Ruleset
	// prover proves paths of this Program's rules for the flow cache
	// (flowcache.go); made at load while the cache is on, else nil.
	prover *Prover
	// conntrack: the kernel would track connections (and reassemble
	// fragments) for this ruleset: a rule uses an extension that needs
	// connection tracking (the NAT targets among them). A nat table
	// alone does not start it, and without it the nat chains never run
	// (nf_nat_inet_fn needs a connection).
	conntrack bool
}

type table struct {
	name   string
	index  int
	chains []*chain
	hooks  [ext.NumHooks]*chain // built-in chain per hook, or nil
}

type chain struct {
	name    string
	builtin bool
	policy  ext.Verdict // Accept or Drop for built-in chains
	rules   []rule
	// cls finds the next rule a packet may match; nil: walk the rules
	// one by one (see classify.go).
	cls *classify.Classifier
	// Policy counters: raised when the policy decides.
	packets, bytes atomic.Uint64
}

type ifaceMatch struct {
	name     string
	wildcard bool // trailing '+' in the rule: a prefix match
	any      bool // no -i/-o, or "+"
	inv      bool
}

func (m *ifaceMatch) match(ifc *ext.Iface) bool {
	if m.any {
		return !m.inv
	}
	name := ""
	if ifc != nil {
		name = ifc.Name
	}
	var ok bool
	if m.wildcard {
		ok = len(name) >= len(m.name) && name[:len(m.name)] == m.name
	} else {
		ok = ext.SameName(name, m.name)
	}
	return ok != m.inv
}

type rule struct {
	src, srcMask, dst, dstMask uint32
	invSrc, invDst             bool
	// IPv6 rules: the addresses and masks as two 64-bit halves, and
	// whether -p was given (ip6_packet_match walks the extension
	// headers only then: IP6T_F_PROTO).
	src6, srcMask6, dst6, dstMask6 addr128
	protoGiven                     bool
	legacy                         bool // compiled for ip6tables-legacy (traces)
	in, out                        ifaceMatch
	proto                          uint8
	invProto                       bool
	frag, invFrag                  bool

	matches []ext.Matcher
	// exact: the first exact matches are tested whole by the chain's
	// classifier; a rule it found skips them (classifyRule).
	exact    uint8
	action   ext.Action  // extension target, or nil
	verdict  ext.Verdict // standard verdict when action and jump are nil
	jump     *chain      // -j CHAIN or -g CHAIN
	isGoto   bool
	noTarget bool // the rule has no target: it only counts

	packets, bytes atomic.Uint64
	src0           *rules.Rule // the model rule, for traces
	number         int         // 1-based position in its chain
}

// Config holds the settings a Program is compiled with.
type Config struct {
	HZ   int    // kernel tick rate for time-based matches (default 250)
	Seed uint64 // for random choices
	// ConntrackMax bounds the connection table (nf_conntrack_max); 0 is
	// the reference kernel's 262144.
	ConntrackMax int
	// Legacy runs the rules as iptables-legacy (x_tables) does where it
	// differs from iptables-nft, the reference (see DIFFERENCES.md).
	Legacy bool
	// NoHostStack leaves packets delivered to the host unanswered: on a
	// live host the real stack answers them, and its answers come back
	// through OUTPUT as packets of their own; simulating them too would
	// feed conntrack invented answers (a RST that closes the connection)
	// before the real one. REJECT's answers are still built (Result.Out).
	NoHostStack bool
	// ForwardErrors, with NoHostStack, still makes the forwarding
	// path's ICMP errors (time exceeded, packet too big): the stack
	// attaches them to the connection of the packet they answer, which a
	// replay of a capture of the host's own packets cannot do with the
	// captured copy, so the engine makes them and replay drops the copy.
	ForwardErrors bool
	// Classify chooses how chains find their rules: by a compiled
	// classifier where it pays (the default), always, or never.
	Classify ClassifyMode
	// Sets are the ipsets the rules use (-m set, -j SET). They live apart
	// from the rules: pass the same registry on reload to keep them.
	Sets *ipset.Registry
	// FlowCache runs the packets of established flows on their
	// connection's proven path instead of walking the tables
	// (flowcache.go): the same counters, verdicts and packets, with
	// connection tracking still run for every packet. SetFlowCache
	// turns it on or off later.
	FlowCache bool
	// Rules6 is the IPv6 ruleset (ip6tables) New loads beside its IPv4
	// one; nil leaves the IPv6 tables empty (every IPv6 packet passes).
	// Load and LoadPair replace it later.
	Rules6 *rules.Ruleset
}

// Compile turns a ruleset into a Program. store keeps the state that
// outlives one Program (recent lists, hashlimit tables); pass the same
// store on reload; nil is a new store for this Program (one for all its
// rules: two rules naming one recent list share it).
func Compile(rs *rules.Ruleset, cfg Config, store *ext.Store) (*Program, error) {
	if cfg.HZ == 0 {
		cfg.HZ = 250
	}
	if store == nil {
		store = ext.NewStore()
	}
	p := &Program{source: rs, legacy: cfg.Legacy, family: rs.Family}
	if p.family == 0 {
		p.family = ext.IPv4
	}
	var errs CompileErrors
	for _, t := range rs.Tables {
		ti, ok := tableIndex[t.Name]
		if !ok {
			return nil, fmt.Errorf("unknown table %q", t.Name)
		}
		ct := &table{name: t.Name, index: ti}
		byName := map[string]*chain{}
		for _, c := range t.Chains {
			cc := &chain{name: c.Name, builtin: c.Builtin, policy: ext.Accept}
			if c.Policy == "DROP" {
				cc.policy = ext.Drop
			}
			cc.packets.Store(c.Counters.Packets)
			cc.bytes.Store(c.Counters.Bytes)
			byName[c.Name] = cc
			ct.chains = append(ct.chains, cc)
			if h, ok := rules.HookOf(c.Name); ok && c.Builtin {
				ct.hooks[h] = cc
			}
		}
		for ci, c := range t.Chains {
			cc := ct.chains[ci]
			cc.rules = make([]rule, len(c.Rules))
			for i, r := range c.Rules {
				comp := ext.NewCompiler(store)
				comp.Family, comp.Table, comp.Chain, comp.HZ, comp.Seed = rs.Family, t.Name, c.Name, cfg.HZ, cfg.Seed
				comp.Legacy = cfg.Legacy
				comp.Sets = cfg.Sets
				needCT, err := compileRule(&cc.rules[i], r, comp, byName)
				if err != nil {
					errs = append(errs, &RuleError{Rule: r, Table: t.Name, Chain: c.Name, Num: i + 1, Err: err})
					continue
				}
				p.conntrack = p.conntrack || needCT
				cc.rules[i].number = i + 1
			}
			if len(errs) == 0 {
				cc.cls = buildClassifier(cc, cfg.Classify, rs.Family)
			}
		}
		p.tables[ti] = ct
	}
	if len(errs) > 0 {
		return nil, errs
	}
	p.prepareStages()
	return p, nil
}

// RuleError is a rule Compile refused: it loads (the kernel would take
// it) but the engine cannot evaluate it, so neither can trace or run.
type RuleError struct {
	Rule         *rules.Rule
	Table, Chain string
	Num          int   // the rule's number in its chain, from 1
	Err          error // why, starting with the match or target ("-m cgroup: ...")
}

func (e *RuleError) Error() string {
	return fmt.Sprintf("%s: table %s chain %s rule %d: %v", e.Rule.Pos, e.Table, e.Chain, e.Num, e.Err)
}

func (e *RuleError) Unwrap() error { return e.Err }

// CompileErrors is every rule Compile refused, in table and chain order.
type CompileErrors []*RuleError

func (es CompileErrors) Error() string {
	if len(es) == 1 {
		return es[0].Error()
	}
	return fmt.Sprintf("%v (and %d more rules that cannot be evaluated)", es[0], len(es)-1)
}

// Unevaluable returns the rules of rs that the engine cannot evaluate,
// each with the reason Compile gives; nil when every rule compiles. An
// error other than a rule's (an unknown table) is returned as such.
func Unevaluable(rs *rules.Ruleset, cfg Config) (CompileErrors, error) {
	_, err := Compile(rs, cfg, ext.NewStore())
	if es, ok := err.(CompileErrors); ok {
		return es, nil
	}
	return nil, err
}

func compileIface(name string, inv bool) ifaceMatch {
	m := ifaceMatch{inv: inv}
	switch {
	case name == "" || name == "+":
		m.any = true
	case strings.HasSuffix(name, "+"):
		m.name, m.wildcard = strings.TrimSuffix(name, "+"), true
	default:
		m.name = ext.Intern(name)
	}
	return m
}

// prefixed puts what (the match or target) before err, unless err
// already starts with it.
func prefixed(what string, err error) error {
	if strings.HasPrefix(err.Error(), what+":") {
		return err
	}
	return fmt.Errorf("%s: %w", what, err)
}

func compileRule(cr *rule, r *rules.Rule, comp *ext.Compiler, chains map[string]*chain) (needCT bool, err error) {
	cr.src0 = r
	cr.src, cr.srcMask = ext.U32(r.Src), ext.U32(r.SrcMask)
	cr.dst, cr.dstMask = ext.U32(r.Dst), ext.U32(r.DstMask)
	cr.src6, cr.srcMask6 = to128(r.Src), to128(r.SrcMask)
	cr.dst6, cr.dstMask6 = to128(r.Dst), to128(r.DstMask)
	// ip6tables-legacy sets IP6T_F_PROTO for any -p, "-p all" too;
	// iptables-nft writes no protocol expression for protocol 0.
	cr.protoGiven = r.Proto != 0 || r.InvProto || r.ProtoGiven && comp.Legacy
	cr.legacy = comp.Legacy
	cr.invSrc, cr.invDst = r.InvSrc, r.InvDst
	cr.in = compileIface(r.In, r.InvIn)
	cr.out = compileIface(r.Out, r.InvOut)
	cr.proto, cr.invProto = r.Proto, r.InvProto
	cr.frag, cr.invFrag = r.Frag, r.InvFrag
	cr.packets.Store(r.Counters.Packets)
	cr.bytes.Store(r.Counters.Bytes)
	for _, m := range r.Matches {
		needCT = needCT || ext.NeedsConntrack(m.Type.Conntrack, m.M)
		cm, err := m.M.Compile(comp)
		if err != nil {
			return false, prefixed("-m "+m.Type.Name, err)
		}
		cr.matches = append(cr.matches, cm)
	}
	switch {
	case r.Target != nil:
		needCT = needCT || ext.NeedsConntrack(r.TType.Conntrack, r.Target)
		a, err := r.Target.Compile(comp)
		if err != nil {
			return false, prefixed("-j "+r.Verdict, err)
		}
		cr.action = a
	case r.Verdict == "":
		cr.noTarget = true
	case r.Verdict == "ACCEPT":
		cr.verdict = ext.Accept
	case r.Verdict == "DROP":
		cr.verdict = ext.Drop
	case r.Verdict == "RETURN":
		cr.verdict = ext.Return
	case r.Verdict == "QUEUE":
		cr.verdict = ext.QueueTo(0)
	default:
		c := chains[r.Verdict]
		if c == nil {
			return false, fmt.Errorf("no chain %q", r.Verdict)
		}
		cr.jump, cr.isGoto = c, r.Goto
	}
	return needCT, nil
}

// addr128 is an IPv6 address (or mask) as two big-endian halves.
type addr128 struct{ hi, lo uint64 }

// to128 converts an IPv6 address; anything else (no address: any) is 0.
func to128(a netip.Addr) addr128 {
	if !a.Is6() {
		return addr128{}
	}
	b := a.As16()
	return addr128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

// masked reports a&mask == want.
func (a *addr128) masked(mask, want addr128) bool {
	return a.hi&mask.hi == want.hi && a.lo&mask.lo == want.lo
}

// IPv6 returns the Program of the IPv6 tables (ip6tables), for its
// counters and ruleset; nil on a Program that is itself one family's
// only.
func (p *Program) IPv6() *Program { return p.six }

// Family returns the address family of the Program's tables.
func (p *Program) Family() ext.Family { return p.family }

// emptyProgram is a family's Program with no tables: every packet of
// the family passes, as on a kernel whose tables for it are not loaded.
func emptyProgram(f ext.Family, legacy bool) *Program {
	rs := rules.New()
	rs.Family = f
	p := &Program{family: f, legacy: legacy, source: rs}
	p.prepareStages()
	return p
}

// Counter is one rule's or policy's counters, for reports.
type Counter struct {
	Table, Chain string
	Rule         int // 1-based; 0 for the policy
	Packets      uint64
	Bytes        uint64
}

// Counters returns every rule's and every built-in chain's policy
// counters, tables in iptables order.
func (p *Program) Counters() []Counter {
	var out []Counter
	for _, t := range p.tables {
		if t == nil {
			continue
		}
		for _, c := range t.chains {
			if c.builtin {
				out = append(out, Counter{Table: t.name, Chain: c.name, Packets: c.packets.Load(), Bytes: c.bytes.Load()})
			}
			for i := range c.rules {
				r := &c.rules[i]
				out = append(out, Counter{Table: t.name, Chain: c.name, Rule: i + 1, Packets: r.packets.Load(), Bytes: r.bytes.Load()})
			}
		}
	}
	return out
}

// Ruleset returns a copy of the source ruleset with the Program's current
// counters written into it, for printing with -v or iptables-save -c.
func (p *Program) Ruleset() *rules.Ruleset {
	rs := p.source.Clone()
	for _, t := range rs.Tables {
		ct := p.tables[tableIndex[t.Name]]
		for ci, c := range t.Chains {
			cc := ct.chains[ci]
			if c.Builtin {
				c.Counters = rules.Counters{Packets: cc.packets.Load(), Bytes: cc.bytes.Load()}
			}
			for i, r := range c.Rules {
				r.Counters = rules.Counters{Packets: cc.rules[i].packets.Load(), Bytes: cc.rules[i].bytes.Load()}
			}
		}
	}
	return rs
}
