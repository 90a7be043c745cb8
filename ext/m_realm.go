package ext

import (
	"fmt"
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
var realmNames = map[string]uint32{"cosmos": 0}

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
	m.invert = invert
	m.mask = 0xffffffff
	if v, rest, ok := ParseUintPrefix(arg, 0, 0xffffffff); ok {
		m.id = uint32(v)
		switch {
		case rest == "":
			return nil
		case rest[0] == '/':
			mk, ok := ParseUintFull(rest[1:], 0, 0xffffffff)
			if !ok {
				return Errorf("bad integer value %q or out of range: write VALUE[/MASK] with numbers up to 0xffffffff", arg)
			}
			m.mask = uint32(mk)
			return nil
		}
	}
	if id, ok := realmNames[arg]; ok {
		m.id = id
		return nil
	}
	return Errorf("realm %q not found: write a number VALUE[/MASK] (ipsift knows only the realm name cosmos)", arg)
}

// Finish implements Parser.
func (m *realmMatch) Finish(r *RuleInfo) error { return nil }

// valMask is xtables_print_val_mask.
func (m *realmMatch) valMask(names bool) string {
	if m.mask != 0xffffffff {
		return fmt.Sprintf(" 0x%x/0x%x", m.id, m.mask)
	}
	if names {
		for n, id := range realmNames {
			if id == m.id {
				return " " + n
			}
		}
	}
	return fmt.Sprintf(" 0x%x", m.id)
}

// Save implements Parser.
func (m *realmMatch) Save(b *strings.Builder) {
	if m.invert {
		b.WriteString(" !")
	}
	b.WriteString(" --realm" + m.valMask(true))
}

// Print implements Parser.
func (m *realmMatch) Print(b *strings.Builder, numeric bool) {
	if m.invert {
		b.WriteString(" !")
	}
	b.WriteString(" realm" + m.valMask(!numeric))
}

// Compile implements Match: refused, see the file comment.
func (m *realmMatch) Compile(c *Compiler) (Matcher, error) {
	return nil, Errorf("-m realm: ipsift's host model has no routing realms (the realm attribute of routes), so it cannot know a packet's realm; remove the rule or match on the addresses the realm stands for")
}
