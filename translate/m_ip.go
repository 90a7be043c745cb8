package translate

import (
	"strconv"
	"strings"

	"github.com/ipsift/ipsift/ext"

	"github.com/ipsift/ipsift/rules"
)

// The matches on network-header fields and the packet's metadata: ttl,
// hl, dscp, ecn, length, iprange, realm, devgroup, addrtype, mac,
// pkttype.

func init() {
	registerMatch(ttlMatch, "ttl")
	registerMatch(hlMatch, "hl")
	registerMatch(dscpMatch, "dscp")
	registerMatch(ecnMatch, "ecn")
	registerMatch(lengthMatch, "length")
	registerMatch(iprangeMatch, "iprange")
	registerMatch(realmMatch, "realm")
	registerMatch(devgroupMatch, "devgroup")
	registerMatch(addrtypeMatch, "addrtype")
	registerMatch(macMatch, "mac")
	registerMatch(pkttypeMatch, "pkttype")
	registerMatch(tosMatch, "tos")
}

// tosMatch is -m tos, which 1.8.11 does not translate: exact mode tests
// the header's TOS byte (IPv6: traffic class) raw, as xt_tos does.
func tosMatch(x *xl, o opts, _ *rules.MatchUse) bool {
	t, ok := o.get("tos")
	if !x.exact || !ok {
		return false
	}
	v, m, _ := strings.Cut(t.args[0], "/")
	at := "@nh,8,8"
	if x.fam == ext.IPv6 {
		at = "@nh,4,8"
	}
	eq := "=="
	if t.inv {
		eq = "!="
	}
	x.rule.add("%s & %s %s %s", at, m, eq, v)
	return true
}

func ttlMatch(x *xl, o opts, _ *rules.MatchUse) bool {
	for _, op := range []struct{ name, nft string }{{"ttl-eq", "ip ttl"}, {"ttl-lt", "ip ttl lt"}, {"ttl-gt", "ip ttl gt"}} {
		if t, ok := o.get(op.name); ok {
			s := op.nft
			if t.inv {
				s = "ip ttl !="
			}
			x.rule.add("%s", s)
			x.rule.add(" %s", t.args[0])
			return true
		}
	}
	return false
}

func hlMatch(x *xl, o opts, _ *rules.MatchUse) bool {
	for _, op := range []struct{ name, nft string }{{"hl-eq", ""}, {"hl-lt", "lt "}, {"hl-gt", "gt "}} {
		if t, ok := o.get(op.name); ok {
			s := op.nft
			if t.inv {
				s = "!= "
			}
			x.rule.add("ip6 hoplimit %s%s", s, t.args[0])
			return true
		}
	}
	return false
}

func dscpMatch(x *xl, o opts, _ *rules.MatchUse) bool {
	d, ok := o.get("dscp")
	if !ok {
		return false
	}
	v, _ := strconv.ParseUint(d.args[0], 0, 8)
	x.rule.add("%s ", x.ip())
	x.rule.add("dscp %s0x%02x", neq(d.inv), v)
	return true
}

func ecnMatch(x *xl, o opts, _ *rules.MatchUse) bool {
	// libxt_ecn tests one inversion flag for all three tests; the
	// kernel has one per test.
	anyInv := false
	for _, e := range o {
		anyInv = anyInv || e.inv
	}
	for _, f := range []struct{ opt, flag string }{{"ecn-tcp-ece", "ecn"}, {"ecn-tcp-cwr", "cwr"}} {
		e, ok := o.get(f.opt)
		if !ok {
			continue
		}
		if x.exact {
			// "tcp flags != ecn" compares the whole flags byte; the
			// kernel tests one bit.
			cmp := f.flag
			if e.inv {
				cmp = "0"
			}
			x.rule.add("tcp flags & %s == %s", f.flag, cmp)
			continue
		}
		x.rule.add("tcp flags ")
		if anyInv {
			x.rule.add("!= ")
		}
		x.rule.add("%s", f.flag)
	}
	if e, ok := o.get("ecn-ip-ect"); ok {
		inv := anyInv
		if x.exact {
			inv = e.inv
		}
		x.rule.add("ip ecn ")
		if inv {
			x.rule.add("!= ")
		}
		switch e.args[0] {
		case "0":
			x.rule.add("not-ect")
		case "1":
			x.rule.add("ect1")
		case "2":
			x.rule.add("ect0")
		case "3":
			x.rule.add("ce")
		default:
			return false
		}
	}
	return true
}

func lengthMatch(x *xl, o opts, _ *rules.MatchUse) bool {
	l, ok := o.get("length")
	if !ok {
		return false
	}
	lo, hi := span(l.args[0])
	x.rule.add("meta length %s", neq(l.inv))
	x.rule.add("%s", rangeText(lo, hi))
	return true
}

func iprangeMatch(x *xl, o opts, _ *rules.MatchUse) bool {
	for _, d := range []struct{ opt, sel string }{{"src-range", "saddr"}, {"dst-range", "daddr"}} {
		r, ok := o.get(d.opt)
		if !ok {
			continue
		}
		lo, hi, _ := strings.Cut(r.args[0], "-")
		op := opNeq(r.inv)
		x.rule.add("%s %s%s %s", x.ip(), d.sel, op, lo)
		x.rule.add("-%s", hi)
	}
	return true
}

// valueMask prints " 0xV" or " and 0xM == 0xV" (print_mark_xlate), the
// comparison of mark, ct mark, realm and device group.
func valueMask(x *xl, arg string, inv bool) {
	v, m, hasMask := strings.Cut(arg, "/")
	val, _ := strconv.ParseUint(v, 0, 32)
	mask := uint64(0xffffffff)
	if hasMask {
		mask, _ = strconv.ParseUint(m, 0, 32)
	}
	if mask != 0xffffffff {
		eq := "=="
		if inv {
			eq = "!="
		}
		x.rule.add(" and 0x%x %s 0x%x", mask, eq, val)
		return
	}
	x.rule.add(" %s0x%x", neq(inv), val)
}

func realmMatch(x *xl, o opts, _ *rules.MatchUse) bool {
	r, ok := o.get("realm")
	if !ok {
		return false
	}
	x.rule.add("rtclassid")
	valueMask(x, r.args[0], r.inv)
	return true
}

// devgroupMatch is devgroup_xlate: "iifgroup" and "oifgroup" with the
// group as valueMask writes it, a name where the saved form has one
// ("default"). 1.8.11 keeps the "!=" of an inverted --src-group for the
// --dst-group after it (its op variable is set once and never reset);
// exact mode inverts each test on its own, as xt_devgroup does.
func devgroupMatch(x *xl, o opts, _ *rules.MatchUse) bool {
	inv := false
	for _, d := range []struct{ opt, sel string }{{"src-group", "iifgroup"}, {"dst-group", "oifgroup"}} {
		g, ok := o.get(d.opt)
		if !ok {
			continue
		}
		if x.exact {
			inv = g.inv
		} else {
			inv = inv || g.inv
		}
		x.rule.add("%s", d.sel)
		if _, err := strconv.ParseUint(g.args[0], 0, 32); err != nil && !strings.Contains(g.args[0], "/") {
			x.rule.add(" %s%s", neq(inv), g.args[0]) // a group name
			continue
		}
		valueMask(x, g.args[0], inv)
	}
	return true
}

var addrTypes = []string{"UNSPEC", "UNICAST", "LOCAL", "BROADCAST", "ANYCAST", "MULTICAST", "BLACKHOLE", "UNREACHABLE", "PROHIBIT"}

func addrtypeMatch(x *xl, o opts, _ *rules.MatchUse) bool {
	one := func(t opt, sel string) bool {
		x.rule.add("fib ")
		x.rule.add("%s ", sel)
		if o.has("limit-iface-in") {
			x.rule.add(". iif ")
		} else if o.has("limit-iface-out") {
			x.rule.add(". oif ")
		}
		x.rule.add("type ")
		if inv := t.inv || !x.exact && (o.hasInv("src-type") || o.hasInv("dst-type")); inv {
			x.rule.add("!= ")
		}
		var names []string
		for _, n := range strings.Split(t.args[0], ",") {
			found := false
			for i, a := range addrTypes {
				if strings.EqualFold(n, a) {
					names = append(names, strconv.Itoa(i))
					found = true
				}
			}
			if !found {
				return false // THROW, NAT, XRESOLVE: nft's fib knows no such type
			}
		}
		// in the order of the kernel's rtn types, not as written
		var out []string
		for i, a := range addrTypes {
			for _, n := range names {
				if n == strconv.Itoa(i) {
					out = append(out, strings.ToLower(a))
				}
			}
		}
		if len(out) > 1 {
			x.rule.add("{ ")
		}
		x.rule.add("%s", strings.Join(out, ", "))
		if len(out) > 1 {
			x.rule.add(" }")
		}
		return true
	}
	src, hasSrc := o.get("src-type")
	dst, hasDst := o.get("dst-type")
	switch {
	case hasSrc && hasDst && x.exact:
		// 1.8.11 translates only the source test of a rule with both
		return one(src, "saddr") && one(dst, "daddr")
	case hasSrc:
		return one(src, "saddr")
	case hasDst:
		return one(dst, "daddr")
	}
	return false
}

// hasInv reports whether the named option is inverted.
func (o opts) hasInv(name string) bool { t, ok := o.get(name); return ok && t.inv }

func macMatch(x *xl, o opts, _ *rules.MatchUse) bool {
	m, ok := o.get("mac-source")
	if !ok {
		return false
	}
	op := opNeq(m.inv)
	x.rule.add("ether saddr%s ", op)
	x.rule.add("%s", strings.ToLower(m.args[0]))
	return true
}

var pktTypes = map[string]string{"unicast": "unicast", "host": "unicast", "broadcast": "broadcast", "multicast": "multicast", "otherhost": "3", "outgoing": "4", "loopback": "5"}

func pkttypeMatch(x *xl, o opts, _ *rules.MatchUse) bool {
	p, ok := o.get("pkt-type")
	if !ok {
		return false
	}
	op := opNeq(p.inv)
	x.rule.add("pkttype%s ", op)
	name, ok := pktTypes[strings.ToLower(p.args[0])]
	if !ok {
		name = p.args[0]
	}
	x.rule.add("%s", name)
	return true
}
