package ext

import (
	"fmt"
	"strings"

	"github.com/ipsift/ipsift/packet"
)

// The tcpmss match (-p tcp -m tcpmss --mss N[:M]): the MSS option of a
// TCP segment (in practice a SYN), as iptables' libxt_tcpmss.c reads and
// prints it and the kernel's xt_tcpmss.c tests it. A segment without an
// MSS option matches only when inverted. The kernel reads the header at
// the transport offset without looking at the fragment offset, and drops
// the packet (see Hotdropper) when the 20-byte header or the options are
// cut short or the data offset is below 20.

// tcpmssMatch is one -m tcpmss in one rule (struct
// xt_tcpmss_match_info).
type tcpmssMatch struct {
	min, max uint16
	invert   bool
}

func init() {
	RegisterMatch(&MatchType{
		Name:    "tcpmss",
		Family:  AnyFamily,
		Proto:   packet.ProtoTCP,
		Options: []Option{{Name: "mss", Arg: OneArg, Invert: true, Mandatory: true}},
		New:     func() Match { return &tcpmssMatch{} },
	})
}

// Parse implements Parser.
func (m *tcpmssMatch) Parse(opt, arg string, invert bool, more *Args) error {
	if opt != "mss" {
		return Errorf("unknown option --%s", opt)
	}
	lo, hi, _, err := ParseUintRange(arg, 0, 65535)
	if err != nil {
		return err
	}
	m.min, m.max, m.invert = uint16(lo), uint16(hi), invert
	return nil
}

// Finish implements Parser.
func (m *tcpmssMatch) Finish(r *RuleInfo) error { return nil }

func (m *tcpmssMatch) value() string {
	if m.min == m.max {
		return fmt.Sprintf("%d", m.min)
	}
	return fmt.Sprintf("%d:%d", m.min, m.max)
}

// Save implements Parser.
func (m *tcpmssMatch) Save(b *strings.Builder) {
	if m.invert {
		b.WriteString(" !")
	}
	b.WriteString(" --mss " + m.value())
}

// Print implements Parser.
func (m *tcpmssMatch) Print(b *strings.Builder, numeric bool) {
	b.WriteString(" tcpmss match " + bangNoSpace(m.invert) + m.value())
}

// Compile implements Match.
func (m *tcpmssMatch) Compile(c *Compiler) (Matcher, error) {
	cm := *m
	return &cm, nil
}

// tcpMSS finds the MSS option: found and its value, or drop when the
// kernel would drop the packet.
func tcpMSS(p *packet.Packet) (mss uint16, found, drop bool) {
	h, ok := l4Bytes(p, 0, 20)
	if !ok {
		return 0, false, true
	}
	doff := int(h[12]>>4) * 4
	if doff < 20 {
		return 0, false, true
	}
	optlen := doff - 20
	op, ok := l4Bytes(p, 20, optlen)
	if !ok {
		return 0, false, true
	}
	for i := 0; i < optlen; {
		if op[i] == 2 && optlen-i >= 4 && op[i+1] == 4 {
			return uint16(op[i+2])<<8 | uint16(op[i+3]), true, false
		}
		if op[i] < 2 || i+1 >= optlen || op[i+1] == 0 {
			i++
		} else {
			i += int(op[i+1])
		}
	}
	return 0, false, false
}

// Match implements Matcher.
func (m *tcpmssMatch) Match(c *Ctx) bool {
	mss, found, drop := tcpMSS(c.Pkt)
	if drop {
		return false
	}
	if !found {
		return m.invert
	}
	return (mss >= m.min && mss <= m.max) != m.invert
}

// Hotdrop implements Hotdropper.
func (m *tcpmssMatch) Hotdrop(c *Ctx) bool {
	_, _, drop := tcpMSS(c.Pkt)
	return drop
}

// Explain implements Explainer.
func (m *tcpmssMatch) Explain(c *Ctx, matched bool) string {
	mss, found, drop := tcpMSS(c.Pkt)
	switch {
	case drop:
		return "the tcp header or its options are cut short: the packet is dropped"
	case !found:
		return fmt.Sprintf("%s--mss %s: the packet has no MSS option", bang(m.invert), m.value())
	}
	return fmt.Sprintf("%s--mss %s: the packet's MSS is %d", bang(m.invert), m.value(), mss)
}
