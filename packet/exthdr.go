package packet

import "encoding/binary"

// IPv6 Next Header values of the extension headers and of the other
// headers the kernel's walkers treat specially (the kernel's NEXTHDR_*).
const (
	ProtoHopOpts  = 0   // Hop-by-Hop Options
	ProtoRouting  = 43  // Routing
	ProtoFragment = 44  // Fragment
	ProtoESP      = 50  // Encapsulating Security Payload: never walked through
	ProtoAH       = 51  // Authentication Header
	ProtoNoNext   = 59  // No Next Header
	ProtoDstOpts  = 60  // Destination Options
	ProtoMH       = 135 // Mobility Header: an upper-layer protocol to the walkers
)

// ipv6HdrLen is sizeof(struct ipv6hdr).
const ipv6HdrLen = 40

// IsExtHdr is the kernel's ipv6_ext_hdr: the Next Header values both
// walkers step over (or stop at, for No Next Header): Hop-by-Hop (0),
// Routing (43), Fragment (44), AH (51), No Next Header (59) and
// Destination Options (60). ESP, Mobility, HIP and Shim6 are not among
// them: to the walkers they are upper-layer protocols.
func IsExtHdr(n uint8) bool {
	switch n {
	case ProtoHopOpts, ProtoRouting, ProtoFragment, ProtoAH, ProtoNoNext, ProtoDstOpts:
		return true
	}
	return false
}

// extLen is the length of the extension header of type n whose first
// two bytes are h: 8 for a Fragment header, (hdrlen+2)*4 for AH
// (ipv6_authlen), (hdrlen+1)*8 for the others (ipv6_optlen).
func extLen(n uint8, h []byte) int {
	switch n {
	case ProtoFragment:
		return 8
	case ProtoAH:
		return (int(h[1]) + 2) << 2
	}
	return (int(h[1]) + 1) << 3
}

// ExtErr says why a walk over the extension headers failed.
type ExtErr uint8

const (
	// ExtOK: the walk found what it looked for.
	ExtOK ExtErr = iota
	// ExtNotFound is ipv6_find_hdr's -ENOENT: the target header is not
	// in the chain (or lies beyond a later fragment's Fragment header).
	ExtNotFound
	// ExtBad is ipv6_find_hdr's -EBADMSG (a header whose first bytes
	// are not there), and any failure of ipv6_skip_exthdr, which also
	// fails on No Next Header.
	ExtBad
)

// String returns "ok", "ENOENT" or "EBADMSG".
func (e ExtErr) String() string {
	switch e {
	case ExtOK:
		return "ok"
	case ExtNotFound:
		return "ENOENT"
	}
	return "EBADMSG"
}

// Walk is where one of the kernel's extension header walkers ended. Off
// counts from the first byte of the packet (the IPv6 header). When Err
// is not ExtOK, Proto and Off mean nothing, and FragOff is 0 (the kernel
// leaves *fragoff at 0 on every failure), but Frag still tells whether a
// Fragment header was met.
type Walk struct {
	Proto   uint8  // the Next Header value the walk returns
	Off     int    // offset of the header of that protocol
	FragOff uint16 // fragment offset, in 8-byte units, of a later fragment's Fragment header where the walk stopped; 0 otherwise
	// FragField is SkipExthdr's frag_off as ipv6_skip_exthdr returns it:
	// the last Fragment header's whole offset field, flags (M) included;
	// 0 when none was met.
	FragField uint16
	Frag      bool // a Fragment header was met (ipv6_find_hdr's IP6_FH_F_FRAG)
	Err       ExtErr
}

// FindFlags are ipv6_find_hdr's input flags.
type FindFlags uint8

const (
	// FindAuth is IP6_FH_F_AUTH: with target -1, stop at an AH header
	// and return 51 (nftables' view: nft_set_pktinfo_ipv6 passes it).
	FindAuth FindFlags = 1 << iota
	// FindSkipRH is IP6_FH_F_SKIP_RH: a Routing header with segments
	// left 0 does not count as the target.
	FindSkipRH
)

// FindHdr is the kernel's ipv6_find_hdr over b, the bytes of the packet
// (what the kernel's skb->len covers), for the headers that follow an
// IPv6 header ending at start whose Next Header is next: with start 40
// and next the packet's own Next Header, the packet's chain; with start
// and next taken from a quoted IPv6 header, that packet's chain.
//
// With target -1 it looks for the upper-layer protocol, which is the
// first Next Header that is not an extension header (IsExtHdr), or No
// Next Header (59), or, with FindAuth, AH (51): Proto is that value and
// Off where its header starts (possibly len(b): nothing follows). With a
// target of 0-255 it looks for the first header of that type: Proto is
// target, Off where it starts; the header itself is not checked beyond
// its first two bytes (its Next Header and length) when the walk stops
// at it (four for a Routing header), so callers read it with bounds
// checks of their own.
//
// At the edges, exactly as the kernel of this machine (6.18):
//   - a Fragment header with a non-zero offset (a later fragment) ends
//     the walk: with target -1 and an upper-layer Next Header (or 59) in
//     it, the result is that Next Header, with FragOff set and Off just
//     after the Fragment header (where newer kernels point it; nothing
//     reads it for a later fragment); with any other target, or an
//     extension header following, it is ExtNotFound, unless the target
//     was the Fragment header itself, which is then found with FragOff
//     set;
//   - a first fragment (offset 0) is stepped over like any header;
//   - any header whose first two bytes (Fragment: four; Routing: four)
//     are not in b is ExtBad; a header that reaches beyond b is stepped
//     over all the same, so Off may be beyond len(b), a protocol found
//     with no byte of its header (the kernel checks neither: a
//     "dst, tcp" chain whose dst header is longer than the packet
//     matches -p tcp, measured by TestWalkersAgainstKernel); nor is the
//     number of headers limited (kernels from mid-2026 stop at 12,
//     IP6_MAX_EXT_HDRS_CNT; this one walks 13 and more);
//   - the target not being in the chain is ExtNotFound, also when the
//     chain ends at No Next Header (unless 59 is the target);
//   - with FindSkipRH a Routing header whose segments left is 0 is
//     stepped over even when it is the target.
//
// ip6_tables' -p uses target -1 with no flags, nftables' meta l4proto
// target -1 with FindAuth, and the ah, dst, frag, hbh and rt matches
// look for their own header (see FindExt).
func FindHdr(b []byte, start int, next uint8, target int, flags FindFlags) Walk {
	return findHdr(b, start, next, target, flags, nil)
}

// findHdr is FindHdr that also stores the offset of the first Fragment
// header it meets in *firstFrag, when firstFrag is not nil (Decode
// wants it, and one walk is cheaper than two).
func findHdr(b []byte, start int, next uint8, target int, flags FindFlags, firstFrag *int) Walk {
	var w Walk
	for {
		found := int(next) == target
		if !IsExtHdr(next) || next == ProtoNoNext {
			if target < 0 || found {
				break
			}
			return Walk{Frag: w.Frag, Err: ExtNotFound}
		}
		if start < 0 || start+2 > len(b) {
			return Walk{Frag: w.Frag, FragField: w.FragField, Err: ExtBad}
		}
		h := b[start:]
		if next == ProtoRouting {
			if len(h) < 4 { // struct ipv6_rt_hdr
				return Walk{Frag: w.Frag, Err: ExtBad}
			}
			if flags&FindSkipRH != 0 && h[3] == 0 {
				found = false
			}
		}
		var hl int
		switch next {
		case ProtoFragment:
			if !w.Frag && firstFrag != nil {
				*firstFrag = start
			}
			w.Frag = true
			if len(h) < 4 {
				return Walk{Frag: true, Err: ExtBad}
			}
			off := binary.BigEndian.Uint16(h[2:4]) >> 3
			if off != 0 {
				if target < 0 && (!IsExtHdr(h[0]) || h[0] == ProtoNoNext) {
					return Walk{Proto: h[0], Off: start + 8, FragOff: off, Frag: true}
				}
				if !found {
					return Walk{Frag: true, Err: ExtNotFound}
				}
				w.FragOff = off
				w.Proto, w.Off = next, start
				return w
			}
			hl = 8
		case ProtoAH:
			if flags&FindAuth != 0 && target < 0 {
				w.Proto, w.Off = next, start
				return w
			}
			hl = extLen(next, h)
		default:
			hl = extLen(next, h)
		}
		if found {
			break
		}
		next = h[0]
		start += hl
	}
	w.Proto, w.Off = next, start
	return w
}

// SkipExthdr is the kernel's ipv6_skip_exthdr over b, from an IPv6
// header ending at start whose Next Header is next: conntrack (for the
// packet and for the packet an ICMPv6 error quotes), REJECT, LOG and
// the ICMPv6 stack find the upper-layer header this way. Proto is the
// first Next Header that is not an extension header and Off where that
// header starts, which may be beyond len(b): unlike FindHdr, a header
// stepped over is not checked to fit. At the edges:
//   - No Next Header (59) is a failure (ExtBad), not a protocol;
//   - a later fragment (a Fragment header with a non-zero offset) stops
//     the walk at that Fragment header: Proto is 44 (the Fragment
//     header's own type, not its Next Header), Off its start, FragOff
//     its offset; conntrack treats that as "no protocol found";
//   - a header whose first two bytes (Fragment: four) are not in b is
//     ExtBad; there is no limit on the number of headers (see FindHdr).
//
// Frag reports a Fragment header met; MF is not reported.
func SkipExthdr(b []byte, start int, next uint8) Walk {
	var w Walk
	for IsExtHdr(next) {
		if next == ProtoNoNext || start < 0 || start+2 > len(b) {
			return Walk{Frag: w.Frag, Err: ExtBad}
		}
		h := b[start:]
		hl := 0
		if next == ProtoFragment {
			w.Frag = true
			if len(h) < 4 {
				return Walk{Frag: true, Err: ExtBad}
			}
			w.FragField = binary.BigEndian.Uint16(h[2:4])
			if off := w.FragField >> 3; off != 0 {
				w.FragOff = off
				break
			}
			hl = 8
		} else {
			hl = extLen(next, h)
		}
		next = h[0]
		start += hl
	}
	w.Proto, w.Off = next, start
	return w
}

// errWalk is the answer of the walker methods for a packet that is not
// a decoded IPv6 packet.
var errWalk = Walk{Err: ExtBad}

// FindHdr is FindHdr over the packet's own chain (from its IPv6 header);
// ExtBad for a packet that is not IPv6.
func (p *Packet) FindHdr(target int, flags FindFlags) Walk {
	if p.Version != 6 || len(p.Data) < ipv6HdrLen {
		return errWalk
	}
	return FindHdr(p.Data, ipv6HdrLen, p.NextHdr, target, flags)
}

// IP6tProto is the upper-layer protocol as ip6_tables (the legacy
// backend) sees it for -p and gives its matches as thoff and fragoff:
// ipv6_find_hdr with target -1 and no flags. Decode already holds it:
// Proto, HdrLen and ExtErr come from the same walk. Behind AH it finds
// the protocol AH protects; No Next Header is protocol 59. When it
// fails, ip6_packet_match hotdrops the packet for any rule with -p
// (even -p all), because the kernel's fragoff is then always 0.
func (p *Packet) IP6tProto() Walk { return p.FindHdr(-1, 0) }

// NftProto is the upper-layer protocol as nftables sees it (meta
// l4proto, and so iptables-nft's -p; th and the payload matches read at
// its Off unless FragOff is set): ipv6_find_hdr with target -1 and
// FindAuth, as nft_set_pktinfo_ipv6 calls it, so it stops at AH and
// returns 51. When it fails (or Off does not fit 16 bits, which a
// decoded packet never reaches) nftables has no l4proto: -p matches
// nothing, whatever its protocol, and nothing is dropped.
func (p *Packet) NftProto() Walk { return p.FindHdr(-1, FindAuth) }

// ConntrackProto is the upper-layer protocol as conntrack finds it
// (ipv6_get_l4proto: SkipExthdr from the IPv6 header). Conntrack gives
// up on the packet (no entry: INVALID to -m conntrack) when Err is not
// ExtOK or FragOff is not 0; No Next Header fails. REJECT and LOG walk
// the same way.
func (p *Packet) ConntrackProto() Walk {
	if p.Version != 6 || len(p.Data) < ipv6HdrLen {
		return errWalk
	}
	return SkipExthdr(p.Data, ipv6HdrLen, p.NextHdr)
}

// Extension header sizes the matches read with skb_header_pointer after
// finding their header; fewer bytes there make them hotdrop.
const (
	ExtNeedOpts = 2  // hbh, dst: struct ipv6_opt_hdr
	ExtNeedRt   = 4  // rt: struct ipv6_rt_hdr (srh reads 8, struct ipv6_sr_hdr, and never hotdrops)
	ExtNeedFrag = 8  // frag: struct frag_hdr
	ExtNeedAH   = 12 // ah: struct ip_auth_hdr
)

// FindExt finds the first extension header of type target (ProtoHopOpts,
// ProtoDstOpts, ProtoRouting, ProtoFragment, ProtoAH) as ip6t_hbh, the
// dst match, ip6t_rt, ip6t_frag, ip6t_ah and ip6t_srh do, and reads need
// bytes of it (ExtNeedOpts ...). hdr is Data from the header's first
// byte to the end of the packet, so len(hdr) is the kernel's
// skb->len - ptr, which hbh, dst, rt and srh compare with the header's
// length ("packet smaller than its length field": no match, no drop).
//
// found reports the header with need bytes of it present. hotdrop
// reports what hbh, dst, rt, frag and ah do when ipv6_find_hdr fails
// other than with -ENOENT (the first bytes of a header before it or of
// itself not there) or when fewer than need bytes are there; the
// srh match does not hotdrop and reads found alone. A later fragment
// hides every header behind its Fragment header (not found); the frag
// match finds the Fragment header of a later fragment. A packet that is
// not IPv6 has no extension header (not found, no drop).
func (p *Packet) FindExt(target uint8, need int) (hdr []byte, found, hotdrop bool) {
	if p.Version != 6 || len(p.Data) < ipv6HdrLen {
		return nil, false, false
	}
	w := FindHdr(p.Data, ipv6HdrLen, p.NextHdr, int(target), 0)
	switch w.Err {
	case ExtNotFound:
		return nil, false, false
	case ExtBad:
		return nil, false, true
	}
	if w.Off+need > len(p.Data) {
		return nil, false, true
	}
	return p.Data[w.Off:], true, false
}

// Bits of the ipv6header match's header mask (ip6t_ipv6header.h).
const (
	MaskHopOpts  = 0x80
	MaskDstOpts  = 0x40
	MaskRouting  = 0x20
	MaskFragment = 0x10
	MaskAH       = 0x08
	MaskESP      = 0x04
	MaskNone     = 0x02
	MaskProto    = 0x01
)

// IPv6HeaderMask is the walk of the ipv6header match (ip6t_ipv6header),
// which is neither of the two above: it steps over Hop-by-Hop, Routing,
// Fragment (always 8 bytes, later fragments too), AH and Destination
// Options headers with no limit on their number, and notes each kind in
// the mask; No Next Header sets MaskNone and ESP MaskESP, and ends it;
// any other protocol ending the chain sets MaskProto. ok is false where
// the match fails outright: fewer than 2 bytes left for the next
// extension header (or for ESP's), which includes a chain that ends
// exactly at the end of the packet with an extension header type still
// to come. A header that reaches beyond the packet ends the walk with
// what was seen (and its Next Header, if an upper layer, sets
// MaskProto). The match never hotdrops.
func (p *Packet) IPv6HeaderMask() (mask uint8, ok bool) {
	if p.Version != 6 || len(p.Data) < ipv6HdrLen {
		return 0, false
	}
	b := p.Data
	next := p.NextHdr
	ptr := ipv6HdrLen
	left := len(b) - ptr
	for IsExtHdr(next) || next == ProtoESP {
		if next == ProtoNoNext {
			mask |= MaskNone
			break
		}
		if left < 2 {
			return 0, false
		}
		if next == ProtoESP {
			mask |= MaskESP
			break
		}
		h := b[ptr:]
		hl := extLen(next, h)
		switch next {
		case ProtoHopOpts:
			mask |= MaskHopOpts
		case ProtoRouting:
			mask |= MaskRouting
		case ProtoFragment:
			mask |= MaskFragment
		case ProtoAH:
			mask |= MaskAH
		case ProtoDstOpts:
			mask |= MaskDstOpts
		}
		next = h[0]
		left -= hl
		ptr += hl
		if ptr > len(b) {
			break
		}
	}
	if next != ProtoNoNext && next != ProtoESP {
		mask |= MaskProto
	}
	return mask, true
}
