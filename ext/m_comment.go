package ext

import (
	"strings"

	"github.com/ipsift/ipsift/classify"
)

// The comment match (-m comment --comment TEXT): a note on the rule that
// matches every packet, as iptables' libxt_comment.c reads and prints it.
// The kernel keeps 256 bytes with the terminating NUL, so iptables cuts a
// longer comment to 255 bytes without a word; ipsift does the same.

// commentMax is XT_MAX_COMMENT_LEN less the NUL.
const commentMax = 255

// commentMatch is one -m comment in one rule.
type commentMatch struct{ text string }

func init() {
	RegisterMatch(&MatchType{
		Name:    "comment",
		Family:  AnyFamily,
		Options: []Option{{Name: "comment", Arg: OneArg, Mandatory: true}},
		New:     func() Match { return &commentMatch{} },
	})
}

// Parse implements Parser.
func (m *commentMatch) Parse(opt, arg string, invert bool, more *Args) error {
	if opt != "comment" {
		return Errorf("unknown option --%s", opt)
	}
	if len(arg) > commentMax {
		arg = arg[:commentMax]
	}
	if i := strings.IndexByte(arg, 0); i >= 0 {
		arg = arg[:i]
	}
	m.text = arg
	return nil
}

// Finish implements Parser.
func (m *commentMatch) Finish(r *RuleInfo) error { return nil }

// Save implements Parser.
func (m *commentMatch) Save(b *strings.Builder) {
	b.WriteString(" --comment")
	SaveString(b, m.text)
}

// Print implements Parser.
func (m *commentMatch) Print(b *strings.Builder, numeric bool) {
	b.WriteString(" /* " + m.text + " */")
}

// Text returns the comment, for tools that show it (lint, traces).
func (m *commentMatch) Text() string { return m.text }

// Compile implements Match.
func (m *commentMatch) Compile(c *Compiler) (Matcher, error) {
	return commentMatcher{}, nil
}

// commentMatcher matches every packet.
type commentMatcher struct{}

// Match implements Matcher.
func (commentMatcher) Match(c *Ctx) bool { return true }

// Explain implements Explainer.
func (commentMatcher) Explain(c *Ctx, matched bool) string { return "a comment matches every packet" }

// Classify implements Classifiable: a comment tests nothing.
func (commentMatcher) Classify(*classify.Rule) bool { return true }
