package ext

import (
	"encoding/binary"
	"strings"

	"github.com/ipsift/ipsift/packet"
)

// The frag match (-m frag --fragid N[:M] --fraglen N --fragres
// --fragfirst --fragmore --fraglast): the IPv6 Fragment header, as
// libip6t_frag.c reads and prints it and the kernel's ip6t_frag.c tests
// it. ip6tables only (IPv4 has -f). --fraglen is accepted and printed,
// but the kernel has never tested it.

type fragMatch struct {
	id                     spiRange
	len                    hdrLenOpt
	res, first, more, last bool
}

func init() {
	RegisterMatch(&MatchType{
		Name:   "frag",
		Family: IPv6,
		Options: []Option{
			{Name: "fragid", Arg: OneArg, Invert: true},
			{Name: "fraglen", Arg: OneArg, Invert: true},
			{Name: "fragres", Arg: NoArg},
			{Name: "fragfirst", Arg: NoArg},
			{Name: "fragmore", Arg: NoArg, Excludes: []string{"fraglast"}},
			{Name: "fraglast", Arg: NoArg, Excludes: []string{"fragmore"}},
		},
		New: func() Match { return &fragMatch{id: spiRange{hi: 0xffffffff}} },
	})
}

// Parse implements Parser.
func (m *fragMatch) Parse(opt, arg string, invert bool, more *Args) error {
	switch opt {
	case "fragid":
		return m.id.parse(arg, invert)
	case "fraglen":
		return m.len.parse(arg, invert)
	case "fragres":
		m.res = true
	case "fragfirst":
		m.first = true
	case "fragmore":
		m.more = true
	case "fraglast":
		m.last = true
	default:
		return Errorf("unknown option --%s", opt)
	}
	return nil
}

// Finish implements Parser.
func (m *fragMatch) Finish(r *RuleInfo) error { return nil }

// Save implements Parser.
func (m *fragMatch) Save(b *strings.Builder) {
	m.id.saveFull(b, "fragid")
	m.len.save(b, "fraglen")
	for _, f := range []struct {
		on   bool
		name string
	}{{m.res, "fragres"}, {m.first, "fragfirst"}, {m.more, "fragmore"}, {m.last, "fraglast"}} {
		if f.on {
			b.WriteString(" --" + f.name)
		}
	}
}

// Print implements Parser: " frag id:5 length:8 first more".
func (m *fragMatch) Print(b *strings.Builder, numeric bool) {
	b.WriteString(" frag ")
	m.id.printAs(b, "id")
	m.len.print(b)
	for _, f := range []struct {
		on   bool
		name string
	}{{m.res, "reserved"}, {m.first, "first"}, {m.more, "more"}, {m.last, "last"}} {
		if f.on {
			b.WriteString(" " + f.name)
		}
	}
}

// Compile implements Match.
func (m *fragMatch) Compile(c *Compiler) (Matcher, error) {
	cm := *m
	return &cm, nil
}

// Match implements Matcher: frag_mt6 on the first Fragment header
// (FindExt; a later fragment's own header is found too). --fraglen is
// not tested, as by the kernel.
func (m *fragMatch) Match(c *Ctx) bool {
	h, ok, _ := c.Pkt.FindExt(packet.ProtoFragment, packet.ExtNeedFrag)
	if !ok {
		return false
	}
	fo := binary.BigEndian.Uint16(h[2:])
	return m.id.test(binary.BigEndian.Uint32(h[4:])) &&
		!(m.res && (h[1] != 0 || fo&6 != 0)) &&
		!(m.first && fo&^7 != 0) &&
		!(m.more && fo&1 == 0) &&
		!(m.last && fo&1 != 0)
}

// Hotdrop implements Hotdropper: a header cut short before or at the
// Fragment header drops the packet.
func (m *fragMatch) Hotdrop(c *Ctx) bool {
	_, _, hd := c.Pkt.FindExt(packet.ProtoFragment, packet.ExtNeedFrag)
	return hd
}
