package ext

import (
	"fmt"
	"strings"
)

// The socket match (-m socket, libxt_socket revision 3 and the kernel's
// xt_socket) matches packets for which a local socket exists (for
// transparent proxying). ipsift has no sockets to look up; the rule
// parses and prints, and Compile says so. The kernel allows it only in
// PREROUTING and INPUT.

const (
	sockTransparent = 1 << 0
	sockNoWildcard  = 1 << 1
	sockRestoreMark = 1 << 2
)

func init() {
	RegisterMatch(&MatchType{
		Name:   "socket",
		Family: AnyFamily,
		Hooks:  HookPreRouting | HookLocalIn,
		Options: []Option{
			{Name: "transparent"},
			{Name: "nowildcard"},
			{Name: "restore-skmark"},
		},
		New: func() Match { return &socketMatch{} },
	})
}

// socketMatch is one -m socket in a rule (struct xt_socket_mtinfo3).
type socketMatch struct{ flags uint8 }

// Parse implements Parser.
func (m *socketMatch) Parse(opt, _ string, _ bool, _ *Args) error {
	switch opt {
	case "transparent":
		m.flags |= sockTransparent
	case "nowildcard":
		m.flags |= sockNoWildcard
	case "restore-skmark":
		m.flags |= sockRestoreMark
	default:
		return fmt.Errorf("unknown option --%s", opt)
	}
	return nil
}

// Finish implements Parser.
func (m *socketMatch) Finish(*RuleInfo) error { return nil }

// Save implements Parser.
func (m *socketMatch) Save(b *strings.Builder) {
	if m.flags&sockTransparent != 0 {
		b.WriteString(" --transparent")
	}
	if m.flags&sockNoWildcard != 0 {
		b.WriteString(" --nowildcard")
	}
	if m.flags&sockRestoreMark != 0 {
		b.WriteString(" --restore-skmark")
	}
}

// Print implements Parser.
func (m *socketMatch) Print(b *strings.Builder, _ bool) {
	b.WriteString(" socket")
	m.Save(b)
}

// Compile implements Match.
func (m *socketMatch) Compile(*Compiler) (Matcher, error) {
	return nil, fmt.Errorf("-m socket: ipsift has no local sockets to look packets up in; the rule cannot be evaluated")
}
