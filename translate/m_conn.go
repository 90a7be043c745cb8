package translate

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/rules"
)

// The connection tracking matches: conntrack, state, connmark, connbytes,
// connlabel, connlimit, helper.

func init() {
	registerMatch(conntrackMatch, "conntrack")
	registerMatch(stateMatch, "state")
	registerMatch(connmarkMatch, "connmark")
	registerMatch(connbytesMatch, "connbytes")
	registerMatch(connlabelMatch, "connlabel")
	registerMatch(connlimitMatch, "connlimit")
	registerMatch(helperMatch, "helper")
}

// ctStates in the order state_xlate_print writes them.
var ctStates = []string{"INVALID", "NEW", "RELATED", "ESTABLISHED", "UNTRACKED"}

var ctStatuses = []string{"EXPECTED", "SEEN_REPLY", "ASSURED", "CONFIRMED"}

// flagList writes the names of a comma list that appear in order, lower
// case with '-' for '_', after "! " when inverted.
func flagList(x *xl, list string, order []string, inv bool) {
	if inv {
		x.rule.add("! ")
	}
	given := map[string]bool{}
	for _, n := range strings.Split(list, ",") {
		given[strings.ToUpper(n)] = true
	}
	sep := ""
	for _, n := range order {
		if given[n] {
			x.rule.add("%s%s", sep, strings.ReplaceAll(strings.ToLower(n), "_", "-"))
			sep = ","
		}
	}
}

func stateMatch(x *xl, o opts, _ *rules.MatchUse) bool {
	s, ok := o.get("state")
	if !ok {
		return false
	}
	x.rule.add("ct state ")
	flagList(x, s.args[0], ctStates, s.inv)
	return true
}

// ctAddr is addr_xlate_print: the address and "/LEN" or "/MASK" unless
// it is a host address.
func ctAddr(s string) string {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return s
	}
	if p.Bits() == p.Addr().BitLen() {
		return p.Addr().String()
	}
	return p.String()
}

func conntrackMatch(x *xl, o opts, _ *rules.MatchUse) bool {
	space := ""
	dir := "original"
	if d, ok := o.get("ctdir"); ok {
		if strings.EqualFold(d.args[0], "REPLY") {
			dir = "reply"
		}
		x.rule.add("ct direction %s", dir)
		space = " "
	}
	if p, ok := o.get("ctproto"); ok {
		x.rule.add("%sct %s protocol %s%s", space, dir, neq(p.inv), p.args[0])
		space = " "
	}
	if s, ok := o.get("ctstate"); ok {
		upper := strings.ToUpper(s.args[0])
		snat, dnat := strings.Contains(upper, "SNAT"), strings.Contains(upper, "DNAT")
		if snat || dnat {
			nat := "dnat"
			if snat {
				nat = "snat"
			}
			if x.exact {
				if snat && dnat || strings.Count(upper, ",") > 0 {
					return x.refuse("--ctstate mixing SNAT or DNAT with other states has no nft form of one test")
				}
				op := ""
				if s.inv {
					op = "! "
				}
				x.rule.add("%sct status %s%s", space, op, nat)
			} else {
				// 1.8.11 takes the inversion of --ctstatus here
				op := ""
				if st, ok := o.get("ctstatus"); ok && st.inv {
					op = "!="
				}
				x.rule.add("%sct status %s%s", space, op, nat)
			}
		} else {
			x.rule.add("%sct state ", space)
			flagList(x, s.args[0], ctStates, s.inv)
		}
		space = " "
	}
	if s, ok := o.get("ctstatus"); ok {
		x.rule.add("%sct status ", space)
		flagList(x, s.args[0], ctStatuses, s.inv)
		space = " "
	}
	if e, ok := o.get("ctexpire"); ok {
		lo, hi := span(e.args[0])
		x.rule.add("%sct expiration %s", space, neq(e.inv))
		x.rule.add("%s", rangeText(lo, hi))
		space = " "
	}
	for _, a := range []struct{ opt, sel string }{{"ctorigsrc", "original saddr"}, {"ctorigdst", "original daddr"}, {"ctreplsrc", "reply saddr"}, {"ctrepldst", "reply daddr"}} {
		if t, ok := o.get(a.opt); ok {
			x.rule.add("%sct %s %s", space, a.sel, neq(t.inv))
			x.rule.add("%s", ctAddr(t.args[0]))
			space = " "
		}
	}
	for _, p := range []struct{ opt, sel string }{{"ctorigsrcport", "original proto-src"}, {"ctorigdstport", "original proto-dst"}, {"ctreplsrcport", "reply proto-src"}, {"ctrepldstport", "reply proto-dst"}} {
		if t, ok := o.get(p.opt); ok {
			lo, hi := span(t.args[0])
			x.rule.add("%sct %s %s", space, p.sel, neq(t.inv))
			x.rule.add("%s", rangeText(lo, hi))
			space = " "
		}
	}
	return true
}

func connmarkMatch(x *xl, o opts, _ *rules.MatchUse) bool {
	m, ok := o.get("mark")
	if !ok {
		return false
	}
	x.rule.add("ct mark")
	valueMask(x, m.args[0], m.inv)
	return true
}

func connbytesMatch(x *xl, o opts, _ *rules.MatchUse) bool {
	c, ok := o.get("connbytes")
	if !ok {
		return false
	}
	x.rule.add("ct ")
	switch o.arg("connbytes-dir") {
	case "original":
		x.rule.add("original ")
	case "reply":
		x.rule.add("reply ")
	case "both":
	default:
		return false
	}
	switch o.arg("connbytes-mode") {
	case "packets", "bytes", "avgpkt":
		x.rule.add("%s ", o.arg("connbytes-mode"))
	default:
		return false
	}
	from, to := span(c.args[0])
	if !strings.Contains(c.args[0], ":") {
		to = ^uint64(0)
	}
	// "! --connbytes A:B" is stored as the range B:A
	inv := c.inv
	switch {
	case from == to:
		x.rule.add("%d", from)
	case to == ^uint64(0):
		op := "ge"
		if inv {
			op = "lt"
		}
		x.rule.add("%s %d", op, from)
	default:
		x.rule.add("%s%d-%d", neq(inv), from, to)
	}
	return true
}

func connlabelMatch(x *xl, o opts, _ *rules.MatchUse) bool {
	l, ok := o.get("label")
	if !ok {
		return false
	}
	name := l.args[0]
	set := o.has("set")
	if x.exact && l.inv {
		// 1.8.11 writes "ct label and N != N", a label number used as
		// a bit mask, and after --set the label it just set.
		if set {
			return x.refuse("! --label with --set has no nft form (the label is set before it is tested)")
		}
		x.rule.add("ct label != %s", name)
		return true
	}
	if set {
		x.rule.add("ct label set %s ", name)
	}
	x.rule.add("ct label ")
	if l.inv {
		x.rule.add("and %s != ", name)
	}
	x.rule.add("%s", name)
	return true
}

func connlimitMatch(x *xl, o opts, _ *rules.MatchUse) bool {
	limit := o.arg("connlimit-above")
	over := "over "
	if limit == "" {
		limit, over = o.arg("connlimit-upto"), ""
	}
	bits := 32
	if x.fam == ext.IPv6 {
		bits = 128
	}
	netmask := ""
	if m := o.arg("connlimit-mask"); m != "" {
		if n, _ := strconv.Atoi(m); n != bits {
			p := netip.PrefixFrom(allOnes(bits), n).Masked().Addr()
			netmask = "and " + p.String() + " "
		}
	}
	sel := "saddr"
	if o.has("connlimit-daddr") {
		sel = "daddr"
	}
	typ := "ipv4_addr"
	if x.exact && x.fam == ext.IPv6 {
		// 1.8.11 declares every connlimit set of IPv4 addresses
		typ = "ipv6_addr"
	}
	id := *x.ids
	*x.ids++
	x.set.add("connlimit%d { type %s; flags dynamic; }", id, typ)
	x.rule.add("add @connlimit%d { %s %s %sct count %s%s }", id, x.ip(), sel, netmask, over, limit)
	return true
}

func helperMatch(x *xl, o opts, _ *rules.MatchUse) bool {
	h, ok := o.get("helper")
	if !ok {
		return false
	}
	op := opNeq(h.inv)
	x.rule.add("%s", fmt.Sprintf("ct helper%s \"%s\"", op, h.args[0]))
	return true
}
