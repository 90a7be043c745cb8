package ext

import (
	"fmt"
	"strings"
)

// The hl match (-m hl --hl-eq/--hl-lt/--hl-gt N): the IPv6 hop limit, as
// libip6t_hl.c reads and prints it and the kernel's xt_hl.c tests it.
// ip6tables' twin of ttl (m_ttl.go), whose parser it reuses under its
// own option names.

type hlMatch struct{ ttlMatch }

var hlOptNames = map[string]string{"hl-eq": "ttl-eq", "hl-lt": "ttl-lt", "hl-gt": "ttl-gt", "hl": "ttl"}

func init() {
	all := []string{"hl-lt", "hl-gt", "hl-eq", "hl"}
	var opts []Option
	for _, n := range all {
		opts = append(opts, Option{Name: n, Arg: OneArg, Invert: n == "hl-eq", Excludes: exclusive(all, n)})
	}
	RegisterMatch(&MatchType{
		Name:    "hl",
		Family:  IPv6,
		Options: opts,
		New:     func() Match { return &hlMatch{} },
	})
}

// Parse implements Parser.
func (m *hlMatch) Parse(opt, arg string, invert bool, more *Args) error {
	if _, ok := ParseUintFull(arg, 0, 255); !ok {
		return Errorf("bad value %q for --%s: a hop limit is 0-255", arg, opt)
	}
	return m.ttlMatch.Parse(hlOptNames[opt], arg, invert, more)
}

// Finish implements Parser.
func (m *hlMatch) Finish(r *RuleInfo) error {
	if !m.given {
		return Errorf("HL match: You must specify one of `--hl-eq', `--hl-lt', `--hl-gt'")
	}
	return nil
}

// Save implements Parser.
func (m *hlMatch) Save(b *strings.Builder) {
	fmt.Fprintf(b, "%s %d", [...]string{" --hl-eq", " ! --hl-eq", " --hl-lt", " --hl-gt"}[m.mode], m.ttl)
}

// Print implements Parser.
func (m *hlMatch) Print(b *strings.Builder, numeric bool) {
	fmt.Fprintf(b, " HL match HL %s %d", ttlMatchOps[m.mode], m.ttl)
}

// Compile implements Match.
func (m *hlMatch) Compile(c *Compiler) (Matcher, error) {
	return m.ttlMatch.Compile(c) // the Hop Limit is the packet's TTL field
}
