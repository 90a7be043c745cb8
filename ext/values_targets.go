package ext

import (
	"encoding/binary"
	"net/netip"
)

// This file holds the helpers the targets share: Internet checksums
// (full and incremental, as the kernel's csum_replace2/4 and
// inet_proto_csum_replace do) and the few raw-header accessors that
// targets rewriting packets in place need. Matches may use them too.

// Checksum returns the Internet checksum (RFC 1071) of b, folded and
// complemented, with initial added first (initial is a partial sum, e.g.
// a pseudo header from PseudoSum). A result of 0 means b (with initial)
// sums to all ones, i.e. the checksum inside b is correct.
func Checksum(b []byte, initial uint32) uint16 {
	return ^fold(sum16(b, initial))
}

// PseudoSum returns the partial sum of the IPv4 pseudo header of TCP and
// UDP checksums: source, destination, protocol and the layer-4 length.
func PseudoSum(src, dst netip.Addr, proto uint8, l4len int) uint32 {
	s := src.As4()
	d := dst.As4()
	sum := uint32(s[0])<<8 | uint32(s[1])
	sum += uint32(s[2])<<8 | uint32(s[3])
	sum += uint32(d[0])<<8 | uint32(d[1])
	sum += uint32(d[2])<<8 | uint32(d[3])
	sum += uint32(proto)
	sum += uint32(l4len)
	return sum
}

func sum16(b []byte, sum uint32) uint32 {
	n := len(b)
	i := 0
	for ; i+1 < n; i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
		if sum >= 1<<31 {
			sum = sum&0xffff + sum>>16
		}
	}
	if i < n {
		sum += uint32(b[i]) << 8
	}
	return sum
}

func fold(sum uint32) uint16 {
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return uint16(sum)
}

// CsumReplace2 updates a checksum field value check (as stored in the
// header) for a 16-bit word of the covered data changing from old to
// new, the way the kernel's csum_replace2 does (RFC 1624, eqn. 3), so
// that the result equals a full recomputation.
func CsumReplace2(check, old, new uint16) uint16 {
	sum := uint32(^check) + uint32(^old) + uint32(new)
	return ^fold(sum)
}

// CsumReplace4 is CsumReplace2 for a 32-bit word (an address).
func CsumReplace4(check uint16, old, new uint32) uint16 {
	sum := uint32(^check) + uint32(^uint16(old>>16)) + uint32(^uint16(old)) +
		uint32(uint16(new>>16)) + uint32(uint16(new))
	return ^fold(sum)
}

// SetIPv4HeaderChecksum recomputes the header checksum of the IPv4
// header at the start of b (ihl taken from b), as ip_send_check does.
func SetIPv4HeaderChecksum(b []byte) {
	if len(b) < 20 {
		return
	}
	hl := int(b[0]&0x0f) * 4
	if hl < 20 || hl > len(b) {
		return
	}
	b[10], b[11] = 0, 0
	binary.BigEndian.PutUint16(b[10:], Checksum(b[:hl], 0))
}

// ipv4Word replaces the 16-bit word at offset off of the IPv4 header in
// b with v and fixes the header checksum incrementally, as the mangle
// targets (TTL, TOS, DSCP, ECN) do with csum_replace2.
func ipv4Word(b []byte, off int, v uint16) {
	old := binary.BigEndian.Uint16(b[off:])
	if old == v {
		return
	}
	binary.BigEndian.PutUint16(b[off:], v)
	check := binary.BigEndian.Uint16(b[10:])
	binary.BigEndian.PutUint16(b[10:], CsumReplace2(check, old, v))
}

// ReciprocalScale maps a 32-bit hash onto [0, n) as the kernel's
// reciprocal_scale does.
func ReciprocalScale(v, n uint32) uint32 { return uint32(uint64(v) * uint64(n) >> 32) }
