package ext

import (
	"fmt"
	"net/netip"
	"strings"
)

// The addrtype match (-m addrtype --src-type/--dst-type TYPE,...): the
// routing type of the source or destination address as the host sees it
// (LOCAL, UNICAST, BROADCAST, MULTICAST ...), as iptables'
// libxt_addrtype.c (revision 1) reads and prints it and the kernel's
// xt_addrtype.c tests it. The host model answers through Ctx.Host; with
// --limit-iface-in/out the lookup is limited to the packet's input or
// output interface.

// addrTypeNames are the RTN_* names by number.
var addrTypeNames = []string{"UNSPEC", "UNICAST", "LOCAL", "BROADCAST", "ANYCAST", "MULTICAST",
	"BLACKHOLE", "UNREACHABLE", "PROHIBIT", "THROW", "NAT", "XRESOLVE"}

// Flags (XT_ADDRTYPE_*).
const (
	addrtypeInvSrc   = 0x1
	addrtypeInvDst   = 0x2
	addrtypeLimitIn  = 0x4
	addrtypeLimitOut = 0x8
)

// addrtypeMatch is one -m addrtype in one rule (struct
// xt_addrtype_info_v1).
type addrtypeMatch struct {
	source, dest uint16
	flags        uint8
	given        uint8 // 1 src, 2 dst
}

func init() {
	RegisterMatch(&MatchType{
		Name:   "addrtype",
		Family: AnyFamily,
		Options: []Option{
			{Name: "src-type", Arg: OneArg, Invert: true},
			{Name: "dst-type", Arg: OneArg, Invert: true},
			{Name: "limit-iface-in", Arg: NoArg, Excludes: []string{"limit-iface-out"}},
			{Name: "limit-iface-out", Arg: NoArg, Excludes: []string{"limit-iface-in"}},
		},
		New: func() Match { return &addrtypeMatch{} },
	})
}

// parseAddrTypes reads "TYPE[,TYPE]...", each the first type whose name
// starts with it, case-insensitively, as iptables' parse_types.
func parseAddrTypes(arg string) (uint16, error) {
	var mask uint16
	for _, w := range strings.Split(arg, ",") {
		found := false
		for i, n := range addrTypeNames {
			if w != "" && len(w) <= len(n) && strings.EqualFold(n[:len(w)], w) {
				mask |= 1 << i
				found = true
				break
			}
		}
		if !found {
			return 0, fmt.Errorf("bad address type %q: use %s", w, strings.Join(addrTypeNames, ", "))
		}
	}
	return mask, nil
}

// Parse implements Parser.
func (m *addrtypeMatch) Parse(opt, arg string, invert bool, more *Args) error {
	switch opt {
	case "src-type", "dst-type":
		mask, err := parseAddrTypes(arg)
		if err != nil {
			return err
		}
		if opt == "src-type" {
			m.source |= mask
			m.given |= 1
			if invert {
				m.flags |= addrtypeInvSrc
			}
		} else {
			m.dest |= mask
			m.given |= 2
			if invert {
				m.flags |= addrtypeInvDst
			}
		}
	case "limit-iface-in":
		m.flags |= addrtypeLimitIn
	case "limit-iface-out":
		m.flags |= addrtypeLimitOut
	default:
		return Errorf("unknown option --%s", opt)
	}
	return nil
}

// Finish implements Parser, with the kernel's addrtype_mt_checkentry_v1.
func (m *addrtypeMatch) Finish(r *RuleInfo) error {
	if m.given == 0 {
		return Errorf("addrtype: you must specify --src-type or --dst-type")
	}
	if m.flags&addrtypeLimitIn != 0 && m.flags&addrtypeLimitOut != 0 {
		return Errorf("addrtype: both incoming and outgoing interface limitation cannot be selected")
	}
	if r.Hooks&(HookPreRouting|HookLocalIn) != 0 && m.flags&addrtypeLimitOut != 0 {
		return Errorf("addrtype: --limit-iface-out is not valid in PREROUTING and INPUT: packets there have no output interface yet")
	}
	if r.Hooks&(HookPostRouting|HookLocalOut) != 0 && m.flags&addrtypeLimitIn != 0 {
		return Errorf("addrtype: --limit-iface-in is not valid in POSTROUTING and OUTPUT: locally generated packets have no input interface")
	}
	if r.Family == IPv6 {
		both := m.source | m.dest
		switch {
		case both&(1<<6) != 0:
			return Errorf("addrtype: ipv6 BLACKHOLE matching not supported")
		case both >= 1<<8:
			return Errorf("addrtype: ipv6 PROHIBIT (THROW, NAT ..) matching not supported")
		case both&(1<<3) != 0:
			return Errorf("addrtype: ipv6 does not support BROADCAST matching")
		}
	}
	return nil
}

func appendAddrTypes(b *strings.Builder, mask uint16) {
	sep := ""
	for i, n := range addrTypeNames {
		if mask&(1<<i) != 0 {
			b.WriteString(sep + n)
			sep = ","
		}
	}
}

// Save implements Parser.
func (m *addrtypeMatch) Save(b *strings.Builder) {
	if m.source != 0 {
		if m.flags&addrtypeInvSrc != 0 {
			b.WriteString(" !")
		}
		b.WriteString(" --src-type ")
		appendAddrTypes(b, m.source)
	}
	if m.dest != 0 {
		if m.flags&addrtypeInvDst != 0 {
			b.WriteString(" !")
		}
		b.WriteString(" --dst-type ")
		appendAddrTypes(b, m.dest)
	}
	if m.flags&addrtypeLimitIn != 0 {
		b.WriteString(" --limit-iface-in")
	}
	if m.flags&addrtypeLimitOut != 0 {
		b.WriteString(" --limit-iface-out")
	}
}

// Print implements Parser.
func (m *addrtypeMatch) Print(b *strings.Builder, numeric bool) {
	b.WriteString(" ADDRTYPE match")
	if m.source != 0 {
		b.WriteString(" src-type " + bangNoSpace(m.flags&addrtypeInvSrc != 0))
		appendAddrTypes(b, m.source)
	}
	if m.dest != 0 {
		b.WriteString(" dst-type " + bangNoSpace(m.flags&addrtypeInvDst != 0))
		appendAddrTypes(b, m.dest)
	}
	if m.flags&addrtypeLimitIn != 0 {
		b.WriteString(" limit-in")
	}
	if m.flags&addrtypeLimitOut != 0 {
		b.WriteString(" limit-out")
	}
}

// Compile implements Match.
func (m *addrtypeMatch) Compile(c *Compiler) (Matcher, error) {
	cm := *m
	return &cm, nil
}

// addrType asks the host for the type of a, on the interface the
// --limit-iface option names.
func (m *addrtypeMatch) addrType(c *Ctx, a netip.Addr) int {
	dev := ""
	switch {
	case m.flags&addrtypeLimitIn != 0 && c.In != nil:
		dev = c.In.Name
	case m.flags&addrtypeLimitOut != 0 && c.Out != nil:
		dev = c.Out.Name
	}
	if c.Host != nil {
		return c.Host.AddrType(a, dev)
	}
	return bareAddrType(a)
}

// bareAddrType is the kernel's inet_addr_type on a host without
// addresses or routes, for a Ctx without a Host: 0.0.0.0/8 and
// 255.255.255.255 are BROADCAST, 224.0.0.0/4 MULTICAST, loopback LOCAL,
// the rest UNICAST.
func bareAddrType(a netip.Addr) int {
	switch {
	case a.Is4() && (a.As4()[0] == 0 || a == netip.AddrFrom4([4]byte{255, 255, 255, 255})):
		return 3
	case a.IsMulticast():
		return 5
	case a.IsLoopback():
		return 2
	}
	return 1
}

// RouteTyper6 is what a Host implements for the IPv6 addrtype match:
// the RTN_* bits (1<<2 local, 1<<4 anycast, 1<<7 unreachable) the route
// lookup of addr gives, limited to dev when set (xt_addrtype's
// match_lookup_rt6).
type RouteTyper6 interface {
	RouteTypes6(addr netip.Addr, dev string) uint16
}

// addrTypes6 is the kernel's match_type6 for one address and the mask
// of types asked: MULTICAST, UNICAST and UNSPEC test the address alone
// (each one asked must hold); LOCAL, ANYCAST and UNREACHABLE ask the
// route lookup, and then one of those asked must be among its answer.
func (m *addrtypeMatch) addrTypes6(c *Ctx, a netip.Addr, mask uint16) bool {
	if mask&(1<<5) != 0 && !a.IsMulticast() {
		return false
	}
	if mask&(1<<1) != 0 && (a.IsMulticast() || a.IsUnspecified()) {
		return false
	}
	if mask&(1<<0) != 0 && !a.IsUnspecified() {
		return false
	}
	const lookup = 1<<2 | 1<<4 | 1<<7
	if mask&lookup == 0 {
		return true
	}
	rt, ok := c.Host.(RouteTyper6)
	if !ok {
		return false
	}
	dev := ""
	switch {
	case m.flags&addrtypeLimitIn != 0 && c.In != nil:
		dev = c.In.Name
	case m.flags&addrtypeLimitOut != 0 && c.Out != nil:
		dev = c.Out.Name
	}
	return mask&rt.RouteTypes6(a, dev) != 0
}

// Match implements Matcher.
func (m *addrtypeMatch) Match(c *Ctx) bool {
	if c.Pkt.Version == 6 {
		if m.source != 0 && m.addrTypes6(c, c.Pkt.Src, m.source) == (m.flags&addrtypeInvSrc != 0) {
			return false
		}
		if m.dest != 0 && m.addrTypes6(c, c.Pkt.Dst, m.dest) == (m.flags&addrtypeInvDst != 0) {
			return false
		}
		return true
	}
	if m.source != 0 && (m.source&(1<<m.addrType(c, c.Pkt.Src)) != 0) == (m.flags&addrtypeInvSrc != 0) {
		return false
	}
	if m.dest != 0 && (m.dest&(1<<m.addrType(c, c.Pkt.Dst)) != 0) == (m.flags&addrtypeInvDst != 0) {
		return false
	}
	return true
}

func addrTypeName(t int) string {
	if t >= 0 && t < len(addrTypeNames) {
		return addrTypeNames[t]
	}
	return fmt.Sprint(t)
}

// Explain implements Explainer.
func (m *addrtypeMatch) Explain(c *Ctx, matched bool) string {
	var why []string
	if m.source != 0 {
		var b strings.Builder
		appendAddrTypes(&b, m.source)
		why = append(why, fmt.Sprintf("%s--src-type %s: the source %s is %s", bang(m.flags&addrtypeInvSrc != 0), b.String(), c.Pkt.Src, addrTypeName(m.addrType(c, c.Pkt.Src))))
	}
	if m.dest != 0 {
		var b strings.Builder
		appendAddrTypes(&b, m.dest)
		why = append(why, fmt.Sprintf("%s--dst-type %s: the destination %s is %s", bang(m.flags&addrtypeInvDst != 0), b.String(), c.Pkt.Dst, addrTypeName(m.addrType(c, c.Pkt.Dst))))
	}
	return strings.Join(why, "; ")
}
