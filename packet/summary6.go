package packet

import (
	"encoding/binary"
	"net/netip"
	"strconv"
)

// summary6 is Summary for an IPv6 packet, in tcpdump -n's form (4.99):
//
//	IP6 2001:db8:113::7.40000 > 2001:db8:100::1.22: Flags [S], seq 1000, win 8192, length 0
//	IP6 fe80::ff:fe00:101 > ff02::1:ff00:1: ICMP6, neighbor solicitation, who has 2001:db8:100::1, length 32
//	IP6 2001:db8:2::10 > 2001:db8:100::9: HBH DSTOPT 53000 > 53: UDP, length 0
//
// With extension headers, as tcpdump, the addresses come without ports
// and each header gets a note (HBH, DSTOPT, RT6 (...), AH(...):, frag
// (OFFSET|LEN)) before the ports; a later fragment ends at its note. An
// upper layer that the legacy walk cannot reach prints what was seen
// and "[|ip6]". ICMPv6 types and codes tcpdump has no words for print
// "unknown ..." without the hex dump tcpdump adds.
func (p *Packet) summary6() string {
	b := make([]byte, 0, 128)
	b = append(b, "IP6 "...)
	l4 := p.L4
	direct := p.NextHdr == p.Proto && p.HdrLen == ipv6HdrLen && p.ExtErr == ExtOK
	showPorts := direct && (p.Proto == ProtoTCP || p.Proto == ProtoUDP) && len(l4) >= 4
	b = appendEndpoint(b, p.Src, binaryPort(l4, 0, showPorts), showPorts)
	b = append(b, " > "...)
	b = appendEndpoint(b, p.Dst, binaryPort(l4, 2, showPorts), showPorts)
	b = append(b, ':')
	if direct {
		return string(p.appendUpper6(b))
	}
	// The extension headers, as tcpdump's ip6_print walks them.
	data := p.Data
	next, off := p.NextHdr, ipv6HdrLen
	for IsExtHdr(next) && next != ProtoNoNext {
		if off+2 > len(data) {
			return string(append(b, " [|ip6]"...))
		}
		h := data[off:]
		hl := extLen(next, h)
		b = append(b, ' ')
		switch next {
		case ProtoHopOpts:
			b = append(b, "HBH"...)
		case ProtoDstOpts:
			b = append(b, "DSTOPT"...)
		case ProtoRouting:
			if hl > len(h) || len(h) < 8 {
				return string(append(b, "[|srcrt]"...))
			}
			b = appendRT6(b, h[:hl])
		case ProtoAH:
			if hl > len(h) || hl < 12 {
				return string(append(b, "[|AH]"...))
			}
			b = append(b, "AH(spi=0x"...)
			b = appendHex(b, h[4:8])
			b = append(b, ",seq=0x"...)
			b = strconv.AppendUint(b, uint64(binary.BigEndian.Uint32(h[8:12])), 16)
			if hl > 12 {
				b = append(b, ",icv=0x"...)
				b = appendHex(b, h[12:hl])
			}
			b = append(b, "):"...)
		case ProtoFragment:
			if len(h) < 8 {
				return string(append(b, "[|frag]"...))
			}
			fo := binary.BigEndian.Uint16(h[2:4]) &^ 7
			b = append(b, "frag ("...)
			b = strconv.AppendUint(b, uint64(fo), 10)
			b = append(b, '|')
			b = strconv.AppendInt(b, int64(len(data)-off-8), 10)
			b = append(b, ')')
			if fo != 0 {
				return string(b)
			}
		}
		if hl > len(h) {
			return string(append(b, " [|ip6]"...))
		}
		next = h[0]
		off += hl
	}
	if next == ProtoNoNext {
		return string(append(b, " no next header"...))
	}
	if p.ExtErr != ExtOK || p.Proto != next || p.HdrLen != off {
		return string(append(b, " [|ip6]"...))
	}
	if (next == ProtoTCP || next == ProtoUDP) && len(l4) >= 4 {
		b = append(b, ' ')
		b = strconv.AppendUint(b, uint64(binary.BigEndian.Uint16(l4[0:])), 10)
		b = append(b, " > "...)
		b = strconv.AppendUint(b, uint64(binary.BigEndian.Uint16(l4[2:])), 10)
		b = append(b, ':')
	}
	return string(p.appendUpper6(b))
}

// binaryPort reads the port at off of l4 when show is set.
func binaryPort(l4 []byte, off int, show bool) uint16 {
	if !show {
		return 0
	}
	return binary.BigEndian.Uint16(l4[off:])
}

func appendHex(b, v []byte) []byte {
	const hex = "0123456789abcdef"
	for _, x := range v {
		b = append(b, hex[x>>4], hex[x&15])
	}
	return b
}

// appendRT6 prints a routing header h (all of it) as tcpdump's rt6_print.
func appendRT6(b, h []byte) []byte {
	b = append(b, "RT6 (len="...)
	b = strconv.AppendUint(b, uint64(h[1]), 10)
	b = append(b, ", type="...)
	b = strconv.AppendUint(b, uint64(h[2]), 10)
	if h[2] == 0 {
		b = append(b, " [Deprecated]"...)
	}
	b = append(b, ", segleft="...)
	b = strconv.AppendUint(b, uint64(h[3]), 10)
	if h[2] == 4 {
		b = append(b, ", last-entry="...)
		b = strconv.AppendUint(b, uint64(h[4]), 10)
		b = append(b, ", tag="...)
		b = strconv.AppendUint(b, uint64(binary.BigEndian.Uint16(h[6:8])), 16)
	}
	if h[2] == 0 || h[2] == 2 || h[2] == 4 {
		for i := 0; 8+16*(i+1) <= len(h); i++ {
			b = append(b, ", ["...)
			b = strconv.AppendInt(b, int64(i), 10)
			b = append(b, ']')
			b = netip.AddrFrom16([16]byte(h[8+16*i:])).AppendTo(b)
		}
	}
	return append(b, ')')
}

// appendUpper6 prints the upper layer at p.L4 (p.Proto), IPv6's way.
func (p *Packet) appendUpper6(b []byte) []byte {
	switch {
	case p.FragOff != 0:
		b = append(b, " ip-proto-"...)
		return strconv.AppendUint(b, uint64(p.Proto), 10)
	case p.Proto == ProtoTCP:
		return p.appendTCP(b)
	case p.Proto == ProtoUDP:
		return p.appendUDP(b)
	case p.Proto == ProtoICMPv6:
		return p.appendICMP6(b)
	case p.Proto == ProtoNoNext:
		return append(b, " no next header"...)
	}
	b = append(b, " ip-proto-"...)
	b = strconv.AppendUint(b, uint64(p.Proto), 10)
	b = append(b, ' ')
	return strconv.AppendInt(b, int64(len(p.L4)), 10)
}

// icmp6Unreach are tcpdump's words for destination unreachable codes
// other than 2 and 4, with the quoted destination after them.
var icmp6Unreach = [...]string{
	0: "unreachable route ",
	1: " unreachable prohibited ",
	3: "unreachable address ",
}

var icmp6ParamProb = [...]string{
	0: "erroneous - octet ",
	1: "next header - octet ",
	2: "option - octet ",
	3: "incomplete header chain - octet ",
}

func (p *Packet) appendICMP6(b []byte) []byte {
	if !p.L4Fixed {
		return append(b, " [|icmp6]"...)
	}
	l4 := p.L4
	t, c := p.ICMPType, p.ICMPCode
	// The quoted packet of an error: its addresses and, past its
	// extension headers, its protocol and destination port.
	var qsrc, qdst netip.Addr
	if q := l4[icmpHdrLen:]; t < 128 && len(q) >= ipv6HdrLen {
		qsrc = netip.AddrFrom16([16]byte(q[8:24]))
		qdst = netip.AddrFrom16([16]byte(q[24:40]))
	}
	if t >= 1 && t <= 4 && t != 2 && !qdst.IsValid() {
		return append(b, " [|icmp6]"...)
	}
	b = append(b, " ICMP6, "...)
	switch t {
	case ICMPv6DstUnreach:
		b = append(b, "destination unreachable, "...)
		switch {
		case c == 2:
			b = append(b, "beyond scope "...)
			b = qdst.AppendTo(b)
			b = append(b, ", source address "...)
			b = qsrc.AppendTo(b)
		case c == 4:
			b = append(b, "unreachable port, "...)
			b = qdst.AppendTo(b)
			w := SkipExthdr(l4, icmpHdrLen+ipv6HdrLen, l4[icmpHdrLen+6])
			if w.Err != ExtOK || w.FragOff != 0 || w.Off+4 > len(l4) {
				return append(b, " [|icmp6]"...)
			}
			port := binary.BigEndian.Uint16(l4[w.Off+2:])
			switch w.Proto {
			case ProtoTCP:
				b = append(b, " tcp port "...)
			case ProtoUDP:
				b = append(b, " udp port "...)
			default:
				b = append(b, " protocol "...)
				b = strconv.AppendUint(b, uint64(w.Proto), 10)
				b = append(b, " port "...)
				b = strconv.AppendUint(b, uint64(port), 10)
				b = append(b, " unreachable"...)
				goto length
			}
			b = strconv.AppendUint(b, uint64(port), 10)
		case int(c) < len(icmp6Unreach) && icmp6Unreach[c] != "":
			b = append(b, icmp6Unreach[c]...)
			b = qdst.AppendTo(b)
		default:
			b = append(b, "unknown unreach code ("...)
			b = strconv.AppendUint(b, uint64(c), 10)
			b = append(b, ')')
		}
	case ICMPv6PacketTooBig:
		b = append(b, "packet too big, mtu "...)
		b = strconv.AppendUint(b, uint64(binary.BigEndian.Uint32(l4[4:8])), 10)
	case ICMPv6TimeExceeded:
		b = append(b, "time exceeded in-transit"...)
		switch c {
		case 0:
			b = append(b, " for "...)
			b = qdst.AppendTo(b)
		case 1:
			b = append(b, " (reassembly)"...)
		default:
			b = append(b, ", unknown code ("...)
			b = strconv.AppendUint(b, uint64(c), 10)
			b = append(b, ')')
		}
	case ICMPv6ParamProblem:
		b = append(b, "parameter problem, "...)
		if int(c) < len(icmp6ParamProb) {
			b = append(b, icmp6ParamProb[c]...)
			b = strconv.AppendUint(b, uint64(binary.BigEndian.Uint32(l4[4:8])), 10)
		} else {
			b = append(b, "code-#"...)
			b = strconv.AppendUint(b, uint64(c), 10)
		}
	case ICMPv6EchoRequest, ICMPv6EchoReply:
		if t == ICMPv6EchoRequest {
			b = append(b, "echo request, id "...)
		} else {
			b = append(b, "echo reply, id "...)
		}
		b = strconv.AppendUint(b, uint64(p.ICMPID), 10)
		b = append(b, ", seq "...)
		b = strconv.AppendUint(b, uint64(p.ICMPSeq), 10)
	case ICMPv6RouterSolicit:
		b = append(b, "router solicitation"...)
	case ICMPv6RouterAdvert:
		b = append(b, "router advertisement"...)
	case ICMPv6NeighSolicit, ICMPv6NeighAdvert:
		tgt, ok := p.NDTarget()
		if !ok {
			return append(b[:len(b)-len(" ICMP6, ")], " [|icmp6]"...)
		}
		if t == ICMPv6NeighSolicit {
			b = append(b, "neighbor solicitation, who has "...)
		} else {
			b = append(b, "neighbor advertisement, tgt is "...)
		}
		b = tgt.AppendTo(b)
	case ICMPv6Redirect:
		if len(l4) < 40 {
			return append(b[:len(b)-len(" ICMP6, ")], " [|icmp6]"...)
		}
		b = append(b, "redirect, "...)
		b = netip.AddrFrom16([16]byte(l4[8:24])).AppendTo(b)
		b = append(b, " to "...)
		b = netip.AddrFrom16([16]byte(l4[24:40])).AppendTo(b)
	default:
		b = append(b, "unknown icmp6 type ("...)
		b = strconv.AppendUint(b, uint64(t), 10)
		b = append(b, ')')
	}
length:
	b = append(b, ", length "...)
	return strconv.AppendInt(b, int64(len(l4)), 10)
}
