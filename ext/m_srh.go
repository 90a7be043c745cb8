package ext

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/ipsift/ipsift/packet"
)

// The srh match (-m srh ...): the IPv6 Segment Routing Header, as
// libip6t_srh.c (revision 1) reads and prints it and the kernel's
// ip6t_srh.c tests it. ip6tables only.
//
// The -eq/-gt/-lt options of one field write the same number (XTOPT_PUT
// into one member), so "--srh-hdr-len-eq 8 --srh-hdr-len-gt 4" compares
// with 4 twice, as the kernel then sees it.

// srhNumOpts are the numeric options in the order they print, with the
// field each writes and its -L name.
var srhNumOpts = []struct {
	opt, print string
	field      int // 0 next-hdr, 1 hdr-len, 2 segs-left, 3 last-entry, 4 tag
	max        uint64
}{
	{"srh-next-hdr", "next-hdr", 0, 255},
	{"srh-hdr-len-eq", "hdr-len-eq", 1, 255}, {"srh-hdr-len-gt", "hdr-len-gt", 1, 255}, {"srh-hdr-len-lt", "hdr-len-lt", 1, 255},
	{"srh-segs-left-eq", "segs-left-eq", 2, 255}, {"srh-segs-left-gt", "segs-left-gt", 2, 255}, {"srh-segs-left-lt", "segs-left-lt", 2, 255},
	{"srh-last-entry-eq", "last-entry-eq", 3, 255}, {"srh-last-entry-gt", "last-entry-gt", 3, 255}, {"srh-last-entry-lt", "last-entry-lt", 3, 255},
	{"srh-tag", "tag", 4, 0xffff},
}

// srhSIDOpts are the segment options (XTTYPE_HOSTMASK).
var srhSIDOpts = []string{"srh-psid", "srh-nsid", "srh-lsid"}

type srhMatch struct {
	fields [5]uint16
	set    [11]bool // per srhNumOpts entry
	inv    [11]bool
	sid    [3]netip.Addr
	sidLen [3]int
	sidSet [3]bool
	sidInv [3]bool
	// sidMask is each segment's mask (set by Compile).
	sidMask [3][16]byte
}

func init() {
	var opts []Option
	for _, o := range srhNumOpts {
		opts = append(opts, Option{Name: o.opt, Arg: OneArg, Invert: true})
	}
	for _, o := range srhSIDOpts {
		opts = append(opts, Option{Name: o, Arg: OneArg, Invert: true})
	}
	RegisterMatch(&MatchType{
		Name:    "srh",
		Family:  IPv6,
		Options: opts,
		New:     func() Match { return &srhMatch{} },
	})
}

// Parse implements Parser.
func (m *srhMatch) Parse(opt, arg string, invert bool, more *Args) error {
	for i, o := range srhNumOpts {
		if o.opt == opt {
			v, ok := ParseUintFull(arg, 0, o.max)
			if !ok {
				return Errorf("bad value %q for --%s: write a number 0-%d", arg, opt, o.max)
			}
			m.fields[o.field] = uint16(v)
			m.set[i], m.inv[i] = true, invert
			return nil
		}
	}
	for i, o := range srhSIDOpts {
		if o == opt {
			addr, bits, err := parseHostMask6(opt, arg)
			if err != nil {
				return err
			}
			m.sid[i], m.sidLen[i], m.sidSet[i], m.sidInv[i] = addr, bits, true, invert
			return nil
		}
	}
	return Errorf("unknown option --%s", opt)
}

// Finish implements Parser.
func (m *srhMatch) Finish(r *RuleInfo) error { return nil }

// Save implements Parser.
func (m *srhMatch) Save(b *strings.Builder) {
	for i, o := range srhNumOpts {
		if m.set[i] {
			fmt.Fprintf(b, "%s --%s %d", saveBang(m.inv[i]), o.opt, m.fields[o.field])
		}
	}
	for i, o := range srhSIDOpts {
		if m.sidSet[i] {
			fmt.Fprintf(b, "%s --%s %s/%d", saveBang(m.sidInv[i]), o, FormatIP(m.sid[i]), m.sidLen[i])
		}
	}
}

// Print implements Parser: " srh next-hdr:!17 tag:0 psid ! a::/64".
func (m *srhMatch) Print(b *strings.Builder, numeric bool) {
	b.WriteString(" srh")
	for i, o := range srhNumOpts {
		if m.set[i] {
			b.WriteString(" " + o.print + ":" + bangNoSpace(m.inv[i]) + strconv.Itoa(int(m.fields[o.field])))
		}
	}
	for i, o := range srhSIDOpts {
		if m.sidSet[i] {
			fmt.Fprintf(b, " %s %s %s/%d", strings.TrimPrefix(o, "srh-"), bangNoSpace(m.sidInv[i]), FormatIP(m.sid[i]), m.sidLen[i])
		}
	}
}

// Compile implements Match.
func (m *srhMatch) Compile(c *Compiler) (Matcher, error) {
	cm := *m
	for i := range cm.sid {
		if cm.sidSet[i] {
			cm.sidMask[i] = PrefixMask6(cm.sidLen[i])
		}
	}
	return &cm, nil
}

// Match implements Matcher: srh_mt6 (revision 1). The first Routing
// header must be whole, of type 4, with segments left not beyond last
// entry; each given field test holds (or, with "!", fails); the
// previous, next and last segment, when given, must be in the header
// and equal the address under its mask (the address as written is
// compared with the masked segment). The match never drops a packet.
func (m *srhMatch) Match(c *Ctx) bool {
	h, ok, _ := c.Pkt.FindExt(packet.ProtoRouting, 8)
	if !ok {
		return false
	}
	hdrlen := (int(h[1]) + 1) * 8
	if len(h) < hdrlen || h[2] != 4 || h[3] > h[4] {
		return false
	}
	vals := [5]uint16{uint16(h[0]), uint16(h[1]), uint16(h[3]), uint16(h[4]), binary.BigEndian.Uint16(h[6:])}
	for i, o := range srhNumOpts {
		if !m.set[i] {
			continue
		}
		v, want := vals[o.field], m.fields[o.field]
		var ok bool
		switch {
		case strings.HasSuffix(o.opt, "-gt"):
			ok = v > want
		case strings.HasSuffix(o.opt, "-lt"):
			ok = v < want
		default:
			ok = v == want
		}
		if ok == m.inv[i] {
			return false
		}
	}
	segLeft, last := int(h[3]), int(h[4])
	for i := range m.sid {
		if !m.sidSet[i] {
			continue
		}
		var idx int
		switch i {
		case 0: // previous
			if segLeft == last {
				return false
			}
			idx = segLeft + 1
		case 1: // next
			if segLeft == 0 {
				return false
			}
			idx = segLeft - 1
		default:
			idx = last
		}
		off := 8 + 16*idx
		if off+16 > len(h) {
			return false
		}
		var a [16]byte
		for k := range a {
			a[k] = h[off+k] & m.sidMask[i][k]
		}
		if (a == m.sid[i].As16()) == m.sidInv[i] {
			return false
		}
	}
	return true
}
