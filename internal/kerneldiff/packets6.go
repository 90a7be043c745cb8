package kerneldiff

import (
	"math/rand/v2"
	"net/netip"

	"github.com/ipsift/ipsift/packet"
)

// IPv6 packets for the IPv6 twin of the reference host (packets.md,
// "IPv6"): hosts on both links and beyond the default route, the peers'
// link-local addresses, the host's own addresses (global, link-local,
// its multicast groups and the subnet-router anycast address that the
// aims often give), the DNPT/NETMAP outside prefix, and multicast the
// host has not joined (mDNS). Never an MLD query: the host's answer to
// one comes after a random delay.
var (
	eth0Hosts6  = []string{"2001:db8:100::9", "2001:db8:100::66", "2001:db8:113::7", "2001:db8:113::80", "fe80::ff:fe00:101"}
	wlan0Hosts6 = []string{"2001:db8:2::10", "2001:db8:2::11", "2001:db8:2::20", "2001:db8:2::99", "fe80::ff:fe00:201"}
	hostAddrs6  = []string{"2001:db8:100::1", "2001:db8:2::1"}
	otherDsts6  = []string{"2001:db8:113::50", "2001:db8:100::9", "2001:db8:2::10", "2001:db8:2::30", "2001:db8:300::10", "2001:db8:300::30", "ff02::1", "ff02::fb"}
	// linkLocal6 is each interface's own link-local address and its
	// peer's.
	linkLocal6 = map[string][2]string{"eth0": {"fe80::ff:fe00:1", "fe80::ff:fe00:101"}, "wlan0": {"fe80::ff:fe00:2", "fe80::ff:fe00:201"}}
)

// Generate6 returns IPv6 ruleset i of seed: an ip6tables-restore file
// and its packets.
func Generate6(seed uint64, i, packets int) (string, []Packet) {
	r := rand.New(rand.NewPCG(seed, uint64(i)))
	rs, a := genRuleset6(r)
	g := &packetGen{r: r, a: a, sport: uint16(30000 + r.IntN(1000)), six: true}
	return rs, g.packets(packets)
}

// addrFor6 picks a source for a packet arriving on ifname, or a
// destination: mostly the usual hosts, often an address the rules name.
func (g *packetGen) addrFor6(ifname string, dst bool) netip.Addr {
	r := g.r
	if len(g.a.addrs) > 0 && r.IntN(5) < 2 {
		a := pick(r, g.a.addrs)
		if a.Is6() && (dst || !isHostAddr(a) && !isAnycast6(a)) {
			return a
		}
	}
	if dst {
		switch r.IntN(6) {
		case 0, 1:
			return netip.MustParseAddr(pick(r, hostAddrs6))
		case 2:
			if ifname != "" && r.IntN(2) == 0 {
				return netip.MustParseAddr(linkLocal6[ifname][0])
			}
		}
		return netip.MustParseAddr(pick(r, otherDsts6))
	}
	if ifname == "wlan0" {
		return netip.MustParseAddr(pick(r, wlan0Hosts6))
	}
	return netip.MustParseAddr(pick(r, eth0Hosts6))
}

// isAnycast6 reports whether a is the subnet-router anycast address of
// one of the host's links (the host answers to it, never sends from it).
func isAnycast6(a netip.Addr) bool {
	for _, p := range subnets6 {
		if a == p.Addr() {
			return true
		}
	}
	return false
}

// extChoices are extension headers a packet may carry: options headers
// of two sizes, routing headers (type 0 with and without segments left,
// a segment routing header), an atomic fragment and AH.
func (g *packetGen) extHeader() packet.Ext {
	r := g.r
	switch r.IntN(9) {
	case 0, 1:
		return packet.Ext{Type: "hbh", Len: pick(r, g.extLens())}
	case 2, 3:
		return packet.Ext{Type: "dst", Len: pick(r, g.extLens())}
	case 4:
		return packet.Ext{Type: "rt", RtType: 0, SegLeft: pick(r, g.segLefts()), Addrs: []netip.Addr{netip.MustParseAddr(pick(r, []string{"2001:db8:2::10", "2001:db8:113::7"}))}}
	case 5:
		return packet.Ext{Type: "rt", RtType: 4, Addrs: []netip.Addr{netip.MustParseAddr("2001:db8:2::20")}}
	case 6:
		id := uint32(g.fragID())
		return packet.Ext{Type: "frag", ID: &id} // an atomic fragment
	default:
		return packet.Ext{Type: "ah", SPI: pick(r, []uint32{0, 1, 256, 1000})}
	}
}

func (g *packetGen) extLens() []uint8 {
	if len(g.a.extLens) > 0 && g.r.IntN(2) == 0 {
		return g.a.extLens
	}
	return []uint8{0, 0, 1}
}

func (g *packetGen) segLefts() []uint8 {
	if len(g.a.segLefts) > 0 && g.r.IntN(2) == 0 {
		return g.a.segLefts
	}
	return []uint8{0, 0, 1}
}

// fragID is a Fragment header identification, often one the rules test.
func (g *packetGen) fragID() uint16 {
	if len(g.a.fragIDs) > 0 && g.r.IntN(2) == 0 {
		return uint16(pick(g.r, g.a.fragIDs))
	}
	return uint16(4000 + g.r.IntN(1000))
}

// exts gives a chain of extension headers: mostly in RFC 8200's order,
// sometimes shuffled or with a header twice.
func (g *packetGen) exts() []packet.Ext {
	r := g.r
	var out []packet.Ext
	for n := 1 + r.IntN(2); n > 0; n-- {
		out = append(out, g.extHeader())
	}
	if r.IntN(3) > 0 {
		order := map[string]int{"hbh": 0, "dst": 1, "rt": 2, "frag": 3, "ah": 4}
		for i := 1; i < len(out); i++ {
			for j := i; j > 0 && order[out[j].Type] < order[out[j-1].Type]; j-- {
				out[j], out[j-1] = out[j-1], out[j]
			}
		}
	}
	return out
}

// base6 is base for IPv6.
func (g *packetGen) base6() packet.Desc {
	r := g.r
	var d packet.Desc
	switch r.IntN(8) {
	case 0:
		d.Local = true
		d.Dst = g.addrFor6("", true)
		if isHostAddr(d.Dst) || isAnycast6(d.Dst) {
			d.Dst = netip.MustParseAddr("2001:db8:113::50")
		}
		d.Src = netip.MustParseAddr(pick(r, hostAddrs6))
		if d.Dst.IsLinkLocalUnicast() || d.Dst.IsMulticast() {
			d.Src = netip.MustParseAddr(linkLocal6["eth0"][0])
		}
	default:
		d.In = pick(r, []string{"eth0", "eth0", "wlan0"})
		d.Src = g.addrFor6(d.In, false)
		d.Dst = g.addrFor6(d.In, true)
		if d.Dst.IsLinkLocalUnicast() && d.Dst != netip.MustParseAddr(linkLocal6[d.In][0]) {
			// On-link addresses only make sense on their link.
			d.Dst = netip.MustParseAddr(linkLocal6[d.In][0])
		}
	}
	switch k := r.IntN(20); {
	case k < 9:
		d.Proto = packet.ProtoTCP
		d.Sport, d.Dport = g.nextSport(), g.port()
		if r.IntN(3) == 0 {
			d.Sport = g.port()
		}
		d.Flags = g.flags()
	case k < 15:
		d.Proto = packet.ProtoUDP
		d.Sport, d.Dport = g.nextSport(), g.port()
		if r.IntN(3) == 0 {
			d.Sport = g.port()
		}
	case k < 18:
		d.Proto = packet.ProtoICMPv6
		d.Type = pick(r, []uint8{128, 129, 128})
		if len(g.a.icmp) > 0 && r.IntN(2) == 0 {
			t := pick(r, g.a.icmp)
			// Errors need a quoted packet (answers make those), ND its
			// own fields (nd6), MLD queries never.
			if t[0] == 128 || t[0] == 129 || t[0] == 133 {
				d.Type, d.Code = t[0], t[1]
			}
		}
	default:
		// No Next Header, GRE, a bare AH: the last Next Header and len
		// zero bytes.
		d.Proto = pick(r, []packet.Proto{59, 47, 59})
		d.Len = pick(r, []int{0, 8})
	}
	if r.IntN(4) == 0 {
		d.Ext = g.exts()
	}
	if len(g.a.ttls) > 0 && r.IntN(4) == 0 {
		d.TTL = ptr(pick(r, g.a.ttls))
	}
	if len(g.a.tos) > 0 && r.IntN(4) == 0 {
		d.TOS = pick(r, g.a.tos)
	}
	if r.IntN(10) == 0 {
		d.Flow = uint32(r.IntN(1 << 20))
	}
	if len(g.a.lengths) > 0 && r.IntN(4) == 0 {
		// -m length counts the whole packet: 40 bytes of IPv6 header,
		// the extension headers, the upper layer.
		d.Len = 0
		if total, hdr := pick(r, g.a.lengths), headerLen6(d); total >= hdr {
			d.Len = total - hdr
		}
	}
	return d
}

// headerLen6 is the size of d without its payload (len).
func headerLen6(d packet.Desc) int {
	d.Len = 0
	b, err := d.Build(0)
	if err != nil {
		return 40
	}
	return len(b)
}

// icmpError6 is the ICMPv6 counterpart of an IPv4 error of type t
// (packets.md's errors with a quoted packet): destination unreachable
// of any code, packet too big (sometimes with an MTU of its own), time
// exceeded, parameter problem (with a pointer).
func (g *packetGen) icmpError6(t uint8) packet.Desc {
	r := g.r
	d := packet.Desc{Proto: packet.ProtoICMPv6, Type: 1, Code: uint8(r.IntN(7))}
	switch {
	case t == 11 || r.IntN(5) == 0:
		d.Type, d.Code = 3, uint8(r.IntN(2))
	case r.IntN(4) == 0:
		d.Type, d.Code = 2, 0
		if r.IntN(2) == 0 {
			d.MTU = ptr(uint32(pick(r, []int{1280, 1400, 1500})))
		}
	case r.IntN(4) == 0:
		d.Type, d.Code, d.Pointer = 4, uint8(r.IntN(3)), uint32(pick(r, []int{0, 6, 40}))
	}
	return d
}

// nd6 adds neighbour discovery: a solicitation for one of the host's
// addresses (to its solicited-node group or to the address itself),
// sometimes for an address the host does not have; an unsolicited
// advertisement from a peer; a router solicitation. ND packets come from
// the peer's link-local address or from a global neighbour, hop limit
// 255 (sometimes 64: the stack then ignores them, after INPUT counted
// them).
func (g *packetGen) nd6() {
	r := g.r
	in := pick(r, []string{"eth0", "eth0", "wlan0"})
	own, peer := linkLocal6[in][0], linkLocal6[in][1]
	global := map[string][2]string{"eth0": {"2001:db8:100::1", "2001:db8:100::9"}, "wlan0": {"2001:db8:2::1", "2001:db8:2::10"}}[in]
	d := packet.Desc{In: in, Proto: packet.ProtoICMPv6, Src: netip.MustParseAddr(pick(r, []string{peer, peer, global[1]}))}
	switch r.IntN(6) {
	case 0, 1, 2:
		d.Type = 135
		d.Target = netip.MustParseAddr(pick(r, []string{global[0], global[0], own, "2001:db8:2::77"}))
		if r.IntN(3) == 0 {
			d.Dst = d.Target // unicast, as a neighbour checking reachability asks
		} else {
			t := d.Target.As16()
			d.Dst = netip.AddrFrom16([16]byte{0: 0xff, 1: 0x02, 11: 1, 12: 0xff, 13: t[13], 14: t[14], 15: t[15]})
		}
	case 3:
		d.Type = 136
		d.Target = d.Src
		d.Dst = netip.MustParseAddr(pick(r, []string{"ff02::1", own}))
	case 4:
		d.Type, d.Dst = 133, netip.MustParseAddr("ff02::2")
	default:
		d.Type, d.Dst = 128, netip.MustParseAddr(pick(r, []string{"ff02::1", own}))
	}
	if r.IntN(8) == 0 {
		d.TTL = ptr(uint8(64))
	}
	g.add(d)
}

// truncated6 is truncated for IPv6: d (origin, addresses, hop limit,
// traffic class) gets a truncated or zeroed upper layer, sometimes behind
// extension headers, or a truncated extension header itself (its number
// as the last Next Header and fewer bytes than it needs), and arrives
// sometimes as a first or a later fragment.
func (g *packetGen) truncated6(d packet.Desc) {
	r := g.r
	d.Proto = pick(r, []packet.Proto{packet.ProtoTCP, packet.ProtoTCP, packet.ProtoUDP, packet.ProtoICMPv6, 0, 43, 44, 60, 51})
	switch d.Proto {
	case 0, 43, 44, 60, 51:
		// A truncated extension header: up to one byte short of its
		// fixed part, or exactly it (its own Next Header 0 then says
		// hop-by-hop in the wrong place). Such a number is just a
		// protocol to the packets format (no Raw).
		d.Len = pick(r, []int{0, 1, 4, 7, 8, 12})
		d.Raw = false
	}
	if r.IntN(4) == 0 {
		d.Ext = g.exts()
	}
	if d.Local {
		g.add(d)
		return
	}
	switch r.IntN(4) {
	case 0:
		d.MF = true
		d.ID = ptr(g.fragID())
	case 1:
		d.ID = ptr(g.fragID())
		d.FragOff = uint16(1 + r.IntN(3))
		d.MF = r.IntN(2) == 0
	}
	g.add(d)
}
