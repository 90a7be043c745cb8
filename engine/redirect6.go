package engine

import (
	"net/netip"
	"sync"

	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/host"
	"github.com/ipsift/ipsift/internal/xrlim"
)

// The IPv6 Redirect a forwarding host sends when a packet leaves by the
// link it came in on (ip6_forward, ndisc_send_redirect).

// peerLimits are the kernel's inet_peer entries of the IPv6 peer tree,
// per address, with their rate-limit token bucket
// (inet_peer_xrlim_allow: a token a second, at most six with
// XRLIM_BURST_FACTOR, full for an address not seen before). One entry
// serves every limit keyed by that address: ip6_forward's Redirect
// limit by destination, ndisc's by source, and icmp6_send's by the
// error's destination, which with net.ipv6.icmp.ratelimit 0 (the
// reference host) never refuses but empties the bucket. The bucket
// counts jiffies (HZ=250): it is refilled, and capped, only when a
// jiffy has passed since its last use, so an error sent in the jiffy of
// a Redirect (for the same packet) leaves the bucket as it was.
type peerLimits struct {
	mu    sync.Mutex
	peers map[netip.Addr]*xrlim.Bucket
}

// jiffyNS is the length of a jiffy (HZ=250) in nanoseconds.
const jiffyNS = int64(1e9 / 250)

func (l *peerLimits) allow(a netip.Addr, now int64) bool {
	return l.allowEvery(a, now, 250)
}

// allowEvery is inet_peer_xrlim_allow with a timeout of every jiffies,
// at time now (nanoseconds).
func (l *peerLimits) allowEvery(a netip.Addr, now, every int64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.peers == nil {
		l.peers = map[netip.Addr]*xrlim.Bucket{}
	}
	j := now / jiffyNS
	p := l.peers[a]
	if p == nil {
		b := xrlim.New(j, 250)
		p = &b
		l.peers[a] = p
	}
	return p.Allow(j, every)
}

// redirect6 is ip6_forward's Redirect for a packet that leaves by the
// link it came in on: rate-limited per destination, then
// ndisc_send_redirect: only when the source is a neighbour (its route
// has no gateway; a link-local source on that link) and within the
// per-source limit; from the link's
// link-local address to the source, hop limit 255, naming the target
// (the route's gateway, or the destination itself when on-link) and
// the destination, with the target's link-layer address (the host has
// every neighbour) and as much of the packet as fits 1280 bytes, in
// 8-byte units. It goes out through OUTPUT before the packet goes on,
// as the kernel sends it before the FORWARD hook.
func (e *Engine) redirect6(p *Program, s *State, in *Input, rt host.Route) {
	pk := &s.pkt
	if e.cfg.NoHostStack || !e.peers6.allow(pk.Dst, s.ctx.Now) {
		return
	}
	ifc := e.Host.Iface(in.In)
	if ifc == nil {
		return
	}
	src := host.LinkLocal(ifc.MAC)
	if e.Host.AddrType(src, in.In) != host.RTNLocal {
		return // ipv6_get_lladdr: the link has no link-local address
	}
	target := pk.Dst
	if rt.Gateway.IsValid() {
		target = rt.Gateway
		if !host.IsLinkLocal6(target) {
			// ndisc_send_redirect: a router to redirect to must be
			// named by its link-local address.
			s.note("no Redirect: the next hop " + target.String() + " is not a link-local address")
			return
		}
	}
	// ndisc_send_redirect routes the Redirect to the source with the
	// link as its output interface, which binds only a link-local
	// source to it (rt6_need_strict): another source is looked up as
	// any destination, and the Redirect leaves by that route's link.
	back, ok := e.Host.Lookup(pk.Src)
	if host.IsLinkLocal6(pk.Src) {
		back, ok = e.Host.LookupOn(pk.Src, in.In)
	}
	if !ok || back.Gateway.IsValid() {
		s.note("no Redirect: the source is not a neighbour")
		return
	}
	if !e.peers6.allow(pk.Src, s.ctx.Now) {
		return
	}
	const tlla = 8
	rd := min(1280-40-40-tlla, len(pk.Data)+8) &^ 7
	b := make([]byte, 40+40+tlla+rd)
	m := b[40:]
	m[0] = 137
	t, d := target.As16(), pk.Dst.As16()
	copy(m[8:24], t[:])
	copy(m[24:40], d[:])
	o := m[40:]
	o[0], o[1] = 2, 1 // target link-layer address: the neighbour's
	copy(o[2:8], ifc.Peer[:])
	h := o[tlla:]
	h[0], h[1] = 4, uint8(rd/8) // redirected header
	copy(h[8:], pk.Data[:min(len(pk.Data), rd-8)])
	ext.PutICMPv6Packet(b, src, pk.Src, 255)
	s.note("forwarded back out of " + in.In + ": the host sends a Redirect")
	// ndisc_alloc_skb gives the Redirect the link it is about as its
	// device, though its route may lead out of another.
	e.sendReply(p, s, b, replyOrigin{iif: in.In, dev: in.In}, false)
	// What the Redirect caused on its way out (a REJECT's error in
	// OUTPUT) is sent then and there, before the packet goes on to
	// FORWARD: nf_send_unreach6 sends it from inside the Redirect's
	// OUTPUT hook.
	e.sendReplies(p, s)
}
