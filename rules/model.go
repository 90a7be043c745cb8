// Package rules is ipsift's model of an iptables ruleset: tables, chains,
// rules and their counters, with the parsers that read iptables command
// lines and iptables-restore files and the printers that write
// iptables-save, iptables -S and iptables -L output.
//
// The model is for reading, printing and analysis; the engine compiles it
// into a Program for the hot path. Every parse error carries a position
// (file, line, column) and the word it is about, and a command that fails
// changes nothing.
package rules

import (
	"net/netip"
	"strings"

	"github.com/ipsift/ipsift/ext"
)

// Counters are a rule's or a policy's packet and byte counters.
type Counters struct {
	Packets, Bytes uint64
}

// Tables in the order iptables knows them; builtin lists the built-in
// chains of each in hook order.
var (
	TableNames = []string{"raw", "mangle", "nat", "filter", "security"}
	builtin    = map[string][]string{
		"raw":      {"PREROUTING", "OUTPUT"},
		"mangle":   {"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"},
		"nat":      {"PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"},
		"filter":   {"INPUT", "FORWARD", "OUTPUT"},
		"security": {"INPUT", "FORWARD", "OUTPUT"},
	}
)

// BuiltinChains returns the built-in chains of a table in hook order, or
// nil for an unknown table.
func BuiltinChains(table string) []string { return builtin[table] }

// HookOf returns the hook of a built-in chain name; ok is false for a
// user chain.
func HookOf(chain string) (h ext.Hook, ok bool) {
	switch chain {
	case "PREROUTING":
		return ext.PreRouting, true
	case "INPUT":
		return ext.LocalIn, true
	case "FORWARD":
		return ext.Forward, true
	case "OUTPUT":
		return ext.LocalOut, true
	case "POSTROUTING":
		return ext.PostRouting, true
	}
	return 0, false
}

// Ruleset is every table of one address family.
type Ruleset struct {
	Family ext.Family
	// Legacy makes tables come into being as with iptables-legacy: on
	// any use of the table, even a listing or a failing command. With
	// the nf_tables backend (the default) only a command that names a
	// built-in chain (-A -I -R -D -P, -F CHAIN) or creates one (-N),
	// or a restore section with a chain or rule line, creates a table;
	// -F, -X, -Z without a chain and listings do not.
	Legacy bool
	// Tables holds the tables that exist, in the order they came into
	// being (the kernel creates a table when something first uses it).
	Tables []*Table
}

// New returns an empty IPv4 ruleset with no tables.
func New() *Ruleset { return &Ruleset{Family: ext.IPv4} }

// Table returns the named table, or nil when it does not exist yet.
func (rs *Ruleset) Table(name string) *Table {
	for _, t := range rs.Tables {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// EnsureTable returns the named table, creating it with its built-in
// chains (policy ACCEPT) if needed; nil when iptables has no such table.
func (rs *Ruleset) EnsureTable(name string) *Table {
	if t := rs.Table(name); t != nil {
		return t
	}
	chains := builtin[name]
	if chains == nil {
		return nil
	}
	t := &Table{Name: name}
	for _, c := range chains {
		t.addChain(&Chain{Name: c, Builtin: true, Policy: "ACCEPT"})
	}
	rs.Tables = append(rs.Tables, t)
	return t
}

// Clone returns a deep copy of the ruleset's structure; rules are copied
// as values that share their (immutable after parsing) extension
// instances. A command applies to a clone, which replaces the original
// only when the command succeeded, so nothing is ever half-applied.
func (rs *Ruleset) Clone() *Ruleset {
	n := &Ruleset{Family: rs.Family, Legacy: rs.Legacy}
	for _, t := range rs.Tables {
		n.Tables = append(n.Tables, t.clone())
	}
	return n
}

// clone is a deep copy of t: its chains and rules.
func (t *Table) clone() *Table {
	nt := &Table{Name: t.Name}
	for _, c := range t.Chains {
		nc := *c
		nc.Rules = make([]*Rule, len(c.Rules))
		for i, r := range c.Rules {
			cp := *r
			nc.Rules[i] = &cp
		}
		nt.addChain(&nc)
	}
	return nt
}

// Table is one iptables table.
type Table struct {
	Name   string
	Chains []*Chain // built-in chains first in hook order, then user chains

	// index finds chains by name in a table of many (kube-proxy's have
	// tens of thousands: a linear search per rule was quadratic). Kept
	// by this package's writers (addChain, reindex); Chain trusts it only
	// while it describes Chains as they are, so code that changes Chains
	// itself loses nothing but speed.
	index *chainIndex
}

// chainIndex is a table's chains by name, as of Chains with len n and
// first element *base.
type chainIndex struct {
	base **Chain
	n    int
	pos  map[string]int
}

// indexFrom is the number of chains from which a table keeps an index.
const indexFrom = 32

// Chain returns the named chain (case-sensitive, as in the kernel) or nil.
func (t *Table) Chain(name string) *Chain {
	if ix := t.index; ix != nil && ix.n == len(t.Chains) && ix.n > 0 && ix.base == &t.Chains[0] {
		i, ok := ix.pos[name]
		if !ok {
			return nil
		}
		if c := t.Chains[i]; c.Name == name {
			return c
		}
	}
	for _, c := range t.Chains {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// addChain appends c to the table's chains, keeping the index.
func (t *Table) addChain(c *Chain) {
	ix := t.index
	fresh := ix != nil && ix.n == len(t.Chains) && (ix.n == 0 || ix.base == &t.Chains[0])
	t.Chains = append(t.Chains, c)
	if !fresh {
		t.reindex()
		return
	}
	if _, dup := ix.pos[c.Name]; !dup {
		ix.pos[c.Name] = ix.n
	}
	ix.n++
	ix.base = &t.Chains[0]
}

// reindex rebuilds the index after chains were removed or renamed (or
// drops it for a small table).
func (t *Table) reindex() {
	if len(t.Chains) < indexFrom {
		t.index = nil
		return
	}
	ix := &chainIndex{base: &t.Chains[0], n: len(t.Chains), pos: make(map[string]int, len(t.Chains))}
	for i, c := range t.Chains {
		if _, dup := ix.pos[c.Name]; !dup {
			ix.pos[c.Name] = i
		}
	}
	t.index = ix
}

// Chain is a built-in or user-defined chain.
type Chain struct {
	Name     string
	Builtin  bool
	Policy   string // ACCEPT or DROP for built-in chains; "" for user chains
	Counters Counters
	Rules    []*Rule
	Pos      Pos // where it was declared, for messages
	// PolicyPos is where a built-in chain's policy was last set (a
	// ":CHAIN POLICY" line or -P), for messages about it; zero when it
	// is the default.
	PolicyPos Pos
}

// Rule is one rule: the core matches of struct ipt_ip, the extension
// matches in order, and the target.
type Rule struct {
	// Source and destination: address and mask, already masked. The zero
	// value (invalid Addr) means any.
	Src, SrcMask, Dst, DstMask netip.Addr
	InvSrc, InvDst             bool
	// Interfaces as given (a trailing '+' is a wildcard); "" means any.
	In, Out       string
	InvIn, InvOut bool
	Proto         uint8 // 0 = all
	InvProto      bool
	// ProtoGiven: -p was written, also as "-p all" or "-p 0", which
	// ip6tables-legacy still marks IP6T_F_PROTO (the kernel then walks
	// the extension headers and hotdrops a packet whose walk fails);
	// iptables-save prints no -p for protocol 0.
	ProtoGiven    bool
	Frag, InvFrag bool // -f: only non-first fragments

	Matches []*MatchUse

	// Verdict is the target's name: ACCEPT, DROP, RETURN, QUEUE, a user
	// chain, or an extension target; "" when the rule has no target.
	Verdict string
	Goto    bool       // -g CHAIN instead of -j CHAIN
	Target  ext.Target // extension target instance, nil otherwise
	TType   *ext.TargetType

	Counters Counters
	Pos      Pos // where the rule was written
	// TargetPos is where the -j/-g argument was written.
	TargetPos Pos
	// Nth is set on rules read from the legacy "-m nth" match (see
	// legacy.go): its shared counter, every and packet.
	Nth *NthInfo
}

// MatchUse is one -m NAME in a rule and its options.
type MatchUse struct {
	Type *ext.MatchType
	M    ext.Match
}

// Standard verdict names handled by the core, not by extensions.
func isStandardVerdict(name string) bool {
	switch name {
	case "ACCEPT", "DROP", "RETURN", "QUEUE":
		return true
	}
	return false
}

// IsJump reports whether the rule jumps to (or goes to) a user chain.
func (r *Rule) IsJump() bool {
	return r.Verdict != "" && r.Target == nil && !isStandardVerdict(r.Verdict)
}

// Spec returns the rule as iptables-save prints it after "-A CHAIN", used
// to compare rules (for -D by specification) and in messages.
func (r *Rule) Spec() string {
	var b strings.Builder
	r.writeSpec(&b)
	return strings.TrimPrefix(b.String(), " ")
}
