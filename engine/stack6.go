package engine

import (
	"encoding/binary"
	"net/netip"
	"strconv"

	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/host"
	"github.com/ipsift/ipsift/packet"
)

// The upper-layer protocols the reference host's IPv6 stack speaks; any
// other Next Header (AH included: this kernel has no IPv6 AH) draws a
// Parameter Problem "unknown next header".
var knownProtos6 = [256]bool{packet.ProtoTCP: true, packet.ProtoUDP: true, packet.ProtoICMPv6: true, 136: true}

// hostStack6 answers what the host was sent over IPv6, as its stack
// does after INPUT (../shared/formats/packets.md, "IPv6"), and decides
// whether the packet was delivered: one the stack drops on the way is
// not (the verdict becomes drop, as the kernel's Ip6InDelivers and
// Ip6InUnknownProtos, which the differential harness reads, stay).
//
// It walks the headers as ip6_protocol_deliver_rcu does, from the
// transport header ip6_rcv_core left (after a Hop-by-Hop header, which
// it checked before PREROUTING: hopByHop6): each extension header's
// handler, then the upper-layer protocol. Where nf_defrag_ipv6
// reassembled the datagram (IPv6 connection tracking), nf_ct_frag6_reasm
// reset the transport header to where the Fragment header was, so the
// handler of the first header after the IPv6 (or Hop-by-Hop) header
// reads the bytes that followed the Fragment header (s.defragThoff):
// a Routing or Destination Options header there makes the kernel parse
// the upper-layer header as one (it usually drops the packet as too
// short). See stackWalk6 for the headers.
func (e *Engine) hostStack6(p *Program, s *State) {
	pk := &s.pkt
	s.ctx.Hook = ext.LocalIn
	d := pk.Data[:pk.TotalLen]
	next, nhoff, off := pk.NextHdr, 6, 40
	if next == packet.ProtoHopOpts && s.hopByHop && len(d) >= 48 {
		nhoff, off, next = 40, 40+(int(d[41])+1)*8, d[40]
	}
	fragmented := false
	if t := s.defragThoff; t > 0 {
		off, next, fragmented = t, d[nhoff], true
	}
	answer, delivered, proto := e.stackWalk6(s, d, next, nhoff, off, fragmented)
	if !delivered && s.Result.Verdict == AcceptLocal {
		s.Result.Verdict = Drop
	}
	if answer == nil {
		return
	}
	s.hostBuf = append(s.hostBuf[:0], answer...)
	s.hostReplying = true
	isErr := answer[6] == packet.ProtoICMPv6 && answer[40] < 128
	origin := s.origin()
	// icmp6_send's errors are attached to the packet's connection,
	// except UDP's port unreachable (UDP calls nf_reset_ct first).
	// icmp6_send and icmpv6_echo_reply send holding the ICMPv6
	// socket's lock (icmpv6_xmit_lock), so a REJECT in OUTPUT cannot
	// answer what they send; ndisc_send_na sends on the ndisc socket,
	// without it.
	s.icmpLocked = answer[6] == packet.ProtoICMPv6 && answer[40] != 136
	e.sendReply(p, s, s.hostBuf, origin, isErr && proto != packet.ProtoUDP)
	s.hostReplying, s.icmpLocked = false, false
}

// stackWalk6 is the walk of hostStack6 over the packet d, whose header
// of type next starts at off, named by the byte at nhoff; fragmented is
// IP6SKB_FRAGMENTED (the datagram was reassembled, or an atomic
// Fragment header was stepped over). It returns the stack's answer,
// whether the packet counts as delivered, and the header that answered
// (the upper-layer protocol, or the extension header):
//   - a Hop-by-Hop header anywhere but first has no handler: a
//     Parameter Problem "unknown next header" (code 1) pointing at the
//     Next Header byte that named it, as for any protocol the host does
//     not speak (AH included: this kernel has no IPv6 AH); that counts
//     (Ip6InUnknownProtos);
//   - a Destination Options or Routing header cut short is dropped; a
//     Destination Options header's options are checked as
//     ipv6_destopt_rcv does (packet.OptsCheck: dropped, or a Parameter
//     Problem);
//   - a Routing header to a multicast address is dropped, a Segment
//     Routing (4) or RPL (3) one too (seg6 and RPL are off); with
//     segments left any other type (0, deprecated; 2, as this kernel
//     has no Mobile IPv6; or one it does not know) draws a Parameter
//     Problem pointing at its type;
//   - a Fragment header cut short, or a second one (IP6SKB_FRAGMENTED),
//     draws a Parameter Problem (code 0) pointing at it; an atomic one
//     is stepped over; a real fragment whose header chain (walked from
//     the IPv6 header) does not reach its upper-layer header draws a
//     Parameter Problem code 3 (RFC 8200 4.5), one with more to come
//     and a length not a multiple of 8 a Parameter Problem at the
//     payload length, one beyond 65535 bytes a Parameter Problem at its
//     offset; any other waits for reassembly in the stack's own queues
//     (IP6_DEFRAG_LOCAL_DELIVER), and the one that completes its
//     datagram brings the whole, which goes on without its Fragment
//     header from where that was;
//   - No Next Header is delivered and discarded;
//   - then TCP to a closed port gets a RST, UDP an ICMPv6 port
//     unreachable, an echo request an echo reply unless echo is
//     ignored, and a neighbour solicitation for an address of the input
//     interface a neighbour advertisement, unless it came in fragments
//     (ndisc_suppress_frag_ndisc).
func (e *Engine) stackWalk6(s *State, d []byte, next uint8, nhoff, off int, fragmented bool) (answer []byte, delivered bool, proto uint8) {
	pk := &s.pkt
	c := &s.ctx
	for {
		switch next {
		case packet.ProtoDstOpts, packet.ProtoRouting:
			if off+8 > len(d) || off+(int(d[off+1])+1)*8 > len(d) {
				return nil, false, next // pskb_may_pull fails
			}
			h := d[off:]
			if next == packet.ProtoDstOpts {
				switch v, ptr := packet.OptsCheck(d, off, false, pk.Dst.IsMulticast()); v {
				case packet.OptsDrop:
					return nil, false, next
				case packet.OptsParamProb, packet.OptsUnknownOption:
					return ext.BuildICMPv6Error(c, 4, packet.OptsProblemCode(v), uint32(ptr)), false, next
				}
			} else {
				if pk.Dst.IsMulticast() {
					s.note("the host's stack drops a routing header to a multicast address")
					return nil, false, next
				}
				switch typ, left := h[2], h[3]; {
				case typ == 3 || typ == 4:
					s.note("the host's stack drops a routing header of type " + itoa(int(typ)) + " (segment routing is off)")
					return nil, false, next
				case left != 0:
					// unknown_rh: type 0 (deprecated), and type 2 too
					// (this kernel has no Mobile IPv6), and any type
					// the kernel does not know.
					return ext.BuildICMPv6Error(c, 4, 0, uint32(off+2)), false, next // ICMPV6_HDR_FIELD at the type
				}
			}
			nhoff, off, next = off, off+(int(h[1])+1)*8, h[0]
		case packet.ProtoFragment:
			if fragmented || off+8 > len(d) || d[4] == 0 && d[5] == 0 {
				// ipv6_frag_rcv refuses a second Fragment header
				// (IP6SKB_FRAGMENTED), one cut short, and one in a
				// jumbogram: a parameter problem pointing at it.
				return ext.BuildICMPv6Error(c, 4, 0, uint32(off)), false, next
			}
			fragmented = true
			if fo := binary.BigEndian.Uint16(d[off+2:]); fo&0xfff9 != 0 {
				if fragThdrTruncated(d, 40, d[6]) {
					return ext.BuildICMPv6Error(c, 4, 3, 0), false, next // ICMPV6_HDR_INCOMP
				}
				if end := int(fo&^7) + len(d) - off - 8; end > ipv6MaxPayload {
					// ip6_frag_queue: beyond the largest datagram, a
					// parameter problem at the fragment offset.
					return ext.BuildICMPv6Error(c, 4, 0, uint32(off+2)), false, next
				}
				if fo&1 != 0 && (len(d)-off-8)%8 != 0 {
					// ip6_frag_queue: a fragment with more to come
					// must carry a multiple of 8 bytes; the answer
					// points at the Payload Length.
					return ext.BuildICMPv6Error(c, 4, 0, 4), false, next
				}
				iif := ""
				if c.In != nil {
					iif = c.In.Name
				}
				what, whole, _, _, at := e.defrag.add6At(fragLocalDeliver, iif, pk, c.Now)
				if what != defrag6Done || pk.Decode(whole) != nil {
					s.note("the host's stack holds the fragment for reassembly")
					return nil, false, next
				}
				// ip6_frag_reasm: the datagram goes on from where
				// the Fragment header was, without it.
				s.note("the host's stack reassembled: " + pk.Summary())
				d = pk.Data[:pk.TotalLen]
				nhoff, off, next = at.nhoff, at.thoff, d[at.nhoff]
				continue
			}
			nhoff, off, next = off, off+8, d[off]
		case packet.ProtoNoNext:
			return nil, true, next
		default:
			if !knownProtos6[next] {
				// A Hop-by-Hop header here (not first) too.
				return ext.BuildICMPv6Error(c, 4, 1, uint32(nhoff)), true, next // ICMPV6_UNK_NEXTHDR
			}
			if off > len(d) {
				return nil, true, next
			}
			return e.answer6(s, d, off, next, fragmented), true, next
		}
	}
}

// answer6 is the upper-layer protocol's answer to the packet d whose
// header of protocol proto starts at off.
func (e *Engine) answer6(s *State, d []byte, off int, proto uint8, fragmented bool) []byte {
	c := &s.ctx
	l4 := d[off:]
	st := &e.Host.Stack
	switch proto {
	case packet.ProtoTCP:
		if len(l4) < 20 || !checksum6OK(d, l4, proto) || st.Listening[host.Socket{Proto: packet.ProtoTCP, Port: binary.BigEndian.Uint16(l4[2:])}] {
			return nil
		}
		if e.Host.AddrType(s.pkt.Dst, "") != host.RTNLocal {
			// tcp_v6_send_reset answers only a unicast destination of
			// the host's (ipv6_unicast_destination: not an anycast or
			// multicast one).
			return nil
		}
		rst := ext.BuildReset6(c)
		// tcp_v6_send_reset answers with the segment's traffic class,
		// ECN bits cleared (tcp_v6_send_response xmits tclass &
		// ~INET_ECN_MASK); REJECT's RST (nf_reject_ip6hdr_put) has 0.
		ext.PutTrafficClass(rst, s.pkt.TOS&^3)
		return rst
	case packet.ProtoUDP:
		if len(l4) < 8 || st.Listening[host.Socket{Proto: packet.ProtoUDP, Port: binary.BigEndian.Uint16(l4[2:])}] {
			return nil
		}
		// __udp6_lib_rcv: a length field below 8 or beyond the packet,
		// a zero or wrong checksum: dropped; the datagram is trimmed to
		// its length field before the port unreachable quotes it.
		ulen := int(binary.BigEndian.Uint16(l4[4:]))
		if ulen < 8 || ulen > len(l4) || l4[6] == 0 && l4[7] == 0 || !checksum6OK(d, l4[:ulen], proto) || udpSumStale6(s, d, ulen) {
			return nil
		}
		return ext.BuildICMPv6ErrorQuoting(c, 1, 4, 0, off+ulen)
	case packet.ProtoICMPv6:
		if len(l4) < 8 || !checksum6OK(d, l4, proto) {
			return nil
		}
		switch l4[0] {
		case 128:
			if !st.EchoIgnoreAll {
				return echoReply6(d, l4, s.pkt.TOS)
			}
		case 135:
			if !fragmented {
				return e.neighbourAdvert(s, d, l4)
			}
		}
	}
	return nil
}

// checksum6OK verifies the transport checksum l4 of the IPv6 packet d
// over the pseudo header of d's own addresses.
func checksum6OK(d, l4 []byte, proto uint8) bool {
	sum := packet.PseudoHeaderSum6(addr16(d[8:24]), addr16(d[24:40]), proto, len(l4))
	return packet.ChecksumFinish(packet.ChecksumAdd(sum, l4)) == 0
}

// echoReply6 is icmpv6_echo_reply: the same identifier, sequence and
// data back, from the address asked, with the request's traffic class
// tc, ECN bits included (ipv6_get_dsfield, as the kernel was seen to
// send it); the reference host ignores echo requests. The stack's
// errors (icmp6_send) and neighbour advertisements (ip6_nd_hdr) have
// traffic class 0.
func echoReply6(d, l4 []byte, tc uint8) []byte {
	b := make([]byte, 40+len(l4))
	copy(b[40:], l4)
	b[40] = 129
	ext.PutICMPv6Packet(b, addr16(d[24:40]), addr16(d[8:24]), 64)
	ext.PutTrafficClass(b, tc)
	return b
}

// neighbourAdvert is ndisc_recv_ns answering a neighbour solicitation
// for an address of the input interface: only with hop limit 255, code
// 0, a target that is not multicast, and, from ::, only to a
// solicited-node group. The advertisement goes from the target to the
// solicitation's source (ff02::1 for ::) with hop limit 255 and the
// router (the host forwards) and solicited flags; a solicitation sent to
// a multicast group gets the override flag and a target link-layer
// address option too, a unicast one (neighbour unreachability
// detection) neither.
func (e *Engine) neighbourAdvert(s *State, d, l4 []byte) []byte {
	pk := &s.pkt
	if pk.TTL != 255 || l4[1] != 0 || len(l4) < 24 {
		return nil
	}
	target := addr16(l4[8:24])
	if target.IsMulticast() || s.ctx.In == nil {
		return nil
	}
	if e.Host.AddrType(target, s.ctx.In.Name) != host.RTNLocal {
		return nil
	}
	dst := pk.Src
	if dst.IsUnspecified() {
		if !pk.Dst.IsMulticast() {
			return nil
		}
		dst = allNodes
	}
	multicast := pk.Dst.IsMulticast()
	n := 40 + 24
	if multicast {
		n += 8
	}
	b := make([]byte, n)
	m := b[40:]
	m[0] = 136
	flags := uint32(0xc0000000) // router, solicited
	if multicast && !pk.Src.IsUnspecified() || pk.Src.IsUnspecified() {
		flags |= 0x20000000 // override
	}
	if pk.Src.IsUnspecified() {
		flags &^= 0x40000000 // an answer to duplicate address detection is not solicited
	}
	binary.BigEndian.PutUint32(m[4:], flags)
	copy(m[8:24], l4[8:24])
	if multicast {
		m[24], m[25] = 2, 1 // target link-layer address, 8 bytes
		copy(m[26:32], s.ctx.In.MAC[:])
	}
	ext.PutICMPv6Packet(b, target, dst, 255)
	return b
}

// allNodes is ff02::1, where the answer to duplicate address
// detection goes.
var allNodes = netip.MustParseAddr("ff02::1")

func addr16(b []byte) netip.Addr { return netip.AddrFrom16([16]byte(b)) }

func itoa(n int) string { return strconv.Itoa(n) }

// noteSummed6 records, after conntrack took an arriving IPv6 UDP
// datagram, whether it verified the checksum by summing the bytes:
// nf_ip6_checksum on a skb whose checksum no device vouched for sums
// everything from the IPv6 header on and keeps that sum in skb->csum
// (CHECKSUM_COMPLETE, csum_complete_sw). A zero UDP checksum is not
// checked (udp_error).
func (e *Engine) noteSummed6(s *State) {
	pk := &s.pkt
	if pk.Version != 6 || pk.Proto != packet.ProtoUDP || !pk.L4Fixed || pk.L4Verified ||
		len(pk.L4) < 8 || pk.L4[6] == 0 && pk.L4[7] == 0 || !e.CT.Config().Checksum {
		return
	}
	s.summedHdr6 = hdrSum6(pk.Data)
}

// hdrSum6 is the one's complement sum of an IPv6 header's first 8 bytes
// (traffic class, flow label, payload length, next header, hop limit),
// never 0 (the version nibble is 6), with 0xffff taken as 0: the two
// zeros of a one's complement sum are the same value.
func hdrSum6(d []byte) uint32 {
	v := packet.ChecksumAdd(0, d[:8])
	if v == 0xffff {
		v = 0
	}
	return v | 1<<16
}

// udpSumStale6 reports whether the stack drops the datagram d of ulen
// bytes (its UDP length) as a bad checksum although it is right: the
// HL, TOS or DSCP targets change the IPv6 header without updating the
// sum conntrack kept in skb->csum, so when ip6_protocol_deliver_rcu
// pulls the header off (skb_postpull_rcsum) what remains is off by the
// change. udp6_csum_init then finds the sum wrong, and as software
// computed it (csum_complete_sw) believes it without summing again,
// unless the datagram is at most CHECKSUM_BREAK (76) bytes, which
// __skb_checksum_validate_complete sums anew. Dropped as csum_error:
// neither delivered to a socket nor answered. NAT's rewrites update
// skb->csum and change nothing here; IPv4's header checksum keeps the
// header's sum constant.
func udpSumStale6(s *State, d []byte, ulen int) bool {
	const checksumBreak = 76
	return s.summedHdr6 != 0 && ulen > checksumBreak && hdrSum6(d) != s.summedHdr6
}
