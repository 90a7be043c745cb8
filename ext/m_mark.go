package ext

import (
	"fmt"
	"strings"

	"github.com/ipsift/ipsift/classify"
)

// The mark match (-m mark, libxt_mark revision 1 and the kernel's
// xt_mark) tests the packet's mark (skb->mark): (mark & MASK) == VALUE.

func init() {
	RegisterMatch(&MatchType{
		Name:   "mark",
		Family: AnyFamily,
		Options: []Option{
			{Name: "mark", Arg: OneArg, Invert: true, Mandatory: true},
		},
		New: func() Match { return &markMatch{} },
	})
}

// markMatch is one -m mark in a rule (struct xt_mark_mtinfo1); the
// connmark match uses the same fields.
type markMatch struct {
	mark, mask uint32
	invert     bool
}

// parseMarkMask reads "VALUE[/MASK]" as xtables_parse_mark_mask does;
// the value is kept as written, not masked.
func parseMarkMask(arg string) (mark, mask uint32, err error) {
	v, m, err := ParseValueMask(arg, 0xffffffff)
	if err != nil {
		return 0, 0, fmt.Errorf("bad mark %q: %v (write VALUE or VALUE/MASK, each 0-0xffffffff)", arg, err)
	}
	return uint32(v), uint32(m), nil
}

// Parse implements Parser.
func (m *markMatch) Parse(opt, arg string, invert bool, _ *Args) error {
	if opt != "mark" {
		return fmt.Errorf("unknown option --%s", opt)
	}
	v, mk, err := parseMarkMask(arg)
	if err != nil {
		return err
	}
	m.mark, m.mask, m.invert = v, mk, invert
	return nil
}

// Finish implements Parser.
func (m *markMatch) Finish(*RuleInfo) error { return nil }

// Save implements Parser.
func (m *markMatch) Save(b *strings.Builder) {
	if m.invert {
		b.WriteString(" !")
	}
	b.WriteString(" --mark " + FormatValueMask(uint64(m.mark), uint64(m.mask), 0xffffffff))
}

// Print implements Parser.
func (m *markMatch) Print(b *strings.Builder, _ bool) {
	b.WriteString(" mark match")
	if m.invert {
		b.WriteString(" !")
	}
	b.WriteString(" " + FormatValueMask(uint64(m.mark), uint64(m.mask), 0xffffffff))
}

// Compile implements Match.
func (m *markMatch) Compile(*Compiler) (Matcher, error) {
	mm := *m
	return &mm, nil
}

// Match implements Matcher: mark_mt.
func (m *markMatch) Match(c *Ctx) bool {
	return (c.Mark&m.mask == m.mark) != m.invert
}

// Explain implements Explainer.
func (m *markMatch) Explain(c *Ctx, matched bool) string {
	not := ""
	if m.invert {
		not = "! "
	}
	return fmt.Sprintf("mark: %s--mark %s: the packet's mark is 0x%x", not, FormatValueMask(uint64(m.mark), uint64(m.mask), 0xffffffff), c.Mark)
}

// Classify implements Classifiable.
func (m *markMatch) Classify(r *classify.Rule) bool {
	if !m.invert {
		r.NarrowMark(m.mark, m.mask)
	}
	return true
}
