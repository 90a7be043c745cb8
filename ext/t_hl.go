package ext

import (
	"strconv"
	"strings"
)

// HL (libip6t_HL, the kernel's xt_HL): set, raise or lower the IPv6 hop
// limit, in the mangle table only. ip6tables' twin of TTL (t_ttl.go),
// whose parser it reuses under its own option names.

type hlTarget struct{ ttlTarget }

var hlOps = []string{"hl-set", "hl-dec", "hl-inc"}

func init() {
	var opts []Option
	for _, n := range hlOps {
		opts = append(opts, Option{Name: n, Arg: OneArg, Excludes: exclusive(hlOps, n)})
	}
	RegisterTarget(&TargetType{
		Name:    "HL",
		Family:  IPv6,
		Options: opts,
		Tables:  []string{"mangle"},
		New:     func() Target { return &hlTarget{} },
	})
}

// Parse implements Parser.
func (t *hlTarget) Parse(opt, arg string, invert bool, more *Args) error {
	return t.ttlTarget.Parse("ttl-"+strings.TrimPrefix(opt, "hl-"), arg, invert, more)
}

// Finish implements Parser.
func (t *hlTarget) Finish(r *RuleInfo) error {
	if !t.set {
		return Errorf("HL: You must specify an action: --hl-set, --hl-inc or --hl-dec")
	}
	return nil
}

// Save implements Parser.
func (t *hlTarget) Save(b *strings.Builder) {
	b.WriteString(" --" + [...]string{"hl-set", "hl-inc", "hl-dec"}[t.mode] + " " + strconv.Itoa(int(t.ttl)))
}

// Print implements Parser.
func (t *hlTarget) Print(b *strings.Builder, numeric bool) {
	b.WriteString(" HL " + [...]string{"set to", "increment by", "decrement by"}[t.mode] + " " + strconv.Itoa(int(t.ttl)))
}

// Compile implements Target.
//
// hl_tg6: the Hop Limit set, or raised (at most 255) or lowered (at least
// 0) by the value; no checksum covers it.
func (t *hlTarget) Compile(c *Compiler) (Action, error) {
	mode, v := t.mode, int(t.ttl)
	return ActionFunc(func(c *Ctx) Verdict {
		p := c.Pkt
		if p == nil || p.Version != 6 || len(p.Data) < 40 {
			return Continue
		}
		n := v
		switch mode {
		case ttlInc:
			n = min(int(p.Data[7])+v, 255)
		case ttlDec:
			n = max(int(p.Data[7])-v, 0)
		}
		p.Data[7] = uint8(n)
		p.TTL = uint8(n)
		return Continue
	}), nil
}
