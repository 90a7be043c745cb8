package packet

import (
	"encoding/binary"
	"errors"
	"net/netip"
)

// Errors Decode returns. They are fixed values, not formatted messages,
// so that a flood of malformed packets costs no allocation; each matches
// one of the checks the kernel's ip_rcv makes before netfilter sees a
// packet, so a packet Decode rejects is one the kernel drops unseen.
var (
	ErrShort     = errors.New("packet: shorter than an IPv4 header (20 bytes)")
	ErrVersion   = errors.New("packet: IP version is not 4")
	ErrHeaderLen = errors.New("packet: IPv4 header length (IHL) below 5")
	ErrTotalLen  = errors.New("packet: IPv4 total length below the header length")
	ErrTruncated = errors.New("packet: IPv4 total length beyond the bytes given")
)

// Fixed header sizes, as the kernel reads them (sizeof the C structs).
const (
	ipv4HdrLen = 20 // struct iphdr without options
	tcpHdrLen  = 20 // struct tcphdr without options
	udpHdrLen  = 8  // struct udphdr
	icmpHdrLen = 8  // struct icmphdr
)

// Decode makes p a view of the IPv4 packet in data, which starts at the
// IP header. It copies nothing and allocates nothing: p.Data, p.L4 and
// the slices the accessors return alias data, so data must not change
// while p is in use (except through p's own rewrite methods).
//
// Decode fails only when the IP header itself is unusable: data shorter
// than 20 bytes (ErrShort), a version other than 4 (ErrVersion), an IHL
// below 5 (ErrHeaderLen), a total length below IHL*4 (ErrTotalLen) or
// beyond len(data) (ErrTruncated). On failure p is the zero Packet.
//
// On success p.Data is data[:TotalLen]: bytes after the total length
// (link-layer padding) are dropped, as the kernel trims them. Everything
// past the IP header is described, never rejected: a missing or short
// transport header leaves L4Fixed and L4OK false and the transport fields
// zero; a later fragment (FragOff != 0) has no transport header at all.
// The IP header checksum is not verified (see IPChecksumOK). IP options
// are skipped, not parsed.
func (p *Packet) Decode(data []byte) error {
	*p = Packet{}
	if len(data) < ipv4HdrLen {
		return ErrShort
	}
	if data[0]>>4 != 4 {
		return ErrVersion
	}
	hl := int(data[0]&0x0f) * 4
	if hl < ipv4HdrLen {
		return ErrHeaderLen
	}
	total := int(binary.BigEndian.Uint16(data[2:4]))
	if total < hl {
		return ErrTotalLen
	}
	if total > len(data) {
		return ErrTruncated
	}
	data = data[:total]
	frag := binary.BigEndian.Uint16(data[6:8])

	p.Data = data
	p.Version = 4
	p.HdrLen = hl
	p.TotalLen = total
	p.TOS = data[1]
	p.ID = binary.BigEndian.Uint16(data[4:6])
	p.DF = frag&0x4000 != 0
	p.MF = frag&0x2000 != 0
	p.FragOff = frag & 0x1fff
	p.TTL = data[8]
	p.Proto = data[9]
	p.Src = netip.AddrFrom4([4]byte(data[12:16]))
	p.Dst = netip.AddrFrom4([4]byte(data[16:20]))
	p.L4 = data[hl:total]

	if p.FragOff != 0 {
		// A later fragment carries the middle of the datagram, not a
		// transport header: the kernel's matches see fragoff != 0 and
		// refuse to look (ports, flags and types never match).
		return nil
	}
	l4 := p.L4
	switch p.Proto {
	case ProtoTCP:
		if len(l4) < tcpHdrLen {
			return nil
		}
		p.L4Fixed = true
		p.SrcPort = binary.BigEndian.Uint16(l4[0:2])
		p.DstPort = binary.BigEndian.Uint16(l4[2:4])
		p.Seq = binary.BigEndian.Uint32(l4[4:8])
		p.Ack = binary.BigEndian.Uint32(l4[8:12])
		p.TCPDoff = int(l4[12]>>4) * 4
		p.TCPFlags = l4[13]
		p.Window = binary.BigEndian.Uint16(l4[14:16])
		// conntrack's tcp_error: "truncated packet" unless
		// 20 <= doff <= segment length.
		p.L4OK = p.TCPDoff >= tcpHdrLen && p.TCPDoff <= len(l4)
	case ProtoUDP:
		if len(l4) < udpHdrLen {
			return nil
		}
		p.L4Fixed, p.L4OK = true, true
		p.SrcPort = binary.BigEndian.Uint16(l4[0:2])
		p.DstPort = binary.BigEndian.Uint16(l4[2:4])
	case ProtoICMP:
		if len(l4) < icmpHdrLen {
			return nil
		}
		p.L4Fixed, p.L4OK = true, true
		p.ICMPType = l4[0]
		p.ICMPCode = l4[1]
		p.ICMPID = binary.BigEndian.Uint16(l4[4:6])
		p.ICMPSeq = binary.BigEndian.Uint16(l4[6:8])
	default:
		// Nothing this package reads: only "not a later fragment".
		p.L4Fixed, p.L4OK = true, true
	}
	return nil
}

// TCPOptions returns the TCP options: the bytes from offset 20 up to the
// data offset, as a sub-slice of p.Data (no copy). It returns nil when
// the packet is not TCP, has no options (data offset 20), or L4OK is
// false (truncated header, data offset below 20 or beyond the segment,
// later fragment), so check L4OK to tell "none" from "unreadable". The
// slice's capacity is capped at its length, so appending to it cannot
// overwrite the payload.
func (p *Packet) TCPOptions() []byte {
	if p.Proto != ProtoTCP || !p.L4OK || p.TCPDoff <= tcpHdrLen {
		return nil
	}
	return p.L4[tcpHdrLen:p.TCPDoff:p.TCPDoff]
}

// Payload returns what follows the transport header, up to the IP total
// length, as a sub-slice of p.Data (no copy): after the data offset for
// TCP, after 8 bytes for UDP and ICMP (for ICMP errors that is the
// quoted packet), and all of L4 for other protocols and for later
// fragments, which carry no transport header. The UDP length field is
// not consulted. It returns nil when L4OK is false for a first fragment
// or unfragmented packet (the header itself is incomplete), and an empty
// non-nil slice when the header is complete but nothing follows.
func (p *Packet) Payload() []byte {
	if p.Version != 4 {
		return nil
	}
	if p.FragOff != 0 {
		return p.L4
	}
	if !p.L4OK {
		return nil
	}
	switch p.Proto {
	case ProtoTCP:
		return p.L4[p.TCPDoff:]
	case ProtoUDP:
		return p.L4[udpHdrLen:]
	case ProtoICMP:
		return p.L4[icmpHdrLen:]
	}
	return p.L4
}

// IsICMPError reports whether the packet is an ICMP error message (type
// 3 destination unreachable, 4 source quench, 5 redirect, 11 time
// exceeded or 12 parameter problem) with its 8-byte header present: the
// messages that quote an offending packet and that conntrack relates to
// that packet's connection.
func (p *Packet) IsICMPError() bool {
	return p.Proto == ProtoICMP && p.L4OK && isICMPErrorType(p.ICMPType)
}

func isICMPErrorType(t uint8) bool {
	switch t {
	case 3, 4, 5, 11, 12:
		return true
	}
	return false
}
