package ext

import (
	"strconv"
	"strings"
)

// IDLETIMER (iptables' libxt_IDLETIMER revision 1, the kernel's
// xt_IDLETIMER): restart a named timer that tells userspace (through
// sysfs or netlink) when no packet has hit the rule for --timeout
// seconds. It changes nothing about the packet, so the Action only
// continues.

type idletimerTarget struct {
	timeout uint32
	label   string
	alarm   bool
	nlmsg   bool
}

func init() {
	RegisterTarget(&TargetType{
		Name:   "IDLETIMER",
		Family: AnyFamily,
		Options: []Option{
			{Name: "timeout", Arg: OneArg, Mandatory: true},
			{Name: "label", Arg: OneArg, Mandatory: true},
			{Name: "alarm", Arg: NoArg},
			{Name: "send_nl_msg", Arg: NoArg},
		},
		New: func() Target { return &idletimerTarget{} },
	})
}

// Parse implements Parser.
func (t *idletimerTarget) Parse(opt, arg string, invert bool, more *Args) error {
	switch opt {
	case "timeout":
		v, err := ParseUint(arg, 0, 0xffffffff)
		if err != nil {
			return Errorf("bad --timeout: %v", err)
		}
		t.timeout = uint32(v)
	case "label":
		t.label = truncate(arg, 27)
	case "alarm":
		t.alarm = true
	case "send_nl_msg":
		t.nlmsg = true
	}
	return nil
}

// Finish implements Parser: the kernel refuses a zero timeout, one it
// cannot count in milliseconds, and an empty label.
func (t *idletimerTarget) Finish(r *RuleInfo) error {
	if t.timeout == 0 || t.timeout >= 2147483647/1000 {
		return Errorf("IDLETIMER --timeout must be 1-2147482 seconds")
	}
	if t.label == "" {
		return Errorf("IDLETIMER --label must not be empty")
	}
	return nil
}

// Save implements Parser.
func (t *idletimerTarget) Save(b *strings.Builder) {
	b.WriteString(" --timeout " + strconv.FormatUint(uint64(t.timeout), 10) + " --label " + t.label)
	if t.alarm {
		b.WriteString(" --alarm")
	}
	if t.nlmsg {
		b.WriteString(" --send_nl_msg")
	}
}

// Print implements Parser.
func (t *idletimerTarget) Print(b *strings.Builder, numeric bool) {
	b.WriteString(" timeout:" + strconv.FormatUint(uint64(t.timeout), 10) + " label:" + t.label)
	if t.alarm {
		b.WriteString(" alarm")
	}
	if t.nlmsg {
		b.WriteString(" send_nl_msg")
	}
}

// Compile implements Target.
func (t *idletimerTarget) Compile(c *Compiler) (Action, error) {
	return ActionFunc(func(c *Ctx) Verdict { return Continue }), nil
}
