package ext

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/ipsift/ipsift/packet"
)

// This file holds what the protocol and header matches (tcp, udp, icmp,
// multiport, sctp, dccp, esp, ah, ipcomp, tcpmss, u32, string ...) share:
// the hotdrop contract with the engine, libxtables' way of reading
// numbers and ranges (C's strtoul with an end pointer), and bounds-checked
// reads of the transport header as the kernel's skb_header_pointer does
// them.

// Hotdropper is implemented by Matchers that, like the kernel's matches
// setting par->hotdrop, can demand that a packet be dropped at once: the
// tcp, udp, icmp, multiport, sctp, dccp, esp, ah, ipcomp and tcpmss
// matches do it when the header they must read is cut short (and tcp for
// the "evil" fragment at offset 8). ipt_do_table then stops walking the
// table and returns NF_DROP whatever the rules would have said.
//
// The engine calls Hotdrop only after Match returned false for the same
// packet (a hotdropping Matcher always returns false, so that a rule
// whose match cannot read the packet never counts it); true means the
// packet must be dropped now. Hotdrop must not allocate, keep c or change
// state, and is cheap: it looks at the packet again rather than
// remembering the last call, so concurrent packets cannot confuse it.
type Hotdropper interface {
	Hotdrop(c *Ctx) bool
}

// MatchHotdropper is implemented by the Hotdroppers (sctp, dccp) with
// which the kernel can both match a packet and drop it: an inverted test
// ("! --chunk-types", "! --dccp-option") passes on a header it could not
// read, so the rule counts the packet and runs its target, and then
// ipt_do_table returns NF_DROP anyway. MatchHotdrop returns the kernel's
// two results from one evaluation; an engine that calls it instead of
// Match and Hotdrop counts such rules exactly as the kernel does. Match
// alone returns false in that case (match && !hotdrop), so that an engine
// knowing only Hotdropper still drops the packet, at the price of not
// counting the rule nor running its target.
type MatchHotdropper interface {
	MatchHotdrop(c *Ctx) (match, hotdrop bool)
}

// ParseUintPrefix reads a number at the start of s the way
// xtables_strtoul does when given an end pointer (strtoumax in base 0):
// leading blanks are skipped, a '+' is allowed and a '-' refused, "0x"
// starts hex and "0" octal. It returns the value and the unread rest; ok
// is false when no digit was read, the value overflows 64 bits, or it lies
// outside [min, max].
func ParseUintPrefix(s string, min, max uint64) (v uint64, rest string, ok bool) {
	p := strings.TrimLeft(s, " \t\n\v\f\r")
	if p != "" && p[0] == '-' {
		return 0, s, false
	}
	if p != "" && p[0] == '+' {
		p = p[1:]
	}
	base := uint64(10)
	switch {
	case len(p) > 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X') && digitVal(p[2]) < 16:
		base, p = 16, p[2:]
	case p != "" && p[0] == '0':
		base = 8
	}
	n := 0
	overflow := false
	for n < len(p) {
		d := uint64(digitVal(p[n]))
		if d >= base {
			break
		}
		if v > (^uint64(0)-d)/base {
			overflow = true
		}
		v = v*base + d
		n++
	}
	if n == 0 {
		return 0, s, false
	}
	rest = p[n:]
	if overflow || v < min || v > max {
		return v, rest, false
	}
	return v, rest, true
}

// digitVal is the value of c as a digit in bases up to 36, or 99.
func digitVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'Z':
		return int(c-'A') + 10
	}
	return 99
}

// ParseUintFull is ParseUintPrefix for a whole word: trailing characters
// make it fail, as xtables_strtoul without an end pointer.
func ParseUintFull(s string, min, max uint64) (uint64, bool) {
	v, rest, ok := ParseUintPrefix(s, min, max)
	return v, ok && rest == ""
}

// ParseUintRange reads "N", "LO:HI", ":HI", "LO:" or ":" the way
// libxtables reads its range types (XTTYPE_UINT16RC, UINT32RC:
// xtopt_parse_mint): a missing low end is min, a missing high end is max,
// the high end may not be below the low one, and numbers are read as
// ParseUintPrefix reads them. n is how many values were written (1 for
// "N", 2 for a range): the extensions that keep a single value as [N, N]
// need it. The errors say which part is wrong.
func ParseUintRange(s string, min, max uint64) (lo, hi uint64, n int, err error) {
	lo, hi = min, max
	lower := min
	arg := s
	for {
		if n == 2 {
			return 0, 0, 0, fmt.Errorf("too many components in %q: write N or LO:HI", s)
		}
		var v uint64
		if arg == "" || arg[0] == ':' {
			// An empty component takes its default.
			if n == 1 {
				v = max
			} else {
				v = min
			}
		} else {
			var rest string
			var ok bool
			v, rest, ok = ParseUintPrefix(arg, lower, max)
			if !ok {
				if n == 1 && v < lower && rest != arg {
					return 0, 0, 0, fmt.Errorf("range %q is reversed: write %d:%d", s, v, lower)
				}
				return 0, 0, 0, fmt.Errorf("bad value %q: write a number %d-%d or a range LO:HI", s, min, max)
			}
			if rest != "" && rest[0] != ':' {
				return 0, 0, 0, fmt.Errorf("unexpected characters %q in %q", rest, s)
			}
			lower = v
			arg = rest
		}
		if n == 0 {
			lo = v
		} else {
			hi = v
		}
		n++
		if arg == "" {
			break
		}
		arg = arg[1:] // the ':'
	}
	if n == 1 {
		hi = lo
	}
	return lo, hi, n, nil
}

// parseXtPortRange reads "PORT", "LO:HI", ":HI", "LO:" or ":" as the tcp
// and sctp matches' parse functions do, with parseXtPort for each end.
func parseXtPortRange(s string, proto uint8) (lo, hi uint16, err error) {
	a, b, isRange := strings.Cut(s, ":")
	if !isRange {
		p, err := parseXtPort(s, proto)
		return p, p, err
	}
	lo, hi = 0, 65535
	if a != "" {
		if lo, err = parseXtPort(a, proto); err != nil {
			return 0, 0, err
		}
	}
	if b != "" {
		if hi, err = parseXtPort(b, proto); err != nil {
			return 0, 0, err
		}
	}
	if lo > hi {
		return 0, 0, fmt.Errorf("invalid port range %q (min > max): write %d:%d", s, hi, lo)
	}
	return lo, hi, nil
}

// appendPort writes a port for iptables -L: the protocol's service name
// unless numeric or there is none.
func appendPort(b *strings.Builder, port uint16, proto uint8, numeric bool) {
	if !numeric {
		if n := serviceNameFor(port, proto); n != "" {
			b.WriteString(n)
			return
		}
	}
	b.WriteString(strconv.Itoa(int(port)))
}

// appendPortRange writes the " spt:22" / " dpts:!1:1023" part of the tcp,
// udp, sctp and dccp matches' -L output.
func appendPortRange(b *strings.Builder, name string, lo, hi uint16, inv bool, proto uint8, numeric bool) {
	b.WriteString(" " + name)
	if lo == hi {
		b.WriteByte(':')
	} else {
		b.WriteString("s:")
	}
	if inv {
		b.WriteByte('!')
	}
	appendPort(b, lo, proto, numeric)
	if lo != hi {
		b.WriteByte(':')
		appendPort(b, hi, proto, numeric)
	}
}

// savePortRange writes " [!] --NAME LO[:HI]" for iptables-save.
func savePortRange(b *strings.Builder, name string, lo, hi uint16, inv bool) {
	if inv {
		b.WriteString(" !")
	}
	b.WriteString(" --" + name + " " + FormatPortRange(lo, hi))
}

// l4Bytes returns n bytes of the transport header from offset off, as
// skb_header_pointer(skb, thoff+off, n) would find them; ok is false when
// the packet ends before them. Unlike the decoder's L4Fixed, it does not
// look at the fragment offset: a few matches (tcpmss, ecn) read a later
// fragment's payload as if it were a header, as the kernel does.
func l4Bytes(p *packet.Packet, off, n int) ([]byte, bool) {
	if off < 0 || n < 0 || off+n > len(p.L4) {
		return nil, false
	}
	return p.L4[off : off+n], true
}

// l4Ports returns the first four bytes of the transport header, which are
// the source and destination ports of tcp, udp, udplite, sctp and dccp:
// what the multiport match reads. ok is false when the packet is a later
// fragment or the four bytes are not there.
func l4Ports(p *packet.Packet) (sport, dport uint16, ok bool) {
	if p.FragOff != 0 {
		return 0, 0, false
	}
	if (p.Proto == packet.ProtoTCP || p.Proto == packet.ProtoUDP) && p.L4Fixed {
		return p.SrcPort, p.DstPort, true
	}
	b, ok := l4Bytes(p, 0, 4)
	if !ok {
		return 0, 0, false
	}
	return uint16(b[0])<<8 | uint16(b[1]), uint16(b[2])<<8 | uint16(b[3]), true
}

// The kernel's ctype (lib/ctype.c) classifies Latin-1, not only ASCII:
// 0xC0-0xDE (but 0xD7) are upper case and 0xDF-0xFF (but 0xF7) lower case,
// and its toupper/tolower move a letter by 0x20. The string match's --icase
// uses them, so "é" (0xE9) matches "É" (0xC9) as in the kernel.

func kIsLower(c byte) bool { return c >= 'a' && c <= 'z' || c >= 0xDF && c != 0xF7 }
func kIsUpper(c byte) bool { return c >= 'A' && c <= 'Z' || c >= 0xC0 && c <= 0xDE && c != 0xD7 }

// kToUpper is the kernel's toupper.
func kToUpper(c byte) byte {
	if kIsLower(c) {
		return c - 0x20
	}
	return c
}

// kToLower is the kernel's tolower.
func kToLower(c byte) byte {
	if kIsUpper(c) {
		return c + 0x20
	}
	return c
}

// spiRange is the SPI (or CPI) range test of the esp, ah and ipcomp
// matches: the header's number must lie in [lo, hi], inverted by inv.
type spiRange struct {
	lo, hi uint32
	inv    bool
}

// parse reads "SPI", "LO:HI", ":HI", "LO:" or ":" (XTTYPE_UINT32RC).
func (r *spiRange) parse(arg string, invert bool) error {
	lo, hi, _, err := ParseUintRange(arg, 0, 0xffffffff)
	if err != nil {
		return err
	}
	r.lo, r.hi, r.inv = uint32(lo), uint32(hi), invert
	return nil
}

// full reports a range iptables leaves out of the saved rule.
func (r spiRange) full() bool { return r.lo == 0 && r.hi == 0xffffffff && !r.inv }

// test is the kernel's spi_match.
func (r spiRange) test(spi uint32) bool { return (spi >= r.lo && spi <= r.hi) != r.inv }

// save writes " [!] --OPT LO[:HI]".
func (r spiRange) save(b *strings.Builder, opt string) {
	if r.inv {
		b.WriteString(" !")
	}
	b.WriteString(" --" + opt + " " + r.String())
}

// String is "LO" or "LO:HI".
func (r spiRange) String() string {
	if r.lo == r.hi {
		return strconv.FormatUint(uint64(r.lo), 10)
	}
	return strconv.FormatUint(uint64(r.lo), 10) + ":" + strconv.FormatUint(uint64(r.hi), 10)
}

// print writes "spi:[!]N" or "spis:[!]LO:HI" as the -L output of the
// three matches has it.
func (r spiRange) print(b *strings.Builder) {
	if r.lo == r.hi {
		b.WriteString("spi:")
	} else {
		b.WriteString("spis:")
	}
	b.WriteString(bangNoSpace(r.inv) + r.String())
}

// be32 reads a big-endian 32-bit number.
func be32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}
