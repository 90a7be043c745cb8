package symbolic

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/ipsift/ipsift/bdd"
	"github.com/ipsift/ipsift/internal/saveopt"
	"github.com/ipsift/ipsift/rules"
)

// statefulMatches keep history or draw at random: the same packet may
// match or not. They are free variables shared by OLD and NEW only for
// the same options at the same place (and the same reach).
var statefulMatches = map[string]bool{
	"limit": true, "hashlimit": true, "recent": true, "connlimit": true, "quota": true,
	"statistic": true, "time": true, "nth": true, "connbytes": true, "rateest": true, "nfacct": true,
	"cluster": true,
}

func isStateful(name string) bool { return statefulMatches[name] }

// field returns a field of the state.
func (x *Run) field(st *State, f Field) bdd.Vec { return st.F[f] }

// ignored reports whether the run skips the conditions on a field: the
// planted bug of the tests, which the equivalence check must catch.
func (x *Run) ignored(f Field) bool { return f != FLocal && x.opts.IgnoreField == f }

// opaque is a free variable for a match the model cannot read: the same
// text on the same packet state is the same variable.
func (x *Run) opaque(text string, st *State) bdd.Node {
	key := "m " + text + " @" + st.fieldsKey()
	v, ok := x.S.Var(key)
	if !ok {
		panic(errPool{})
	}
	x.Opaque[key] = "-m " + text
	return v
}

// ruleCond is the set of inputs (within p's state) the rule matches.
func (x *Run) ruleCond(r *rules.Rule, p piece, c *rules.Chain) bdd.Node {
	s := x.S
	m := s.M
	st := p.st
	cond := bdd.True
	and := func(n bdd.Node, inv bool) {
		if inv {
			n = m.Not(n)
		}
		cond = m.And(cond, n)
	}
	addr := func(f Field, a, mask netip.Addr, inv bool) {
		if x.ignored(f) {
			return
		}
		if !a.IsValid() {
			if inv {
				cond = bdd.False
			}
			return
		}
		var mv bdd.Vec
		if mask.IsValid() {
			mv = s.addrVec(mask)
		}
		and(m.EqMasked(x.field(st, f), s.addrVec(a), mv), inv)
	}
	if r.Src.IsValid() || r.InvSrc {
		addr(FSrc, r.Src, r.SrcMask, r.InvSrc)
	}
	if r.Dst.IsValid() || r.InvDst {
		addr(FDst, r.Dst, r.DstMask, r.InvDst)
	}
	if r.In != "" {
		and(s.ifaceMatch(x.field(st, FIn), r.In), r.InvIn)
	}
	if r.Out != "" {
		and(s.ifaceMatch(x.field(st, FOut), r.Out), r.InvOut)
	}
	if r.Proto != 0 {
		and(m.Eq(x.field(st, FProto), uv(uint64(r.Proto), 8)), r.InvProto)
	}
	if r.Frag {
		// Packets are whole (see the README): -f never matches.
		and(bdd.False, r.InvFrag)
	}
	if cond == bdd.False {
		return cond
	}
	keys := x.occ[r]
	for i, mu := range r.Matches {
		if cond == bdd.False {
			break
		}
		name := mu.Type.Name
		text := saveText(mu)
		if keys != nil && keys[i] != "" {
			k := keys[i]
			where := x.table + " " + c.Name + " rule " + strconv.Itoa(ruleNumber(c, r))
			if x.opts.Split[k] {
				k = x.opts.Tag + " " + k
				where = x.opts.Tag + "'s " + where
			}
			v, ok := s.Var("s " + k)
			if !ok {
				panic(errPool{})
			}
			x.Opaque["s "+k] = "-m " + name + text + " (" + where + ")"
			x.Reach[k] = m.Or(x.Reach[k], m.And(p.g, cond))
			cond = m.And(cond, v)
			continue
		}
		n, ok := x.matchCond(name, text, mu, r, st)
		if !ok {
			n = x.opaque(name+text, st)
		}
		cond = m.And(cond, n)
	}
	return cond
}

// ruleNumber is r's 1-based position in c (0: not there).
func ruleNumber(c *rules.Chain, r *rules.Rule) int {
	for i, x := range c.Rules {
		if x == r {
			return i + 1
		}
	}
	return 0
}

// ifaceMatch is "the interface vector v matches pattern" (a trailing +
// is a wildcard); index 0 (no interface) matches only "+".
func (s *Space) ifaceMatch(v bdd.Vec, pattern string) bdd.Node {
	prefix, wild := strings.CutSuffix(pattern, "+")
	if wild && prefix == "" {
		return bdd.True
	}
	r := bdd.False
	for i, ifc := range s.Ifaces {
		if ifc.Name == pattern || wild && strings.HasPrefix(ifc.Name, prefix) {
			r = s.M.Or(r, s.M.Eq(v, uv(uint64(i+1), s.IfBits)))
		}
	}
	return r
}

// matchCond reads one match from its canonical iptables-save text, as
// package analyze does: only the text, so any extension that prints what
// iptables-save prints is understood, and text this function does not
// expect makes the match opaque (ok false).
func (x *Run) matchCond(name, text string, mu *rules.MatchUse, r *rules.Rule, st *State) (bdd.Node, bool) {
	s := x.S
	m := s.M
	toks := strings.Fields(text)
	f := func(fl Field) bdd.Vec { return x.field(st, fl) }
	isProto := func(p uint64) bdd.Node { return m.Eq(f(FProto), uv(p, 8)) }
	switch name {
	case "comment", "state", "conntrack":
		if name == "comment" {
			return bdd.True, true
		}
		return x.conntrackCond(toks, st)
	case "tcp", "udp", "sctp", "dccp", "udplite":
		protos := map[string]uint64{"tcp": 6, "udp": 17, "sctp": 132, "dccp": 33, "udplite": 136}
		c := isProto(protos[name])
		ok := saveopt.Each(toks, func(opt string, args func() (string, bool), inv bool) bool {
			var n bdd.Node
			switch opt {
			case "--sport", "--dport", "--source-port", "--destination-port":
				a, got := args()
				lo, hi, good := saveopt.PortRange(a)
				if !got || !good {
					return false
				}
				fl := FSport
				if opt == "--dport" || opt == "--destination-port" {
					fl = FDport
				}
				n = m.Range(f(fl), uv(lo, 16), uv(hi, 16))
				if x.ignored(fl) {
					n, inv = bdd.True, false
				}
			case "--tcp-flags":
				ms, g1 := args()
				cs, g2 := args()
				mask, ok1 := saveopt.TCPFlags(ms)
				comp, ok2 := saveopt.TCPFlags(cs)
				if name != "tcp" || !g1 || !g2 || !ok1 || !ok2 {
					return false
				}
				n = m.EqMasked(f(FFlags), uv(uint64(comp), 8), uv(uint64(mask), 8))
			case "--syn":
				if name != "tcp" {
					return false
				}
				n = m.EqMasked(f(FFlags), uv(0x02, 8), uv(0x17, 8))
			default:
				return false
			}
			if inv {
				n = m.Not(n)
			}
			c = m.And(c, n)
			return true
		})
		return c, ok
	case "icmp", "icmp6":
		var lb strings.Builder
		mu.M.Print(&lb, true)
		proto := uint64(1)
		if name == "icmp6" {
			proto = 58
		}
		c, ok := icmpCond(m, lb.String(), strings.HasPrefix(strings.TrimSpace(text), "!"), f(FIType), f(FICode), name == "icmp")
		return m.And(isProto(proto), c), ok
	case "multiport":
		var pr bdd.Node
		switch r.Proto {
		case 6, 17, 132, 33, 136:
			if r.InvProto {
				return bdd.False, false
			}
			pr = isProto(uint64(r.Proto))
		default:
			return bdd.False, false
		}
		return allOpts(m, pr, toks, func(opt string, args func() (string, bool)) (bdd.Node, bool) {
			a, got := args()
			if !got {
				return bdd.False, false
			}
			in := func(fl Field) (bdd.Node, bool) {
				n := bdd.False
				for _, p := range strings.Split(a, ",") {
					lo, hi, good := saveopt.PortRange(p)
					if !good {
						return n, false
					}
					n = m.Or(n, m.Range(f(fl), uv(lo, 16), uv(hi, 16)))
				}
				return n, true
			}
			var n bdd.Node
			var good bool
			switch opt {
			case "--sports", "--source-ports":
				n, good = in(FSport)
			case "--dports", "--destination-ports":
				n, good = in(FDport)
			case "--ports":
				var n2 bdd.Node
				n, good = in(FSport)
				n2, _ = in(FDport)
				n = m.Or(n, n2)
			default:
				return bdd.False, false
			}
			return n, good
		})
	case "mark", "connmark":
		c := bdd.True
		fl := FMark
		if name == "connmark" {
			fl = FCTMark
			// No connection (untracked, invalid): never matches.
			c = m.Le(f(FCT), uv(CTRelated, 3))
		}
		return allOpts(m, c, toks, func(opt string, args func() (string, bool)) (bdd.Node, bool) {
			a, got := args()
			if opt != "--mark" || !got {
				return bdd.False, false
			}
			v, mask, good := valueMask(a)
			if !good {
				return bdd.False, false
			}
			n := m.EqMasked(f(fl), uv(v, 32), uv(mask, 32))
			return n, true
		})
	case "iprange":
		return allOpts(m, bdd.True, toks, func(opt string, args func() (string, bool)) (bdd.Node, bool) {
			a, got := args()
			lo, hi, found := strings.Cut(a, "-")
			l, err1 := netip.ParseAddr(lo)
			h, err2 := netip.ParseAddr(hi)
			if !got || !found || err1 != nil || err2 != nil {
				return bdd.False, false
			}
			fl := FSrc
			switch opt {
			case "--src-range":
			case "--dst-range":
				fl = FDst
			default:
				return bdd.False, false
			}
			n := m.Range(f(fl), s.addrVec(l), s.addrVec(h))
			return n, true
		})
	case "length":
		return allOpts(m, bdd.True, toks, func(opt string, args func() (string, bool)) (bdd.Node, bool) {
			a, got := args()
			lo, hi, good := saveopt.PortRange(a)
			if opt != "--length" || !got || !good {
				return bdd.False, false
			}
			n := m.Range(f(FLen), uv(lo, 16), uv(hi, 16))
			return n, true
		})
	case "ttl", "hl":
		return allOpts(m, bdd.True, toks, func(opt string, args func() (string, bool)) (bdd.Node, bool) {
			a, got := args()
			v, err := strconv.ParseUint(a, 10, 8)
			if !got || err != nil {
				return bdd.False, false
			}
			opt = strings.Replace(opt, "--hl-", "--ttl-", 1)
			var n bdd.Node
			switch opt {
			case "--ttl-eq":
				n = m.Eq(f(FTTL), uv(v, 8))
			case "--ttl-lt":
				if v == 0 {
					n = bdd.False
				} else {
					n = m.Le(f(FTTL), uv(v-1, 8))
				}
			case "--ttl-gt":
				if v == 255 {
					n = bdd.False
				} else {
					n = m.Ge(f(FTTL), uv(v+1, 8))
				}
			default:
				return bdd.False, false
			}
			return n, true
		})
	case "tos", "dscp":
		return allOpts(m, bdd.True, toks, func(opt string, args func() (string, bool)) (bdd.Node, bool) {
			a, got := args()
			if !got {
				return bdd.False, false
			}
			var n bdd.Node
			switch opt {
			case "--tos":
				v, mask, good := valueMask(a)
				if !good {
					return bdd.False, false
				}
				n = m.EqMasked(f(FTOS), uv(v, 8), uv(mask, 8))
			case "--dscp":
				v, err := strconv.ParseUint(a, 0, 8)
				if err != nil {
					return bdd.False, false
				}
				n = m.EqMasked(f(FTOS), uv(v<<2, 8), uv(0xfc, 8))
			default:
				return bdd.False, false
			}
			return n, true
		})
	case "ecn":
		// ecn_mt: the IP header's ECN field; the TCP header's ECE and
		// CWR bits (the rule's -p tcp makes the packet TCP).
		c := bdd.True
		ok := saveopt.Each(toks, func(opt string, args func() (string, bool), inv bool) bool {
			var n bdd.Node
			switch opt {
			case "--ecn-tcp-ece", "--ecn-tcp-cwr":
				bit := uint64(0x40)
				if opt == "--ecn-tcp-cwr" {
					bit = 0x80
				}
				n = m.EqMasked(f(FFlags), uv(bit, 8), uv(bit, 8))
				if inv {
					n = m.Not(n)
				}
				n = m.And(isProto(6), n)
			case "--ecn-ip-ect":
				a, got := args()
				v, err := strconv.ParseUint(a, 10, 2)
				if !got || err != nil {
					return false
				}
				n = m.EqMasked(f(FTOS), uv(v, 8), uv(3, 8))
				if inv {
					n = m.Not(n)
				}
			default:
				return false
			}
			c = m.And(c, n)
			return true
		})
		return c, ok
	case "helper":
		// Only an expected connection has a helper's master, and
		// ipsift's connections have no helpers (README): the match
		// is its inversion.
		if len(toks) >= 2 && toks[0] == "!" {
			return bdd.True, true
		}
		return bdd.False, len(toks) >= 2 && toks[0] == "--helper"
	case "addrtype":
		return allOpts(m, bdd.True, toks, func(opt string, args func() (string, bool)) (bdd.Node, bool) {
			var fl Field
			switch opt {
			case "--src-type":
				fl = FSrc
			case "--dst-type":
				fl = FDst
			default:
				return bdd.False, false
			}
			a, got := args()
			if !got {
				return bdd.False, false
			}
			t := s.addrType(f(fl))
			n := bdd.False
			for _, name := range strings.Split(a, ",") {
				code, known := rtnTypes[name]
				if !known {
					return bdd.False, false
				}
				n = m.Or(n, m.Eq(t, uv(code, 4)))
			}
			return n, true
		})
	}
	return bdd.False, false
}

// rtnTypes are addrtype's names for the host model's route types.
var rtnTypes = map[string]uint64{"UNICAST": 1, "LOCAL": 2, "BROADCAST": 3, "ANYCAST": 4, "MULTICAST": 5, "UNREACHABLE": 7}

// conntrackCond reads -m conntrack / -m state: the state and direction
// tests; other options (tuples, status, expiry) are opaque.
func (x *Run) conntrackCond(toks []string, st *State) (bdd.Node, bool) {
	s := x.S
	m := s.M
	ct := st.F[FCT]
	tracked := m.Le(ct, uv(CTRelated, 3))
	hasState := false
	stateOK := bdd.True
	rest := bdd.True
	ok := saveopt.Each(toks, func(opt string, args func() (string, bool), inv bool) bool {
		a, got := args()
		if !got {
			return false
		}
		switch opt {
		case "--state", "--ctstate":
			hasState = true
			n := bdd.False
			for _, w := range strings.Split(a, ",") {
				switch w {
				case "NEW":
					n = m.Or(n, s.ctIs(ct, CTNew))
				case "ESTABLISHED":
					n = m.Or(n, s.ctIs(ct, CTEstablished))
				case "RELATED":
					n = m.Or(n, s.ctIs(ct, CTRelated))
				case "INVALID":
					n = m.Or(n, s.ctIs(ct, CTInvalid))
				case "UNTRACKED":
					n = m.Or(n, s.ctIs(ct, CTUntracked))
				case "SNAT":
					n = m.Or(n, m.And(tracked, st.F[FSNAT][0]))
				case "DNAT":
					n = m.Or(n, m.And(tracked, st.F[FDNAT][0]))
				default:
					return false
				}
			}
			if inv {
				n = m.Not(n)
			}
			stateOK = m.And(stateOK, n)
		case "--ctdir":
			var n bdd.Node
			switch a {
			case "ORIGINAL":
				n = m.Not(st.F[FReply][0])
			case "REPLY":
				n = st.F[FReply][0]
			default:
				return false
			}
			if inv {
				n = m.Not(n)
			}
			rest = m.And(rest, n)
		case "--ctproto":
			p, err := strconv.ParseUint(a, 10, 8)
			if err != nil {
				return false
			}
			// A RELATED packet's connection is the one its error
			// quotes, of a protocol of its own: unknown.
			n := m.Ite(s.ctIs(ct, CTRelated), x.opaque("conntrack --ctproto "+a+" (related)", st), m.Eq(st.F[FProto], uv(p, 8)))
			if inv {
				n = m.Not(n)
			}
			rest = m.And(rest, n)
		case "--ctorigsrc", "--ctorigdst":
			addr, mask, good := addrMask(a, s.W)
			if !good {
				return false
			}
			fl := FSrc
			if opt == "--ctorigdst" {
				fl = FDst
			}
			// The original tuple is the packet as it came to
			// conntrack, for a packet of the original direction of a
			// connection without NAT; a reply's, a NATed
			// connection's and a RELATED packet's are unknown.
			other := m.Or(m.Or(s.ctIs(ct, CTRelated), st.F[FReply][0]), m.Or(st.F[FSNAT][0], st.F[FDNAT][0]))
			n := m.Ite(other, x.opaque("conntrack "+opt+" "+a+" (reply, NAT or related)", st),
				m.EqMasked(s.Input.F[fl], s.addrVec(addr), s.addrVec(mask)))
			if inv {
				n = m.Not(n)
			}
			rest = m.And(rest, n)
		default:
			// Skip the other words of the option: opaque.
			for {
				if _, more := args(); !more {
					break
				}
			}
			rest = m.And(rest, x.opaque("conntrack "+opt+" "+a, st))
		}
		return true
	})
	if !ok {
		return bdd.False, false
	}
	// conntrack_mt: without a connection only a state test can match.
	noConn := bdd.False
	if hasState {
		noConn = stateOK
	}
	return m.Ite(tracked, m.And(stateOK, rest), noConn), true
}

// allOpts is the test of a match whose options each test one thing and
// must all hold: c (what the match requires anyway) and, for each option,
// the node test gives it, negated where "!" stands before the option. An
// option test does not understand (false) makes ok false: the caller
// then takes the match as opaque.
func allOpts(m *bdd.Manager, c bdd.Node, toks []string, test func(opt string, args func() (string, bool)) (bdd.Node, bool)) (bdd.Node, bool) {
	ok := saveopt.Each(toks, func(opt string, args func() (string, bool), inv bool) bool {
		n, good := test(opt, args)
		if !good {
			return false
		}
		if inv {
			n = m.Not(n)
		}
		c = m.And(c, n)
		return true
	})
	return c, ok
}

// addrMask reads ADDR, ADDR/LEN or ADDR/MASK of a family of width w.
func addrMask(a string, w int) (addr, mask netip.Addr, ok bool) {
	as, ms, hasMask := strings.Cut(a, "/")
	addr, err := netip.ParseAddr(as)
	if err != nil || addr.BitLen() != w {
		return addr, mask, false
	}
	bits := w
	if hasMask {
		if n, err := strconv.Atoi(ms); err == nil {
			bits = n
		} else if mask, err = netip.ParseAddr(ms); err != nil || mask.BitLen() != w {
			return addr, mask, false
		} else {
			return addr, mask, true
		}
	}
	if bits < 0 || bits > w {
		return addr, mask, false
	}
	p, _ := addr.Prefix(bits)
	b := p.Masked().Addr().AsSlice()
	for i := range b {
		b[i] = 0
		for j := 0; j < 8; j++ {
			if i*8+j < bits {
				b[i] |= 0x80 >> j
			}
		}
	}
	mask, _ = netip.AddrFromSlice(b)
	return addr, mask, true
}

func valueMask(a string) (v, mask uint64, ok bool) {
	vs, ms, hasMask := strings.Cut(a, "/")
	v, err := strconv.ParseUint(vs, 0, 32)
	if err != nil {
		return 0, 0, false
	}
	mask = 0xffffffff
	if hasMask {
		if mask, err = strconv.ParseUint(ms, 0, 32); err != nil {
			return 0, 0, false
		}
	}
	return v, mask, true
}

// icmpCond reads the numeric iptables -L form of an icmp or icmp6 match
// (" icmptype 3 code 1", " icmp !type 255", "... codes 1-4"), which keeps
// code ranges the saved form shortens.
func icmpCond(m *bdd.Manager, listed string, inv bool, typ, code bdd.Vec, v4 bool) (bdd.Node, bool) {
	i := strings.Index(listed, "type ")
	if i < 0 {
		return bdd.False, false
	}
	f := strings.Fields(listed[i+5:])
	if len(f) == 0 {
		return bdd.False, false
	}
	t, err := strconv.ParseUint(f[0], 10, 8)
	if err != nil {
		return bdd.False, false
	}
	lo, hi := uint64(0), uint64(255)
	if len(f) >= 3 && f[1] == "code" {
		c, err := strconv.ParseUint(f[2], 10, 8)
		if err != nil {
			return bdd.False, false
		}
		lo, hi = c, c
	} else if len(f) >= 3 && f[1] == "codes" {
		a, b, _ := strings.Cut(f[2], "-")
		l, err1 := strconv.ParseUint(a, 10, 8)
		h, err2 := strconv.ParseUint(b, 10, 8)
		if err1 != nil || err2 != nil {
			return bdd.False, false
		}
		lo, hi = l, h
	}
	var n bdd.Node
	if t == 255 && v4 {
		n = bdd.True
	} else {
		n = m.And(m.Eq(typ, uv(t, 8)), m.Range(code, uv(lo, 8), uv(hi, 8)))
	}
	if inv {
		n = m.Not(n)
	}
	return n, true
}
