package ext

import (
	"fmt"
	"net/netip"
	"strings"
)

// The rpfilter match (-m rpfilter, libxt_rpfilter and the kernel's
// ipt_rpfilter/ip6t_rpfilter) does the reverse path test: would the
// host route a packet to the source address back out of the interface
// this one came in on (or, --loose, out of any)? The kernel allows it in
// the raw and mangle tables' PREROUTING only. The route lookup is the
// host model's: Ctx.Host must implement ReverseRouter (conn_extras.go);
// a host model without routes passes every packet (as a host with a
// default route on its only interface would).

// XT_RPFILTER_* flags.
const (
	rpfLoose       = 1 << 0
	rpfValidMark   = 1 << 1
	rpfAcceptLocal = 1 << 2
	rpfInvert      = 1 << 3
)

// RTN_* route types the test looks at.
const (
	rtnUnicast = 1
	rtnLocal   = 2
)

func init() {
	RegisterMatch(&MatchType{
		Name:   "rpfilter",
		Family: AnyFamily,
		Tables: []string{"raw", "mangle"},
		Hooks:  HookPreRouting,
		Options: []Option{
			{Name: "loose"},
			{Name: "validmark"},
			{Name: "accept-local"},
			{Name: "invert"},
		},
		New: func() Match { return &rpfilterMatch{} },
	})
}

// rpfilterMatch is one -m rpfilter in a rule (struct xt_rpfilter_info).
type rpfilterMatch struct{ flags uint8 }

// Parse implements Parser.
func (m *rpfilterMatch) Parse(opt, _ string, _ bool, _ *Args) error {
	switch opt {
	case "loose":
		m.flags |= rpfLoose
	case "validmark":
		m.flags |= rpfValidMark
	case "accept-local":
		m.flags |= rpfAcceptLocal
	case "invert":
		m.flags |= rpfInvert
	default:
		return fmt.Errorf("unknown option --%s", opt)
	}
	return nil
}

// Finish implements Parser.
func (m *rpfilterMatch) Finish(*RuleInfo) error { return nil }

func (m *rpfilterMatch) dump(b *strings.Builder, prefix string) {
	for _, f := range []struct {
		bit  uint8
		name string
	}{{rpfLoose, "loose"}, {rpfValidMark, "validmark"}, {rpfAcceptLocal, "accept-local"}, {rpfInvert, "invert"}} {
		if m.flags&f.bit != 0 {
			b.WriteString(" " + prefix + f.name)
		}
	}
}

// Save implements Parser.
func (m *rpfilterMatch) Save(b *strings.Builder) { m.dump(b, "--") }

// Print implements Parser.
func (m *rpfilterMatch) Print(b *strings.Builder, _ bool) {
	b.WriteString(" rpfilter")
	m.dump(b, "")
}

// Compile implements Match.
func (m *rpfilterMatch) Compile(*Compiler) (Matcher, error) {
	rm := *m
	return &rm, nil
}

// pass is the reverse path test without the inversion; why says what
// decided it, for Explain.
func (m *rpfilterMatch) pass(c *Ctx) (ok bool, why string) {
	p := c.Pkt
	if c.In != nil && (c.In.Name == "lo" || c.In.Index == 1) {
		return true, "the packet came in on loopback"
	}
	if p.Src.Is4() && p.Src.IsUnspecified() {
		d := p.Dst.As4()
		if p.Dst == netip.AddrFrom4([4]byte{255, 255, 255, 255}) || (d[0] == 224 && d[1] == 0 && d[2] == 0) {
			return true, "0.0.0.0 to broadcast or local multicast (DHCP) passes"
		}
	}
	if p.Src.Is6() && p.Dst.IsMulticast() && (p.Src.IsUnspecified() || p.Dst.IsLinkLocalMulticast() || p.Dst.IsInterfaceLocalMulticast()) {
		return true, "link-local multicast passes"
	}
	rr, ok := c.Host.(ReverseRouter)
	if !ok {
		return true, "the host model has no routes to test the source against"
	}
	var mark uint32
	if m.flags&rpfValidMark != 0 {
		mark = c.Mark
	}
	dev := ""
	if c.In != nil {
		dev = c.In.Name
	}
	typ, uses, found := rr.ReverseRoute(p.Src, p.Dst, mark, p.TOS, dev)
	switch {
	case !found:
		return false, "no route back to " + p.Src.String()
	case typ != rtnUnicast && (typ != rtnLocal || m.flags&rpfAcceptLocal == 0):
		return false, "the route back to " + p.Src.String() + " is not unicast"
	case uses || m.flags&rpfLoose != 0:
		return true, "the route back to " + p.Src.String() + " leaves by " + dev
	}
	return false, "the route back to " + p.Src.String() + " does not leave by " + dev
}

// Match implements Matcher: rpfilter_mt.
func (m *rpfilterMatch) Match(c *Ctx) bool {
	ok, _ := m.pass(c)
	return ok != (m.flags&rpfInvert != 0)
}

// Explain implements Explainer.
func (m *rpfilterMatch) Explain(c *Ctx, matched bool) string {
	_, why := m.pass(c)
	return "rpfilter: " + why
}
