package ext

import (
	"encoding/binary"
	"net/netip"
	"strings"

	"github.com/ipsift/ipsift/packet"
)

// REJECT (iptables' libipt_REJECT, the kernel's ipt_REJECT and
// nf_reject_ipv4): drop the packet and answer it with an ICMP
// destination-unreachable error or a TCP RST, built as the kernel builds
// them and handed to Ctx.Emit.
//
// The reply the kernel sends, and when it sends none:
//
// TCP RST (--reject-with tcp-reset), nf_send_reset:
//   - none for a non-first fragment, a packet whose TCP header is not all
//     there, a RST, a bad TCP checksum (checked in every hook: the
//     engine's packets carry finished checksums, see l4ChecksumOK), or
//     a packet whose route is broadcast or multicast;
//   - IPv4 header of 20 bytes: TOS 0, ID 0, DF, TTL 64 (the route's
//     default hop limit), addresses swapped;
//   - TCP header of 20 bytes, no options, window 0, ports swapped; when
//     the packet had ACK set: seq = its ack, no ACK flag; otherwise
//     seq 0, ACK set and ack = its seq + SYN + FIN + its payload length.
//
// ICMP unreachable (every other --reject-with), nf_send_unreach and
// icmp_send:
//   - none for a non-first fragment, a bad transport checksum (TCP,
//     ICMP, UDP with a checksum, ...; not GRE, AH, ESP, SCTP, UDP-Lite,
//     DCCP), a packet not addressed to this host
//     at the link layer (Ctx.PktType), a broadcast or multicast
//     destination, an ICMP error (or unknown ICMP type above 18);
//   - IPv4 header of 20 bytes: TOS = (the packet's TOS & 0x1e) | 0xc0,
//     no DF, TTL 64; source: the packet's destination when it was for
//     this host, in OUTPUT the packet's source, in FORWARD the address
//     the host would send from towards the packet's source (asked of
//     Ctx.Host when it has RouteSource, else 192.0.0.8 as the kernel
//     uses when it has no address);
//   - ICMP type 3 with the code of --reject-with, 4 unused bytes, then
//     the packet from its IP header on, cut at 548 bytes (576 - 20 - 8).
//
// Not modelled: the ICMP rate limits (icmp_ratelimit per destination,
// icmp_msgs_per_sec), echoing the packet's IP options in the error, the
// IP ID of ICMP errors (the kernel's is a keyed hash; ipsift writes 0),
// and moving the connection to CLOSE on a RST (conntrack's job).

// Reject types in the kernel's numbering (ipt_reject_with).
const (
	rejectNetUnreach = iota
	rejectHostUnreach
	rejectProtoUnreach
	rejectPortUnreach
	rejectEchoReply // no longer supported
	rejectNetProhib
	rejectHostProhib
	rejectTCPReset
	rejectAdminProhib
)

var rejectNames = [...]struct{ name, alias string }{
	rejectNetUnreach:   {"icmp-net-unreachable", "net-unreach"},
	rejectHostUnreach:  {"icmp-host-unreachable", "host-unreach"},
	rejectProtoUnreach: {"icmp-proto-unreachable", "proto-unreach"},
	rejectPortUnreach:  {"icmp-port-unreachable", "port-unreach"},
	rejectNetProhib:    {"icmp-net-prohibited", "net-prohib"},
	rejectHostProhib:   {"icmp-host-prohibited", "host-prohib"},
	rejectTCPReset:     {"tcp-reset", "tcp-rst"},
	rejectAdminProhib:  {"icmp-admin-prohibited", "admin-prohib"},
}

// rejectCodes are the ICMP codes of the reject types.
var rejectCodes = [...]uint8{
	rejectNetUnreach:   0,  // ICMP_NET_UNREACH
	rejectHostUnreach:  1,  // ICMP_HOST_UNREACH
	rejectProtoUnreach: 2,  // ICMP_PROT_UNREACH
	rejectPortUnreach:  3,  // ICMP_PORT_UNREACH
	rejectNetProhib:    9,  // ICMP_NET_ANO
	rejectHostProhib:   10, // ICMP_HOST_ANO
	rejectAdminProhib:  13, // ICMP_PKT_FILTERED
}

type rejectTarget struct {
	with int
}

func init() {
	RegisterTarget(&TargetType{
		Name:    "REJECT",
		Family:  IPv4,
		Options: []Option{{Name: "reject-with", Arg: OneArg}},
		Tables:  []string{"filter"},
		Hooks:   HookLocalIn | HookForward | HookLocalOut,
		New:     func() Target { return &rejectTarget{with: rejectPortUnreach} },
	})
}

// Parse implements Parser. Like iptables, a type may be abbreviated to
// any prefix of its name or alias, case-insensitively; the first type in
// the kernel's order wins ("icmp-h" is icmp-host-unreachable).
func (t *rejectTarget) Parse(opt, arg string, invert bool, more *Args) error {
	a := strings.ToLower(arg)
	for i, n := range rejectNames {
		if n.name == "" {
			continue
		}
		if strings.HasPrefix(n.name, a) || strings.HasPrefix(n.alias, a) {
			t.with = i
			return nil
		}
	}
	if strings.HasPrefix("echo-reply", a) || strings.HasPrefix("echoreply", a) {
		return Errorf("--reject-with echo-reply is no longer supported")
	}
	return Errorf("unknown reject type %q: use icmp-net-unreachable, icmp-host-unreachable, icmp-port-unreachable, icmp-proto-unreachable, icmp-net-prohibited, icmp-host-prohibited, icmp-admin-prohibited or tcp-reset", arg)
}

// Finish implements Parser: the kernel takes tcp-reset only in rules for
// -p tcp.
func (t *rejectTarget) Finish(r *RuleInfo) error {
	if t.with == rejectTCPReset && (r.Proto != packet.ProtoTCP || r.InvProto) {
		return Errorf("--reject-with tcp-reset needs -p tcp (the kernel refuses it for other protocols)")
	}
	return nil
}

// Save implements Parser.
func (t *rejectTarget) Save(b *strings.Builder) {
	b.WriteString(" --reject-with ")
	b.WriteString(rejectNames[t.with].name)
}

// Print implements Parser.
func (t *rejectTarget) Print(b *strings.Builder, numeric bool) {
	b.WriteString(" reject-with ")
	b.WriteString(rejectNames[t.with].name)
}

// closingConn is a connection that REJECT's RST can close: the kernel's
// nf_send_reset moves the packet's confirmed TCP connection to CLOSE
// (with the CLOSE timeout) when it sends the RST.
type closingConn interface {
	SetClosing(now int64)
}

// Compile implements Target.
func (t *rejectTarget) Compile(c *Compiler) (Action, error) {
	if t.with == rejectTCPReset {
		return ActionFunc(func(c *Ctx) Verdict {
			if c.Emit != nil {
				if rst := BuildReset(c); rst != nil {
					c.Emit(rst)
					// nf_send_reset: the refused connection is closing
					// now (nf_ct_set_closing).
					if cl, ok := c.Conn.(closingConn); ok {
						cl.SetClosing(c.Now)
					}
				}
			}
			return Drop
		}), nil
	}
	code := rejectCodes[t.with]
	return ActionFunc(func(c *Ctx) Verdict {
		if c.Emit != nil {
			if icmp := BuildUnreach(c, code); icmp != nil {
				c.Emit(icmp)
			}
		}
		return Drop
	}), nil
}

// RouteSourcer is what a Host may implement so that ICMP errors sent for
// forwarded packets carry the right source address: the address the host
// would send from towards dst (the route's preferred source).
type RouteSourcer interface {
	RouteSource(dst netip.Addr) (netip.Addr, bool)
}

// rejectData returns the packet's bytes up to its total length, as the
// kernel's skb is trimmed to it.
func rejectData(p *packet.Packet) []byte {
	d := p.Data
	if p.TotalLen > 0 && p.TotalLen < len(d) {
		d = d[:p.TotalLen]
	}
	return d
}

// routeIsBcastMcast says whether the packet's route is a broadcast or
// multicast one (RTCF_BROADCAST | RTCF_MULTICAST).
func routeIsBcastMcast(c *Ctx, dst netip.Addr) bool {
	if dst.IsMulticast() || dst == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return true
	}
	if c.Host != nil {
		switch c.Host.AddrType(dst, "") {
		case 3, 5: // RTN_BROADCAST, RTN_MULTICAST
			return true
		}
	}
	return false
}

// l4ChecksumOK verifies the transport checksum as nf_ip_checksum does,
// in every hook. (A socket's packet in OUTPUT whose checksum the kernel
// has not filled in yet, CHECKSUM_PARTIAL, counts as good there; the
// engine's callers hand it finished checksums, as the live datapath
// completes them, and a raw packet with a wrong one is refused as by
// the kernel.)
func l4ChecksumOK(c *Ctx, p *packet.Packet, l4 []byte) bool {
	if p.L4Verified {
		return true // CHECKSUM_UNNECESSARY or PARTIAL: nf_ip_checksum checks neither
	}
	switch p.Proto {
	case packet.ProtoTCP, packet.ProtoUDP:
		return Checksum(l4, PseudoSum(p.Src, p.Dst, p.Proto, len(l4))) == 0
	}
	// nf_ip_checksum sums these from the IP header on (whose own valid
	// checksum adds nothing in one's complement), so data that sums to
	// +0, all zero bytes, passes as well.
	return Checksum(l4, 0) == 0 || allZero(l4)
}

func allZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

// BuildReset returns the TCP RST the kernel's REJECT --reject-with
// tcp-reset sends for the packet in c, or nil when it sends none (see
// the file comment for the rules).
func BuildReset(c *Ctx) []byte {
	p := c.Pkt
	if p == nil || p.Version != 4 || p.FragOff != 0 || p.Proto != packet.ProtoTCP {
		return nil
	}
	d := rejectData(p)
	if p.HdrLen < 20 || len(d) < p.HdrLen+20 {
		return nil
	}
	l4 := d[p.HdrLen:]
	oflags := l4[13]
	if oflags&packet.TCPRst != 0 {
		return nil
	}
	if !l4ChecksumOK(c, p, l4) {
		return nil
	}
	if routeIsBcastMcast(c, p.Dst) {
		return nil
	}
	b := make([]byte, 40)
	b[0] = 0x45
	binary.BigEndian.PutUint16(b[2:], 40)
	binary.BigEndian.PutUint16(b[6:], 0x4000) // DF
	b[8] = 64
	b[9] = packet.ProtoTCP
	copy(b[12:16], d[16:20]) // source: the packet's destination
	copy(b[16:20], d[12:16])
	SetIPv4HeaderChecksum(b)
	t := b[20:]
	putResetTCP(t, l4)
	src := netip.AddrFrom4([4]byte(b[12:16]))
	dst := netip.AddrFrom4([4]byte(b[16:20]))
	binary.BigEndian.PutUint16(t[16:], Checksum(t, PseudoSum(src, dst, packet.ProtoTCP, 20)))
	return b
}

// putResetTCP writes into t (20 zero bytes) the TCP header of the RST
// answering the segment l4 (nf_reject_ip_tcphdr_put and its IPv6 twin),
// all but the checksum: ports swapped, no options, window 0; when the
// segment had ACK set, seq = its ack and no ACK flag, otherwise seq 0,
// ACK set and ack = its seq + SYN + FIN + its payload length.
func putResetTCP(t, l4 []byte) {
	oflags := l4[13]
	copy(t[0:2], l4[2:4])
	copy(t[2:4], l4[0:2])
	flags := uint8(packet.TCPRst)
	if oflags&packet.TCPAck != 0 {
		copy(t[4:8], l4[8:12]) // seq = its ack
	} else {
		doff := int(l4[12]>>4) * 4
		ack := binary.BigEndian.Uint32(l4[4:8]) + uint32(len(l4)) - uint32(doff)
		if oflags&packet.TCPSyn != 0 {
			ack++
		}
		if oflags&packet.TCPFin != 0 {
			ack++
		}
		binary.BigEndian.PutUint32(t[8:12], ack)
		flags |= packet.TCPAck
	}
	t[12] = 5 << 4
	t[13] = flags
}

// icmpIsError is the kernel's icmp_pointers[type].error: the ICMP types
// it never answers with an error (types above 18 count as errors too).
func icmpIsError(typ uint8) bool {
	switch typ {
	case 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12:
		return true
	}
	return typ > 18
}

// rejectVerifiesChecksum is nf_reject_verify_csum: protocols whose
// checksum covers the whole payload with the Internet checksum.
func rejectVerifiesChecksum(proto uint8, l4 []byte) bool {
	switch proto {
	case packet.ProtoUDP:
		return len(l4) < 8 || l4[6] != 0 || l4[7] != 0
	case 47, 51, 50, 132, 136, 33: // GRE AH ESP SCTP UDP-Lite DCCP
		return false
	}
	return true
}

// icmpINADDRDummy is the source the kernel uses for an ICMP error when
// it has no address to send from (INADDR_DUMMY, 192.0.0.8).
var icmpINADDRDummy = netip.AddrFrom4([4]byte{192, 0, 0, 8})

// BuildUnreach returns the ICMP destination-unreachable error with the
// given code that the kernel's REJECT sends for the packet in c, or nil
// when it sends none (see the file comment for the rules).
func BuildUnreach(c *Ctx, code uint8) []byte {
	p, _, l4, ok := quotable(c)
	if !ok || rejectVerifiesChecksum(p.Proto, l4) && !l4ChecksumOK(c, p, l4) {
		return nil
	}
	return BuildICMPError(c, 3, code) // ICMP_DEST_UNREACH
}

// quotable returns the packet in c, its data and its transport part,
// and whether an ICMP error may quote it at all (IPv4, the first
// fragment, a whole IP header).
func quotable(c *Ctx) (p *packet.Packet, d, l4 []byte, ok bool) {
	p = c.Pkt
	if p == nil || p.Version != 4 || p.FragOff != 0 {
		return nil, nil, nil, false
	}
	d = rejectData(p)
	if p.HdrLen < 20 || len(d) < p.HdrLen {
		return nil, nil, nil, false
	}
	return p, d, d[p.HdrLen:], true
}

// BuildICMPError returns the ICMP error of type and code that the
// kernel's icmp_send makes for the packet in c (REJECT's unreachables,
// ip_forward's time exceeded), or nil when it sends none: see the file
// comment for the rules, all but the transport checksum, which only
// REJECT verifies.
func BuildICMPError(c *Ctx, typ, code uint8) []byte {
	return BuildICMPErrorQuoting(c, typ, code, -1)
}

// BuildICMPErrorQuoting is BuildICMPError for a packet the stack has
// already cut short: icmp_send quotes what is left of the packet
// (skb_in->len), so it quotes at most quote bytes from the IP header on
// (the IP header's total length still says what arrived). UDP trims a
// datagram to its length field before it answers with port unreachable.
// A negative quote means the whole packet.
func BuildICMPErrorQuoting(c *Ctx, typ, code uint8, quote int) []byte {
	p, d, l4, ok := quotable(c)
	if !ok {
		return nil
	}
	if quote >= 0 && quote < len(d) {
		d = d[:quote]
	}
	if c.PktType != PktHost {
		return nil
	}
	if routeIsBcastMcast(c, p.Dst) {
		return nil
	}
	if p.Proto == packet.ProtoICMP {
		if len(l4) < 1 || icmpIsError(l4[0]) {
			return nil
		}
	}
	var src netip.Addr
	switch {
	case c.Hook == LocalIn || c.Hook == PreRouting || c.Host != nil && c.Host.AddrType(p.Dst, "") == 2:
		src = p.Dst // the route is local: answer from the address asked
	case c.Hook == LocalOut && (c.Host == nil || c.Host.AddrType(p.Src, "") == 2):
		src = p.Src // sent to ourselves: the route back picks our own address
		// (an answer the host forges for another address, a REJECT's
		// RST, is answered from the route back to that address)
	default:
		src = icmpINADDRDummy
		if rs, ok := c.Host.(RouteSourcer); ok {
			if a, ok := rs.RouteSource(p.Src); ok && a.Is4() {
				src = a
			}
		}
	}
	const room = 576 - 20 - 8
	n := len(d)
	if n > room {
		n = room
	}
	b := make([]byte, 28+n)
	b[0] = 0x45
	b[1] = p.TOS&0x1e | 0xc0
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	b[8] = 64
	b[9] = packet.ProtoICMP
	s4 := src.As4()
	copy(b[12:16], s4[:])
	copy(b[16:20], d[12:16])
	SetIPv4HeaderChecksum(b)
	b[20] = typ
	b[21] = code
	copy(b[28:], d[:n])
	binary.BigEndian.PutUint16(b[22:], Checksum(b[20:], 0))
	return b
}

// The IPv6 side of REJECT (libip6t_REJECT, the kernel's ip6t_REJECT and
// nf_reject_ipv6): the same rule shape with ICMPv6 types. The kernel's
// numbering (ip6t_reject_with) leaves gaps for types it no longer has
// (not-neighbor, echo-reply).
const (
	reject6NoRoute = iota
	reject6AdmProhib
	reject6NotNeighbor // no longer supported
	reject6AddrUnreach
	reject6PortUnreach
	reject6EchoReply // no longer supported
	reject6TCPReset
	reject6PolicyFail
	reject6RejectRoute
)

var reject6Names = [...]struct{ name, alias string }{
	reject6NoRoute:     {"icmp6-no-route", "no-route"},
	reject6AdmProhib:   {"icmp6-adm-prohibited", "adm-prohibited"},
	reject6AddrUnreach: {"icmp6-addr-unreachable", "addr-unreach"},
	reject6PortUnreach: {"icmp6-port-unreachable", "port-unreach"},
	reject6TCPReset:    {"tcp-reset", "tcp-reset"},
	reject6PolicyFail:  {"icmp6-policy-fail", "policy-fail"},
	reject6RejectRoute: {"icmp6-reject-route", "reject-route"},
}

type reject6Target struct{ with int }

func init() {
	RegisterTarget(&TargetType{
		Name:    "REJECT",
		Family:  IPv6,
		Options: []Option{{Name: "reject-with", Arg: OneArg}},
		Tables:  []string{"filter"},
		Hooks:   HookLocalIn | HookForward | HookLocalOut,
		New:     func() Target { return &reject6Target{with: reject6PortUnreach} },
	})
}

// Parse implements Parser: a prefix of a name or alias, any case; the
// first type in the kernel's order wins, as in libip6t_REJECT.
func (t *reject6Target) Parse(opt, arg string, invert bool, more *Args) error {
	a := strings.ToLower(arg)
	for i, n := range reject6Names {
		if n.name != "" && (strings.HasPrefix(n.name, a) || strings.HasPrefix(n.alias, a)) {
			t.with = i
			return nil
		}
	}
	return Errorf("unknown reject type %q: use icmp6-no-route, icmp6-adm-prohibited, icmp6-addr-unreachable, icmp6-port-unreachable, icmp6-policy-fail, icmp6-reject-route or tcp-reset", arg)
}

// Finish implements Parser: as for IPv4, tcp-reset needs -p tcp.
func (t *reject6Target) Finish(r *RuleInfo) error {
	if t.with == reject6TCPReset && (r.Proto != packet.ProtoTCP || r.InvProto) {
		return Errorf("--reject-with tcp-reset needs -p tcp (the kernel refuses it for other protocols)")
	}
	return nil
}

// Save implements Parser.
func (t *reject6Target) Save(b *strings.Builder) {
	b.WriteString(" --reject-with " + reject6Names[t.with].name)
}

// Print implements Parser.
func (t *reject6Target) Print(b *strings.Builder, numeric bool) {
	b.WriteString(" reject-with " + reject6Names[t.with].name)
}

// Compile implements Target.
//
// ip6t_REJECT: tcp-reset sends nf_send_reset6's RST (BuildReset6);
// every other type nf_send_unreach6's destination unreachable of its
// code, after reject6_csum_ok: no answer when the upper-layer header
// cannot be found (ipv6_skip_exthdr fails, or it starts at or beyond
// the end of the packet), for a later fragment, or when the transport
// checksum is wrong (for the protocols nf_reject_verify_csum checks).
// icmp6_send's own rules follow (BuildICMPv6Error).
func (t *reject6Target) Compile(c *Compiler) (Action, error) {
	if t.with == reject6TCPReset {
		return ActionFunc(func(c *Ctx) Verdict {
			if c.Emit != nil {
				if rst := BuildReset6(c); rst != nil {
					c.Emit(rst)
					if cl, ok := c.Conn.(closingConn); ok {
						cl.SetClosing(c.Now)
					}
				}
			}
			return Drop
		}), nil
	}
	code := reject6Codes[t.with]
	return ActionFunc(func(c *Ctx) Verdict {
		if c.Emit != nil && reject6ChecksumOK(c.Pkt) {
			if icmp := BuildICMPv6Error(c, 1, code, 0); icmp != nil { // ICMPV6_DEST_UNREACH
				c.Emit(icmp)
			}
		}
		return Drop
	}), nil
}

// reject6Codes are the ICMPv6 destination-unreachable codes of the
// reject types (nf_reject_ipv6's mapping).
var reject6Codes = [...]uint8{
	reject6NoRoute:     0, // ICMPV6_NOROUTE
	reject6AdmProhib:   1, // ICMPV6_ADM_PROHIBITED
	reject6AddrUnreach: 3, // ICMPV6_ADDR_UNREACH
	reject6PortUnreach: 4, // ICMPV6_PORT_UNREACH
	reject6PolicyFail:  5, // ICMPV6_POLICY_FAIL
	reject6RejectRoute: 6, // ICMPV6_REJECT_ROUTE
}

// reject6ChecksumOK is reject6_csum_ok.
func reject6ChecksumOK(p *packet.Packet) bool {
	if p == nil || p.Version != 6 {
		return false
	}
	if p.L4Verified {
		return true // skb_csum_unnecessary
	}
	d := rejectData(p)
	if len(d) < 40 {
		return false
	}
	w := packet.SkipExthdr(d, 40, d[6])
	if w.Err != packet.ExtOK || w.Off >= len(d) || w.FragOff != 0 {
		return false
	}
	l4 := d[w.Off:]
	if !rejectVerifiesChecksum(w.Proto, l4) {
		return true
	}
	return l4Checksum6OK(d, l4, w.Proto)
}
