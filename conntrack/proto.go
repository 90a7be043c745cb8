package conntrack

import (
	"encoding/binary"
	"net/netip"

	"github.com/ipsift/ipsift/packet"
)

// tupleOf is the kernel's nf_ct_get_tuple for the IPv4 packet p (not a
// later fragment), into *t: ports for TCP, UDP and UDP-Lite (4 bytes
// needed), type, code and id for ICMP (8 bytes), keys for GRE, nothing
// for the rest. It fills t in place: a Tuple is 38 bytes, and this is
// the hot path of every packet.
func tupleOf(p *packet.Packet, t *Tuple) bool {
	*t = Tuple{Proto: p.Proto}
	a, b := p.Src.As4(), p.Dst.As4()
	copy(t.Src[:4], a[:])
	copy(t.Dst[:4], b[:])
	return l4Tuple(t, p.L4)
}

// l4Tuple fills in the protocol part of *t from the transport bytes l4.
func l4Tuple(t *Tuple, l4 []byte) bool {
	switch t.Proto {
	case protoTCP, protoUDP, protoUDPLite:
		if len(l4) < 4 {
			return false
		}
		t.SrcPort = binary.BigEndian.Uint16(l4[0:])
		t.DstPort = binary.BigEndian.Uint16(l4[2:])
	case protoICMP, protoICMPv6:
		// Either ICMP in either family, as nf_ct_get_tuple reads it.
		if len(l4) < 8 {
			return false
		}
		t.DstPort = uint16(l4[0])<<8 | uint16(l4[1])
		t.SrcPort = binary.BigEndian.Uint16(l4[4:])
	case protoGRE:
		// Only PPTP's enhanced GRE (version 1) has a key conntrack
		// uses; everything else is tracked like the generic protocol.
		if len(l4) < 4 || l4[1]&7 != 1 || len(l4) < 8 {
			return true
		}
		if binary.BigEndian.Uint16(l4[2:]) != 0x880b { // GRE_PROTO_PPP
			return false
		}
		t.DstPort = binary.BigEndian.Uint16(l4[6:]) // call id; the source key needs the PPTP helper
	}
	return true
}

// checksums reports whether conntrack checks p's transport checksum:
// nf_conntrack_checksum on, at PREROUTING (pre), and only for a packet
// whose checksum the kernel would check (not L4Verified).
func (t *Table) checksums(p *packet.Packet, pre bool) bool {
	return pre && t.cfg.Checksum && !p.L4Verified
}

// l4ChecksumOK verifies the transport checksum as the kernel's
// nf_ip_checksum and nf_ip6_checksum do for a packet that arrived
// without checksum offload: TCP and UDP with the pseudo-header over all
// bytes after the IP header (IPv6: after the extension headers), ICMP
// over the same bytes alone. The IPv6 pseudo-header holds the addresses
// of the IPv6 header itself, not a routing header's final destination.
func l4ChecksumOK(p *packet.Packet) bool {
	if p.L4Verified {
		return true // CHECKSUM_UNNECESSARY: nf_ip_checksum does not sum
	}
	switch p.Proto {
	case protoTCP, protoUDP:
		return packet.ChecksumAdd(pseudoSum(p, p.Proto, len(p.L4)), p.L4) == 0xffff
	case protoICMP:
		// nf_ip_checksum sums ICMP from the IP header on (skb_checksum
		// from offset 0 at PREROUTING), and a valid IP header sums to
		// 0xffff, ones' complement minus zero: added to the ICMP bytes'
		// sum it changes nothing, except that an ICMP message of zero
		// bytes only (sum plus zero) comes out as minus zero too, valid.
		s := packet.ChecksumAdd(0, p.L4)
		return s == 0xffff || s == 0
	}
	return true
}

// pseudoSum is the pseudo-header sum of p's family for a transport
// length of n bytes.
func pseudoSum(p *packet.Packet, proto uint8, n int) uint32 {
	if p.Version == 6 {
		return packet.PseudoHeaderSum6(p.Src, p.Dst, proto, n)
	}
	return packet.PseudoHeaderSum(p.Src, p.Dst, proto, n)
}

// udpPacket is the kernel's nf_conntrack_udp_packet: 30 s until the
// connection has seen a reply; then each packet refreshes it, with the
// stream timeout (and ASSURED) only once the connection is more than
// two seconds old.
func (t *Table) udpPacket(e *Entry, p *packet.Packet, dir int, pre bool, nowJ int64) int {
	// udp_error
	if !p.L4Fixed {
		return vInvalid // short packet
	}
	udplen := len(p.L4)
	if l := int(binary.BigEndian.Uint16(p.L4[4:])); l > udplen || l < 8 {
		return vInvalid // truncated/malformed packet
	}
	if binary.BigEndian.Uint16(p.L4[6:]) != 0 && t.checksums(p, pre) && !l4ChecksumOK(p) {
		return vInvalid // bad checksum
	}
	c := &e.conn
	st := c.status.Load()
	if st&IPSConfirmed == 0 {
		c.streamTS = nowJ + 2*int64(t.hz)
	}
	if st&IPSSeenReply != 0 {
		extra := t.udpTimeout
		stream := false
		if nowJ-c.streamTS > 0 { // time_after(jiffies, stream_ts)
			extra = t.udpStreamTimeout
			stream = st&IPSAssured == 0
		}
		c.refresh(dir, p.TotalLen, nowJ, extra)
		if st&IPSNATClash != 0 {
			return vAccept // never ASSURED: they go soon
		}
		if stream {
			t.setAssured(e)
		}
	} else {
		c.refresh(dir, p.TotalLen, nowJ, t.udpTimeout)
	}
	return vAccept
}

// udplitePacket is the kernel's nf_conntrack_udplite_packet: like UDP,
// but the checksum is mandatory and may cover only part of the
// datagram, and a replied connection is a stream (and ASSURED) at once.
func (t *Table) udplitePacket(e *Entry, p *packet.Packet, dir int, pre bool, nowJ int64) int {
	// udplite_error: a header cut short (the ports, which made the
	// tuple, are only its first four bytes) is INVALID. The decoder
	// does not know UDP-Lite, so L4Fixed alone does not promise 8 bytes.
	if !p.L4Fixed || len(p.L4) < 8 {
		return vInvalid
	}
	udplen := len(p.L4)
	cscov := int(binary.BigEndian.Uint16(p.L4[4:]))
	if cscov == 0 {
		cscov = udplen
	} else if cscov < 8 || cscov > udplen {
		return vInvalid // invalid checksum coverage
	}
	if binary.BigEndian.Uint16(p.L4[6:]) == 0 {
		return vInvalid // checksum missing
	}
	// The kernel checks the covered bytes with nf_checksum_partial,
	// passing IPPROTO_UDP. For IPv4 its CHECKSUM_NONE path hands
	// protocol and length to csum_tcpudp_nofold in swapped order: the
	// pseudo-header then holds 17 plus the low byte of the length, not
	// 136 plus the length. So a UDP-Lite packet with an RFC 3828
	// checksum that comes in is INVALID, exactly as in the kernel
	// (checked by the kernel tests); only one summed the kernel's way
	// passes. IPv6's csum_ipv6_magic takes them in the right order, but
	// still with protocol 17, not 136.
	if t.checksums(p, pre) {
		n := udplen
		if p.Version == 4 {
			n &= 0xff
		}
		if packet.ChecksumAdd(pseudoSum(p, protoUDP, n), p.L4[:cscov]) != 0xffff {
			return vInvalid
		}
	}
	c := &e.conn
	st := c.status.Load()
	if st&IPSSeenReply != 0 {
		c.refresh(dir, p.TotalLen, nowJ, t.udpStreamTimeout)
		if st&IPSNATClash != 0 {
			return vAccept
		}
		t.setAssured(e)
	} else {
		c.refresh(dir, p.TotalLen, nowJ, t.udpTimeout)
	}
	return vAccept
}

// icmpValidNew lists the ICMP types that can start a connection.
func icmpValidNew(typ uint8) bool { return typ == 8 || typ == 13 || typ == 15 || typ == 17 }

// icmpPacket is the kernel's nf_conntrack_icmp_packet: only a query
// (echo, timestamp, information, address mask request) makes a
// connection; every packet refreshes it to 30 s. ICMP in an IPv6
// packet is INVALID (the tracker refuses another family).
func (t *Table) icmpPacket(e *Entry, p *packet.Packet, dir int, nowJ int64) int {
	if e.tuple[0].V6 || !icmpValidNew(e.tuple[0].ICMPType()) {
		return vInvalid // e.g. an echo reply without a request
	}
	e.refresh(dir, p.TotalLen, nowJ, t.icmpTimeout)
	return vAccept
}

// grePacket is the kernel's nf_conntrack_gre_packet: 30 s until replied,
// then 180 s and ASSURED.
func (t *Table) grePacket(e *Entry, p *packet.Packet, dir int, nowJ int64) int {
	c := &e.conn
	st := c.status.Load()
	if st&IPSSeenReply != 0 {
		c.refresh(dir, p.TotalLen, nowJ, t.greStreamTimeout)
		if st&IPSNATClash != 0 {
			return vAccept
		}
		t.setAssured(e)
	} else {
		c.refresh(dir, p.TotalLen, nowJ, t.greTimeout)
	}
	return vAccept
}

// handlePacket is the kernel's nf_conntrack_handle_packet.
func (t *Table) handlePacket(e *Entry, p *packet.Packet, dir int, pre bool, nowJ int64) int {
	switch e.tuple[0].Proto {
	case protoTCP:
		return t.tcpPacket(e, p, dir, pre, nowJ)
	case protoUDP:
		return t.udpPacket(e, p, dir, pre, nowJ)
	case protoUDPLite:
		return t.udplitePacket(e, p, dir, pre, nowJ)
	case protoICMP:
		return t.icmpPacket(e, p, dir, nowJ)
	case protoICMPv6:
		return t.icmpv6Packet(e, p, dir, nowJ)
	case protoGRE:
		return t.grePacket(e, p, dir, nowJ)
	}
	e.refresh(dir, p.TotalLen, nowJ, t.genericTimeout)
	return vAccept
}

// ICMP error handling results.
const (
	icmpNotError = iota // not an error: track the packet itself
	icmpInvalid
	icmpRelated
	icmpUntracked // ICMPv6 neighbour discovery and MLD
)

func icmpIsError(typ uint8) bool {
	switch typ {
	case 3, 4, 5, 11, 12:
		return true
	}
	return false
}

// icmpError is the kernel's nf_conntrack_icmpv4_error and
// nf_conntrack_inet_error: check an ICMP packet and, for an error,
// relate it to the connection of the packet it quotes.
func (t *Table) icmpError(p *packet.Packet, pre bool, nowJ int64) (int, *Entry, int) {
	if !p.L4Fixed {
		return icmpInvalid, nil, 0 // short packet
	}
	if t.checksums(p, pre) && !l4ChecksumOK(p) {
		return icmpInvalid, nil, 0 // bad checksum
	}
	if p.ICMPType > 18 {
		return icmpInvalid, nil, 0 // invalid icmp type
	}
	if !icmpIsError(p.ICMPType) {
		return icmpNotError, nil, 0
	}
	// The quoted packet: its IP header, then its transport header.
	l4 := p.L4
	in := l4[8:]
	if len(in) < 20 {
		return icmpInvalid, nil, 0
	}
	if binary.BigEndian.Uint16(in[6:])&0x1fff != 0 {
		return icmpInvalid, nil, 0 // a later fragment has no ports
	}
	dataoff := 8 + int(in[0]&0x0f)*4
	if dataoff > len(l4) {
		return icmpInvalid, nil, 0
	}
	orig := Tuple{Src: addr4([4]byte(in[12:16])), Dst: addr4([4]byte(in[16:20])), Proto: in[9]}
	if !l4Tuple(&orig, l4[dataoff:]) {
		return icmpInvalid, nil, 0
	}
	return t.relate(orig, p.Dst, nowJ)
}

// icmpv6Packet is the kernel's nf_conntrack_icmpv6_packet: only an echo
// request or a node information query (RFC 4620) makes a connection;
// every packet refreshes it to 30 s. ICMPv6 in an IPv4 packet is
// INVALID (the tracker refuses another family).
func (t *Table) icmpv6Packet(e *Entry, p *packet.Packet, dir int, nowJ int64) int {
	if !e.tuple[0].V6 {
		return vInvalid
	}
	if e.status.Load()&IPSConfirmed == 0 {
		if typ := e.tuple[0].ICMPType(); typ != packet.ICMPv6EchoRequest && typ != icmpv6NIQuery {
			return vInvalid // can't create a new ICMPv6 conn with this
		}
	}
	e.refresh(dir, p.TotalLen, nowJ, t.icmpv6Timeout)
	return vAccept
}

// icmpv6NIQuery is the ICMPv6 node information query (RFC 4620).
const icmpv6NIQuery = 139

// icmpv6Untracked reports the ICMPv6 types conntrack leaves untracked
// (noct_valid_new): MLD queries, reports and done (130-132, 143),
// router and neighbour discovery (133-136) and multicast router
// advertisement and solicitation (151, 152).
func icmpv6Untracked(typ uint8) bool {
	switch typ {
	case 130, 131, 132, 133, 134, 135, 136, 143, 151, 152:
		return true
	}
	return false
}

// icmpv6Error is the kernel's nf_conntrack_icmpv6_error and
// nf_conntrack_inet_error, for the ICMPv6 header l4 (conntrack's view:
// after ipv6_skip_exthdr): check the message, leave neighbour
// discovery and MLD untracked and, for an error (type below 128),
// relate it to the connection of the packet it quotes.
func (t *Table) icmpv6Error(p *packet.Packet, l4 []byte, pre bool, nowJ int64) (int, *Entry, int) {
	if len(l4) < 8 {
		return icmpInvalid, nil, 0 // short packet
	}
	if t.checksums(p, pre) &&
		packet.ChecksumAdd(packet.PseudoHeaderSum6(p.Src, p.Dst, protoICMPv6, len(l4)), l4) != 0xffff {
		return icmpInvalid, nil, 0 // ICMPv6 checksum failed
	}
	typ := l4[0]
	if icmpv6Untracked(typ) {
		return icmpUntracked, nil, 0
	}
	if typ >= 128 {
		return icmpNotError, nil, 0
	}
	// The quoted packet. Conntrack's walk and ip6_tables' agree on
	// where a complete ICMPv6 header is, so the decoded view holds it.
	q, ok := p.QuotedV6()
	if !ok {
		return icmpInvalid, nil, 0
	}
	orig := Tuple{Src: q.Src.As16(), Dst: q.Dst.As16(), Proto: q.Proto, V6: true}
	if !l4Tuple(&orig, q.L4) {
		return icmpInvalid, nil, 0
	}
	return t.relate(orig, p.Dst, nowJ)
}

// relate is the end of nf_conntrack_inet_error: the connection of the
// quoted packet whose tuple is orig (it travelled the other way, so its
// inverse is looked up), provided the error goes where that
// connection's packets in that direction go (outer destination dst).
func (t *Table) relate(orig Tuple, dst netip.Addr, nowJ int64) (int, *Entry, int) {
	inner, ok := orig.Invert()
	if !ok {
		return icmpInvalid, nil, 0
	}
	e, dir := t.lookup(inner, nowJ)
	if e == nil {
		return icmpInvalid, nil, 0
	}
	if e.tuple[dir].DstAddr() != dst {
		return icmpInvalid, nil, 0
	}
	return icmpRelated, e, dir
}
