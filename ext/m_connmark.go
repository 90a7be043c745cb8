package ext

import (
	"fmt"
	"strings"
)

// The connmark match (-m connmark, libxt_connmark revision 1 and the
// kernel's xt_connmark) tests the mark of the packet's connection
// (ct->mark): (ctmark & MASK) == VALUE. A packet without a connection
// never matches, not even with "!".

func init() {
	RegisterMatch(&MatchType{
		// The kernel runs connection tracking for rules using it.
		Conntrack: true,
		Name:      "connmark",
		Family:    AnyFamily,
		Options: []Option{
			{Name: "mark", Arg: OneArg, Invert: true, Mandatory: true},
		},
		New: func() Match { return &connmarkMatch{} },
	})
}

// connmarkMatch is one -m connmark in a rule (struct
// xt_connmark_mtinfo1).
type connmarkMatch struct{ markMatch }

// Save implements Parser.
func (m *connmarkMatch) Save(b *strings.Builder) { m.markMatch.Save(b) }

// Print implements Parser: libxt_connmark prints "connmark match " and
// then the mark with its own leading space, hence two spaces when the
// match is not inverted.
func (m *connmarkMatch) Print(b *strings.Builder, _ bool) {
	b.WriteString(" connmark match ")
	if m.invert {
		b.WriteString("!")
	}
	b.WriteString(" " + FormatValueMask(uint64(m.mark), uint64(m.mask), 0xffffffff))
}

// Compile implements Match.
func (m *connmarkMatch) Compile(*Compiler) (Matcher, error) {
	return &connmarkMatcher{m.markMatch}, nil
}

type connmarkMatcher struct{ m markMatch }

// Match implements Matcher: connmark_mt.
func (cm *connmarkMatcher) Match(c *Ctx) bool {
	if c.Conn == nil {
		return false
	}
	return (c.Conn.Mark()&cm.m.mask == cm.m.mark) != cm.m.invert
}

// Explain implements Explainer.
func (cm *connmarkMatcher) Explain(c *Ctx, matched bool) string {
	if c.Conn == nil {
		return "connmark: the packet has no connection (untracked or invalid), so it never matches"
	}
	not := ""
	if cm.m.invert {
		not = "! "
	}
	return fmt.Sprintf("connmark: %s--mark %s: the connection's mark is 0x%x", not, FormatValueMask(uint64(cm.m.mark), uint64(cm.m.mask), 0xffffffff), c.Conn.Mark())
}
