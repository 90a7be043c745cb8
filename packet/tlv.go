package packet

// OptsVerdict is what the kernel's stack does with a Hop-by-Hop or
// Destination Options header (ip6_parse_tlv): accept it, drop the
// packet silently, or drop it with an ICMPv6 Parameter Problem.
type OptsVerdict uint8

const (
	OptsOK            OptsVerdict = iota // the header is accepted
	OptsDrop                             // dropped, no answer
	OptsParamProb                        // dropped with a Parameter Problem, code 0 (erroneous header field), pointing at Pointer
	OptsUnknownOption                    // dropped with a Parameter Problem, code 2 (unrecognized option), pointing at Pointer
)

// OptsProblemCode is the code of the Parameter Problem a verdict of
// OptsCheck sends (0 when it sends none).
func OptsProblemCode(v OptsVerdict) uint8 {
	if v == OptsUnknownOption {
		return 2
	}
	return 0
}

// MaxOpts is the default of net.ipv6.max_hbh_opts_number and
// max_dst_opts_number: the most non-padding options a header may carry.
const MaxOpts = 8

// OptsCheck is the kernel's check of the Options header at off in the
// IPv6 packet b (ipv6_parse_hopopts and ipv6_destopt_rcv, both through
// ip6_parse_tlv, with the default limits): Hop-by-Hop options before
// PREROUTING (hopbyhop true), Destination Options when the packet is
// delivered, after INPUT. dstMulticast is whether the IPv6 destination
// is multicast (which spares an unknown option of action 3 its
// Parameter Problem). Pointer is the offset, from the IPv6 header's
// first byte, that a Parameter Problem points at.
//
// Modelled, exactly: the header must be all there; Pad1 and PadN runs
// of at most 7 bytes, PadN holding only zeros; each option within the
// header; at most MaxOpts other options; an unknown option's action
// bits (00 skip, 01 drop, 10 Parameter Problem, 11 Parameter Problem
// unless the destination is multicast, code 2, pointing at the option);
// Router Alert (5) needs 2 data bytes; a Jumbo Payload option (0xC2)
// must have 4 data bytes at an offset of 4n+2 (else dropped), a length
// above 65535 (else a Parameter Problem at its data) and a payload
// length of 0 (else one at the option), and the packet must hold it.
// Not modelled: IOAM (0x31), CALIPSO (7) and the Home Address option
// (0xC9), which OptsCheck accepts, as it accepts a jumbogram's length
// without trimming the packet to it.
func OptsCheck(b []byte, off int, hopbyhop, dstMulticast bool) (v OptsVerdict, pointer int) {
	if off+8 > len(b) { // pskb_may_pull of the first 8 bytes
		return OptsDrop, 0
	}
	n := (int(b[off+1]) + 1) * 8
	if off+n > len(b) {
		return OptsDrop, 0
	}
	pad, count := 0, 0
	i, end := off+2, off+n
	for i < end {
		t := b[i]
		if t == 0 { // Pad1
			pad++
			if pad > 7 {
				return OptsDrop, 0
			}
			i++
			continue
		}
		if end-i < 2 {
			return OptsDrop, 0
		}
		l := int(b[i+1]) + 2
		if l > end-i {
			return OptsDrop, 0
		}
		if t == 1 { // PadN
			pad += l
			if pad > 7 {
				return OptsDrop, 0
			}
			for _, x := range b[i+2 : i+l] {
				if x != 0 {
					return OptsDrop, 0
				}
			}
			i += l
			continue
		}
		count++
		if count > MaxOpts {
			return OptsDrop, 0
		}
		switch {
		case hopbyhop && t == 5: // Router Alert
			if b[i+1] != 2 {
				return OptsDrop, 0
			}
		case hopbyhop && t == 0xc2: // Jumbo Payload
			if b[i+1] != 4 || i&3 != 2 {
				return OptsDrop, 0
			}
			jl := uint32(b[i+2])<<24 | uint32(b[i+3])<<16 | uint32(b[i+4])<<8 | uint32(b[i+5])
			if jl <= 0xffff {
				return OptsParamProb, i + 2
			}
			if b[4] != 0 || b[5] != 0 {
				return OptsParamProb, i
			}
			if int64(jl) > int64(len(b)-ipv6HdrLen) {
				return OptsDrop, 0
			}
		case hopbyhop && (t == 0x31 || t == 7), !hopbyhop && t == 0xc9:
			// IOAM, CALIPSO, Home Address: not modelled (accepted).
		default:
			switch t >> 6 {
			case 1:
				return OptsDrop, 0
			case 2:
				return OptsUnknownOption, i
			case 3:
				if !dstMulticast {
					return OptsUnknownOption, i
				}
				return OptsDrop, 0
			}
		}
		pad = 0
		i += l
	}
	return OptsOK, 0
}
