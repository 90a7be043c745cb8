package ext

import (
	"fmt"
	"strings"
)

// The state match (-m state --state ...) is, since iptables 1.4.17 and
// in 1.8.11, an alias of the conntrack match: iptables loads xt_conntrack
// revision 3 with only the state test and a flag that makes it print
// itself as "-m state --state". The kernel's own old xt_state gives the
// same verdicts.

func init() {
	RegisterMatch(&MatchType{
		// The kernel runs connection tracking for rules using it.
		Conntrack: true,
		Name:      "state",
		Family:    AnyFamily,
		Options: []Option{
			{Name: "state", Arg: OneArg, Invert: true, Mandatory: true},
		},
		New: func() Match { return &stateMatch{} },
	})
}

// stateMatch is one -m state in a rule: a conntrack match with the alias
// flag.
type stateMatch struct{ ct conntrackMatch }

// Parse implements Parser.
func (s *stateMatch) Parse(opt, arg string, invert bool, _ *Args) error {
	if opt != "state" {
		return fmt.Errorf("unknown option --%s", opt)
	}
	mask, err := parseCTStates(arg, true)
	if err != nil {
		return err
	}
	s.ct.flags = ctfState | ctfStateAlias
	s.ct.stateMask = mask
	if invert {
		s.ct.invert |= ctfState
	}
	return nil
}

// Finish implements Parser.
func (s *stateMatch) Finish(*RuleInfo) error {
	if s.ct.flags == 0 {
		return fmt.Errorf("--state is required, e.g. --state ESTABLISHED,RELATED")
	}
	return nil
}

// Save implements Parser.
func (s *stateMatch) Save(b *strings.Builder) { s.ct.dump(b, "--", true) }

// Print implements Parser.
func (s *stateMatch) Print(b *strings.Builder, numeric bool) { s.ct.dump(b, "", numeric) }

// Compile implements Match.
func (s *stateMatch) Compile(c *Compiler) (Matcher, error) { return s.ct.Compile(c) }
