package ext

import (
	"fmt"
	"strings"
)

// The helper match (-m helper, libxt_helper and the kernel's xt_helper)
// matches packets of connections that a conntrack helper expected: the
// packet's connection has a master (an FTP data connection's control
// connection) whose helper has the given name. It reads the master and
// its helper through the MasterConn and HelperConn interfaces
// (conn_extras.go).

const helperNameLen = 30 // the size of struct xt_helper_info's name

func init() {
	RegisterMatch(&MatchType{
		// The kernel runs connection tracking for rules using it.
		Conntrack: true,
		Name:      "helper",
		Family:    AnyFamily,
		Options: []Option{
			{Name: "helper", Arg: OneArg, Invert: true, Mandatory: true},
		},
		New: func() Match { return &helperMatch{} },
	})
}

// helperMatch is one -m helper in a rule (struct xt_helper_info).
type helperMatch struct {
	name   string
	invert bool
}

// Parse implements Parser.
func (m *helperMatch) Parse(opt, arg string, invert bool, _ *Args) error {
	if opt != "helper" {
		return fmt.Errorf("unknown option --%s", opt)
	}
	if len(arg) > helperNameLen-1 {
		arg = arg[:helperNameLen-1]
	}
	m.name, m.invert = arg, invert
	return nil
}

// Finish implements Parser.
func (m *helperMatch) Finish(*RuleInfo) error { return nil }

// Save implements Parser.
func (m *helperMatch) Save(b *strings.Builder) {
	if m.invert {
		b.WriteString(" !")
	}
	b.WriteString(" --helper")
	SaveString(b, m.name)
}

// Print implements Parser.
func (m *helperMatch) Print(b *strings.Builder, _ bool) {
	not := ""
	if m.invert {
		not = "! "
	}
	b.WriteString(" helper match " + not + "\"" + m.name + "\"")
}

// Compile implements Match.
func (m *helperMatch) Compile(*Compiler) (Matcher, error) {
	hm := *m
	return &hm, nil
}

// masterHelper is the helper name of the packet's master connection
// ("" for none).
func masterHelper(c *Ctx) (string, bool) {
	mc, ok := c.Conn.(MasterConn)
	if !ok {
		return "", false
	}
	master := mc.Master()
	if master == nil {
		return "", false
	}
	h, ok := master.(HelperConn)
	if !ok {
		return "", false
	}
	name := h.HelperName()
	return name, name != ""
}

// Match implements Matcher: helper_mt. Like the kernel it compares only
// as many characters as the helper's name has, so --helper ftp-21 matches
// the ftp helper.
func (m *helperMatch) Match(c *Ctx) bool {
	name, ok := masterHelper(c)
	if !ok {
		return m.invert
	}
	if m.name == "" {
		return !m.invert
	}
	return strings.HasPrefix(m.name, name) != m.invert
}

// Explain implements Explainer.
func (m *helperMatch) Explain(c *Ctx, matched bool) string {
	name, ok := masterHelper(c)
	if !ok {
		return "helper: the packet's connection was not expected by a helper"
	}
	return fmt.Sprintf("helper: the connection was expected by helper %q", name)
}
