package translate

import (
	"fmt"
	"strings"

	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/rules"
)

// Script is a whole ruleset translated in exact mode.
type Script struct {
	// Text is the nft script: for every table, the table emptied and
	// written anew (loadable with nft -f over an existing ruleset).
	Text string
	// Diags are, at each rule's position, the rules with no exact
	// translation (errors: the script leaves them out) and those where
	// ipsift's translation differs from iptables-translate 1.8.11's
	// (notes).
	Diags rules.Diags
	// Rules lists the translated rules in the order of the script, so
	// that a rule of the loaded nft ruleset (its n-th rule in a chain)
	// can be traced back to the iptables rule.
	Rules []RuleRef
}

// RuleRef names one iptables rule: its family, table, chain and index
// in the chain (from 0), and the index of the nft rule in its chain.
type RuleRef struct {
	Family       ext.Family
	Table, Chain string
	Index        int // in the iptables chain
	NftIndex     int // in the nft chain
}

// Untranslatable counts the rules the script leaves out.
func (s *Script) Untranslatable() int {
	n := 0
	for _, d := range s.Diags {
		if d.Severity == rules.SevError {
			n++
		}
	}
	return n
}

// hookPriority is the priority of iptables' own base chains (its tables'
// NF_IP_PRI_* values), so that the nft chains run where iptables' would.
func hookPriority(table, chain string) int {
	switch table {
	case "raw":
		return -300
	case "mangle":
		return -150
	case "nat":
		if chain == "PREROUTING" || chain == "OUTPUT" {
			return -100 // dstnat
		}
		return 100 // srcnat
	case "security":
		return 50
	}
	return 0
}

func chainType(table, chain string) string {
	switch {
	case table == "nat":
		return "nat"
	case table == "mangle" && chain == "OUTPUT":
		return "route" // rerouted after a mark or address changes, as iptables' mangle OUTPUT is
	}
	return "filter"
}

// Ruleset translates rulesets (one per family) into one nft script.
func Ruleset(sets ...*rules.Ruleset) *Script {
	s := &Script{}
	var b strings.Builder
	ids := 0
	for _, rs := range sets {
		if rs == nil {
			continue
		}
		fam := familyName(rs.Family)
		for _, t := range rs.Tables {
			// Create the table if it is missing, then start it afresh.
			fmt.Fprintf(&b, "table %s %s\ndelete table %s %s\ntable %s %s {\n", fam, t.Name, fam, t.Name, fam, t.Name)
			var body strings.Builder
			var decls []string
			for _, c := range t.Chains {
				fmt.Fprintf(&body, "\tchain %s {\n", c.Name)
				if c.Builtin {
					if h, ok := rules.HookOf(c.Name); ok {
						fmt.Fprintf(&body, "\t\ttype %s hook %s priority %d; policy %s;\n",
							chainType(t.Name, c.Name), nftHook(h), hookPriority(t.Name, c.Name), strings.ToLower(c.Policy))
					}
				}
				n := 0
				for i, r := range c.Rules {
					// 1.8.11's translation first, from the same set number
					spare := ids
					loose := &xl{fam: rs.Family, r: r, ids: &spare}
					looseOK := loose.ruleBody()
					exact := &xl{fam: rs.Family, r: r, ids: &ids, exact: true}
					if !exact.ruleBody() {
						s.Diags = append(s.Diags, &rules.Diag{Pos: r.Pos, Severity: rules.SevError,
							Msg: fmt.Sprintf("no exact nft translation, rule left out: %s", exact.why)})
						continue
					}
					if looseOK && loose.rule.String() != exact.rule.String() {
						s.Diags = append(s.Diags, &rules.Diag{Pos: r.Pos, Severity: rules.SevNote,
							Msg: fmt.Sprintf("iptables-translate 1.8.11 writes %q, which does not do what the rule does; this is right: %q (DIFFERENCES.md)", loose.rule.String(), exact.rule.String())})
					}
					if set := exact.set.String(); set != "" {
						decls = append(decls, "\tset "+set+"\n")
					}
					fmt.Fprintf(&body, "\t\t%s\n", exact.rule.String())
					s.Rules = append(s.Rules, RuleRef{Family: rs.Family, Table: t.Name, Chain: c.Name, Index: i, NftIndex: n})
					n++
				}
				body.WriteString("\t}\n")
			}
			for _, d := range decls {
				b.WriteString(d)
			}
			b.WriteString(body.String())
			b.WriteString("}\n")
		}
	}
	s.Text = b.String()
	return s
}

func nftHook(h ext.Hook) string {
	switch h {
	case ext.PreRouting:
		return "prerouting"
	case ext.LocalIn:
		return "input"
	case ext.Forward:
		return "forward"
	case ext.LocalOut:
		return "output"
	}
	return "postrouting"
}
