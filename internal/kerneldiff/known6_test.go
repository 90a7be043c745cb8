package kerneldiff

import (
	"slices"
	"strings"

	"github.com/ipsift/ipsift/packet"
)

// The IPv6 differences the harness lets pass. None is an open engine
// bug: each one found is fixed and has its minimal case in
// testdata/regress (the fx6-* and ipv6-* cases). What remains is
// deliberate, documented in DIFFERENCES.md ("IPv6 packets"): a case of
// the harness's way of sending local packets, which ipsift does not
// model on purpose. Each is a rewrite of the kernel's observation into
// what ipsift says, applied only where the packet and the ruleset fit;
// a difference passes when the rewrites that apply make the two
// observations equal, and is named by them.
type knownBug6 struct {
	name    string
	rewrite func(ruleset string, d Difference, k *Observation) bool // true when it applied
}

var knownBugs6 = []knownBug6{
	{
		// The harness sends a local packet on a raw socket with its
		// IPv6 header included, and rawv6_send_hdrinc sets the
		// transport header at the network header: ip6t_NPT's
		// icmpv6_bounced_ipv6hdr then reads the ICMPv6 type from the
		// IPv6 header, finds no error and leaves the quoted packet
		// alone. ipsift's local packets are a socket's of their
		// protocol (the kernel's own errors, icmp6_send's, have their
		// transport header set), so SNPT and DNPT translate the quoted
		// address (DIFFERENCES.md, "IPv6 packets").
		"deliberate: SNPT/DNPT translate the packet a local ICMPv6 error quotes (the harness sends it on a raw socket, header included)",
		func(ruleset string, d Difference, k *Observation) bool {
			if !d.Packet.Local || d.Packet.Proto != packet.ProtoICMPv6 || d.Packet.Type >= 128 || d.Packet.Inner == nil ||
				!strings.Contains(ruleset, "-j SNPT ") && !strings.Contains(ruleset, "-j DNPT ") {
				return false
			}
			quoted := func(o string) bool { return strings.Contains(o, " quoting ") }
			unquote := func(o string) string { before, _, _ := strings.Cut(o, " quoting "); return before }
			return sameBut(k, d.Ipsift, quoted, unquote)
		},
	},
}

// known6 names the deliberate IPv6 differences that explain d under
// ruleset, or returns "".
func known6(ruleset string, d Difference) string {
	if !d.Packet.IsIPv6() {
		return ""
	}
	k := d.Kernel
	k.Out = slices.Clone(k.Out)
	var names []string
	for _, b := range knownBugs6 {
		if b.rewrite(ruleset, d, &k) {
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
