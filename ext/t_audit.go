package ext

import "strings"

// AUDIT (iptables' libxt_AUDIT, the kernel's xt_AUDIT): write a record to
// the kernel's audit log and go on. ipsift has no audit log, so the
// Action only continues.

type auditTarget struct{ typ string }

func init() {
	RegisterTarget(&TargetType{
		Name:    "AUDIT",
		Family:  AnyFamily,
		Options: []Option{{Name: "type", Arg: OneArg, Mandatory: true}},
		New:     func() Target { return &auditTarget{} },
	})
}

// Parse implements Parser.
func (t *auditTarget) Parse(opt, arg string, invert bool, more *Args) error {
	switch a := strings.ToLower(arg); a {
	case "accept", "drop", "reject":
		t.typ = a
		return nil
	}
	return Errorf("bad action type %q: use accept, drop or reject", arg)
}

// Finish implements Parser.
func (t *auditTarget) Finish(r *RuleInfo) error { return nil }

// Save implements Parser.
func (t *auditTarget) Save(b *strings.Builder) { b.WriteString(" --type " + t.typ) }

// Print implements Parser.
func (t *auditTarget) Print(b *strings.Builder, numeric bool) { b.WriteString(" AUDIT " + t.typ) }

// Compile implements Target.
func (t *auditTarget) Compile(c *Compiler) (Action, error) {
	return ActionFunc(func(c *Ctx) Verdict { return Continue }), nil
}
