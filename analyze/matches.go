package analyze

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/internal/saveopt"
	"github.com/ipsift/ipsift/rules"
)

// Protocols whose ports the tcp, udp and multiport matches read.
const (
	protoICMP    = 1
	protoICMPv6  = 58
	protoTCP     = 6
	protoDCCP    = 33
	protoUDP     = 17
	protoSCTP    = 132
	protoUDPLite = 136
)

// cond is what one part of a rule says about packets: upper holds every
// packet it may match, lower only packets it surely matches. They are
// equal for what ipsift understands exactly; for an opaque match (a rate
// limit, a match this package does not read) upper is everything and
// lower nothing.
type cond struct {
	upper, lower region
}

func exact(r region) cond { return cond{r, r} }

func dimCond(d int, s set) cond {
	b := fullBox() // new: changed before anyone sees it
	b[d] = s
	return exact(region{b})
}

// opaqueCond is a part of a rule that may or may not match any packet.
func opaqueCond() cond { return cond{universe(), nil} }

// not is the condition with "!" before it: what surely matches is what
// the positive form surely fails, and the other way round.
func (c cond) not(w *work) cond {
	up, _ := universe().minus(c.lower, w)
	lo, _ := universe().minus(c.upper, w)
	return cond{up, lo}
}

// and is both conditions at once.
func (c cond) and(o cond) cond {
	return cond{c.upper.meet(o.upper), c.lower.meet(o.lower)}
}

// protoNone is the point of dimProto for IPv6 packets in which -p finds
// no protocol: ip6_tables' -p walks the extension headers with
// ipv6_find_hdr, which fails on a truncated chain, and nft's meta
// l4proto fails alike. Every -p test fails for such a packet, "! -p X"
// too (legacy also drops it at once when it is not a later fragment),
// and legacy's "-p all" as well (which the model cannot tell from no -p).
// Rules without -p see it as any other packet. IPv4 has no such packets.
//
// Which protocol -p finds behind an AH header differs between the
// backends (legacy walks past it, nft stops there), but for a given
// backend each packet has one: a point of dimProto. The analysis is
// about points, so it holds on either backend.
const protoNone = 256

// protoCond is the rule's -p; six for an IPv6 ruleset, legacy for the
// legacy backend.
func protoCond(r *rules.Rule, six, legacy bool, w *work) cond {
	if r.Proto == 0 {
		if six && legacy {
			// Maybe "-p all", which legacy fails for protoNone.
			return cond{universe(), region{fullBox().with(dimProto, rangeSet(0, protoNone-1))}}
		}
		return exact(universe())
	}
	o := dimCond(dimProto, point(uint32(r.Proto)))
	if r.InvProto {
		o = o.not(w)
		if six {
			o = o.and(dimCond(dimProto, rangeSet(0, protoNone-1)))
		}
	}
	return o
}

// ruleConds returns the rule's match as a condition, and the parts of it
// that could not be read exactly (a rule with any is never taken as the
// exact earlier rule of a limit warning). addrs places IPv6 addresses
// (nil for an IPv4 ruleset).
func ruleConds(r *rules.Rule, atoms *ifaceAtoms, addrs *addrAtoms, legacy bool) (cond, []string) {
	return newCondReader(atoms, addrs, legacy).rule(r)
}

// condReader reads the rules of one ruleset into conditions, keeping
// what rules often repeat (a match's text, an interface pattern): a big
// ruleset has far fewer distinct ones than rules. Conditions are never
// changed once built, so rules share them.
type condReader struct {
	atoms   *ifaceAtoms
	addrs   *addrAtoms
	legacy  bool
	matches map[string]matchRead
	ifaces  map[string]set
	b, p    strings.Builder
}

// matchRead is what matchCond made of one match text.
type matchRead struct {
	c  cond
	ok bool
}

func newCondReader(atoms *ifaceAtoms, addrs *addrAtoms, legacy bool) *condReader {
	return &condReader{atoms: atoms, addrs: addrs, legacy: legacy, matches: map[string]matchRead{}, ifaces: map[string]set{}}
}

// condAcc is a condition being built as the meet of others. While every
// part is exactly one box it is that box, narrowed in place (most rules
// are one box: building a box and a region per part, and a meet per
// part, was most of the garbage of check on a big ruleset); else cond.
type condAcc struct {
	b      box
	oneBox bool
	c      cond
}

func newCondAcc() condAcc {
	return condAcc{b: fullBoxValue, oneBox: true}
}

// fullBoxValue is the full box as a value, to copy.
var fullBoxValue = *fullBox()

// dim narrows dimension d to s.
func (a *condAcc) dim(d int, s set) {
	if a.oneBox {
		a.b[d] = narrowTo(a.b[d], s, d)
		return
	}
	a.c = a.c.and(dimCond(d, s))
}

// narrowTo is cur ∩ s, sharing either when it is the meet.
func narrowTo(cur, s set, d int) set {
	switch {
	case cur.subsetOf(s, d):
		return cur
	case s.subsetOf(cur, d):
		return s
	}
	return cur.intersect(s)
}

// and adds o.
func (a *condAcc) and(o cond) {
	if a.oneBox && len(o.upper) == 1 && len(o.lower) == 1 && (o.upper[0] == o.lower[0] || o.upper[0].equalExcept(o.lower[0], -1)) {
		for d, s := range o.upper[0] {
			if !s.isFull(d) {
				a.b[d] = narrowTo(a.b[d], s, d)
			}
		}
		return
	}
	if a.oneBox {
		a.c = a.get()
		a.oneBox = false
	}
	a.c = a.c.and(o)
}

// get returns the condition built.
func (a *condAcc) get() cond {
	if !a.oneBox {
		return a.c
	}
	if a.b.hasEmpty() {
		return cond{}
	}
	b := new(box)
	*b = a.b
	return exact(region{b})
}

// rule returns r's condition and its opaque parts (see ruleConds).
func (cr *condReader) rule(r *rules.Rule) (cond, []string) {
	w := &work{left: 1 << 30}
	c := newCondAcc()
	var opaque []string

	addr := func(d int, a, m netip.Addr, inv bool) {
		if !a.IsValid() && !inv {
			return
		}
		if !inv {
			if s, ok := addrSet(a, m, cr.addrs); ok {
				c.dim(d, s)
				return
			}
		}
		o, ok := addrCond(d, a, m, cr.addrs)
		if !ok {
			opaque = append(opaque, "the address mask")
		}
		if inv {
			o = o.not(w)
		}
		c.and(o)
	}
	addr(dimSrc, r.Src, r.SrcMask, r.InvSrc)
	addr(dimDst, r.Dst, r.DstMask, r.InvDst)
	iface := func(d int, pattern string, inv bool) {
		s, ok := cr.ifaces[pattern]
		if !ok {
			s = cr.atoms.matching(pattern)
			cr.ifaces[pattern] = s
		}
		if inv {
			c.and(dimCond(d, s).not(w))
		} else {
			c.dim(d, s)
		}
	}
	if r.In != "" {
		iface(dimIn, r.In, r.InvIn)
	}
	if r.Out != "" {
		iface(dimOut, r.Out, r.InvOut)
	}
	if r.Proto != 0 && !r.InvProto {
		c.dim(dimProto, point(uint32(r.Proto)))
	} else {
		c.and(protoCond(r, cr.addrs != nil, cr.legacy, w))
	}
	if r.Frag {
		v := uint32(1)
		if r.InvFrag {
			v = 0
		}
		c.dim(dimFrag, point(v))
	}
	for _, m := range r.Matches {
		cr.b.Reset()
		cr.p.Reset()
		m.M.Save(&cr.b)
		if m.Type.Name == "icmp" || m.Type.Name == "icmp6" {
			// iptables -L's form keeps the ICMP code range that the
			// saved form shortens.
			m.M.Print(&cr.p, true)
		}
		// matchCond reads the rule only for its -p (multiport).
		key := m.Type.Name + "\x00" + cr.b.String() + "\x00" + cr.p.String() + "\x00" + strconv.Itoa(int(r.Proto)) + strconv.FormatBool(r.InvProto)
		mr, seen := cr.matches[key]
		if !seen {
			mr.c, mr.ok = matchCond(m.Type.Name, cr.b.String(), cr.p.String(), r, w, cr.addrs)
			cr.matches[key] = mr
		}
		if !mr.ok {
			opaque = append(opaque, "-m "+m.Type.Name)
		}
		c.and(mr.c)
	}
	return c.get(), opaque
}

// addrCond is -s or -d without its "!". A non-contiguous mask (which
// iptables allows) is read as opaque rather than as thousands of spans.
func addrCond(d int, a, m netip.Addr, addrs *addrAtoms) (cond, bool) {
	s, ok := addrSet(a, m, addrs)
	if !ok {
		return opaqueCond(), false
	}
	return dimCond(d, s), true
}

// addrSet is the set of addrCond's dimension; ok false when opaque.
func addrSet(a, m netip.Addr, addrs *addrAtoms) (set, bool) {
	n := a.BitLen()
	if m.IsValid() {
		n = ext.MaskLen(m)
	}
	if n < 0 {
		return nil, false
	}
	lo, hi := prefixEnds(a, n)
	return addrs.interval(lo, hi)
}

// matchCond reads one match from its canonical iptables-save text (the
// options after "-m NAME"). Only the text is used, never the extension's
// Go types, so any extension that prints what iptables-save prints is
// understood. ok is false when part of the match is opaque; any text this
// function does not expect makes the whole match opaque, so that a
// misreading can only lose findings, never invent one. listed is the
// match's numeric iptables -L text, used only where the saved form
// loses something (ICMP code ranges); "" when not known.
//
// addrs places IPv6 addresses, nil in an IPv4 ruleset.
func matchCond(name, text, listed string, r *rules.Rule, w *work, addrs *addrAtoms) (c cond, ok bool) {
	toks := strings.Fields(text)
	switch name {
	case "comment":
		// A comment matches every packet.
		return exact(universe()), true
	case "tcp", "udp":
		proto := uint32(protoTCP)
		if name == "udp" {
			proto = protoUDP
		}
		// xt_tcpudp never matches a non-first fragment.
		acc := newCondAcc()
		acc.dim(dimProto, point(proto))
		acc.dim(dimFrag, point(0))
		ok = true
		good := saveopt.Each(toks, func(opt string, args func() (string, bool), inv bool) bool {
			var o cond
			switch opt {
			case "--sport", "--dport":
				a, got := args()
				s, good := portRange(a)
				if !got || !good {
					return false
				}
				d := dimSport
				if opt == "--dport" {
					d = dimDport
				}
				if !inv {
					acc.dim(d, s)
					return true
				}
				o = dimCond(d, s)
			case "--tcp-flags":
				if name != "tcp" {
					return false
				}
				ms, got1 := args()
				cs, got2 := args()
				mask, good1 := saveopt.TCPFlags(ms)
				comp, good2 := saveopt.TCPFlags(cs)
				if !got1 || !got2 || !good1 || !good2 {
					return false
				}
				o = dimCond(dimFlags, flagSet(mask, comp))
			case "--syn":
				if name != "tcp" {
					return false
				}
				o = dimCond(dimFlags, flagSet(0x17, 0x02))
			case "--tcp-option":
				// Options are not part of the model.
				if _, got := args(); !got {
					return false
				}
				ok = false
				return true
			default:
				return false
			}
			if inv {
				o = o.not(w)
			}
			acc.and(o)
			return true
		})
		if !good {
			return opaqueCond(), false
		}
		c = acc.get()
		if !ok {
			return cond{c.upper, nil}, false
		}
		return c, true
	case "icmp", "icmp6":
		// icmp6 (ip6_tables' icmp6_match) is icmp's twin, except that
		// type 255 is a type like any other.
		proto, optName := uint32(protoICMP), "--icmp-type"
		if name == "icmp6" {
			proto, optName = protoICMPv6, "--icmpv6-type"
		}
		ok = true
		var good bool
		c, good = allOpts(dimCond(dimProto, point(proto)).and(dimCond(dimFrag, point(0))), toks, w, func(opt string, args func() (string, bool)) (cond, bool) {
			if opt != optName {
				return cond{}, false
			}
			a, got := args()
			if !got {
				return cond{}, false
			}
			o, sure, fine := icmpCond(a, listed, name == "icmp")
			if !fine {
				return cond{}, false
			}
			ok = ok && sure
			return o, true
		})
		return c, good && ok
	case "multiport":
		// xt_multiport reads ports of these protocols only, never of a
		// non-first fragment; the rule's -p says which one it is.
		switch r.Proto {
		case protoTCP, protoUDP, protoSCTP, protoDCCP, protoUDPLite:
		default:
			return opaqueCond(), false
		}
		if r.InvProto {
			return opaqueCond(), false
		}
		return allOpts(dimCond(dimFrag, point(0)), toks, w, func(opt string, args func() (string, bool)) (cond, bool) {
			a, got := args()
			if !got {
				return cond{}, false
			}
			ports, fine := portList(a)
			if !fine {
				return cond{}, false
			}
			var o cond
			switch opt {
			case "--sports", "--source-ports":
				o = dimCond(dimSport, ports)
			case "--dports", "--destination-ports":
				o = dimCond(dimDport, ports)
			case "--ports":
				// Either port in the list: two boxes.
				o = exact(region{fullBox().with(dimSport, ports), fullBox().with(dimDport, ports)})
			default:
				return cond{}, false
			}
			return o, true
		})
	case "conntrack", "state":
		// Only the state test is modelled; any other conntrack option
		// (--ctorigdst, --ctstatus, ...) makes the match partly opaque.
		c = exact(universe())
		ok = true
		good := saveopt.Each(toks, func(opt string, args func() (string, bool), inv bool) bool {
			if opt != "--ctstate" && opt != "--state" {
				// Skip the option's arguments: words up to the next
				// option or "!".
				for {
					if _, got := args(); !got {
						break
					}
				}
				ok = false
				return true
			}
			a, got := args()
			if !got {
				return false
			}
			var mask uint8
			for _, n := range strings.Split(a, ",") {
				found := false
				for _, s := range stateNames {
					if s.name == n {
						mask |= s.bit
						found = true
					}
				}
				if !found {
					return false
				}
			}
			o := dimCond(dimState, stateSet(mask))
			if inv {
				o = o.not(w)
			}
			c = c.and(o)
			return true
		})
		if !good {
			return opaqueCond(), false
		}
		if !ok {
			return cond{c.upper, nil}, false
		}
		return c, true
	case "iprange":
		return allOpts(exact(universe()), toks, w, func(opt string, args func() (string, bool)) (cond, bool) {
			a, got := args()
			if !got {
				return cond{}, false
			}
			lo, hi, found := strings.Cut(a, "-")
			l, err1 := netip.ParseAddr(lo)
			h, err2 := netip.ParseAddr(hi)
			if !found || err1 != nil || err2 != nil {
				return cond{}, false
			}
			s, fine := addrs.interval(l, h)
			if !fine {
				return cond{}, false
			}
			var d int
			switch opt {
			case "--src-range":
				d = dimSrc
			case "--dst-range":
				d = dimDst
			default:
				return cond{}, false
			}
			return dimCond(d, s), true
		})
	case "mark":
		// A mark under a mask is a set of 2^k scattered values: opaque
		// unless the mask is all ones.
		return allOpts(exact(universe()), toks, w, func(opt string, args func() (string, bool)) (cond, bool) {
			a, got := args()
			if opt != "--mark" || !got {
				return cond{}, false
			}
			vs, ms, hasMask := strings.Cut(a, "/")
			v, err := strconv.ParseUint(vs, 0, 32)
			if err != nil {
				return cond{}, false
			}
			if hasMask {
				m, err := strconv.ParseUint(ms, 0, 32)
				if err != nil || m != 0xffffffff {
					return cond{}, false
				}
			}
			return dimCond(dimMark, point(uint32(v))), true
		})
	case "length":
		return allOpts(exact(universe()), toks, w, func(opt string, args func() (string, bool)) (cond, bool) {
			a, got := args()
			s, fine := portRange(a)
			if opt != "--length" || !got || !fine {
				return cond{}, false
			}
			return dimCond(dimLen, s), true
		})
	case "ttl", "hl":
		// The IPv6 hop limit is the TTL's twin (xt_hl), in the same
		// dimension.
		return allOpts(exact(universe()), toks, w, func(opt string, args func() (string, bool)) (cond, bool) {
			a, got := args()
			if !got {
				return cond{}, false
			}
			v, err := strconv.ParseUint(a, 10, 8)
			if err != nil {
				return cond{}, false
			}
			if name == "hl" {
				opt = strings.Replace(opt, "--hl-", "--ttl-", 1)
			}
			var s set
			switch opt {
			case "--ttl-eq":
				s = point(uint32(v))
			case "--ttl-lt":
				if v == 0 {
					s = nil
				} else {
					s = rangeSet(0, uint32(v)-1)
				}
			case "--ttl-gt":
				s = rangeSet(uint32(v)+1, 255)
			default:
				return cond{}, false
			}
			return dimCond(dimTTL, s), true
		})
	case "frag", "rt", "srh", "hbh", "dst", "ah":
		// ip6_tables' extension header matches (and srh's) look for
		// their header with ipv6_find_hdr and fail when the packet has
		// none, whatever their options; beyond that they are opaque.
		// (IPv4's ah is a match on the AH protocol: opaque.)
		if addrs != nil {
			return cond{region{fullBox().with(dimExt, point(1))}, nil}, false
		}
	}
	// Everything else: stateful matches (limit, hashlimit, statistic,
	// recent, connlimit, quota, time, ...) and matches on fields outside
	// the model (addrtype, mac, pkttype, string, u32, ...).
	return opaqueCond(), false
}

// allOpts is the condition of a match whose options each test one thing
// and must all hold: c (what the match requires anyway) and, for each
// option, the condition test gives it, negated where "!" stands before
// the option. An option test does not understand (false) makes the whole
// match opaque.
func allOpts(c cond, toks []string, w *work, test func(opt string, args func() (string, bool)) (cond, bool)) (cond, bool) {
	good := saveopt.Each(toks, func(opt string, args func() (string, bool), inv bool) bool {
		o, ok := test(opt, args)
		if !ok {
			return false
		}
		if inv {
			o = o.not(w)
		}
		c = c.and(o)
		return true
	})
	if !good {
		return opaqueCond(), false
	}
	return c, true
}

// portRange reads "N" or "N:M" as iptables-save prints ports and lengths.
func portRange(s string) (set, bool) {
	lo, hi, ok := saveopt.PortRange(s)
	if !ok {
		return nil, false
	}
	return rangeSet(uint32(lo), uint32(hi)), true
}

// portList reads multiport's "N,N:M,...".
func portList(s string) (set, bool) {
	var spans []span
	for _, p := range strings.Split(s, ",") {
		r, ok := portRange(p)
		if !ok {
			return nil, false
		}
		spans = append(spans, r...)
	}
	return setOf(spans...), true
}

// flagSet is the set of flag bytes f with f&mask == comp, as xt_tcpudp
// tests them.
func flagSet(mask, comp uint8) set {
	var spans []span
	for f := 0; f < 256; f++ {
		if uint8(f)&mask == comp {
			spans = append(spans, span{uint32(f), uint32(f)})
		}
	}
	return setOf(spans...)
}

// icmpCond reads --icmp-type's argument as iptables-save prints it:
// "any", "TYPE", or "TYPE/CODE". The saved form is lossy: a code range
// prints as its first code only, so "3/1" surely matches code 1 and may
// match codes up to 255, unless the listed form (iptables -L -n: "type 3
// code 1" or "type 3 codes 1-4") says which. Type 255 matches every ICMP
// packet in the kernel, whatever the codes.
//
// exact is false when the codes stay uncertain; ok is false for text it
// does not read.
//
// v4 is false for ICMPv6 (icmp6), which has no "any" and no type 255
// wildcard.
func icmpCond(a, listed string, v4 bool) (c cond, exact, ok bool) {
	if a == "any" && v4 {
		return cond{universe(), universe()}, true, true
	}
	ts, cs, hasCode := strings.Cut(a, "/")
	t, err := strconv.ParseUint(ts, 10, 8)
	if err != nil {
		return cond{}, false, false
	}
	if t == 255 && v4 {
		return cond{universe(), universe()}, true, true
	}
	base := uint32(t) << 8
	if !hasCode {
		return dimCond(dimICMP, rangeSet(base, base|255)), true, true
	}
	code, err := strconv.ParseUint(cs, 10, 8)
	if err != nil {
		return cond{}, false, false
	}
	if _, after, found := strings.Cut(listed, "type "+ts+" code "+cs); found && (after == "" || after[0] == ' ') {
		return dimCond(dimICMP, point(base|uint32(code))), true, true
	}
	if _, after, found := strings.Cut(listed, "type "+ts+" codes "+cs+"-"); found {
		f := strings.Fields(after)
		if len(f) == 0 {
			f = []string{""}
		}
		hi, err := strconv.ParseUint(f[0], 10, 8)
		if err == nil && hi >= code {
			return dimCond(dimICMP, rangeSet(base|uint32(code), base|uint32(hi))), true, true
		}
	}
	return cond{
		upper: region{fullBox().with(dimICMP, rangeSet(base|uint32(code), base|255))},
		lower: region{fullBox().with(dimICMP, point(base|uint32(code)))},
	}, false, true
}
