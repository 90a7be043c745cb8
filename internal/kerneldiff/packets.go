package kerneldiff

import (
	"math/rand/v2"
	"net/netip"
	"slices"

	"github.com/ipsift/ipsift/packet"
)

// Addresses packets come from and go to, besides the ones the rules
// name: hosts on both sides, the firewall's own addresses, the outside
// (routed via eth0's gateway) and wlan0's broadcast address.
var (
	eth0Hosts  = []string{"198.51.100.9", "198.51.100.66", "198.51.100.200", "203.0.113.7", "203.0.113.80"}
	wlan0Hosts = []string{"192.0.2.10", "192.0.2.11", "192.0.2.20", "192.0.2.99"}
	hostAddrs  = []string{"198.51.100.1", "192.0.2.1"}
	otherDsts  = []string{"203.0.113.50", "198.51.100.9", "192.0.2.10", "192.0.2.30", "192.0.2.255"}
	basePorts  = []uint16{22, 25, 53, 80, 443, 8080, 1023, 1024, 33434, 40000}
	baseFlags  = []string{"S", "S", "SA", "A", "R", "RA", "F", "FA", "PA", "", "SF", "FPU", "SR"}
)

func ptr[T any](v T) *T { return &v }

// packetGen makes packets for one ruleset.
type packetGen struct {
	r     *rand.Rand
	a     *aims
	sport uint16
	out   []Packet
	six   bool // IPv6 packets (packets6.go)
}

// addrFor picks a source for a packet arriving on ifname, or a
// destination: mostly the usual hosts, often an address the rules name.
func (g *packetGen) addrFor(ifname string, dst bool) netip.Addr {
	r := g.r
	if len(g.a.addrs) > 0 && r.IntN(5) < 2 {
		a := pick(r, g.a.addrs)
		if !dst && (a.As4()[3] == 0 || a.As4()[3] == 255 || isHostAddr(a)) {
			return g.addrFor(ifname, dst)
		}
		return a
	}
	if dst {
		if r.IntN(3) == 0 {
			return netip.MustParseAddr(pick(r, hostAddrs))
		}
		return netip.MustParseAddr(pick(r, otherDsts))
	}
	if ifname == "wlan0" {
		return netip.MustParseAddr(pick(r, wlan0Hosts))
	}
	return netip.MustParseAddr(pick(r, eth0Hosts))
}

func (g *packetGen) port() uint16 {
	if len(g.a.ports) > 0 && g.r.IntN(2) == 0 {
		return pick(g.r, g.a.ports)
	}
	return pick(g.r, basePorts)
}

// nextSport gives every flow a source port of its own, so that NAT never
// meets a clash (whose port the kernel picks at random).
func (g *packetGen) nextSport() uint16 {
	g.sport++
	return g.sport
}

func (g *packetGen) flags() *packet.TCPFlags {
	if len(g.a.flags) > 0 && g.r.IntN(2) == 0 {
		return ptr(pick(g.r, g.a.flags))
	}
	f, _ := packet.ParseTCPFlags(pick(g.r, baseFlags))
	return &f
}

// base is a packet with random origin, addresses and protocol fields.
func (g *packetGen) base() packet.Desc {
	if g.six {
		return g.base6()
	}
	r := g.r
	var d packet.Desc
	switch r.IntN(8) {
	case 0:
		d.Local = true
		d.Src = netip.MustParseAddr(pick(r, hostAddrs))
		for range 10 {
			d.Dst = g.addrFor("", true)
			if l := d.Dst.As4()[3]; !isHostAddr(d.Dst) && l != 255 && l != 0 {
				break // a raw socket without SO_BROADCAST cannot send to broadcast
			}
		}
		if l := d.Dst.As4()[3]; isHostAddr(d.Dst) || l == 255 || l == 0 {
			d.Dst = netip.MustParseAddr("203.0.113.50")
		}
	default:
		d.In = pick(r, []string{"eth0", "eth0", "wlan0"})
		d.Src = g.addrFor(d.In, false)
		d.Dst = g.addrFor(d.In, true)
	}
	switch k := r.IntN(10); {
	case k < 5:
		d.Proto = packet.ProtoTCP
		d.Sport, d.Dport = g.nextSport(), g.port()
		if r.IntN(3) == 0 {
			d.Sport = g.port()
		}
		d.Flags = g.flags()
	case k < 8:
		d.Proto = packet.ProtoUDP
		d.Sport, d.Dport = g.nextSport(), g.port()
		if r.IntN(3) == 0 {
			d.Sport = g.port()
		}
	case k < 9:
		d.Proto = packet.ProtoICMP
		d.Type = pick(r, []uint8{8, 0, 13})
		if len(g.a.icmp) > 0 && r.IntN(2) == 0 {
			t := pick(r, g.a.icmp)
			if t[0] != 3 && t[0] != 11 {
				d.Type, d.Code = t[0], t[1]
			}
		}
	default:
		d.Proto = 47
		d.Len = 8
	}
	if len(g.a.ttls) > 0 && r.IntN(4) == 0 {
		d.TTL = ptr(pick(r, g.a.ttls))
	}
	if len(g.a.tos) > 0 && r.IntN(4) == 0 {
		d.TOS = pick(r, g.a.tos)
	}
	if len(g.a.lengths) > 0 && r.IntN(4) == 0 {
		total := pick(r, g.a.lengths)
		hdr := 20
		switch d.Proto {
		case packet.ProtoTCP:
			hdr += 20
		case packet.ProtoUDP, packet.ProtoICMP:
			hdr += 8
		}
		if total >= hdr {
			d.Len = total - hdr
		}
	}
	return d
}

func (g *packetGen) add(d packet.Desc) int {
	g.out = append(g.out, Packet{Desc: d, Of: -1})
	return len(g.out) - 1
}

func (g *packetGen) answer(of int, kind answerKind, d packet.Desc) int {
	g.out = append(g.out, Packet{Desc: d, Of: of, Answer: kind})
	return len(g.out) - 1
}

// icmpError is the template of an ICMP error of IPv4 type t and code c,
// or of its ICMPv6 counterpart for IPv6 packets (icmpError6).
func (g *packetGen) icmpError(t, c uint8) packet.Desc {
	if g.six {
		return g.icmpError6(t)
	}
	return packet.Desc{Proto: packet.ProtoICMP, Type: t, Code: c}
}

// tcpSegment is the reply-direction template: flags, seq and ack.
func tcpSegment(flags string, seq, ack uint32) packet.Desc {
	f, _ := packet.ParseTCPFlags(flags)
	d := packet.Desc{Proto: packet.ProtoTCP, Flags: &f, Seq: ptr(seq)}
	if f&packet.TCPAck != 0 {
		d.Ack = ptr(ack)
	}
	return d
}

// flow adds a connection-shaped sequence: a TCP handshake with
// consistent sequence numbers, data, and a FIN or RST close (sometimes an
// out-of-window segment); a UDP request and reply; an ICMP echo and its
// reply; and sometimes an ICMP error quoting the first packet.
func (g *packetGen) flow() {
	r := g.r
	d := g.base()
	if d.Local && r.IntN(2) == 0 {
		d = g.base()
	}
	switch d.Proto {
	case packet.ProtoTCP:
		const c, s = 1000, 5000
		d.Flags, d.Seq, d.Ack = ptr(packet.TCPFlags(packet.TCPSyn)), ptr(uint32(c)), nil
		d.Len, d.TTL, d.TOS = 0, nil, 0
		syn := g.add(d)
		if r.IntN(6) == 0 {
			g.answer(syn, answerICMP, g.icmpError(3, pick(r, []uint8{1, 3})))
			return
		}
		g.answer(syn, answerReply, tcpSegment("SA", s, c+1))
		a := d
		a.Flags, a.Seq, a.Ack = ptr(packet.TCPFlags(packet.TCPAck)), ptr(uint32(c+1)), ptr(uint32(s+1))
		g.add(a)
		data := a
		data.Flags = ptr(packet.TCPFlags(packet.TCPAck | packet.TCPPsh))
		data.Len = 10
		g.add(data)
		if r.IntN(5) == 0 {
			odd := a
			odd.Seq = ptr(uint32(c + 1 + 10 + 1_000_000)) // far outside the window
			g.add(odd)
		}
		switch r.IntN(3) {
		case 0:
			rst := a
			rst.Flags, rst.Seq, rst.Ack = ptr(packet.TCPFlags(packet.TCPRst)), ptr(uint32(c+11)), nil
			g.add(rst)
		default:
			fin := a
			fin.Flags, fin.Seq = ptr(packet.TCPFlags(packet.TCPFin|packet.TCPAck)), ptr(uint32(c+11))
			g.add(fin)
			g.answer(syn, answerReply, tcpSegment("FA", s+1, c+12))
			last := a
			last.Seq, last.Ack = ptr(uint32(c+12)), ptr(uint32(s+2))
			g.add(last)
		}
	case packet.ProtoUDP:
		req := g.add(d)
		if r.IntN(4) == 0 {
			g.answer(req, answerICMP, g.icmpError(pick(r, []uint8{3, 11}), pick(r, []uint8{0, 3})))
		} else {
			g.answer(req, answerReply, packet.Desc{Proto: packet.ProtoUDP})
			g.add(d)
		}
	case packet.ProtoICMP:
		d.Type, d.Code = 8, 0
		req := g.add(d)
		g.answer(req, answerReply, packet.Desc{Proto: packet.ProtoICMP})
	case packet.ProtoICMPv6:
		if d.Raw {
			g.add(d)
			return
		}
		d.Type, d.Code, d.Target = 128, 0, netip.Addr{}
		req := g.add(d)
		g.answer(req, answerReply, packet.Desc{Proto: packet.ProtoICMPv6})
	default:
		g.add(d)
	}
}

// fragments adds a fragmented packet: its first fragment and a later one,
// or a later fragment alone. With conntrack in use the kernel reassembles
// before the raw table, and one held for reassembly raises nothing.
func (g *packetGen) fragments() {
	d := g.base()
	if d.Local {
		d = g.base()
		if d.Local {
			return
		}
	}
	if d.Proto == packet.ProtoTCP || d.Proto == packet.ProtoUDP {
		d.Len = 16
	}
	first := d
	first.MF = true
	first.ID = ptr(uint16(4000 + g.r.IntN(1000)))
	if g.r.IntN(3) > 0 {
		g.add(first)
	}
	later := d
	later.ID = first.ID
	later.FragOff = uint16(1 + g.r.IntN(8))
	later.MF = g.r.IntN(2) == 0
	g.add(later)
}

// truncatedLens are the lengths a truncated header gets: nothing; too
// short for the ports (below 4), for a udp or icmp header or the 8 bytes
// the kernel's port readers want (below 8); exactly 8 (a udp header of
// length 0, an icmp header with a bad checksum); too short for a tcp
// header (below 20); 20 and 24 zero bytes (a tcp header with data offset
// 0, which conntrack calls INVALID and tcp_v4_rcv drops).
var truncatedLens = []int{0, 1, 3, 4, 7, 8, 12, 13, 14, 19, 20, 24}

// truncated adds a tcp, udp or icmp packet whose transport header is
// truncated or zeroed: a raw packet (packet.Desc.Raw) of protocol 6, 17
// or 1, whose IP header is followed by len zero bytes and nothing else.
// It arrives on eth0 or wlan0, to a forwarded or a local destination, or
// is sent by the host; arriving ones are sometimes a first fragment
// (mf, which the kernel's defrag keeps waiting, or discards when it is
// shorter than 8 bytes) or a later fragment.
func (g *packetGen) truncated() {
	r := g.r
	d := g.base()
	// Only the origin, the addresses, ttl and tos of base stay.
	d = packet.Desc{In: d.In, Local: d.Local, Src: d.Src, Dst: d.Dst, TTL: d.TTL, TOS: d.TOS}
	d.Proto = pick(r, []packet.Proto{packet.ProtoTCP, packet.ProtoTCP, packet.ProtoUDP, packet.ProtoICMP})
	d.Raw = true
	d.Len = pick(r, truncatedLens)
	if g.six {
		g.truncated6(d)
		return
	}
	if d.Local {
		g.add(d)
		return
	}
	switch r.IntN(4) {
	case 0: // a first fragment
		d.MF = true
		d.ID = ptr(uint16(5000 + r.IntN(1000)))
	case 1: // a later fragment, the last or not
		d.ID = ptr(uint16(5000 + r.IntN(1000)))
		d.FragOff = uint16(1 + r.IntN(3))
		d.MF = r.IntN(2) == 0
	}
	g.add(d)
}

// genPackets makes about n packets aimed at a ruleset's values.
func genPackets(r *rand.Rand, a *aims, n int) []Packet {
	return (&packetGen{r: r, a: a, sport: uint16(30000 + r.IntN(1000))}).packets(n)
}

// packets makes about n packets.
func (g *packetGen) packets(n int) []Packet {
	r := g.r
	for len(g.out) < n {
		// IPv6: some neighbour discovery, router solicitations and
		// unsolicited advertisements.
		if g.six && r.IntN(12) == 0 {
			g.nd6()
			continue
		}
		// About 3% of the packets are truncated headers.
		if r.IntN(16) == 0 {
			g.truncated()
			continue
		}
		switch k := r.IntN(20); {
		case k < 10:
			g.add(g.base())
		case k < 17:
			g.flow()
		case k < 19:
			g.fragments()
		default:
			// An ICMP error about an earlier packet, late.
			if len(g.out) > 0 {
				of := r.IntN(len(g.out))
				// Not about a truncated header: it has no ports to
				// quote.
				if g.out[of].Answer == answerNone && !g.out[of].Desc.Raw {
					g.answer(of, answerICMP, g.icmpError(3, 1))
				}
			}
		}
	}
	// Drop answers whose packet was cut off by the length bound.
	return slices.DeleteFunc(g.out, func(p Packet) bool { return p.Of >= len(g.out) })
}
