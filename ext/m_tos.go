package ext

import (
	"fmt"
	"strings"
)

// The tos match (-m tos --tos VALUE[/MASK] or a symbolic name): the IPv4
// TOS byte under a mask, as iptables' libxt_tos.c (revision 1) reads and
// prints it and the kernel's xt_tos.c tests it. A number without a mask
// compares all 8 bits; a name compares the 6 bits below the ECN field
// (mask 0x3f), as iptables. Values are read with ParseTOSMask and named
// with tosSymbols, shared with the TOS target.

// tosMatch is one -m tos in one rule (struct xt_tos_match_info).
type tosMatch struct {
	value, mask uint8
	invert      bool
}

func init() {
	RegisterMatch(&MatchType{
		Name:    "tos",
		Family:  AnyFamily,
		Options: []Option{{Name: "tos", Arg: OneArg, Invert: true, Mandatory: true}},
		New:     func() Match { return &tosMatch{} },
	})
}

// Parse implements Parser.
func (m *tosMatch) Parse(opt, arg string, invert bool, more *Args) error {
	if opt != "tos" {
		return Errorf("unknown option --%s", opt)
	}
	v, mk, err := ParseTOSMask(arg, 0x3f)
	if err != nil {
		return err
	}
	m.value, m.mask, m.invert = v, mk, invert
	return nil
}

// Finish implements Parser.
func (m *tosMatch) Finish(r *RuleInfo) error { return nil }

// Save implements Parser.
func (m *tosMatch) Save(b *strings.Builder) {
	if m.invert {
		b.WriteString(" !")
	}
	fmt.Fprintf(b, " --tos 0x%02x/0x%02x", m.value, m.mask)
}

// Print implements Parser: " tos match0x10/0x3f" (iptables writes no
// space there) or " tos match Minimize-Delay".
func (m *tosMatch) Print(b *strings.Builder, numeric bool) {
	b.WriteString(" tos match" + bangNoSpace(m.invert))
	if !numeric && m.mask == 0x3f {
		for _, s := range tosSymbols {
			if s.value == m.value {
				b.WriteString(" " + s.name)
				return
			}
		}
	}
	fmt.Fprintf(b, "0x%02x/0x%02x", m.value, m.mask)
}

// Compile implements Match.
func (m *tosMatch) Compile(c *Compiler) (Matcher, error) {
	cm := *m
	return &cm, nil
}

// Match implements Matcher.
func (m *tosMatch) Match(c *Ctx) bool {
	return (c.Pkt.TOS&m.mask == m.value) != m.invert
}

// Explain implements Explainer.
func (m *tosMatch) Explain(c *Ctx, matched bool) string {
	return fmt.Sprintf("%s--tos 0x%02x/0x%02x: the packet's TOS is 0x%02x", bang(m.invert), m.value, m.mask, c.Pkt.TOS)
}
