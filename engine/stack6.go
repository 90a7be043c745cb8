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
// does after INPUT (../shared/formats/packets.md, "IPv6"). It walks the
// extension headers as ip6_input does: a Routing header of type 0 with
// segments left draws a Parameter Problem pointing at its type, a
// Segment Routing header is dropped silently, a fragment waits for
// reassembly (not modelled: the stack answers no fragment), No Next
// Header ends the packet, and an unknown upper-layer protocol draws a
// Parameter Problem pointing at the Next Header byte that named it.
// Then TCP to a closed port gets a RST, UDP an ICMPv6 port unreachable,
// an echo request an echo reply unless echo is ignored, and a neighbour
// solicitation for an address of the input interface a neighbour
// advertisement.
func (e *Engine) hostStack6(p *Program, s *State) {
	pk := &s.pkt
	c := &s.ctx
	c.Hook = ext.LocalIn
	d := pk.Data[:pk.TotalLen]
	next, nhoff, off := pk.NextHdr, 6, 40
	var answer []byte
	fragmented := false // an atomic Fragment header was stepped over
walk:
	for {
		switch next {
		case packet.ProtoHopOpts, packet.ProtoDstOpts, packet.ProtoRouting:
			if off+8 > len(d) {
				return
			}
			h := d[off:]
			if next == packet.ProtoRouting && h[3] != 0 {
				if h[2] == 0 {
					answer = ext.BuildICMPv6Error(c, 4, 0, uint32(off+2)) // ICMPV6_HDR_FIELD at the type
					break walk
				}
				s.note("the host's stack drops a routing header of type " + itoa(int(h[2])) + " with segments left")
				return
			}
			nhoff, off = off, off+(int(h[1])+1)*8
			next = h[0]
		case packet.ProtoFragment:
			if off+8 > len(d) {
				return
			}
			if fragmented {
				// ipv6_frag_rcv refuses a second Fragment header
				// (IP6SKB_FRAGMENTED): a parameter problem pointing
				// at it.
				answer = ext.BuildICMPv6Error(c, 4, 0, uint32(off))
				break walk
			}
			fragmented = true
			if fo := binary.BigEndian.Uint16(d[off+2:]); fo&0xfff9 != 0 {
				if fo&1 != 0 && (len(d)-off-8)%8 != 0 {
					// ipv6_frag_rcv: a fragment with more to come
					// must carry a multiple of 8 bytes; the answer
					// points at the Payload Length.
					answer = ext.BuildICMPv6Error(c, 4, 0, 4)
					break walk
				}
				s.note("the host's stack reassembles fragments after INPUT (not modelled: no answer)")
				return
			}
			nhoff, off, next = off, off+8, d[off]
		case packet.ProtoNoNext:
			return
		default:
			break walk
		}
	}
	if answer == nil {
		if !knownProtos6[next] {
			answer = ext.BuildICMPv6Error(c, 4, 1, uint32(nhoff)) // ICMPV6_UNK_NEXTHDR
		} else if off <= len(d) {
			answer = e.answer6(s, d, off, next)
		}
	}
	if answer == nil {
		return
	}
	s.hostBuf = append(s.hostBuf[:0], answer...)
	s.hostReplying = true
	isErr := answer[6] == packet.ProtoICMPv6 && answer[40] < 128
	origin := s.origin()
	s.icmpLocked = answer[6] == packet.ProtoICMPv6
	e.sendReply(p, s, s.hostBuf, origin, isErr && next != packet.ProtoUDP)
	s.hostReplying, s.icmpLocked = false, false
}

// answer6 is the upper-layer protocol's answer to the packet d whose
// header of protocol proto starts at off.
func (e *Engine) answer6(s *State, d []byte, off int, proto uint8) []byte {
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
		return ext.BuildReset6(c)
	case packet.ProtoUDP:
		if len(l4) < 8 || st.Listening[host.Socket{Proto: packet.ProtoUDP, Port: binary.BigEndian.Uint16(l4[2:])}] {
			return nil
		}
		// __udp6_lib_rcv: a length field below 8 or beyond the packet,
		// a zero or wrong checksum: dropped; the datagram is trimmed to
		// its length field before the port unreachable quotes it.
		ulen := int(binary.BigEndian.Uint16(l4[4:]))
		if ulen < 8 || ulen > len(l4) || l4[6] == 0 && l4[7] == 0 || !checksum6OK(d, l4[:ulen], proto) {
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
				return echoReply6(d, l4)
			}
		case 135:
			return e.neighbourAdvert(s, d, l4)
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
// data back, from the address asked (the reference host ignores echo
// requests).
func echoReply6(d, l4 []byte) []byte {
	b := make([]byte, 40+len(l4))
	copy(b[40:], l4)
	b[40] = 129
	ext.PutICMPv6Packet(b, addr16(d[24:40]), addr16(d[8:24]), 64)
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
