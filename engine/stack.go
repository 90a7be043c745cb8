package engine

import (
	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/host"
	"github.com/ipsift/ipsift/packet"
)

// The protocols the reference host's stack speaks; a packet of any
// other protocol delivered to it is answered with an ICMP protocol
// unreachable (and counts in InUnknownProtos).
var knownProtos = [256]bool{packet.ProtoICMP: true, 2: true, packet.ProtoTCP: true, packet.ProtoUDP: true, 136: true}

// hostStack answers what the host was sent, as its own stack does (see
// ../shared/formats/packets.md, "The host's own stack"): a TCP segment
// to a closed port gets a RST (a SYN to a listening one a SYN-ACK), a
// UDP datagram to a closed port an ICMP port unreachable, an unknown
// protocol an ICMP protocol unreachable, an echo request an echo reply
// unless echo is ignored. The answers go out through OUTPUT and
// POSTROUTING like any packet the host sends, and so change connection
// state (a RST closes the connection).
func (e *Engine) hostStack(p *Program, s *State) {
	pk := &s.pkt
	c := &s.ctx
	c.Hook = ext.LocalIn
	st := &e.Host.Stack
	var answer []byte
	switch pk.Proto {
	case packet.ProtoTCP:
		if !pk.L4OK || !pk.L4ChecksumOK() {
			return // tcp_v4_rcv: csum_error, no RST
		}
		if st.Listening[host.Socket{Proto: packet.ProtoTCP, Port: pk.DstPort}] {
			if pk.TCPFlags&(packet.TCPSyn|packet.TCPAck|packet.TCPRst) == packet.TCPSyn {
				answer = synAck(pk)
			}
			break
		}
		if answer = ext.BuildReset(c); answer != nil {
			// tcp_v4_send_reset answers with the segment's TOS, ECN
			// bits cleared (ip_send_unicast_reply); REJECT's RST has 0.
			answer[1] = pk.TOS &^ 3
			ext.SetIPv4HeaderChecksum(answer)
		}
	case packet.ProtoUDP:
		if !pk.L4OK || st.Listening[host.Socket{Proto: packet.ProtoUDP, Port: pk.DstPort}] {
			return
		}
		// __udp4_lib_rcv drops a datagram whose length field is below 8
		// or beyond the packet (short_packet) or whose checksum, when it
		// has one, is wrong (csum_error): no port unreachable for those.
		// It checks the checksum over the length field's bytes only, after
		// trimming the rest away (pskb_trim_rcsum), and the port
		// unreachable quotes the trimmed datagram. So a datagram with
		// bytes beyond its length field (a reassembled one, say) is
		// answered; REJECT's checksum check, over every byte, is not the
		// stack's.
		l4 := pk.Data[pk.HdrLen:pk.TotalLen]
		ulen := int(l4[4])<<8 | int(l4[5])
		if ulen < 8 || ulen > len(l4) || !pk.L4ChecksumOK() {
			return
		}
		answer = ext.BuildICMPErrorQuoting(c, 3, 3, pk.HdrLen+ulen)
	case packet.ProtoICMP:
		if pk.L4OK && pk.ICMPType == 8 && !st.EchoIgnoreAll {
			answer = echoReply(pk)
		}
		if pk.L4OK && pk.ICMPType == 13 && timestampAnswered(e.Host, pk) {
			answer = timestampReply(pk, s.ctx.Now)
		}
	default:
		if !knownProtos[pk.Proto] {
			// ip_local_deliver_finish answers without looking at the
			// transport checksum, unlike REJECT.
			answer = ext.BuildICMPError(c, 3, 2)
		}
	}
	if answer == nil {
		return
	}
	s.hostBuf = append(s.hostBuf[:0], answer...)
	s.hostReplying = true
	// icmp_send's errors are attached to the packet's connection
	// (icmp_glue_bits calls nf_ct_attach), so NOTRACK does not touch
	// them, except where the stack forgot the connection first: UDP
	// calls nf_reset_ct before its port unreachable (a protocol the host
	// does not speak keeps it). The stack's RSTs and replies are tracked
	// as packets of their own.
	icmpError := answer[9] == packet.ProtoICMP && answer[20] == 3 && pk.Proto != packet.ProtoUDP
	origin := s.origin()
	s.icmpLocked = answer[9] == packet.ProtoICMP
	e.sendReply(p, s, s.hostBuf, origin, icmpError)
	s.hostReplying, s.icmpLocked = false, false
}

// timestampAnswered reports whether icmp_rcv hands a timestamp request
// to icmp_timestamp and that answers it: a valid ICMP checksum, not
// sent to a broadcast or multicast address (icmp_echo_ignore_broadcasts
// is on by default), and at least the 4 bytes of the originate
// timestamp after the header.
func timestampAnswered(h *host.Host, pk *packet.Packet) bool {
	l4 := pk.Data[pk.HdrLen:pk.TotalLen]
	if len(l4) < 8+4 || packet.Checksum(l4) != 0 {
		return false
	}
	t := h.AddrType(pk.Dst, "")
	return t != host.RTNBroadcast && t != host.RTNMulticast
}

// timestampReply is icmp_timestamp's answer: the request's header as a
// timestamp reply, its originate timestamp, then the receive and transmit
// timestamps, both the engine clock in milliseconds since midnight UT.
func timestampReply(pk *packet.Packet, now int64) []byte {
	l4 := pk.Data[pk.HdrLen:pk.TotalLen]
	ms := uint32(now / 1_000_000 % 86_400_000)
	icmp := make([]byte, 8+12)
	copy(icmp, l4[:8])
	icmp[0], icmp[1] = 14, 0 // timestamp reply
	copy(icmp[8:12], l4[8:12])
	for _, off := range []int{12, 16} {
		icmp[off], icmp[off+1], icmp[off+2], icmp[off+3] = byte(ms>>24), byte(ms>>16), byte(ms>>8), byte(ms)
	}
	return icmpReply(pk, icmp)
}

// echoReply is the host's answer to an echo request: the same id,
// sequence and data back, from the address asked.
func echoReply(pk *packet.Packet) []byte {
	icmp := append([]byte(nil), pk.Data[pk.HdrLen:pk.TotalLen]...)
	icmp[0] = 0 // echo reply
	return icmpReply(pk, icmp)
}

// icmpReply wraps icmp (its checksum still to compute) in the IP header
// of icmp_reply's answer to pk: from the address asked, back to the
// sender, TTL 64, the request's TOS (ECN bits included, as the kernel
// was seen to send it).
func icmpReply(pk *packet.Packet, icmp []byte) []byte {
	b := make([]byte, 20+len(icmp))
	b[0], b[1], b[8], b[9] = 0x45, pk.TOS, 64, packet.ProtoICMP
	n := len(b)
	b[2], b[3] = byte(n>>8), byte(n)
	src, dst := pk.Dst.As4(), pk.Src.As4()
	copy(b[12:], src[:])
	copy(b[16:], dst[:])
	copy(b[20:], icmp)
	b[22], b[23] = 0, 0
	ck := packet.Checksum(b[20:])
	b[22], b[23] = byte(ck>>8), byte(ck)
	var hp packet.Packet
	if hp.Decode(b) == nil {
		hp.FixChecksums()
	}
	return b
}

// synAck answers a SYN to a listening port. The model's stack sends no
// TCP options and a fixed initial sequence number derived from the
// connection's ports, so runs are reproducible.
func synAck(pk *packet.Packet) []byte {
	b := make([]byte, 40)
	b[0], b[8], b[9] = 0x45, 64, packet.ProtoTCP
	b[2], b[3] = 0, 40
	b[6] = 0x40 // DF
	src, dst := pk.Dst.As4(), pk.Src.As4()
	copy(b[12:], src[:])
	copy(b[16:], dst[:])
	t := b[20:]
	t[0], t[1] = byte(pk.DstPort>>8), byte(pk.DstPort)
	t[2], t[3] = byte(pk.SrcPort>>8), byte(pk.SrcPort)
	isn := uint32(pk.SrcPort)<<16 | uint32(pk.DstPort)
	ack := pk.Seq + 1
	t[4], t[5], t[6], t[7] = byte(isn>>24), byte(isn>>16), byte(isn>>8), byte(isn)
	t[8], t[9], t[10], t[11] = byte(ack>>24), byte(ack>>16), byte(ack>>8), byte(ack)
	t[12] = 5 << 4
	t[13] = packet.TCPSyn | packet.TCPAck
	t[14], t[15] = 0xff, 0xff
	var hp packet.Packet
	if hp.Decode(b) == nil {
		hp.FixChecksums()
	}
	return b
}
