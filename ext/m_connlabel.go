package ext

import (
	"fmt"
	"strconv"
	"strings"
)

// The connlabel match (-m connlabel, libxt_connlabel and the kernel's
// xt_connlabel) tests, and with --set sets, one of the 128 label bits of
// the packet's connection. Labels have names only through
// /etc/xtables/connlabel.conf, which ipsift does not read: labels are
// numbers. The connection's labels are read through the LabelConn
// interface (conn_extras.go).

const connlabelMaxBit = 127

const (
	clabInvert = 1 << 0
	clabSet    = 1 << 1
)

func init() {
	RegisterMatch(&MatchType{
		// The kernel runs connection tracking for rules using it.
		Conntrack: true,
		Name:      "connlabel",
		Family:    AnyFamily,
		Options: []Option{
			{Name: "label", Arg: OneArg, Invert: true, Mandatory: true},
			{Name: "set"},
		},
		New: func() Match { return &connlabelMatch{} },
	})
}

// connlabelMatch is one -m connlabel in a rule (struct
// xt_connlabel_mtinfo).
type connlabelMatch struct {
	bit     uint16
	options uint16
}

// Parse implements Parser.
func (m *connlabelMatch) Parse(opt, arg string, invert bool, _ *Args) error {
	switch opt {
	case "label":
		if arg == "" {
			return fmt.Errorf("the label must have a minimum length of 1 character")
		}
		v, ok := StrtoulFull(arg, 0, 0, 0)
		if !ok || v > 1<<31-1 {
			return fmt.Errorf("label %q not found or invalid value (ipsift reads no connlabel.conf: write the label's bit number 0-%d)", arg, connlabelMaxBit)
		}
		if v > connlabelMaxBit {
			return fmt.Errorf("invalid argument: label %d is above the highest label bit %d", v, connlabelMaxBit)
		}
		m.bit = uint16(v)
		if invert {
			m.options |= clabInvert
		}
	case "set":
		m.options |= clabSet
	default:
		return fmt.Errorf("unknown option --%s", opt)
	}
	return nil
}

// Finish implements Parser.
func (m *connlabelMatch) Finish(*RuleInfo) error { return nil }

// Save implements Parser.
func (m *connlabelMatch) Save(b *strings.Builder) {
	if m.options&clabInvert != 0 {
		b.WriteString(" !")
	}
	b.WriteString(" --label \"" + strconv.Itoa(int(m.bit)) + "\"")
	if m.options&clabSet != 0 {
		b.WriteString(" --set")
	}
}

// Print implements Parser.
func (m *connlabelMatch) Print(b *strings.Builder, _ bool) {
	b.WriteString(" connlabel")
	if m.options&clabInvert != 0 {
		b.WriteString(" !")
	}
	b.WriteString(" " + strconv.Itoa(int(m.bit)))
	if m.options&clabSet != 0 {
		b.WriteString(" set")
	}
}

// Compile implements Match.
func (m *connlabelMatch) Compile(*Compiler) (Matcher, error) {
	cm := *m
	return &cm, nil
}

// Match implements Matcher: connlabel_mt. A connection without labels
// (or a packet without a connection) gives the inverted answer; --set
// sets the bit and matches.
func (m *connlabelMatch) Match(c *Ctx) bool {
	invert := m.options&clabInvert != 0
	lc, ok := c.Conn.(LabelConn)
	if !ok {
		return invert
	}
	l := lc.Labels()
	if l[m.bit/64]&(1<<(m.bit%64)) != 0 {
		return !invert
	}
	if m.options&clabSet != 0 {
		lc.SetLabel(uint(m.bit))
		return !invert
	}
	return invert
}

// Explain implements Explainer.
func (m *connlabelMatch) Explain(c *Ctx, matched bool) string {
	lc, ok := c.Conn.(LabelConn)
	if !ok {
		return "connlabel: the packet has no connection with labels"
	}
	l := lc.Labels()
	if l[m.bit/64]&(1<<(m.bit%64)) != 0 {
		return fmt.Sprintf("connlabel: the connection has label %d", m.bit)
	}
	return fmt.Sprintf("connlabel: the connection does not have label %d", m.bit)
}
