// Package symbolic runs a ruleset on every packet at once: symbolic
// execution of the hook pipeline (raw, conntrack, mangle, nat, routing by
// the host model, filter, security, POSTROUTING) over the bits of the
// packet's header and its connection context, held in binary decision
// diagrams (package bdd), so that masks, prefixes and port ranges are
// exact. The result is a list of leaves: each a region of the input space
// (a BDD), the verdict for it, and the packet, mark, connection mark and
// log records it leaves with, as functions of the input bits. Package
// diff compares the leaves of two rulesets.
//
// What the model cannot read exactly becomes a free input variable:
// a match it does not know (one variable per distinct match text and
// packet state), a stateful match (one per rule position and options),
// a choice NAT makes within a range. A difference that depends on one is
// reported as "may differ", never hidden.
package symbolic

import (
	"net/netip"

	"github.com/ipsift/ipsift/bdd"
	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/host"
)

// Field is a part of the packet state the rules read or write.
type Field int

// Fields of a State.
const (
	FLocal  Field = iota // 1 bit: the host sends the packet
	FIn                  // input interface index (0: none)
	FOut                 // output interface index (0: none yet)
	FFirst               // 1 bit: the connection's first packet (nat chains run)
	FCT                  // 3 bits: connection state (CT* below)
	FReply               // 1 bit: the packet travels in the reply direction
	FSNAT                // 1 bit: the connection is source NATed
	FDNAT                // 1 bit: the connection is destination NATed
	FProto               // 8 bits
	FDst                 // 32 or 128 bits
	FDport               // 16 bits
	FSrc                 // 32 or 128 bits
	FSport               // 16 bits
	FFlags               // 8 bits: TCP flags
	FIType               // 8 bits: ICMP type
	FICode               // 8 bits: ICMP code
	FTTL                 // 8 bits: TTL or hop limit
	FTOS                 // 8 bits: TOS or traffic class
	FLen                 // 16 bits: the IP total length
	FMark                // 32 bits
	FCTMark              // 32 bits
	NumFields
)

var fieldNames = [NumFields]string{"local", "in", "out", "first", "ctstate", "reply", "snat", "dnat", "proto", "dst", "dport", "src", "sport", "flags", "icmp type", "icmp code", "ttl", "tos", "length", "mark", "ctmark"}

func (f Field) String() string { return fieldNames[f] }

// Connection states as FCT values.
const (
	CTNew uint64 = iota
	CTEstablished
	CTRelated
	CTInvalid
	CTUntracked
)

// CTNames names the FCT values.
var CTNames = []string{"NEW", "ESTABLISHED", "RELATED", "INVALID", "UNTRACKED"}

// Input vectors that are not fields: the NAT an existing connection
// applies (its binding is part of the connection context).
const (
	VPreAddr = iota
	VPrePort
	VPostAddr
	VPostPort
	NumExtra
)

// Space is the variable layout and host model shared by the runs of the
// rulesets being compared.
type Space struct {
	M      *bdd.Manager
	Family ext.Family
	Host   *host.Host
	W      int // address width: 32 or 128
	// Ifaces are the host's interfaces: index i+1 in FIn and FOut.
	Ifaces []*host.Iface
	IfBits int
	// the variables of every input field and extra vector, most
	// significant bit first
	vars    [NumFields][]int
	extVars [NumExtra][]int
	// Input is the state a packet starts in; Domain constrains the
	// inputs to packets that exist (see domain).
	Input  State
	Domain bdd.Node
	// Header is the number of variables of packet and connection
	// inputs; the variables after it are free choices (Pool).
	Header int
	pool   int // next free pool variable
	// Named pool variables: the key says what the variable stands for.
	named map[string]int
	Names map[int]string
	// routing: per destination, local delivery and the output interface
	routeMemo map[string]routeFn
	eff       *effects
	decrMemo  map[string]bdd.Vec
}

// New lays out the variables for a family on a host; pool is the number
// of free variables available for opaque matches and choices, and
// maxNodes the node budget (0: none).
func New(fam ext.Family, h *host.Host, pool, maxNodes int) *Space {
	s := &Space{Family: fam, Host: h, W: 32, named: map[string]int{}, Names: map[int]string{}, routeMemo: map[string]routeFn{}}
	if fam == ext.IPv6 {
		s.W = 128
	}
	s.Ifaces = h.Ifaces
	for 1<<s.IfBits <= len(s.Ifaces) {
		s.IfBits++
	}
	widths := [NumFields]int{1, s.IfBits, 0, 1, 3, 1, 1, 1, 8, s.W, 16, s.W, 16, 8, 8, 8, 8, 8, 16, 32, 32}
	n := 0
	seq := func(w int) []int {
		vs := make([]int, w)
		for i := range vs {
			vs[i] = n + i
		}
		n += w
		return vs
	}
	for f := Field(0); f < NumFields; f++ {
		if f == FMark {
			// The mark and the connection mark bit by bit: CONNMARK
			// copies one to the other, and comparing a copy with
			// the original is linear in this order, exponential in
			// one field after the other.
			both := seq(64)
			for i := 0; i < 32; i++ {
				s.vars[FMark] = append(s.vars[FMark], both[2*i])
				s.vars[FCTMark] = append(s.vars[FCTMark], both[2*i+1])
			}
			f = FCTMark
			continue
		}
		s.vars[f] = seq(widths[f])
	}
	for i, w := range [NumExtra]int{s.W, 16, s.W, 16} {
		s.extVars[i] = seq(w)
	}
	s.Header = n
	s.pool = n
	s.M = bdd.New(n+pool, maxNodes)
	for f := Field(0); f < NumFields; f++ {
		if f == FOut {
			s.Input.F[f] = bdd.UintVec(0, s.IfBits)
			continue
		}
		s.Input.F[f] = s.M.VarsVec(s.vars[f])
	}
	s.Domain = s.domain()
	return s
}

// FieldVars returns the variables of an input field, most significant
// bit first (not always consecutive: see New).
func (s *Space) FieldVars(f Field) []int { return s.vars[f] }

// Extra returns the input vector of an existing connection's NAT.
func (s *Space) extra(i int) bdd.Vec { return s.M.VarsVec(s.extVars[i]) }

// ExtraVars returns the variables of extra vector i (VPreAddr...).
func (s *Space) ExtraVars(i int) []int { return s.extVars[i] }

// Var returns the pool variable for key, making it on first use; ok is
// false when the pool is exhausted.
func (s *Space) Var(key string) (bdd.Node, bool) {
	if v, ok := s.named[key]; ok {
		return s.M.Var(v), true
	}
	if s.pool >= s.M.NumVars() {
		return bdd.False, false
	}
	v := s.pool
	s.pool++
	s.named[key] = v
	s.Names[v] = key
	return s.M.Var(v), true
}

// VarVec returns a vector of width pool variables for key.
func (s *Space) VarVec(key string, width int) (bdd.Vec, bool) {
	out := make(bdd.Vec, width)
	for i := range out {
		v, ok := s.Var(key + "#" + itoa(i))
		if !ok {
			return nil, false
		}
		out[i] = v
	}
	return out, true
}

// PoolVars lists the pool variables made so far.
func (s *Space) PoolVars() []int {
	var vs []int
	for v := s.Header; v < s.pool; v++ {
		vs = append(vs, v)
	}
	return vs
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b [20]byte
	n := len(b)
	for i > 0 {
		n--
		b[n] = byte('0' + i%10)
		i /= 10
	}
	return string(b[n:])
}

// uv is a constant vector.
func uv(x uint64, w int) bdd.Vec { return bdd.UintVec(x, w) }

// addrVec is the constant vector of an address of the family.
func (s *Space) addrVec(a netip.Addr) bdd.Vec {
	if s.W == 32 {
		b := a.Unmap().As4()
		return bdd.ConstVec(b[:], 32)
	}
	b := a.As16()
	return bdd.ConstVec(b[:], 128)
}

// ifIndex is the FIn/FOut value of a named interface; 0 when the host
// has none of that name.
func (s *Space) ifIndex(name string) int {
	for i, ifc := range s.Ifaces {
		if ifc.Name == name {
			return i + 1
		}
	}
	return 0
}

// ctIs is "the FCT vector v is state c".
func (s *Space) ctIs(v bdd.Vec, c uint64) bdd.Node { return s.M.Eq(v, uv(c, 3)) }

// domain is the set of inputs that are packets: one interface or the
// host as sender, a connection state the packet can be in, ports only
// with protocols that have them, mark 0 on arrival.
func (s *Space) domain() bdd.Node {
	m := s.M
	in := s.Input.F
	local := in[FLocal][0]
	d := m.And(local, m.Eq(in[FIn], uv(0, s.IfBits)))
	arrive := bdd.False
	for i, ifc := range s.Ifaces {
		if ifc.Name == "lo" {
			continue
		}
		arrive = m.Or(arrive, m.Eq(in[FIn], uv(uint64(i+1), s.IfBits)))
	}
	d = m.Or(d, m.Diff(arrive, local))
	// Packets arriving carry mark 0; a local socket may set any.
	d = m.And(d, m.Or(local, m.Eq(in[FMark], uv(0, 32))))
	ct, first, reply := in[FCT], in[FFirst][0], in[FReply][0]
	snat, dnat := in[FSNAT][0], in[FDNAT][0]
	noConn := m.And(m.Not(m.Or(reply, m.Or(snat, dnat))), m.Eq(in[FCTMark], uv(0, 32)))
	// The state conntrack gives: never UNTRACKED (only a raw rule
	// makes that), INVALID without a connection.
	d = m.And(d, m.Le(ct, uv(CTInvalid, 3)))
	d = m.And(d, m.Or(m.Not(s.ctIs(ct, CTInvalid)), m.And(noConn, m.Not(first))))
	// The first packet of a connection is NEW, original direction, no
	// NAT yet, connection mark 0; a NEW packet is never a reply.
	d = m.And(d, m.Or(m.Not(first), m.And(s.ctIs(ct, CTNew), noConn)))
	d = m.And(d, m.Or(m.Not(s.ctIs(ct, CTNew)), m.Not(reply)))
	proto := in[FProto]
	is := func(p uint64) bdd.Node { return m.Eq(proto, uv(p, 8)) }
	ports := m.Or(m.Or(is(6), is(17)), m.Or(m.Or(is(132), is(33)), is(136)))
	d = m.And(d, m.Or(ports, m.And(m.Eq(in[FSport], uv(0, 16)), m.Eq(in[FDport], uv(0, 16)))))
	d = m.And(d, m.Or(is(6), m.Eq(in[FFlags], uv(0, 8))))
	if s.W == 128 {
		// ip6tables' -p is the header after the extension headers
		// (ipv6_find_hdr): never one of them, but No Next Header.
		for _, p := range []uint64{0, 43, 44, 51, 60} {
			d = m.Diff(d, is(p))
		}
	}
	icmp := is(1)
	if s.W == 128 {
		icmp = is(58)
	}
	d = m.And(d, m.Or(icmp, m.And(m.Eq(in[FIType], uv(0, 8)), m.Eq(in[FICode], uv(0, 8)))))
	// RELATED without helpers: an ICMP error quoting a connection.
	var errs bdd.Node
	if s.W == 32 {
		errs = bdd.False
		for _, t := range []uint64{3, 4, 5, 11, 12} {
			errs = m.Or(errs, m.Eq(in[FIType], uv(t, 8)))
		}
	} else {
		errs = m.Le(in[FIType], uv(4, 8))
		errs = m.And(errs, m.Ge(in[FIType], uv(1, 8)))
	}
	d = m.And(d, m.Or(m.Not(s.ctIs(ct, CTRelated)), m.And(icmp, errs)))
	// ICMP opens connections with its queries only (icmp_new: echo,
	// timestamp, information, address mask; ICMPv6 echo and node
	// information queries); any other ICMP packet without one is
	// INVALID.
	queries, replies := []uint64{8, 13, 15, 17}, []uint64{0, 14, 16, 18}
	if s.W == 128 {
		queries, replies = []uint64{128, 139}, []uint64{129, 140}
	}
	anyType := func(ts []uint64) bdd.Node {
		n := bdd.False
		for _, t := range ts {
			n = m.Or(n, m.Eq(in[FIType], uv(t, 8)))
		}
		return n
	}
	q := anyType(queries)
	d = m.And(d, m.Or(m.Not(m.And(icmp, s.ctIs(ct, CTNew))), q))
	// An ICMP connection is a query and its reply: an ESTABLISHED
	// ICMP packet is a query in the original direction, the query's
	// reply in the reply direction.
	d = m.And(d, m.Or(m.Not(m.And(icmp, s.ctIs(ct, CTEstablished))), m.Ite(reply, anyType(replies), q)))
	// Lengths: the headers fit, and the packet fits the links' MTU.
	min := uint64(20)
	if s.W == 128 {
		min = 40
	}
	hdr := m.Ite(is(6), m.Ge(in[FLen], uv(min+20, 16)), m.Ite(m.Or(is(17), icmp), m.Ge(in[FLen], uv(min+8, 16)), m.Ge(in[FLen], uv(min, 16))))
	d = m.And(d, m.And(hdr, m.Le(in[FLen], uv(1500, 16))))
	return d
}
