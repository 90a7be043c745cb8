package ext

import (
	"fmt"
	"strconv"
	"strings"
)

// The dccp match (-p dccp [-m dccp]): ports, packet types and options,
// as iptables' libxt_dccp.c reads and prints them and the kernel's
// xt_dccp.c tests them. A later fragment never matches; the kernel drops
// a packet whose 12-byte generic header is cut short, and, for
// --dccp-option, one whose data offset is below its header length or
// whose options are cut short (see Hotdropper).

// dccpProto is IPPROTO_DCCP.
const dccpProto = 33

// dccpTypes are the packet type names by number (DCCP_PKT_*).
var dccpTypes = []string{"REQUEST", "RESPONSE", "DATA", "ACK", "DATAACK", "CLOSEREQ", "CLOSE", "RESET", "SYNC", "SYNCACK", "INVALID"}

// dccpInvalid is DCCP_PKT_INVALID; INVALID stands for the types 10-15.
const dccpInvalid = 10

// Option bits (XT_DCCP_*).
const (
	dccpSrcPorts = 1
	dccpDstPorts = 2
	dccpType     = 4
	dccpOption   = 8
)

// dccpMatch is one -m dccp in one rule (struct xt_dccp_info).
type dccpMatch struct {
	spts, dpts [2]uint16
	typemask   uint16
	option     uint8
	flags      uint8
	invflags   uint8
}

func init() {
	RegisterMatch(&MatchType{
		Name:     "dccp",
		Family:   AnyFamily,
		Proto:    dccpProto,
		Implicit: true,
		Options: []Option{
			{Name: "source-port", Arg: OneArg, Invert: true},
			{Name: "sport", Arg: OneArg, Invert: true},
			{Name: "destination-port", Arg: OneArg, Invert: true},
			{Name: "dport", Arg: OneArg, Invert: true},
			{Name: "dccp-types", Arg: OneArg, Invert: true},
			{Name: "dccp-option", Arg: OneArg, Invert: true},
		},
		New: func() Match { return &dccpMatch{spts: [2]uint16{0, 65535}, dpts: [2]uint16{0, 65535}} },
	})
}

// Parse implements Parser.
func (m *dccpMatch) Parse(opt, arg string, invert bool, more *Args) error {
	var bit uint8
	switch opt {
	case "source-port", "sport":
		bit = dccpSrcPorts
	case "destination-port", "dport":
		bit = dccpDstPorts
	case "dccp-types":
		bit = dccpType
	case "dccp-option":
		bit = dccpOption
	default:
		return Errorf("unknown option --%s", opt)
	}
	if m.flags&bit != 0 {
		return Errorf("option --%s can only be used once (--sport and --source-port, --dport and --destination-port are the same)", opt)
	}
	switch bit {
	case dccpSrcPorts, dccpDstPorts:
		// XTTYPE_PORTRC: decimal numbers or service names.
		lo, hi, err := ParsePortRange(arg)
		if err != nil {
			return err
		}
		if bit == dccpSrcPorts {
			m.spts = [2]uint16{lo, hi}
		} else {
			m.dpts = [2]uint16{lo, hi}
		}
	case dccpType:
		var mask uint16
		for _, w := range strings.Split(arg, ",") {
			if w == "" {
				continue
			}
			i := 0
			for ; i < len(dccpTypes); i++ {
				if strings.EqualFold(dccpTypes[i], w) {
					mask |= 1 << i
					break
				}
			}
			if i == len(dccpTypes) {
				return Errorf("unknown DCCP type %q: use %s", w, strings.Join(dccpTypes, ", "))
			}
		}
		if mask&(1<<dccpInvalid) != 0 {
			mask |= 0xf800 // types 11-15
		}
		m.typemask = mask
	case dccpOption:
		v, ok := ParseUintFull(arg, 1, 255)
		if !ok {
			return Errorf("bad value %q: a DCCP option is a number 1-255", arg)
		}
		m.option = uint8(v)
	}
	m.flags |= bit
	if invert {
		m.invflags |= bit
	}
	return nil
}

// Finish implements Parser.
func (m *dccpMatch) Finish(r *RuleInfo) error { return nil }

// appendTypes is print_types: names up to INVALID (which stands for the
// rest), or numbers.
func (m *dccpMatch) appendTypes(b *strings.Builder, numeric bool) {
	b.WriteByte(' ')
	first := true
	for i := 0; i < 16; i++ {
		if m.typemask&(1<<i) == 0 {
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		if numeric {
			b.WriteString(strconv.Itoa(i))
			continue
		}
		b.WriteString(dccpTypes[min(i, dccpInvalid)])
		if i >= dccpInvalid {
			break
		}
	}
}

// Save implements Parser.
func (m *dccpMatch) Save(b *strings.Builder) {
	if m.flags&dccpSrcPorts != 0 {
		savePortRange(b, "sport", m.spts[0], m.spts[1], m.invflags&dccpSrcPorts != 0)
	}
	if m.flags&dccpDstPorts != 0 {
		savePortRange(b, "dport", m.dpts[0], m.dpts[1], m.invflags&dccpDstPorts != 0)
	}
	if m.flags&dccpType != 0 {
		if m.invflags&dccpType != 0 {
			b.WriteString(" !")
		}
		b.WriteString(" --dccp-types")
		m.appendTypes(b, false)
	}
	if m.flags&dccpOption != 0 {
		if m.invflags&dccpOption != 0 {
			b.WriteString(" !")
		}
		fmt.Fprintf(b, " --dccp-option %d", m.option)
	}
}

// Print implements Parser.
func (m *dccpMatch) Print(b *strings.Builder, numeric bool) {
	b.WriteString(" dccp")
	if m.flags&dccpSrcPorts != 0 && !skipPorts(m.spts, m.invflags&dccpSrcPorts != 0) {
		appendPortRange(b, "spt", m.spts[0], m.spts[1], m.invflags&dccpSrcPorts != 0, dccpProto, numeric)
	}
	if m.flags&dccpDstPorts != 0 && !skipPorts(m.dpts, m.invflags&dccpDstPorts != 0) {
		appendPortRange(b, "dpt", m.dpts[0], m.dpts[1], m.invflags&dccpDstPorts != 0, dccpProto, numeric)
	}
	if m.flags&dccpType != 0 {
		if m.invflags&dccpType != 0 {
			b.WriteString(" !")
		}
		m.appendTypes(b, numeric)
	}
	if m.flags&dccpOption != 0 && (m.option != 0 || m.invflags&dccpOption != 0) {
		b.WriteString(" option=" + bangNoSpace(m.invflags&dccpOption != 0) + strconv.Itoa(int(m.option)))
	}
}

// Compile implements Match.
func (m *dccpMatch) Compile(c *Compiler) (Matcher, error) {
	cm := *m
	return &cm, nil
}

func (m *dccpMatch) check(bit uint8, cond bool) bool {
	return m.flags&bit == 0 || cond != (m.invflags&bit != 0)
}

// dccpHdrLen is __dccp_hdr_len: the generic header, its extension for
// 48-bit sequence numbers (X set), and the part each packet type adds.
func dccpHdrLen(h []byte) int {
	n := 12
	if h[8]&1 != 0 {
		n += 4
	}
	switch (h[8] >> 1) & 0x0f {
	case 2: // DATA
	case 3, 4, 5, 6, 8, 9: // ACK, DATAACK, CLOSEREQ, CLOSE, SYNC, SYNCACK
		n += 8
	case 0: // REQUEST
		n += 4
	default: // RESPONSE, RESET and the invalid types
		n += 12
	}
	return n
}

// findOption is dccp_find_option; hotdrop when the kernel would drop.
func (m *dccpMatch) findOption(l4, h []byte) (found, hotdrop bool) {
	hl := dccpHdrLen(h)
	doff := int(h[4]) * 4
	if doff < hl {
		return false, true
	}
	optlen := doff - hl
	if optlen == 0 {
		return false, false
	}
	if hl+optlen > len(l4) {
		return false, true
	}
	op := l4[hl : hl+optlen]
	for i := 0; i < optlen; {
		if op[i] == m.option {
			return true, false
		}
		if op[i] < 2 || i+1 >= optlen || op[i+1] == 0 {
			i++
		} else {
			i += int(op[i+1])
		}
	}
	return false, false
}

// eval runs dccp_mt: its result, and whether the kernel set hotdrop on
// the way (both can be true, see MatchHotdropper).
func (m *dccpMatch) eval(c *Ctx) (match, hotdrop bool) {
	p := c.Pkt
	if p.FragOff != 0 {
		return false, false
	}
	h, ok := l4Bytes(p, 0, 12)
	if !ok {
		return false, true
	}
	sport, dport := uint16(h[0])<<8|uint16(h[1]), uint16(h[2])<<8|uint16(h[3])
	typ := (h[8] >> 1) & 0x0f
	if !m.check(dccpSrcPorts, sport >= m.spts[0] && sport <= m.spts[1]) ||
		!m.check(dccpDstPorts, dport >= m.dpts[0] && dport <= m.dpts[1]) ||
		!m.check(dccpType, m.typemask&(1<<typ) != 0) {
		return false, false
	}
	if m.flags&dccpOption == 0 {
		return true, false
	}
	// On options it cannot read, the kernel's dccp_find_option returns
	// false with hotdrop set, and an inverted test then passes.
	found, drop := m.findOption(p.L4, h)
	return m.check(dccpOption, found), drop
}

// Match implements Matcher: false for a packet the kernel drops.
func (m *dccpMatch) Match(c *Ctx) bool {
	ok, drop := m.eval(c)
	return ok && !drop
}

// MatchHotdrop implements MatchHotdropper.
func (m *dccpMatch) MatchHotdrop(c *Ctx) (match, hotdrop bool) { return m.eval(c) }

// Hotdrop implements Hotdropper.
func (m *dccpMatch) Hotdrop(c *Ctx) bool {
	_, drop := m.eval(c)
	return drop
}

// Explain implements Explainer.
func (m *dccpMatch) Explain(c *Ctx, matched bool) string {
	p := c.Pkt
	if p.FragOff != 0 {
		return "a later fragment has no dccp header: dccp never matches it"
	}
	h, ok := l4Bytes(p, 0, 12)
	if !ok {
		return "the dccp header is cut short: the packet is dropped"
	}
	if _, drop := m.eval(c); drop {
		return "the dccp options are cut short or the data offset is too small: the packet is dropped"
	}
	var want strings.Builder
	m.Save(&want)
	typ := int((h[8] >> 1) & 0x0f)
	return fmt.Sprintf("%s: the packet has ports %d, %d and type %s", strings.TrimSpace(want.String()),
		uint16(h[0])<<8|uint16(h[1]), uint16(h[2])<<8|uint16(h[3]), dccpTypes[min(typ, dccpInvalid)])
}
