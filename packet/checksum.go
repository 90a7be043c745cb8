package packet

import (
	"encoding/binary"
	"errors"
	"math/bits"
	"net/netip"
)

// The Internet checksum (RFC 1071) is the one's complement of the one's
// complement sum of the data taken as big-endian 16-bit words. The helpers
// below keep a running sum as a uint32 that is always folded back to 16
// bits, so sums can be chained without overflow.

// ChecksumAdd adds the bytes of b to the running one's complement sum
// sum and returns the new sum, folded to 16 bits (0..0xffff). Start a
// sum with 0. If len(b) is odd, its last byte is taken as the high byte
// of a word whose low byte is zero, as RFC 1071 pads; so only the last
// piece of a chained sum may have odd length.
func ChecksumAdd(sum uint32, b []byte) uint32 {
	// The bytes are summed as little-endian 64-bit words with the
	// carries added back in (a one's complement sum of 64-bit words is
	// that of their 16-bit words, once folded), and the folded sum is
	// byte-swapped at the end: a one's complement sum taken in the other
	// byte order is the byte-swapped sum (RFC 1071, 2.(B)). The running
	// sum comes in and goes out in network order.
	sum = sum&0xffff + sum>>16
	sum = sum&0xffff + sum>>16
	n := len(b) &^ 7
	s := addWords(uint64(bits.ReverseBytes16(uint16(sum))), b[:n])
	var c uint64
	if k := len(b) - n; k > 0 && n > 0 {
		// The last k bytes: the last 8 of b, shifted down past the
		// bytes already summed, so that the first of them is the low
		// byte (an even offset) and the missing ones are zeros (the
		// pad of an odd length, RFC 1071).
		w := binary.LittleEndian.Uint64(b[len(b)-8:]) >> (64 - 8*k)
		s, c = bits.Add64(s, w, 0)
		s += c // s was all ones: it wrapped to 0, and the carry is 1
	} else if k > 0 {
		s = s&0xffffffff + s>>32
		for b = b[n:]; len(b) >= 2; b = b[2:] {
			s += uint64(binary.LittleEndian.Uint16(b))
		}
		if len(b) == 1 {
			s += uint64(b[0]) // the high byte of a big-endian word
		}
	}
	// Folded without a loop: 64 bits to 33, to 32, to 17, to 16.
	s = s&0xffffffff + s>>32
	s = s&0xffffffff + s>>32
	s = s&0xffff + s>>16
	s = s&0xffff + s>>16
	return uint32(bits.ReverseBytes16(uint16(s)))
}

// addWordsGo is addWords in Go: the 64-bit words added with
// bits.Add64's carry, eight at a time, and the last carry added back.
func addWordsGo(s uint64, b []byte) uint64 {
	var c uint64
	for ; len(b) >= 64; b = b[64:] {
		w := b[:64:64] // one bounds check for the eight words
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(w[0:8]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(w[8:16]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(w[16:24]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(w[24:32]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(w[32:40]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(w[40:48]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(w[48:56]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(w[56:64]), c)
	}
	for ; len(b) >= 8; b = b[8:] {
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b), c)
	}
	s, c = bits.Add64(s, c, 0)
	return s + c // s was all ones: it wrapped to 0, and the carry is 1
}

// ChecksumFinish returns the checksum field value for the running sum
// sum: its one's complement after folding. A sum of 0 (only zero words)
// gives 0xffff, as the kernel's csum_fold does.
func ChecksumFinish(sum uint32) uint16 {
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// Checksum returns the Internet checksum of b: the value to store in a
// checksum field that was zero while b was summed. Summing data that
// already contains a correct checksum gives 0.
func Checksum(b []byte) uint16 {
	return ChecksumFinish(ChecksumAdd(0, b))
}

// PseudoHeaderSum returns the running sum of the TCP/UDP pseudo-header
// for IPv4 (RFC 793, RFC 768): source and destination address, protocol
// and the transport length (header plus data). Addresses that are not
// IPv4 (including IPv4-mapped IPv6) contribute nothing; length is taken
// modulo 65536, as the 16-bit field holds it.
func PseudoHeaderSum(src, dst netip.Addr, proto uint8, length int) uint32 {
	// The four 16-bit words of the addresses added as numbers, then
	// folded once (ChecksumAdd's loop costs more than these eight bytes).
	var s uint32
	if src.Is4() {
		a := src.As4()
		s += uint32(a[0])<<8 | uint32(a[1])
		s += uint32(a[2])<<8 | uint32(a[3])
	}
	if dst.Is4() {
		a := dst.As4()
		s += uint32(a[0])<<8 | uint32(a[1])
		s += uint32(a[2])<<8 | uint32(a[3])
	}
	return foldAdd(s, uint32(proto)+uint32(uint16(length)))
}

// PseudoHeaderSum6 returns the running sum of the IPv6 pseudo-header
// (RFC 8200 section 8.1) that TCP, UDP and ICMPv6 checksums cover:
// source and destination address (IPv4 addresses as their IPv4-mapped
// form), the upper-layer packet length as 32 bits, and the Next Header
// value.
func PseudoHeaderSum6(src, dst netip.Addr, proto uint8, length int) uint32 {
	a, b := src.As16(), dst.As16()
	s := ChecksumAdd(ChecksumAdd(0, a[:]), b[:])
	s = foldAdd(s, uint32(length>>16)&0xffff)
	s = foldAdd(s, uint32(length)&0xffff)
	return foldAdd(s, uint32(proto))
}

// pseudoSum is the pseudo-header sum of src's family.
func pseudoSum(src, dst netip.Addr, proto uint8, length int) uint32 {
	if src.Is4() {
		return PseudoHeaderSum(src, dst, proto, length)
	}
	return PseudoHeaderSum6(src, dst, proto, length)
}

func foldAdd(s, v uint32) uint32 {
	s += v
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return s
}

// UpdateChecksum16 returns checksum cs after one 16-bit word covered by
// it changed from from to to, without re-reading the data (RFC 1624,
// equation 3: HC' = ~(~HC + ~m + m')). When cs was computed from scratch
// (Checksum, FixChecksums) the result is exactly what a fresh computation
// over the new data gives, including the choice between the two one's
// complement zeros: both give 0xffff only for data that is all zeros.
func UpdateChecksum16(cs, from, to uint16) uint16 {
	s := uint32(^cs) + uint32(^from) + uint32(to)
	return ChecksumFinish(s)
}

// UpdateChecksum32 is UpdateChecksum16 for a 32-bit value (an IPv4
// address) aligned on a 16-bit boundary of the covered data.
func UpdateChecksum32(cs uint16, from, to uint32) uint16 {
	s := uint32(^cs) +
		uint32(^uint16(from>>16)) + uint32(^uint16(from)) +
		to>>16 + to&0xffff
	return ChecksumFinish(s)
}

// UpdateChecksum128 is UpdateChecksum16 for a 128-bit value (an IPv6
// address) aligned on a 16-bit boundary of the covered data.
func UpdateChecksum128(cs uint16, from, to [16]byte) uint16 {
	s := uint32(^cs)
	for i := 0; i < 16; i += 2 {
		s += uint32(^binary.BigEndian.Uint16(from[i:])) + uint32(binary.BigEndian.Uint16(to[i:]))
	}
	return ChecksumFinish(s)
}

// Checksum field offsets inside the transport header.
const (
	tcpCsumOff  = 16
	udpCsumOff  = 6
	icmpCsumOff = 2
)

// FixChecksums recomputes from scratch and stores the IPv4 header
// checksum and, unless the packet is a later fragment, the TCP, UDP or
// ICMP checksum over L4 (TCP and UDP with the pseudo-header). Use it
// after building or editing a packet by hand; NAT should use the Set
// methods, which update checksums incrementally.
//
// Edges: it does nothing on an undecoded packet. A transport checksum is
// written only when the checksum field itself is present (TCP 18 bytes,
// UDP 8, ICMP 4). The UDP checksum is always computed, even if it was 0
// ("none"), and a computed 0 is stored as 0xffff (RFC 768); it covers
// the UDP length field's bytes when 8 <= that length <= len(L4), else
// all of L4. For a first fragment (MF set) the transport checksum can
// only cover the bytes at hand, which is not what the receiver will
// check against the reassembled datagram; callers building fragments
// should fix checksums before fragmenting. Other protocols have only
// the IP header checksum fixed.
//
// IPv6 has no header checksum. Its TCP, UDP and ICMPv6 checksums all
// cover the IPv6 pseudo-header, whose destination is the final one as
// RFC 8200 section 8.1 says: for a packet with a Routing header, the
// last address of the first Routing header that lists any (for a
// Segment Routing header, its Segment List[0]); else the IPv6
// destination. Nothing is written when the walk to the upper-layer
// header failed (ExtErr).
func (p *Packet) FixChecksums() {
	if p.Version == 6 {
		if len(p.Data) >= ipv6HdrLen && p.ExtErr == ExtOK && p.FragOff == 0 {
			fixL4Checksum(p.L4, p.Proto, p.Src, finalDst(p.Data, p.NextHdr, p.Dst))
		}
		return
	}
	if p.Version != 4 || p.HdrLen < ipv4HdrLen || len(p.Data) < p.HdrLen {
		return
	}
	setIPChecksum(p.Data[:p.HdrLen])
	if p.FragOff != 0 {
		return
	}
	fixL4Checksum(p.L4, p.Proto, p.Src, p.Dst)
}

// finalDst is the destination RFC 8200 section 8.1 puts in the
// pseudo-header of the IPv6 packet b (whose IPv6 header says next and
// dst): the last address of the first Routing header of type 0 or 2
// that carries any, Segment List[0] of a Segment Routing header (type
// 4), else dst. A Routing header that is not all there counts as none.
func finalDst(b []byte, next uint8, dst netip.Addr) netip.Addr {
	if next != ProtoRouting && !IsExtHdr(next) {
		return dst
	}
	w := FindHdr(b, ipv6HdrLen, next, ProtoRouting, 0)
	if w.Err != ExtOK || w.Off+8 > len(b) {
		return dst
	}
	h := b[w.Off:]
	n := (int(h[1]) + 1) * 8
	if n > len(h) {
		return dst
	}
	switch h[2] {
	case 0, 2:
		if n >= 24 {
			k := (n - 8) / 16
			return netip.AddrFrom16([16]byte(h[8+16*(k-1):]))
		}
	case 4:
		if n >= 24 {
			return netip.AddrFrom16([16]byte(h[8:24]))
		}
	}
	return dst
}

func setIPChecksum(h []byte) {
	h[10], h[11] = 0, 0
	binary.BigEndian.PutUint16(h[10:12], Checksum(h))
}

// fixL4Checksum writes the transport checksum of l4 from scratch, with
// the pseudo-header of src's family; see FixChecksums for the edges.
// ICMP is IPv4's (no pseudo-header), ICMPv6 IPv6's (with one); each is
// another protocol in the other family.
func fixL4Checksum(l4 []byte, proto uint8, src, dst netip.Addr) {
	switch proto {
	case ProtoTCP:
		if len(l4) < tcpCsumOff+2 {
			return
		}
		l4[tcpCsumOff], l4[tcpCsumOff+1] = 0, 0
		s := ChecksumAdd(pseudoSum(src, dst, ProtoTCP, len(l4)), l4)
		binary.BigEndian.PutUint16(l4[tcpCsumOff:], ChecksumFinish(s))
	case ProtoUDP:
		if len(l4) < udpHdrLen {
			return
		}
		n := udpSumLen(l4)
		l4[udpCsumOff], l4[udpCsumOff+1] = 0, 0
		s := ChecksumAdd(pseudoSum(src, dst, ProtoUDP, n), l4[:n])
		binary.BigEndian.PutUint16(l4[udpCsumOff:], udpNonZero(ChecksumFinish(s)))
	case ProtoICMP:
		if len(l4) < icmpCsumOff+2 || !src.Is4() {
			return
		}
		l4[icmpCsumOff], l4[icmpCsumOff+1] = 0, 0
		binary.BigEndian.PutUint16(l4[icmpCsumOff:], Checksum(l4))
	case ProtoICMPv6:
		if len(l4) < icmpCsumOff+2 || src.Is4() {
			return
		}
		l4[icmpCsumOff], l4[icmpCsumOff+1] = 0, 0
		s := ChecksumAdd(PseudoHeaderSum6(src, dst, ProtoICMPv6, len(l4)), l4)
		binary.BigEndian.PutUint16(l4[icmpCsumOff:], ChecksumFinish(s))
	}
}

// udpSumLen is how many bytes of l4 (at least 8) a UDP checksum covers
// here: the UDP length when 8 <= length <= len(l4), else all of l4.
func udpSumLen(l4 []byte) int {
	n := int(binary.BigEndian.Uint16(l4[4:6]))
	if n < udpHdrLen || n > len(l4) {
		n = len(l4)
	}
	return n
}

// IPChecksumOK reports whether the IPv4 header checksum is correct (the
// kernel's ip_rcv drops the packet otherwise). It is false for an
// undecoded packet, and true for IPv6, which has no header checksum.
func (p *Packet) IPChecksumOK() bool {
	if p.Version == 6 {
		return len(p.Data) >= ipv6HdrLen
	}
	if p.Version != 4 || len(p.Data) < p.HdrLen {
		return false
	}
	// The header is whole 32-bit words: summed as such and folded, the
	// ones' complement sum of its 16-bit words (2^16 is 1 modulo 0xffff).
	var s uint64
	h := p.Data[:p.HdrLen]
	if len(h) >= ipv4HdrLen {
		// the five words of a header without options, without a loop
		w := h[:ipv4HdrLen:ipv4HdrLen]
		s = uint64(binary.BigEndian.Uint32(w[0:4])) + uint64(binary.BigEndian.Uint32(w[4:8])) +
			uint64(binary.BigEndian.Uint32(w[8:12])) + uint64(binary.BigEndian.Uint32(w[12:16])) +
			uint64(binary.BigEndian.Uint32(w[16:20]))
		h = h[ipv4HdrLen:]
	}
	for ; len(h) >= 4; h = h[4:] {
		s += uint64(binary.BigEndian.Uint32(h))
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return s == 0xffff
}

// L4ChecksumOK reports whether the TCP, UDP or ICMP checksum is correct
// over L4 (conntrack marks a packet with a bad one INVALID where it
// checks, in PREROUTING). A UDP checksum of 0 (none) is correct. It is
// true when there is nothing it can check: a fragment (the checksum
// covers the whole datagram), another protocol; and false when the
// checksum field is missing or the packet is undecoded. UDP is checked
// over the UDP length when 8 <= length <= len(L4), else over all of L4.
//
// For IPv6 it checks TCP, UDP and ICMPv6 with the pseudo-header of the
// addresses in the IPv6 header, as conntrack (nf_ip6_checksum) and the
// stack's receive path do, even when a Routing header names another
// final destination. A UDP checksum of 0 counts as correct, as for
// conntrack (udp_error); the IPv6 stack itself drops such a datagram
// (RFC 8200 requires a checksum). A packet whose walk to the upper
// layer failed (ExtErr) has nothing to check: true.
func (p *Packet) L4ChecksumOK() bool {
	if p.L4Verified {
		return true
	}
	switch p.Version {
	case 4:
	case 6:
		if p.ExtErr != ExtOK {
			return true
		}
	default:
		return false
	}
	if p.IsFragment() {
		return true
	}
	l4 := p.L4
	switch p.Proto {
	case ProtoTCP:
		if len(l4) < tcpCsumOff+2 {
			return false
		}
		return ChecksumAdd(p.pseudo(ProtoTCP, len(l4)), l4) == 0xffff
	case ProtoUDP:
		if len(l4) < udpHdrLen {
			return false
		}
		if binary.BigEndian.Uint16(l4[udpCsumOff:]) == 0 {
			return true
		}
		n := udpSumLen(l4)
		return ChecksumAdd(p.pseudo(ProtoUDP, n), l4[:n]) == 0xffff
	case p.icmpProto():
		if len(l4) < icmpCsumOff+2 {
			return false
		}
		if p.Version == 6 {
			return ChecksumAdd(PseudoHeaderSum6(p.Src, p.Dst, ProtoICMPv6, len(l4)), l4) == 0xffff
		}
		return ChecksumAdd(0, l4) == 0xffff
	}
	return true
}

// pseudo is pseudoSum for p's addresses: for IPv4 summed from the
// header's bytes, which hold them (this runs for every packet replay
// checks; netip.Addr's Is4 and As4 cost more than the sum).
func (p *Packet) pseudo(proto uint8, length int) uint32 {
	if p.Version != 4 || len(p.Data) < ipv4HdrLen {
		return pseudoSum(p.Src, p.Dst, proto, length)
	}
	a, b := binary.BigEndian.Uint32(p.Data[12:16]), binary.BigEndian.Uint32(p.Data[16:20])
	s := a>>16 + a&0xffff + b>>16 + b&0xffff + uint32(proto) + uint32(uint16(length))
	s = s&0xffff + s>>16
	return s&0xffff + s>>16
}

// Errors the rewrite methods return; fixed values, so a rewrite never
// allocates.
var (
	ErrNotDecoded = errors.New("packet: not a decoded IPv4 or IPv6 packet")
	ErrNotIPv4    = errors.New("packet: address is not IPv4")
	ErrNotIPv6    = errors.New("packet: address is not IPv6")
	ErrNoPorts    = errors.New("packet: no TCP or UDP header with ports")
	ErrNoICMPID   = errors.New("packet: no ICMP header")
)

// SetSrc rewrites the source address: the bytes in Data, the Src field,
// the IPv4 header checksum and, when the packet has one, the TCP or UDP
// checksum (the pseudo-header covers the address), all incrementally
// (RFC 1624). A UDP checksum of 0 (none) stays 0, and an updated UDP
// checksum that comes out 0 is stored as 0xffff. ICMP has no
// pseudo-header and is left alone; so is a later fragment's payload. For
// a first fragment the transport checksum is still updated, which is
// right: the change to the datagram's sum is the same. It fails, changing
// nothing, if a is not IPv4 (ErrNotIPv4; an IPv4-mapped IPv6 address
// counts as IPv6) or p is not a decoded IPv4 packet (ErrNotDecoded).
//
// For an IPv6 packet (NAT66, SNPT/DNPT) a must be IPv6 (ErrNotIPv6);
// there is no header checksum, and the TCP, UDP and ICMPv6 checksums
// are updated (ICMPv6 has a pseudo-header too), as the kernel's NAT
// does with the address difference, also when a Routing header puts
// another final destination into the checksum. Nothing is updated when
// the walk to the upper-layer header failed (ExtErr) or for a later
// fragment.
func (p *Packet) SetSrc(a netip.Addr) error {
	if p.Version == 6 {
		return p.setAddr6(a, 8, &p.Src)
	}
	return p.setAddr(a, 12, &p.Src)
}

// SetDst is SetSrc for the destination address.
func (p *Packet) SetDst(a netip.Addr) error {
	if p.Version == 6 {
		return p.setAddr6(a, 24, &p.Dst)
	}
	return p.setAddr(a, 16, &p.Dst)
}

func (p *Packet) setAddr(a netip.Addr, off int, field *netip.Addr) error {
	if !a.Is4() {
		return ErrNotIPv4
	}
	if p.Version != 4 || len(p.Data) < ipv4HdrLen || p.HdrLen < ipv4HdrLen {
		return ErrNotDecoded
	}
	b := a.As4()
	from := binary.BigEndian.Uint32(p.Data[off : off+4])
	to := binary.BigEndian.Uint32(b[:])
	h := p.Data
	binary.BigEndian.PutUint16(h[10:12], UpdateChecksum32(binary.BigEndian.Uint16(h[10:12]), from, to))
	if p.FragOff == 0 {
		if c := p.l4Csum(false); c != nil {
			binary.BigEndian.PutUint16(c, p.csumFix(UpdateChecksum32(binary.BigEndian.Uint16(c), from, to)))
		}
	}
	copy(h[off:off+4], b[:])
	*field = a
	return nil
}

func (p *Packet) setAddr6(a netip.Addr, off int, field *netip.Addr) error {
	if !a.Is6() {
		return ErrNotIPv6
	}
	if len(p.Data) < ipv6HdrLen {
		return ErrNotDecoded
	}
	to := a.As16()
	from := [16]byte(p.Data[off : off+16])
	if p.FragOff == 0 && p.ExtErr == ExtOK {
		if c := p.l4Csum(true); c != nil {
			binary.BigEndian.PutUint16(c, p.csumFix(UpdateChecksum128(binary.BigEndian.Uint16(c), from, to)))
		}
	}
	copy(p.Data[off:off+16], to[:])
	*field = a
	return nil
}

// l4Csum returns the transport checksum field an address change must
// update, or nil: TCP's and UDP's when present (not a UDP checksum of 0,
// which means none), and, when pseudo is set (IPv6), ICMPv6's.
func (p *Packet) l4Csum(pseudo bool) []byte {
	l4 := p.L4
	switch p.Proto {
	case ProtoTCP:
		if len(l4) >= tcpCsumOff+2 {
			return l4[tcpCsumOff : tcpCsumOff+2]
		}
	case ProtoUDP:
		if len(l4) >= udpHdrLen && binary.BigEndian.Uint16(l4[udpCsumOff:]) != 0 {
			return l4[udpCsumOff : udpCsumOff+2]
		}
	case ProtoICMPv6:
		if pseudo && len(l4) >= icmpCsumOff+2 {
			return l4[icmpCsumOff : icmpCsumOff+2]
		}
	}
	return nil
}

// csumFix is udpNonZero for UDP and the identity for the others.
func (p *Packet) csumFix(cs uint16) uint16 {
	if p.Proto == ProtoUDP {
		return udpNonZero(cs)
	}
	return cs
}

// udpNonZero keeps a computed UDP checksum of 0 from reading as "no
// checksum": RFC 768 sends it as all ones, its one's complement twin.
func udpNonZero(cs uint16) uint16 {
	if cs == 0 {
		return 0xffff
	}
	return cs
}

// SetSrcPort rewrites the TCP or UDP source port: the bytes, the SrcPort
// field and the transport checksum, incrementally (a UDP checksum of 0
// stays 0). It fails with ErrNoPorts, changing nothing, unless the
// packet is TCP or UDP with its fixed header present (L4Fixed); the data
// offset does not matter, as the ports come first.
func (p *Packet) SetSrcPort(port uint16) error {
	return p.setPort(port, 0, &p.SrcPort)
}

// SetDstPort is SetSrcPort for the destination port.
func (p *Packet) SetDstPort(port uint16) error {
	return p.setPort(port, 2, &p.DstPort)
}

func (p *Packet) setPort(port uint16, off int, field *uint16) error {
	if (p.Version != 4 && p.Version != 6) || !p.L4Fixed || (p.Proto != ProtoTCP && p.Proto != ProtoUDP) {
		return ErrNoPorts
	}
	l4 := p.L4
	from := binary.BigEndian.Uint16(l4[off : off+2])
	if p.Proto == ProtoTCP {
		c := l4[tcpCsumOff:]
		binary.BigEndian.PutUint16(c, UpdateChecksum16(binary.BigEndian.Uint16(c), from, port))
	} else {
		c := l4[udpCsumOff:]
		if cs := binary.BigEndian.Uint16(c); cs != 0 { // 0: no checksum
			binary.BigEndian.PutUint16(c, udpNonZero(UpdateChecksum16(cs, from, port)))
		}
	}
	binary.BigEndian.PutUint16(l4[off:off+2], port)
	*field = port
	return nil
}

// SetICMPID rewrites the ICMP identifier (bytes 4-5, what NAT changes
// for echo requests when it must keep two hosts' pings apart): the
// bytes, the ICMPID field and the ICMP checksum, incrementally. It fails
// with ErrNoICMPID, changing nothing, unless the packet is ICMP (ICMPv6
// for IPv6) with its 8-byte header present. It does not check the type.
func (p *Packet) SetICMPID(id uint16) error {
	if (p.Version != 4 && p.Version != 6) || p.Proto != p.icmpProto() || !p.L4Fixed {
		return ErrNoICMPID
	}
	l4 := p.L4
	from := binary.BigEndian.Uint16(l4[4:6])
	c := l4[icmpCsumOff:]
	binary.BigEndian.PutUint16(c, UpdateChecksum16(binary.BigEndian.Uint16(c), from, id))
	binary.BigEndian.PutUint16(l4[4:6], id)
	p.ICMPID = id
	return nil
}
