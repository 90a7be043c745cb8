package ext

import (
	"strings"
)

// The realm match (-m realm --realm VALUE[/MASK]): the routing realm of
// the route the packet took (route "realm" attributes, dst->tclassid), as
// iptables' libipt_realm.c reads and prints it. ipsift's host model has
// no routing realms, so a rule with it parses, saves and prints, but
// Compile refuses it. The kernel allows the match everywhere but
// PREROUTING (there is no route yet).
//
// iptables names realms from /etc/iproute2/rt_realms; ipsift knows the
// one name Debian's file defines, "cosmos" for 0, so that "--realm 0"
// saves as iptables does there ("--realm cosmos").

// realmNames are the realm names of Debian's /etc/iproute2/rt_realms.
var realmNames = LMap{{"cosmos", 0}}

// realmMatch is one -m realm in one rule (struct xt_realm_info).
type realmMatch struct {
	id, mask uint32
	invert   bool
}

func init() {
	RegisterMatch(&MatchType{
		Name:    "realm",
		Family:  IPv4,
		Options: []Option{{Name: "realm", Arg: OneArg, Invert: true, Mandatory: true}},
		Hooks:   HookLocalIn | HookForward | HookLocalOut | HookPostRouting,
		New:     func() Match { return &realmMatch{mask: 0xffffffff} },
	})
}

// Parse implements Parser: VALUE[/MASK] as xtables_parse_val_mask, or a
// realm name.
func (m *realmMatch) Parse(opt, arg string, invert bool, more *Args) error {
	if opt != "realm" {
		return Errorf("unknown option --%s", opt)
	}
	id, mask, err := ParseValMaskNamed(arg, realmNames, "--realm")
	if err != nil {
		return err
	}
	m.id, m.mask, m.invert = id, mask, invert
	return nil
}

// Finish implements Parser.
func (m *realmMatch) Finish(r *RuleInfo) error { return nil }

// Save implements Parser.
func (m *realmMatch) Save(b *strings.Builder) {
	if m.invert {
		b.WriteString(" !")
	}
	b.WriteString(" --realm" + FormatValMaskNamed(m.id, m.mask, realmNames, true))
}

// Print implements Parser.
func (m *realmMatch) Print(b *strings.Builder, numeric bool) {
	if m.invert {
		b.WriteString(" !")
	}
	b.WriteString(" realm" + FormatValMaskNamed(m.id, m.mask, realmNames, !numeric))
}

// Compile implements Match: refused, see the file comment.
func (m *realmMatch) Compile(c *Compiler) (Matcher, error) {
	return nil, Errorf("-m realm: ipsift's host model has no routing realms (the realm attribute of routes), so it cannot know a packet's realm; remove the rule or match on the addresses the realm stands for")
}
