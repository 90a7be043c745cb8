package ext

import "strings"

// The TRACE target (iptables' libxt_TRACE, the kernel's xt_TRACE), in
// the raw table.

func init() {
	RegisterTarget(&TargetType{
		Name:   "TRACE",
		Family: AnyFamily,
		Tables: []string{"raw"},
		New:    func() Target { return traceTarget{} },
	})
}

// traceTarget is TRACE: it sets the kernel's nf_trace flag, which makes
// every later rule the packet meets log a "TRACE:" line. ipsift's engine
// traces on request instead, and Ctx has no such flag yet, so the Action
// only continues.
type traceTarget struct{}

func (traceTarget) Parse(opt, arg string, invert bool, more *Args) error {
	return Errorf("TRACE takes no options")
}
func (traceTarget) Finish(r *RuleInfo) error               { return nil }
func (traceTarget) Save(b *strings.Builder)                {}
func (traceTarget) Print(b *strings.Builder, numeric bool) {}
func (traceTarget) Compile(c *Compiler) (Action, error) {
	return ActionFunc(func(c *Ctx) Verdict { return Continue }), nil
}
