package packet

import (
	"encoding/binary"
	"net/netip"
	"strconv"
)

// Summary returns a one-line description of the packet in the style of
// tcpdump -n (version 4.99), without the timestamp, for trace output:
//
//	IP 203.0.113.7.40000 > 198.51.100.1.22: Flags [S], seq 1000, win 8192, length 0
//	IP 192.0.2.10.53000 > 198.51.100.9.53: UDP, length 32
//	IP 198.51.100.9 > 198.51.100.1: ICMP echo request, id 0, seq 0, length 8
//	IP 203.0.113.80 > 198.51.100.1: ICMP 203.0.113.80 udp port 33434 unreachable, length 36
//
// As in tcpdump, the TCP "length" is the payload after the TCP header,
// sequence numbers are absolute (tcpdump -S), flags print as F S R P .
// U E W in that order ("[S.]" is SYN+ACK) or "none"; the UDP length is
// the UDP length field minus 8; the ICMP length is the whole ICMP
// message. Unlike tcpdump, which shows fragment details only with -v,
// a fragment ends with the "(frag ID:LEN@OFFSET[+])" note of older
// tcpdumps, so that a trace shows what the firewall's -f sees; a later
// fragment shows only the protocol ("ip-proto-6"), having no transport
// header. A transport header too short to read prints tcpdump's
// truncation mark "[|tcp]" (or udp, icmp) with tcpdump's spacing, and an
// undecoded Packet "[|ip]". Other protocols print "ip-proto-N LEN", and
// what TCP and UDP carry (DNS on port 53, ...) is not decoded, where
// tcpdump would go on. Summary allocates; it is for people, not the
// packet path.
//
// IPv6 packets print as tcpdump prints them too ("IP6 ..."; see
// summary6).
func (p *Packet) Summary() string {
	if p.Version == 6 && len(p.Data) >= ipv6HdrLen {
		return p.summary6()
	}
	if p.Version != 4 || len(p.Data) < ipv4HdrLen {
		return "[|ip]"
	}
	b := make([]byte, 0, 96)
	b = append(b, "IP "...)
	// Like tcpdump, show the ports whenever their 4 bytes are there,
	// even if the rest of the header is not.
	showPorts := p.FragOff == 0 && (p.Proto == ProtoTCP || p.Proto == ProtoUDP) && len(p.L4) >= 4
	sport, dport := p.SrcPort, p.DstPort
	if showPorts {
		sport, dport = binary.BigEndian.Uint16(p.L4[0:2]), binary.BigEndian.Uint16(p.L4[2:4])
	}
	b = appendEndpoint(b, p.Src, sport, showPorts)
	b = append(b, " > "...)
	b = appendEndpoint(b, p.Dst, dport, showPorts)
	b = append(b, ':')

	switch {
	case p.FragOff != 0:
		b = append(b, " ip-proto-"...)
		b = strconv.AppendUint(b, uint64(p.Proto), 10)
	case p.Proto == ProtoTCP:
		b = p.appendTCP(b)
	case p.Proto == ProtoUDP:
		b = p.appendUDP(b)
	case p.Proto == ProtoICMP:
		b = p.appendICMP(b)
	default:
		b = append(b, " ip-proto-"...)
		b = strconv.AppendUint(b, uint64(p.Proto), 10)
		b = append(b, ' ')
		b = strconv.AppendInt(b, int64(len(p.L4)), 10)
	}
	if p.IsFragment() {
		b = append(b, " (frag "...)
		b = strconv.AppendUint(b, uint64(p.ID), 10)
		b = append(b, ':')
		b = strconv.AppendInt(b, int64(len(p.L4)), 10)
		b = append(b, '@')
		b = strconv.AppendUint(b, uint64(p.FragOff)*8, 10)
		if p.MF {
			b = append(b, '+')
		}
		b = append(b, ')')
	}
	return string(b)
}

func appendEndpoint(b []byte, a netip.Addr, port uint16, withPort bool) []byte {
	b = a.AppendTo(b)
	if withPort {
		b = append(b, '.')
		b = strconv.AppendUint(b, uint64(port), 10)
	}
	return b
}

// tcpdumpFlags are tcpdump's letters for the TCP flag bits, bit 0 first.
const tcpdumpFlags = "FSRP.UEW"

func (p *Packet) appendTCP(b []byte) []byte {
	// tcpdump's truncation and error notes start with two spaces.
	if !p.L4Fixed {
		if len(p.L4) < 4 {
			return append(b, " [|tcp]"...) // one space when no ports were printed
		}
		return append(b, "  [|tcp]"...)
	}
	if p.TCPDoff < tcpHdrLen {
		b = append(b, "  tcp "...)
		b = strconv.AppendInt(b, int64(len(p.L4)-p.TCPDoff), 10)
		b = append(b, " [bad hdr length "...)
		b = strconv.AppendInt(b, int64(p.TCPDoff), 10)
		return append(b, " - too short, < 20]"...)
	}
	b = append(b, " Flags ["...)
	if p.TCPFlags == 0 {
		b = append(b, "none"...)
	}
	for i := 0; i < 8; i++ {
		if p.TCPFlags&(1<<i) != 0 {
			b = append(b, tcpdumpFlags[i])
		}
	}
	b = append(b, ']')
	if p.TCPDoff > len(p.L4) {
		b = append(b, " [bad hdr length "...)
		b = strconv.AppendInt(b, int64(p.TCPDoff), 10)
		b = append(b, " - too long, > "...)
		b = strconv.AppendInt(b, int64(len(p.L4)), 10)
		return append(b, ']')
	}
	n := len(p.L4) - p.TCPDoff
	if n > 0 || p.TCPFlags&(TCPSyn|TCPFin|TCPRst) != 0 {
		b = append(b, ", seq "...)
		b = strconv.AppendUint(b, uint64(p.Seq), 10)
		if n > 0 {
			b = append(b, ':')
			b = strconv.AppendUint(b, uint64(p.Seq+uint32(n)), 10)
		}
	}
	if p.TCPFlags&TCPAck != 0 {
		b = append(b, ", ack "...)
		b = strconv.AppendUint(b, uint64(p.Ack), 10)
	}
	b = append(b, ", win "...)
	b = strconv.AppendUint(b, uint64(p.Window), 10)
	if p.TCPFlags&TCPUrg != 0 {
		b = append(b, ", urg "...)
		b = strconv.AppendUint(b, uint64(binary.BigEndian.Uint16(p.L4[18:20])), 10)
	}
	if opts := p.TCPOptions(); len(opts) > 0 {
		b = append(b, ", options ["...)
		b = appendTCPOptions(b, opts)
		b = append(b, ']')
	}
	b = append(b, ", length "...)
	return strconv.AppendInt(b, int64(n), 10)
}

// appendTCPOptions prints options as tcpdump does for the common kinds.
func appendTCPOptions(b []byte, o []byte) []byte {
	for i := 0; len(o) > 0; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		kind := o[0]
		switch kind {
		case 0:
			// The end of the list: tcpdump prints nothing after it.
			return append(b, "eol"...)
		case 1:
			b = append(b, "nop"...)
			o = o[1:]
			continue
		}
		if len(o) < 2 || int(o[1]) < 2 || int(o[1]) > len(o) {
			return append(b, "[bad opt]"...)
		}
		n := int(o[1])
		v := o[2:n]
		switch {
		case kind == 2 && n == 4:
			b = append(b, "mss "...)
			b = strconv.AppendUint(b, uint64(binary.BigEndian.Uint16(v)), 10)
		case kind == 3 && n == 3:
			b = append(b, "wscale "...)
			b = strconv.AppendUint(b, uint64(v[0]), 10)
		case kind == 4 && n == 2:
			b = append(b, "sackOK"...)
		case kind == 5 && (n-2)%8 == 0:
			b = append(b, "sack "...)
			b = strconv.AppendInt(b, int64((n-2)/8), 10)
			b = append(b, ' ')
			for j := 0; j+8 <= len(v); j += 8 {
				b = append(b, '{')
				b = strconv.AppendUint(b, uint64(binary.BigEndian.Uint32(v[j:])), 10)
				b = append(b, ':')
				b = strconv.AppendUint(b, uint64(binary.BigEndian.Uint32(v[j+4:])), 10)
				b = append(b, '}')
			}
		case kind == 8 && n == 10:
			b = append(b, "TS val "...)
			b = strconv.AppendUint(b, uint64(binary.BigEndian.Uint32(v)), 10)
			b = append(b, " ecr "...)
			b = strconv.AppendUint(b, uint64(binary.BigEndian.Uint32(v[4:])), 10)
		default:
			b = append(b, "unknown-"...)
			b = strconv.AppendUint(b, uint64(kind), 10)
			if len(v) > 0 {
				b = append(b, " 0x"...)
				for _, x := range v {
					b = append(b, "0123456789abcdef"[x>>4], "0123456789abcdef"[x&15])
				}
			}
		}
		o = o[n:]
	}
	return b
}

func (p *Packet) appendUDP(b []byte) []byte {
	if !p.L4Fixed {
		if len(p.L4) >= 4 {
			b = append(b, " truncated-udp "...)
			return strconv.AppendInt(b, int64(len(p.L4)), 10)
		}
		return append(b, "  [|udp]"...)
	}
	ulen := int(binary.BigEndian.Uint16(p.L4[4:6]))
	switch {
	case ulen < udpHdrLen:
		b = append(b, " truncated-udplength "...)
		return strconv.AppendInt(b, int64(ulen), 10)
	case ulen > len(p.L4):
		// tcpdump compares payload lengths, the header's 8 bytes off.
		b = append(b, " UDP, bad length "...)
		b = strconv.AppendInt(b, int64(ulen-udpHdrLen), 10)
		b = append(b, " > "...)
		return strconv.AppendInt(b, int64(len(p.L4)-udpHdrLen), 10)
	}
	b = append(b, " UDP, length "...)
	return strconv.AppendInt(b, int64(ulen-udpHdrLen), 10)
}

// unreachFormats are tcpdump's texts for destination-unreachable codes
// other than 2, 3 and 4, with the quoted destination where %s is.
var unreachFormats = [...]string{
	0:  "net %s unreachable",
	1:  "host %s unreachable",
	5:  "%s unreachable - source route failed",
	6:  "net %s unreachable - unknown",
	7:  "host %s unreachable - unknown",
	8:  "%s unreachable - source host isolated",
	9:  "net %s unreachable - admin prohibited",
	10: "host %s unreachable - admin prohibited",
	11: "net %s unreachable - tos prohibited",
	12: "host %s unreachable - tos prohibited",
	13: "host %s unreachable - admin prohibited filter",
	14: "host %s unreachable - host precedence violation",
	15: "host %s unreachable - precedence cutoff",
}

var icmpQueryNames = map[uint8]string{
	0:  "echo reply",
	4:  "source quench",
	8:  "echo request",
	10: "router solicitation",
	15: "information request",
	16: "information reply",
	17: "address mask request",
}

func (p *Packet) appendICMP(b []byte) []byte {
	if !p.L4Fixed {
		return append(b, "  [|icmp]"...)
	}
	l4 := p.L4
	// The quoted packet of an error: its destination, protocol and, past
	// its own header, its destination port.
	var qdst netip.Addr
	var qproto uint8
	qport, qportOK := uint16(0), false
	if q := l4[icmpHdrLen:]; len(q) >= ipv4HdrLen {
		qdst = netip.AddrFrom4([4]byte(q[16:20]))
		qproto = q[9]
		if hl := int(q[0]&15) * 4; hl >= ipv4HdrLen && len(q) >= hl+4 {
			qport, qportOK = binary.BigEndian.Uint16(q[hl+2:]), true
		}
	}
	t, c := p.ICMPType, p.ICMPCode
	if (t == 3 || t == 5 || t == 11) && !qdst.IsValid() || t == 3 && c == 3 && !qportOK {
		return append(b, "  [|icmp]"...)
	}
	b = append(b, " ICMP "...)
	switch {
	case t == 0 || t == 8:
		b = append(b, "echo "...)
		if t == 8 {
			b = append(b, "request"...)
		} else {
			b = append(b, "reply"...)
		}
		b = append(b, ", id "...)
		b = strconv.AppendUint(b, uint64(p.ICMPID), 10)
		b = append(b, ", seq "...)
		b = strconv.AppendUint(b, uint64(p.ICMPSeq), 10)
	case t == 3 || t == 5 || t == 11:
		b = appendICMPError(b, t, c, qdst, qproto, qport, l4)
	case t == 12:
		if c != 0 {
			b = append(b, "parameter problem - code "...)
			b = strconv.AppendUint(b, uint64(c), 10)
		} else {
			b = append(b, "parameter problem - octet "...)
			b = strconv.AppendUint(b, uint64(l4[4]), 10)
		}
	case t == 13 || t == 14:
		if t == 13 {
			b = append(b, "time stamp query id "...)
		} else {
			b = append(b, "time stamp reply id "...)
		}
		b = strconv.AppendUint(b, uint64(p.ICMPID), 10)
		b = append(b, " seq "...)
		b = strconv.AppendUint(b, uint64(p.ICMPSeq), 10)
	default:
		if n, ok := icmpQueryNames[t]; ok {
			b = append(b, n...)
		} else {
			b = append(b, "type-#"...)
			b = strconv.AppendUint(b, uint64(t), 10)
		}
	}
	b = append(b, ", length "...)
	return strconv.AppendInt(b, int64(len(l4)), 10)
}

func appendICMPError(b []byte, t, c uint8, qdst netip.Addr, qproto uint8, qport uint16, l4 []byte) []byte {
	switch t {
	case 3:
		switch {
		case c == 2:
			b = qdst.AppendTo(b)
			b = append(b, " protocol "...)
			b = strconv.AppendUint(b, uint64(qproto), 10)
			return append(b, " unreachable"...)
		case c == 3:
			b = qdst.AppendTo(b)
			switch qproto {
			case ProtoTCP:
				b = append(b, " tcp port "...)
			case ProtoUDP:
				b = append(b, " udp port "...)
			default:
				b = append(b, " protocol "...)
				b = strconv.AppendUint(b, uint64(qproto), 10)
				b = append(b, " port "...)
			}
			b = strconv.AppendUint(b, uint64(qport), 10)
			return append(b, " unreachable"...)
		case c == 4:
			b = qdst.AppendTo(b)
			b = append(b, " unreachable - need to frag"...)
			if mtu := binary.BigEndian.Uint16(l4[6:8]); mtu != 0 {
				b = append(b, " (mtu "...)
				b = strconv.AppendUint(b, uint64(mtu), 10)
				b = append(b, ')')
			}
			return b
		case int(c) < len(unreachFormats) && unreachFormats[c] != "":
			return appendFormat(b, unreachFormats[c], qdst)
		}
		b = qdst.AppendTo(b)
		b = append(b, " unreachable - #"...)
		return strconv.AppendUint(b, uint64(c), 10)
	case 5:
		gw := netip.AddrFrom4([4]byte(l4[4:8]))
		switch c {
		case 0:
			b = append(b, "redirect "...)
		case 1:
			b = append(b, "redirect "...)
		case 2, 3:
			b = append(b, "redirect-tos "...)
		default:
			b = append(b, "redirect-#"...)
			b = strconv.AppendUint(b, uint64(c), 10)
			b = append(b, ' ')
		}
		b = qdst.AppendTo(b)
		if c == 1 || c == 3 {
			b = append(b, " to host "...)
		} else {
			b = append(b, " to net "...)
		}
		return gw.AppendTo(b)
	}
	// 11, time exceeded
	switch c {
	case 0:
		return append(b, "time exceeded in-transit"...)
	case 1:
		return append(b, "ip reassembly time exceeded"...)
	}
	b = append(b, "time exceeded-#"...)
	return strconv.AppendUint(b, uint64(c), 10)
}

// appendFormat appends f with its one "%s" replaced by a.
func appendFormat(b []byte, f string, a netip.Addr) []byte {
	for i := 0; i+1 < len(f); i++ {
		if f[i] == '%' && f[i+1] == 's' {
			b = append(b, f[:i]...)
			b = a.AppendTo(b)
			return append(b, f[i+2:]...)
		}
	}
	return append(b, f...)
}
