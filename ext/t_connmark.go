package ext

import (
	"fmt"
	"strings"
)

// CONNMARK (iptables' libxt_CONNMARK revision 2, the kernel's
// xt_connmark): set the connection's mark, copy the packet's mark to it
// (--save-mark) or back (--restore-mark), with masks and an optional
// shift. A packet without a connection (Ctx.Conn nil) is left alone.

const (
	connmarkSet = iota
	connmarkSave
	connmarkRestore
)

type connmarkTarget struct {
	mode           int
	ctmark, ctmask uint32
	nfmask         uint32
	shiftRight     bool
	shiftBits      uint8
	op             bool
}

var connmarkOps = []string{"set-xmark", "set-mark", "and-mark", "or-mark", "xor-mark", "save-mark", "restore-mark"}

func init() {
	var opts []Option
	for _, n := range connmarkOps {
		arg := OneArg
		if n == "save-mark" || n == "restore-mark" {
			arg = NoArg
		}
		opts = append(opts, Option{Name: n, Arg: arg, Excludes: exclusive(connmarkOps, n)})
	}
	opts = append(opts,
		Option{Name: "left-shift-mark", Arg: OneArg},
		Option{Name: "right-shift-mark", Arg: OneArg},
		Option{Name: "ctmask", Arg: OneArg, Excludes: []string{"mask"}},
		Option{Name: "nfmask", Arg: OneArg, Excludes: []string{"mask"}},
		Option{Name: "mask", Arg: OneArg, Excludes: []string{"ctmask", "nfmask"}},
	)
	RegisterTarget(&TargetType{
		// The kernel runs connection tracking for rules using it.
		Conntrack: true,
		Name:      "CONNMARK",
		Family:    AnyFamily,
		Options:   opts,
		New:       func() Target { return &connmarkTarget{ctmask: 0xffffffff, nfmask: 0xffffffff} },
	})
}

// Parse implements Parser. Options apply in order, as iptables writes
// them into one struct: a later --ctmask overrides the mask of
// --set-mark.
func (t *connmarkTarget) Parse(opt, arg string, invert bool, more *Args) error {
	switch opt {
	case "save-mark":
		t.mode, t.op = connmarkSave, true
	case "restore-mark":
		t.mode, t.op = connmarkRestore, true
	case "left-shift-mark", "right-shift-mark":
		v, err := ParseUint(arg, 0, 32)
		if err != nil {
			return Errorf("bad value for --%s: %v", opt, err)
		}
		t.shiftRight, t.shiftBits = opt == "right-shift-mark", uint8(v)
	case "ctmask", "nfmask", "mask":
		v, err := ParseUint(arg, 0, 0xffffffff)
		if err != nil {
			return Errorf("bad value for --%s: %v", opt, err)
		}
		if opt != "nfmask" {
			t.ctmask = uint32(v)
		}
		if opt != "ctmask" {
			t.nfmask = uint32(v)
		}
	default:
		m, k, err := parseMarkOp(opt, arg)
		if err != nil {
			return err
		}
		t.mode, t.ctmark, t.ctmask, t.op = connmarkSet, m, k, true
	}
	return nil
}

// Finish implements Parser.
func (t *connmarkTarget) Finish(r *RuleInfo) error {
	if !t.op {
		return Errorf("CONNMARK needs an operation: --set-xmark, --set-mark, --and-mark, --or-mark, --xor-mark, --save-mark or --restore-mark")
	}
	return nil
}

func (t *connmarkTarget) shiftOp() string {
	if t.shiftRight {
		return "right-shift-mark"
	}
	return "left-shift-mark"
}

// Save implements Parser.
func (t *connmarkTarget) Save(b *strings.Builder) {
	switch t.mode {
	case connmarkSet:
		fmt.Fprintf(b, " --set-xmark 0x%x/0x%x", t.ctmark, t.ctmask)
	case connmarkSave:
		fmt.Fprintf(b, " --save-mark --nfmask 0x%x --ctmask 0x%x", t.nfmask, t.ctmask)
	case connmarkRestore:
		fmt.Fprintf(b, " --restore-mark --nfmask 0x%x --ctmask 0x%x", t.nfmask, t.ctmask)
	}
	if t.shiftBits != 0 {
		fmt.Fprintf(b, " --%s %d", t.shiftOp(), t.shiftBits)
	}
}

// Print implements Parser.
func (t *connmarkTarget) Print(b *strings.Builder, numeric bool) {
	const all = 0xffffffff
	switch t.mode {
	case connmarkSet:
		b.WriteString(markOpString("CONNMARK", t.ctmark, t.ctmask))
	case connmarkSave:
		switch {
		case t.nfmask == all && t.ctmask == all:
			b.WriteString(" CONNMARK save")
		case t.nfmask == t.ctmask:
			fmt.Fprintf(b, " CONNMARK save mask 0x%x", t.nfmask)
		default:
			fmt.Fprintf(b, " CONNMARK save nfmask 0x%x ctmask ~0x%x", t.nfmask, t.ctmask)
		}
	case connmarkRestore:
		switch {
		case t.nfmask == all && t.ctmask == all:
			b.WriteString(" CONNMARK restore")
		case t.nfmask == t.ctmask:
			fmt.Fprintf(b, " CONNMARK restore mask 0x%x", t.ctmask)
		default:
			fmt.Fprintf(b, " CONNMARK restore ctmask 0x%x nfmask ~0x%x", t.ctmask, t.nfmask)
		}
	}
	if t.shiftBits != 0 {
		fmt.Fprintf(b, " %s %d", t.shiftOp(), t.shiftBits)
	}
}

// shift moves a mark by the rule's shift, as the kernel's u32 shift does
// (by 32 gives 0 in Go; the kernel's C shift is undefined there).
func (t *connmarkTarget) shift(v uint32) uint32 {
	if t.shiftRight {
		return v >> t.shiftBits
	}
	return v << t.shiftBits
}

// Compile implements Target.
func (t *connmarkTarget) Compile(c *Compiler) (Action, error) {
	r := *t
	return ActionFunc(func(c *Ctx) Verdict {
		ct := c.Conn
		if ct == nil {
			return Continue
		}
		switch r.mode {
		case connmarkSet:
			if n := r.shift(ct.Mark()&^r.ctmask ^ r.ctmark); n != ct.Mark() {
				ct.SetMark(n)
			}
		case connmarkSave:
			if n := ct.Mark()&^r.ctmask ^ r.shift(c.Mark&r.nfmask); n != ct.Mark() {
				ct.SetMark(n)
			}
		case connmarkRestore:
			c.Mark = c.Mark&^r.nfmask ^ r.shift(ct.Mark()&r.ctmask)
		}
		return Continue
	}), nil
}
