package ext

import (
	"encoding/binary"
	"net/netip"

	"github.com/ipsift/ipsift/packet"
)

// The answers the kernel builds for IPv6 packets: icmp6_send's ICMPv6
// errors (ip6t_REJECT's unreachables, the stack's port unreachable,
// parameter problem, time exceeded) and nf_send_reset6's TCP RST. The
// engine's host stack and REJECT share them.

// icmp6ErrorRoom is how much of the packet an ICMPv6 error quotes:
// IPV6_MIN_MTU less the IPv6 and ICMPv6 headers (RFC 4443 2.4 (c)).
const icmp6ErrorRoom = 1280 - 40 - 8

// BuildICMPv6Error returns the ICMPv6 error of type, code and info (the
// MTU of a Packet Too Big, the pointer of a Parameter Problem) that
// icmp6_send makes for the packet in c, or nil when it sends none:
//   - a packet to a multicast address, or not addressed to this host at
//     the link layer, is answered only with a Packet Too Big or a
//     Parameter Problem code 2 (the caller decides that code 2 concerns
//     an option whose type asks for an answer);
//   - a packet from :: or a multicast address is never answered;
//   - an ICMPv6 error (type below 128) is never answered (is_ineligible,
//     which finds the ICMPv6 header as ipv6_skip_exthdr does: when the
//     walk fails the packet is eligible; a later fragment whose ICMPv6
//     type cannot be read too);
//   - the source is the packet's destination when that is an address
//     of the host's (or a subnet-router anycast address), otherwise the
//     address source selection picks on the interface the packet came
//     in on, or for a packet the host sent, towards its source;
//   - hop limit 64, traffic class and flow label 0, the packet quoted up
//     to 1232 bytes.
//
// The rate limits are not applied: the reference host has none.
func BuildICMPv6Error(c *Ctx, typ, code uint8, info uint32) []byte {
	return BuildICMPv6ErrorQuoting(c, typ, code, info, -1)
}

// BuildICMPv6ErrorQuoting is BuildICMPv6Error for a packet the stack has
// cut short (UDP trims a datagram to its length field): it quotes at
// most quote bytes from the IPv6 header on; a negative quote means the
// whole packet.
func BuildICMPv6ErrorQuoting(c *Ctx, typ, code uint8, info uint32, quote int) []byte {
	p := c.Pkt
	if p == nil || p.Version != 6 {
		return nil
	}
	d := rejectData(p)
	if len(d) < 40 {
		return nil
	}
	if quote >= 40 && quote < len(d) {
		d = d[:quote]
	}
	var src netip.Addr
	if c.Host != nil {
		// ipv6_chk_addr on the input interface: a link-local address
		// is the host's only on its own link.
		dev := ""
		if c.In != nil && host6LinkLocal(p.Dst) {
			dev = c.In.Name
		}
		if t := c.Host.AddrType(p.Dst, dev); t == 2 || t == 4 { // RTN_LOCAL, RTN_ANYCAST
			src = p.Dst
		}
	}
	if p.Dst.IsMulticast() || c.PktType != PktHost && c.Hook != LocalOut {
		if typ != 2 && !(typ == 4 && code == 2) {
			return nil
		}
		src = netip.Addr{}
	}
	if p.Src.IsUnspecified() || p.Src.IsMulticast() {
		return nil
	}
	if icmp6Ineligible(d) {
		return nil
	}
	if !src.IsValid() {
		// icmp6_send picks "a more meaningful saddr from input if":
		// source address selection on the interface the packet came
		// in on (IP6CB(skb)->iif, which is also where a link-local
		// address is routed). A packet in OUTPUT has none: the route
		// picks the source, and a link-local destination is routed
		// strictly on the packet's device (icmp6_iif), whose
		// addresses are the only candidates. A packet on lo (to one of
		// the host's addresses) has the interface of the local route
		// it took: the one that has its destination.
		dev := ""
		switch {
		case c.In != nil:
			dev = c.In.Name
		case c.Out != nil && host6LinkLocal(p.Src):
			dev = c.Out.Name
			if c.SkbDev != "" {
				dev = c.SkbDev
			}
		}
		if ai, ok := c.Host.(addrIfacer); ok && dev == "lo" {
			if owner := ai.AddrIface(p.Dst); owner != "" {
				dev = owner
			}
		}
		if sf, ok := c.Host.(sourceForer); ok && dev != "" {
			src, _ = sf.SourceFor(dev, p.Src)
		} else if rs, ok := c.Host.(RouteSourcer); ok {
			src, _ = rs.RouteSource(p.Src)
		}
		if !src.Is6() {
			return nil // icmpv6_route_lookup finds no route back
		}
	}
	n := min(len(d), icmp6ErrorRoom)
	b := make([]byte, 48+n)
	putIPv6Header(b, src, p.Src, packet.ProtoICMPv6, 64)
	b[40], b[41] = typ, code
	binary.BigEndian.PutUint32(b[44:], info)
	copy(b[48:], d[:n])
	setICMPv6Checksum(b)
	return b
}

// host6LinkLocal reports a unicast link-local IPv6 address (fe80::/10).
func host6LinkLocal(a netip.Addr) bool {
	b := a.As16()
	return a.Is6() && b[0] == 0xfe && b[1]&0xc0 == 0x80
}

// addrIfacer is the host's interface that has an address ("" for none).
type addrIfacer interface{ AddrIface(netip.Addr) string }

// sourceForer is the host's choice of a source address for dst out of
// interface dev.
type sourceForer interface {
	SourceFor(dev string, dst netip.Addr) (netip.Addr, bool)
}

// icmp6Ineligible is is_ineligible: the packet is an ICMPv6 error.
func icmp6Ineligible(d []byte) bool {
	w := packet.SkipExthdr(d, 40, d[6])
	if w.Err != packet.ExtOK || w.Proto != packet.ProtoICMPv6 {
		return false
	}
	if w.Off >= len(d) {
		// is_ineligible: no type to read is no reason to stay silent
		// for a fragment (RFC 8200 4.5). It tests ipv6_skip_exthdr's
		// frag_off, the whole field: a first fragment with more to
		// come (M set, offset 0) is answered too.
		return w.FragField == 0
	}
	return d[w.Off]&0x80 == 0
}

// SetTrafficClass writes the Traffic Class of the IPv6 packet p (bits
// 4-11 of its first word), as ipv6_change_dsfield does, and keeps
// p.TOS in step.
func SetTrafficClass(p *packet.Packet, tc uint8) {
	PutTrafficClass(p.Data, tc)
	if len(p.Data) >= 2 {
		p.TOS = tc
	}
}

// PutTrafficClass writes the Traffic Class tc into the IPv6 header at
// the start of b (which no transport checksum covers).
func PutTrafficClass(b []byte, tc uint8) {
	if len(b) < 2 {
		return
	}
	b[0] = b[0]&0xf0 | tc>>4
	b[1] = b[1]&0x0f | tc<<4
}

// putIPv6Header writes a 40-byte IPv6 header at the start of b (whose
// length is the whole packet): version 6, traffic class and flow label
// 0, the payload length, next header and hop limit, the addresses.
func putIPv6Header(b []byte, src, dst netip.Addr, next, hlim uint8) {
	binary.BigEndian.PutUint32(b[0:], 6<<28)
	binary.BigEndian.PutUint16(b[4:], uint16(len(b)-40))
	b[6], b[7] = next, hlim
	s, t := src.As16(), dst.As16()
	copy(b[8:24], s[:])
	copy(b[24:40], t[:])
}

// PutICMPv6Packet finishes b, an ICMPv6 message after 40 bytes left for
// its IPv6 header: it writes the header (from src to dst, hop limit
// hlim, traffic class and flow label 0) and the ICMPv6 checksum.
func PutICMPv6Packet(b []byte, src, dst netip.Addr, hlim uint8) {
	putIPv6Header(b, src, dst, packet.ProtoICMPv6, hlim)
	setICMPv6Checksum(b)
}

// setICMPv6Checksum fills the checksum of the ICMPv6 message that
// follows a 40-byte IPv6 header in b.
func setICMPv6Checksum(b []byte) {
	src, dst := netip.AddrFrom16([16]byte(b[8:24])), netip.AddrFrom16([16]byte(b[24:40]))
	m := b[40:]
	m[2], m[3] = 0, 0
	binary.BigEndian.PutUint16(m[2:], Checksum(m, packet.PseudoHeaderSum6(src, dst, packet.ProtoICMPv6, len(m))))
}

// l4Checksum6OK is nf_ip6_checksum over the transport part l4 of the
// IPv6 packet in d: the pseudo header of its own addresses (the
// destination in the IPv6 header, not a routing header's final one).
func l4Checksum6OK(d, l4 []byte, proto uint8) bool {
	src, dst := netip.AddrFrom16([16]byte(d[8:24])), netip.AddrFrom16([16]byte(d[24:40]))
	return Checksum(l4, packet.PseudoHeaderSum6(src, dst, proto, len(l4))) == 0
}

// BuildReset6 returns the TCP RST nf_send_reset6 sends for the packet in
// c, or nil when it sends none: both addresses must be unicast (not ::,
// not multicast); the TCP header is found with ipv6_skip_exthdr (a
// later fragment has none) and must be whole; no RST answers a RST, nor
// a segment whose checksum is wrong. The RST has hop limit 64, traffic
// class 0, the addresses and ports swapped, and the sequence numbers as
// for IPv4 (see BuildReset).
func BuildReset6(c *Ctx) []byte {
	p := c.Pkt
	if p == nil || p.Version != 6 {
		return nil
	}
	d := rejectData(p)
	if len(d) < 40 || !unicast6(p.Src) || !unicast6(p.Dst) {
		return nil
	}
	w := packet.SkipExthdr(d, 40, d[6])
	if w.Err != packet.ExtOK || w.Proto != packet.ProtoTCP || w.Off > len(d) || len(d)-w.Off < 20 {
		return nil
	}
	l4 := d[w.Off:]
	if l4[13]&packet.TCPRst != 0 || !l4Checksum6OK(d, l4, packet.ProtoTCP) {
		return nil
	}
	b := make([]byte, 60)
	putIPv6Header(b, p.Dst, p.Src, packet.ProtoTCP, 64)
	putResetTCP(b[40:], l4)
	binary.BigEndian.PutUint16(b[56:], Checksum(b[40:], packet.PseudoHeaderSum6(p.Dst, p.Src, packet.ProtoTCP, 20)))
	return b
}

// unicast6 is ipv6_addr_type's IPV6_ADDR_UNICAST: not :: and not
// multicast.
func unicast6(a netip.Addr) bool { return !a.IsUnspecified() && !a.IsMulticast() }
