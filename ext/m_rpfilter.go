package ext

import (
	"fmt"
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

// rpfReason says what decided the reverse path test, for Explain; the
// test itself returns only this number, so that a packet costs no
// allocation.
type rpfReason uint8

const (
	rpfLoopback   rpfReason = iota // came in on loopback
	rpfZeroNet                     // 0.0.0.0/8 to the broadcast or 224.0.0.0/24
	rpfAnySource                   // IPv6 source :: (not routable)
	rpfNoRouter                    // the host model cannot look routes up
	rpfNoRoute                     // nothing routes the source
	rpfNotUnicast                  // the route back is broadcast, or local without --accept-local
	rpfUsesDev                     // the route back leaves by the input interface
	rpfLooseOK                     // --loose: any interface will do
	rpfOtherDev                    // the route back leaves by another interface
)

// pass is rpfilter_mt without the inversion (ipt_rpfilter.c and
// ip6t_rpfilter.c): loopback passes; the IPv4 source 0.0.0.0 (only
// that address: the kernel's ipv4_is_zeronet, probed with 0.1.2.3)
// passes towards the limited broadcast or 224.0.0.0/24 (DHCP, IGMP), the
// IPv6 source :: always; otherwise the source is looked up as a destination
// with the host's routes, and passes when that route is unicast (or
// local, with --accept-local) and leaves by the interface the packet
// came in on (any interface, with --loose).
func (m *rpfilterMatch) pass(c *Ctx) (bool, rpfReason) {
	p := c.Pkt
	if c.In != nil && c.In.Name == "lo" || c.PktType == PktLoopback {
		return true, rpfLoopback
	}
	if p.Src.Is4() {
		s, d := p.Src.As4(), p.Dst.As4()
		if s == [4]byte{} && (d == [4]byte{255, 255, 255, 255} || d[0] == 224 && d[1] == 0 && d[2] == 0) {
			return true, rpfZeroNet
		}
	} else if p.Src.IsUnspecified() {
		return true, rpfAnySource
	}
	rr, ok := c.Host.(ReverseRouter)
	if !ok {
		return true, rpfNoRouter
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
		return false, rpfNoRoute
	case typ != rtnUnicast && (typ != rtnLocal || m.flags&rpfAcceptLocal == 0):
		return false, rpfNotUnicast
	case uses:
		return true, rpfUsesDev
	case m.flags&rpfLoose != 0:
		return true, rpfLooseOK
	}
	return false, rpfOtherDev
}

// Match implements Matcher: rpfilter_mt.
func (m *rpfilterMatch) Match(c *Ctx) bool {
	ok, _ := m.pass(c)
	return ok != (m.flags&rpfInvert != 0)
}

// Explain implements Explainer.
func (m *rpfilterMatch) Explain(c *Ctx, matched bool) string {
	_, why := m.pass(c)
	src, dev := c.Pkt.Src.String(), "?"
	if c.In != nil {
		dev = c.In.Name
	}
	var s string
	switch why {
	case rpfLoopback:
		s = "the packet came in on loopback"
	case rpfZeroNet:
		s = "the source 0.0.0.0 to the broadcast or 224.0.0.0/24 (DHCP, IGMP) passes"
	case rpfAnySource:
		s = "the source :: passes"
	case rpfNoRouter:
		s = "the host model has no routes to test the source against"
	case rpfNoRoute:
		s = "no route back to " + src
	case rpfNotUnicast:
		s = "the route back to " + src + " is not unicast"
		if m.flags&rpfAcceptLocal == 0 {
			s += " (a local source needs --accept-local)"
		}
	case rpfUsesDev:
		s = "the route back to " + src + " leaves by " + dev
	case rpfLooseOK:
		s = "--loose: " + src + " has a route back"
	default:
		s = "the route back to " + src + " does not leave by " + dev
	}
	if m.flags&rpfInvert != 0 {
		s += " (--invert)"
	}
	return "rpfilter: " + s
}
