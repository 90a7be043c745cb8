package analyze

import (
	"fmt"
	"math/bits"
	"strings"

	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/internal/saveopt"
)

// describe puts a box of packets into words, e.g. "tcp SYN packets to port
// 25", naming only the fields it restricts.
func describe(b *box, atoms *ifaceAtoms, addrs *addrAtoms) string {
	var pre, post []string
	if s := b[dimState]; !s.isFull(dimState) {
		pre = append(pre, stateWords(s))
	}
	if s := b[dimProto]; !s.isFull(dimProto) {
		pre = append(pre, protoWords(s))
	}
	if s := b[dimFlags]; !s.isFull(dimFlags) {
		if w, ok := flagWords(s); ok && w == "SYN" {
			pre = append(pre, "SYN")
		} else {
			post = append(post, "with TCP flags "+w)
		}
	}
	if s := b[dimFrag]; s.equal(point(1)) {
		pre = append(pre, "non-first fragment")
	}
	noun := "packets"
	if s := b[dimICMP]; !s.isFull(dimICMP) {
		post = append(post, "of "+icmpWords(s))
	}
	if s := b[dimSrc]; !s.isFull(dimSrc) {
		post = append(post, "from "+addrWords(s, addrs))
	}
	if s := b[dimSport]; !s.isFull(dimSport) {
		post = append(post, "from "+portWords(s))
	}
	if s := b[dimDst]; !s.isFull(dimDst) {
		post = append(post, "to "+addrWords(s, addrs))
	}
	if s := b[dimDport]; !s.isFull(dimDport) {
		post = append(post, "to "+portWords(s))
	}
	if s := b[dimIn]; !s.isFull(dimIn) {
		post = append(post, "arriving on "+ifaceWords(s, atoms))
	}
	if s := b[dimOut]; !s.isFull(dimOut) {
		post = append(post, "leaving by "+ifaceWords(s, atoms))
	}
	if s := b[dimMark]; !s.isFull(dimMark) {
		post = append(post, "with mark "+valueWords(s, true))
	}
	if s := b[dimLen]; !s.isFull(dimLen) {
		post = append(post, "of length "+valueWords(s, false))
	}
	if s := b[dimExt]; !s.isFull(dimExt) {
		post = append(post, map[bool]string{true: "with", false: "without"}[s.has(1)]+" IPv6 extension headers")
	}
	if s := b[dimTTL]; !s.isFull(dimTTL) {
		post = append(post, "with TTL "+valueWords(s, false))
	}
	return strings.Join(append(append(pre, noun), post...), " ")
}

// negated describes s by its complement when that is shorter: "not 22".
func negated(s set, d int, f func(set) string) string {
	c := s.complement(d)
	if len(c) < len(s) {
		return "other than " + f(c)
	}
	return f(s)
}

func protoWords(s set) string {
	return negated(s, dimProto, func(s set) string {
		var names []string
		for _, x := range s {
			for v := x.lo; v <= x.hi && len(names) < 8; v++ {
				if v == protoNone {
					names = append(names, "no protocol found (a truncated IPv6 header chain)")
				} else if n := ext.ProtoName(uint8(v)); n != "" {
					names = append(names, n)
				} else {
					names = append(names, "protocol "+itoa(v))
				}
			}
		}
		return strings.Join(names, "/")
	})
}

func stateWords(s set) string {
	var union, inter uint8 = 0, 0xff
	for _, x := range s {
		for v := x.lo; v <= x.hi; v++ {
			union |= ctBits(v)
			inter &= ctBits(v)
		}
	}
	var names []string
	for _, n := range stateNames {
		if union&n.bit != 0 && (n.bit != stSNAT && n.bit != stDNAT || inter&n.bit != 0) {
			names = append(names, n.name)
		}
	}
	return strings.Join(names, "/")
}

// flagWords gives a flag set as iptables' "--tcp-flags MASK COMP" when it
// is one, with "SYN" for the common FIN,SYN,RST,ACK SYN.
func flagWords(s set) (string, bool) {
	var and, or uint8 = 0xff, 0
	n := 0.0
	for _, x := range s {
		for v := x.lo; v <= x.hi; v++ {
			and &= uint8(v)
			or |= uint8(v)
		}
		n += float64(x.hi-x.lo) + 1
	}
	mask := and | ^or // bits with one value across the set
	if n != float64(uint(1)<<(8-bits.OnesCount8(mask))) {
		return "in a set of " + fmt.Sprint(n) + " combinations", false
	}
	mask &= 0x3f // ECE and CWR free or not, the options name only six
	if mask == 0x17 && and&mask == 0x02 {
		return "SYN", true
	}
	return names(mask) + " " + names(and&mask), true
}

func names(f uint8) string {
	if f == 0 {
		return "NONE"
	}
	var out []string
	for _, n := range []string{"FIN", "SYN", "RST", "PSH", "ACK", "URG"} {
		if f&saveopt.TCPFlagBits[n] != 0 {
			out = append(out, n)
		}
	}
	return strings.Join(out, ",")
}

func icmpWords(s set) string {
	return negated(s, dimICMP, func(s set) string {
		var parts []string
		for _, x := range s {
			t1, t2 := x.lo>>8, x.hi>>8
			switch {
			case x.lo&255 == 0 && x.hi&255 == 255 && t1 == t2:
				parts = append(parts, "type "+itoa(t1))
			case x.lo&255 == 0 && x.hi&255 == 255:
				parts = append(parts, "types "+itoa(t1)+"-"+itoa(t2))
			case t1 == t2 && x.lo == x.hi:
				parts = append(parts, "type "+itoa(t1)+" code "+itoa(x.lo&255))
			case t1 == t2:
				parts = append(parts, "type "+itoa(t1)+" codes "+itoa(x.lo&255)+"-"+itoa(x.hi&255))
			default:
				parts = append(parts, "type/code "+itoa(t1)+"/"+itoa(x.lo&255)+" to "+itoa(t2)+"/"+itoa(x.hi&255))
			}
		}
		return strings.Join(parts, ", ")
	})
}

func addrWords(s set, addrs *addrAtoms) string {
	return negated(s, dimSrc, func(s set) string {
		var parts []string
		for _, x := range s {
			parts = append(parts, rangeText(addrs.bounds(x.lo, x.hi)))
		}
		return strings.Join(parts, ", ")
	})
}

func portWords(s set) string {
	f := func(s set) string {
		var parts []string
		for _, x := range s {
			if x.lo == x.hi {
				parts = append(parts, itoa(x.lo))
			} else {
				parts = append(parts, itoa(x.lo)+":"+itoa(x.hi))
			}
		}
		if len(parts) == 1 && s[0].lo == s[0].hi {
			return "port " + parts[0]
		}
		return "ports " + strings.Join(parts, ",")
	}
	return negated(s, dimSport, f)
}

func ifaceWords(s set, atoms *ifaceAtoms) string {
	var names []string
	for _, x := range s {
		for v := x.lo; v <= x.hi; v++ {
			if int(v) >= len(atoms.reps) {
				names = append(names, "other interfaces")
				break
			}
			names = append(names, atoms.name(v))
		}
	}
	return strings.Join(names, " or ")
}

func valueWords(s set, hex bool) string {
	var parts []string
	for _, x := range s {
		f := itoa
		if hex {
			f = func(v uint32) string { return fmt.Sprintf("0x%x", v) }
		}
		if x.lo == x.hi {
			parts = append(parts, f(x.lo))
		} else {
			parts = append(parts, f(x.lo)+"-"+f(x.hi))
		}
	}
	return strings.Join(parts, ", ")
}
