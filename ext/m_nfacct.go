package ext

import (
	"fmt"
	"strings"
)

// The nfacct match (-m nfacct, libxt_nfacct and the kernel's xt_nfacct)
// counts packets into a named extended-accounting object (nfacct add
// NAME) and always matches. ipsift has no nfacct objects: the rule
// parses and prints, and Compile says so (the kernel refuses names that
// do not exist, and in ipsift none do).

const nfacctNameMax = 32 // NFACCT_NAME_MAX

func init() {
	RegisterMatch(&MatchType{
		Name:   "nfacct",
		Family: AnyFamily,
		Options: []Option{
			{Name: "nfacct-name", Arg: OneArg, Mandatory: true},
		},
		New: func() Match { return &nfacctMatch{} },
	})
}

// nfacctMatch is one -m nfacct in a rule.
type nfacctMatch struct{ name string }

// Parse implements Parser.
func (m *nfacctMatch) Parse(opt, arg string, _ bool, _ *Args) error {
	if opt != "nfacct-name" {
		return fmt.Errorf("unknown option --%s", opt)
	}
	if arg == "" {
		return fmt.Errorf("the name must have a minimum length of 1 character")
	}
	if strings.ContainsRune(arg, '\n') {
		return fmt.Errorf("newlines not allowed in --nfacct-name")
	}
	if len(arg) > nfacctNameMax-1 {
		arg = arg[:nfacctNameMax-1]
	}
	m.name = arg
	return nil
}

// Finish implements Parser.
// Finish implements Parser. The kernel refuses a rule naming an
// accounting object that does not exist, and ipsift has none.
func (m *nfacctMatch) Finish(*RuleInfo) error {
	return fmt.Errorf("nfacct object %q does not exist (ipsift has no accounting objects; the kernel refuses rules naming missing ones)", m.name)
}

// Save implements Parser: libxt_nfacct prints a space before the name
// and xtables_save_string another, hence two.
func (m *nfacctMatch) Save(b *strings.Builder) {
	b.WriteString(" --nfacct-name ")
	SaveString(b, m.name)
}

// Print implements Parser.
func (m *nfacctMatch) Print(b *strings.Builder, _ bool) {
	b.WriteString(" nfacct-name ")
	SaveString(b, m.name)
}

// Compile implements Match.
func (m *nfacctMatch) Compile(*Compiler) (Matcher, error) {
	return nil, fmt.Errorf("-m nfacct: ipsift has no nfacct accounting objects (nfacct add %s); the rule cannot be evaluated (rule counters count the same packets)", m.name)
}
