package engine

import (
	"net/netip"

	"github.com/ipsift/ipsift/conntrack"
	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/packet"
)

// defrag6 is nf_defrag_ipv6 for an IPv6 packet where IPv6 connection
// tracking is in use (before the raw table): a fragment is held, dropped, or completes its datagram, which goes on
// without its Fragment header (engine/defrag.go, add6). done reports
// that the packet went no further.
func (e *Engine) defrag6(p *Program, s *State, in *Input) (done bool) {
	if !packet.IsExtHdr(s.pkt.NextHdr) {
		return false
	}
	user := fragConntrackIn
	if in.Local {
		user = fragConntrackOut
	}
	id := s.pkt.FragID
	what, whole, maxLen, sizes, at := e.defrag.add6At(user, in.In, &s.pkt, in.Now)
	res := &s.Result
	switch what {
	case defrag6Pass:
		return false
	case defrag6Held:
		res.Verdict = Drop
		s.note("fragment held for reassembly (IPv6 connection tracking reassembles before the raw table)")
		e.finishTrace(s)
		return true
	case defrag6Drop:
		res.Verdict = Drop
		s.note("nf_defrag_ipv6 drops the fragment")
		e.finishTrace(s)
		return true
	}
	s.fragMax, s.fragSizes, s.fragID = maxLen, sizes, id
	s.defragThoff = at.thoff
	if err := s.pkt.Decode(whole); err != nil {
		res.Verdict = Drop
		return true
	}
	s.note("reassembled: " + s.pkt.Summary())
	return false
}

// fragTimeExceeded sends the ICMPv6 Time Exceeded (code 1, fragment
// reassembly time exceeded) for a datagram whose queue timed out with
// its first fragment in it, as ip6frag_expire_frag_queue does: it
// quotes that fragment and goes out through OUTPUT. The answers of the
// packet being processed are sent after it.
func (e *Engine) fragTimeExceeded(p *Program, s *State, to fragTimeout6, now int64) {
	var q packet.Packet
	if q.Decode(to.First) != nil {
		return
	}
	saved, savedIn := s.pkt, s.inIf
	s.pkt = q
	ctx := ext.Ctx{Pkt: &s.pkt, Now: now, Host: e.Host, Hook: ext.PreRouting, PktType: ext.PktHost}
	s.inIf = ext.Iface{Name: to.In}
	if ifc := e.Host.Iface(to.In); ifc != nil {
		s.inIf = ifc.Iface
	}
	ctx.In = &s.inIf
	b := ext.BuildICMPv6Error(&ctx, 3, 1, 0)
	s.pkt, s.inIf = saved, savedIn
	if b == nil {
		return
	}
	s.note("a fragmented datagram timed out: the host sends ICMPv6 time exceeded")
	e.sendReply(p, s, b, replyOrigin{iif: to.In}, false)
}

// hostAddrs6 lists the host's IPv6 addresses for the NAT66 address
// choices (conntrack.SelectSource6, RedirectAddr6), interfaces in the
// kernel's order and each one's addresses in the order they were added
// (the host file's, then the link-local address).
func (e *Engine) hostAddrs6(dev string) []conntrack.HostAddr {
	var out []conntrack.HostAddr
	for _, ifc := range e.Host.Ifaces {
		if dev != "" && ifc.Name != dev {
			continue
		}
		for _, a := range ifc.Addrs {
			if a.Addr().Is6() {
				out = append(out, conntrack.HostAddr{Addr: a.Addr(), PrefixLen: a.Bits(), Dev: ifc.Name})
			}
		}
	}
	return out
}

// natAddress6 is natAddress for IPv6: MASQUERADE takes the source
// address selection picks for the next hop out of the output interface
// (nf_nat_masquerade_ipv6), REDIRECT ::1 for the host's own packets and
// otherwise the input interface's address of the destination's scope
// added last (nf_nat_redirect_ipv6).
func (e *Engine) natAddress6(s *State, h ext.Hook, req *ext.NATRequest) netip.Addr {
	switch {
	case req.Masquerade && s.ctx.Out != nil:
		a, _ := conntrack.SelectSource6(s.pkt.Dst, s.ctx.Out.Name, e.hostAddrs6(""))
		return a
	case req.Redirect && h == ext.LocalOut:
		return netip.IPv6Loopback()
	case req.Redirect && s.ctx.In != nil:
		a, _ := conntrack.RedirectAddr6(s.pkt.Dst, e.hostAddrs6(s.ctx.In.Name))
		return a
	}
	return netip.Addr{}
}
