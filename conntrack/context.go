package conntrack

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/ipsift/ipsift/packet"
)

// Timeouts a connection context gets when it gives none: the kernel's
// defaults for the state (nf_conntrack_tcp_timeout_established and
// friends; udp_timeout_stream for an assured UDP connection).
func defaultTimeout(p Preload) time.Duration {
	switch {
	case p.Orig.Proto == protoTCP && p.TCPState == TCPEstablished:
		return 5 * 24 * time.Hour
	case p.Orig.Proto == protoTCP:
		return 2 * time.Minute
	case p.Assured:
		return 2 * time.Minute
	}
	return 30 * time.Second
}

// ContextOf returns the connection d.CT describes (packet.CT), to
// Insert before d is processed, or an error when d.CT is nil or the
// entry does not hold the packet (a conntrack line whose tuples are not
// the packet's in either direction).
func ContextOf(d packet.Desc) (Preload, error) {
	c := d.CT
	if c == nil {
		return Preload{}, fmt.Errorf("ct: the packet has no connection context")
	}
	var p Preload
	if c.Line != "" {
		var col int
		var err error
		p, col, err = ParseListLine(c.Line)
		if err != nil {
			return p, fmt.Errorf("ct (column %d of the conntrack line): %v", col, err)
		}
		own, ok := descTuple(d)
		if !ok || (own != p.Orig && own != p.Reply) {
			return p, fmt.Errorf("ct: the packet (%s) is in neither tuple of the conntrack line: give it the addresses, ports and protocol of its original (src= dst= sport= dport=) or its reply tuple", d.String())
		}
		return p, nil
	}
	own, ok := descTuple(d)
	if !ok {
		return p, fmt.Errorf("ct: a %s packet has no connection tuple", d.Proto)
	}
	inv, ok := own.Invert()
	if !ok {
		return p, fmt.Errorf("ct: %s has no reply direction, so no connection to be in", d.String())
	}
	if c.Reply {
		p.Orig, p.Reply = inv, own
	} else {
		p.Orig, p.Reply = own, inv
		// The reply comes from where DNAT sent the packet and goes to
		// where SNAT made it come from.
		if a := c.DNAT; a.IsValid() {
			p.Reply.Src = addr16(a.Addr())
			if a.Port() != 0 {
				p.Reply.SrcPort = a.Port()
			}
		}
		if a := c.SNAT; a.IsValid() {
			p.Reply.Dst = addr16(a.Addr())
			if a.Port() != 0 {
				p.Reply.DstPort = a.Port()
			}
		}
	}
	p.Mark = c.Mark
	switch c.State {
	case "UNREPLIED":
		p.TCPState = TCPSynSent
	case "SYN_SENT":
		p.TCPState = TCPSynSent
	default:
		p.SeenReply = true
		st, _ := tcpStates[c.State]
		p.TCPState = st
		p.Assured = c.State != "SYN_RECV"
	}
	if p.Orig.Proto != protoTCP {
		p.TCPState = TCPNone
	}
	p.Timeout = time.Duration(c.Timeout) * time.Second
	if c.Timeout == 0 {
		p.Timeout = defaultTimeout(p)
	}
	return p, nil
}

func addr16(a netip.Addr) [16]byte {
	if a.Is4() {
		return addr4(a.As4())
	}
	return a.As16()
}

// descTuple is the original-direction tuple conntrack makes of d.
func descTuple(d packet.Desc) (Tuple, bool) {
	var sport, dport uint16
	switch {
	case d.Raw:
	case d.Proto == packet.ProtoTCP || d.Proto == packet.ProtoUDP:
		sport, dport = d.Sport, d.Dport
	case d.Proto == packet.ProtoICMP || d.Proto == packet.ProtoICMPv6:
		dport = uint16(d.Type)<<8 | uint16(d.Code) // echo id 0 (packets.md)
	}
	return MakeTuple(d.Src, d.Dst, sport, dport, uint8(d.Proto))
}
