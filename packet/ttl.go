package packet

// DecTTL lowers the IPv4 TTL by one and updates the header checksum
// incrementally, as the kernel's ip_decrease_ttl does when it forwards a
// packet; for IPv6 it lowers the Hop Limit, which no checksum covers, as
// ip6_forward does. It does nothing to a packet whose TTL or Hop Limit
// is already 0, or to an undecoded one.
func (p *Packet) DecTTL() {
	if p.Version == 6 {
		if len(p.Data) < ipv6HdrLen || p.Data[7] == 0 {
			return
		}
		p.Data[7]--
		p.TTL = p.Data[7]
		return
	}
	if len(p.Data) < 20 {
		return
	}
	h := p.Data[8:12:12] // TTL, protocol, checksum: one bounds check
	if h[0] == 0 {
		return
	}
	// The TTL is the high byte of the 16-bit word at offset 8; lowering
	// it by one raises the one's-complement checksum by 0x0100.
	sum := (uint32(h[2])<<8 | uint32(h[3])) + 0x0100
	sum = (sum & 0xffff) + sum>>16
	h[2], h[3] = byte(sum>>8), byte(sum)
	h[0]--
	p.TTL = h[0]
}
