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
	check := func(r *rules.Rule, u ext.SetUser) {
		for _, name := range u.SetNames() {
			s := sets.Get(name)
			switch {
			case s == nil:
				diags = append(diags, &rules.Diag{Pos: r.Pos, Word: name, Msg: fmt.Sprintf("Set %s doesn't exist. (create it with ipset create before the rule)", name)})
			case s.Family() != ipset.FamilyNone && s.Family() != fam:
				diags = append(diags, &rules.Diag{Pos: r.Pos, Word: name, Msg: fmt.Sprintf("set %s is of family %s: a rule of family %s cannot use it", name, s.Family(), fam)})
			default:
				s.Ref()
			}
		}
	}
	for _, t := range rs.Tables {
		for _, c := range t.Chains {
			for _, r := range c.Rules {
				for _, m := range r.Matches {
					if u, ok := m.M.(ext.SetUser); ok {
						check(r, u)
					}
				}
				if u, ok := r.Target.(ext.SetUser); ok {
					check(r, u)
				}
			}
		}
	}
	return diags
}
