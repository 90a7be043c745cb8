package conntrack

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/packet"
)

// router is a tiny forwarding engine around a Table, the way the engine
// is meant to drive conntrack and NAT for a forwarded packet: Track at
// PREROUTING, the nat PREROUTING decision (DNAT) or the null binding,
// Translate, routing, TTL, the nat POSTROUTING decision (SNAT,
// MASQUERADE) or the null binding, Translate, Confirm. Its "rules" are
// Go functions standing for the nat table.
type router struct {
	t   testing.TB
	tb  *Table
	now int64
	// pre and post return the NAT target the nat chain would apply to
	// the packet (nil: none).
	pre  func(p *packet.Packet) *ext.NATRequest
	post func(p *packet.Packet, out string) *ext.NATRequest
	// addrs are the host's IPv6 addresses (see SelectSource6), from
	// which MASQUERADE and REDIRECT pick theirs for IPv6.
	addrs []HostAddr
}

func newRouter(t testing.TB, cfg Config) *router {
	return &router{t: t, tb: New(cfg), now: 1e12}
}

// route picks the output interface of the harness host.
func route(dst netip.Addr) string {
	if netip.MustParsePrefix("192.0.2.0/24").Contains(dst) || netip.MustParsePrefix("2001:db8:2::/64").Contains(dst) {
		return "wlan0"
	}
	return "eth0"
}

// natAddr is the address a MASQUERADE or REDIRECT maps to: for IPv4
// the interface's address, for IPv6 the one the kernel picks from the
// host's addresses.
func (r *router) natAddr(req *ext.NATRequest, p *packet.Packet, dev string) netip.Addr {
	if p.Version != 6 {
		return ifaceAddr(dev)
	}
	if req.Redirect {
		var in []HostAddr
		for _, a := range r.addrs {
			if a.Dev == dev {
				in = append(in, a)
			}
		}
		a, _ := RedirectAddr6(p.Dst, in)
		return a
	}
	a, _ := SelectSource6(p.Dst, dev, r.addrs)
	return a
}

func ifaceAddr(name string) netip.Addr {
	if name == "wlan0" {
		return netip.MustParseAddr("192.0.2.1")
	}
	return fwOut
}

// decTTL is the kernel's ip_decrease_ttl (for IPv6 the hop limit, no
// checksum).
func decTTL(b []byte) {
	if b[0]>>4 == 6 {
		b[7]--
		return
	}
	check := uint32(binary.BigEndian.Uint16(b[10:]))
	check += 0x0100
	if check >= 0xffff {
		check++
	}
	binary.BigEndian.PutUint16(b[10:], uint16(check))
	b[8]--
}

// forward sends a packet in on interface in and returns its state, the
// interface it leaves by and its bytes there ("" and nil when dropped).
func (r *router) forward(in string, b []byte) (string, string, []byte) {
	p := decode(r.t, append([]byte(nil), b...))
	tb := r.tb
	e, st, reply := tb.Track(p, r.now)
	state := stateName(st, reply)
	if st == Drop {
		return state, "", nil
	}
	natChains := e != nil && st == ext.CTNew
	if e != nil {
		if natChains && !e.HasNAT(ext.NATDst) {
			if req := r.pre(p); req != nil {
				if err := tb.SetupNAT(e, req, r.natAddr(req, p, in)); err != nil {
					tb.Discard(e)
					return state, "", nil
				}
			}
			tb.SetupNullNAT(e, ext.NATDst)
		}
		if !tb.Translate(e, reply, ext.NATDst, p) {
			tb.Discard(e)
			return state, "", nil
		}
	}
	out := route(p.Dst)
	decTTL(p.Data)
	if e != nil {
		if natChains && !e.HasNAT(ext.NATSrc) {
			if req := r.post(p, out); req != nil {
				if err := tb.SetupNAT(e, req, r.natAddr(req, p, out)); err != nil {
					tb.Discard(e)
					return state, "", nil
				}
			}
			tb.SetupNullNAT(e, ext.NATSrc)
		}
		if !tb.Translate(e, reply, ext.NATSrc, p) {
			tb.Discard(e)
			return state, "", nil
		}
		if !tb.Confirm(e, r.now) {
			return state, "", nil
		}
	}
	return state, out, p.Data
}

// local sends a packet from the host itself: TrackLocal at OUTPUT, the
// nat OUTPUT decision (here always none: the null binding), routing, the
// nat POSTROUTING decision, Confirm.
func (r *router) local(b []byte) (string, string, []byte) {
	p := decode(r.t, append([]byte(nil), b...))
	tb := r.tb
	e, st, reply := tb.TrackLocal(p, r.now)
	state := stateName(st, reply)
	if st == Drop {
		return state, "", nil
	}
	out := route(p.Dst)
	if e != nil {
		if st == ext.CTNew {
			tb.SetupNullNAT(e, ext.NATDst)
		}
		tb.Translate(e, reply, ext.NATDst, p)
		if st == ext.CTNew && !e.HasNAT(ext.NATSrc) {
			if req := r.post(p, out); req != nil {
				if err := tb.SetupNAT(e, req, ifaceAddr(out)); err != nil {
					return state, "", nil
				}
			}
			tb.SetupNullNAT(e, ext.NATSrc)
		}
		tb.Translate(e, reply, ext.NATSrc, p)
		if !tb.Confirm(e, r.now) {
			return state, "", nil
		}
	}
	return state, out, p.Data
}

// gatewayNAT is the nat table of the NAT tests (natRules in iptables
// form): a port forward, a DNAT range, a UDP forward with a port, and
// masquerading of the inside network.
func gatewayNAT(r *router) {
	pf := &ext.NATRequest{Kind: ext.NATDst, Range: ext.NATRange{Flags: ext.NATMapIPs | ext.NATProtoSpecified,
		MinAddr: server, MaxAddr: server, MinPort: 22, MaxPort: 22}}
	spread := &ext.NATRequest{Kind: ext.NATDst, Range: ext.NATRange{Flags: ext.NATMapIPs,
		MinAddr: netip.MustParseAddr("192.0.2.10"), MaxAddr: netip.MustParseAddr("192.0.2.40")}}
	udpf := &ext.NATRequest{Kind: ext.NATDst, Range: ext.NATRange{Flags: ext.NATMapIPs | ext.NATProtoSpecified,
		MinAddr: server, MaxAddr: server, MinPort: 53, MaxPort: 53}}
	masq := &ext.NATRequest{Kind: ext.NATSrc, Masquerade: true}
	r.pre = func(p *packet.Packet) *ext.NATRequest {
		if p.Dst != fwOut {
			return nil
		}
		switch {
		case p.Proto == packet.ProtoTCP && p.DstPort == 2222:
			return pf
		case p.Proto == packet.ProtoTCP && p.DstPort == 8080:
			return spread
		case p.Proto == packet.ProtoUDP && p.DstPort == 5353:
			return udpf
		}
		return nil
	}
	r.post = func(p *packet.Packet, out string) *ext.NATRequest {
		if out == "eth0" && netip.MustParsePrefix("192.0.2.0/24").Contains(p.Src) {
			return masq
		}
		return nil
	}
}

const natRules = `*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -d 198.51.100.1/32 -p tcp --dport 2222 -j DNAT --to-destination 192.0.2.50:22
-A PREROUTING -d 198.51.100.1/32 -p tcp --dport 8080 -j DNAT --to-destination 192.0.2.10-192.0.2.40
-A PREROUTING -d 198.51.100.1/32 -p udp --dport 5353 -j DNAT --to-destination 192.0.2.50:53
-A POSTROUTING -s 192.0.2.0/24 -o eth0 -j MASQUERADE
COMMIT
`
