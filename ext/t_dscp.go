package ext

import (
	"fmt"
	"strings"
)

// DSCP (iptables' libxt_DSCP, the kernel's xt_DSCP): set the six DSCP
// bits of the IPv4 TOS byte, keeping the two ECN bits, in the mangle
// table. iptables-save always prints the number.

type dscpTarget struct {
	dscp uint8
	set  bool
}

// dscpClasses are the class names --set-dscp-class takes (dscp_helper.c).
var dscpClasses = []struct {
	name string
	dscp uint8
}{
	{"CS0", 0x00}, {"CS1", 0x08}, {"CS2", 0x10}, {"CS3", 0x18}, {"CS4", 0x20},
	{"CS5", 0x28}, {"CS6", 0x30}, {"CS7", 0x38}, {"BE", 0x00},
	{"AF11", 0x0a}, {"AF12", 0x0c}, {"AF13", 0x0e}, {"AF21", 0x12}, {"AF22", 0x14},
	{"AF23", 0x16}, {"AF31", 0x1a}, {"AF32", 0x1c}, {"AF33", 0x1e}, {"AF41", 0x22},
	{"AF42", 0x24}, {"AF43", 0x26}, {"EF", 0x2e},
}

// ParseDSCPClass reads a DSCP class name as iptables does: the first
// class whose name begins the argument, case-insensitively.
func ParseDSCPClass(s string) (uint8, error) {
	for _, c := range dscpClasses {
		if len(s) >= len(c.name) && strings.EqualFold(s[:len(c.name)], c.name) {
			return c.dscp, nil
		}
	}
	return 0, Errorf("invalid DSCP class %q: use CS0-CS7, BE, AF11-AF43 or EF", s)
}

func init() {
	RegisterTarget(&TargetType{
		Name:   "DSCP",
		Family: AnyFamily,
		Options: []Option{
			{Name: "set-dscp", Arg: OneArg, Excludes: []string{"set-dscp-class"}},
			{Name: "set-dscp-class", Arg: OneArg, Excludes: []string{"set-dscp"}},
		},
		Tables: []string{"mangle"},
		New:    func() Target { return &dscpTarget{} },
	})
}

// Parse implements Parser.
func (t *dscpTarget) Parse(opt, arg string, invert bool, more *Args) error {
	t.set = true
	if opt == "set-dscp-class" {
		v, err := ParseDSCPClass(arg)
		t.dscp = v
		return err
	}
	v, err := ParseUint(arg, 0, 0x3f)
	if err != nil {
		return Errorf("bad --set-dscp: %v (DSCP is 0-63)", err)
	}
	t.dscp = uint8(v)
	return nil
}

// Finish implements Parser.
func (t *dscpTarget) Finish(r *RuleInfo) error {
	if !t.set {
		return Errorf("DSCP needs --set-dscp or --set-dscp-class")
	}
	return nil
}

// Save implements Parser.
func (t *dscpTarget) Save(b *strings.Builder) { fmt.Fprintf(b, " --set-dscp 0x%02x", t.dscp) }

// Print implements Parser.
func (t *dscpTarget) Print(b *strings.Builder, numeric bool) {
	fmt.Fprintf(b, " DSCP set 0x%02x", t.dscp)
}

// Compile implements Target.
func (t *dscpTarget) Compile(c *Compiler) (Action, error) {
	dscp := t.dscp
	return ActionFunc(func(c *Ctx) Verdict {
		p := c.Pkt
		if p != nil && p.Version == 6 {
			// dscp_tg6: the Traffic Class's upper six bits, ECN kept.
			if p.TOS>>2 != dscp {
				SetTrafficClass(p, p.TOS&3|dscp<<2)
			}
			return Continue
		}
		if p == nil || len(p.Data) < 20 {
			return Continue
		}
		d := p.Data
		if d[1]>>2 != dscp {
			nv := d[1]&3 | dscp<<2
			ipv4Word(d, 0, uint16(d[0])<<8|uint16(nv))
			p.TOS = nv
		}
		return Continue
	}), nil
}
