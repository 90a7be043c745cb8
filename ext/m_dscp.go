package ext

import (
	"fmt"
	"strings"
)

// The dscp match (-m dscp --dscp N or --dscp-class CLASS): the six DSCP
// bits of the TOS byte, as iptables' libxt_dscp.c reads and prints them
// and the kernel's xt_dscp.c tests them. Class names are read with
// ParseDSCPClass, shared with the DSCP target.

// dscpMatch is one -m dscp in one rule (struct xt_dscp_info).
type dscpMatch struct {
	dscp   uint8
	invert bool
	given  bool
}

func init() {
	RegisterMatch(&MatchType{
		Name:   "dscp",
		Family: AnyFamily,
		Options: []Option{
			{Name: "dscp", Arg: OneArg, Invert: true, Excludes: []string{"dscp-class"}},
			{Name: "dscp-class", Arg: OneArg, Invert: true, Excludes: []string{"dscp"}},
		},
		New: func() Match { return &dscpMatch{} },
	})
}

// Parse implements Parser.
func (m *dscpMatch) Parse(opt, arg string, invert bool, more *Args) error {
	if m.given {
		return Errorf("--dscp and --dscp-class cannot be combined: give one")
	}
	switch opt {
	case "dscp":
		v, ok := ParseUintFull(arg, 0, 0x3f)
		if !ok {
			return Errorf("bad value %q: a DSCP is 0-63 (0x00-0x3f); for a class name use --dscp-class", arg)
		}
		m.dscp = uint8(v)
	case "dscp-class":
		v, err := ParseDSCPClass(arg)
		if err != nil {
			return err
		}
		m.dscp = v
	default:
		return Errorf("unknown option --%s", opt)
	}
	m.invert, m.given = invert, true
	return nil
}

// Finish implements Parser.
func (m *dscpMatch) Finish(r *RuleInfo) error {
	if !m.given {
		return Errorf("DSCP match: --dscp or --dscp-class is required")
	}
	return nil
}

// Save implements Parser.
func (m *dscpMatch) Save(b *strings.Builder) {
	if m.invert {
		b.WriteString(" !")
	}
	fmt.Fprintf(b, " --dscp 0x%02x", m.dscp)
}

// Print implements Parser.
func (m *dscpMatch) Print(b *strings.Builder, numeric bool) {
	fmt.Fprintf(b, " DSCP match %s0x%02x", bangNoSpace(m.invert), m.dscp)
}

// Compile implements Match.
func (m *dscpMatch) Compile(c *Compiler) (Matcher, error) {
	cm := *m
	return &cm, nil
}

// Match implements Matcher.
func (m *dscpMatch) Match(c *Ctx) bool {
	return (c.Pkt.TOS>>2 == m.dscp) != m.invert
}

// Explain implements Explainer.
func (m *dscpMatch) Explain(c *Ctx, matched bool) string {
	return fmt.Sprintf("%s--dscp 0x%02x: the packet's is 0x%02x", bang(m.invert), m.dscp, c.Pkt.TOS>>2)
}
