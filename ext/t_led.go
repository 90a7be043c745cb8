package ext

import (
	"strconv"
	"strings"
)

// LED (iptables' libxt_LED, the kernel's xt_LED): blink an LED trigger
// named netfilter-ID. It needs the host's LED hardware, which ipsift
// does not have, so Compile refuses it.

type ledTarget struct {
	id     string
	delay  int64 // milliseconds, -1 for "inf"
	always bool
}

func init() {
	RegisterTarget(&TargetType{
		Name:   "LED",
		Family: AnyFamily,
		Options: []Option{
			{Name: "led-trigger-id", Arg: OneArg, Mandatory: true},
			{Name: "led-delay", Arg: OneArg},
			{Name: "led-always-blink", Arg: NoArg},
		},
		New: func() Target { return &ledTarget{} },
	})
}

// Parse implements Parser.
func (t *ledTarget) Parse(opt, arg string, invert bool, more *Args) error {
	switch opt {
	case "led-trigger-id":
		if len(arg) > 16 {
			return Errorf("--led-trigger-id %q: at most 16 characters", arg)
		}
		t.id = arg
	case "led-delay":
		if arg == "inf" {
			t.delay = -1
			return nil
		}
		v, err := ParseUint(arg, 0, 0xffffffff)
		if err != nil {
			return Errorf("--led-delay %q: write milliseconds or inf", arg)
		}
		t.delay = int64(int32(uint32(v)))
	case "led-always-blink":
		t.always = true
	}
	return nil
}

// Finish implements Parser.
func (t *ledTarget) Finish(r *RuleInfo) error { return nil }

func (t *ledTarget) quotedID() string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(t.id); i++ {
		if t.id[i] == '"' || t.id[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(t.id[i])
	}
	b.WriteByte('"')
	return b.String()
}

// Save implements Parser.
func (t *ledTarget) Save(b *strings.Builder) {
	b.WriteString(" --led-trigger-id " + t.quotedID())
	if t.delay > 0 {
		b.WriteString(" --led-delay " + strconv.FormatInt(t.delay, 10))
	} else if t.delay == -1 {
		b.WriteString(" --led-delay inf")
	}
	if t.always {
		b.WriteString(" --led-always-blink")
	}
}

// Print implements Parser.
func (t *ledTarget) Print(b *strings.Builder, numeric bool) {
	b.WriteString(" led-trigger-id:" + t.quotedID())
	if t.delay == -1 {
		b.WriteString(" led-delay:inf")
	} else {
		b.WriteString(" led-delay:" + strconv.FormatInt(t.delay, 10) + "ms")
	}
	if t.always {
		b.WriteString(" led-always-blink")
	}
}

// Compile implements Target.
func (t *ledTarget) Compile(c *Compiler) (Action, error) {
	return nil, Errorf("-j LED: ipsift has no LED hardware to blink")
}
