package ext

import (
	"strconv"
	"strings"

	"github.com/ipsift/ipsift/packet"
)

// The mh match (-p mh -m mh --mh-type TYPE[:TYPE]): the Mobility Header
// type, as libip6t_mh.c reads and prints it and the kernel's ip6t_mh.c
// tests it (its xt_match.proto is IPPROTO_MH: -p mh is required).
// ip6tables only.

var mhNames = []struct {
	name string
	typ  uint8
}{
	{"binding-refresh-request", 0}, {"brr", 0}, {"home-test-init", 1}, {"hoti", 1},
	{"careof-test-init", 2}, {"coti", 2}, {"home-test", 3}, {"hot", 3},
	{"careof-test", 4}, {"cot", 4}, {"binding-update", 5}, {"bu", 5},
	{"binding-acknowledgement", 6}, {"ba", 6}, {"binding-error", 7}, {"be", 7},
}

type mhMatch struct {
	lo, hi uint8
	inv    bool
}

func init() {
	RegisterMatch(&MatchType{
		Name:     "mh",
		Family:   IPv6,
		Proto:    135,
		Implicit: true,
		Options:  []Option{{Name: "mh-type", Arg: OneArg, Invert: true}},
		New:      func() Match { return &mhMatch{hi: 0xff} },
	})
}

// mhType is name_to_type: a case-insensitive prefix of a name (an exact
// length match wins, else the last name it prefixes), else a number 0-255.
func mhType(s string) (uint8, error) {
	match := -1
	for i, n := range mhNames {
		if len(s) <= len(n.name) && strings.EqualFold(n.name[:len(s)], s) {
			if match < 0 || len(n.name) == len(s) {
				match = i
			}
		}
	}
	if match >= 0 {
		return mhNames[match].typ, nil
	}
	v, ok := ParseUintFull(s, 0, 255)
	if !ok {
		return 0, Errorf("invalid MH type %q: write a number 0-255 or a name such as binding-update (bu)", s)
	}
	return uint8(v), nil
}

// Parse implements Parser.
func (m *mhMatch) Parse(opt, arg string, invert bool, more *Args) error {
	if opt != "mh-type" {
		return Errorf("unknown option --%s", opt)
	}
	lo, hi, rng := strings.Cut(arg, ":")
	a, err := mhType(lo)
	if rng && lo == "" {
		a, err = 0, nil
	}
	if err != nil {
		return err
	}
	b := a
	if rng {
		b = 0xff
		if hi != "" {
			if b, err = mhType(hi); err != nil {
				return err
			}
		}
		if a > b {
			return Errorf("invalid MH type range (min > max) in %q", arg)
		}
	}
	m.lo, m.hi, m.inv = a, b, invert
	return nil
}

// Finish implements Parser.
func (m *mhMatch) Finish(r *RuleInfo) error { return nil }

func (m *mhMatch) full() bool { return m.lo == 0 && m.hi == 0xff && !m.inv }

// Save implements Parser.
func (m *mhMatch) Save(b *strings.Builder) {
	if m.full() {
		return
	}
	b.WriteString(saveBang(m.inv) + " --mh-type " + strconv.Itoa(int(m.lo)))
	if m.lo != m.hi {
		b.WriteString(":" + strconv.Itoa(int(m.hi)))
	}
}

func mhTypeName(t uint8, numeric bool) string {
	if !numeric {
		for _, n := range mhNames {
			if n.typ == t {
				return n.name
			}
		}
	}
	return strconv.Itoa(int(t))
}

// Print implements Parser: " mh binding-update" or " mh !0:bu"-style
// ranges with names unless -n.
func (m *mhMatch) Print(b *strings.Builder, numeric bool) {
	b.WriteString(" mh")
	if m.full() {
		return
	}
	b.WriteString(" " + bangNoSpace(m.inv) + mhTypeName(m.lo, numeric))
	if m.lo != m.hi {
		b.WriteString(":" + mhTypeName(m.hi, numeric))
	}
}

// Compile implements Match.
func (m *mhMatch) Compile(c *Compiler) (Matcher, error) {
	cm := *m
	return &cm, nil
}

// mhHead reads the 6-byte Mobility Header (struct ip6_mh) at the
// upper-layer offset; ok is false when it is cut short.
func mhHead(p *packet.Packet) (h []byte, ok bool) {
	if p.HdrLen+6 > len(p.Data) || p.HdrLen+6 > p.TotalLen {
		return nil, false
	}
	return p.Data[p.HdrLen:], true
}

// Match implements Matcher: mh_mt6. A later fragment never matches; a
// header cut short, or whose payload protocol is not No Next Header
// (59), drops the packet.
func (m *mhMatch) Match(c *Ctx) bool {
	p := c.Pkt
	if p.FragOff != 0 {
		return false
	}
	h, ok := mhHead(p)
	if !ok || h[0] != packet.ProtoNoNext {
		return false
	}
	return (h[2] >= m.lo && h[2] <= m.hi) != m.inv
}

// Hotdrop implements Hotdropper.
func (m *mhMatch) Hotdrop(c *Ctx) bool {
	p := c.Pkt
	if p.FragOff != 0 {
		return false
	}
	h, ok := mhHead(p)
	return !ok || h[0] != packet.ProtoNoNext
}
