package ext

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"

	"github.com/ipsift/ipsift/packet"
)

// The rt match (-m rt --rt-type N --rt-segsleft N[:M] --rt-len N and,
// for type 0, --rt-0-res, --rt-0-addrs A,B,... and --rt-0-not-strict):
// the IPv6 Routing header, as libip6t_rt.c reads and prints it and the
// kernel's ip6t_rt.c tests it. ip6tables only.

// rtHops is IP6T_RT_HOPS: at most 16 addresses.
const rtHops = 16

type rtMatch struct {
	typeSet, typeInv bool
	typ              uint32
	segs             spiRange
	len              hdrLenOpt
	res              bool
	addrs            []netip.Addr
	addrsSet         bool
	notStrict        bool
}

func init() {
	RegisterMatch(&MatchType{
		Name:   "rt",
		Family: IPv6,
		Options: []Option{
			{Name: "rt-type", Arg: OneArg, Invert: true},
			{Name: "rt-segsleft", Arg: OneArg, Invert: true},
			{Name: "rt-len", Arg: OneArg, Invert: true},
			{Name: "rt-0-res", Arg: NoArg},
			{Name: "rt-0-addrs", Arg: OneArg},
			{Name: "rt-0-not-strict", Arg: NoArg},
		},
		New: func() Match { return &rtMatch{segs: spiRange{hi: 0xffffffff}} },
	})
}

// Parse implements Parser.
func (m *rtMatch) Parse(opt, arg string, invert bool, more *Args) error {
	type0 := m.typeSet && m.typ == 0 && !m.typeInv
	switch opt {
	case "rt-type":
		v, ok := ParseUintFull(arg, 0, 0xffffffff)
		if !ok {
			return Errorf("bad value %q: a routing header type is a number", arg)
		}
		m.typ, m.typeInv, m.typeSet = uint32(v), invert, true
	case "rt-segsleft":
		return m.segs.parse(arg, invert)
	case "rt-len":
		return m.len.parse(arg, invert)
	case "rt-0-res":
		if !type0 {
			return Errorf("`--rt-type 0' required before `--rt-0-res'")
		}
		m.res = true
	case "rt-0-addrs":
		if !type0 {
			return Errorf("`--rt-type 0' required before `--rt-0-addrs'")
		}
		parts := strings.Split(arg, ",")
		if len(parts) > rtHops {
			return Errorf("too many addresses specified: at most %d", rtHops)
		}
		m.addrs = m.addrs[:0]
		for _, p := range parts {
			a, ok := InetPton6(p)
			if !ok {
				return Errorf("bad address: %s (write IPv6 addresses separated by commas)", p)
			}
			m.addrs = append(m.addrs, a)
		}
		m.addrsSet = true
	case "rt-0-not-strict":
		if !m.addrsSet {
			return Errorf("`--rt-0-addr ...' required before `--rt-0-not-strict'")
		}
		m.notStrict = true
	default:
		return Errorf("unknown option --%s", opt)
	}
	return nil
}

// Finish implements Parser.
func (m *rtMatch) Finish(r *RuleInfo) error { return nil }

func (m *rtMatch) writeAddrs(b *strings.Builder) {
	for i, a := range m.addrs {
		if i == 0 {
			b.WriteByte(' ')
		} else {
			b.WriteByte(',')
		}
		b.WriteString(FormatIP(a))
	}
}

// Save implements Parser.
func (m *rtMatch) Save(b *strings.Builder) {
	if m.typeSet {
		fmt.Fprintf(b, "%s --rt-type %d", saveBang(m.typeInv), m.typ)
	}
	m.segs.saveFull(b, "rt-segsleft")
	m.len.save(b, "rt-len")
	if m.res {
		b.WriteString(" --rt-0-res")
	}
	if m.addrsSet {
		b.WriteString(" --rt-0-addrs")
	}
	m.writeAddrs(b)
	if m.notStrict {
		b.WriteString(" --rt-0-not-strict")
	}
}

// Print implements Parser: " rt type:0 segslefts:1:23 length:42 reserved".
func (m *rtMatch) Print(b *strings.Builder, numeric bool) {
	b.WriteString(" rt")
	if m.typeSet {
		fmt.Fprintf(b, " type:%s%d", bangNoSpace(m.typeInv), int32(m.typ))
	}
	if !m.segs.full() {
		b.WriteByte(' ')
		m.segs.printAs(b, "segsleft")
	}
	m.len.print(b)
	if m.res {
		b.WriteString(" reserved")
	}
	if m.addrsSet {
		b.WriteString(" 0-addrs")
	}
	m.writeAddrs(b)
	if m.notStrict {
		b.WriteString(" 0-not-strict")
	}
}

// Compile implements Match.
func (m *rtMatch) Compile(c *Compiler) (Matcher, error) {
	cm := *m
	return &cm, nil
}

// eval is rt_mt6 on the first Routing header: segments left in range,
// --rt-len equal to the header's length in bytes, --rt-type equal,
// --rt-0-res a zero reserved word; then --rt-0-addrs: strictly, the
// header holds exactly the listed addresses in order; with
// --rt-0-not-strict, the listed ones appear in order among its
// addresses. A header longer than the rest of the packet, or cut short
// before its first four bytes, drops the packet.
func (m *rtMatch) eval(p *packet.Packet) (match, hotdrop bool) {
	h, ok, hd := p.FindExt(packet.ProtoRouting, packet.ExtNeedRt)
	if !ok {
		return false, hd
	}
	hdrlen := (int(h[1]) + 1) * 8
	if len(h) < hdrlen {
		// Dropped since the kernel's "hotdrop malformed extension
		// headers" fix, which this machine's 6.18 has (kerneldiff's
		// testdata/regress/ipv6-rt-truncated).
		return false, true
	}
	ret := m.segs.test(uint32(h[3])) &&
		(!m.len.set || (m.len.n == uint32(hdrlen)) != m.len.inv) &&
		(!m.typeSet || (m.typ == uint32(h[2])) != m.typeInv)
	if ret && m.res {
		ret = binary.BigEndian.Uint32(h[4:]) == 0
	}
	if !m.addrsSet {
		return ret, false
	}
	n := (hdrlen - 8) / 16
	if len(m.addrs) > n {
		return false, false
	}
	addr := func(i int) netip.Addr { return netip.AddrFrom16([16]byte(h[8+16*i : 24+16*i])) }
	if m.notStrict {
		i := 0
		for k := 0; k < n && i < len(m.addrs); k++ {
			if addr(k) == m.addrs[i] {
				i++
			}
		}
		return ret && i == len(m.addrs), false
	}
	for k, a := range m.addrs {
		if addr(k) != a {
			return false, false
		}
	}
	return ret && len(m.addrs) == n, false
}

// Match implements Matcher.
func (m *rtMatch) Match(c *Ctx) bool {
	ok, _ := m.eval(c.Pkt)
	return ok
}

// Hotdrop implements Hotdropper.
func (m *rtMatch) Hotdrop(c *Ctx) bool {
	_, hd := m.eval(c.Pkt)
	return hd
}
