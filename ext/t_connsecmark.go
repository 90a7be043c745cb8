package ext

import "strings"

// CONNSECMARK (iptables' libxt_CONNSECMARK, the kernel's
// xt_CONNSECMARK): copy SELinux security marks between packet and
// connection, in the mangle or security table. Like SECMARK it only
// means something to an SELinux policy, so Compile refuses it.

type connsecmarkTarget struct{ mode string }

func init() {
	RegisterTarget(&TargetType{
		Name:   "CONNSECMARK",
		Family: AnyFamily,
		Options: []Option{
			{Name: "save", Arg: NoArg, Excludes: []string{"restore"}},
			{Name: "restore", Arg: NoArg, Excludes: []string{"save"}},
		},
		Tables: []string{"mangle", "security"},
		New:    func() Target { return &connsecmarkTarget{} },
	})
}

// Parse implements Parser.
func (t *connsecmarkTarget) Parse(opt, arg string, invert bool, more *Args) error {
	t.mode = opt
	return nil
}

// Finish implements Parser.
func (t *connsecmarkTarget) Finish(r *RuleInfo) error {
	if t.mode == "" {
		return Errorf("CONNSECMARK needs --save or --restore")
	}
	return nil
}

// Save implements Parser.
func (t *connsecmarkTarget) Save(b *strings.Builder) { b.WriteString(" --" + t.mode) }

// Print implements Parser.
func (t *connsecmarkTarget) Print(b *strings.Builder, numeric bool) {
	b.WriteString(" CONNSECMARK " + t.mode)
}

// Compile implements Target.
func (t *connsecmarkTarget) Compile(c *Compiler) (Action, error) {
	return nil, Errorf("-j CONNSECMARK: ipsift has no SELinux security marks")
}
