package ext

import (
	"net/netip"
	"strconv"
	"strings"
)

// NETMAP (iptables' libipt_NETMAP, the kernel's xt_NETMAP): map a whole
// network one to one onto another, keeping the host part. In PREROUTING
// and OUTPUT it maps destinations, in POSTROUTING and INPUT sources. The
// Action hands the engine a NATRequest with Netmap set; the engine
// computes the new address with NetmapAddr, as netmap_tg4 does.

type netmapTarget struct {
	min, mask netip.Addr
	bits      int // prefix length, -1 for a mask that is not one
	dst, src  NATRequest
}

func init() {
	RegisterTarget(&TargetType{
		// The kernel runs connection tracking for rules using it.
		Conntrack: true,
		Name:      "NETMAP",
		Family:    IPv4,
		Options:   []Option{{Name: "to", Arg: OneArg, Mandatory: true}},
		Tables:    []string{"nat"},
		Hooks:     HookPreRouting | HookPostRouting | HookLocalOut | HookLocalIn,
		New:       func() Target { return &netmapTarget{} },
	})
}

// Parse implements Parser. "ADDR/LEN" and "ADDR/DOTTED-MASK" keep the
// network part; iptables 1.8 ignores a dotted mask that is not a prefix
// (1.2.3.4/255.0.255.0 becomes 1.2.3.4/32), and so does ipsift.
func (t *netmapTarget) Parse(opt, arg string, invert bool, more *Args) error {
	a, m, hasMask := strings.Cut(arg, "/")
	if hasMask && strings.Contains(m, ".") {
		mask, err := netip.ParseAddr(m)
		if err != nil || !mask.Is4() {
			return Errorf("invalid mask %q: write a prefix length 0-32", m)
		}
		if MaskLen(mask) < 0 {
			arg = a
		}
	}
	addr, mask, err := ParseIPv4Mask(arg)
	if err != nil {
		return err
	}
	t.min, t.mask, t.bits = addr, mask, MaskLen(mask)
	return nil
}

// Finish implements Parser.
func (t *netmapTarget) Finish(r *RuleInfo) error {
	max := netip.AddrFrom4(u32Bytes(U32(t.min) | ^U32(t.mask)))
	rg := NATRange{Flags: NATMapIPs, MinAddr: t.min, MaxAddr: max}
	p := netip.PrefixFrom(t.min, max0(t.bits))
	t.dst = NATRequest{Kind: NATDst, Range: rg, Netmap: true, Prefix: p}
	t.src = NATRequest{Kind: NATSrc, Range: rg, Netmap: true, Prefix: p}
	return nil
}

func max0(n int) int {
	if n < 0 {
		return 32
	}
	return n
}

func u32Bytes(v uint32) [4]byte {
	return [4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
}

func (t *netmapTarget) String() string {
	if t.bits >= 0 {
		return t.min.String() + "/" + strconv.Itoa(t.bits)
	}
	return t.min.String() + "/" + t.mask.String()
}

// Save implements Parser.
func (t *netmapTarget) Save(b *strings.Builder) { b.WriteString(" --to " + t.String()) }

// Print implements Parser.
func (t *netmapTarget) Print(b *strings.Builder, numeric bool) { b.WriteString(" to:" + t.String()) }

// Compile implements Target.
func (t *netmapTarget) Compile(c *Compiler) (Action, error) {
	dst, src := new(NATRequest), new(NATRequest)
	*dst, *src = t.dst, t.src
	return ActionFunc(func(c *Ctx) Verdict {
		if c.Hook == PreRouting || c.Hook == LocalOut {
			c.NAT = dst
		} else {
			c.NAT = src
		}
		return Accept
	}), nil
}

// NetmapAddr maps addr into a NETMAP range as the kernel's netmap_tg4
// does: the bits the range's addresses share (its netmask,
// ^(Min ^ Max)) come from the range, the others from addr.
func NetmapAddr(r NATRange, addr netip.Addr) netip.Addr {
	if !addr.Is4() || !r.MinAddr.Is4() {
		return addr
	}
	min := U32(r.MinAddr)
	netmask := ^(min ^ U32(r.MaxAddr))
	return netip.AddrFrom4(u32Bytes(U32(addr)&^netmask | min&netmask))
}

// The IPv6 side of NETMAP (libip6t_NETMAP, the kernel's netmap_tg6):
// --to ADDR[/LEN] (XTTYPE_HOSTMASK: a length 0-128, default 128); the
// address is kept with its host bits cleared.
type netmap6Target struct {
	min  netip.Addr
	bits int
}

func init() {
	RegisterTarget(&TargetType{
		Conntrack: true,
		Name:      "NETMAP",
		Family:    IPv6,
		Options:   []Option{{Name: "to", Arg: OneArg, Mandatory: true}},
		Tables:    []string{"nat"},
		Hooks:     HookPreRouting | HookPostRouting | HookLocalOut | HookLocalIn,
		New:       func() Target { return &netmap6Target{} },
	})
}

// Parse implements Parser.
func (t *netmap6Target) Parse(opt, arg string, invert bool, more *Args) error {
	addr, bits, err := parseHostMask6(opt, arg)
	if err != nil {
		return err
	}
	t.bits = bits
	t.min = MaskAddr(addr, PrefixMask(128, t.bits))
	return nil
}

// Finish implements Parser.
func (t *netmap6Target) Finish(r *RuleInfo) error { return nil }

// Save implements Parser.
func (t *netmap6Target) Save(b *strings.Builder) {
	b.WriteString(" --to " + FormatIP(t.min) + "/" + strconv.Itoa(t.bits))
}

// Print implements Parser.
func (t *netmap6Target) Print(b *strings.Builder, numeric bool) {
	b.WriteString(" to:" + FormatIP(t.min) + "/" + strconv.Itoa(t.bits))
}

// Compile implements Target.
//
// netmap_tg6: as for IPv4, the range libip6t_NETMAP gives the kernel is
// the address as written up to the address with every bit beyond the
// prefix set; the connection's address keeps its bits beyond the prefix.
func (t *netmap6Target) Compile(c *Compiler) (Action, error) {
	lo := t.min.As16()
	m := PrefixMask6(t.bits)
	var hi [16]byte
	for i := range hi {
		hi[i] = lo[i] | ^m[i]
	}
	rg := NATRange{Flags: NATMapIPs, MinAddr: t.min, MaxAddr: netip.AddrFrom16(hi)}
	p := netip.PrefixFrom(t.min, t.bits)
	dst := &NATRequest{Kind: NATDst, Range: rg, Netmap: true, Prefix: p}
	src := &NATRequest{Kind: NATSrc, Range: rg, Netmap: true, Prefix: p}
	return ActionFunc(func(c *Ctx) Verdict {
		if c.Hook == PreRouting || c.Hook == LocalOut {
			c.NAT = dst
		} else {
			c.NAT = src
		}
		return Accept
	}), nil
}
