// Package sim simulates packets described in the packets format
// (../shared/formats/packets.md) against an engine: it builds each
// packet's bytes, moves the simulated clock by its delay, runs it, and
// reports what became of it in the same format, so that the kernel
// harness and ipsift can be compared line by line.
package sim

import (
	"encoding/json"
	"fmt"

	"github.com/ipsift/ipsift/conntrack"
	"github.com/ipsift/ipsift/engine"
	"github.com/ipsift/ipsift/packet"
)

// Hit is one raised counter in the output format.
type Hit struct {
	Table  string `json:"table"`
	Chain  string `json:"chain"`
	Rule   int    `json:"rule,omitempty"`
	Policy bool   `json:"policy,omitempty"`
}

// InnerOut is the packet an ICMP error quotes, as it left.
type InnerOut struct {
	Src   string `json:"src"`
	Dst   string `json:"dst"`
	Proto any    `json:"proto"`
	Sport uint16 `json:"sport,omitempty"`
	Dport uint16 `json:"dport,omitempty"`
}

// Out is one packet that left an interface.
type Out struct {
	If        string    `json:"if"`
	Proto     any       `json:"proto"`
	Src       string    `json:"src"`
	Dst       string    `json:"dst"`
	Sport     *uint16   `json:"sport,omitempty"`
	Dport     *uint16   `json:"dport,omitempty"`
	Flags     *string   `json:"flags,omitempty"`
	Type      *uint8    `json:"type,omitempty"`
	Code      *uint8    `json:"code,omitempty"`
	Inner     *InnerOut `json:"inner,omitempty"`
	HostReply bool      `json:"host_reply,omitempty"`
	// Answer marks any packet the host sent because of the input one
	// (not in the format: the kernel harness tells answers apart with it).
	Answer bool `json:"-"`
}

// Result is the output line for one input packet.
type Result struct {
	I         int    `json:"i"`
	Hits      []Hit  `json:"hits"`
	ReplyHits []Hit  `json:"reply_hits,omitempty"`
	Out       []Out  `json:"out"`
	Verdict   string `json:"verdict"`
	// Log holds the lines LOG rules wrote for this packet, as the
	// kernel's log would show them (an optional output field: trace
	// --json fills it; the kernel harness leaves it out).
	Log []string `json:"log,omitempty"`
	// SelfDelivered is engine.Result.SelfDelivered (not in the format:
	// the kernel harness needs it to read the kernel's delivery count).
	SelfDelivered int `json:"-"`
}

// JSON returns the result as one line of the output format.
func (r *Result) JSON() []byte {
	b, _ := json.Marshal(r)
	return b
}

// Simulator feeds packets to an engine with a simulated clock.
type Simulator struct {
	Engine *engine.Engine
	State  *engine.State
	// Now is the simulated clock in nanoseconds; each packet's delay_ms
	// moves it before the packet is processed.
	Now int64
	// LocalOwner, when set, is the socket owner of every local packet
	// (-m owner, LOG --log-uid); unset, a local packet has no socket,
	// as if the kernel itself sent it. The kernel differential harness
	// sets root's: it sends local packets on a raw socket as root.
	LocalOwner *engine.Owner
	n          int
}

// New returns a Simulator for e, its clock at an arbitrary fixed start
// (time-based matches only ever see differences).
func New(e *engine.Engine) *Simulator {
	return &Simulator{Engine: e, State: engine.NewState(), Now: 1_000_000_000_000}
}

// Run processes one described packet (index i in its input, which sets
// the default IP ID) and returns its result.
func (s *Simulator) Run(i int, d packet.Desc) (*Result, error) {
	// An IPv6 packet goes through the engine's ip6tables tables, an
	// IPv4 one through its iptables tables: one host, one clock.
	data, err := d.Build(i)
	if err != nil {
		return nil, err
	}
	s.Now += d.DelayMS * 1_000_000
	if d.CT != nil {
		// The connection the packet is given in goes into the table
		// as conntrack -I puts it into the kernel's.
		p, err := conntrack.ContextOf(d)
		if err != nil {
			return nil, err
		}
		if _, err := s.Engine.CT.Insert(p, s.Now); err != nil {
			return nil, fmt.Errorf("ct: %v", err)
		}
	}
	in := &engine.Input{Data: data, In: d.In, Local: d.Local, Now: s.Now}
	if d.Local {
		in.Owner = s.LocalOwner
	}
	if !d.Local {
		// The packets format's frames are addressed to the interface
		// (packets.md: fixed link addresses), whatever the IP
		// destination, as the kernel harness sends them.
		in.Frame = engine.FrameHost
		in.SrcMAC = [6]byte(d.SrcMAC)
		if d.SrcMAC.IsZero() {
			if ifc := s.Engine.Host.Iface(d.In); ifc != nil {
				in.SrcMAC = ifc.Peer
			}
		}
	}
	s.Engine.Process(s.State, in)
	s.n++
	return Convert(i, &s.State.Result), nil
}

// Convert turns an engine result into the output format.
func Convert(i int, r *engine.Result) *Result {
	out := &Result{I: i, Hits: hits(r.Hits), ReplyHits: hits(r.ReplyHits), Out: []Out{}, Verdict: r.Verdict.String(), SelfDelivered: r.SelfDelivered}
	for _, o := range r.Out {
		out.Out = append(out.Out, describe(o))
	}
	return out
}

func hits(hs []engine.Hit) []Hit {
	out := []Hit{}
	for _, h := range hs {
		out = append(out, Hit{Table: h.Table, Chain: h.Chain, Rule: h.Rule, Policy: h.Rule == 0})
	}
	if len(out) == 0 {
		return out
	}
	return out
}

func protoName(p uint8) any {
	switch p {
	case packet.ProtoTCP:
		return "tcp"
	case packet.ProtoUDP:
		return "udp"
	case packet.ProtoICMP:
		return "icmp"
	case packet.ProtoICMPv6:
		return "icmpv6"
	}
	return int(p)
}

func describe(o engine.OutPacket) Out {
	var p packet.Packet
	res := Out{If: o.Iface, HostReply: o.HostReply, Answer: o.Answer}
	if err := p.Decode(o.Data); err != nil {
		res.Proto = "?"
		return res
	}
	res.Proto, res.Src, res.Dst = protoName(p.Proto), p.Src.String(), p.Dst.String()
	switch p.Proto {
	case packet.ProtoTCP, packet.ProtoUDP:
		if p.L4OK {
			sp, dp := p.SrcPort, p.DstPort
			res.Sport, res.Dport = &sp, &dp
			if p.Proto == packet.ProtoTCP {
				f := packet.TCPFlags(p.TCPFlags).String()
				res.Flags = &f
			}
		}
	case packet.ProtoICMPv6:
		if len(p.L4) >= 2 && p.FragOff == 0 {
			t, c := p.ICMPType, p.ICMPCode
			res.Type, res.Code = &t, &c
			if q, ok := p.QuotedV6(); ok && t < 128 {
				res.Inner = &InnerOut{Src: q.Src.String(), Dst: q.Dst.String(), Proto: protoName(q.Proto)}
				if q.Proto == packet.ProtoTCP || q.Proto == packet.ProtoUDP {
					res.Inner.Sport, res.Inner.Dport = q.SrcPort, q.DstPort
				}
			}
		}
	case packet.ProtoICMP:
		if len(p.L4) >= 2 && p.FragOff == 0 {
			t, c := p.ICMPType, p.ICMPCode
			res.Type, res.Code = &t, &c
			if isICMPError(t) && len(p.L4) >= 8+20 {
				var q packet.Packet
				if q.Decode(quoted(p.L4[8:])) == nil {
					in := &InnerOut{Src: q.Src.String(), Dst: q.Dst.String(), Proto: protoName(q.Proto)}
					if len(q.L4) >= 4 {
						in.Sport = uint16(q.L4[0])<<8 | uint16(q.L4[1])
						in.Dport = uint16(q.L4[2])<<8 | uint16(q.L4[3])
					}
					res.Inner = in
				}
			}
		}
	}
	return res
}

func isICMPError(t uint8) bool {
	switch t {
	case 3, 4, 5, 11, 12:
		return true
	}
	return false
}

// quoted returns the quoted IP packet with its total length cut to what
// is present, so that the decoder reads it.
func quoted(b []byte) []byte {
	if len(b) < 20 {
		return b
	}
	c := append([]byte(nil), b...)
	n := len(c)
	if int(c[2])<<8|int(c[3]) > n {
		c[2], c[3] = byte(n>>8), byte(n)
	}
	return c
}
