package datapath

import (
	"net/netip"

	"github.com/ipsift/ipsift/packet"
)

// The IP header fields the packet loop compares and restores, for both
// families (the family is the version nibble, data, not a second copy
// of the loop).

// minHeader is the length an IP packet of b's version needs at least:
// 20 for IPv4, 40 for IPv6, or 0 when b is neither.
func minHeader(b []byte) int {
	if len(b) == 0 {
		return 0
	}
	switch b[0] >> 4 {
	case 4:
		return 20
	case 6:
		return 40
	}
	return 0
}

func isIPv6(b []byte) bool { return b[0]>>4 == 6 }

// srcAddr and dstAddr return the address bytes of a packet whose
// header minHeader vouched for.
func srcAddr(b []byte) []byte {
	if isIPv6(b) {
		return b[8:24]
	}
	return b[12:16]
}

func dstAddr(b []byte) []byte {
	if isIPv6(b) {
		return b[24:40]
	}
	return b[16:20]
}

// restoreHop hands back the TTL or hop limit the engine saw before it
// forwarded the packet: the kernel's ip_forward or ip6_forward lowers it
// itself, so the packet loses one, not two. IPv6 has no header checksum.
func restoreHop(b []byte) {
	if isIPv6(b) {
		b[7]++
		return
	}
	setTTL(b, b[8]+1)
}

// ports6 is portsOf for IPv6: the TCP or UDP ports after the extension
// headers, as the engine's decoder finds them; none for a later
// fragment.
func ports6(b []byte) ([]byte, bool) {
	var p packet.Packet
	if p.Decode(b) != nil || !p.L4Fixed || p.IsLaterFragment() || (p.Proto != packet.ProtoTCP && p.Proto != packet.ProtoUDP) {
		return nil, false
	}
	return b[p.HdrLen : p.HdrLen+4], true
}

// addrFrom reads an address of either family from its bytes.
func addrFrom(a []byte) netip.Addr {
	ip, _ := netip.AddrFromSlice(a)
	return ip
}
