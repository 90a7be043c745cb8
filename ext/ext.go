// Package ext holds ipsift's iptables extensions: every match (-m NAME) and
// every target (-j NAME) other than the built-in verdicts, one file each.
//
// An extension is a room of its own, the way the kernel's x_tables and
// iptables' libxt_*.c are: its file declares the extension's options,
// parses and checks them, prints them in the canonical forms of
// iptables-save and iptables -L, and compiles them into the function that
// runs per packet. The file registers the extension with RegisterMatch or
// RegisterTarget from an init function; nothing outside the file names
// the extension, so adding one touches one file plus its tests.
//
// The rule parser (package rules) drives an extension through the same
// steps iptables does: it creates a fresh instance with New when the
// command line loads the extension (-m NAME, -j NAME, or implicitly for a
// protocol's options after -p), hands it each of its options with Parse,
// calls Finish once the whole rule has been read, and prints it with Save
// and Print. The engine calls Compile once per rule when a ruleset is
// loaded; the resulting Matcher or Action is what runs on the hot path and
// must not allocate.
package ext

import (
	"fmt"
	"sort"
	"strings"
)

// Family is a set of address families an extension applies to.
type Family uint8

// Address families.
const (
	IPv4 Family = 1 << iota
	IPv6
	AnyFamily = IPv4 | IPv6
)

// ArgKind says whether an option takes an argument, as getopt_long's
// has_arg does.
type ArgKind uint8

// Argument kinds.
const (
	NoArg       ArgKind = iota // --syn
	OneArg                     // --dport 22 or --dport=22
	OptionalArg                // only --opt=VALUE attaches a value
)

// Option declares one long option of an extension. The rule parser merges
// the options of every loaded extension into its getopt_long table, so an
// option may be abbreviated to any unique prefix, as in iptables.
type Option struct {
	Name string  // without the leading "--"
	Arg  ArgKind // whether it takes an argument
	// Invert allows "! --name": without it a "!" before the option is an
	// error, as with xtables' XTOPT_INVERT.
	Invert bool
	// Multi allows the option more than once in a rule; without it a
	// repeat is an error, as with xtables' XTOPT_MULTI.
	Multi bool
	// Mandatory options must be given whenever the extension is loaded
	// (XTOPT_MAND); the parser reports the missing one by name.
	Mandatory bool
	// Excludes lists options of the same extension that cannot be given
	// together with this one (XTOPT's excl); the parser reports the pair.
	Excludes []string
	// Also lists options that must accompany this one (XTOPT's also).
	Also []string
}

// Args gives an option's Parse access to the words after its argument,
// for the few options that take more than one (--tcp-flags MASK COMP).
type Args struct {
	Words []string
	Next  int // index of the next unread word
}

// Take returns the next word and consumes it; ok is false at the end, or
// when the next word is an option (starts with "-" and is not just "-").
func (a *Args) Take() (word string, ok bool) {
	if a == nil || a.Next >= len(a.Words) {
		return "", false
	}
	w := a.Words[a.Next]
	if strings.HasPrefix(w, "-") && w != "-" && w != "!" {
		return "", false
	}
	a.Next++
	return w, true
}

// RuleInfo is what an extension's Finish may check about the rest of the
// rule: iptables passes the same to its final_check and the kernel to its
// checkentry functions.
type RuleInfo struct {
	Family   Family
	Table    string // raw, mangle, nat, filter, security
	Chain    string
	Proto    uint8 // -p; 0 for any
	InvProto bool  // ! -p
	// Hooks is the set of built-in hooks the rule can be reached from;
	// for a built-in chain that is its own hook. For a user chain the
	// rules package checks hooks again when the ruleset is committed.
	Hooks HookMask
	// Userspace is set when the rule is only read, never loaded into a
	// kernel (iptables-translate): Finish keeps iptables' own checks and
	// skips those of the kernel's checkentry.
	Userspace bool
}

// Parser is the part of an extension instance that reads and prints
// options. An instance holds the options of one extension in one rule.
type Parser interface {
	// Parse takes one option of the extension: its declared name (the
	// full name, even if the user abbreviated it), its argument (or ""
	// for NoArg) and whether "!" preceded it. The error says what is
	// wrong with the value and, where possible, what to write instead;
	// the parser adds the position and the option's name.
	Parse(opt, arg string, invert bool, more *Args) error
	// Finish checks the complete set of options once the rule is read,
	// and fills defaults, as iptables' x6_fcheck and the kernel's
	// checkentry do. It is called exactly once, before Save or Compile.
	Finish(r *RuleInfo) error
	// Save appends the options in iptables-save's canonical form: each
	// option preceded by one space, e.g. " --dport 22". The rules package
	// writes "-m NAME" or "-j NAME" before it.
	Save(b *strings.Builder)
	// Print appends the options as iptables -L shows them in its last
	// column, each part preceded by one space, e.g. " tcp dpt:22";
	// numeric is -n (ipsift never resolves names, but some extensions
	// print differently, e.g. service names for ports).
	Print(b *strings.Builder, numeric bool)
}

// Match is an instance of a match extension in one rule.
type Match interface {
	Parser
	// Compile returns what the engine runs for the rule. Compile is called
	// once per rule per load; state belonging to the rule (a limit's
	// bucket) lives in the returned Matcher.
	Compile(c *Compiler) (Matcher, error)
}

// Target is an instance of a target extension in one rule.
type Target interface {
	Parser
	Compile(c *Compiler) (Action, error)
}

// MatchType registers a match extension.
type MatchType struct {
	Name string
	// Family the extension exists for (iptables' libxt_ = AnyFamily,
	// libipt_ = IPv4, libip6t_ = IPv6).
	Family Family
	// Proto, when set, is the protocol the rule must name with -p (not
	// negated), as the kernel's xt_match.proto requires: -m tcp needs
	// -p tcp. ProtoName is how iptables loads the match implicitly:
	// after -p NAME, an option unknown so far loads the match NAME.
	Proto uint8
	// Implicit marks the protocol matches that -p loads on demand.
	Implicit bool
	Options  []Option
	// Tables and Hooks restrict where the kernel accepts the match;
	// empty or zero means everywhere.
	Tables []string
	Hooks  HookMask
	// Conntrack says the kernel starts connection tracking (and with it
	// defragmentation) in a namespace where a rule uses the extension.
	Conntrack bool
	// New returns a fresh instance with every option at its default.
	New func() Match
}

// HookChecker is implemented by a match whose allowed hooks depend on
// its options, which the kernel checks in the extension's checkentry
// with the hooks that reach the rule (devgroup: --src-group needs an
// input interface, --dst-group an output one). The rules package checks
// them as it checks MatchType.Hooks, in built-in chains when the rule is
// read and in user chains when the table is committed.
type HookChecker interface {
	// AllowedHooks returns the hooks the instance may be used from, and
	// why the others are refused (for the message).
	AllowedHooks() (HookMask, string)
}

// AllowedHooks returns the hooks an extension instance of a type with
// the given Hooks may be used from (0: any) and the reason for the
// instance's own restriction ("" when it has none).
func AllowedHooks(typeHooks HookMask, instance any) (HookMask, string) {
	if c, ok := instance.(HookChecker); ok {
		if h, why := c.AllowedHooks(); h != 0 {
			if typeHooks != 0 {
				h &= typeHooks
			}
			return h, why
		}
	}
	return typeHooks, ""
}

// ConntrackDecider is implemented by an extension whose need for
// connection tracking depends on its options: CT --notrack (and NOTRACK)
// calls no nf_ct_netns_get in the kernel, so a ruleset whose only
// conntrack user is a notrack rule neither tracks nor defragments. It
// overrides the type's Conntrack flag.
type ConntrackDecider interface {
	NeedsConntrack() bool
}

// NeedsConntrack reports whether an extension instance of a type with
// the given Conntrack flag makes the kernel track connections.
func NeedsConntrack(typeFlag bool, instance any) bool {
	if d, ok := instance.(ConntrackDecider); ok {
		return d.NeedsConntrack()
	}
	return typeFlag
}

// TargetType registers a target extension.
type TargetType struct {
	Name      string
	Family    Family
	Proto     uint8
	Options   []Option
	Tables    []string
	Hooks     HookMask
	Conntrack bool // as MatchType.Conntrack
	New       func() Target
}

// The registries hold, per name, the types of each family: most names
// have one type for both, but iptables has a libipt_ and a libip6t_
// extension of the same name for a few (ah, REJECT, LOG, ...), which
// read different options.
var (
	matches = map[string][]*MatchType{}
	targets = map[string][]*TargetType{}
)

// RegisterMatch makes a match extension known by its name. It panics on a
// duplicate (same name, overlapping family), which is a programming error
// found at start-up by any test.
func RegisterMatch(t *MatchType) {
	for _, o := range matches[t.Name] {
		if o.Family&t.Family != 0 {
			panic("ext: duplicate match " + t.Name)
		}
	}
	matches[t.Name] = append(matches[t.Name], t)
}

// RegisterTarget makes a target extension known by its name.
func RegisterTarget(t *TargetType) {
	for _, o := range targets[t.Name] {
		if o.Family&t.Family != 0 {
			panic("ext: duplicate target " + t.Name)
		}
	}
	targets[t.Name] = append(targets[t.Name], t)
}

// LookupMatch finds a match extension for a family by its exact name
// (iptables' names are case-sensitive: -m TCP is not -m tcp). With
// AnyFamily it returns the first type of the name.
func LookupMatch(name string, f Family) *MatchType {
	if f&IPv6 != 0 && (name == "icmpv6" || name == "ipv6-icmp") {
		// xtables_find_match's backwards-compatible names: -p ipv6-icmp
		// loads icmp6, and so does -m icmpv6.
		name = "icmp6"
	}
	for _, t := range matches[name] {
		if t.Family&f != 0 {
			return t
		}
	}
	return nil
}

// LookupTarget finds a target extension for a family by its exact name.
func LookupTarget(name string, f Family) *TargetType {
	for _, t := range targets[name] {
		if t.Family&f != 0 {
			return t
		}
	}
	return nil
}

// MatchNames lists the registered matches for a family, sorted; used for
// "did you mean" suggestions and the documentation.
func MatchNames(f Family) []string {
	var out []string
	for n := range matches {
		if LookupMatch(n, f) != nil {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// TargetNames lists the registered targets for a family, sorted.
func TargetNames(f Family) []string {
	var out []string
	for n := range targets {
		if LookupTarget(n, f) != nil {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// Errorf builds an extension's error message; it exists so that messages
// read the same everywhere ("bad value ...: ...").
func Errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }
