package analyze

import (
	"strings"

	"github.com/ipsift/ipsift/rules"
)

// ifaceAtoms turns interface names into points of dimIn and dimOut. Every
// name and wildcard prefix the ruleset mentions is an atom: atom i of a
// name is that name; atom i of a prefix P stands for all names starting
// with P that no longer prefix and no named interface covers. Values past
// the last atom behave as names no rule mentions.
type ifaceAtoms struct {
	reps  []string // a representative name of each atom
	index map[string]int
}

// The atoms of several rulesets (the two families of one host) are
// shared, so that an interface is the same point in each; names lists
// interfaces to have atoms of their own even if no rule mentions them.
func newIfaceAtoms(rss []*rules.Ruleset, names ...string) *ifaceAtoms {
	a := &ifaceAtoms{index: map[string]int{}}
	addRep := func(rep string) {
		if _, ok := a.index[rep]; !ok {
			a.index[rep] = len(a.reps)
			a.reps = append(a.reps, rep)
		}
	}
	for _, rs := range rss {
		for _, t := range rs.Tables {
			for _, c := range t.Chains {
				for _, r := range c.Rules {
					names = append(names, r.In, r.Out)
				}
			}
		}
	}
	for _, n := range names {
		switch {
		case n == "":
		case strings.HasSuffix(n, "+"):
			// "\x01" is in no real name, so P+"\x01" has no
			// mentioned name or longer prefix covering it.
			addRep(strings.TrimSuffix(n, "+") + "\x01")
		default:
			addRep(n)
		}
	}
	return a
}

// matching returns the atoms a pattern (with an optional trailing "+")
// matches, as the kernel compares interface names.
func (a *ifaceAtoms) matching(pattern string) set {
	prefix, wild := strings.CutSuffix(pattern, "+")
	if wild && prefix == "" {
		return full(dimIn)
	}
	var spans []span
	for i, rep := range a.reps {
		if rep == pattern || wild && strings.HasPrefix(rep, prefix) {
			spans = append(spans, span{uint32(i), uint32(i)})
		}
	}
	return setOf(spans...)
}

// name describes an atom for messages.
func (a *ifaceAtoms) name(i uint32) string {
	if int(i) >= len(a.reps) {
		return "another interface"
	}
	rep := a.reps[i]
	if p, ok := strings.CutSuffix(rep, "\x01"); ok {
		return p + "+"
	}
	return rep
}
