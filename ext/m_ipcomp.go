package ext

import (
	"fmt"
	"strings"
)

// The ipcomp match (-p ipcomp [-m ipcomp] --ipcompspi ...): the CPI of an
// IP payload compression header, as iptables' libxt_ipcomp.c reads and
// prints it and the kernel's xt_ipcomp.c tests it. The CPI is 16 bits;
// the range is 32. A later fragment never matches; a packet without the
// 4-byte header is dropped (see Hotdropper).
//
// libxt_ipcomp sets no default range, so without --ipcompspi the rule
// matches CPI 0 only and is saved as "--ipcompspi 0", as in iptables.
// --compres is saved but, as in the kernel, tests nothing.

// ipcompProto is IPPROTO_COMP.
const ipcompProto = 108

// ipcompMatch is one -m ipcomp in one rule (struct xt_ipcomp).
type ipcompMatch struct {
	spi    spiRange
	hdrres bool
}

func init() {
	RegisterMatch(&MatchType{
		Name:     "ipcomp",
		Family:   AnyFamily,
		Proto:    ipcompProto,
		Implicit: true,
		Options: []Option{
			{Name: "ipcompspi", Arg: OneArg, Invert: true},
			{Name: "compres", Arg: NoArg},
		},
		New: func() Match { return &ipcompMatch{} },
	})
}

// Parse implements Parser.
func (m *ipcompMatch) Parse(opt, arg string, invert bool, more *Args) error {
	switch opt {
	case "ipcompspi":
		return m.spi.parse(arg, invert)
	case "compres":
		m.hdrres = true
		return nil
	}
	return Errorf("unknown option --%s", opt)
}

// Finish implements Parser.
func (m *ipcompMatch) Finish(r *RuleInfo) error { return nil }

// Save implements Parser.
func (m *ipcompMatch) Save(b *strings.Builder) {
	if !m.spi.full() {
		m.spi.save(b, "ipcompspi")
	}
	if m.hdrres {
		b.WriteString(" --compres")
	}
}

// Print implements Parser: " comp spi:18", with iptables' spacing.
func (m *ipcompMatch) Print(b *strings.Builder, numeric bool) {
	b.WriteString(" comp ")
	if !m.spi.full() {
		m.spi.print(b)
	}
	if m.hdrres {
		b.WriteString(" reserved")
	}
}

// Compile implements Match.
func (m *ipcompMatch) Compile(c *Compiler) (Matcher, error) {
	cm := *m
	return &cm, nil
}

// cpi returns the header's CPI (bytes 2-3).
func ipcompCPI(h []byte) uint32 { return uint32(h[2])<<8 | uint32(h[3]) }

// Match implements Matcher.
func (m *ipcompMatch) Match(c *Ctx) bool {
	p := c.Pkt
	h, ok := l4Bytes(p, 0, 4)
	return p.FragOff == 0 && ok && m.spi.test(ipcompCPI(h))
}

// Hotdrop implements Hotdropper.
func (m *ipcompMatch) Hotdrop(c *Ctx) bool {
	_, ok := l4Bytes(c.Pkt, 0, 4)
	return c.Pkt.FragOff == 0 && !ok
}

// Explain implements Explainer.
func (m *ipcompMatch) Explain(c *Ctx, matched bool) string {
	p := c.Pkt
	h, ok := l4Bytes(p, 0, 4)
	switch {
	case p.FragOff != 0:
		return "a later fragment has no ipcomp header: ipcomp never matches it"
	case !ok:
		return "the ipcomp header is cut short: the packet is dropped"
	}
	return fmt.Sprintf("%s--ipcompspi %s: the packet's cpi is %d", bang(m.spi.inv), m.spi, ipcompCPI(h))
}
