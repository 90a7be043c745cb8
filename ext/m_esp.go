package ext

import (
	"fmt"
	"strings"
)

// The esp match (-p esp [-m esp] --espspi ...): the SPI of an IPsec ESP
// header, as iptables' libxt_esp.c reads and prints it and the kernel's
// xt_esp.c tests it. A later fragment never matches; a packet without the
// 8-byte ESP header is dropped (see Hotdropper).

// espProto is IPPROTO_ESP.
const espProto = 50

// espMatch is one -m esp in one rule (struct xt_esp).
type espMatch struct{ spi spiRange }

func init() {
	RegisterMatch(&MatchType{
		Name:     "esp",
		Family:   AnyFamily,
		Proto:    espProto,
		Implicit: true,
		Options:  []Option{{Name: "espspi", Arg: OneArg, Invert: true}},
		New:      func() Match { return &espMatch{spi: spiRange{hi: 0xffffffff}} },
	})
}

// Parse implements Parser.
func (m *espMatch) Parse(opt, arg string, invert bool, more *Args) error {
	if opt != "espspi" {
		return Errorf("unknown option --%s", opt)
	}
	return m.spi.parse(arg, invert)
}

// Finish implements Parser.
func (m *espMatch) Finish(r *RuleInfo) error { return nil }

// Save implements Parser.
func (m *espMatch) Save(b *strings.Builder) {
	if !m.spi.full() {
		m.spi.save(b, "espspi")
	}
}

// Print implements Parser.
func (m *espMatch) Print(b *strings.Builder, numeric bool) {
	b.WriteString(" esp")
	if !m.spi.full() {
		b.WriteByte(' ')
		m.spi.print(b)
	}
}

// Compile implements Match.
func (m *espMatch) Compile(c *Compiler) (Matcher, error) {
	cm := *m
	return &cm, nil
}

// Match implements Matcher.
func (m *espMatch) Match(c *Ctx) bool {
	p := c.Pkt
	h, ok := l4Bytes(p, 0, 8)
	return p.FragOff == 0 && ok && m.spi.test(be32(h))
}

// Hotdrop implements Hotdropper.
func (m *espMatch) Hotdrop(c *Ctx) bool {
	_, ok := l4Bytes(c.Pkt, 0, 8)
	return c.Pkt.FragOff == 0 && !ok
}

// Explain implements Explainer.
func (m *espMatch) Explain(c *Ctx, matched bool) string {
	p := c.Pkt
	h, ok := l4Bytes(p, 0, 8)
	switch {
	case p.FragOff != 0:
		return "a later fragment has no esp header: esp never matches it"
	case !ok:
		return "the esp header is cut short: the packet is dropped"
	}
	return fmt.Sprintf("%s--espspi %s: the packet's spi is %d", bang(m.spi.inv), m.spi, be32(h))
}
