package ext

import (
	"fmt"

	"github.com/ipsift/ipsift/ipset"
	"strconv"
	"strings"
)

// The set match (-m set, libxt_set revision 4 and the kernel's xt_set)
// tests whether the packet's addresses and ports are in an ipset: the
// set is found by name when the rule is compiled (a missing set, or one
// of the other family, refuses the rule as the kernel does) and looked
// up per packet in package ipset.

// ipset limits and flags.
const (
	ipsetDimMax     = 6
	ipsetMaxNameLen = 32

	ipsetInvMatch           = 1 << 0
	ipsetFlagReturnNomatch  = 1 << 7
	ipsetFlagSkipCounter    = 1 << 8
	ipsetFlagSkipSubcounter = 1 << 9
	ipsetCounterNone        = 0
	ipsetCounterEq          = 1
	ipsetCounterNe          = 2
	ipsetCounterLt          = 3
	ipsetCounterGt          = 4
)

func init() {
	opts := []Option{{Name: "match-set", Arg: OneArg}, {Name: "set", Arg: OneArg}}
	for _, n := range []string{"return-nomatch", "update-counters", "update-subcounters"} {
		opts = append(opts, Option{Name: n})
	}
	for _, n := range []string{"packets-eq", "packets-lt", "packets-gt", "bytes-eq", "bytes-lt", "bytes-gt"} {
		opts = append(opts, Option{Name: n, Arg: OneArg})
	}
	// libxt_set parses the old way: "!" is allowed everywhere by the
	// core and refused by the extension where it makes no sense, and
	// repeats are the extension's business.
	for i := range opts {
		opts[i].Invert, opts[i].Multi = true, true
	}
	RegisterMatch(&MatchType{
		Name:    "set",
		Family:  AnyFamily,
		Options: opts,
		New:     func() Match { return &setMatch{} },
	})
}

// parseSetDirs reads "src,dst,...": the number of dimensions and a bit
// (1-based) per source dimension, as libxt_set's parse_dirs.
func parseSetDirs(dirs string) (dim int, flags uint32, err error) {
	parts := strings.Split(dirs, ",")
	if len(parts) > ipsetDimMax {
		return 0, 0, fmt.Errorf("can't be more src/dst options than %d", ipsetDimMax)
	}
	for _, p := range parts {
		dim++
		switch {
		case strings.HasPrefix(p, "src"):
			flags |= 1 << dim
		case strings.HasPrefix(p, "dst"):
		default:
			return 0, 0, fmt.Errorf("you must specify (the comma separated list of) 'src' or 'dst', not %q", dirs)
		}
	}
	return dim, flags, nil
}

// setDirsString prints direction flags as libxt_set does.
func setDirsString(dim int, flags uint32) string {
	var b strings.Builder
	for i := 1; i <= dim; i++ {
		if i > 1 {
			b.WriteByte(',')
		}
		if flags&(1<<i) != 0 {
			b.WriteString("src")
		} else {
			b.WriteString("dst")
		}
	}
	return b.String()
}

// setCounter is struct ip_set_counter_match.
type setCounter struct {
	op    uint8
	value uint64
}

// setMatch is one -m set in a rule (struct xt_set_info_match_v4).
type setMatch struct {
	name     string
	dim      int
	dirFlags uint32 // bit i set: dimension i is src
	invert   bool
	flags    uint32
	packets  setCounter
	bytes    setCounter
}

// Parse implements Parser.
func (m *setMatch) Parse(opt, arg string, invert bool, more *Args) error {
	counter := func(c *setCounter, what, op string) error {
		if c.op != ipsetCounterNone {
			return fmt.Errorf("only one of the --%s-[eq|lt|gt] is allowed", what)
		}
		v, ok := StrtoulFull(arg, 0, 0, 0)
		if !ok {
			return fmt.Errorf("cannot parse %q as a counter value", arg)
		}
		switch {
		case op == "eq" && invert:
			c.op = ipsetCounterNe
		case op == "eq":
			c.op = ipsetCounterEq
		case invert:
			return fmt.Errorf("--%s-%s option cannot be inverted", what, op)
		case op == "lt":
			c.op = ipsetCounterLt
		default:
			c.op = ipsetCounterGt
		}
		c.value = v
		return nil
	}
	switch opt {
	case "match-set", "set":
		if m.dim != 0 {
			return fmt.Errorf("--match-set can be specified only once")
		}
		m.invert = invert
		if more == nil || more.Next >= len(more.Words) || strings.HasPrefix(more.Words[more.Next], "-") || strings.HasPrefix(more.Words[more.Next], "!") {
			return fmt.Errorf("--match-set requires two args: the set name and the directions, e.g. --match-set blocklist src")
		}
		dirs := more.Words[more.Next]
		more.Next++
		if len(arg) > ipsetMaxNameLen-1 {
			return fmt.Errorf("setname %q too long, max %d characters", arg, ipsetMaxNameLen-1)
		}
		m.name = arg
		var err error
		if m.dim, m.dirFlags, err = parseSetDirs(dirs); err != nil {
			return err
		}
	case "return-nomatch":
		if invert {
			return fmt.Errorf("--return-nomatch flag cannot be inverted")
		}
		m.flags |= ipsetFlagReturnNomatch
	case "update-counters":
		if invert {
			m.flags |= ipsetFlagSkipCounter
		}
	case "update-subcounters":
		if invert {
			m.flags |= ipsetFlagSkipSubcounter
		}
	case "packets-eq", "packets-lt", "packets-gt":
		return counter(&m.packets, "packets", opt[len(opt)-2:])
	case "bytes-eq", "bytes-lt", "bytes-gt":
		return counter(&m.bytes, "bytes", opt[len(opt)-2:])
	default:
		return fmt.Errorf("unknown option --%s", opt)
	}
	return nil
}

// Finish implements Parser.
func (m *setMatch) Finish(*RuleInfo) error {
	if m.dim == 0 {
		return fmt.Errorf("you must specify --match-set with proper arguments")
	}
	return nil
}

// SetNames implements SetUser.
func (m *setMatch) SetNames() []string { return []string{m.name} }

func (m *setMatch) dump(b *strings.Builder, opt, sep string) {
	if m.invert {
		b.WriteString(" !")
	}
	b.WriteString(" " + opt + " " + m.name)
	for i := 1; i <= m.dim; i++ {
		if i == 1 {
			b.WriteByte(' ')
		} else {
			b.WriteByte(',')
		}
		if m.dirFlags&(1<<i) != 0 {
			b.WriteString("src")
		} else {
			b.WriteString("dst")
		}
	}
	if m.flags&ipsetFlagReturnNomatch != 0 {
		b.WriteString(" " + sep + "return-nomatch")
	}
	if m.flags&ipsetFlagSkipCounter != 0 {
		b.WriteString(" ! " + sep + "update-counters")
	}
	if m.flags&ipsetFlagSkipSubcounter != 0 {
		b.WriteString(" ! " + sep + "update-subcounters")
	}
	for _, c := range []struct {
		c    setCounter
		name string
	}{{m.packets, "packets"}, {m.bytes, "bytes"}} {
		v := strconv.FormatUint(c.c.value, 10)
		switch c.c.op {
		case ipsetCounterEq:
			b.WriteString(" " + sep + c.name + "-eq " + v)
		case ipsetCounterNe:
			b.WriteString(" ! " + sep + c.name + "-eq " + v)
		case ipsetCounterLt:
			b.WriteString(" " + sep + c.name + "-lt " + v)
		case ipsetCounterGt:
			b.WriteString(" " + sep + c.name + "-gt " + v)
		}
	}
}

// Save implements Parser.
func (m *setMatch) Save(b *strings.Builder) { m.dump(b, "--match-set", "--") }

// Print implements Parser.
func (m *setMatch) Print(b *strings.Builder, _ bool) { m.dump(b, "match-set", "") }

// Compile implements Match.
func (m *setMatch) Compile(c *Compiler) (Matcher, error) {
	s, err := resolveSet(c, m.name)
	if err != nil {
		return nil, err
	}
	cm := &setMatcher{m: *m, set: s}
	cm.opts.SkipCounterUpdate = m.flags&ipsetFlagSkipCounter != 0
	cm.opts.SkipSubcounters = m.flags&ipsetFlagSkipSubcounter != 0
	cm.opts.PacketsOp, cm.opts.Packets = m.packets.op, m.packets.value
	cm.opts.BytesOp, cm.opts.Bytes = m.bytes.op, m.bytes.value
	return cm, nil
}

// resolveSet finds a rule's set as xt_set's checkentry does.
func resolveSet(c *Compiler, name string) (*ipset.Set, error) {
	var s *ipset.Set
	if c.Sets != nil {
		s = c.Sets.Get(name)
	}
	if s == nil {
		return nil, missingSetError(name)
	}
	if f := s.Family(); f != ipset.FamilyNone && f != setFamily(c.Family) {
		return nil, fmt.Errorf("set %s is of family %s, the rule of family %s", name, f, setFamily(c.Family))
	}
	return s, nil
}

// missingSetError is the kernel's message for a rule naming a set that
// does not exist, word for word.
type missingSetError string

func (e missingSetError) Error() string { return "Set " + string(e) + " doesn't exist." }

func setFamily(f Family) ipset.Family {
	if f == IPv6 {
		return ipset.Inet6
	}
	return ipset.Inet
}

// setMatcher is a compiled -m set.
type setMatcher struct {
	m    setMatch
	set  *ipset.Set
	opts ipset.PacketOpts
}

// packetInfo is what package ipset reads from a packet.
func packetInfo(c *Ctx, fam Family) ipset.PacketInfo {
	p := c.Pkt
	pi := ipset.PacketInfo{Family: setFamily(fam), Src: p.Src, Dst: p.Dst, Proto: p.Proto,
		SrcMAC: c.SrcMAC, HasMAC: c.HasMAC, Mark: c.Mark, Len: uint64(p.TotalLen)}
	if c.In != nil {
		pi.InIface = c.In.Name
	}
	if c.Out != nil {
		pi.OutIface = c.Out.Name
	}
	switch {
	case p.FragOff != 0 || !p.L4Fixed:
		// no transport header: the *,port types do not match
	case p.Proto == 1 || p.Proto == 58:
		pi.SrcPort = uint16(p.ICMPType)<<8 | uint16(p.ICMPCode)
		pi.DstPort, pi.HasPorts = pi.SrcPort, true
	default:
		// TCP and UDP ports, and 0 for protocols without (looked up as
		// proto:0); SCTP and UDP-Lite ports are the first four bytes
		pi.SrcPort, pi.DstPort, pi.HasPorts = p.SrcPort, p.DstPort, true
		if (p.Proto == 132 || p.Proto == 136) && len(p.L4) >= 4 {
			pi.SrcPort = uint16(p.L4[0])<<8 | uint16(p.L4[1])
			pi.DstPort = uint16(p.L4[2])<<8 | uint16(p.L4[3])
		}
	}
	return pi
}

// hit looks the packet up and applies --return-nomatch.
func (sm *setMatcher) hit(c *Ctx) (ipset.Hit, bool) {
	pi := packetInfo(c, familyOf(c))
	h := sm.set.MatchPacket(&pi, sm.m.dirFlags, sm.m.dim, c.Now, &sm.opts)
	ok := h.Result == ipset.Matched
	if sm.m.flags&ipsetFlagReturnNomatch != 0 && sm.set.HasNomatch() {
		ok = h.Result == ipset.Nomatch
	}
	return h, ok
}

func familyOf(c *Ctx) Family {
	if c.Pkt.Version == 6 {
		return IPv6
	}
	return IPv4
}

// Match implements Matcher.
func (sm *setMatcher) Match(c *Ctx) bool {
	_, ok := sm.hit(c)
	return ok != sm.m.invert
}

// Explain implements Explainer: which set, which element decided.
func (sm *setMatcher) Explain(c *Ctx, matched bool) string {
	pi := packetInfo(c, familyOf(c))
	var b strings.Builder
	b.WriteString("set " + sm.m.name + ": ")
	key := sm.set.KeyString(&pi, sm.m.dirFlags)
	opts := sm.opts
	opts.SkipCounterUpdate, opts.SkipSubcounters = true, true
	h := sm.set.MatchPacket(&pi, sm.m.dirFlags, sm.m.dim, c.Now, &opts)
	set := sm.set
	if h.Member != nil {
		set = h.Member
		b.WriteString("member " + set.Name() + ": ")
	}
	switch {
	case sm.m.dim < sm.set.Dims():
		fmt.Fprintf(&b, "%d direction flags for a set of %d dimensions never match", sm.m.dim, sm.set.Dims())
	case h.Result == ipset.Matched:
		b.WriteString("element " + set.ElemString(h.Key) + " matches")
	case h.Result == ipset.Nomatch:
		b.WriteString("element " + set.ElemString(h.Key) + " is nomatch")
	case key == "" && sm.set.TypeName() != "list:set":
		b.WriteString("the packet has no " + sm.set.TypeName()[strings.IndexByte(sm.set.TypeName(), ':')+1:] + " to look up (no ports, MAC or interface)")
	case key == "":
		b.WriteString("no member set holds the packet")
	default:
		b.WriteString("no element for " + key)
	}
	if m := sm.m.flags&ipsetFlagReturnNomatch != 0; m {
		b.WriteString(" (--return-nomatch)")
	}
	if sm.m.invert {
		b.WriteString(" (negated)")
	}
	return b.String()
}

// SetUser is implemented by the extensions that name ipsets (-m set,
// -j SET), so that a loader can check the names against the sets and
// count the references.
type SetUser interface {
	SetNames() []string
}
