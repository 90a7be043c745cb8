package engine

import (
	"fmt"

	"github.com/ipsift/ipsift/classify"
	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/packet"
)

// ClassifyMode chooses how a chain finds the rules a packet may match.
type ClassifyMode uint8

// Classify modes.
const (
	// ClassifyAuto compiles a classifier for the chains long enough for
	// it to pay (at least MinClassified rules) and walks the others.
	ClassifyAuto ClassifyMode = iota
	// ClassifyLinear walks every chain rule by rule, as the kernel does.
	ClassifyLinear
	// ClassifyCompiled compiles a classifier for every chain with rules.
	ClassifyCompiled
)

// MinClassified is the length from which ClassifyAuto compiles a chain:
// below it, trying the rules one by one (a few ns each) costs less than
// a lookup (BENCHMARKS.md, "Compiled chains").
const MinClassified = 16

// buildClassifier compiles the classifier of a chain whose rules are
// compiled; nil when the chain is walked linearly.
func buildClassifier(c *chain, mode ClassifyMode, fam ext.Family) *classify.Classifier {
	if mode == ClassifyLinear || len(c.rules) == 0 ||
		mode == ClassifyAuto && len(c.rules) < MinClassified {
		return nil
	}
	rs := make([]classify.Rule, len(c.rules))
	for i := range c.rules {
		rs[i], c.rules[i].exact = classifyRule(&c.rules[i], fam == ext.IPv6)
	}
	return classify.Build(rs, classify.Params{})
}

// classifyRule is what the classifier may know of a rule: ip_packet_match's
// (ip6_packet_match's) tests, then the tests of its matches in order up
// to the first that is not Classifiable (a match with state or side
// effects, or one that may hotdrop). The rule is then found whenever a
// linear walk would have reached that match, so it runs exactly as
// often as it would have. exact is how many of the first matches the
// classifier tests whole (ext.ExactClassifiable): on a rule it finds,
// those need not run again.
func classifyRule(r *rule, v6 bool) (cr classify.Rule, exact uint8) {
	cr = classify.Any()
	switch {
	case v6:
		cr = classify.Any6()
		if r.src6.masked(r.srcMask6, r.src6) {
			cr.Src6, cr.SrcMask6, cr.InvSrc = classify.Addr6{r.src6.hi, r.src6.lo}, classify.Addr6{r.srcMask6.hi, r.srcMask6.lo}, r.invSrc
		}
		if r.dst6.masked(r.dstMask6, r.dst6) {
			cr.Dst6, cr.DstMask6, cr.InvDst = classify.Addr6{r.dst6.hi, r.dst6.lo}, classify.Addr6{r.dstMask6.hi, r.dstMask6.lo}, r.invDst
		}
	default:
		if r.src&r.srcMask == r.src {
			cr.Src, cr.SrcMask, cr.InvSrc = r.src, r.srcMask, r.invSrc
		}
		if r.dst&r.dstMask == r.dst {
			cr.Dst, cr.DstMask, cr.InvDst = r.dst, r.dstMask, r.invDst
		}
	}
	if r.proto != 0 {
		cr.HasProto, cr.Proto, cr.InvProto = true, r.proto, r.invProto
	}
	proto := r.proto
	if r.invProto {
		proto = 0
	}
	counting := true // the matches so far are all tested whole
	for i, m := range r.matches {
		if em, ok := m.(ext.ExactClassifiable); ok {
			ok, whole := em.ClassifyExact(&cr, proto)
			if !ok {
				break
			}
			if counting = counting && whole && i < 255; counting {
				exact = uint8(i + 1)
			}
			continue
		}
		counting = false
		cm, ok := m.(ext.Classifiable)
		if !ok || !cm.Classify(&cr) {
			break
		}
	}
	return cr, exact
}

// classifiable reports whether the chain classifiers may be asked about
// p: a packet that is not a later fragment and has its protocol's fixed
// header; in IPv6, one with no extension header, whose upper-layer
// protocol and header are the same for ip6_tables' walk and nftables'
// (packets with extension headers, where they may differ, walk). The
// matches the classifier indexes never hotdrop such a packet, so
// skipping a rule whose tests fail is exactly what the linear walk does
// with it; other packets walk every chain.
func classifiable(p *packet.Packet) bool {
	return !p.IsLaterFragment() && p.L4Fixed && (p.Version == 4 || p.Version == 6 && !packet.IsExtHdr(p.NextHdr))
}

// fillKey reads the fields the classifier tests. src and dst (src6 and
// dst6 in IPv6) are the addresses ip_packet_match uses in this table
// (see runTable).
func fillKey(k *classify.Key, c *ext.Ctx, src, dst uint32, src6, dst6 *addr128) {
	p := c.Pkt
	*k = classify.Key{
		Src6: classify.Addr6{src6.hi, src6.lo}, Dst6: classify.Addr6{dst6.hi, dst6.lo},
		Src: src, Dst: dst, SPort: p.SrcPort, DPort: p.DstPort, Proto: p.Proto,
		TCPFlags: p.TCPFlags, ICMPType: p.ICMPType, ICMPCode: p.ICMPCode, Mark: c.Mark,
	}
}

var classifyNames = [...]string{ClassifyAuto: "auto", ClassifyLinear: "linear", ClassifyCompiled: "compiled"}

// String returns the mode's name, as ParseClassifyMode reads it.
func (m ClassifyMode) String() string {
	if int(m) < len(classifyNames) {
		return classifyNames[m]
	}
	return "?"
}

// ParseClassifyMode reads "auto", "linear" or "compiled".
func ParseClassifyMode(s string) (ClassifyMode, error) {
	for i, n := range classifyNames {
		if s == n {
			return ClassifyMode(i), nil
		}
	}
	return 0, fmt.Errorf("unknown classify mode %q: write auto, linear or compiled", s)
}
