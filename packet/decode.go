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
	ErrVersion   = errors.New("packet: IP version is neither 4 nor 6")
	ErrHeaderLen = errors.New("packet: IPv4 header length (IHL) below 5")
	ErrTotalLen  = errors.New("packet: IPv4 total length below the header length")
	ErrTruncated = errors.New("packet: IPv4 total length beyond the bytes given")
	// The checks of the kernel's ip6_rcv_core on the header's size.
	ErrShort6     = errors.New("packet: shorter than an IPv6 header (40 bytes)")
	ErrTruncated6 = errors.New("packet: IPv6 payload length beyond the bytes given")
)

// Fixed header sizes, as the kernel reads them (sizeof the C structs).
const (
	ipv4HdrLen = 20 // struct iphdr without options
	tcpHdrLen  = 20 // struct tcphdr without options
	udpHdrLen  = 8  // struct udphdr
	icmpHdrLen = 8  // struct icmphdr
)

// Decode makes p a view of the IPv4 or IPv6 packet in data, which starts
// at the IP header (see decode6 below for IPv6). It copies nothing and allocates nothing: p.Data, p.L4 and
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
		if data[0]>>4 == 6 {
			return p.decode6(data)
		}
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
	p.decodeL4()
	return nil
}

// decodeL4 fills the transport fields from p.L4 for p.Proto, for a
// packet that is not a later fragment.
func (p *Packet) decodeL4() {
	l4 := p.L4
	switch p.Proto {
	case ProtoTCP:
		if len(l4) < tcpHdrLen {
			return
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
			return
		}
		p.L4Fixed, p.L4OK = true, true
		p.SrcPort = binary.BigEndian.Uint16(l4[0:2])
		p.DstPort = binary.BigEndian.Uint16(l4[2:4])
	case ProtoICMP, ProtoICMPv6:
		// Both families' ICMP headers have type, code, checksum and
		// four bytes whose meaning depends on the type. Each family's
		// ICMP is decoded in that family only: the kernel's icmp match
		// is IPv4's and icmp6 IPv6's, so ICMPv6 in an IPv4 packet is
		// just another protocol.
		if p.Proto != p.icmpProto() {
			p.L4Fixed, p.L4OK = true, true
			return
		}
		if len(l4) < icmpHdrLen {
			return
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
}

// icmpProto is the ICMP protocol of p's family: 1, or 58 for IPv6.
func (p *Packet) icmpProto() uint8 {
	if p.Version == 6 {
		return ProtoICMPv6
	}
	return ProtoICMP
}

// decode6 is Decode for an IPv6 packet (data[0]>>4 == 6, len(data) >= 20).
//
// It fails, leaving p zero, only where the kernel's ip6_rcv_core drops
// the packet for its size: fewer than 40 bytes (ErrShort6), or a payload
// length beyond the bytes given (ErrTruncated6). Then, as the kernel,
// it trims data to 40 + payload length, except for a payload length of
// 0 with a Hop-by-Hop header next, which ip6_rcv_core leaves untrimmed
// (a jumbogram, RFC 2675; whether its options are acceptable is the
// stack's business, see OptsCheck). TotalLen is the length kept. The
// address checks ip6_rcv_core also makes (multicast source, loopback
// addresses, multicast scopes 0 and 1) are left to the caller, which
// knows the interface.
//
// The upper-layer protocol is the one ip6_tables' -p sees: ipv6_find_hdr
// with target -1 (FindHdr), stepping over Hop-by-Hop, Routing, Fragment,
// Destination Options and AH headers. Proto and HdrLen are its result;
// ExtErr says how it failed. MF, FragOff and FragID describe the first
// Fragment header (the one reassembly uses), whatever the walk did. The
// transport fields are decoded at HdrLen, as for IPv4, unless the walk
// failed or stopped at a later fragment (Proto is then the Next Header
// of the Fragment header, and L4 the fragment's data). ICMPv6 fills the
// ICMP fields. nftables and conntrack walk differently: see NftProto
// and ConntrackProto. When the walk stops at a later fragment behind
// another Fragment header, FragOff is that later fragment's offset (the
// one the matches see), MF and FragID still the first header's.
func (p *Packet) decode6(data []byte) error {
	if len(data) < ipv6HdrLen {
		return ErrShort6
	}
	next := data[6]
	total := ipv6HdrLen + int(binary.BigEndian.Uint16(data[4:6]))
	if total == ipv6HdrLen && next == ProtoHopOpts {
		total = len(data)
	} else if total > len(data) {
		return ErrTruncated6
	}
	data = data[:total]
	v := binary.BigEndian.Uint32(data[0:4])

	p.Data = data
	p.Version = 6
	p.TotalLen = total
	p.TOS = uint8(v >> 20)
	p.FlowLabel = v & 0xfffff
	p.TTL = data[7]
	p.NextHdr = next
	p.Src = netip.AddrFrom16([16]byte(data[8:24]))
	p.Dst = netip.AddrFrom16([16]byte(data[24:40]))

	if !IsExtHdr(next) {
		// The common case: no extension header at all.
		p.HdrLen = ipv6HdrLen
		p.Proto = next
		p.L4 = data[ipv6HdrLen:]
		p.decodeL4()
		return nil
	}
	ff := -1
	w := findHdr(data, ipv6HdrLen, next, -1, 0, &ff)
	if ff >= 0 && ff+8 <= len(data) {
		fo := binary.BigEndian.Uint16(data[ff+2:])
		p.FragOff = fo >> 3
		p.MF = fo&1 != 0
		p.FragID = binary.BigEndian.Uint32(data[ff+4:])
	}
	if w.Err != ExtOK {
		p.ExtErr = w.Err
		p.HdrLen = ipv6HdrLen
		p.L4 = data[ipv6HdrLen:]
		return nil
	}
	p.Proto = w.Proto
	p.HdrLen = min(w.Off, total)
	p.L4 = data[p.HdrLen:]
	if w.FragOff != 0 {
		// The walk stopped at a later fragment behind a first (or
		// atomic) Fragment header: that offset is the one ip6_tables
		// hands its matches (tcp, udp never match such a packet).
		p.FragOff = w.FragOff
	}
	if w.FragOff == 0 && p.FragOff == 0 {
		p.decodeL4()
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
// non-nil slice when the header is complete but nothing follows. For
// IPv6 the transport header is the one at HdrLen (ICMPv6's is 8 bytes);
// when the walk to it failed (ExtErr), Payload is all of L4, what
// follows the IPv6 header.
func (p *Packet) Payload() []byte {
	if p.Version != 4 && p.Version != 6 {
		return nil
	}
	if p.FragOff != 0 || p.ExtErr != ExtOK {
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
	case p.icmpProto():
		return p.L4[icmpHdrLen:]
	}
	return p.L4
}

// IsICMPError reports whether the packet is an ICMP error message (type
// 3 destination unreachable, 4 source quench, 5 redirect, 11 time
// exceeded or 12 parameter problem) with its 8-byte header present: the
// messages that quote an offending packet and that conntrack relates to
// that packet's connection.
//
// For IPv6 it reports an ICMPv6 error: a type below 128 (the kernel's
// icmpv6_is_err and conntrack's icmpv6_error both test that), of which
// 1-4 are defined.
func (p *Packet) IsICMPError() bool {
	if p.Version == 6 {
		return p.Proto == ProtoICMPv6 && p.L4OK && p.ICMPType < 128
	}
	return p.Proto == ProtoICMP && p.L4OK && isICMPErrorType(p.ICMPType)
}

func isICMPErrorType(t uint8) bool {
	switch t {
	case 3, 4, 5, 11, 12:
		return true
	}
	return false
}
