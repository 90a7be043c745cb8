package ext

import "strings"

// The eui64 match (-m eui64, no options): the packet's IPv6 source
// address ends in the EUI-64 interface identifier derived from its
// Ethernet source address, as the kernel's ip6t_eui64.c tests it. It
// needs a MAC header, so the kernel allows it in PREROUTING, INPUT and
// FORWARD only. ip6tables only.

type eui64Match struct{}

func init() {
	RegisterMatch(&MatchType{
		Name:   "eui64",
		Family: IPv6,
		Hooks:  HookPreRouting | HookLocalIn | HookForward,
		New:    func() Match { return eui64Match{} },
	})
}

// Parse implements Parser.
func (eui64Match) Parse(opt, arg string, invert bool, more *Args) error {
	return Errorf("eui64 takes no options")
}

// Finish implements Parser.
func (eui64Match) Finish(r *RuleInfo) error { return nil }

// Save implements Parser.
func (eui64Match) Save(b *strings.Builder) {}

// Print implements Parser: iptables prints nothing for it.
func (eui64Match) Print(b *strings.Builder, numeric bool) {}

// Compile implements Match.
func (eui64Match) Compile(c *Compiler) (Matcher, error) {
	return eui64Match{}, nil
}

// Match implements Matcher: eui64_mt6. The source address's interface
// identifier must be the EUI-64 of the frame's Ethernet source (its
// universal/local bit flipped, ff:fe in the middle).
func (eui64Match) Match(c *Ctx) bool {
	p := c.Pkt
	if !c.HasMAC || p.Version != 6 {
		return false
	}
	m := c.SrcMAC
	a := p.Src.As16()
	want := [8]byte{m[0] ^ 2, m[1], m[2], 0xff, 0xfe, m[3], m[4], m[5]}
	return [8]byte(a[8:]) == want
}
