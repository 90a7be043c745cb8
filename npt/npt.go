// Package npt is IPv6-to-IPv6 network prefix translation (RFC 6296) as
// the kernel's ip6t_NPT implements it for the SNPT and DNPT targets:
// a stateless, checksum-neutral rewrite of an address's prefix, and of
// the address an ICMPv6 error quotes.
package npt

import (
	"encoding/binary"
	"errors"
	"net/netip"

	"github.com/ipsift/ipsift/packet"
)

// Translation is one SNPT or DNPT target: translate addresses under the
// prefix Src to the prefix Dst. Make it with New.
type Translation struct {
	src, dst   [16]byte
	srcLen     int
	dstLen     int
	adjustment uint16 // ones' complement: sum(src prefix) - sum(dst prefix)
}

// ErrPrefix is the kernel's refusal of a target (checkentry, EINVAL):
// a prefix longer than 64 bits, or with bits set beyond its length.
var ErrPrefix = errors.New("npt: prefixes must be IPv6, at most /64 long, with no bits set beyond their length")

// New returns the translation from src to dst, checked as
// ip6t_npt_checkentry checks it.
func New(src, dst netip.Prefix) (Translation, error) {
	if !src.Addr().Is6() || !dst.Addr().Is6() || src.Addr().Is4In6() || dst.Addr().Is4In6() ||
		src.Bits() < 0 || dst.Bits() < 0 || src.Bits() > 64 || dst.Bits() > 64 ||
		src.Masked() != src || dst.Masked() != dst {
		return Translation{}, ErrPrefix
	}
	t := Translation{src: src.Addr().As16(), dst: dst.Addr().As16(), srcLen: src.Bits(), dstLen: dst.Bits()}
	ss, ds := packet.ChecksumAdd(0, t.src[:]), packet.ChecksumAdd(0, t.dst[:])
	t.adjustment = fold(ss + uint32(^fold(ds)))
	return t, nil
}

// fold is a ones' complement sum folded to 16 bits (not complemented).
func fold(s uint32) uint16 {
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

// Map is ip6t_npt_map_pfx: a with its first max(src, dst length) bits
// replaced by the destination prefix's, and the adjustment that keeps
// the 16-bit ones' complement sum of the address unchanged added to one
// word: the fourth (bits 48-63) when the prefixes are at most 48 bits
// long, else the first word after bit 64 that is not 0xffff. When all
// four are 0xffff there is no word to adjust: ok is false (the kernel
// then drops the packet with a parameter problem), and the result is
// the address with its prefix replaced but not adjusted, as the kernel
// leaves it in the packet it quotes.
func (t Translation) Map(a [16]byte) (r [16]byte, ok bool) {
	r = a
	n := max(t.srcLen, t.dstLen)
	for i := 0; i < n; i += 32 {
		var mask uint32 // the host bits of this word kept
		if n-i < 32 {
			mask = 1<<(32-(n-i)) - 1
		}
		w := binary.BigEndian.Uint32(r[i/8:])&mask | ^mask&binary.BigEndian.Uint32(t.dst[i/8:])
		binary.BigEndian.PutUint32(r[i/8:], w)
	}
	idx := 3
	if n > 48 {
		for idx = 4; idx < 8; idx++ {
			if binary.BigEndian.Uint16(r[2*idx:]) != 0xffff {
				break
			}
		}
		if idx == 8 {
			return r, false
		}
	}
	sum := fold(uint32(binary.BigEndian.Uint16(r[2*idx:])) + uint32(t.adjustment))
	if sum == 0xffff {
		sum = 0
	}
	binary.BigEndian.PutUint16(r[2*idx:], sum)
	return r, true
}

// Field offsets in the IPv6 header: the parameter problem's pointer
// when a translation fails.
const (
	SrcOffset = 8
	DstOffset = 24
)

// SNPT is the SNPT target on p (mangle INPUT and POSTROUTING): the
// source address translated; then, if p is an ICMPv6 error directly
// behind the IPv6 header, the destination of the packet it quotes, when
// that lies under the source prefix (the error answers a packet that
// was sent to the translated range). It reports false when the source
// cannot be translated: the kernel then sends an ICMPv6 parameter
// problem (code 0, pointer SrcOffset) quoting p as it now is, and drops
// it. p's Src is kept in step.
func (t Translation) SNPT(p *packet.Packet) bool { return t.apply(p, SrcOffset, DstOffset) }

// DNPT is the DNPT target on p (mangle PREROUTING and OUTPUT): the
// destination translated, and a quoted packet's source under the
// source prefix; false as for SNPT, with pointer DstOffset.
func (t Translation) DNPT(p *packet.Packet) bool { return t.apply(p, DstOffset, SrcOffset) }

func (t Translation) apply(p *packet.Packet, off, quotedOff int) bool {
	b := p.Data
	if p.Version != 6 || len(b) < 40 {
		return true
	}
	r, ok := t.Map([16]byte(b[off : off+16]))
	copy(b[off:], r[:])
	if off == SrcOffset {
		p.Src = netip.AddrFrom16(r)
	} else {
		p.Dst = netip.AddrFrom16(r)
	}
	if !ok {
		return false
	}
	// icmpv6_bounced_ipv6hdr: the IPv6 header right after an ICMPv6
	// error's 8 bytes, which must all be there. The rewrite is
	// checksum-neutral, so the ICMPv6 checksum stays right.
	if b[6] != packet.ProtoICMPv6 || len(b) < 40+8+40 || b[40] >= 128 {
		return true
	}
	q := b[48+quotedOff : 48+quotedOff+16]
	if netip.PrefixFrom(netip.AddrFrom16([16]byte(q)), t.srcLen).Masked().Addr().As16() == t.src {
		r, _ := t.Map([16]byte(q))
		copy(q, r[:])
	}
	return true
}
