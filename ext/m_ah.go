package ext

import (
	"fmt"
	"strings"
)

// The ah match (-p ah [-m ah] --ahspi ...): the SPI of an IPsec
// authentication header, as iptables' libipt_ah.c reads and prints it and
// the kernel's ipt_ah.c tests it. IPv4 only (ip6tables has its own). A
// later fragment never matches; a packet without the 12-byte AH header is
// dropped (see Hotdropper).

// ahProto is IPPROTO_AH.
const ahProto = 51

// ahMatch is one -m ah in one rule (struct ipt_ah).
type ahMatch struct{ spi spiRange }

func init() {
	RegisterMatch(&MatchType{
		Name:     "ah",
		Family:   IPv4,
		Proto:    ahProto,
		Implicit: true,
		Options:  []Option{{Name: "ahspi", Arg: OneArg, Invert: true}},
		New:      func() Match { return &ahMatch{spi: spiRange{hi: 0xffffffff}} },
	})
}

// Parse implements Parser.
func (m *ahMatch) Parse(opt, arg string, invert bool, more *Args) error {
	if opt != "ahspi" {
		return Errorf("unknown option --%s", opt)
	}
	return m.spi.parse(arg, invert)
}

// Finish implements Parser.
func (m *ahMatch) Finish(r *RuleInfo) error { return nil }

// Save implements Parser.
func (m *ahMatch) Save(b *strings.Builder) {
	if !m.spi.full() {
		m.spi.save(b, "ahspi")
	}
}

// Print implements Parser: " ah spi:5", and " ah " (with its space)
// when every SPI matches, as iptables prints it.
func (m *ahMatch) Print(b *strings.Builder, numeric bool) {
	b.WriteString(" ah ")
	if !m.spi.full() {
		m.spi.print(b)
	}
}

// Compile implements Match.
func (m *ahMatch) Compile(c *Compiler) (Matcher, error) {
	cm := *m
	return &cm, nil
}

// Match implements Matcher: the SPI is bytes 4-7 of the header.
func (m *ahMatch) Match(c *Ctx) bool {
	p := c.Pkt
	h, ok := l4Bytes(p, 0, 12)
	return p.FragOff == 0 && ok && m.spi.test(be32(h[4:]))
}

// Hotdrop implements Hotdropper.
func (m *ahMatch) Hotdrop(c *Ctx) bool {
	_, ok := l4Bytes(c.Pkt, 0, 12)
	return c.Pkt.FragOff == 0 && !ok
}

// Explain implements Explainer.
func (m *ahMatch) Explain(c *Ctx, matched bool) string {
	p := c.Pkt
	h, ok := l4Bytes(p, 0, 12)
	switch {
	case p.FragOff != 0:
		return "a later fragment has no ah header: ah never matches it"
	case !ok:
		return "the ah header is cut short: the packet is dropped"
	}
	return fmt.Sprintf("%s--ahspi %s: the packet's spi is %d", bang(m.spi.inv), m.spi, be32(h[4:]))
}
