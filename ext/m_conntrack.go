package ext

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/ipsift/ipsift/classify"
)

// The conntrack match (-m conntrack, libxt_conntrack revision 3 and the
// kernel's xt_conntrack) tests a packet's connection-tracking state, the
// connection's tuples, status bits, remaining lifetime and the packet's
// direction. The state match (m_state.go) is the same kernel match with
// only --state.

// xt_conntrack's match and invert flag bits.
const (
	ctfState       = 1 << 0
	ctfProto       = 1 << 1
	ctfOrigSrc     = 1 << 2
	ctfOrigDst     = 1 << 3
	ctfReplSrc     = 1 << 4
	ctfReplDst     = 1 << 5
	ctfStatus      = 1 << 6
	ctfExpires     = 1 << 7
	ctfOrigSrcPort = 1 << 8
	ctfOrigDstPort = 1 << 9
	ctfReplSrcPort = 1 << 10
	ctfReplDstPort = 1 << 11
	ctfDirection   = 1 << 12
	ctfStateAlias  = 1 << 13
)

func init() {
	RegisterMatch(&MatchType{
		// The kernel runs connection tracking for rules using it.
		Conntrack: true,
		Name:      "conntrack",
		Family:    AnyFamily,
		Options: []Option{
			{Name: "ctstate", Arg: OneArg, Invert: true},
			{Name: "ctproto", Arg: OneArg, Invert: true},
			{Name: "ctorigsrc", Arg: OneArg, Invert: true},
			{Name: "ctorigdst", Arg: OneArg, Invert: true},
			{Name: "ctreplsrc", Arg: OneArg, Invert: true},
			{Name: "ctrepldst", Arg: OneArg, Invert: true},
			{Name: "ctstatus", Arg: OneArg, Invert: true},
			{Name: "ctexpire", Arg: OneArg, Invert: true},
			{Name: "ctorigsrcport", Arg: OneArg, Invert: true},
			{Name: "ctorigdstport", Arg: OneArg, Invert: true},
			{Name: "ctreplsrcport", Arg: OneArg, Invert: true},
			{Name: "ctrepldstport", Arg: OneArg, Invert: true},
			{Name: "ctdir", Arg: OneArg},
		},
		New: func() Match { return &conntrackMatch{} },
	})
}

// ctAddr is one of the address options: the address as written and its
// mask (xtables keeps the address unmasked; the kernel masks both sides).
type ctAddr struct{ addr, mask netip.Addr }

// conntrackMatch is one -m conntrack (or -m state) in a rule, laid out as
// struct xt_conntrack_mtinfo3.
type conntrackMatch struct {
	flags, invert uint16
	stateMask     CTState
	statusMask    uint32
	proto         uint8
	addrs         [4]ctAddr // origsrc, origdst, replsrc, repldst
	ports         [4][2]uint16
	expMin        uint32
	expMax        uint32
}

// ctStateNames are the --ctstate words in the order parse_state tries
// them as prefixes.
var ctStateNames = []struct {
	name string
	bit  CTState
}{
	{"INVALID", CTInvalid}, {"NEW", CTNew}, {"ESTABLISHED", CTEstablished},
	{"RELATED", CTRelated}, {"UNTRACKED", CTUntracked}, {"SNAT", CTSNAT}, {"DNAT", CTDNAT},
}

// parseCTStates reads "NEW,ESTABLISHED" as libxt_conntrack does: each word
// case-insensitively, any prefix of a state name (the first one in
// ctStateNames order wins), no empty words. state is true for -m state,
// which knows no SNAT and DNAT.
func parseCTStates(arg string, state bool) (CTState, error) {
	var mask CTState
	what := "ctstate"
	if state {
		what = "state"
	}
	words := strings.Split(arg, ",")
	for i, w := range words {
		if w == "" {
			if i == len(words)-1 && i > 0 {
				return 0, fmt.Errorf("bad %s %q: a trailing comma; write states with no spaces, e.g. ESTABLISHED,RELATED", what, arg)
			}
			return 0, fmt.Errorf("bad %s %q: empty state; write e.g. ESTABLISHED,RELATED", what, arg)
		}
		found := false
		for _, s := range ctStateNames {
			if state && (s.bit == CTSNAT || s.bit == CTDNAT) {
				continue
			}
			if len(w) <= len(s.name) && strings.EqualFold(w, s.name[:len(w)]) {
				mask |= s.bit
				found = true
				break
			}
		}
		if !found {
			names := "INVALID, NEW, ESTABLISHED, RELATED, UNTRACKED, SNAT, DNAT"
			if state {
				names = "INVALID, NEW, ESTABLISHED, RELATED, UNTRACKED"
			}
			return 0, fmt.Errorf("bad %s %q: %q is not one of %s", what, arg, w, names)
		}
	}
	return mask, nil
}

// ctStatusNames are the --ctstatus words in parse order.
var ctStatusNames = []struct {
	name string
	bit  uint32
}{
	{"NONE", 0}, {"EXPECTED", IPSExpected}, {"SEEN_REPLY", IPSSeenReply},
	{"ASSURED", IPSAssured}, {"CONFIRMED", IPSConfirmed},
}

func parseCTStatus(arg string) (uint32, error) {
	var mask uint32
	for _, w := range strings.Split(arg, ",") {
		found := false
		for _, s := range ctStatusNames {
			if w != "" && len(w) <= len(s.name) && strings.EqualFold(w, s.name[:len(w)]) {
				mask |= s.bit
				found = true
				break
			}
		}
		if !found {
			return 0, fmt.Errorf("bad ctstatus %q: %q is not one of NONE, EXPECTED, SEEN_REPLY, ASSURED, CONFIRMED", arg, w)
		}
	}
	return mask, nil
}

// parseUint32Range reads XTTYPE_UINT32RC: "N" or "LO:HI", either side may
// be empty (0 and 4294967295), the second never below the first.
func parseUint32Range(arg string) (lo, hi uint32, err error) {
	const max = 1<<32 - 1
	a, b, isRange := strings.Cut(arg, ":")
	if strings.Contains(b, ":") {
		return 0, 0, fmt.Errorf("too many components in %q (write N or LO:HI)", arg)
	}
	var l, h uint64 = 0, max
	if a != "" {
		v, ok := StrtoulFull(a, 0, 0, max)
		if !ok {
			return 0, 0, fmt.Errorf("bad value %q: a number 0-%d is needed", a, uint64(max))
		}
		l = v
	}
	if !isRange {
		return uint32(l), uint32(l), nil
	}
	if b != "" {
		v, ok := StrtoulFull(b, 0, l, max)
		if !ok {
			return 0, 0, fmt.Errorf("bad value %q: a number %d-%d is needed (the range may not run backwards)", b, l, uint64(max))
		}
		h = v
	}
	return uint32(l), uint32(h), nil
}

// parsePortRangeRC reads XTTYPE_PORTRC: "PORT", "LO:HI", ":HI", "LO:" or
// ":"; service names are allowed; a range may not run backwards.
func parsePortRangeRC(arg string) (lo, hi uint16, err error) {
	if strings.Count(arg, ":") > 1 {
		return 0, 0, fmt.Errorf("too many components in %q (write PORT or LO:HI)", arg)
	}
	return ParsePortRange(arg)
}

// Parse implements Parser.
func (m *conntrackMatch) Parse(opt, arg string, invert bool, _ *Args) error {
	var bit uint16
	switch opt {
	case "ctstate":
		s, err := parseCTStates(arg, false)
		if err != nil {
			return err
		}
		m.stateMask, bit = s, ctfState
	case "ctproto":
		p, err := ParseProto(arg)
		if err != nil {
			return err
		}
		if p == 0 {
			if invert {
				return fmt.Errorf("condition would always match protocol (every connection has a protocol)")
			}
			return fmt.Errorf("rule would never match protocol: name a protocol other than all/0")
		}
		m.proto, bit = p, ctfProto
	case "ctorigsrc", "ctorigdst", "ctreplsrc", "ctrepldst":
		a, mk, err := ParseHostMask(arg)
		if err != nil {
			return err
		}
		i := map[string]int{"ctorigsrc": 0, "ctorigdst": 1, "ctreplsrc": 2, "ctrepldst": 3}[opt]
		m.addrs[i] = ctAddr{a, mk}
		bit = ctfOrigSrc << i
	case "ctstatus":
		s, err := parseCTStatus(arg)
		if err != nil {
			return err
		}
		m.statusMask, bit = s, ctfStatus
	case "ctexpire":
		lo, hi, err := parseUint32Range(arg)
		if err != nil {
			return err
		}
		m.expMin, m.expMax, bit = lo, hi, ctfExpires
	case "ctorigsrcport", "ctorigdstport", "ctreplsrcport", "ctrepldstport":
		lo, hi, err := parsePortRangeRC(arg)
		if err != nil {
			return err
		}
		i := map[string]int{"ctorigsrcport": 0, "ctorigdstport": 1, "ctreplsrcport": 2, "ctrepldstport": 3}[opt]
		m.ports[i] = [2]uint16{lo, hi}
		bit = ctfOrigSrcPort << i
	case "ctdir":
		switch {
		case strings.EqualFold(arg, "ORIGINAL"):
			m.invert &^= ctfDirection
		case strings.EqualFold(arg, "REPLY"):
			m.invert |= ctfDirection
		default:
			return fmt.Errorf("bad value %q: write ORIGINAL or REPLY", arg)
		}
		m.flags |= ctfDirection
		return nil
	default:
		return fmt.Errorf("unknown option --%s", opt)
	}
	m.flags |= bit
	if invert {
		m.invert |= bit
	}
	return nil
}

// Finish implements Parser.
func (m *conntrackMatch) Finish(r *RuleInfo) error {
	if m.flags == 0 {
		return fmt.Errorf("at least one option is required (e.g. --ctstate ESTABLISHED,RELATED)")
	}
	for i, a := range m.addrs {
		if m.flags&(ctfOrigSrc<<i) != 0 && r.Family != 0 && AddrFamily(a.addr)&r.Family == 0 {
			return fmt.Errorf("--%s %s: not an %s address", ctAddrOpts[i], a.addr, ctFamWord(r.Family))
		}
	}
	return nil
}

func ctFamWord(f Family) string {
	if f == IPv6 {
		return "IPv6"
	}
	return "IPv4"
}

var ctAddrOpts = [4]string{"ctorigsrc", "ctorigdst", "ctreplsrc", "ctrepldst"}
var ctPortOpts = [4]string{"ctorigsrcport", "ctorigdstport", "ctreplsrcport", "ctrepldstport"}

// writeCTStates appends the state names as print_state does: a space,
// then the names in its fixed order, comma-separated.
func writeCTStates(b *strings.Builder, mask CTState) {
	sep := " "
	for _, s := range []struct {
		bit  CTState
		name string
	}{{CTInvalid, "INVALID"}, {CTNew, "NEW"}, {CTRelated, "RELATED"}, {CTEstablished, "ESTABLISHED"},
		{CTUntracked, "UNTRACKED"}, {CTSNAT, "SNAT"}, {CTDNAT, "DNAT"}} {
		if mask&s.bit != 0 {
			b.WriteString(sep + s.name)
			sep = ","
		}
	}
}

func writeCTStatus(b *strings.Builder, mask uint32) {
	sep := " "
	for _, s := range ctStatusNames[1:] {
		if mask&s.bit != 0 {
			b.WriteString(sep + s.name)
			sep = ","
		}
	}
	if mask == 0 {
		b.WriteString(sep + "NONE")
	}
}

// dump is conntrack_dump: the same text for save ("--" prefix, numeric)
// and print.
func (m *conntrackMatch) dump(b *strings.Builder, prefix string, numeric bool) {
	inv := func(bit uint16) {
		if m.invert&bit != 0 {
			b.WriteString(" !")
		}
	}
	if m.flags&ctfState != 0 {
		inv(ctfState)
		if m.flags&ctfStateAlias != 0 {
			b.WriteString(" " + prefix + "state")
		} else {
			b.WriteString(" " + prefix + "ctstate")
		}
		writeCTStates(b, m.stateMask)
	}
	if m.flags&ctfProto != 0 {
		inv(ctfProto)
		b.WriteString(" " + prefix + "ctproto " + strconv.Itoa(int(m.proto)))
	}
	for i, a := range m.addrs {
		bit := uint16(ctfOrigSrc << i)
		if m.flags&bit == 0 {
			continue
		}
		inv(bit)
		b.WriteString(" " + prefix + ctAddrOpts[i])
		if !numeric && a.addr.IsUnspecified() {
			b.WriteString(" anywhere")
		} else {
			b.WriteString(" " + FormatHostMask(a.addr, a.mask))
		}
	}
	for i, p := range m.ports {
		bit := uint16(ctfOrigSrcPort << i)
		if m.flags&bit == 0 {
			continue
		}
		inv(bit)
		b.WriteString(" " + prefix + ctPortOpts[i] + " ")
		if p[1] == 0 || p[0] == p[1] {
			b.WriteString(strconv.Itoa(int(p[0])))
		} else {
			b.WriteString(strconv.Itoa(int(p[0])) + ":" + strconv.Itoa(int(p[1])))
		}
	}
	if m.flags&ctfStatus != 0 {
		inv(ctfStatus)
		b.WriteString(" " + prefix + "ctstatus")
		writeCTStatus(b, m.statusMask)
	}
	if m.flags&ctfExpires != 0 {
		inv(ctfExpires)
		b.WriteString(" " + prefix + "ctexpire ")
		if m.expMin == m.expMax {
			b.WriteString(strconv.FormatUint(uint64(m.expMin), 10))
		} else {
			b.WriteString(strconv.FormatUint(uint64(m.expMin), 10) + ":" + strconv.FormatUint(uint64(m.expMax), 10))
		}
	}
	if m.flags&ctfDirection != 0 {
		if m.invert&ctfDirection != 0 {
			b.WriteString(" " + prefix + "ctdir REPLY")
		} else {
			b.WriteString(" " + prefix + "ctdir ORIGINAL")
		}
	}
}

// Save implements Parser.
func (m *conntrackMatch) Save(b *strings.Builder) { m.dump(b, "--", true) }

// Print implements Parser.
func (m *conntrackMatch) Print(b *strings.Builder, numeric bool) { m.dump(b, "", numeric) }

// Compile implements Match.
func (m *conntrackMatch) Compile(c *Compiler) (Matcher, error) {
	cm := &ctMatcher{m: *m, hz: c.HZ}
	for i, a := range m.addrs {
		cm.addr[i], cm.mask[i] = ToAddr16(a.addr), ToAddr16(a.mask)
	}
	return cm, nil
}

// ctMatcher is the compiled conntrack match: xt_conntrack's conntrack_mt
// for revision 3.
type ctMatcher struct {
	m          conntrackMatch
	addr, mask [4]Addr16
	hz         int
}

// ctPacketState is the state bit the kernel computes for a packet:
// INVALID when the engine gave none.
func ctPacketState(c *Ctx) CTState {
	s := c.CT &^ (CTSNAT | CTDNAT)
	if s == 0 {
		// No conntrack information at all: nf_ct_get returns no
		// entry and the kernel calls that INVALID.
		s = CTInvalid
	}
	return s
}

// fail reports which test of conntrack_mt stops the packet; 0 when it
// matches. The bit names the failing option for Explain.
func (cm *ctMatcher) fail(c *Ctx) uint16 {
	m := &cm.m
	conn := c.Conn
	statebit := ctPacketState(c)
	if m.flags&ctfState != 0 {
		if conn != nil {
			st := conn.Status()
			if st&IPSSrcNAT != 0 {
				statebit |= CTSNAT
			}
			if st&IPSDstNAT != 0 {
				statebit |= CTDNAT
			}
		}
		if (m.stateMask&statebit != 0) == (m.invert&ctfState != 0) {
			return ctfState
		}
	}
	if conn == nil {
		// Untracked and invalid packets have no entry: only a state
		// test can match them.
		if m.flags&ctfState != 0 {
			return 0
		}
		return 0xffff
	}
	if m.flags&ctfDirection != 0 && conn.Reply() != (m.invert&ctfDirection != 0) {
		return ctfDirection
	}
	if m.flags&(ctfOrigSrc|ctfOrigDst|ctfReplSrc|ctfReplDst) != 0 {
		for dir := 0; dir < 2; dir++ {
			src, dst, _, _ := conn.Tuple(dir)
			for k, a := range [2]netip.Addr{src, dst} {
				i := dir*2 + k
				bit := uint16(ctfOrigSrc << i)
				if m.flags&bit == 0 {
					continue
				}
				eq := ToAddr16(a).MaskedEqual(cm.addr[i], cm.mask[i]) && AddrFamily(a) == AddrFamily(m.addrs[i].addr)
				if eq == (m.invert&bit != 0) {
					return bit
				}
			}
		}
	}
	if m.flags&ctfProto != 0 && (conn.Proto() == m.proto) == (m.invert&ctfProto != 0) {
		return ctfProto
	}
	if m.flags&(ctfOrigSrcPort|ctfOrigDstPort|ctfReplSrcPort|ctfReplDstPort) != 0 {
		for dir := 0; dir < 2; dir++ {
			_, _, sp, dp := conn.Tuple(dir)
			for k, p := range [2]uint16{sp, dp} {
				i := dir*2 + k
				bit := uint16(ctfOrigSrcPort << i)
				if m.flags&bit == 0 {
					continue
				}
				in := p >= m.ports[i][0] && p <= m.ports[i][1]
				if in == (m.invert&bit != 0) {
					return bit
				}
			}
		}
	}
	if m.flags&ctfStatus != 0 && (m.statusMask&conn.Status() != 0) == (m.invert&ctfStatus != 0) {
		return ctfStatus
	}
	if m.flags&ctfExpires != 0 {
		left := cm.expires(c)
		in := left >= uint64(m.expMin) && left <= uint64(m.expMax)
		if in == (m.invert&ctfExpires != 0) {
			return ctfExpires
		}
	}
	return 0
}

// expires is the connection's remaining lifetime in whole seconds, as
// nf_ct_expires(ct) / HZ gives it (0 once expired).
func (cm *ctMatcher) expires(c *Ctx) uint64 {
	left := c.Conn.Expires(c.Now)
	if left <= 0 {
		return 0
	}
	return uint64(left) / 1e9
}

// Match implements Matcher.
func (cm *ctMatcher) Match(c *Ctx) bool { return cm.fail(c) == 0 }

// Explain implements Explainer.
func (cm *ctMatcher) Explain(c *Ctx, matched bool) string {
	m := &cm.m
	name := "conntrack"
	if m.flags&ctfStateAlias != 0 {
		name = "state"
	}
	if matched {
		var b strings.Builder
		b.WriteString(name + ": the packet is")
		writeCTStates(&b, ctPacketState(c))
		return b.String()
	}
	f := cm.fail(c)
	var b strings.Builder
	switch f {
	case 0xffff:
		b.WriteString(name + ": the packet has no connection (")
		writeCTStates(&b, ctPacketState(c))
		b.WriteString(" ), and only --ctstate can match such packets")
	case ctfState:
		st := ctPacketState(c)
		if c.Conn != nil {
			if c.Conn.Status()&IPSSrcNAT != 0 {
				st |= CTSNAT
			}
			if c.Conn.Status()&IPSDstNAT != 0 {
				st |= CTDNAT
			}
		}
		opt := "--ctstate"
		if m.flags&ctfStateAlias != 0 {
			opt = "--state"
		}
		if m.invert&ctfState != 0 {
			opt = "! " + opt
		}
		b.WriteString(name + ": " + opt)
		writeCTStates(&b, m.stateMask)
		b.WriteString(": the packet is")
		writeCTStates(&b, st)
	case ctfDirection:
		dir := "ORIGINAL"
		if c.Conn.Reply() {
			dir = "REPLY"
		}
		fmt.Fprintf(&b, "conntrack: --ctdir: the packet travels in the %s direction", dir)
	case ctfProto:
		fmt.Fprintf(&b, "conntrack: --ctproto %d: the connection's protocol is %d", m.proto, c.Conn.Proto())
	case ctfStatus:
		b.WriteString("conntrack: --ctstatus")
		writeCTStatus(&b, m.statusMask)
		b.WriteString(": the connection's status is")
		writeCTStatus(&b, c.Conn.Status()&(IPSExpected|IPSSeenReply|IPSAssured|IPSConfirmed))
	case ctfExpires:
		fmt.Fprintf(&b, "conntrack: --ctexpire: the connection expires in %d s", cm.expires(c))
	default:
		for i := 0; i < 4; i++ {
			src, dst, sp, dp := c.Conn.Tuple(i / 2)
			if f == uint16(ctfOrigSrc<<i) {
				a := src
				if i%2 == 1 {
					a = dst
				}
				fmt.Fprintf(&b, "conntrack: --%s %s: the connection's is %s", ctAddrOpts[i], FormatHostMask(m.addrs[i].addr, m.addrs[i].mask), a)
			}
			if f == uint16(ctfOrigSrcPort<<i) {
				p := sp
				if i%2 == 1 {
					p = dp
				}
				fmt.Fprintf(&b, "conntrack: --%s %s: the connection's is %d", ctPortOpts[i], FormatPortRange(m.ports[i][0], m.ports[i][1]), p)
			}
		}
	}
	return b.String()
}

// Classify implements Classifiable: conntrack_mt only reads the
// connection; its tests are left to the rule.
func (cm *ctMatcher) Classify(*classify.Rule) bool { return true }
