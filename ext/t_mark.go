package ext

import (
	"fmt"
	"strings"
)

// MARK (iptables' libxt_MARK revision 2, the kernel's xt_mark): change
// the packet's mark (skb->mark). Every form comes down to "clear the bits
// of MASK, then XOR VALUE", which is what iptables-save prints:
// --set-xmark VALUE/MASK.

type markTarget struct {
	mark, mask uint32
	set        bool
}

// markOps are the MARK options; each excludes the others.
var markOps = []string{"set-xmark", "set-mark", "and-mark", "or-mark", "xor-mark"}

func exclusive(names []string, self string) []string {
	var out []string
	for _, n := range names {
		if n != self {
			out = append(out, n)
		}
	}
	return out
}

func init() {
	var opts []Option
	for _, n := range markOps {
		opts = append(opts, Option{Name: n, Arg: OneArg, Excludes: exclusive(markOps, n)})
	}
	RegisterTarget(&TargetType{
		Name:    "MARK",
		Family:  AnyFamily,
		Options: opts,
		New:     func() Target { return &markTarget{} },
	})
}

// parseMarkOp turns one of the MARK/CONNMARK value options into the
// value/mask pair of "clear MASK, XOR VALUE".
func parseMarkOp(opt, arg string) (mark, mask uint32, err error) {
	const all = 0xffffffff
	switch opt {
	case "set-xmark", "set-mark":
		v, m, err := ParseValueMask(arg, all)
		if err != nil {
			return 0, 0, Errorf("bad value %q for --%s: write VALUE[/MASK], numbers up to 0xffffffff", arg, opt)
		}
		if opt == "set-mark" {
			return uint32(v), uint32(v | m), nil
		}
		return uint32(v), uint32(m), nil
	}
	v, err := ParseUint(arg, 0, all)
	if err != nil {
		return 0, 0, Errorf("bad value for --%s: %v", opt, err)
	}
	switch opt {
	case "and-mark":
		return 0, ^uint32(v), nil
	case "or-mark":
		return uint32(v), uint32(v), nil
	default: // xor-mark
		return uint32(v), 0, nil
	}
}

// Parse implements Parser.
func (t *markTarget) Parse(opt, arg string, invert bool, more *Args) error {
	m, k, err := parseMarkOp(opt, arg)
	if err != nil {
		return err
	}
	t.mark, t.mask, t.set = m, k, true
	return nil
}

// Finish implements Parser.
func (t *markTarget) Finish(r *RuleInfo) error {
	if !t.set {
		return Errorf("MARK needs one of --set-xmark, --set-mark, --and-mark, --or-mark, --xor-mark")
	}
	return nil
}

// Save implements Parser.
func (t *markTarget) Save(b *strings.Builder) {
	fmt.Fprintf(b, " --set-xmark 0x%x/0x%x", t.mark, t.mask)
}

// markOpString is how iptables -L shows a "clear MASK, XOR VALUE" pair.
func markOpString(what string, mark, mask uint32) string {
	switch {
	case mark == 0:
		return fmt.Sprintf(" %s and 0x%x", what, ^mask)
	case mark == mask:
		return fmt.Sprintf(" %s or 0x%x", what, mark)
	case mask == 0:
		return fmt.Sprintf(" %s xor 0x%x", what, mark)
	case mask == 0xffffffff:
		return fmt.Sprintf(" %s set 0x%x", what, mark)
	}
	return fmt.Sprintf(" %s xset 0x%x/0x%x", what, mark, mask)
}

// Print implements Parser.
func (t *markTarget) Print(b *strings.Builder, numeric bool) {
	b.WriteString(markOpString("MARK", t.mark, t.mask))
}

// Compile implements Target.
func (t *markTarget) Compile(c *Compiler) (Action, error) {
	mark, mask := t.mark, t.mask
	return ActionFunc(func(c *Ctx) Verdict {
		c.Mark = c.Mark&^mask ^ mark
		return Continue
	}), nil
}
