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
		Family: AnyFamily,
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
	// XTTYPE_HOST: the rule's family decides; Finish checks it.
	a, ok := InetPton6(arg)
	if !ok {
		v4, err := netip.ParseAddr(arg)
		if err != nil || !v4.Is4() {
			return Errorf("bad --gateway %q: write an IPv4 address, or an IPv6 one for ip6tables (ipsift resolves no names)", arg)
		}
		a = v4
	}
	t.gw = a
	return nil
}

// Finish implements Parser: the gateway is of the rule's family.
func (t *teeTarget) Finish(r *RuleInfo) error {
	if t.gw.Is6() != (r.Family == IPv6) {
		if r.Family == IPv6 {
			return Errorf("bad --gateway %s: ip6tables needs an IPv6 gateway", t.gw)
		}
		return Errorf("bad --gateway %s: iptables needs an IPv4 gateway (use ip6tables for an IPv6 one)", t.gw)
	}
	return nil
}

// Save implements Parser.
func (t *teeTarget) Save(b *strings.Builder) {
	b.WriteString(" --gateway " + FormatIP(t.gw))
	if t.oif != "" {
		b.WriteString(" --oif " + t.oif)
	}
}

// Print implements Parser.
func (t *teeTarget) Print(b *strings.Builder, numeric bool) {
	b.WriteString(" TEE gw:" + FormatIP(t.gw))
	if t.oif != "" {
		b.WriteString(" oif=" + t.oif)
	}
}

// Compile implements Target.
func (t *teeTarget) Compile(c *Compiler) (Action, error) {
	return nil, Errorf("-j TEE: ipsift does not duplicate packets to another gateway")
}
