package ext

import (
	"fmt"
	"net/netip"
	"strings"
)

// The iprange match (-m iprange --src-range A-B / --dst-range A-B), as
// iptables' libxt_iprange.c (revision 1) reads and prints it and the
// kernel's xt_iprange.c tests it: the address must lie between the two
// ends, inclusive. A reversed range is accepted (iptables only warns) and
// never matches.

// Option bits (IPRANGE_*).
const (
	iprangeSrc    = 0x01
	iprangeDst    = 0x02
	iprangeSrcInv = 0x10
	iprangeDstInv = 0x20
)

// iprangeMatch is one -m iprange in one rule (struct xt_iprange_mtinfo).
type iprangeMatch struct {
	srcMin, srcMax netip.Addr
	dstMin, dstMax netip.Addr
	flags          uint8
	// The IPv4 ends as numbers, for the hot path.
	src4, dst4 [2]uint32
}

func init() {
	RegisterMatch(&MatchType{
		Name:   "iprange",
		Family: AnyFamily,
		Options: []Option{
			{Name: "src-range", Arg: OneArg, Invert: true},
			{Name: "dst-range", Arg: OneArg, Invert: true},
		},
		New: func() Match { return &iprangeMatch{} },
	})
}

// ParseXtIPv4 reads an IPv4 address as libxtables'
// xtables_numeric_to_ipaddr does: up to four dot-separated numbers 0-255
// (each as strtoul reads it in base 0, so "010" is 8), a short form
// filling the missing bytes with zeros ("10.1" is 10.1.0.0). Names are
// never resolved (see addr.go).
func ParseXtIPv4(s string) (netip.Addr, bool) { return xtNumericIPv4(s, false) }

// parseIPRange reads "ADDR" or "ADDR-ADDR" (IPv4 as ParseXtIPv4, or
// IPv6).
func parseIPRange(arg string) (lo, hi netip.Addr, err error) {
	a, b, dash := strings.Cut(arg, "-")
	if !dash {
		b = a
	}
	parse := func(s string) (netip.Addr, error) {
		if strings.Contains(s, ":") {
			if ad, err := netip.ParseAddr(s); err == nil && ad.Is6() && ad.Zone() == "" {
				return ad, nil
			}
		} else if ad, ok := ParseXtIPv4(s); ok {
			return ad, nil
		}
		return netip.Addr{}, fmt.Errorf("bad address %q in range %q: write ADDR or ADDR-ADDR with numeric addresses", s, arg)
	}
	if lo, err = parse(a); err != nil {
		return
	}
	if hi, err = parse(b); err != nil {
		return
	}
	if lo.Is4() != hi.Is4() {
		return lo, hi, fmt.Errorf("range %q mixes IPv4 and IPv6", arg)
	}
	return lo, hi, nil
}

// Parse implements Parser.
func (m *iprangeMatch) Parse(opt, arg string, invert bool, more *Args) error {
	lo, hi, err := parseIPRange(arg)
	if err != nil {
		return err
	}
	switch opt {
	case "src-range":
		m.srcMin, m.srcMax = lo, hi
		m.flags |= iprangeSrc
		if invert {
			m.flags |= iprangeSrcInv
		}
	case "dst-range":
		m.dstMin, m.dstMax = lo, hi
		m.flags |= iprangeDst
		if invert {
			m.flags |= iprangeDstInv
		}
	default:
		return Errorf("unknown option --%s", opt)
	}
	return nil
}

// Finish implements Parser.
func (m *iprangeMatch) Finish(r *RuleInfo) error {
	if m.flags&(iprangeSrc|iprangeDst) == 0 {
		return Errorf("iprange match: you must specify --src-range or --dst-range")
	}
	for _, a := range []netip.Addr{m.srcMin, m.dstMin} {
		if a.IsValid() && (a.Is4() && r.Family == IPv6 || a.Is6() && r.Family == IPv4) {
			return Errorf("the address family of %s does not fit the rule (iptables is IPv4, ip6tables IPv6)", a)
		}
	}
	m.src4 = [2]uint32{U32(m.srcMin), U32(m.srcMax)}
	m.dst4 = [2]uint32{U32(m.dstMin), U32(m.dstMax)}
	return nil
}

// Save implements Parser.
func (m *iprangeMatch) Save(b *strings.Builder) {
	if m.flags&iprangeSrc != 0 {
		if m.flags&iprangeSrcInv != 0 {
			b.WriteString(" !")
		}
		b.WriteString(" --src-range " + m.srcMin.String() + "-" + m.srcMax.String())
	}
	if m.flags&iprangeDst != 0 {
		if m.flags&iprangeDstInv != 0 {
			b.WriteString(" !")
		}
		b.WriteString(" --dst-range " + m.dstMin.String() + "-" + m.dstMax.String())
	}
}

// Print implements Parser.
func (m *iprangeMatch) Print(b *strings.Builder, numeric bool) {
	if m.flags&iprangeSrc != 0 {
		b.WriteString(" source IP range")
		if m.flags&iprangeSrcInv != 0 {
			b.WriteString(" !")
		}
		b.WriteString(" " + m.srcMin.String() + "-" + m.srcMax.String())
	}
	if m.flags&iprangeDst != 0 {
		b.WriteString(" destination IP range")
		if m.flags&iprangeDstInv != 0 {
			b.WriteString(" !")
		}
		b.WriteString(" " + m.dstMin.String() + "-" + m.dstMax.String())
	}
}

// Compile implements Match.
func (m *iprangeMatch) Compile(c *Compiler) (Matcher, error) {
	cm := *m
	cm.src4 = [2]uint32{U32(m.srcMin), U32(m.srcMax)}
	cm.dst4 = [2]uint32{U32(m.dstMin), U32(m.dstMax)}
	return &cm, nil
}

// inIPRange reports whether a lies in [lo, hi]; IPv4 compares as numbers.
func inIPRange(a, lo, hi netip.Addr, lo4, hi4 uint32) bool {
	if a.Is4() && lo.Is4() {
		v := U32(a)
		return v >= lo4 && v <= hi4
	}
	return a.Compare(lo) >= 0 && a.Compare(hi) <= 0
}

// Match implements Matcher.
func (m *iprangeMatch) Match(c *Ctx) bool {
	p := c.Pkt
	if m.flags&iprangeSrc != 0 && inIPRange(p.Src, m.srcMin, m.srcMax, m.src4[0], m.src4[1]) == (m.flags&iprangeSrcInv != 0) {
		return false
	}
	if m.flags&iprangeDst != 0 && inIPRange(p.Dst, m.dstMin, m.dstMax, m.dst4[0], m.dst4[1]) == (m.flags&iprangeDstInv != 0) {
		return false
	}
	return true
}

// Explain implements Explainer.
func (m *iprangeMatch) Explain(c *Ctx, matched bool) string {
	p := c.Pkt
	var why []string
	if m.flags&iprangeSrc != 0 {
		why = append(why, fmt.Sprintf("%s--src-range %s-%s: the source is %s", bang(m.flags&iprangeSrcInv != 0), m.srcMin, m.srcMax, p.Src))
	}
	if m.flags&iprangeDst != 0 {
		why = append(why, fmt.Sprintf("%s--dst-range %s-%s: the destination is %s", bang(m.flags&iprangeDstInv != 0), m.dstMin, m.dstMax, p.Dst))
	}
	return strings.Join(why, "; ")
}
