package engine

import (
	"fmt"
	"strings"

	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/packet"
	"github.com/ipsift/ipsift/rules"
)

// EventKind says what a trace Event reports.
type EventKind uint8

// Event kinds, in the order a packet can meet them.
const (
	EvTable   EventKind = iota // entering a table's built-in chain at a hook
	EvRule                     // a rule was tried (Matched says how it went)
	EvTarget                   // a matched rule's extension target ran
	EvJump                     // -j or -g to a user chain
	EvReturn                   // back in a calling chain
	EvPolicy                   // a built-in chain's policy decided
	EvRoute                    // the routing decision
	EvNote                     // anything else worth saying (rewrites, replies)
	EvVerdict                  // the packet's fate
)

// Event is one step of a packet's way, for traces.
type Event struct {
	Kind    EventKind
	Hook    ext.Hook
	Table   string
	Chain   string
	Rule    int
	Spec    *rules.Rule
	Matched bool
	// Hotdrop says a match of the rule asked for the packet to be
	// dropped at once (the kernel's par->hotdrop: a header too short
	// to read): the walk ends there with DROP whether or not the rule
	// matched, and no target event follows.
	Hotdrop bool
	Goto    bool
	// Why explains a rule's outcome in words: the first part of the rule
	// that did not match and what the packet had instead, or for a
	// matched rule what its stateful matches said.
	Why     string
	Target  ext.Verdict
	Verdict Verdict
	Text    string
}

// Tracer receives the steps of traced packets.
type Tracer interface {
	Event(Event)
}

// TracerFunc adapts a function to Tracer.
type TracerFunc func(Event)

// Event calls f.
func (f TracerFunc) Event(e Event) { f(e) }

func explain(m ext.Matcher, c *ext.Ctx, matched bool) string {
	if x, ok := m.(ext.Explainer); ok {
		return x.Explain(c, matched)
	}
	if matched {
		return ""
	}
	return "does not match"
}

func explainAt(r *rule, i int, m ext.Matcher, c *ext.Ctx) string {
	why := explain(m, c, false)
	if r.src0 != nil && i < len(r.src0.Matches) {
		name := r.src0.Matches[i].Type.Name
		if !strings.HasPrefix(why, name) && !strings.HasPrefix(why, "-") && !strings.HasPrefix(why, "--") {
			why = name + ": " + why
		}
	}
	return why
}

// whyMatched collects what the rule's matches say about a packet they
// matched (e.g. how much credit a limit has left).
func (r *rule) whyMatched(c *ext.Ctx) string {
	var parts []string
	for _, m := range r.matches {
		if x, ok := m.(ext.Explainer); ok {
			if s := x.Explain(c, true); s != "" {
				parts = append(parts, s)
			}
		}
	}
	return strings.Join(parts, "; ")
}

func neg(inv bool) string {
	if inv {
		return "! "
	}
	return ""
}

// whyCore names the first core match that failed, and the packet's value.
func (r *rule) whyCore(c *ext.Ctx) string {
	p := c.Pkt
	m := r.src0
	v6 := p.Version == 6
	src6, dst6 := to128(p.Src), to128(p.Dst)
	if v6 && !src6.masked(r.srcMask6, r.src6) != r.invSrc || !v6 && (ext.U32(p.Src)&r.srcMask != r.src) != r.invSrc {
		return fmt.Sprintf("%s-s %s: the packet's is %s", neg(r.invSrc), ext.FormatAddrMask(m.Src, m.SrcMask), p.Src)
	}
	if v6 && !dst6.masked(r.dstMask6, r.dst6) != r.invDst || !v6 && (ext.U32(p.Dst)&r.dstMask != r.dst) != r.invDst {
		return fmt.Sprintf("%s-d %s: the packet's is %s", neg(r.invDst), ext.FormatAddrMask(m.Dst, m.DstMask), p.Dst)
	}
	ifname := func(i *ext.Iface, dir string) string {
		if i == nil || i.Name == "" {
			return "the packet has no " + dir + " interface here"
		}
		return "the packet's is " + i.Name
	}
	if !r.in.match(c.In) {
		return fmt.Sprintf("%s-i %s: %s", neg(r.in.inv), m.In, ifname(c.In, "input"))
	}
	if !r.out.match(c.Out) {
		if c.Out != nil {
			return fmt.Sprintf("%s-o %s: the packet leaves by %s", neg(r.out.inv), m.Out, c.Out.Name)
		}
		return fmt.Sprintf("%s-o %s: %s", neg(r.out.inv), m.Out, ifname(c.Out, "output"))
	}
	if v6 && r.protoGiven {
		return r.whyProto6(p)
	}
	if r.proto != 0 && (p.Proto == r.proto) == r.invProto {
		return fmt.Sprintf("%s-p %s: the packet is %s", neg(r.invProto), protoText(r.proto), protoText(p.Proto))
	}
	if r.frag && p.IsLaterFragment() == r.invFrag {
		if r.invFrag {
			return "! -f: the packet is a later fragment"
		}
		return "-f: the packet is not a later fragment"
	}
	return ""
}

// whyProto6 explains -p on an IPv6 packet: the protocol is the one
// after the extension headers, found differently by each backend.
func (r *rule) whyProto6(p *packet.Packet) string {
	proto, found := upperProto6(p, r.legacy)
	want := fmt.Sprintf("%s-p %s", neg(r.invProto), protoText(r.proto))
	switch {
	case !found && r.legacy:
		return want + ": ip6tables cannot find the upper-layer header behind the extension headers (" + p.ExtErr.String() + ")"
	case !found:
		return want + ": nftables cannot find the upper-layer header behind the extension headers, so -p matches nothing"
	case (proto == r.proto) == r.invProto && r.proto != 0:
		why := want + ": the packet's upper-layer protocol is " + protoText(proto)
		if proto == packet.ProtoAH && !r.legacy {
			why += " (nftables stops at the Authentication Header; ip6tables-legacy would look behind it)"
		}
		return why
	}
	return ""
}

func protoText(p uint8) string {
	if n := ext.ProtoName(p); n != "" {
		return n
	}
	return fmt.Sprint(p)
}
