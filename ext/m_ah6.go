package ext

import (
	"encoding/binary"
	"strings"

	"github.com/ipsift/ipsift/packet"
)

// The ip6tables ah match (-m ah --ahspi N[:M] --ahlen N --ahres): the
// IPsec Authentication Header of an IPv6 packet, found by walking the
// extension headers, as libip6t_ah.c reads and prints it and the
// kernel's ip6t_ah.c tests it. Unlike the IPv4 ah match (m_ah.go) it
// needs no -p ah and also checks the header length and reserved field.

type ah6Match struct {
	spi spiRange
	len hdrLenOpt
	res bool
}

func init() {
	RegisterMatch(&MatchType{
		Name:   "ah",
		Family: IPv6,
		Options: []Option{
			{Name: "ahspi", Arg: OneArg, Invert: true},
			{Name: "ahlen", Arg: OneArg, Invert: true},
			{Name: "ahres", Arg: NoArg},
		},
		New: func() Match { return &ah6Match{spi: spiRange{hi: 0xffffffff}} },
	})
}

// Parse implements Parser.
func (m *ah6Match) Parse(opt, arg string, invert bool, more *Args) error {
	switch opt {
	case "ahspi":
		return m.spi.parse(arg, invert)
	case "ahlen":
		return m.len.parse(arg, invert)
	case "ahres":
		m.res = true
		return nil
	}
	return Errorf("unknown option --%s", opt)
}

// Finish implements Parser.
func (m *ah6Match) Finish(r *RuleInfo) error { return nil }

// Save implements Parser.
func (m *ah6Match) Save(b *strings.Builder) {
	m.spi.saveFull(b, "ahspi")
	if m.len.set && (m.len.n != 0 || m.len.inv) {
		m.len.save(b, "ahlen")
	}
	if m.res {
		b.WriteString(" --ahres")
	}
}

// Print implements Parser: " ah spi:5 length:32 reserved".
func (m *ah6Match) Print(b *strings.Builder, numeric bool) {
	b.WriteString(" ah ")
	m.spi.printAs(b, "spi")
	if m.len.set && (m.len.n != 0 || m.len.inv) {
		m.len.print(b)
	}
	if m.res {
		b.WriteString(" reserved")
	}
}

// Compile implements Match.
func (m *ah6Match) Compile(c *Compiler) (Matcher, error) {
	cm := *m
	return &cm, nil
}

// Match implements Matcher: ah_mt6 on the first Authentication Header;
// a --ahlen of 0 tests nothing, whatever its "!".
func (m *ah6Match) Match(c *Ctx) bool {
	h, ok, _ := c.Pkt.FindExt(packet.ProtoAH, packet.ExtNeedAH)
	if !ok {
		return false
	}
	hlen := (uint32(h[1]) + 2) << 2
	return m.spi.test(binary.BigEndian.Uint32(h[4:])) &&
		(!m.len.set || m.len.n == 0 || (m.len.n == hlen) != m.len.inv) &&
		!(m.res && binary.BigEndian.Uint16(h[2:]) != 0)
}

// Hotdrop implements Hotdropper.
func (m *ah6Match) Hotdrop(c *Ctx) bool {
	_, _, hd := c.Pkt.FindExt(packet.ProtoAH, packet.ExtNeedAH)
	return hd
}
