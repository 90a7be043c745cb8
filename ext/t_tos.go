package ext

import (
	"fmt"
	"strings"
)

// TOS (iptables' libxt_TOS revision 1, the kernel's xt_DSCP tos_tg):
// change the IPv4 TOS byte as "clear MASK, XOR VALUE", in the mangle
// table. A symbolic value (Minimize-Delay ...) only touches the six TOS
// bits (mask 0x3f), a number all eight unless a mask is given.

type tosTarget struct {
	value, mask uint8
	set         bool
}

var tosOps = []string{"set-tos", "and-tos", "or-tos", "xor-tos"}

// tosSymbols are the names iptables takes for TOS values.
var tosSymbols = []struct {
	name  string
	value uint8
}{
	{"Minimize-Delay", 0x10}, {"Maximize-Throughput", 0x08},
	{"Maximize-Reliability", 0x04}, {"Minimize-Cost", 0x02}, {"Normal-Service", 0x00},
}

func init() {
	var opts []Option
	for _, n := range tosOps {
		opts = append(opts, Option{Name: n, Arg: OneArg, Excludes: exclusive(tosOps, n)})
	}
	RegisterTarget(&TargetType{
		Name:    "TOS",
		Family:  AnyFamily,
		Options: opts,
		Tables:  []string{"mangle"},
		New:     func() Target { return &tosTarget{} },
	})
}

// ParseTOSMask reads a TOS value as xtables' XTTYPE_TOSMASK does: a
// number with an optional "/mask" (the mask defaults to 0xff), or a
// symbolic name whose mask is symMask.
func ParseTOSMask(s string, symMask uint8) (value, mask uint8, err error) {
	if _, _, ok := leadingUint(s, 0, 255); ok {
		v, m, err := ParseValueMask(s, 255)
		if err != nil {
			return 0, 0, Errorf("illegal value %q: write a number 0-255 with an optional /mask", s)
		}
		return uint8(v), uint8(m), nil
	}
	for _, sym := range tosSymbols {
		if strings.EqualFold(s, sym.name) {
			return sym.value, symMask, nil
		}
	}
	return 0, 0, Errorf("symbolic name %q is unknown: use a number or Minimize-Delay, Maximize-Throughput, Maximize-Reliability, Minimize-Cost, Normal-Service", s)
}

// Parse implements Parser.
func (t *tosTarget) Parse(opt, arg string, invert bool, more *Args) error {
	t.set = true
	if opt == "set-tos" {
		v, m, err := ParseTOSMask(arg, 0x3f)
		if err != nil {
			return err
		}
		t.value, t.mask = v, m
		return nil
	}
	v, err := ParseUint(arg, 0, 255)
	if err != nil {
		return Errorf("bad value for --%s: %v", opt, err)
	}
	switch opt {
	case "and-tos":
		t.value, t.mask = 0, ^uint8(v)
	case "or-tos":
		t.value, t.mask = uint8(v), uint8(v)
	case "xor-tos":
		t.value, t.mask = uint8(v), 0
	}
	return nil
}

// Finish implements Parser.
func (t *tosTarget) Finish(r *RuleInfo) error {
	if !t.set {
		return Errorf("TOS needs --set-tos, --and-tos, --or-tos or --xor-tos")
	}
	return nil
}

// Save implements Parser.
func (t *tosTarget) Save(b *strings.Builder) {
	fmt.Fprintf(b, " --set-tos 0x%02x/0x%02x", t.value, t.mask)
}

// Print implements Parser.
func (t *tosTarget) Print(b *strings.Builder, numeric bool) {
	if numeric {
		fmt.Fprintf(b, " TOS set 0x%02x/0x%02x", t.value, t.mask)
		return
	}
	if t.mask == 0x3f {
		for _, s := range tosSymbols {
			if s.value == t.value {
				b.WriteString(" TOS set " + s.name)
				return
			}
		}
	}
	switch {
	case t.value == 0:
		fmt.Fprintf(b, " TOS and 0x%02x", ^t.mask)
	case t.value == t.mask:
		fmt.Fprintf(b, " TOS or 0x%02x", t.value)
	case t.mask == 0:
		fmt.Fprintf(b, " TOS xor 0x%02x", t.value)
	default:
		fmt.Fprintf(b, " TOS set 0x%02x/0x%02x", t.value, t.mask)
	}
}

// Compile implements Target.
func (t *tosTarget) Compile(c *Compiler) (Action, error) {
	value, mask := t.value, t.mask
	return ActionFunc(func(c *Ctx) Verdict {
		p := c.Pkt
		if p != nil && p.Version == 6 {
			// tos_tg6: the Traffic Class, which no checksum covers.
			if nv := p.TOS&^mask ^ value; nv != p.TOS {
				SetTrafficClass(p, nv)
			}
			return Continue
		}
		if p == nil || len(p.Data) < 20 {
			return Continue
		}
		d := p.Data
		nv := d[1]&^mask ^ value
		if nv != d[1] {
			ipv4Word(d, 0, uint16(d[0])<<8|uint16(nv))
			p.TOS = nv
		}
		return Continue
	}), nil
}
