package packet

import (
	"encoding/binary"
	"errors"
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
	s := uint64(sum)
	for len(b) >= 8 {
		s += uint64(binary.BigEndian.Uint32(b[0:4]))
		s += uint64(binary.BigEndian.Uint32(b[4:8]))
		b = b[8:]
	}
	for len(b) >= 2 {
		s += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint64(b[0]) << 8
	}
	// Adding 32-bit words is the same one's complement sum as adding
	// their 16-bit halves, once the carries are folded back in.
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return uint32(s)
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
	var s uint32
	if src.Is4() {
		a := src.As4()
		s = ChecksumAdd(s, a[:])
	}
	if dst.Is4() {
		a := dst.As4()
		s = ChecksumAdd(s, a[:])
	}
	return foldAdd(s, uint32(proto)+uint32(uint16(length)))
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
func (p *Packet) FixChecksums() {
	if p.Version != 4 || p.HdrLen < ipv4HdrLen || len(p.Data) < p.HdrLen {
		return
	}
	setIPChecksum(p.Data[:p.HdrLen])
	if p.FragOff != 0 {
		return
	}
	fixL4Checksum(p.L4, p.Proto, p.Src, p.Dst)
}

func setIPChecksum(h []byte) {
	h[10], h[11] = 0, 0
	binary.BigEndian.PutUint16(h[10:12], Checksum(h))
}

// fixL4Checksum writes the transport checksum of l4 from scratch; see
// FixChecksums for the edges.
func fixL4Checksum(l4 []byte, proto uint8, src, dst netip.Addr) {
	switch proto {
	case ProtoTCP:
		if len(l4) < tcpCsumOff+2 {
			return
		}
		l4[tcpCsumOff], l4[tcpCsumOff+1] = 0, 0
		s := ChecksumAdd(PseudoHeaderSum(src, dst, ProtoTCP, len(l4)), l4)
		binary.BigEndian.PutUint16(l4[tcpCsumOff:], ChecksumFinish(s))
	case ProtoUDP:
		if len(l4) < udpHdrLen {
			return
		}
		n := int(binary.BigEndian.Uint16(l4[4:6]))
		if n < udpHdrLen || n > len(l4) {
			n = len(l4)
		}
		l4[udpCsumOff], l4[udpCsumOff+1] = 0, 0
		s := ChecksumAdd(PseudoHeaderSum(src, dst, ProtoUDP, n), l4[:n])
		binary.BigEndian.PutUint16(l4[udpCsumOff:], udpNonZero(ChecksumFinish(s)))
	case ProtoICMP:
		if len(l4) < icmpCsumOff+2 {
			return
		}
		l4[icmpCsumOff], l4[icmpCsumOff+1] = 0, 0
		binary.BigEndian.PutUint16(l4[icmpCsumOff:], Checksum(l4))
	}
}

// IPChecksumOK reports whether the IPv4 header checksum is correct (the
// kernel's ip_rcv drops the packet otherwise). It is false for an
// undecoded packet.
func (p *Packet) IPChecksumOK() bool {
	if p.Version != 4 || len(p.Data) < p.HdrLen {
		return false
	}
	return ChecksumAdd(0, p.Data[:p.HdrLen]) == 0xffff
}

// L4ChecksumOK reports whether the TCP, UDP or ICMP checksum is correct
// over L4 (conntrack marks a packet with a bad one INVALID where it
// checks, in PREROUTING). A UDP checksum of 0 (none) is correct. It is
// true when there is nothing it can check: a fragment (the checksum
// covers the whole datagram), another protocol; and false when the
// checksum field is missing or the packet is undecoded. UDP is checked
// over the UDP length when 8 <= length <= len(L4), else over all of L4.
func (p *Packet) L4ChecksumOK() bool {
	if p.Version != 4 {
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
		return ChecksumAdd(PseudoHeaderSum(p.Src, p.Dst, ProtoTCP, len(l4)), l4) == 0xffff
	case ProtoUDP:
		if len(l4) < udpHdrLen {
			return false
		}
		if binary.BigEndian.Uint16(l4[udpCsumOff:]) == 0 {
			return true
		}
		n := int(binary.BigEndian.Uint16(l4[4:6]))
		if n < udpHdrLen || n > len(l4) {
			n = len(l4)
		}
		return ChecksumAdd(PseudoHeaderSum(p.Src, p.Dst, ProtoUDP, n), l4[:n]) == 0xffff
	case ProtoICMP:
		if len(l4) < icmpCsumOff+2 {
			return false
		}
		return ChecksumAdd(0, l4) == 0xffff
	}
	return true
}

// Errors the rewrite methods return; fixed values, so a rewrite never
// allocates.
var (
	ErrNotDecoded = errors.New("packet: not a decoded IPv4 packet")
	ErrNotIPv4    = errors.New("packet: address is not IPv4")
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
func (p *Packet) SetSrc(a netip.Addr) error {
	return p.setAddr(a, 12, &p.Src)
}

// SetDst is SetSrc for the destination address.
func (p *Packet) SetDst(a netip.Addr) error {
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
		switch p.Proto {
		case ProtoTCP:
			if len(p.L4) >= tcpCsumOff+2 {
				c := p.L4[tcpCsumOff:]
				binary.BigEndian.PutUint16(c, UpdateChecksum32(binary.BigEndian.Uint16(c), from, to))
			}
		case ProtoUDP:
			if len(p.L4) >= udpHdrLen {
				c := p.L4[udpCsumOff:]
				if cs := binary.BigEndian.Uint16(c); cs != 0 { // 0: no checksum
					binary.BigEndian.PutUint16(c, udpNonZero(UpdateChecksum32(cs, from, to)))
				}
			}
		}
	}
	copy(h[off:off+4], b[:])
	*field = a
	return nil
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
	if p.Version != 4 || !p.L4Fixed || (p.Proto != ProtoTCP && p.Proto != ProtoUDP) {
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
// with ErrNoICMPID, changing nothing, unless the packet is ICMP with its
// 8-byte header present. It does not check the type.
func (p *Packet) SetICMPID(id uint16) error {
	if p.Version != 4 || p.Proto != ProtoICMP || !p.L4Fixed {
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
