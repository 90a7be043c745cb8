package replay

import (
	"encoding/binary"
	"io"
	"net/netip"

	"github.com/ipsift/ipsift/capture"
	"github.com/ipsift/ipsift/engine"
	"github.com/ipsift/ipsift/packet"
)

// A capture that holds the host's own packets before OUTPUT (NFLOG at
// the output hook) holds the answers the firewall itself sent: REJECT's
// RSTs and ICMP errors, the forwarding path's time-exceeded. The engine
// makes those answers too, so a captured one must not run again. Each
// answer is recognised by the packet it answers: a RST carries that
// packet's addresses and ports swapped, an ICMP error quotes its IP
// header. answerKey is that packet's identity.
type answerKey struct {
	src, dst netip.Addr
	proto    uint8
	id       uint32 // ports (sport<<16|dport) for TCP/UDP, else IPv4's IP ID (0 for IPv6)
}

// pendingAnswers are the answers the engine made and the capture has
// not shown yet; they are forgotten after two seconds.
type pendingAnswers struct {
	m map[answerKey]int64 // the time the answer was made
}

const answerWait = 2e9

// keyOfInput is the identity of the IP packet ip (possibly cut short,
// as ICMP errors quote it).
func keyOfInput(ip []byte) (answerKey, bool) {
	var k answerKey
	var l4 []byte
	switch {
	case len(ip) >= 20 && ip[0]>>4 == 4:
		k.proto = ip[9]
		k.src = netip.AddrFrom4([4]byte(ip[12:16]))
		k.dst = netip.AddrFrom4([4]byte(ip[16:20]))
		k.id = uint32(binary.BigEndian.Uint16(ip[4:]))
		if hl := int(ip[0]&0x0f) * 4; len(ip) >= hl {
			l4 = ip[hl:]
		}
	case len(ip) >= 40 && ip[0]>>4 == 6:
		k.proto = ip[6]
		k.src = netip.AddrFrom16([16]byte(ip[8:24]))
		k.dst = netip.AddrFrom16([16]byte(ip[24:40]))
		l4 = ip[40:]
	default:
		return k, false
	}
	if (k.proto == packet.ProtoTCP || k.proto == packet.ProtoUDP) && len(l4) >= 4 {
		k.id = binary.BigEndian.Uint32(l4)
	}
	return k, true
}

// keyOfAnswer returns the identity of the packet p answers, when p is a
// RST or an ICMP or ICMPv6 error.
func keyOfAnswer(p *packet.Packet) (answerKey, bool) {
	switch {
	case p.Proto == packet.ProtoTCP && p.L4OK && p.TCPFlags&packet.TCPRst != 0:
		k := answerKey{src: p.Dst, dst: p.Src, proto: packet.ProtoTCP, id: uint32(p.DstPort)<<16 | uint32(p.SrcPort)}
		return k, true
	case p.Proto == packet.ProtoICMP && p.L4OK && isICMPError(p.ICMPType) && len(p.L4) >= 8+20:
		return keyOfInput(p.L4[8:])
	case p.Proto == packet.ProtoICMPv6 && p.L4OK && p.ICMPType < 128 && len(p.L4) >= 8+40:
		return keyOfInput(p.L4[8:])
	}
	return answerKey{}, false
}

func isICMPError(t uint8) bool {
	switch t {
	case 3, 4, 5, 11, 12:
		return true
	}
	return false
}

// made records that the engine answered the input ip at time now.
func (a *pendingAnswers) made(ip []byte, res *engine.Result, now int64) {
	answered := len(res.ReplyHits) > 0
	for _, o := range res.Out {
		answered = answered || o.Answer
	}
	if !answered {
		return
	}
	k, ok := keyOfInput(ip)
	if !ok {
		return
	}
	if a.m == nil {
		a.m = map[answerKey]int64{}
	}
	if len(a.m) > 4096 {
		for k, t := range a.m {
			if now-t > answerWait {
				delete(a.m, k)
			}
		}
	}
	a.m[k] = now
}

// seen reports whether the captured local packet p is an answer the
// engine already made (and forgets it).
func (a *pendingAnswers) seen(p *packet.Packet, now int64) bool {
	if len(a.m) == 0 {
		return false
	}
	k, ok := keyOfAnswer(p)
	if !ok {
		return false
	}
	t, ok := a.m[k]
	if !ok {
		return false
	}
	delete(a.m, k)
	return now-t <= answerWait
}

func nflogDeclared(rd *capture.Reader) bool {
	for _, ifc := range rd.Interfaces() {
		if ifc.Link == capture.LinkNFLOG {
			return true
		}
	}
	return false
}

// HoldsOwnPackets reads the capture (an NFLOG one to its end) and reports whether it holds
// packets the host itself sent, before OUTPUT (NFLOG at the output
// hook). Such a capture is replayed with the engine's model of the
// host's stack off (engine.Config.NoHostStack) and Options.OwnAnswers:
// the host's real answers are in it.
func HoldsOwnPackets(rd *capture.Reader) (bool, error) {
	var rec capture.Record
	var fr capture.Frame
	for {
		err := rd.Next(&rec)
		if err == io.EOF {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if !nflogDeclared(rd) {
			// No NFLOG interface before the first packet (tcpdump
			// declares them all first): nothing to look for.
			return false, nil
		}
		if rec.Link == capture.LinkNFLOG && fr.Decode(rec.Link, rec.Data, rec.BigEndian) == nil && fr.HasHook && fr.Hook == capture.HookLocalOut {
			return true, nil
		}
	}
}
