package packet

import (
	"encoding/binary"
	"net/netip"
)

// ICMPv6 types with a meaning here.
const (
	ICMPv6DstUnreach    = 1
	ICMPv6PacketTooBig  = 2
	ICMPv6TimeExceeded  = 3
	ICMPv6ParamProblem  = 4
	ICMPv6EchoRequest   = 128
	ICMPv6EchoReply     = 129
	ICMPv6RouterSolicit = 133
	ICMPv6RouterAdvert  = 134
	ICMPv6NeighSolicit  = 135
	ICMPv6NeighAdvert   = 136
	ICMPv6Redirect      = 137
)

// ICMPv6Param returns bytes 4-7 of an ICMPv6 header as one number: the
// MTU of a Packet Too Big, the pointer of a Parameter Problem. It is 0
// unless the packet is ICMPv6 with its 8-byte header (L4Fixed).
func (p *Packet) ICMPv6Param() uint32 {
	if p.Version != 6 || p.Proto != ProtoICMPv6 || !p.L4Fixed {
		return 0
	}
	return binary.BigEndian.Uint32(p.L4[4:8])
}

// Quoted is the packet an ICMPv6 error quotes, as conntrack reads it to
// find the connection the error is about.
type Quoted struct {
	Src, Dst netip.Addr
	// Proto is the quoted packet's upper-layer protocol, found by
	// SkipExthdr from its IPv6 header (so behind its extension headers)
	// and Off where that header starts in the outer packet's Data.
	Proto uint8
	Off   int
	// L4 is the outer packet from Off to its end: what the quoted
	// upper-layer header left in the error (empty if Off is beyond).
	L4 []byte
	// The quoted ports (TCP, UDP, UDP-Lite: their first 4 bytes) or
	// ICMPv6 header (type, code, identifier: 8 bytes), when that many
	// bytes are in L4; conntrack's tuple rules read L4 themselves.
	SrcPort, DstPort   uint16
	ICMPType, ICMPCode uint8
	ICMPID             uint16
}

// QuotedV6 returns the packet quoted by an ICMPv6 error (IsICMPError),
// read as nf_conntrack_icmpv6's error path reads it (icmpv6_error,
// nf_conntrack_inet_error, ipv6_get_l4proto): the quoted IPv6 header
// starts 8 bytes into the ICMPv6 message and must be all there (40
// bytes); from it SkipExthdr finds the quoted upper layer, reading up
// to the end of the outer packet. ok is false where that fails: the
// quoted header cut short, No Next Header, an extension header cut off,
// or a later fragment (conntrack then
// finds no connection, and the error is INVALID). The quoted header's
// version and payload length are not checked, as conntrack does not
// check them. Whether the upper-layer bytes suffice (4 for ports, 8
// for ICMPv6) is the tuple code's to say, from L4.
func (p *Packet) QuotedV6() (q Quoted, ok bool) {
	if !p.IsICMPError() || p.Version != 6 {
		return Quoted{}, false
	}
	at := p.HdrLen + icmpHdrLen
	b := p.Data
	if at+ipv6HdrLen > len(b) {
		return Quoted{}, false
	}
	w := SkipExthdr(b, at+ipv6HdrLen, b[at+6])
	if w.Err != ExtOK || w.FragOff != 0 {
		return Quoted{}, false
	}
	q = Quoted{
		Src:   netip.AddrFrom16([16]byte(b[at+8 : at+24])),
		Dst:   netip.AddrFrom16([16]byte(b[at+24 : at+40])),
		Proto: w.Proto,
		Off:   w.Off,
	}
	if w.Off < len(b) {
		q.L4 = b[w.Off:]
	}
	switch w.Proto {
	case ProtoTCP, ProtoUDP, protoUDPLite:
		if len(q.L4) >= 4 {
			q.SrcPort = binary.BigEndian.Uint16(q.L4[0:])
			q.DstPort = binary.BigEndian.Uint16(q.L4[2:])
		}
	case ProtoICMPv6:
		if len(q.L4) >= 8 {
			q.ICMPType, q.ICMPCode = q.L4[0], q.L4[1]
			q.ICMPID = binary.BigEndian.Uint16(q.L4[4:])
		}
	}
	return q, true
}

// protoUDPLite is UDP-Lite's protocol number, whose ports are where
// UDP's are.
const protoUDPLite = 136

// ndFixed is the length of a neighbour discovery message before its
// options (RFC 4861): router solicitation 8, advertisement 16, neighbour
// solicitation and advertisement 24, redirect 40; 0 for other types.
func ndFixed(t uint8) int {
	switch t {
	case ICMPv6RouterSolicit:
		return 8
	case ICMPv6RouterAdvert:
		return 16
	case ICMPv6NeighSolicit, ICMPv6NeighAdvert:
		return 24
	case ICMPv6Redirect:
		return 40
	}
	return 0
}

// NDTarget returns the Target Address of a neighbour solicitation or
// advertisement, or of a redirect; ok is false for other packets and
// when the message is too short to hold it.
func (p *Packet) NDTarget() (netip.Addr, bool) {
	if p.Version != 6 || p.Proto != ProtoICMPv6 || !p.L4Fixed {
		return netip.Addr{}, false
	}
	switch p.ICMPType {
	case ICMPv6NeighSolicit, ICMPv6NeighAdvert, ICMPv6Redirect:
	default:
		return netip.Addr{}, false
	}
	if len(p.L4) < 24 {
		return netip.Addr{}, false
	}
	return netip.AddrFrom16([16]byte(p.L4[8:24])), true
}

// NDOption returns the first option of type typ (1 source link-layer
// address, 2 target link-layer address, 3 prefix information, 4
// redirected header, 5 MTU) of a neighbour discovery message (types
// 133-137), the whole option, type and length bytes included, as a
// sub-slice of Data. ok is false when there is none, the packet is not
// neighbour discovery, or the options are malformed before it is found:
// an option of length 0 or running past the end, which makes the
// kernel's ndisc_parse_options reject the whole message.
func (p *Packet) NDOption(typ uint8) (opt []byte, ok bool) {
	if p.Version != 6 || p.Proto != ProtoICMPv6 || !p.L4Fixed {
		return nil, false
	}
	n := ndFixed(p.ICMPType)
	if n == 0 || len(p.L4) < n {
		return nil, false
	}
	o := p.L4[n:]
	for len(o) >= 2 {
		l := int(o[1]) * 8
		if l == 0 || l > len(o) {
			return nil, false
		}
		if o[0] == typ {
			return o[:l:l], true
		}
		o = o[l:]
	}
	return nil, false
}

// NDLinkAddr returns the Ethernet address in a source (typ 1) or target
// (typ 2) link-layer address option of a neighbour discovery message:
// the first 6 bytes of the option's data. ok is false without such an
// option (see NDOption).
func (p *Packet) NDLinkAddr(typ uint8) (MAC, bool) {
	o, ok := p.NDOption(typ)
	if !ok || len(o) < 8 {
		return MAC{}, false
	}
	return MAC(o[2:8]), true
}
