package ext

import (
	"net/netip"
	"strings"
)

// TEE (iptables' libxt_TEE revision 1, the kernel's xt_TEE): send a copy
// of the packet to another gateway. ipsift does not duplicate packets
// onto other routes yet, so Compile refuses it.

type teeTarget struct {
	gw  netip.Addr
	oif string
}

func init() {
	RegisterTarget(&TargetType{
		Name:   "TEE",
		Family: IPv4,
		Options: []Option{
			{Name: "gateway", Arg: OneArg, Mandatory: true},
			{Name: "oif", Arg: OneArg},
		},
		New: func() Target { return &teeTarget{} },
	})
}

// Parse implements Parser.
func (t *teeTarget) Parse(opt, arg string, invert bool, more *Args) error {
	if opt == "oif" {
		if len(arg) > 15 {
			return Errorf("--oif %q: interface names have at most 15 characters", arg)
		}
		t.oif = arg
		return nil
	}
	a, err := netip.ParseAddr(arg)
	if err != nil || !a.Is4() {
		return Errorf("bad --gateway %q: write an IPv4 address (ipsift resolves no names)", arg)
	}
	t.gw = a
	return nil
}

// Finish implements Parser.
func (t *teeTarget) Finish(r *RuleInfo) error { return nil }

// Save implements Parser.
func (t *teeTarget) Save(b *strings.Builder) {
	b.WriteString(" --gateway " + t.gw.String())
	if t.oif != "" {
		b.WriteString(" --oif " + t.oif)
	}
}

// Print implements Parser.
func (t *teeTarget) Print(b *strings.Builder, numeric bool) {
	b.WriteString(" TEE gw:" + t.gw.String())
	if t.oif != "" {
		b.WriteString(" oif=" + t.oif)
	}
}

// Compile implements Target.
func (t *teeTarget) Compile(c *Compiler) (Action, error) {
	return nil, Errorf("-j TEE: ipsift does not duplicate packets to another gateway")
}
