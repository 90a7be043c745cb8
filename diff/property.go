package diff

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/ipsift/ipsift/bdd"
	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/rules"
	"github.com/ipsift/ipsift/symbolic"
)

// Property is a statement about every packet of a class, checked over
// all packets at once: "never: accept tcp dport 22 from !203.0.113.0/24
// in eth0", "always: forward from wlan0 to eth0 state NEW".
type Property struct {
	Always  bool   // always: every packet of the class gets Verdict; never: none does
	Verdict string // accept (for the host or forwarded), accept-local, forward, sent, drop, reject, queue
	terms   []term
	Text    string
}

type term struct {
	kind  string // proto, dport, sport, ttl, src, dst, in, out, local, state, mark, ctmark
	inv   bool
	proto uint8
	lo    uint16
	hi    uint16
	val   uint32 // mark, ctmark: the value under mask
	mask  uint32
	pfx   netip.Prefix
	name  string
	state []string
}

// ParseProperty reads "never: VERDICT TERMS..." or "always: VERDICT
// TERMS...". TERMS, all of which must hold: tcp | udp | icmp | proto N;
// dport N[:M]; sport N[:M]; ttl N[:M] (the TTL or hop limit it arrives
// with); from [!]ADDR[/LEN] or from IFACE (the input
// interface); to [!]ADDR[/LEN] or to IFACE (the output interface: for a
// packet that never reached routing, dropped before it or delivered to
// the host, the one its destination routes by); in IFACE; out IFACE;
// local (sent by the host); state S[,S...] (NEW,
// ESTABLISHED, RELATED, INVALID); first (the first packet of its
// connection: no NAT binding yet); mark V[/M] and ctmark V[/M] (the
// packet's mark and its connection's mark, masked, when its verdict is
// given: after the rules' MARK and CONNMARK). "!" before a value negates
// it.
func ParseProperty(s string) (*Property, error) {
	kind, rest, ok := strings.Cut(s, ":")
	p := &Property{Text: strings.TrimSpace(s)}
	switch strings.TrimSpace(kind) {
	case "never":
	case "always":
		p.Always = true
	default:
		return nil, fmt.Errorf("a property starts with never: or always:, not %q", kind)
	}
	if !ok {
		return nil, fmt.Errorf("%q: want never: or always: and a verdict", s)
	}
	ws := strings.Fields(rest)
	if len(ws) == 0 {
		return nil, fmt.Errorf("%q: a verdict must follow (accept, accept-local, forward, sent, drop, reject, queue)", s)
	}
	switch ws[0] {
	case "accept", "accept-local", "forward", "sent", "drop", "reject", "queue":
		p.Verdict = ws[0]
	default:
		return nil, fmt.Errorf("verdict %q: want accept, accept-local, forward, sent, drop, reject or queue", ws[0])
	}
	for i := 1; i < len(ws); i++ {
		w := ws[i]
		arg := func() (string, error) {
			if i+1 >= len(ws) {
				return "", fmt.Errorf("%s needs a value", w)
			}
			i++
			return ws[i], nil
		}
		t := term{kind: w}
		switch w {
		case "tcp", "udp", "icmp", "icmpv6":
			t.kind, t.proto = "proto", map[string]uint8{"tcp": 6, "udp": 17, "icmp": 1, "icmpv6": 58}[w]
		case "proto":
			a, err := arg()
			if err != nil {
				return nil, err
			}
			n, err := strconv.ParseUint(a, 10, 8)
			if err != nil {
				return nil, fmt.Errorf("proto %q: want a number 0-255 or tcp, udp, icmp", a)
			}
			t.proto = uint8(n)
		case "dport", "sport", "ttl":
			a, err := arg()
			if err != nil {
				return nil, err
			}
			if t.inv = strings.HasPrefix(a, "!"); t.inv {
				a = a[1:]
			}
			bits := 16
			if w == "ttl" {
				bits = 8
			}
			l, h, isRange := strings.Cut(a, ":")
			lo, err1 := strconv.ParseUint(l, 10, bits)
			hi, err2 := lo, error(nil)
			if isRange {
				hi, err2 = strconv.ParseUint(h, 10, bits)
			}
			if err1 != nil || err2 != nil || lo > hi {
				return nil, fmt.Errorf("%s %q: want N or N:M", w, a)
			}
			t.lo, t.hi = uint16(lo), uint16(hi)
		case "from", "to":
			a, err := arg()
			if err != nil {
				return nil, err
			}
			if t.inv = strings.HasPrefix(a, "!"); t.inv {
				a = a[1:]
			}
			if pfx, ok := parsePrefix(a); ok {
				t.kind, t.pfx = map[string]string{"from": "src", "to": "dst"}[w], pfx
			} else {
				t.kind, t.name = map[string]string{"from": "in", "to": "out"}[w], a
			}
		case "in", "out":
			a, err := arg()
			if err != nil {
				return nil, err
			}
			if t.inv = strings.HasPrefix(a, "!"); t.inv {
				a = a[1:]
			}
			t.name = a
		case "local", "first":
		case "mark", "ctmark":
			a, err := arg()
			if err != nil {
				return nil, err
			}
			if t.inv = strings.HasPrefix(a, "!"); t.inv {
				a = a[1:]
			}
			v, mk, masked := strings.Cut(a, "/")
			val, err1 := strconv.ParseUint(v, 0, 32)
			mask, err2 := uint64(0xffffffff), error(nil)
			if masked {
				mask, err2 = strconv.ParseUint(mk, 0, 32)
			}
			if err1 != nil || err2 != nil {
				return nil, fmt.Errorf("%s %q: want VALUE[/MASK] as --mark takes it (0x4000/0x4000)", w, a)
			}
			t.val, t.mask = uint32(val&mask), uint32(mask)
		case "state":
			a, err := arg()
			if err != nil {
				return nil, err
			}
			for _, st := range strings.Split(a, ",") {
				found := false
				for _, n := range symbolic.CTNames {
					if strings.EqualFold(n, st) {
						t.state = append(t.state, n)
						found = true
					}
				}
				if !found {
					return nil, fmt.Errorf("state %q: want NEW, ESTABLISHED, RELATED or INVALID", st)
				}
			}
		default:
			return nil, fmt.Errorf("%q: want tcp, udp, icmp, proto, dport, sport, ttl, from, to, in, out, local, first, state, mark or ctmark", w)
		}
		p.terms = append(p.terms, t)
	}
	return p, nil
}

func parsePrefix(a string) (netip.Prefix, bool) {
	if p, err := netip.ParsePrefix(a); err == nil {
		return p.Masked(), true
	}
	if ad, err := netip.ParseAddr(a); err == nil {
		return netip.PrefixFrom(ad, ad.BitLen()), true
	}
	return netip.Prefix{}, false
}

// class is the property's packet class over the inputs (and, for "out",
// over a leaf's state).
func (p *Property) class(s *symbolic.Space, l *symbolic.Leaf) bdd.Node {
	m := s.M
	in := s.Input.F
	r := bdd.True
	for _, t := range p.terms {
		var n bdd.Node
		switch t.kind {
		case "proto":
			n = m.Eq(in[symbolic.FProto], bdd.UintVec(uint64(t.proto), 8))
		case "dport", "sport":
			f := symbolic.FDport
			if t.kind == "sport" {
				f = symbolic.FSport
			}
			n = m.Range(in[f], bdd.UintVec(uint64(t.lo), 16), bdd.UintVec(uint64(t.hi), 16))
		case "ttl":
			n = m.Range(in[symbolic.FTTL], bdd.UintVec(uint64(t.lo), 8), bdd.UintVec(uint64(t.hi), 8))
		case "src", "dst":
			f := symbolic.FSrc
			if t.kind == "dst" {
				f = symbolic.FDst
			}
			if t.pfx.Addr().BitLen() != s.W {
				n = bdd.False
				break
			}
			raw := t.pfx.Addr().AsSlice()
			n = m.Prefix(in[f], bdd.ConstVec(raw, s.W), t.pfx.Bits())
		case "in", "out":
			v := in[symbolic.FIn]
			// A packet that never reached routing (dropped before it,
			// or delivered to the host) goes out where its destination
			// routes: else "always: forward to eth0" would hold for a
			// packet dropped in PREROUTING.
			routed := bdd.True
			if t.kind == "out" {
				v = l.St.F[symbolic.FOut]
				routed = m.Not(m.Eq(v, bdd.UintVec(0, s.IfBits)))
			}
			n = bdd.False
			for i, ifc := range s.Ifaces {
				if ifc.Name == t.name || strings.HasSuffix(t.name, "+") && strings.HasPrefix(ifc.Name, strings.TrimSuffix(t.name, "+")) {
					idx := uint64(i + 1)
					n = m.Or(n, m.And(routed, m.Eq(v, bdd.UintVec(idx, s.IfBits))))
					if t.kind == "out" {
						n = m.Or(n, m.Diff(s.RoutedBy(idx), routed))
					}
				}
			}
		case "mark", "ctmark":
			f := symbolic.FMark
			if t.kind == "ctmark" {
				f = symbolic.FCTMark
			}
			n = m.EqMasked(l.St.F[f], bdd.UintVec(uint64(t.val), 32), bdd.UintVec(uint64(t.mask), 32))
		case "local":
			n = in[symbolic.FLocal][0]
		case "first":
			n = in[symbolic.FFirst][0]
		case "state":
			n = bdd.False
			for _, st := range t.state {
				for v, name := range symbolic.CTNames {
					if name == st {
						n = m.Or(n, m.Eq(in[symbolic.FCT], bdd.UintVec(uint64(v), 3)))
					}
				}
			}
		}
		if t.inv {
			n = m.Not(n)
		}
		r = m.And(r, n)
	}
	return r
}

// Names reports whether the property names an address of family f
// (from or to ADDR): it is then about that family's packets, whether
// the rules have a table of it or not.
func (p *Property) Names(f ext.Family) bool {
	for _, t := range p.terms {
		if (t.kind == "src" || t.kind == "dst") && t.pfx.Addr().Is6() == (f == ext.IPv6) {
			return true
		}
	}
	return false
}

func (p *Property) verdictIs(v string) bool {
	switch p.Verdict {
	case "accept":
		return v == "accept-local" || v == "forward"
	case "reject", "queue":
		return strings.HasPrefix(v, p.Verdict)
	}
	return v == p.Verdict
}

// Counterexample is a packet that breaks a property, run in the engine.
type Counterexample struct {
	// Witness is a packet of the class that breaks the property, with
	// what the engine did to it (Witness.Old); Reproduced says the
	// engine's verdict breaks the property too.
	Witness *Witness
	// Classes describe every packet that breaks it.
	Classes []string
	// May is set when the break depends on a stateful or unknown match
	// (Because names them).
	May     bool
	Because []string
}

// CheckProperty checks a property of one ruleset over every packet; nil
// when it holds. The error is for a ruleset the model gave up on.
func CheckProperty(rs *rules.Ruleset, p *Property, o Options) (*Counterexample, error) {
	pc, err := NewPropertyChecker(rs, o)
	if err != nil {
		return nil, err
	}
	return pc.Check(p)
}

// PropertyChecker checks properties of one ruleset: the ruleset is run
// symbolically once, for all of them.
type PropertyChecker struct {
	rs  *rules.Ruleset
	o   Options
	s   *symbolic.Space
	run *symbolic.Run
}

// NewPropertyChecker runs rs symbolically. The error is for a ruleset
// the model gave up on.
func NewPropertyChecker(rs *rules.Ruleset, o Options) (*PropertyChecker, error) {
	s := o.newSpace(rs.Family, countMatches(rs))
	run, err := symbolic.Execute(s, rs, symbolic.Options{})
	if err != nil {
		return nil, err
	}
	return &PropertyChecker{rs: rs, o: o, s: s, run: run}, nil
}

// Check checks one property over every packet; nil when it holds. The
// error is for a property the model gave up on (its node budget).
func (pc *PropertyChecker) Check(p *Property) (*Counterexample, error) {
	rs, o, s, run := pc.rs, pc.o, pc.s, pc.run
	m := s.M
	bad := bdd.False
	for _, l := range run.Leaves {
		if p.verdictIs(l.Verdict) == p.Always {
			continue
		}
		bad = m.Or(bad, m.And(m.And(l.G, s.Domain), p.class(s, l)))
	}
	if m.Err() != nil {
		return nil, m.Err()
	}
	if bad == bdd.False {
		return nil, nil
	}
	c := &comparer{s: s, o: o, old: run, new: run}
	pool := s.PoolVars()
	sure := m.Forall(bad, pool)
	r := &Region{g: bad}
	if sure != bdd.False {
		r.g = sure
	} else {
		r.May = true
		for _, v := range m.Support(bad) {
			if name, ok := s.Names[v]; ok {
				r.Because = append(r.Because, c.describeVar(name))
			}
		}
		r.Because = dedupe(r.Because)
	}
	c.describe(r)
	ce := &Counterexample{Classes: r.Classes, May: r.May, Because: r.Because}
	for attempt := 0; attempt < 8; attempt++ {
		wi, ok := c.pick(r.g, attempt%4)
		if !ok {
			break
		}
		wi.seed = uint64(attempt)
		out, err := c.run(rs, wi)
		if err != nil {
			return nil, err
		}
		w := &Witness{Packet: wi.d, Text: wi.d.String(), Mark: wi.mark, Conn: wi.conn, Seed: wi.seed, Old: out}
		if wi.conn != nil {
			w.ConnText = wi.conn.String()
		}
		// The engine confirms the break when its verdict breaks the
		// property too.
		w.Reproduced = p.breaks(out)
		ce.Witness = w
		if w.Reproduced {
			break
		}
	}
	return ce, nil
}

// breaks reports whether the engine's outcome (a run's text) breaks the
// property: its verdict, and the marks it left where the property names
// them (a dropped packet's marks are not in the text: its verdict
// decides).
func (p *Property) breaks(out string) bool {
	in := p.verdictIs(engineVerdict(out))
	head, _, _ := strings.Cut(out, ";")
	for _, t := range p.terms {
		if t.kind == "out" {
			// A packet that left: by the interface the property names.
			if _, dev, ok := strings.Cut(head, " out "); ok {
				dev = strings.TrimSpace(dev)
				named := dev == t.name || strings.HasSuffix(t.name, "+") && strings.HasPrefix(dev, strings.TrimSuffix(t.name, "+"))
				if named == t.inv {
					return false
				}
			}
			continue
		}
		if t.kind != "mark" && t.kind != "ctmark" {
			continue
		}
		i := strings.Index(out, "; "+t.kind+" 0x")
		if i < 0 {
			continue
		}
		hex, _, _ := strings.Cut(out[i+len(t.kind)+5:], ";")
		v, err := strconv.ParseUint(strings.TrimSpace(hex), 16, 32)
		if err != nil {
			continue
		}
		if (uint32(v)&t.mask == t.val) == t.inv {
			// The packet is not of the class: it breaks nothing.
			return false
		}
	}
	return in != p.Always
}

// engineVerdict is the verdict word of a run's text.
func engineVerdict(out string) string {
	v, _, _ := strings.Cut(out, ";")
	v, _, _ = strings.Cut(v, " ")
	return v
}
