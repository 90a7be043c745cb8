package translate

import (
	"fmt"
	"strings"

	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/rules"
)

// Session numbers what several commands of one run share: iptables'
// connlimit numbers its sets with a counter that lives as long as the
// process (iptables-restore-translate translates a whole file in one).
type Session struct{ setID int }

// Command returns what iptables-translate (ip6tables-translate for an
// IPv6 family) prints on its standard output for a parsed command line,
// and whether it succeeded (its exit status 0). Rule commands print one
// "nft '...'" line per rule; a rule with no translation prints the
// command as a "# ..." comment, as iptables does, and still succeeds.
// argv is the command line after the program name, for that comment.
func (s *Session) Command(fam ext.Family, cmd *rules.Command, argv []string) (string, bool) {
	var b strings.Builder
	fn := familyName(fam)
	if cmd.Kind != rules.CmdNone {
		b.WriteString("nft ")
	}
	switch cmd.Kind {
	case rules.CmdAppend, rules.CmdInsert:
		if !s.rules(&b, fam, cmd, false) {
			b.WriteString("# ")
			for _, a := range argv {
				b.WriteString(a + " ")
			}
			b.WriteString("\n")
		}
		return b.String(), true
	case rules.CmdFlush:
		if cmd.Chain != "" {
			fmt.Fprintf(&b, "flush chain %s %s %s\n", fn, cmd.Table, cmd.Chain)
		} else {
			fmt.Fprintf(&b, "flush table %s %s\n", fn, cmd.Table)
		}
		return b.String(), true
	case rules.CmdList:
		fmt.Fprintf(&b, "list table %s %s\n", fn, cmd.Table)
		return b.String(), true
	case rules.CmdNewChain:
		fmt.Fprintf(&b, "add chain %s %s %s\n", fn, cmd.Table, cmd.Chain)
		return b.String(), true
	case rules.CmdDeleteChain:
		chain := cmd.Chain
		if chain == "" {
			chain = "(null)" // printf of a NULL chain name, as glibc prints it
		}
		fmt.Fprintf(&b, "delete chain %s %s %s\n", fn, cmd.Table, chain)
		return b.String(), true
	case rules.CmdNone:
		return "", true
	}
	// -D -C -R -Z -S -E -P: iptables-translate has nothing to say.
	return b.String(), false
}

// rules prints the rules of an -A or -I command; restore leaves out the
// quotes and "nft " prefixes. False when the rule has no translation.
func (s *Session) rules(b *strings.Builder, fam ext.Family, cmd *rules.Command, restore bool) bool {
	// iptables expands "-s A,B -d C,D" sources outer; it separates the
	// rules of different sources with "nft " but not those of one source.
	perSrc := 1
	for perSrc < len(cmd.Rules) && cmd.Rules[perSrc].Src == cmd.Rules[0].Src && cmd.Rules[perSrc].SrcMask == cmd.Rules[0].SrcMask {
		perSrc++
	}
	tick := "'"
	if restore {
		tick = ""
	}
	ok := true
	for i, r := range cmd.Rules {
		x := &xl{fam: fam, r: r, ids: &s.setID}
		if !x.ruleBody() {
			ok = false
		} else {
			if set := x.set.String(); set != "" {
				fmt.Fprintf(b, "%sadd set %s %s %s%s\n", tick, familyName(fam), cmd.Table, set, tick)
				if !restore {
					b.WriteString("nft ")
				}
			}
			verb := "insert"
			if cmd.Kind == rules.CmdAppend {
				verb = "add"
			}
			fmt.Fprintf(b, "%s%s rule %s %s %s ", tick, verb, familyName(fam), cmd.Table, cmd.Chain)
			if cmd.Kind == rules.CmdInsert && cmd.RuleNum > 1 {
				fmt.Fprintf(b, "index %d ", cmd.RuleNum)
			}
			fmt.Fprintf(b, "%s%s\n", x.rule.String(), tick)
		}
		if !restore && (i+1)%perSrc == 0 && i+1 < len(cmd.Rules) {
			b.WriteString("nft ")
		}
	}
	return ok
}
