package ext

import (
	"fmt"
	"strconv"
	"strings"
)

// CLASSIFY (iptables' libxt_CLASSIFY, the kernel's xt_CLASSIFY): set the
// packet's traffic-control class (skb->priority), in the mangle table's
// OUTPUT, FORWARD and POSTROUTING. The class only matters to queueing
// disciplines after netfilter, which ipsift does not model, so the
// Action only continues.

type classifyTarget struct{ priority uint32 }

func init() {
	RegisterTarget(&TargetType{
		Name:    "CLASSIFY",
		Family:  AnyFamily,
		Options: []Option{{Name: "set-class", Arg: OneArg, Mandatory: true}},
		Tables:  []string{"mangle"},
		Hooks:   HookLocalOut | HookForward | HookPostRouting,
		New:     func() Target { return &classifyTarget{} },
	})
}

// scanHex reads a hexadecimal number the way scanf's %x does: optional
// blanks, an optional 0x, then hex digits (at least one).
func scanHex(s string) (v uint32, rest string, ok bool) {
	s = strings.TrimLeft(s, " \t\n")
	if len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && isHex(s[2]) {
		s = s[2:]
	}
	i := 0
	for i < len(s) && isHex(s[i]) {
		i++
	}
	if i == 0 {
		return 0, s, false
	}
	n, _ := strconv.ParseUint(s[:i], 16, 64)
	return uint32(n), s[i:], true
}

// Parse implements Parser: "MAJOR:MINOR" in hex, as tc writes classes.
func (t *classifyTarget) Parse(opt, arg string, invert bool, more *Args) error {
	maj, rest, ok := scanHex(arg)
	if ok && strings.HasPrefix(rest, ":") {
		if min, _, ok := scanHex(rest[1:]); ok {
			t.priority = maj<<16&0xffff0000 | min&0xffff
			return nil
		}
	}
	return Errorf("bad class value %q: write MAJOR:MINOR in hex, e.g. 1:10", arg)
}

// Finish implements Parser.
func (t *classifyTarget) Finish(r *RuleInfo) error { return nil }

// Save implements Parser.
func (t *classifyTarget) Save(b *strings.Builder) {
	fmt.Fprintf(b, " --set-class %04x:%04x", t.priority>>16, t.priority&0xffff)
}

// Print implements Parser.
func (t *classifyTarget) Print(b *strings.Builder, numeric bool) {
	fmt.Fprintf(b, " CLASSIFY set %x:%x", t.priority>>16, t.priority&0xffff)
}

// Compile implements Target.
func (t *classifyTarget) Compile(c *Compiler) (Action, error) {
	return ActionFunc(func(c *Ctx) Verdict { return Continue }), nil
}
