package ext

import "strings"

// SECMARK (iptables' libxt_SECMARK, the kernel's xt_SECMARK): label the
// packet with an SELinux security context, in the mangle or security
// table. What the label does is decided later by the security module's
// policy, which ipsift does not have, so Compile refuses it.

type secmarkTarget struct{ ctx string }

func init() {
	RegisterTarget(&TargetType{
		Name:    "SECMARK",
		Family:  AnyFamily,
		Options: []Option{{Name: "selctx", Arg: OneArg, Mandatory: true}},
		Tables:  []string{"mangle", "security"},
		New:     func() Target { return &secmarkTarget{} },
	})
}

// Parse implements Parser; the kernel's field holds 255 bytes.
func (t *secmarkTarget) Parse(opt, arg string, invert bool, more *Args) error {
	t.ctx = truncate(arg, 255)
	return nil
}

// Finish implements Parser.
func (t *secmarkTarget) Finish(r *RuleInfo) error { return nil }

// Save implements Parser.
func (t *secmarkTarget) Save(b *strings.Builder) { b.WriteString(" --selctx " + t.ctx) }

// Print implements Parser.
func (t *secmarkTarget) Print(b *strings.Builder, numeric bool) {
	b.WriteString(" SECMARK selctx " + t.ctx)
}

// Compile implements Target.
func (t *secmarkTarget) Compile(c *Compiler) (Action, error) {
	return nil, Errorf("-j SECMARK: ipsift has no SELinux policy to give the context %q a meaning", t.ctx)
}
