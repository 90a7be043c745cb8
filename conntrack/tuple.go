package conntrack

import (
	"encoding/binary"
	"net/netip"
	"strconv"

	"github.com/ipsift/ipsift/ext"
)

// IP protocol numbers conntrack has trackers for. Every other protocol
// is tracked by the generic tracker (addresses only, 600 s).
const (
	protoICMP    = 1
	protoTCP     = 6
	protoUDP     = 17
	protoGRE     = 47
	protoICMPv6  = 58
	protoUDPLite = 136
)

// Tuple is one direction of a connection, as the kernel's
// nf_conntrack_tuple holds it for both families: addresses, the
// protocol's identifying numbers, the protocol and the family (the
// kernel's src.l3num). It is a small comparable value and the key of
// the table; one table holds both families, as the kernel's does, and
// the family keeps an IPv4 tuple apart from an IPv6 one whose address
// bytes happen to agree.
//
// Src and Dst are laid out as the kernel's union nf_inet_addr: an IPv6
// address in all 16 bytes, an IPv4 address in the first 4 with the
// rest zero (which is also what the kernel's NAT hashes, see bestIP).
// Build tuples with MakeTuple or TupleOf, read addresses with SrcAddr
// and DstAddr.
//
// SrcPort and DstPort hold what the kernel's tuple holds in src.u and
// dst.u: TCP, UDP and UDP-Lite ports; for ICMP and ICMPv6 the echo (or
// timestamp, info, address-mask) identifier in SrcPort and
// type<<8|code in DstPort; for GRE the source and destination keys (the
// PPTP call id); zero for every other protocol.
type Tuple struct {
	Src, Dst         [16]byte
	SrcPort, DstPort uint16
	Proto            uint8
	V6               bool // an IPv6 tuple (l3num NFPROTO_IPV6); false for IPv4
}

// MakeTuple returns the tuple with addresses src and dst (both IPv4 or
// both IPv6; an IPv4-mapped IPv6 address is IPv6, as it is on the wire),
// ports (see Tuple) and protocol. ok is false when the families differ
// or an address is invalid.
func MakeTuple(src, dst netip.Addr, sport, dport uint16, proto uint8) (t Tuple, ok bool) {
	switch {
	case src.Is4() && dst.Is4():
		t.Src, t.Dst = addr4(src.As4()), addr4(dst.As4())
	case src.Is6() && dst.Is6():
		t.Src, t.Dst, t.V6 = src.As16(), dst.As16(), true
	default:
		return Tuple{}, false
	}
	t.SrcPort, t.DstPort, t.Proto = sport, dport, proto
	return t, true
}

// addr4 is an IPv4 address in nf_inet_addr layout.
func addr4(a [4]byte) (r [16]byte) {
	copy(r[:4], a[:])
	return r
}

// v4 is the IPv4 address held in an nf_inet_addr.
func v4(a [16]byte) [4]byte { return [4]byte(a[:4]) }

// addrOf returns the address a of a tuple of family v6.
func addrOf(a [16]byte, v6 bool) netip.Addr {
	if v6 {
		return netip.AddrFrom16(a)
	}
	return netip.AddrFrom4(v4(a))
}

// SrcAddr returns the source address.
func (t Tuple) SrcAddr() netip.Addr { return addrOf(t.Src, t.V6) }

// DstAddr returns the destination address.
func (t Tuple) DstAddr() netip.Addr { return addrOf(t.Dst, t.V6) }

// ICMPType returns the ICMP type of an ICMP or ICMPv6 tuple.
func (t Tuple) ICMPType() uint8 { return uint8(t.DstPort >> 8) }

// ICMPCode returns the ICMP code of an ICMP or ICMPv6 tuple.
func (t Tuple) ICMPCode() uint8 { return uint8(t.DstPort) }

// ConnTuple converts t to the ext package's form.
func (t Tuple) ConnTuple() ext.ConnTuple {
	return ext.ConnTuple{Src: t.SrcAddr(), Dst: t.DstAddr(), SrcPort: t.SrcPort, DstPort: t.DstPort, Proto: t.Proto}
}

// TupleOf converts an ext.ConnTuple to a Tuple; ok is false when its
// addresses are not both IPv4 or both IPv6.
func TupleOf(c ext.ConnTuple) (t Tuple, ok bool) {
	return MakeTuple(c.Src, c.Dst, c.SrcPort, c.DstPort, c.Proto)
}

// icmpInvert maps an ICMP query type to the type of its answer, plus one
// (zero: no answer type, so no connection), as the kernel's invmap.
var icmpInvert = [19]uint8{
	8: 0 + 1, 0: 8 + 1, // echo, echo reply
	13: 14 + 1, 14: 13 + 1, // timestamp
	15: 16 + 1, 16: 15 + 1, // information
	17: 18 + 1, 18: 17 + 1, // address mask
}

// icmpv6Invert is icmpInvert for ICMPv6, indexed by type-128: echo
// and node information (RFC 4620) queries and their replies.
var icmpv6Invert = [13]uint8{
	0: 129 + 1, 1: 128 + 1, // echo request (128), reply (129)
	11: 140 + 1, 12: 139 + 1, // node information query (139), reply (140)
}

// Invert returns the tuple of the other direction, as the kernel's
// nf_ct_invert_tuple: addresses and ports swapped; for ICMP and ICMPv6
// the id kept and the type replaced by its answer's. ok is false for an
// ICMP type that has no answer (errors, and types the kernel does not
// track). As in the kernel, the protocol number decides, not the
// family: ICMP in an IPv6 packet is inverted as ICMP (the ICMP tracker
// then refuses the packet for its family).
func (t Tuple) Invert() (r Tuple, ok bool) {
	r.Src, r.Dst, r.Proto, r.V6 = t.Dst, t.Src, t.Proto, t.V6
	var inv uint8
	switch {
	case t.Proto == protoICMP:
		if typ := t.ICMPType(); int(typ) < len(icmpInvert) {
			inv = icmpInvert[typ]
		}
	case t.Proto == protoICMPv6:
		if typ := int(t.ICMPType()) - 128; typ >= 0 && typ < len(icmpv6Invert) {
			inv = icmpv6Invert[typ]
		}
	default:
		r.SrcPort, r.DstPort = t.DstPort, t.SrcPort
		return r, true
	}
	if inv == 0 {
		return Tuple{}, false
	}
	r.SrcPort = t.SrcPort
	r.DstPort = uint16(inv-1)<<8 | t.DstPort&0xff
	return r, true
}

// String returns the tuple as conntrack -L prints one direction:
// "src=A dst=B sport=P dport=Q" (ICMP "type=T code=C id=I", GRE
// "srckey=0xK dstkey=0xK", other protocols addresses only).
func (t Tuple) String() string { return string(t.appendTo(nil)) }

func (t Tuple) appendTo(b []byte) []byte {
	b = append(b, "src="...)
	b = t.SrcAddr().AppendTo(b)
	b = append(b, " dst="...)
	b = t.DstAddr().AppendTo(b)
	switch t.Proto {
	case protoTCP, protoUDP, protoUDPLite:
		b = append(b, " sport="...)
		b = strconv.AppendUint(b, uint64(t.SrcPort), 10)
		b = append(b, " dport="...)
		b = strconv.AppendUint(b, uint64(t.DstPort), 10)
	case protoICMP, protoICMPv6:
		b = append(b, " type="...)
		b = strconv.AppendUint(b, uint64(t.ICMPType()), 10)
		b = append(b, " code="...)
		b = strconv.AppendUint(b, uint64(t.ICMPCode()), 10)
		b = append(b, " id="...)
		b = strconv.AppendUint(b, uint64(t.SrcPort), 10)
	case protoGRE:
		b = append(b, " srckey=0x"...)
		b = strconv.AppendUint(b, uint64(t.SrcPort), 16)
		b = append(b, " dstkey=0x"...)
		b = strconv.AppendUint(b, uint64(t.DstPort), 16)
	}
	return b
}

// hash returns a 64-bit mix of the tuple for picking a shard; it is not
// the kernel's hash (which is keyed by a boot-time random secret) and
// nothing observable depends on it except the early-drop order, which
// ipsift defines for itself (see Table).
func (t Tuple) hash() uint64 {
	a := uint64(binary.BigEndian.Uint32(t.Src[:]))<<32 | uint64(binary.BigEndian.Uint32(t.Dst[:]))
	b := uint64(t.SrcPort)<<24 | uint64(t.DstPort)<<8 | uint64(t.Proto)
	if t.V6 {
		// The other 96 bits of each address, and the family.
		a ^= binary.BigEndian.Uint64(t.Src[4:])*0xff51afd7ed558ccd ^
			binary.BigEndian.Uint64(t.Dst[4:])*0xc4ceb9fe1a85ec53 ^
			uint64(binary.BigEndian.Uint32(t.Src[12:]))<<32 ^ uint64(binary.BigEndian.Uint32(t.Dst[12:]))
		b |= 1 << 40
	}
	h := a*0x9e3779b97f4a7c15 ^ b*0xc2b2ae3d27d4eb4f
	h ^= h >> 31
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 29
	return h
}
