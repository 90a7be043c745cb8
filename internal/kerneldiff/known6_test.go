package kerneldiff

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/ipsift/ipsift/packet"
)

// The IPv6 engine's known differences from the kernel, found by the IPv6
// harness when the engine first ran ip6tables rules (issue 10; each has a
// minimal case in the report to the lead). Each is a rewrite of the
// kernel's observation into what the known bug makes ipsift say, applied
// only where the packet fits; a difference is known when the rewrites
// that apply make the two observations equal, and named by them. Remove
// a rewrite when its fix lands: a difference it hid then fails the run.
type knownBug6 struct {
	name    string
	rewrite func(d Difference, k *Observation) bool // true when it applied
}

var knownBugs6 = []knownBug6{
	{
		// A Hop-by-Hop header cut short is dropped by ip6_rcv_core before
		// PREROUTING; ipsift runs the packet through the chains.
		"engine: a truncated Hop-by-Hop header is not dropped before PREROUTING",
		func(d Difference, k *Observation) bool {
			if d.Packet.Local || len(d.Packet.Ext) > 0 || d.Packet.Proto != 0 || d.Packet.Len >= 8 ||
				k.Hits != "" || len(k.Out) != 0 || k.Verdict != "drop" {
				return false
			}
			*k = d.Ipsift
			return true
		},
	},
	{
		// An extension header cut short, to the host, is dropped by the
		// stack after INPUT; ipsift delivers it.
		"engine: a truncated extension header to the host is delivered",
		func(d Difference, k *Observation) bool {
			if !extNumbers[d.Packet.Proto] || d.Packet.Raw || d.Packet.Len >= 8 ||
				d.Kernel.Verdict != "drop" || d.Ipsift.Verdict != "accept-local" || len(k.Out) != 0 {
				return false
			}
			k.Verdict, k.Out = "accept-local", slices.Clone(d.Ipsift.Out)
			return true
		},
	},
	{
		// The stack's parameter problems for extension headers in the
		// wrong place or of an unknown kind (a Hop-by-Hop header after
		// another header, say): ipsift sends some of them only.
		"engine: a parameter problem the kernel's stack sends for a misplaced or unknown extension header is missing",
		func(d Difference, k *Observation) bool {
			if len(d.Packet.Ext) == 0 && !extNumbers[d.Packet.Proto] {
				return false
			}
			out := dropOuts(k.Out, d.Ipsift.Out, " type 4/1")
			if len(out) == len(k.Out) {
				return false
			}
			k.Out = out
			if d.Kernel.Verdict == "drop" && d.Ipsift.Verdict == "accept-local" {
				k.Verdict = "accept-local"
			}
			k.Hits = dropExtra(k.Hits, d.Ipsift.Hits, "/POSTROUTING/")
			return true
		},
	},
	{
		// ip6_forward sends a Redirect (through OUTPUT and POSTROUTING)
		// when a packet leaves by the link it came in on, before the
		// FORWARD hook and whatever the source's link; ipsift (since
		// eng6's Redirect) misses it when FORWARD rejects or drops the
		// packet or when the source is on another link.
		"engine: a Redirect the kernel sends is missing (FORWARD not accepting, or a source off the link)",
		func(d Difference, k *Observation) bool {
			var kept []string
			for _, o := range k.Out {
				if !strings.Contains(o, " type 137/") || slices.Contains(d.Ipsift.Out, o) {
					kept = append(kept, o)
				}
			}
			if len(kept) == len(k.Out) {
				return false
			}
			k.Out = kept
			k.Hits = dropExtra(k.Hits, d.Ipsift.Hits, "/POSTROUTING/")
			return true
		},
	},
	{
		// Without conntrack, IPv6 INPUT sees a fragment and the stack
		// then holds it for reassembly: nothing is delivered (the
		// datagram is, with its last fragment); ipsift says accept-local.
		"engine: an IPv6 fragment held for reassembly after INPUT shows as accept-local",
		func(d Difference, k *Observation) bool {
			if !isFragment6(d.Packet) || d.Kernel.Verdict != "drop" || d.Ipsift.Verdict != "accept-local" {
				return false
			}
			k.Verdict = "accept-local"
			return true
		},
	},
	{
		// A Segment Routing header to the host is dropped (seg6 is off);
		// ipsift delivers the packet.
		"engine: a segment routing header to the host is not dropped",
		func(d Difference, k *Observation) bool {
			if !hasExt6(d.Packet, func(e packet.Ext) bool { return e.Type == "rt" && e.RtType == 4 }) ||
				d.Kernel.Verdict != "drop" || d.Ipsift.Verdict != "accept-local" || len(k.Out) != 0 {
				return false
			}
			// What ipsift answered follows from its taking the packet
			// (a parameter problem for an AH behind it, say).
			k.Verdict, k.Out = "accept-local", slices.Clone(d.Ipsift.Out)
			return true
		},
	},
	{
		// A routing header of type 0 or 2 with segments left, to the
		// host, draws a parameter problem (pointing at the type) and is
		// not delivered; ipsift delivers it.
		"engine: a routing header with segments left to the host is delivered",
		func(d Difference, k *Observation) bool {
			if !hasExt6(d.Packet, func(e packet.Ext) bool { return e.Type == "rt" && e.RtType != 4 && e.SegLeft > 0 }) ||
				d.Kernel.Verdict != "drop" || d.Ipsift.Verdict != "accept-local" {
				return false
			}
			k.Out, k.Verdict = dropOuts(k.Out, d.Ipsift.Out, " type 4/0"), "accept-local"
			return true
		},
	},
	{
		// A local packet to a multicast group the host has joined is
		// looped back: the copy passes POSTROUTING again
		// (ip6_finish_output2); ipsift counts it once.
		"engine: a local IPv6 multicast packet's looped-back copy is not counted in POSTROUTING",
		func(d Difference, k *Observation) bool {
			if !d.Packet.Local || !d.Packet.Dst.IsMulticast() {
				return false
			}
			h := dropExtra(k.Hits, d.Ipsift.Hits, "/POSTROUTING/")
			if h == k.Hits {
				return false
			}
			k.Hits = h
			return true
		},
	},
	{
		// tcp_v6_send_reset answers no packet to an anycast address (the
		// subnet-router anycast address of a link); ipsift sends a RST
		// from it.
		"engine: a RST is sent from the subnet-router anycast address",
		func(d Difference, k *Observation) bool {
			if !isAnycast6(d.Packet.Dst) {
				return false
			}
			// The RST itself, or what OUTPUT's REJECT answered it with.
			from := d.Packet.Dst.String() + ":"
			var extra []string
			for _, o := range d.Ipsift.Out {
				_, proto, src, rest := outFields(o)
				if (proto == "tcp" && strings.HasPrefix(src, from) || strings.Contains(rest, " quoting tcp "+from)) && !slices.Contains(k.Out, o) {
					extra = append(extra, o)
				}
			}
			if len(extra) == 0 {
				return false
			}
			k.Out = append(k.Out, extra...)
			return true
		},
	},
	{
		// ipv6_rthdr_rcv drops a packet with a routing header to a
		// multicast destination; ipsift delivers it.
		"engine: a routing header to a multicast destination is not dropped",
		func(d Difference, k *Observation) bool {
			if !d.Packet.Dst.IsMulticast() || !hasExt6(d.Packet, func(e packet.Ext) bool { return e.Type == "rt" }) ||
				d.Kernel.Verdict != "drop" || d.Ipsift.Verdict != "accept-local" {
				return false
			}
			k.Verdict = "accept-local"
			return true
		},
	},
	{
		// icmp6_send picks the source of an error from the interface the
		// offending packet came in on ("a more meaningful saddr from
		// input if"); ipsift picks it for the route back.
		"engine: the source of an ICMPv6 error is not chosen on the input interface",
		func(d Difference, k *Observation) bool {
			return sameBut(k, d.Ipsift, func(o string) bool { return icmp6ErrorOut(o) }, stripSrc)
		},
	},
	{
		// A link-local destination is reached on the link the packet (or
		// the solicitation an advertisement answers, or the packet an
		// error is about) came from, the source chosen there; ipsift
		// sends by eth0.
		"engine: a packet to a link-local address leaves by the wrong interface",
		func(d Difference, k *Observation) bool {
			if forwardedLinkLocal(d) {
				// The chains saw another output interface too.
				*k = d.Ipsift
				return true
			}
			if d.Packet.In != "" && d.Packet.Src.IsLinkLocalUnicast() && k.Verdict == d.Ipsift.Verdict &&
				slices.Equal(withoutLinkLocal(k.Out), withoutLinkLocal(d.Ipsift.Out)) && !slices.Equal(k.Out, d.Ipsift.Out) {
				// The host's answer to a link-local source went by the
				// wrong link, where OUTPUT may have dropped it.
				k.Out = slices.Clone(d.Ipsift.Out)
				return true
			}
			return sameBut(k, d.Ipsift, toLinkLocal, stripIfaceSrc)
		},
	},
	{
		// A first fragment whose header chain does not reach its upper
		// layer header draws a parameter problem, code 3 (RFC 7112), from
		// ipv6_frag_rcv and is not delivered; ipsift takes it.
		"engine: no parameter problem (code 3) for a first fragment with an incomplete header chain",
		func(d Difference, k *Observation) bool {
			if !isFragment6(d.Packet) || d.Kernel.Verdict != "drop" || d.Ipsift.Verdict != "accept-local" ||
				!slices.ContainsFunc(d.Kernel.Out, func(o string) bool { return strings.Contains(o, " type 4/3") }) {
				return false
			}
			k.Out, k.Verdict = dropOuts(k.Out, d.Ipsift.Out, " type 4/3"), "accept-local"
			k.Hits = dropExtra(k.Hits, d.Ipsift.Hits, "/POSTROUTING/")
			return true
		},
	},
	{
		// A fragment with more to come whose data is not a multiple of 8
		// bytes draws a parameter problem (code 0, at the payload length)
		// from ipv6_frag_rcv, and is not delivered; ipsift takes it.
		"engine: no parameter problem for a non-last fragment whose length is not a multiple of 8",
		func(d Difference, k *Observation) bool {
			if !oddFragment(d.Packet) || d.Kernel.Verdict != "drop" || d.Ipsift.Verdict != "accept-local" {
				return false
			}
			k.Out, k.Verdict = dropOuts(k.Out, d.Ipsift.Out, " type 4/0"), "accept-local"
			k.Hits = dropExtra(k.Hits, d.Ipsift.Hits, "/POSTROUTING/")
			return true
		},
	},
	{
		// A routing header of type 0 with no segments left followed by
		// an atomic fragment header, to the host: the kernel delivers
		// nothing (Ip6InDelivers stays) and answers nothing; ipsift
		// delivers it. Unanalysed (fix6): each header alone is
		// delivered by both.
		"engine: a type 0 routing header with no segments left before an atomic fragment, to the host, is delivered",
		func(d Difference, k *Observation) bool {
			if d.Packet.Local || !hasExt6(d.Packet, func(e packet.Ext) bool { return e.Type == "rt" && e.RtType == 0 && e.SegLeft == 0 }) ||
				!hasExt6(d.Packet, func(e packet.Ext) bool { return e.Type == "frag" && !e.MF && e.Offset == 0 }) ||
				d.Kernel.Verdict != "drop" || d.Ipsift.Verdict != "accept-local" || len(k.Out) != 0 {
				return false
			}
			k.Verdict = "accept-local"
			return true
		},
	},
	{
		// ipv6_frag_rcv refuses a second fragment header once one was
		// processed (IP6SKB_FRAGMENTED): a parameter problem, code 0,
		// and no delivery; ipsift answers it too but shows the packet
		// as accept-local (its verdict is INPUT's).
		"engine: a packet with a second fragment header, refused by the stack after INPUT, shows as accept-local",
		func(d Difference, k *Observation) bool {
			frags := 0
			for _, e := range d.Packet.Ext {
				if e.Type == "frag" {
					frags++
				}
			}
			if frags < 2 || d.Kernel.Verdict != "drop" || d.Ipsift.Verdict != "accept-local" ||
				!slices.ContainsFunc(d.Ipsift.Out, func(o string) bool { return strings.Contains(o, " type 4/0") }) {
				return false
			}
			k.Verdict = "accept-local"
			return true
		},
	},
	{
		// The harness sends a local packet on a raw socket with its
		// IPv6 header included, and rawv6_send_hdrinc sets the
		// transport header at the network header: ip6t_NPT then reads
		// the ICMPv6 type and the quoted header 8 bytes into the IPv6
		// header and leaves the quoted packet alone; ipsift translates
		// the quoted address as for an error the stack built.
		"engine: SNPT/DNPT rewrite the packet quoted by a locally sent (raw, header included) ICMPv6 error",
		func(d Difference, k *Observation) bool {
			if !d.Packet.Local || d.Packet.Proto != packet.ProtoICMPv6 || d.Packet.Type >= 128 || d.Packet.Inner == nil {
				return false
			}
			quoted := func(o string) bool { return strings.Contains(o, " quoting ") }
			unquote := func(o string) string { before, _, _ := strings.Cut(o, " quoting "); return before }
			return sameBut(k, d.Ipsift, quoted, unquote)
		},
	},
	{
		// A local packet with No Next Header (59) and conntrack loaded:
		// the kernel neither counts it in OUTPUT nor sends it; ipsift
		// sends it. Unanalysed (fix6).
		"engine: a local packet with no next header (59) is sent where the kernel loses it before OUTPUT",
		func(d Difference, k *Observation) bool {
			if !d.Packet.Local || d.Packet.Proto != packet.ProtoNoNext || len(d.Packet.Ext) != 0 ||
				d.Kernel.Verdict != "drop" || d.Kernel.Hits != "" || len(d.Kernel.Out) != 0 || d.Ipsift.Verdict != "sent" {
				return false
			}
			*k = d.Ipsift
			return true
		},
	},
}

// dropOuts removes from outs those containing what that other lacks
// (as a multiset).
func dropOuts(outs, other []string, what string) []string {
	have := map[string]int{}
	for _, o := range other {
		have[o]++
	}
	var kept []string
	for _, o := range outs {
		if strings.Contains(o, what) && have[o] == 0 {
			continue
		}
		have[o]--
		kept = append(kept, o)
	}
	return kept
}

// withoutLinkLocal is outs without those to link-local addresses, sorted.
func withoutLinkLocal(outs []string) []string {
	var kept []string
	for _, o := range outs {
		if !toLinkLocal(o) {
			kept = append(kept, o)
		}
	}
	slices.Sort(kept)
	return kept
}

// forwardedLinkLocal reports whether ipsift forwarded an arriving packet
// to a link-local address (not the host's) out of another link than the
// one it came from.
func forwardedLinkLocal(d Difference) bool {
	if d.Packet.In == "" || !d.Packet.Dst.IsLinkLocalUnicast() || isHostAddr(d.Packet.Dst) {
		return false
	}
	// ipsift routed it by eth0: either it left another link than its
	// own, or the chains decided with that output interface.
	return d.Packet.In != "eth0" || slices.ContainsFunc(d.Ipsift.Out, func(o string) bool {
		iface, _, _, _ := outFields(o)
		return iface != d.Packet.In && toLinkLocal(o)
	})
}

// extNumbers are the extension headers a packet's protocol number may
// name (the packets format then sends len zero bytes of it).
var extNumbers = map[packet.Proto]bool{0: true, 43: true, 44: true, 60: true, 51: true}

// oddFragment reports whether d, built, is a fragment with more to come
// whose fragmentable part is not a multiple of 8 bytes.
func oddFragment(d packet.Desc) bool {
	b, err := d.Build(0)
	if err != nil || len(b) < 40 {
		return false
	}
	nh, off := b[6], 40
	for off+8 <= len(b) {
		switch nh {
		case 0, 43, 60:
			nh, off = b[off], off+(int(b[off+1])+1)*8
			continue
		case 51:
			nh, off = b[off], off+(int(b[off+1])+2)*4
			continue
		case 44:
			if b[off+2] == 0 && b[off+3]&0xf9 == 0 {
				// An atomic fragment: stepped over.
				nh, off = b[off], off+8
				continue
			}
			return b[off+3]&1 == 1 && (len(b)-off-8)%8 != 0
		}
		return false
	}
	return false
}

// known6 names the known IPv6 bugs that explain d, or returns "".
func known6(d Difference) string {
	if !d.Packet.IsIPv6() {
		return ""
	}
	k := d.Kernel
	k.Out = slices.Clone(k.Out)
	var names []string
	for _, b := range knownBugs6 {
		if b.rewrite(d, &k) {
			names = append(names, b.name)
		}
	}
	sort := func(o *Observation) { slices.Sort(o.Out) }
	sort(&k)
	i := d.Ipsift
	i.Out = slices.Clone(i.Out)
	sort(&i)
	if len(names) == 0 || !equalObs(k, i) {
		return ""
	}
	return strings.Join(names, "; ")
}

// isFragment6 reports whether d is a fragment that needs reassembly
// (not an atomic one).
func isFragment6(d packet.Desc) bool {
	return d.MF || d.FragOff != 0 || hasExt6(d, func(e packet.Ext) bool { return e.Type == "frag" && (e.MF || e.Offset != 0) })
}

func hasExt6(d packet.Desc, f func(packet.Ext) bool) bool {
	return slices.ContainsFunc(d.Ext, f)
}

// dropExtra removes from hits (sorted, space-separated) the entries
// containing chain that are not in want as often, keeping the rest.
func dropExtra(hits, want, chain string) string {
	have := map[string]int{}
	for _, h := range strings.Fields(want) {
		have[h]++
	}
	var out []string
	for _, h := range strings.Fields(hits) {
		if strings.Contains(h, chain) && have[h] == 0 {
			continue
		}
		have[h]--
		out = append(out, h)
	}
	return strings.Join(out, " ")
}

// sameBut rewrites k's outs to ipsift's when the two differ only in the
// outs that sel picks, and there only in what strip removes.
func sameBut(k *Observation, i Observation, sel func(string) bool, strip func(string) string) bool {
	if len(k.Out) != len(i.Out) {
		return false
	}
	norm := func(outs []string) []string {
		var n []string
		for _, o := range outs {
			if sel(o) {
				o = strip(o)
			}
			n = append(n, o)
		}
		slices.Sort(n)
		return n
	}
	if slices.Equal(k.Out, i.Out) || !slices.Equal(norm(k.Out), norm(i.Out)) {
		return false
	}
	k.Out = slices.Clone(i.Out)
	return true
}

// The fields of an out string (outString): interface, protocol,
// source[:port]>destination[:port], then the rest.
func outFields(o string) (iface, proto, src, rest string) {
	f := strings.SplitN(o, " ", 4)
	for len(f) < 4 {
		f = append(f, "")
	}
	s, r, _ := strings.Cut(f[2], ">")
	return f[0], f[1], s, ">" + r + " " + f[3]
}

func icmp6ErrorOut(o string) bool {
	_, proto, _, rest := outFields(o)
	if proto != "icmpv6" {
		return false
	}
	for _, t := range []string{" type 1/", " type 2/", " type 3/", " type 4/"} {
		if strings.Contains(rest, t) {
			return true
		}
	}
	return false
}

func stripSrc(o string) string {
	iface, proto, _, rest := outFields(o)
	return iface + " " + proto + " ?" + rest
}

// stripIfaceSrc leaves out the interface, and for the host's own ICMPv6
// messages (errors, advertisements) the source chosen with it.
func stripIfaceSrc(o string) string {
	_, proto, src, rest := outFields(o)
	if icmp6ErrorOut(o) || proto == "icmpv6" && strings.Contains(rest, " type 136/") {
		src = "?"
	}
	return "? " + proto + " " + src + rest
}

// toLinkLocal reports whether an out goes to a link-local address.
func toLinkLocal(o string) bool {
	_, _, _, rest := outFields(o)
	dst, _, _ := strings.Cut(strings.TrimPrefix(rest, ">"), " ")
	if a, err := netip.ParseAddr(dst); err == nil {
		return a.IsLinkLocalUnicast()
	}
	// With a port: the address is all but the last ":port".
	if i := strings.LastIndexByte(dst, ':'); i > 0 {
		if a, err := netip.ParseAddr(dst[:i]); err == nil {
			return a.IsLinkLocalUnicast()
		}
	}
	return false
}
