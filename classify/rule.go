// Package classify finds, among the rules of one chain, the first rule at
// or after a position whose header tests a packet passes, without trying
// the rules before it one by one.
//
// A Rule holds the tests of one rule that the classifier indexes: the
// addresses with their masks, the protocol, port ranges, TCP flags, the
// ICMP type and code, the packet mark. They are necessary conditions of
// the rule's match, not all of it: the caller (the engine) evaluates the
// rule found in full, and asks again from the next position when the
// rule did not match or did not end the chain. A Rule that says less
// than the rule tests only makes more candidates, never a wrong answer,
// so whatever the classifier cannot express (interfaces, stateful
// matches, negated ports) is simply left out of it.
//
// The structure is a tuple space in the manner of TupleMerge
// (Daly, Liu and Torng, ICNP 2016): rules are grouped into tables that
// each hash a fixed prefix of every field, a rule going into a table
// whose prefixes are no longer than its own (relaxing it) as long as no
// bucket grows past a bound; tables are probed in the order of their
// first rule and the probe stops as soon as no table left can hold a
// rule before the best one found. Build then draws packets from the
// rules (as ClassBench aims a trace) and lets their lookups decide two
// trades: merging a table into a less specific one (a probe fewer
// against longer buckets) and cutting the tables at a rule (later
// parts never probed by packets that end before it, a probe more for
// the others).
package classify

// Rule is what the classifier knows of one rule: every test here must
// hold for the rule to match. The zero Rule is not "any": start from
// Any (or Any6 for an IPv6 chain).
type Rule struct {
	// IPv6 rules test Src6 and Dst6 (128-bit addresses as two
	// big-endian halves) under their masks; IPv4 rules Src and Dst.
	// All the rules of one Classifier are of one family.
	IPv6                       bool
	Src, SrcMask, Dst, DstMask uint32
	Src6, SrcMask6             Addr6
	Dst6, DstMask6             Addr6
	InvSrc, InvDst             bool

	Proto    uint8
	HasProto bool // -p given (Proto 0 with HasProto is -p 0: any)
	InvProto bool

	SPort, DPort [2]uint16 // inclusive ranges

	// TCP flags: flags&TCPMask == TCPCmp, negated with InvTCP; no test
	// when TCPMask is 0.
	TCPMask, TCPCmp uint8
	InvTCP          bool

	// ICMP type and code range, when HasICMP.
	HasICMP  bool
	ICMPType uint8
	ICMPCode [2]uint8

	// The packet mark: mark&MarkMask == Mark.
	Mark, MarkMask uint32

	// Never: the tests contradict each other, the rule matches nothing.
	Never bool
}

// Addr6 is an IPv6 address or mask: the high and low 64 bits.
type Addr6 [2]uint64

func (a Addr6) and(m Addr6) Addr6 { return Addr6{a[0] & m[0], a[1] & m[1]} }

// Any returns an IPv4 Rule that tests nothing.
func Any() Rule {
	return Rule{SPort: [2]uint16{0, 0xffff}, DPort: [2]uint16{0, 0xffff}, ICMPCode: [2]uint8{0, 0xff}}
}

// Any6 returns an IPv6 Rule that tests nothing.
func Any6() Rule {
	r := Any()
	r.IPv6 = true
	return r
}

// Key is a packet's fields as the tests read them: Src and Dst for an
// IPv4 packet, Src6 and Dst6 for an IPv6 one.
type Key struct {
	Src6, Dst6   Addr6
	Src, Dst     uint32
	SPort, DPort uint16
	Proto        uint8
	TCPFlags     uint8
	ICMPType     uint8
	ICMPCode     uint8
	Mark         uint32
}

// NarrowSPort adds the test lo <= source port <= hi.
func (r *Rule) NarrowSPort(lo, hi uint16) { r.SPort = narrow(r, r.SPort, lo, hi) }

// NarrowDPort adds the test lo <= destination port <= hi.
func (r *Rule) NarrowDPort(lo, hi uint16) { r.DPort = narrow(r, r.DPort, lo, hi) }

func narrow(r *Rule, cur [2]uint16, lo, hi uint16) [2]uint16 {
	cur[0], cur[1] = max(cur[0], lo), min(cur[1], hi)
	if cur[0] > cur[1] {
		r.Never = true
	}
	return cur
}

// NarrowMark adds the test mark&mask == value.
func (r *Rule) NarrowMark(value, mask uint32) {
	if value&^mask != 0 || (r.Mark^value)&r.MarkMask&mask != 0 {
		r.Never = true
		return
	}
	r.Mark |= value
	r.MarkMask |= mask
}

// NarrowTCPFlags adds the test flags&mask == cmp (negated with inv).
// One flags test is kept; a second is left to the rule itself.
func (r *Rule) NarrowTCPFlags(mask, cmp uint8, inv bool) {
	if mask == 0 || r.TCPMask != 0 {
		return
	}
	if cmp&^mask != 0 {
		if !inv {
			r.Never = true
		}
		return
	}
	r.TCPMask, r.TCPCmp, r.InvTCP = mask, cmp, inv
}

// NarrowICMP adds the test type == typ and lo <= code <= hi. One ICMP
// test is kept; a second is left to the rule itself.
func (r *Rule) NarrowICMP(typ, lo, hi uint8) {
	if r.HasICMP {
		return
	}
	if lo > hi {
		r.Never = true
		return
	}
	r.HasICMP, r.ICMPType, r.ICMPCode = true, typ, [2]uint8{lo, hi}
}

// Match reports whether k passes every test of r: the reference the
// classifier must agree with (tests use it).
func (r *Rule) Match(k *Key) bool {
	if r.Never {
		return false
	}
	if r.IPv6 {
		if (k.Src6.and(r.SrcMask6) == r.Src6.and(r.SrcMask6)) == r.InvSrc || (k.Dst6.and(r.DstMask6) == r.Dst6.and(r.DstMask6)) == r.InvDst {
			return false
		}
	} else if (k.Src&r.SrcMask == r.Src&r.SrcMask) == r.InvSrc || (k.Dst&r.DstMask == r.Dst&r.DstMask) == r.InvDst {
		return false
	}
	if r.HasProto && r.Proto != 0 && (k.Proto == r.Proto) == r.InvProto {
		return false
	}
	if k.SPort < r.SPort[0] || k.SPort > r.SPort[1] || k.DPort < r.DPort[0] || k.DPort > r.DPort[1] {
		return false
	}
	if r.TCPMask != 0 && (k.TCPFlags&r.TCPMask == r.TCPCmp) == r.InvTCP {
		return false
	}
	if r.HasICMP && (k.ICMPType != r.ICMPType || k.ICMPCode < r.ICMPCode[0] || k.ICMPCode > r.ICMPCode[1]) {
		return false
	}
	return k.Mark&r.MarkMask == r.Mark&r.MarkMask
}
