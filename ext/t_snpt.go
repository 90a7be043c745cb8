package ext

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/ipsift/ipsift/npt"
)

// SNPT (libip6t_SNPT, the kernel's ip6t_NPT): stateless IPv6 network
// prefix translation of the source (RFC 6296), mangle table, INPUT and
// POSTROUTING. DNPT (t_dnpt.go) does the destination and shares this
// type. Both prefixes are mandatory, at most /64, with no bits set past
// their length (the kernel's ip6t_npt_checkentry refuses them).

type nptTarget struct {
	name     string
	src, dst netip.Prefix
	seen     [2]bool
}

func registerNPT(name string, hooks HookMask) {
	RegisterTarget(&TargetType{
		Name:   name,
		Family: IPv6,
		Options: []Option{
			{Name: "src-pfx", Arg: OneArg, Mandatory: true},
			{Name: "dst-pfx", Arg: OneArg, Mandatory: true},
		},
		Tables: []string{"mangle"},
		Hooks:  hooks,
		New:    func() Target { return &nptTarget{name: name} },
	})
}

func init() { registerNPT("SNPT", HookLocalIn|HookPostRouting) }

// Parse implements Parser: ADDR[/LEN] as XTTYPE_HOSTMASK reads it (the
// length defaults to 128).
func (t *nptTarget) Parse(opt, arg string, invert bool, more *Args) error {
	addr, bits, err := parseHostMask6(opt, arg)
	if err != nil {
		return err
	}
	p := netip.PrefixFrom(addr, bits)
	if opt == "src-pfx" {
		t.src, t.seen[0] = p, true
	} else {
		t.dst, t.seen[1] = p, true
	}
	return nil
}

// Finish implements Parser: the kernel's checks.
func (t *nptTarget) Finish(r *RuleInfo) error {
	for _, p := range []struct {
		opt string
		p   netip.Prefix
	}{{"src-pfx", t.src}, {"dst-pfx", t.dst}} {
		if p.p.Bits() > 64 {
			return Errorf("--%s %s: the kernel takes prefixes up to /64 (a length of %d is refused with Invalid argument)", p.opt, nptString(p.p), p.p.Bits())
		}
		if p.p.Masked().Addr() != p.p.Addr() {
			return Errorf("--%s %s has bits set past its length, which the kernel refuses: write %s", p.opt, nptString(p.p), nptString(p.p.Masked()))
		}
	}
	return nil
}

func nptString(p netip.Prefix) string { return FormatIP(p.Addr()) + "/" + strconv.Itoa(p.Bits()) }

// Save implements Parser: a prefix of ::/0 is left out, as ip6tables-save
// does.
func (t *nptTarget) Save(b *strings.Builder) {
	if t.src.Addr() != netip.IPv6Unspecified() || t.src.Bits() != 0 {
		b.WriteString(" --src-pfx " + nptString(t.src))
	}
	if t.dst.Addr() != netip.IPv6Unspecified() || t.dst.Bits() != 0 {
		b.WriteString(" --dst-pfx " + nptString(t.dst))
	}
}

// Print implements Parser.
func (t *nptTarget) Print(b *strings.Builder, numeric bool) {
	b.WriteString(" " + t.name + " src-pfx " + nptString(t.src) + " dst-pfx " + nptString(t.dst))
}

// Compile implements Target: package npt's translation, per packet
// (ip6t_snpt_tg, ip6t_dnpt_tg). The target never ends the chain; when
// the address has no word to take the adjustment (all 0xffff after a
// prefix longer than /48), the kernel sends a parameter problem
// (code 0, pointing at the address) quoting the packet with its prefix
// already replaced, and drops it (in OUTPUT it only drops it).
func (t *nptTarget) Compile(c *Compiler) (Action, error) {
	tr, err := npt.New(t.src, t.dst)
	if err != nil {
		return nil, Errorf("-j %s: %v", t.name, err)
	}
	apply, pointer := tr.DNPT, uint32(npt.DstOffset)
	if t.name == "SNPT" {
		apply, pointer = tr.SNPT, npt.SrcOffset
	}
	return ActionFunc(func(c *Ctx) Verdict {
		if apply(c.Pkt) {
			return Continue
		}
		// In OUTPUT a packet the host sends has no device yet
		// (skb->dev is set on the way to POSTROUTING), and icmp6_send
		// sends nothing for a packet without one: DNPT just drops it.
		if c.Emit != nil && c.Hook != LocalOut {
			if icmp := BuildICMPv6Error(c, 4, 0, pointer); icmp != nil { // ICMPV6_PARAMPROB, ICMPV6_HDR_FIELD
				c.Emit(icmp)
			}
		}
		return Drop
	}), nil
}
