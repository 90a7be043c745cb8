package replay

import (
	"github.com/ipsift/ipsift/engine"
	"github.com/ipsift/ipsift/packet"
)

// RuleSample is a packet that raised a rule's (or a policy's) counter:
// its place in the capture, its verdict and, in Packet, the packet as a
// line of `ipsift trace` (the packets format's short form) that
// reproduces it, for a report to show and a person to paste. Trace is
// the full trace when the replay traced (Options.Why).
type RuleSample struct {
	RuleRef
	Index   int    `json:"index"`
	Time    int64  `json:"time_ns"`
	Verdict string `json:"verdict"`
	Packet  string `json:"packet"`
	Trace   string `json:"trace,omitempty"`
}

// descOf describes the IP packet p arriving on in (or sent by the host)
// in the packets format, so that `ipsift trace` builds the same headers.
// An ICMP error's quoted packet is left out (described by its type).
func descOf(p *packet.Packet, in string, local bool) packet.Desc {
	d := packet.Desc{In: in, Local: local, Src: p.Src, Dst: p.Dst, Proto: packet.Proto(p.Proto), TOS: p.TOS}
	if local {
		d.In = ""
	}
	ttl := p.TTL
	d.TTL = &ttl
	if p.Version == 4 {
		id := p.ID
		d.ID, d.DF, d.MF, d.FragOff = &id, p.DF, p.MF, p.FragOff
	}
	if !p.L4OK || p.IsLaterFragment() {
		d.Raw = p.Proto == packet.ProtoTCP || p.Proto == packet.ProtoUDP || p.Proto == packet.ProtoICMP
		d.Len = len(p.L4)
		return d
	}
	switch p.Proto {
	case packet.ProtoTCP:
		d.Sport, d.Dport = p.SrcPort, p.DstPort
		f := packet.TCPFlags(p.TCPFlags)
		seq, ack, win := p.Seq, p.Ack, p.Window
		d.Flags, d.Seq, d.Ack, d.Window = &f, &seq, &ack, &win
		d.Len = len(p.L4) - p.TCPDoff
	case packet.ProtoUDP:
		d.Sport, d.Dport = p.SrcPort, p.DstPort
		d.Len = len(p.L4) - 8
	case packet.ProtoICMP, packet.ProtoICMPv6:
		d.Type, d.Code = p.ICMPType, p.ICMPCode
		d.Len = len(p.L4) - 8
	default:
		d.Len = len(p.L4)
	}
	return d
}

// ruleSamples keeps the first few packets of every rule.
type ruleSamples struct {
	n    int
	seen map[RuleRef]int
	out  []RuleSample
}

// add records the packet that raised hits (of the family six) when one
// of its rules has fewer than n samples; trace is its trace or "".
func (s *ruleSamples) add(res *engine.Result, six bool, p *packet.Packet, in string, local bool, index int, now int64, trace string) {
	var line string
	for _, h := range res.Hits {
		ref := RuleRef{IPv6: six, Table: h.Table, Chain: h.Chain, Rule: h.Rule}
		if s.seen[ref] >= s.n {
			continue
		}
		s.seen[ref]++
		if line == "" {
			line = descOf(p, in, local).String()
		}
		s.out = append(s.out, RuleSample{RuleRef: ref, Index: index, Time: now, Verdict: res.Verdict.String(), Packet: line, Trace: trace})
	}
}
