package ext

import (
	"fmt"
	"net/netip"
	"strings"
)

// TPROXY (iptables' libxt_TPROXY revision 1, the kernel's xt_TPROXY):
// deliver the packet to a local socket listening on --on-ip:--on-port
// without changing its addresses, and mark it; mangle PREROUTING only,
// for -p tcp or -p udp rules. Finding that socket needs the host's
// sockets, which ipsift does not see, so Compile refuses it.

type tproxyTarget struct {
	port       uint16
	addr       netip.Addr
	addrSet    bool // --on-ip given; else the family's any address
	mark, mask uint32
}

func init() {
	RegisterTarget(&TargetType{
		Name:   "TPROXY",
		Family: AnyFamily,
		Options: []Option{
			{Name: "on-port", Arg: OneArg, Mandatory: true},
			{Name: "on-ip", Arg: OneArg},
			{Name: "tproxy-mark", Arg: OneArg},
		},
		Tables: []string{"mangle"},
		Hooks:  HookPreRouting,
		New:    func() Target { return &tproxyTarget{addr: netip.IPv4Unspecified()} },
	})
}

// Parse implements Parser.
func (t *tproxyTarget) Parse(opt, arg string, invert bool, more *Args) error {
	switch opt {
	case "on-port":
		p, err := ParsePort(arg)
		if err != nil {
			return err
		}
		t.port = p
	case "on-ip":
		a, ok := InetPton6(arg)
		if !ok {
			v4, err := netip.ParseAddr(arg)
			if err != nil || !v4.Is4() {
				return Errorf("bad --on-ip %q: write an IPv4 address, or an IPv6 one for ip6tables (ipsift resolves no names)", arg)
			}
			a = v4
		}
		t.addr, t.addrSet = a, true
	case "tproxy-mark":
		v, m, err := ParseValueMask(arg, 0xffffffff)
		if err != nil {
			return Errorf("bad --tproxy-mark %q: write VALUE[/MASK]", arg)
		}
		t.mark, t.mask = uint32(v), uint32(m)
	}
	return nil
}

// Finish implements Parser.
func (t *tproxyTarget) Finish(r *RuleInfo) error {
	if r.Family == IPv6 && !t.addrSet {
		t.addr = netip.IPv6Unspecified()
	}
	if t.addr.Is6() != (r.Family == IPv6) {
		return Errorf("bad --on-ip %s: the address must be of the rule's family (IPv4 for iptables, IPv6 for ip6tables)", t.addr)
	}
	if r.Proto != 6 && r.Proto != 17 || r.InvProto {
		return Errorf("TPROXY works only with -p tcp or -p udp (the kernel refuses it otherwise)")
	}
	return nil
}

// Save implements Parser.
func (t *tproxyTarget) Save(b *strings.Builder) {
	fmt.Fprintf(b, " --on-port %d --on-ip %s --tproxy-mark 0x%x/0x%x", t.port, FormatIP(t.addr), t.mark, t.mask)
}

// Print implements Parser.
func (t *tproxyTarget) Print(b *strings.Builder, numeric bool) {
	fmt.Fprintf(b, " TPROXY redirect %s:%d mark 0x%x/0x%x", FormatIP(t.addr), t.port, t.mark, t.mask)
}

// Compile implements Target.
func (t *tproxyTarget) Compile(c *Compiler) (Action, error) {
	return nil, Errorf("-j TPROXY: ipsift cannot see the host's sockets to deliver the packet to one")
}
