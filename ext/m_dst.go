package ext

import (
	"fmt"
	"strings"

	"github.com/ipsift/ipsift/packet"
)

// The dst match (-m dst --dst-len N --dst-opts TYPE[:LEN],...): the IPv6
// Destination Options header, as libip6t_dst.c reads and prints it and
// the kernel's ip6t_hbh.c (which serves dst and hbh alike) tests it.
// ip6tables only. The hbh match (m_hbh.go) is the same for the
// Hop-by-Hop Options header and shares this type.

// optsMax is IP6T_OPTS_OPTSNR: at most 16 options in a list.
const optsMax = 16

// optsMatch is one -m dst or -m hbh in one rule (struct ip6t_opts).
type optsMatch struct {
	name    string // "dst" or "hbh": the option prefix and -L word
	proto   uint8  // its Next Header value (set by Compile)
	len     hdrLenOpt
	hasOpts bool
	opts    []uint16 // TYPE<<8 | LEN, LEN 0xff for "any length"
}

func registerOptsMatch(name string) {
	RegisterMatch(&MatchType{
		Name:   name,
		Family: IPv6,
		Options: []Option{
			{Name: name + "-len", Arg: OneArg, Invert: true},
			{Name: name + "-opts", Arg: OneArg},
		},
		New: func() Match { return &optsMatch{name: name} },
	})
}

func init() { registerOptsMatch("dst") }

// Parse implements Parser.
func (m *optsMatch) Parse(opt, arg string, invert bool, more *Args) error {
	switch strings.TrimPrefix(opt, m.name+"-") {
	case "len":
		return m.len.parse(arg, invert)
	case "opts":
		opts, err := m.parseOpts(arg)
		if err != nil {
			return err
		}
		m.opts, m.hasOpts = opts, true
	default:
		return Errorf("unknown option --%s", opt)
	}
	return nil
}

// parseOpts is libip6t_dst's parse_options: up to 16 TYPE[:LEN]
// elements, each number read by strtoul in base 0 and cut to a byte; a
// TYPE without LEN matches any length; PAD1 (type 0) has no length.
func (m *optsMatch) parseOpts(s string) ([]uint16, error) {
	num := func(w, what string) (uint64, error) {
		v, rest, digits, erange := cStrtoul(w)
		switch {
		case !digits:
			return 0, Errorf("%s: no valid digits in %s %q: write TYPE or TYPE:LENGTH, e.g. 194:4", m.name, what, w)
		case erange:
			return 0, Errorf("%s %q specified too big: would overflow", what, w)
		case w != "" && rest != "":
			return 0, Errorf("%s: error parsing %s %q: write TYPE or TYPE:LENGTH, e.g. 194:4", m.name, what, w)
		}
		return v, nil
	}
	parts := strings.Split(s, ",")
	if len(parts) > optsMax {
		return nil, Errorf("too many options: at most %d (ip6tables: too many addresses specified)", optsMax)
	}
	var out []uint16
	for i, p := range parts {
		typ, length, hasLen := strings.Cut(p, ":")
		if hasLen && i == optsMax-1 {
			return nil, Errorf("the %dth option may not give a length (ip6tables: too many ports specified)", optsMax)
		}
		t, err := num(typ, "opt")
		if err != nil {
			return nil, err
		}
		o := uint16(t&0xff) << 8
		if hasLen {
			if o == 0 {
				return nil, Errorf("PAD0 hasn't got length: option type 0 (Pad1) is one byte without a length field; write 0 alone")
			}
			l, err := num(length, "length")
			if err != nil {
				return nil, err
			}
			o |= uint16(l & 0xff)
		} else {
			o |= 0xff
		}
		out = append(out, o)
	}
	return out, nil
}

// Finish implements Parser.
func (m *optsMatch) Finish(r *RuleInfo) error { return nil }

func (m *optsMatch) writeOpts(b *strings.Builder) {
	for i, o := range m.opts {
		sep := ","
		if i == 0 {
			sep = " "
		}
		fmt.Fprintf(b, "%s%d", sep, o>>8)
		if o&0xff != 0xff {
			fmt.Fprintf(b, ":%d", o&0xff)
		}
	}
}

// Save implements Parser.
func (m *optsMatch) Save(b *strings.Builder) {
	m.len.save(b, m.name+"-len")
	if m.hasOpts {
		fmt.Fprintf(b, " --%s-opts", m.name)
	}
	m.writeOpts(b)
}

// Print implements Parser: " dst length:!42 opts 149:92,12:12".
func (m *optsMatch) Print(b *strings.Builder, numeric bool) {
	b.WriteString(" " + m.name)
	m.len.print(b)
	if m.hasOpts {
		b.WriteString(" opts")
	}
	m.writeOpts(b)
}

// Compile implements Match.
func (m *optsMatch) Compile(c *Compiler) (Matcher, error) {
	cm := *m
	cm.proto = packet.ProtoDstOpts
	if m.name == "hbh" {
		cm.proto = packet.ProtoHopOpts
	}
	return &cm, nil
}

// Match implements Matcher: hbh_mt6 (for dst and hbh) on the first
// header of its type. A header longer than the rest of the packet does
// not match (and drops it: Hotdrop); --X-opts walks the options from the third byte in the
// order given, each TYPE to equal the option's and, unless Pad1 or
// given without :LEN, its length byte to equal LEN, and stops quietly
// (matching) where the header or the packet runs out before the list
// does.
func (m *optsMatch) Match(c *Ctx) bool {
	h, ok, _ := c.Pkt.FindExt(m.proto, packet.ExtNeedOpts)
	if !ok {
		return false
	}
	hdrlen := (int(h[1]) + 1) * 8
	if len(h) < hdrlen {
		return false
	}
	ret := !m.len.set || (m.len.n == uint32(hdrlen)) != m.len.inv
	if !m.hasOpts {
		return ret
	}
	ptr, left, n := 2, hdrlen-2, len(m.opts)
	for i, o := range m.opts {
		if left < 1 || ptr >= len(h) {
			return false
		}
		typ := h[ptr]
		if typ != uint8(o>>8) {
			return false
		}
		optlen := 1
		if typ != 0 {
			if left < 2 || ptr+1 >= len(h) {
				return false
			}
			if l := o & 0xff; l != 0xff && uint8(l) != h[ptr+1] {
				return false
			}
			optlen = int(h[ptr+1]) + 2
		}
		if (ptr+optlen > len(h) || left < optlen) && i < n-1 {
			return false
		}
		ptr += optlen
		left -= optlen
	}
	return ret
}

// Hotdrop implements Hotdropper: a header that cannot be found for a
// broken chain, one cut short before its first two bytes, and (as
// hbh_mt6 does since the kernel's "hotdrop malformed extension headers"
// fix, which this machine's 6.18 has: kerneldiff's
// testdata/regress/ipv6-dst-truncated) one longer than the rest of the
// packet.
func (m *optsMatch) Hotdrop(c *Ctx) bool {
	h, ok, hd := c.Pkt.FindExt(m.proto, packet.ExtNeedOpts)
	return hd || ok && len(h) < (int(h[1])+1)*8
}
