package ext

import (
	"fmt"

	"github.com/ipsift/ipsift/classify"
	"github.com/ipsift/ipsift/packet"
)

// How iptables-nft runs -m tcp and -m udp. It does not use the kernel's
// xt_tcpudp match for them: their ports and flags become nf_tables
// payload expressions on the transport header (iptables' add_nft_tcp and
// add_nft_udp; -m tcp with --tcp-option still uses xt_tcpudp). Those
// expressions differ from xt_tcpudp at the edges, and the nf_tables
// backend is ipsift's reference (DIFFERENCES.md):
//
//   - They read the bytes after the IP header whatever the fragment
//     offset, so a later fragment is tested on what stands where a header
//     would be (for IPv6, on the IPv6 header's own first bytes: l4Raw);
//     xt_tcpudp never matches a later fragment.
//   - A packet too short for a test fails that test; nothing is dropped
//     (xt_tcpudp drops packets whose header is cut short).
//   - A test on the whole port range is left out, so "! --sport 0:65535"
//     matches everything.
//   - One port each way with the same negation is one four-byte
//     comparison: "! --sport 1 ! --dport 2" matches unless both are
//     equal, where xt_tcpudp needs both to differ.
//   - A rule with -m tcp and no options tests nothing at all.

// nftPorts is the port part of the expressions.
type nftPorts struct {
	spts, dpts     [2]uint16
	invSrc, invDst bool
}

func fullRange(r [2]uint16) bool { return r[0] == 0 && r[1] == 0xffff }

func single(r [2]uint16) bool { return r[0] != 0 && r[0] == r[1] }

// match runs the port expressions on the transport bytes l4.
func (n *nftPorts) match(l4 []byte) bool {
	if single(n.spts) && single(n.dpts) && n.invSrc == n.invDst {
		if len(l4) < 4 {
			return false
		}
		eq := uint16(l4[0])<<8|uint16(l4[1]) == n.spts[0] && uint16(l4[2])<<8|uint16(l4[3]) == n.dpts[0]
		return eq != n.invSrc
	}
	if !fullRange(n.spts) {
		if len(l4) < 2 || !inRange(n.spts, uint16(l4[0])<<8|uint16(l4[1]), n.invSrc) {
			return false
		}
	}
	if !fullRange(n.dpts) {
		if len(l4) < 4 || !inRange(n.dpts, uint16(l4[2])<<8|uint16(l4[3]), n.invDst) {
			return false
		}
	}
	return true
}

// l4Raw returns what follows the IP header, up to the total length,
// whether or not the packet is a fragment. For an IPv6 later fragment
// that is the IPv6 header itself: nft_set_pktinfo_ipv6's ipv6_find_hdr
// stops at the Fragment header without setting the transport offset,
// which stays 0, so the expressions read the first bytes of the packet
// (checked on this kernel: testdata/regress/ipv6-later-fragment-ports in
// internal/kerneldiff).
func l4Raw(p *packet.Packet) []byte {
	if p.Version == 6 && packet.IsExtHdr(p.NextHdr) && p.TotalLen <= len(p.Data) {
		if w := packet.FindHdr(p.Data, 40, p.NextHdr, -1, packet.FindAuth); w.Err == packet.ExtOK && w.FragOff != 0 {
			return p.Data[:p.TotalLen]
		}
	}
	if p.HdrLen <= 0 || p.TotalLen < p.HdrLen || p.TotalLen > len(p.Data) {
		return nil
	}
	if p.Version == 6 && p.FragOff != 0 {
		// nft_set_pktinfo_ipv6 keeps the fragment offset ipv6_find_hdr
		// found, and nft_payload_eval reads no transport header of a
		// later fragment: every test fails (measured by
		// sim.TestKernelIPv6).
		return nil
	}
	return p.Data[p.HdrLen:p.TotalLen]
}

// tcpNft is -m tcp (without --tcp-option) as iptables-nft runs it.
type tcpNft struct {
	nftPorts
	flgMask, flgCmp uint8
	invFlags        bool
	orig            *tcpMatch // for Explain
}

func newTCPNft(m *tcpMatch) *tcpNft {
	return &tcpNft{nftPorts: nftPorts{m.spts, m.dpts, m.invSrc, m.invDst}, flgMask: m.flgMask, flgCmp: m.flgCmp, invFlags: m.invFlags, orig: m}
}

// Match implements Matcher.
func (m *tcpNft) Match(c *Ctx) bool {
	p := c.Pkt
	if p.Proto != packet.ProtoTCP {
		return false
	}
	l4 := l4Raw(p)
	if m.flgMask != 0 {
		if len(l4) < 14 || (l4[13]&m.flgMask == m.flgCmp) == m.invFlags {
			return false
		}
	}
	return m.match(l4)
}

// Explain implements Explainer.
func (m *tcpNft) Explain(c *Ctx, matched bool) string {
	p := c.Pkt
	if p.Proto == packet.ProtoTCP && p.FragOff != 0 && p.Version == 6 {
		return "a later IPv6 fragment: nf_tables reads no transport header of it, so each test fails"
	}
	if p.Proto == packet.ProtoTCP && p.FragOff != 0 {
		return fmt.Sprintf("a later fragment: nf_tables reads the bytes where a tcp header would be (%s)", m.orig.Explain(withHeaderView(c), matched))
	}
	if p.Proto == packet.ProtoTCP && len(l4Raw(p)) < 20 {
		return "the tcp header is cut short: the tests that cannot read it fail"
	}
	return m.orig.Explain(c, matched)
}

// withHeaderView returns c with a packet whose transport fields are read
// from the bytes after the IP header, as nf_tables sees a later fragment.
func withHeaderView(c *Ctx) *Ctx {
	cp := *c
	pk := *c.Pkt
	l4 := l4Raw(&pk)
	pk.FragOff, pk.L4, pk.L4Fixed = 0, l4, len(l4) >= 20
	if len(l4) >= 4 {
		pk.SrcPort, pk.DstPort = uint16(l4[0])<<8|uint16(l4[1]), uint16(l4[2])<<8|uint16(l4[3])
	}
	if len(l4) >= 14 {
		pk.TCPFlags = l4[13]
	}
	cp.Pkt = &pk
	return &cp
}

// udpNft is -m udp as iptables-nft runs it.
type udpNft struct {
	nftPorts
	orig *udpMatch
}

// Match implements Matcher.
func (m *udpNft) Match(c *Ctx) bool {
	if c.Pkt.Proto != packet.ProtoUDP {
		return false
	}
	return m.match(l4Raw(c.Pkt))
}

// Explain implements Explainer.
func (m *udpNft) Explain(c *Ctx, matched bool) string {
	if c.Pkt.Proto == packet.ProtoUDP && c.Pkt.FragOff != 0 && c.Pkt.Version == 6 {
		return "a later IPv6 fragment: nf_tables reads no transport header of it, so each test fails"
	}
	if c.Pkt.Proto == packet.ProtoUDP && c.Pkt.FragOff != 0 {
		return "a later fragment: nf_tables reads the bytes where a udp header would be"
	}
	return m.orig.Explain(c, matched)
}

// Classify implements Classifiable. On a regular packet the bytes the
// expressions read are the header's, so they test what xt_tcpudp does.
func (m *tcpNft) Classify(r *classify.Rule) bool {
	classifyPorts(r, m.spts, m.dpts, m.invSrc, m.invDst)
	if m.flgMask != 0 {
		r.NarrowTCPFlags(m.flgMask, m.flgCmp, m.invFlags)
	}
	return true
}

// ClassifyExact implements ExactClassifiable: on a regular tcp packet
// Match tests the ports and the flags, nothing else.
func (m *tcpNft) ClassifyExact(r *classify.Rule, proto uint8) (ok, exact bool) {
	exact = proto == packet.ProtoTCP && portsExact(m.invSrc, m.invDst) && flagsExact(r, m.flgMask)
	return m.Classify(r), exact
}

// ClassifyExact implements ExactClassifiable: on a regular udp packet
// Match tests the ports, nothing else.
func (m *udpNft) ClassifyExact(r *classify.Rule, proto uint8) (ok, exact bool) {
	return m.Classify(r), proto == packet.ProtoUDP && portsExact(m.invSrc, m.invDst)
}

// Classify implements Classifiable.
func (m *udpNft) Classify(r *classify.Rule) bool {
	classifyPorts(r, m.spts, m.dpts, m.invSrc, m.invDst)
	return true
}
