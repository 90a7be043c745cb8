package symbolic

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/ipsift/ipsift/bdd"
	"github.com/ipsift/ipsift/internal/saveopt"
	"github.com/ipsift/ipsift/rules"
)

// terminalTargets end the packet's walk in the table with a verdict of
// their own that the model does not follow further.
var terminalTargets = map[string]bool{"TPROXY": true, "SYNPROXY": true, "TEE": false}

// target applies an extension target to the piece that matched: the
// pieces that go on ("continue") and those the table decided.
func (x *Run) target(r *rules.Rule, p piece, why string) []tableLeaf {
	s := x.S
	m := s.M
	var b strings.Builder
	if r.Target != nil {
		r.Target.Save(&b)
	}
	text := b.String()
	toks := strings.Fields(text)
	st := p.st
	cont := func(st *State) []tableLeaf { return []tableLeaf{{piece{p.g, st}, "continue", why}} }
	effect := func() []tableLeaf {
		c := *st
		c.Eff = s.effect(st.Eff, x.hook+": "+r.Verdict+text, st)
		return cont(&c)
	}
	tracked := m.Le(st.F[FCT], uv(CTRelated, 3))
	switch r.Verdict {
	case "REJECT":
		return []tableLeaf{{p, "reject" + text, why}}
	case "NFQUEUE":
		return []tableLeaf{{p, "queue" + text, why}}
	case "LOG", "NFLOG", "ULOG", "TCPMSS", "SET", "AUDIT", "TRACE", "CLASSIFY", "SECMARK", "CONNSECMARK", "IDLETIMER", "LED", "RATEEST", "CHECKSUM", "TCPOPTSTRIP", "TEE", "HMARK":
		if r.Verdict == "TRACE" {
			return cont(st)
		}
		return effect()
	case "MARK":
		v, mask, ok := xmark(toks)
		if !ok {
			return effect()
		}
		return cont(st.with(FMark, xorMask(m, st.F[FMark], v, mask)))
	case "CONNMARK":
		if len(toks) == 2 && toks[0] == "--set-xmark" {
			v, mask, ok := valueMask(toks[1])
			if ok {
				return cont(st.with(FCTMark, m.Select(tracked, xorMask(m, st.F[FCTMark], v, mask), st.F[FCTMark])))
			}
		}
		if len(toks) == 5 && (toks[0] == "--save-mark" || toks[0] == "--restore-mark") && toks[1] == "--nfmask" && toks[3] == "--ctmask" {
			nf, err1 := strconv.ParseUint(toks[2], 0, 32)
			ctm, err2 := strconv.ParseUint(toks[4], 0, 32)
			if err1 == nil && err2 == nil {
				mark, ctmark := st.F[FMark], st.F[FCTMark]
				out := make(bdd.Vec, 32)
				for i := range out {
					bit := uint64(1) << (31 - i)
					if toks[0] == "--save-mark" {
						// ct = ct &^ ctmask ^ (mark & nfmask)
						k := bdd.False
						if ctm&bit == 0 {
							k = ctmark[i]
						}
						a := bdd.False
						if nf&bit != 0 {
							a = mark[i]
						}
						out[i] = m.Xor(k, a)
					} else {
						// mark = mark &^ nfmask ^ (ct & ctmask)
						k := bdd.False
						if nf&bit == 0 {
							k = mark[i]
						}
						a := bdd.False
						if ctm&bit != 0 {
							a = ctmark[i]
						}
						out[i] = m.Xor(k, a)
					}
				}
				if toks[0] == "--save-mark" {
					return cont(st.with(FCTMark, m.Select(tracked, out, ctmark)))
				}
				return cont(st.with(FMark, m.Select(tracked, out, mark)))
			}
		}
		return x.opaqueRewrite(p, why, FCTMark, FMark)
	case "TTL", "HL":
		if len(toks) == 2 {
			n, err := strconv.ParseUint(toks[1], 10, 8)
			if err == nil {
				var fn func(uint64) uint64
				switch strings.Replace(toks[0], "--hl-", "--ttl-", 1) {
				case "--ttl-set":
					fn = func(uint64) uint64 { return n }
				case "--ttl-inc":
					fn = func(x uint64) uint64 { return min(x+n, 255) }
				case "--ttl-dec":
					fn = func(x uint64) uint64 {
						if x < n {
							return 0
						}
						return x - n
					}
				}
				if fn != nil {
					return cont(st.with(FTTL, s.map8(st.F[FTTL], fn)))
				}
			}
		}
		return x.opaqueRewrite(p, why, FTTL)
	case "TOS":
		if len(toks) == 2 && toks[0] == "--set-tos" {
			v, mask, ok := valueMask(toks[1])
			if ok {
				return cont(st.with(FTOS, xorMask(m, st.F[FTOS], v, mask)))
			}
		}
		return x.opaqueRewrite(p, why, FTOS)
	case "DSCP":
		if len(toks) == 2 && toks[0] == "--set-dscp" {
			v, err := strconv.ParseUint(toks[1], 0, 8)
			if err == nil {
				return cont(st.with(FTOS, xorMask(m, st.F[FTOS], v<<2, 0xfc)))
			}
		}
		return x.opaqueRewrite(p, why, FTOS)
	case "NOTRACK", "CT":
		if r.Verdict == "NOTRACK" || text == " --notrack" {
			c := *st
			c.F[FCT] = uv(CTUntracked, 3)
			return cont(&c)
		}
		return effect()
	case "DNAT", "SNAT", "MASQUERADE", "REDIRECT", "NETMAP":
		return x.natTarget(r.Verdict, toks, p, why)
	}
	if terminalTargets[r.Verdict] {
		return []tableLeaf{{p, r.Verdict + text, why}}
	}
	return effect()
}

// xmark reads MARK's --set-xmark V/M.
func xmark(toks []string) (v, mask uint64, ok bool) {
	if len(toks) != 2 || toks[0] != "--set-xmark" {
		return 0, 0, false
	}
	return valueMask(toks[1])
}

// xorMask is (v &^ mask) ^ value, bit by bit.
func xorMask(m *bdd.Manager, v bdd.Vec, value, mask uint64) bdd.Vec {
	out := make(bdd.Vec, len(v))
	w := len(v)
	for i := range v {
		bit := uint64(1) << (w - 1 - i)
		k := v[i]
		if mask&bit != 0 {
			k = bdd.False
		}
		if value&bit != 0 {
			k = m.Not(k)
		}
		out[i] = k
	}
	return out
}

// opaqueRewrite is a target that rewrites fields in a way the model does
// not read: they become free choices of this rule on this state.
func (x *Run) opaqueRewrite(p piece, why string, fields ...Field) []tableLeaf {
	st := *p.st
	for _, f := range fields {
		v, ok := x.S.VarVec("rewrite "+why+" "+f.String()+" @"+p.st.key(), len(st.F[f]))
		if !ok {
			panic(errPool{})
		}
		st.F[f] = v
	}
	st.Eff = x.S.effect(st.Eff, x.hook+": opaque rewrite at "+why, p.st)
	return []tableLeaf{{piece{p.g, &st}, "continue", why}}
}

// natTarget is DNAT, SNAT, MASQUERADE, REDIRECT, NETMAP: the packet's
// addresses and ports change and the nat table accepts it.
func (x *Run) natTarget(kind string, toks []string, p piece, why string) []tableLeaf {
	s := x.S
	m := s.M
	st := *p.st
	g := p.g
	dstSide := x.hook == "PREROUTING" || x.hook == "OUTPUT"
	addrF, portF, statusF := FSrc, FSport, FSNAT
	if dstSide {
		addrF, portF, statusF = FDst, FDport, FDNAT
	}
	ports := hasPorts(s, st.F[FProto])
	choice := func(what string, lo, hi bdd.Vec) bdd.Vec {
		if bdd.Same(lo, hi) {
			return lo
		}
		v, ok := s.VarVec("nat "+why+" "+what+" @"+p.st.key(), len(lo))
		if !ok {
			panic(errPool{})
		}
		g = m.And(g, m.Range(v, lo, hi))
		return v
	}
	setPorts := func(spec string) bool {
		if spec == "" {
			return true
		}
		lo, hi, ok := saveopt.PortRange(strings.Replace(spec, "-", ":", 1))
		if !ok {
			return false
		}
		v := choice("port", uv(lo, 16), uv(hi, 16))
		st.F[portF] = m.Select(ports, v, st.F[portF])
		return true
	}
	ok := true
	switch kind {
	case "DNAT", "SNAT":
		opt := "--to-source"
		if kind == "DNAT" {
			opt = "--to-destination"
		}
		if len(toks) < 2 || toks[0] != opt {
			ok = false
			break
		}
		for _, t := range toks[2:] {
			if t != "--random" && t != "--persistent" && t != "--random-fully" {
				ok = false
			}
		}
		as, ps := splitHostPort(toks[1])
		if as != "" {
			lo, hi, found := strings.Cut(as, "-")
			if !found {
				hi = lo
			}
			l, err1 := netip.ParseAddr(lo)
			h, err2 := netip.ParseAddr(hi)
			if err1 != nil || err2 != nil {
				ok = false
				break
			}
			st.F[addrF] = choice("addr", s.addrVec(l), s.addrVec(h))
		}
		ok = ok && setPorts(ps)
	case "MASQUERADE", "REDIRECT":
		i := 0
		ps := ""
		for i < len(toks) {
			switch toks[i] {
			case "--to-ports":
				if i+1 >= len(toks) {
					ok = false
				} else {
					ps = toks[i+1]
				}
				i += 2
			case "--random", "--random-fully":
				i++
			default:
				ok = false
				i = len(toks)
			}
		}
		if !ok {
			break
		}
		// MASQUERADE: the output interface's address; REDIRECT: the
		// input interface's (127.0.0.1 or ::1 for the host's own).
		ifv := st.F[FOut]
		if kind == "REDIRECT" {
			ifv = st.F[FIn]
		}
		addr := make(bdd.Vec, s.W)
		for i := range addr {
			addr[i] = bdd.False
		}
		for i, ifc := range s.Ifaces {
			name := ifc.Name
			if kind == "REDIRECT" && x.hook == "OUTPUT" {
				break
			}
			a, found := s.ifaceAddr(name)
			if !found {
				// No address: the kernel drops the packet.
				continue
			}
			addr = m.Select(m.Eq(ifv, uv(uint64(i+1), s.IfBits)), s.addrVec(a), addr)
		}
		if kind == "REDIRECT" && x.hook == "OUTPUT" {
			lo := netip.MustParseAddr("127.0.0.1")
			if s.W == 128 {
				lo = netip.IPv6Loopback()
			}
			addr = s.addrVec(lo)
		}
		st.F[addrF] = addr
		ok = setPorts(ps)
	default:
		ok = false
	}
	if !ok {
		return x.opaqueRewrite(p, why, addrF, portF)
	}
	st.F[statusF] = uv(1, 1)
	return []tableLeaf{{piece{g, &st}, "", why}}
}

// ifaceAddr is the first address of the family on an interface (what
// MASQUERADE and REDIRECT use in the engine's host model).
func (s *Space) ifaceAddr(name string) (netip.Addr, bool) {
	ifc := s.Host.Iface(name)
	if ifc == nil {
		return netip.Addr{}, false
	}
	for _, a := range ifc.Addrs {
		if a.Addr().BitLen() == s.W && !(s.W == 128 && a.Addr().IsLinkLocalUnicast()) {
			return a.Addr(), true
		}
	}
	return netip.Addr{}, false
}

// splitHostPort splits NAT's ADDR[-ADDR][:PORT[-PORT]] (IPv6 in
// brackets).
func splitHostPort(s string) (addrs, ports string) {
	if strings.HasPrefix(s, "[") {
		end := strings.Index(s, "]")
		if end < 0 {
			return s, ""
		}
		a := strings.ReplaceAll(s[1:end], "]-[", "-")
		rest := s[end+1:]
		if i := strings.Index(rest, "]"); i >= 0 {
			// [a]-[b]:p
			a = s[1:end] + "-" + strings.Trim(rest[:i+1], "-[]")
			rest = rest[i+1:]
		}
		return a, strings.TrimPrefix(rest, ":")
	}
	if strings.Count(s, ":") > 1 {
		return s, "" // a bare IPv6 address
	}
	a, p, _ := strings.Cut(s, ":")
	return a, p
}
