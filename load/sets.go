package load

import (
	"fmt"

	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/ipset"
	"github.com/ipsift/ipsift/rules"
)

// CheckSets checks the sets rules name (-m set, -j SET) against the
// sets, as the kernel's xt_set checkentry does when a rule is added: a
// missing set ("Set x doesn't exist."), or one of the other family,
// refuses the rule. Every use counts as a reference of the set (ipset
// list's References; a set in use cannot be destroyed or renamed).
func CheckSets(rs *rules.Ruleset, sets *ipset.Registry) rules.Diags {
	var diags rules.Diags
	fam := ipset.Inet
	if rs.Family == ext.IPv6 {
		fam = ipset.Inet6
	}
	eachSetUse(rs, func(r *rules.Rule, name string) {
		s := sets.Get(name)
		switch {
		case s == nil:
			diags = append(diags, &rules.Diag{Pos: r.Pos, Word: name, Msg: fmt.Sprintf("Set %s doesn't exist. (create it with ipset create before the rule)", name)})
		case s.Family() != ipset.FamilyNone && s.Family() != fam:
			diags = append(diags, &rules.Diag{Pos: r.Pos, Word: name, Msg: fmt.Sprintf("set %s is of family %s: a rule of family %s cannot use it", name, s.Family(), fam)})
		default:
			s.Ref()
		}
	})
	return diags
}

// RefSets counts (delta 1) or uncounts (delta -1) the references of the
// rules of rs to the sets they name, as the kernel's rules take and drop
// them when a ruleset replaces another (a live reload).
func RefSets(rs *rules.Ruleset, sets *ipset.Registry, delta int) {
	eachSetUse(rs, func(_ *rules.Rule, name string) {
		if s := sets.Get(name); s != nil {
			if delta > 0 {
				s.Ref()
			} else {
				s.Unref()
			}
		}
	})
}

// eachSetUse calls f for every set a rule of rs names (-m set, -j SET).
func eachSetUse(rs *rules.Ruleset, f func(r *rules.Rule, name string)) {
	for _, t := range rs.Tables {
		for _, c := range t.Chains {
			for _, r := range c.Rules {
				for _, m := range r.Matches {
					if u, ok := m.M.(ext.SetUser); ok {
						for _, name := range u.SetNames() {
							f(r, name)
						}
					}
				}
				if u, ok := r.Target.(ext.SetUser); ok {
					for _, name := range u.SetNames() {
						f(r, name)
					}
				}
			}
		}
	}
}
