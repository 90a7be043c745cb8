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
	protoUDPLite = 136
)

// Tuple is one direction of a connection, as the kernel's
// nf_conntrack_tuple holds it for IPv4: addresses, the protocol's
// identifying numbers and the protocol. It is a small comparable value
// and the key of the table.
//
// SrcPort and DstPort hold what the kernel's tuple holds in src.u and
// dst.u: TCP, UDP and UDP-Lite ports; for ICMP the echo (or timestamp,
// info, address-mask) identifier in SrcPort and type<<8|code in
// DstPort; for GRE the source and destination keys (the PPTP call id);
// zero for every other protocol.
type Tuple struct {
	Src, Dst         [4]byte
	SrcPort, DstPort uint16
	Proto            uint8
}

// SrcAddr returns the source address.
func (t Tuple) SrcAddr() netip.Addr { return netip.AddrFrom4(t.Src) }

// DstAddr returns the destination address.
func (t Tuple) DstAddr() netip.Addr { return netip.AddrFrom4(t.Dst) }

// ICMPType returns the ICMP type of an ICMP tuple.
func (t Tuple) ICMPType() uint8 { return uint8(t.DstPort >> 8) }

// ICMPCode returns the ICMP code of an ICMP tuple.
func (t Tuple) ICMPCode() uint8 { return uint8(t.DstPort) }

// ConnTuple converts t to the ext package's form.
func (t Tuple) ConnTuple() ext.ConnTuple {
	return ext.ConnTuple{Src: t.SrcAddr(), Dst: t.DstAddr(), SrcPort: t.SrcPort, DstPort: t.DstPort, Proto: t.Proto}
}

// TupleOf converts an ext.ConnTuple (IPv4 only) to a Tuple; ok is false
// for addresses that are not IPv4.
func TupleOf(c ext.ConnTuple) (t Tuple, ok bool) {
	if !c.Src.Is4() || !c.Dst.Is4() {
		return Tuple{}, false
	}
	return Tuple{Src: c.Src.As4(), Dst: c.Dst.As4(), SrcPort: c.SrcPort, DstPort: c.DstPort, Proto: c.Proto}, true
}

// icmpInvert maps an ICMP query type to the type of its answer, plus one
// (zero: no answer type, so no connection), as the kernel's invmap.
var icmpInvert = [19]uint8{
	8: 0 + 1, 0: 8 + 1, // echo, echo reply
	13: 14 + 1, 14: 13 + 1, // timestamp
	15: 16 + 1, 16: 15 + 1, // information
	17: 18 + 1, 18: 17 + 1, // address mask
}

// Invert returns the tuple of the other direction, as the kernel's
// nf_ct_invert_tuple: addresses and ports swapped; for ICMP the id kept
// and the type replaced by its answer's. ok is false for an ICMP type
// that has no answer (errors, and types the kernel does not track).
func (t Tuple) Invert() (r Tuple, ok bool) {
	r.Src, r.Dst, r.Proto = t.Dst, t.Src, t.Proto
	if t.Proto == protoICMP {
		typ := t.ICMPType()
		if int(typ) >= len(icmpInvert) || icmpInvert[typ] == 0 {
			return Tuple{}, false
		}
		r.SrcPort = t.SrcPort
		r.DstPort = uint16(icmpInvert[typ]-1)<<8 | t.DstPort&0xff
		return r, true
	}
	r.SrcPort, r.DstPort = t.DstPort, t.SrcPort
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
	case protoICMP:
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
	h := a*0x9e3779b97f4a7c15 ^ b*0xc2b2ae3d27d4eb4f
	h ^= h >> 31
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 29
	return h
}

// le32 is an IPv4 address's four bytes read as the kernel reads a
// __be32 through a u32 pointer on a little-endian machine (x86), which
// is how jhash2 sees addresses in find_best_ips_proto.
func le32(a [4]byte) uint32 { return binary.LittleEndian.Uint32(a[:]) }

func be32(a [4]byte) uint32 { return binary.BigEndian.Uint32(a[:]) }

func addrFromBE(v uint32) (a [4]byte) {
	binary.BigEndian.PutUint32(a[:], v)
	return a
}
