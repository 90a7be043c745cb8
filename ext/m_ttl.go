package ext

import (
	"fmt"
	"strings"
)

// The ttl match (-m ttl --ttl-eq/--ttl-lt/--ttl-gt N): the IPv4 time to
// live, as iptables' libipt_ttl.c reads and prints it and the kernel's
// ipt_ttl.c (xt_hl.c) tests it. IPv4 only; ip6tables has hl.

// TTL comparison modes (IPT_TTL_*).
const (
	ttlEq = iota
	ttlNe
	ttlLt
	ttlGt
)

// ttlMatch is one -m ttl in one rule (struct ipt_ttl_info).
type ttlMatch struct {
	mode  uint8
	ttl   uint8
	given bool
}

func init() {
	all := []string{"ttl-lt", "ttl-gt", "ttl-eq", "ttl"}
	opt := func(name string, inv bool) Option {
		var ex []string
		for _, n := range all {
			if n != name {
				ex = append(ex, n)
			}
		}
		return Option{Name: name, Arg: OneArg, Invert: inv, Excludes: ex}
	}
	RegisterMatch(&MatchType{
		Name:    "ttl",
		Family:  IPv4,
		Options: []Option{opt("ttl-lt", false), opt("ttl-gt", false), opt("ttl-eq", true), opt("ttl", false)},
		New:     func() Match { return &ttlMatch{} },
	})
}

// Parse implements Parser.
func (m *ttlMatch) Parse(opt, arg string, invert bool, more *Args) error {
	if m.given {
		return Errorf("only one of --ttl-eq, --ttl-lt and --ttl-gt may be given")
	}
	v, ok := ParseUintFull(arg, 0, 255)
	if !ok {
		return Errorf("bad value %q for --%s: a TTL is 0-255", arg, opt)
	}
	switch opt {
	case "ttl-eq", "ttl":
		m.mode = ttlEq
		if invert {
			m.mode = ttlNe
		}
	case "ttl-lt":
		m.mode = ttlLt
	case "ttl-gt":
		m.mode = ttlGt
	default:
		return Errorf("unknown option --%s", opt)
	}
	m.ttl, m.given = uint8(v), true
	return nil
}

// Finish implements Parser.
func (m *ttlMatch) Finish(r *RuleInfo) error {
	if !m.given {
		return Errorf("TTL match: you must specify one of --ttl-eq, --ttl-lt, --ttl-gt")
	}
	return nil
}

var ttlMatchSave = [...]string{" --ttl-eq", " ! --ttl-eq", " --ttl-lt", " --ttl-gt"}
var ttlMatchOps = [...]string{"==", "!=", "<", ">"}

// Save implements Parser.
func (m *ttlMatch) Save(b *strings.Builder) {
	fmt.Fprintf(b, "%s %d", ttlMatchSave[m.mode], m.ttl)
}

// Print implements Parser.
func (m *ttlMatch) Print(b *strings.Builder, numeric bool) {
	fmt.Fprintf(b, " TTL match TTL %s %d", ttlMatchOps[m.mode], m.ttl)
}

// Compile implements Match.
func (m *ttlMatch) Compile(c *Compiler) (Matcher, error) {
	cm := *m
	return &cm, nil
}

// Match implements Matcher.
func (m *ttlMatch) Match(c *Ctx) bool {
	t := c.Pkt.TTL
	switch m.mode {
	case ttlEq:
		return t == m.ttl
	case ttlNe:
		return t != m.ttl
	case ttlLt:
		return t < m.ttl
	}
	return t > m.ttl
}

// Explain implements Explainer.
func (m *ttlMatch) Explain(c *Ctx, matched bool) string {
	return fmt.Sprintf("TTL %s %d: the packet's TTL is %d", ttlMatchOps[m.mode], m.ttl, c.Pkt.TTL)
}
