package conntrack

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"

	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/packet"
)

// Errors SetupNAT returns; the engine drops the packet on any of them,
// as the kernel does (NF_DROP).
var (
	// ErrNoAddress: MASQUERADE or REDIRECT without an address to use
	// (the kernel's "... ate my IP address", or an input interface
	// without one).
	ErrNoAddress = errors.New("conntrack: NAT target has no address to map to")
	// ErrNATSetUp: the connection already has a binding for this
	// manipulation (the kernel warns and drops).
	ErrNATSetUp = errors.New("conntrack: NAT binding already set up")
	// ErrNotIPv4: the range, or the address to map to, is not of the
	// connection's family (the name is from when only IPv4 was
	// tracked).
	ErrNotIPv4 = errors.New("conntrack: NAT range is not of the connection's family")
)

// NAT manipulation types, the kernel's enum nf_nat_manip_type.
const (
	manipSrc = 0
	manipDst = 1
)

func manipOf(kind int) int {
	if kind == ext.NATSrc {
		return manipSrc
	}
	return manipDst
}

// natRange is an nf_nat_range2: addresses as the kernel's nf_inet_addr
// (see Tuple), so that comparing them bytewise compares them as
// numbers, in either family.
type natRange struct {
	flags              uint32
	minAddr, maxAddr   [16]byte
	minProto, maxProto uint16
	baseProto          uint16
}

const natRandomAll = ext.NATProtoRandom | ext.NATProtoRandomFully

// rangeOf converts a NAT target's range for a connection of family v6.
func rangeOf(r ext.NATRange, v6 bool) (natRange, error) {
	nr := natRange{flags: r.Flags, minProto: r.MinPort, maxProto: r.MaxPort, baseProto: r.BasePort}
	if r.Flags&ext.NATMapIPs != 0 {
		var ok1, ok2 bool
		if nr.minAddr, ok1 = inetAddr(r.MinAddr, v6); !ok1 {
			return nr, ErrNotIPv4
		}
		if nr.maxAddr, ok2 = inetAddr(r.MaxAddr, v6); !ok2 {
			return nr, ErrNotIPv4
		}
	}
	return nr, nil
}

// inetAddr is a in nf_inet_addr layout, if it is of family v6.
func inetAddr(a netip.Addr, v6 bool) ([16]byte, bool) {
	switch {
	case v6 && a.Is6():
		return a.As16(), true
	case !v6 && a.Is4():
		return addr4(a.As4()), true
	}
	return [16]byte{}, false
}

// single is the range of the one address a, with flags.
func single(flags uint32, a [16]byte, r natRange) natRange {
	r.flags = flags | ext.NATMapIPs
	r.minAddr, r.maxAddr = a, a
	return r
}

// srcKey is what nf_nat_bysource hashes: the original source (and its
// family, which keeps the two apart).
type srcKey struct {
	addr  [16]byte
	port  uint16
	proto uint8
	v6    bool
}

func srcKeyOf(t Tuple) srcKey { return srcKey{t.Src, t.SrcPort, t.Proto, t.V6} }

// SetupNAT binds the new connection e for one manipulation as a NAT
// target asked in the nat table, as the kernel's nf_nat_setup_info: it
// resolves req's range to a reply tuple that no other connection uses
// (get_unique_tuple) and from then on Translate rewrites the
// connection's packets in both directions.
//
// outAddr is the address the target maps to when it names none: for
// MASQUERADE the address the kernel picks on the output interface for
// the packet's next hop (its primary address), for REDIRECT the primary
// address of the input interface (127.0.0.1 for locally generated
// packets). A NETMAP request maps the connection's current address
// (destination for NATDst, source for NATSrc) into its prefix.
//
// It does nothing for a connection that is already confirmed (the
// kernel cannot change a confirmed binding either), and nothing for
// MASQUERADE of a connection from 0.0.0.0 (the engine then sets up the
// null binding, as the kernel does when the chain ends without one).
// An error means the kernel would drop the packet.
func (t *Table) SetupNAT(e *Entry, req *ext.NATRequest, outAddr netip.Addr) error {
	if e.status.Load()&IPSConfirmed != 0 {
		return nil
	}
	manip := manipOf(req.Kind)
	v6 := e.tuple[0].V6
	r, err := rangeOf(req.Range, v6)
	if err != nil {
		return err
	}
	switch {
	case req.Masquerade, req.Redirect:
		// nf_nat_masquerade_ipv4 leaves a connection from 0.0.0.0
		// alone; the IPv6 one has no such case.
		if req.Masquerade && !v6 && e.tuple[0].Src == [16]byte{} {
			return nil
		}
		if !outAddr.IsValid() || outAddr.IsUnspecified() {
			return ErrNoAddress
		}
		a, ok := inetAddr(outAddr, v6)
		if !ok {
			return ErrNotIPv4
		}
		r = single(r.flags, a, r)
	case req.Netmap:
		// netmap_tg4/netmap_tg6: the current address's bits outside
		// the prefix the range spans, the range's inside it.
		cur, _ := e.tuple[1].Invert()
		addr := cur.Dst
		if manip == manipSrc {
			addr = cur.Src
		}
		var a [16]byte
		for i := range a {
			mask := ^(r.minAddr[i] ^ r.maxAddr[i])
			a[i] = addr[i]&^mask | r.minAddr[i]&mask
		}
		if !v6 {
			a = addr4(v4(a))
		}
		r = single(r.flags, a, r)
	}
	return t.setupInfo(e, r, manip)
}

// SetupNullNAT gives e the kernel's null binding for a manipulation
// (nf_nat_alloc_null_binding), which the kernel makes when a new
// connection's packet leaves that manipulation's nat chain without a
// NAT target: the connection keeps its address, and keeps its port
// unless that would clash with an existing connection, in which case
// it gets another source port as an SNAT would. kind is ext.NATSrc or
// ext.NATDst. Call it only when the nat table exists (the kernel's NAT
// hooks are registered with it). It does nothing to a confirmed
// connection or one already bound for that manipulation.
func (t *Table) SetupNullNAT(e *Entry, kind int) {
	if e.status.Load()&(IPSConfirmed|natDoneBit(kind)) != 0 {
		return
	}
	manip := manipOf(kind)
	ip := e.tuple[1].Src
	if manip == manipSrc {
		ip = e.tuple[1].Dst
	}
	t.setupInfo(e, single(0, ip, natRange{}), manip)
}

// setupInfo is the kernel's nf_nat_setup_info.
func (t *Table) setupInfo(e *Entry, r natRange, manip int) error {
	if e.status.Load()&IPSConfirmed != 0 {
		return nil
	}
	done := uint32(IPSDstNATDone)
	if manip == manipSrc {
		done = IPSSrcNATDone
	}
	if e.status.Load()&done != 0 {
		return ErrNATSetUp
	}
	nowJ := t.lastJ.Load()
	curr, _ := e.tuple[1].Invert()
	nt := t.uniqueTuple(e, curr, &r, manip, nowJ)
	if nt != curr {
		reply, _ := nt.Invert()
		e.tuple[1] = reply
		if manip == manipSrc {
			e.setStatus(IPSSrcNAT)
		} else {
			e.setStatus(IPSDstNAT)
		}
	}
	if manip == manipSrc && e.status.Load()&IPSSrcNAT != 0 {
		// Only real mappings go into the index: a null binding maps a
		// source to itself, which find_appropriate_src can never pick
		// (its source is out of range exactly when the new one is).
		t.indexSrcNAT(e, done)
		return nil
	}
	e.setStatus(done)
	return nil
}

// indexSrcNAT puts e into the source-NAT index (nf_nat_bysource), newest
// first, and sets the status bits done under the index's lock.
func (t *Table) indexSrcNAT(e *Entry, done uint32) {
	t.natMu.Lock()
	k := srcKeyOf(e.tuple[0])
	head := t.bysrc[k]
	e.natPrev, e.natNext = nil, head
	if head != nil {
		head.natPrev = e
	}
	t.bysrc[k] = e
	e.setStatus(done)
	t.natMu.Unlock()
}

// natForget takes a dying connection out of the source-NAT index.
func (t *Table) natForget(e *Entry) {
	if e.status.Load()&IPSSrcNAT == 0 {
		return
	}
	t.natMu.Lock()
	k := srcKeyOf(e.tuple[0])
	if e.natPrev != nil {
		e.natPrev.natNext = e.natNext
	} else if t.bysrc[k] == e {
		if e.natNext != nil {
			t.bysrc[k] = e.natNext
		} else {
			delete(t.bysrc, k)
		}
	}
	if e.natNext != nil {
		e.natNext.natPrev = e.natPrev
	}
	e.natPrev, e.natNext = nil, nil
	t.natMu.Unlock()
}

// rand16 is the kernel's get_random_u16, from the table's seeded stream
// (splitmix64), so that NAT's "random" ports are reproducible.
func (t *Table) rand16() uint16 {
	z := t.rng.Add(0x9e3779b97f4a7c15)
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return uint16(z ^ z>>31)
}

// uniqueTuple is the kernel's get_unique_tuple: the tuple the packets of
// e will carry after the manipulation, in range r, unique if possible.
func (t *Table) uniqueTuple(e *Entry, orig Tuple, r *natRange, manip int, nowJ int64) Tuple {
	// 1) For source NAT: keep the original source if it is in range and
	// free; else reuse the mapping of another connection from the same
	// source, if it fits and is free.
	if manip == manipSrc && r.flags&natRandomAll == 0 {
		if inRange(orig, r) {
			if !t.usedTupleNew(orig, e, nowJ) {
				return orig
			}
		} else if res, ok := t.appropriateSrc(orig, r, nowJ); ok {
			if !t.usedTuple(res, e, nowJ) {
				return res
			}
		}
	}
	// 2) The address: hashed over the range.
	tuple := orig
	bestIP(&tuple, r, manip)
	// 3) The port (or ICMP id), only if not already fine.
	if r.flags&natRandomAll == 0 {
		if r.flags&ext.NATProtoSpecified != 0 {
			if r.flags&ext.NATProtoOffset == 0 && l4InRange(tuple, manip, r.minProto, r.maxProto) &&
				(r.minProto == r.maxProto || !t.usedTuple(tuple, e, nowJ)) {
				return tuple
			}
		} else if !t.usedTuple(tuple, e, nowJ) {
			return tuple
		}
	}
	t.l4UniqueTuple(&tuple, r, manip, e, nowJ)
	return tuple
}

// inRange is the kernel's in_range (nf_nat_inet_in_range): would a
// source mapped like t meet the range? Addresses compare as numbers,
// which for the nf_inet_addr layout is bytewise in either family.
func inRange(t Tuple, r *natRange) bool {
	if r.flags&ext.NATMapIPs != 0 {
		if bytes.Compare(t.Src[:], r.minAddr[:]) < 0 || bytes.Compare(t.Src[:], r.maxAddr[:]) > 0 {
			return false
		}
	}
	if r.flags&ext.NATProtoSpecified == 0 {
		return true
	}
	return l4InRange(t, manipSrc, r.minProto, r.maxProto)
}

// l4InRange is the kernel's l4proto_in_range.
func l4InRange(t Tuple, manip int, min, max uint16) bool {
	switch t.Proto {
	case protoICMP, protoICMPv6:
		return t.SrcPort >= min && t.SrcPort <= max
	case protoTCP, protoUDP, protoUDPLite, protoGRE:
		p := t.DstPort
		if manip == manipSrc {
			p = t.SrcPort
		}
		return p >= min && p <= max
	}
	return true
}

// appropriateSrc is the kernel's find_appropriate_src: the newest
// source-NAT binding of another connection from the same original
// source whose mapped source fits the range.
func (t *Table) appropriateSrc(orig Tuple, r *natRange, nowJ int64) (Tuple, bool) {
	t.natMu.Lock()
	defer t.natMu.Unlock()
	for c := t.bysrc[srcKeyOf(orig)]; c != nil; c = c.natNext {
		if c.expired(nowJ) || c.status.Load()&IPSDying != 0 {
			continue
		}
		res, _ := c.tuple[1].Invert()
		res.Dst, res.DstPort, res.Proto = orig.Dst, orig.DstPort, orig.Proto
		if inRange(res, r) {
			return res, true
		}
	}
	return Tuple{}, false
}

// bestIP is the kernel's find_best_ips_proto: with an address range,
// pick the address by jhash2 of the source (and, unless --persistent,
// the destination), so that a client keeps landing on the same address.
//
// The kernel hashes the whole nf_inet_addr of the source (16 bytes,
// read as four little-endian words on x86), seeded with the last word
// of the destination's address (the IPv4 address itself, or an IPv6
// address's last 32 bits) xor the zone id (0). It then fills in the
// address one 32-bit word at a time (one word for IPv4, four for IPv6):
// each word within the range's bounds for that word as long as the
// words before it are at the range's maximum, else anywhere, and
// (unless persistent) folds that word of the destination into the hash
// before the next: for destination NAT the word just written, since the
// kernel reads the tuple it is rewriting.
func bestIP(t *Tuple, r *natRange, manip int) {
	if r.flags&ext.NATMapIPs == 0 {
		return
	}
	v := &t.Dst
	if manip == manipSrc {
		v = &t.Src
	}
	if r.minAddr == r.maxAddr {
		*v = r.minAddr
		return
	}
	last := 0
	if t.V6 {
		last = 3
	}
	persistent := r.flags&ext.NATPersistent != 0
	var initval uint32
	if !persistent {
		initval = leWord(t.Dst, last)
	}
	j := jhash2([]uint32{leWord(t.Src, 0), leWord(t.Src, 1), leWord(t.Src, 2), leWord(t.Src, 3)}, initval)
	full := false
	for i := 0; i <= last; i++ {
		minip, dist := uint32(0), ^uint32(0)
		if !full {
			minip = beWord(r.minAddr, i)
			dist = beWord(r.maxAddr, i) - minip + 1
		}
		binary.BigEndian.PutUint32(v[4*i:], minip+reciprocalScale(j, dist))
		if beWord(*v, i) != beWord(r.maxAddr, i) {
			full = true
		}
		if !persistent {
			j ^= leWord(t.Dst, i)
		}
	}
}

// leWord is word i of an nf_inet_addr as the kernel reads a __be32
// through a u32 pointer on a little-endian machine (x86): how jhash2
// sees addresses in find_best_ips_proto.
func leWord(a [16]byte, i int) uint32 { return binary.LittleEndian.Uint32(a[4*i:]) }

// beWord is word i of an nf_inet_addr in host order (ntohl).
func beWord(a [16]byte, i int) uint32 { return binary.BigEndian.Uint32(a[4*i:]) }

// l4UniqueTuple is the kernel's nf_nat_l4proto_unique_tuple: change the
// port (ICMP id) within the range until the tuple is free, starting at
// a "random" offset (from the table's seeded stream) for source NAT and
// --random, at the range's start for destination NAT, and giving up
// after 128 tries and a few shorter rounds.
func (t *Table) l4UniqueTuple(tuple *Tuple, r *natRange, manip int, e *Entry, nowJ int64) {
	var key *uint16
	var min, size uint32
	switch tuple.Proto {
	case protoICMP, protoICMPv6:
		key = &tuple.SrcPort
		if r.flags&ext.NATProtoSpecified == 0 {
			min, size = 0, 65536
		} else {
			min = uint32(r.minProto)
			size = uint32(r.maxProto) - uint32(r.minProto) + 1
		}
	case protoTCP, protoUDP, protoUDPLite:
		key = &tuple.DstPort
		if manip == manipSrc {
			key = &tuple.SrcPort
		}
		if r.flags&ext.NATProtoSpecified == 0 {
			if manip == manipDst {
				return // a destination's port cannot change
			}
			switch {
			case *key < 512:
				min, size = 1, 511
			case *key < 1024:
				min, size = 600, 1023-600+1
			default:
				min, size = 1024, 65535-1024+1
			}
		} else {
			lo, hi := uint32(r.minProto), uint32(r.maxProto)
			if hi < lo {
				lo, hi = hi, lo
			}
			min, size = lo, hi-lo+1
		}
	default:
		return // GRE keys change only for PPTP (a helper ipsift lacks)
	}
	var off uint16
	switch {
	case r.flags&ext.NATProtoOffset != 0:
		off = *key - r.baseProto
	case r.flags&natRandomAll != 0 || manip != manipDst:
		off = t.rand16()
	}
	attempts := size
	if attempts > 128 {
		attempts = 128
	}
	for {
		for i := uint32(0); i < attempts; i, off = i+1, off+1 {
			*key = uint16(min + uint32(off)%size)
			if !t.usedTupleHarder(*tuple, e, attempts-i, nowJ) {
				return
			}
		}
		if attempts >= size || attempts < 16 {
			return
		}
		attempts /= 2
		off = t.rand16()
	}
}

// tupleTaken is the kernel's nf_conntrack_tuple_taken: does another
// connection (confirmed, not expired) have tuple k in either direction?
// One with the same original tuple as ignored does not count.
func (t *Table) tupleTaken(k Tuple, ignored *Entry, nowJ int64) bool {
	c, _ := t.lookup(k, nowJ)
	if c == nil || c == ignored {
		return false
	}
	return c.tuple[0] != ignored.tuple[0]
}

// usedTuple is the kernel's nf_nat_used_tuple: would the reply to a
// packet with tuple nt collide with another connection?
func (t *Table) usedTuple(nt Tuple, ignored *Entry, nowJ int64) bool {
	r, ok := nt.Invert()
	if !ok {
		return false
	}
	return t.tupleTaken(r, ignored, nowJ)
}

// usedTupleNew is the kernel's nf_nat_used_tuple_new: usedTuple, except
// that for clash-tolerant protocols a collision with a connection that
// mirrors this one exactly (packets crossing on two CPUs) does not count.
func (t *Table) usedTupleNew(nt Tuple, ignored *Entry, nowJ int64) bool {
	if !t.usedTuple(nt, ignored, nowJ) {
		return false
	}
	if !allowClash(ignored.tuple[0].Proto) {
		return true
	}
	if ignored.status.Load()&(IPSNATMask|IPSSeqAdjust) != 0 {
		return true
	}
	c, dir := t.lookup(nt, nowJ)
	if c == nil {
		r, _ := nt.Invert()
		if c, dir = t.lookup(r, nowJ); c == nil {
			return false // the clashing connection went away
		}
	}
	if dir != 1 || c.status.Load()&(IPSNATMask|IPSSeqAdjust) != 0 {
		return true
	}
	if c.tuple[0] == ignored.tuple[1] && c.tuple[1] == ignored.tuple[0] {
		return false
	}
	return true
}

// usedTupleHarder is the kernel's nf_nat_used_tuple_harder: in the last
// 32 attempts for a TCP SYN, a colliding source-NATed connection in
// TIME_WAIT or CLOSE whose sequence numbers this one has passed is
// evicted to make room.
func (t *Table) usedTupleHarder(nt Tuple, e *Entry, attemptsLeft uint32, nowJ int64) bool {
	r, ok := nt.Invert()
	if !ok {
		return false
	}
	if attemptsLeft > 128/4 || nt.Proto != protoTCP || e.TCPState() != TCPSynSent {
		return t.tupleTaken(r, e, nowJ)
	}
	c, dir := t.lookup(r, nowJ)
	if c == nil {
		return false
	}
	if dir == 0 || c == e {
		return true
	}
	st := c.status.Load()
	c.mu.Lock()
	oldState, cEnd := c.tcp.state, c.tcp.seen[0].end
	c.mu.Unlock()
	if oldState < sTW || st&(IPSFixedTimeout|IPSDying) != 0 || st&IPSSrcNAT == 0 {
		return true
	}
	e.mu.Lock()
	eEnd := e.tcp.seen[0].end
	e.mu.Unlock()
	if int32(eEnd-cEnd) <= 0 {
		return true
	}
	return !t.kill(c)
}

// Translate rewrites packet p of connection e as the kernel's NAT hook
// for manipulation kind does (nf_nat_packet): ext.NATDst at PREROUTING
// and OUTPUT, ext.NATSrc at POSTROUTING and INPUT. reply is Track's
// result for p. A packet is rewritten when its direction's side of the
// binding changed: the original direction gets the binding, the reply
// direction its inverse. Addresses, ports (ICMP and ICMPv6 echo ids)
// and the IPv4 header, TCP, UDP, UDP-Lite, ICMP and ICMPv6 checksums
// change, incrementally as the kernel does (for IPv6 the transport
// checksums cover the addresses through the pseudo-header; the
// transport header is where ipv6_skip_exthdr finds it, and only the
// addresses change when there is none, as in a later fragment).
//
// An ICMP or ICMPv6 error RELATED to e is rewritten as
// nf_nat_icmp_reply_translation and nf_nat_icmpv6_reply_translation
// do: the quoted packet as the reverse manipulation (its addresses,
// ports and checksums), then the whole ICMP checksum afresh, then the
// outer address. Such packets never traverse the nat chains; call only
// Translate for them.
//
// Translate reports false when the kernel drops the packet instead:
// a RELATED ICMP error whose checksum is wrong or whose quoted header
// is too short to rewrite, a redirect about a NATed connection, a GRE
// packet NAT cannot handle, a transport header too short to rewrite.
func (t *Table) Translate(e *Entry, reply bool, kind int, p *packet.Packet) bool {
	manip := manipOf(kind)
	dir := 0
	if reply {
		dir = 1
	}
	if p.IsICMPError() {
		if p.Version == 6 {
			return t.icmpv6ReplyTranslation(e, dir, manip, p)
		}
		return t.icmpReplyTranslation(e, dir, manip, p)
	}
	bit := natBit(manip, dir)
	if e.status.Load()&bit == 0 {
		return true
	}
	r := &e.tuple[1-dir]
	if p.Version == 4 && (r.Proto == protoTCP || r.Proto == protoUDP) {
		return manipPkt4(p, r, manip)
	}
	target, _ := r.Invert()
	if p.Version == 6 {
		return manipPkt6(p.Data, &target, manip, p)
	}
	return manipPkt(p.Data, p.HdrLen, p.TotalLen, &target, manip, p)
}

// manipPkt4 is manipPkt for an IPv4 TCP or UDP packet of a connection
// whose other direction's tuple is r: the target (r inverted: for TCP
// and UDP its addresses and ports swapped) read straight from r, and the
// transport header rewritten in line. The same bytes as manipPkt
// (TestManipPkt4), in a third of the instructions: an established NAT
// connection's every packet goes through it.
func manipPkt4(p *packet.Packet, r *Tuple, manip int) bool {
	b := p.Data
	if len(b) < 20 {
		return false
	}
	n := p.TotalLen
	if n > len(b) {
		n = len(b)
	}
	hl := p.HdrLen
	if hl > n {
		hl = n
	}
	// The target's source is r's destination, its destination r's
	// source.
	newIP, newPort, addrOff, portOff := [4]byte(r.Src[:4]), r.SrcPort, 16, 2
	if manip == manipSrc {
		newIP, newPort, addrOff, portOff = [4]byte(r.Dst[:4]), r.DstPort, 12, 0
	}
	from, to := binary.BigEndian.Uint32(b[addrOff:]), binary.BigEndian.Uint32(newIP[:])
	l4 := b[hl:n]
	if len(l4) < 8 {
		return false
	}
	d := uint32(^uint16(from>>16)) + uint32(^uint16(from)) + to>>16 + to&0xffff
	old := binary.BigEndian.Uint16(l4[portOff:])
	if r.Proto == protoTCP {
		binary.BigEndian.PutUint16(l4[portOff:], newPort)
		if len(l4) >= 20 {
			cs := addrSum(binary.BigEndian.Uint16(l4[16:]), d)
			binary.BigEndian.PutUint16(l4[16:], packet.UpdateChecksum16(cs, old, newPort))
		}
	} else {
		if cs := binary.BigEndian.Uint16(l4[6:]); cs != 0 {
			cs = packet.UpdateChecksum16(addrSum(cs, d), old, newPort)
			if cs == 0 {
				cs = 0xffff // CSUM_MANGLED_0
			}
			binary.BigEndian.PutUint16(l4[6:], cs)
		}
		binary.BigEndian.PutUint16(l4[portOff:], newPort)
	}
	binary.BigEndian.PutUint16(b[10:], packet.UpdateChecksum32(binary.BigEndian.Uint16(b[10:]), from, to))
	binary.BigEndian.PutUint32(b[addrOff:], to)
	if manip == manipSrc {
		p.Src, p.SrcPort = netip.AddrFrom4(newIP), newPort
	} else {
		p.Dst, p.DstPort = netip.AddrFrom4(newIP), newPort
	}
	return true
}

// Rewrites reports whether Translate rewrites a packet (not an ICMP
// error) of a connection with status bits status in direction reply at
// a hook of kind (ext.NATSrc or ext.NATDst): for a connection whose
// status is known, Translate does nothing when it does not (the engine's
// flow cache leaves such calls out).
func Rewrites(status uint32, reply bool, kind int) bool {
	dir := 0
	if reply {
		dir = 1
	}
	return status&natBit(manipOf(kind), dir) != 0
}

// natBit is the status bit that says whether a packet in direction dir
// is rewritten at a hook of manipulation manip.
func natBit(manip, dir int) uint32 {
	bit := uint32(IPSDstNAT)
	if manip == manipSrc {
		bit = IPSSrcNAT
	}
	if dir == 1 {
		bit ^= IPSNATMask
	}
	return bit
}

// icmpReplyTranslation is nf_nat_icmp_reply_translation.
func (t *Table) icmpReplyTranslation(e *Entry, dir, manip int, p *packet.Packet) bool {
	l4 := p.L4
	if len(l4) < 8+20 {
		return false
	}
	if packet.ChecksumAdd(0, l4) != 0xffff {
		return false
	}
	if !redirectOK(e, l4[0] == 5) {
		return false
	}
	if e.status.Load()&natBit(manip, dir) == 0 {
		return true
	}
	// The quoted packet travelled in the other direction: give it the
	// reverse manipulation, towards what it looked like on its side.
	inner := l4[8:]
	if !manipPkt(inner, int(inner[0]&0x0f)*4, len(inner), &e.tuple[1-dir], 1-manip, nil) {
		return false
	}
	binary.BigEndian.PutUint16(l4[2:], 0)
	binary.BigEndian.PutUint16(l4[2:], packet.Checksum(l4))
	target := outerTarget(e.tuple[1-dir], protoICMP)
	return manipPkt(p.Data, p.HdrLen, p.TotalLen, &target, manip, p)
}

// icmpv6ReplyTranslation is nf_nat_icmpv6_reply_translation: as for
// ICMP, with the ICMPv6 checksum over the pseudo-header (of the outer
// addresses before they change; the outer rewrite then updates it
// incrementally).
func (t *Table) icmpv6ReplyTranslation(e *Entry, dir, manip int, p *packet.Packet) bool {
	l4 := p.L4
	if len(l4) < 8+40 {
		return false
	}
	if packet.ChecksumAdd(packet.PseudoHeaderSum6(p.Src, p.Dst, protoICMPv6, len(l4)), l4) != 0xffff {
		return false
	}
	if !redirectOK(e, l4[0] == packet.ICMPv6Redirect) {
		return false
	}
	if e.status.Load()&natBit(manip, dir) == 0 {
		return true
	}
	if !manipPkt6(l4[8:], &e.tuple[1-dir], 1-manip, nil) {
		return false
	}
	binary.BigEndian.PutUint16(l4[2:], 0)
	binary.BigEndian.PutUint16(l4[2:], packet.ChecksumFinish(packet.ChecksumAdd(packet.PseudoHeaderSum6(p.Src, p.Dst, protoICMPv6, len(l4)), l4)))
	target := outerTarget(e.tuple[1-dir], protoICMPv6)
	return manipPkt6(p.Data, &target, manip, p)
}

// redirectOK is the reply translations' rule for redirects: only about
// a connection with both bindings set up and neither changing anything.
func redirectOK(e *Entry, redirect bool) bool {
	st := e.status.Load()
	return !redirect || st&IPSNATDoneMask == IPSNATDoneMask && st&IPSNATMask == 0
}

// outerTarget is the tuple an error's outer header is rewritten to: the
// inverse of the quoted direction's tuple t (addresses swapped; the
// kernel ignores whether the protocol part inverts), as protocol proto.
func outerTarget(t Tuple, proto uint8) Tuple {
	return Tuple{Src: t.Dst, Dst: t.Src, Proto: proto, V6: t.V6}
}

// manipPkt is the kernel's nf_nat_ipv4_manip_pkt on the IP packet b
// (header length hl, total length n): the transport part first, then
// the address, every checksum updated incrementally. p, when not nil,
// is the decoded view of b, whose fields are kept in step.
func manipPkt(b []byte, hl, n int, target *Tuple, manip int, p *packet.Packet) bool {
	if len(b) < 20 {
		return false
	}
	if n > len(b) {
		n = len(b)
	}
	newIP, addrOff := v4(target.Dst), 16
	if manip == manipSrc {
		newIP, addrOff = v4(target.Src), 12
	}
	oldIP := [4]byte(b[addrOff : addrOff+4])
	if hl > n {
		hl = n
	}
	from, to := binary.BigEndian.Uint32(oldIP[:]), binary.BigEndian.Uint32(newIP[:])
	// What changing the address does to a sum covering it, as
	// UpdateChecksum32 adds it: ~from + to, word by word.
	d := uint32(^uint16(from>>16)) + uint32(^uint16(from)) + to>>16 + to&0xffff
	if !manipL4(b[hl:n], target, manip, d, p) {
		return false
	}
	binary.BigEndian.PutUint16(b[10:], packet.UpdateChecksum32(binary.BigEndian.Uint16(b[10:]), from, to))
	copy(b[addrOff:], newIP[:])
	if p != nil {
		setAddr(p, netip.AddrFrom4(newIP), target, manip)
	}
	return true
}

// manipPkt6 is the kernel's nf_nat_ipv6_manip_pkt on the IPv6 packet b
// (to the end of the outer packet, for a quoted one): the transport
// header where ipv6_skip_exthdr finds it, unless there is none (the
// walk fails) or the packet is a later fragment, then the address.
func manipPkt6(b []byte, target *Tuple, manip int, p *packet.Packet) bool {
	if len(b) < 40 {
		return false
	}
	newIP, addrOff := &target.Dst, 24
	if manip == manipSrc {
		newIP, addrOff = &target.Src, 8
	}
	old := b[addrOff : addrOff+16]
	if w := packet.SkipExthdr(b, 40, b[6]); w.Err == packet.ExtOK && w.FragOff == 0 {
		var l4 []byte
		if w.Off <= len(b) {
			l4 = b[w.Off:]
		}
		// As UpdateChecksum128 adds it: ~from + to, word by word.
		var d uint32
		for i := 0; i < 16; i += 2 {
			d += uint32(^binary.BigEndian.Uint16(old[i:])) + uint32(binary.BigEndian.Uint16(newIP[i:]))
		}
		if !manipL4(l4, target, manip, d, p) {
			return false
		}
	}
	copy(old, newIP[:])
	if p != nil {
		setAddr(p, netip.AddrFrom16(*newIP), target, manip)
	}
	return true
}

// setAddr keeps the decoded view p in step with a rewrite to addr.
func setAddr(p *packet.Packet, addr netip.Addr, target *Tuple, manip int) {
	ports := target.Proto == protoTCP || target.Proto == protoUDP || target.Proto == protoUDPLite
	if manip == manipSrc {
		p.Src = addr
		if ports {
			p.SrcPort = target.SrcPort
		}
	} else {
		p.Dst = addr
		if ports {
			p.DstPort = target.DstPort
		}
	}
}

// manipL4 is the kernel's nf_nat_l4proto_manip_pkt on the transport
// header l4 (to the end of the packet): the port (or ICMP id, GRE key)
// and the transport checksum, which for TCP, UDP, UDP-Lite and ICMPv6
// also covers the address (through the pseudo-header): d is what the
// address change adds to such a sum (see addrSum). A header too short
// to rewrite (fewer than the 8 bytes conntrack guarantees) makes the
// kernel drop the packet.
func manipL4(l4 []byte, target *Tuple, manip int, d uint32, p *packet.Packet) bool {
	portOff, newPort := 2, target.DstPort
	if manip == manipSrc {
		portOff, newPort = 0, target.SrcPort
	}
	switch target.Proto {
	case protoTCP:
		// The ports are within the 8 bytes conntrack guarantees; the
		// checksum only when the whole header is there (a quoted
		// packet may have just 8 bytes).
		if len(l4) < 8 {
			return false
		}
		old := binary.BigEndian.Uint16(l4[portOff:])
		binary.BigEndian.PutUint16(l4[portOff:], newPort)
		if len(l4) >= 20 {
			cs := addrSum(binary.BigEndian.Uint16(l4[16:]), d)
			cs = packet.UpdateChecksum16(cs, old, newPort)
			binary.BigEndian.PutUint16(l4[16:], cs)
		}
	case protoUDP, protoUDPLite:
		if len(l4) < 8 {
			return false
		}
		old := binary.BigEndian.Uint16(l4[portOff:])
		if cs := binary.BigEndian.Uint16(l4[6:]); cs != 0 || target.Proto == protoUDPLite {
			cs = addrSum(cs, d)
			cs = packet.UpdateChecksum16(cs, old, newPort)
			if cs == 0 {
				cs = 0xffff // CSUM_MANGLED_0
			}
			binary.BigEndian.PutUint16(l4[6:], cs)
		}
		binary.BigEndian.PutUint16(l4[portOff:], newPort)
	case protoICMP:
		if len(l4) < 8 {
			return false
		}
		switch l4[0] {
		case 0, 8, 13, 14, 15, 16, 17, 18:
			setICMPID(l4, target.SrcPort, p)
		}
	case protoICMPv6:
		if len(l4) < 8 {
			return false
		}
		binary.BigEndian.PutUint16(l4[2:], addrSum(binary.BigEndian.Uint16(l4[2:]), d))
		if l4[0] == packet.ICMPv6EchoRequest || l4[0] == packet.ICMPv6EchoReply {
			setICMPID(l4, target.SrcPort, p)
		}
	case protoGRE:
		if len(l4) < 8 {
			return false
		}
		if manip == manipDst {
			switch l4[1] & 7 {
			case 0:
			case 1:
				binary.BigEndian.PutUint16(l4[6:], target.DstPort)
			default:
				return false
			}
		}
	}
	return true
}

// addrSum updates checksum cs for an address it covers changing, d
// being ~from + to summed word by word: exactly what
// packet.UpdateChecksum32 (IPv4) or UpdateChecksum128 (IPv6) computes.
func addrSum(cs uint16, d uint32) uint16 { return packet.ChecksumFinish(uint32(^cs) + d) }

// setICMPID sets an ICMP or ICMPv6 echo id (bytes 4-5), checksum
// updated.
func setICMPID(l4 []byte, id uint16, p *packet.Packet) {
	old := binary.BigEndian.Uint16(l4[4:])
	binary.BigEndian.PutUint16(l4[2:], packet.UpdateChecksum16(binary.BigEndian.Uint16(l4[2:]), old, id))
	binary.BigEndian.PutUint16(l4[4:], id)
	if p != nil {
		p.ICMPID = id
	}
}
