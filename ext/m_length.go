package ext

import (
	"fmt"
	"strings"
)

// The length match (-m length --length N[:M]): the packet's length as
// the IP header gives it (the total-length field for IPv4), as iptables'
// libxt_length.c reads and prints it and the kernel's xt_length.c tests
// it.

// lengthMatch is one -m length in one rule (struct xt_length_info).
type lengthMatch struct {
	min, max uint16
	invert   bool
}

func init() {
	RegisterMatch(&MatchType{
		Name:    "length",
		Family:  AnyFamily,
		Options: []Option{{Name: "length", Arg: OneArg, Invert: true, Mandatory: true}},
		New:     func() Match { return &lengthMatch{} },
	})
}

// Parse implements Parser.
func (m *lengthMatch) Parse(opt, arg string, invert bool, more *Args) error {
	if opt != "length" {
		return Errorf("unknown option --%s", opt)
	}
	lo, hi, _, err := ParseUintRange(arg, 0, 65535)
	if err != nil {
		return err
	}
	m.min, m.max, m.invert = uint16(lo), uint16(hi), invert
	return nil
}

// Finish implements Parser.
func (m *lengthMatch) Finish(r *RuleInfo) error { return nil }

func (m *lengthMatch) value() string {
	if m.min == m.max {
		return fmt.Sprintf("%d", m.min)
	}
	return fmt.Sprintf("%d:%d", m.min, m.max)
}

// Save implements Parser.
func (m *lengthMatch) Save(b *strings.Builder) {
	if m.invert {
		b.WriteString(" !")
	}
	b.WriteString(" --length " + m.value())
}

// Print implements Parser.
func (m *lengthMatch) Print(b *strings.Builder, numeric bool) {
	b.WriteString(" length " + bangNoSpace(m.invert) + m.value())
}

// Compile implements Match.
func (m *lengthMatch) Compile(c *Compiler) (Matcher, error) {
	cm := *m
	return &cm, nil
}

// Match implements Matcher.
func (m *lengthMatch) Match(c *Ctx) bool {
	n := c.Pkt.TotalLen
	return (n >= int(m.min) && n <= int(m.max)) != m.invert
}

// Explain implements Explainer.
func (m *lengthMatch) Explain(c *Ctx, matched bool) string {
	return fmt.Sprintf("%s--length %s: the packet is %d bytes", bang(m.invert), m.value(), c.Pkt.TotalLen)
}
