// Package packet decodes and builds IPv4 and IPv6 packets (TCP, UDP,
// ICMP, ICMPv6, IPv6 extension headers) as views over a byte slice, the
// way the kernel's netfilter code sees them: the
// decoder copies nothing and allocates nothing, and a malformed packet is
// described (truncated transport header, fragment) rather than rejected,
// because the firewall above decides what a malformed packet means.
package packet

import (
	"encoding/binary"
	"net/netip"
)

// IP protocol numbers used throughout ipsift.
const (
	ProtoICMP   = 1
	ProtoTCP    = 6
	ProtoUDP    = 17
	ProtoICMPv6 = 58
)

// TCP flag bits as they appear in byte 13 of the TCP header.
const (
	TCPFin = 0x01
	TCPSyn = 0x02
	TCPRst = 0x04
	TCPPsh = 0x08
	TCPAck = 0x10
	TCPUrg = 0x20
	TCPEce = 0x40
	TCPCwr = 0x80
)

// Packet is a decoded view of one IP packet. Data holds the packet from
// the first byte of the IP header; every other field is derived from it by
// Decode (and kept in step by the rewrite helpers). The zero Packet is an
// empty, undecoded packet.
//
// The family is data: Version is 4 or 6 and the same fields describe
// both. For IPv6, HdrLen is the offset of the upper-layer header as
// ip6_tables finds it (after the extension headers; see Decode), TTL
// is the Hop Limit, TOS the Traffic Class, ID is 0 (FragID holds the
// Fragment header's 32-bit Identification) and DF is false.
//
// Fields describing the transport header are valid only when L4OK is
// true: that is, the packet is not a non-first fragment and the bytes
// the kernel would read for that protocol (8 for UDP and ICMP, 20 or the
// data offset for TCP) are present. L4Fixed is the weaker condition that
// only the fixed part of the header is there; Decode fills the transport
// fields whenever L4Fixed holds (see L4Fixed for who needs which).
type Packet struct {
	Data []byte // the IP packet, header first

	Version  uint8 // 4 or 6
	HdrLen   int   // IPv4: header length in bytes (IHL*4); IPv6: offset of the upper-layer header
	TotalLen int   // IPv4: the total-length field; IPv6: 40 + payload length; counters count this many bytes
	TOS      uint8 // IPv4 TOS, IPv6 Traffic Class
	TTL      uint8 // IPv4 TTL, IPv6 Hop Limit
	ID       uint16
	DF, MF   bool
	FragOff  uint16 // fragment offset in 8-byte units
	Proto    uint8  // IPv4 protocol; IPv6: the upper-layer protocol ip6_tables' -p sees
	Src, Dst netip.Addr

	// IPv6 only.
	FlowLabel uint32 // the 20-bit Flow Label
	FragID    uint32 // Identification of the first Fragment header
	NextHdr   uint8  // Next Header of the IPv6 header itself
	// ExtErr is how ip6_tables' walk to the upper-layer header
	// (ipv6_find_hdr, target -1) failed, or ExtOK. When it failed,
	// Proto is 0, HdrLen 40 and no transport field is set: a rule with
	// -p hotdrops such a packet on the legacy backend.
	ExtErr ExtErr

	// Transport view. L4 is Data[HdrLen:TotalLen] (what follows the IP
	// header, possibly short); L4OK reports whether the protocol's header
	// could be read in full, as described above.
	L4   []byte
	L4OK bool
	// L4Fixed reports that the packet is not a non-first fragment and the
	// protocol's fixed header is present: 20 bytes for TCP, 8 for UDP and
	// ICMP. That is exactly what the kernel's matches read: xt_tcpudp's
	// tcp and udp matches read a struct tcphdr (20) or udphdr (8), and
	// icmp_match a struct icmphdr (8), and hotdrop the packet when the
	// read fails. The TCP data offset matters to them only for
	// --tcp-option, whereas conntrack (tcp_error) marks a segment INVALID
	// when its data offset is below 20 or beyond the segment; L4OK adds
	// that check. For UDP and ICMP, L4Fixed == L4OK. For protocols this
	// package does not decode, both only say "not a later fragment".
	L4Fixed bool
	// L4Verified says the transport checksum is known to be correct,
	// as the kernel's CHECKSUM_UNNECESSARY does (a NIC, or a caller,
	// checked it): L4ChecksumOK, connection tracking and REJECT then
	// pass it without summing, as nf_ip_checksum does. Live
	// enforcement sets it for every packet whose checksum the kernel
	// would not check (NFQUEUE's skb info without CSUM_NOTVERIFIED). Decode clears it; whoever sets it must know the
	// checksum is right (rewrites that keep checksums right, as NAT's
	// do, keep it true).
	L4Verified bool
	SrcPort    uint16 // tcp, udp
	DstPort    uint16 // tcp, udp
	// TCP only.
	TCPFlags uint8
	TCPDoff  int // data offset in bytes
	Seq, Ack uint32
	Window   uint16
	// ICMP only.
	ICMPType, ICMPCode uint8
	// ICMPID and ICMPSeq are bytes 4-5 and 6-7 of the ICMP header: the
	// identifier and sequence number of echo, timestamp, information and
	// address-mask messages (conntrack keys ICMP queries by the id).
	// Decode fills them for every ICMP type; for other types they are
	// whatever those bytes hold (unused, MTU, gateway, pointer).
	ICMPID, ICMPSeq uint16
}

// Addrs4 returns an IPv4 packet's source and destination as numbers,
// read from the header, which Decode, SetSrc and SetDst keep in step
// with Src and Dst (one load each instead of As4's conversions). Zero
// for a packet shorter than an IPv4 header.
func (p *Packet) Addrs4() (src, dst uint32) {
	if len(p.Data) < ipv4HdrLen {
		return 0, 0
	}
	h := p.Data[12:20:20]
	return binary.BigEndian.Uint32(h[:4]), binary.BigEndian.Uint32(h[4:])
}

// IsFragment reports whether the packet is any fragment (first or later).
func (p *Packet) IsFragment() bool { return p.MF || p.FragOff != 0 }

// IsLaterFragment reports whether the packet is a non-first fragment: it
// carries no transport header, and iptables' -f matches exactly these.
func (p *Packet) IsLaterFragment() bool { return p.FragOff != 0 }
