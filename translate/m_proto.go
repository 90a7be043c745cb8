package translate

import (
	"strconv"
	"strings"

	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/rules"
)

// The transport and extension-header matches: tcp, udp, sctp, dccp,
// multiport, icmp, icmp6, ah, esp, ipcomp, mh, frag, hbh, rt, tcpmss
// (libxt_tcp.c ... libip6t_rt.c).

func init() {
	registerMatch(tcpMatch, "tcp")
	registerMatch(udpMatch, "udp")
	registerMatch(sctpMatch, "sctp")
	registerMatch(dccpMatch, "dccp")
	registerMatch(multiportMatch, "multiport")
	registerMatch(icmpMatch, "icmp")
	registerMatch(icmp6Match, "icmp6")
	registerMatch(ahMatch, "ah")
	registerMatch(espMatch, "esp")
	registerMatch(ipcompMatch, "ipcomp")
	registerMatch(mhMatch, "mh")
	registerMatch(fragMatch, "frag")
	registerMatch(hbhMatch, "hbh")
	registerMatch(rtMatch, "rt")
	registerMatch(tcpmssMatch, "tcpmss")
}

// span reads "N" or "LO:HI" (also "LO-HI") as a range.
func span(s string) (lo, hi uint64) {
	a, b, ok := strings.Cut(s, ":")
	if !ok {
		a, b, ok = strings.Cut(s, "-")
	}
	lo, _ = strconv.ParseUint(a, 0, 64)
	hi = lo
	if ok {
		hi, _ = strconv.ParseUint(b, 0, 64)
	}
	return lo, hi
}

// rangeText is "N" or "LO-HI" as nft writes a range.
func rangeText(lo, hi uint64) string {
	if lo == hi {
		return strconv.FormatUint(lo, 10)
	}
	return strconv.FormatUint(lo, 10) + "-" + strconv.FormatUint(hi, 10)
}

// opNeq is " !=" for an inverted test and "" otherwise, for a selector
// followed by its operator ("ah spi != 256"); neq is the same operator
// for writing before a value.
func opNeq(inv bool) string {
	if inv {
		return " !="
	}
	return ""
}

func neq(inv bool) string {
	if inv {
		return "!= "
	}
	return ""
}

// portsOf translates --sport/--dport of tcp, udp (their xlate is the same
// but for the protocol's name); false when neither is there.
func portsOf(x *xl, proto string, o opts) bool {
	done := false
	for _, d := range []string{"sport", "dport"} {
		if p, ok := o.get(d); ok && len(p.args) > 0 {
			lo, hi := span(p.args[0])
			x.rule.add("%s %s %s%s", proto, d, neq(p.inv), rangeText(lo, hi))
			done = true
		}
	}
	return done
}

var tcpFlagBits = map[string]uint8{"FIN": 1, "SYN": 2, "RST": 4, "PSH": 8, "ACK": 16, "URG": 32, "ECE": 64, "CWR": 128, "ALL": 0x3f, "NONE": 0}

var tcpFlagXlate = []string{"fin", "syn", "rst", "psh", "ack", "urg", "ecn", "cwr"}

func tcpFlags(s string) uint8 {
	var f uint8
	for _, n := range strings.Split(s, ",") {
		f |= tcpFlagBits[strings.ToUpper(n)]
	}
	return f
}

func tcpFlagsText(f uint8) string {
	var names []string
	for i, n := range tcpFlagXlate {
		if f&(1<<i) != 0 {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return "0x0"
	}
	return strings.Join(names, ",")
}

func tcpMatch(x *xl, o opts, _ *rules.MatchUse) bool {
	done := portsOf(x, "tcp", o)
	if t, ok := o.get("tcp-option"); ok {
		state := "exists"
		if t.inv {
			state = "missing"
		}
		x.rule.add("tcp option %s %s", t.args[0], state)
		done = true
	}
	if t, ok := o.get("tcp-flags"); ok && len(t.args) == 2 {
		mask, cmp := tcpFlags(t.args[0]), tcpFlags(t.args[1])
		x.rule.add("tcp flags %s", neq(t.inv))
		x.rule.add("%s", tcpFlagsText(cmp))
		x.rule.add(" / ")
		x.rule.add("%s", tcpFlagsText(mask))
		done = true
	}
	if !done {
		x.rule.add("meta l4proto tcp")
	}
	return true
}

func udpMatch(x *xl, o opts, _ *rules.MatchUse) bool {
	if !portsOf(x, "udp", o) {
		x.rule.add("meta l4proto udp")
	}
	return true
}

// sctpChunks is libxt_sctp's chunk table: the names iptables reads, the
// type, the flag letters and nft's name, in the order the xlate walks it.
var sctpChunks = []struct {
	name  string
	typ   int
	flags string
	nft   string
}{
	{"DATA", 0, "----IUBE", "data"}, {"INIT", 1, "--------", "init"},
	{"INIT_ACK", 2, "--------", "init-ack"}, {"SACK", 3, "--------", "sack"},
	{"HEARTBEAT", 4, "--------", "heartbeat"}, {"HEARTBEAT_ACK", 5, "--------", "heartbeat-ack"},
	{"ABORT", 6, "-------T", "abort"}, {"SHUTDOWN", 7, "--------", "shutdown"},
	{"SHUTDOWN_ACK", 8, "--------", "shutdown-ack"}, {"ERROR", 9, "--------", "error"},
	{"COOKIE_ECHO", 10, "--------", "cookie-echo"}, {"COOKIE_ACK", 11, "--------", "cookie-ack"},
	{"ECN_ECNE", 12, "--------", "ecne"}, {"ECN_CWR", 13, "--------", "cwr"},
	{"SHUTDOWN_COMPLETE", 14, "-------T", "shutdown-complete"}, {"I_DATA", 64, "----IUBE", "i-data"},
	{"RE_CONFIG", 130, "--------", "re-config"}, {"PAD", 132, "--------", "pad"},
	{"ASCONF", 193, "--------", "asconf"}, {"ASCONF_ACK", 128, "--------", "asconf-ack"},
	{"FORWARD_TSN", 192, "--------", "forward-tsn"}, {"I_FORWARD_TSN", 194, "--------", "i-forward-tsn"},
}

func sctpMatch(x *xl, o opts, _ *rules.MatchUse) bool {
	if len(o) == 0 {
		return false
	}
	for _, d := range []string{"sport", "dport"} {
		if p, ok := o.get(d); ok {
			lo, hi := span(p.args[0])
			op := opNeq(p.inv)
			x.rule.add("sctp %s%s %s", d, op, rangeText(lo, hi))
		}
	}
	c, ok := o.get("chunk-types")
	if !ok {
		return true
	}
	if len(c.args) < 1 || c.args[0] == "any" {
		return false
	}
	only := c.args[0] == "only"
	type flag struct{ mask, val uint8 }
	given := map[int]*flag{}
	if len(c.args) > 1 && c.args[1] != "NONE" {
		for _, item := range strings.Split(c.args[1], ",") {
			name, letters, _ := strings.Cut(item, ":")
			for _, sc := range sctpChunks {
				if !strings.EqualFold(sc.name, name) {
					continue
				}
				var f *flag
				if letters != "" {
					f = &flag{}
					for _, l := range letters {
						bit := strings.IndexRune(sc.flags, rune(strings.ToUpper(string(l))[0]))
						if bit < 0 {
							continue
						}
						v := uint8(1) << (7 - bit)
						f.mask |= v
						if l >= 'A' && l <= 'Z' {
							f.val |= v
						}
					}
				}
				given[sc.typ] = f
			}
		}
	}
	for _, sc := range sctpChunks {
		f, set := given[sc.typ]
		switch {
		case !set:
			if !only {
				continue
			}
			state := "missing"
			if c.inv {
				state = "exists"
			}
			x.rule.add("sctp chunk %s %s", sc.nft, state)
		case f == nil:
			state := "exists"
			if c.inv {
				state = "missing"
			}
			x.rule.add("sctp chunk %s %s", sc.nft, state)
		default:
			eq := "=="
			if c.inv {
				eq = "!="
			}
			x.rule.add("sctp chunk %s flags & 0x%x %s 0x%x", sc.nft, f.mask, eq, f.val)
		}
	}
	return true
}

var dccpTypes = []string{"REQUEST", "RESPONSE", "DATA", "ACK", "DATAACK", "CLOSEREQ", "CLOSE", "RESET", "SYNC", "SYNCACK", "INVALID"}

var dccpTypesXlate = []string{"request", "response", "data", "ack", "dataack", "closereq", "close", "reset", "sync", "syncack", "10-15"}

func dccpMatch(x *xl, o opts, _ *rules.MatchUse) bool {
	for _, d := range []string{"sport", "dport"} {
		if p, ok := o.get(d); ok {
			lo, hi := span(p.args[0])
			op := opNeq(p.inv)
			x.rule.add("dccp %s%s %d", d, op, lo)
			if lo != hi {
				x.rule.add("-%d", hi)
			}
		}
	}
	if t, ok := o.get("dccp-types"); ok && len(t.args) > 0 {
		var mask uint16
		for _, n := range strings.Split(t.args[0], ",") {
			for i, name := range dccpTypes {
				if strings.EqualFold(n, name) {
					mask |= 1 << i
				}
			}
		}
		if mask != 0 {
			op := opNeq(t.inv)
			x.rule.add("dccp type%s ", op)
			many := mask&(mask-1) != 0
			if many {
				x.rule.add("{")
			}
			first := true
			for i, n := range dccpTypesXlate {
				if mask&(1<<i) == 0 {
					continue
				}
				if !first {
					x.rule.add(", ")
				}
				first = false
				x.rule.add("%s", n)
			}
			if many {
				x.rule.add("}")
			}
		}
	}
	// nft has no dccp option test.
	return !o.has("dccp-option")
}

func multiportMatch(x *xl, o opts, _ *rules.MatchUse) bool {
	proto := protoName(x.r.Proto)
	x.rule.add("%s", proto)
	var dir string
	var p opt
	switch {
	case o.has("sports"):
		dir, p = "sport", o.mustGet("sports")
	case o.has("dports"):
		dir, p = "dport", o.mustGet("dports")
	case o.has("ports"):
		p = o.mustGet("ports")
		if x.exact {
			// 1.8.11 drops the "!" of ! --ports; the pairs below
			// are right only without it.
			if p.inv {
				return x.refuse("! --ports has no nft form of one rule")
			}
		}
		x.rule.add(" sport . %s dport { ", proto)
		first := true
		for _, s := range strings.Split(p.args[0], ",") {
			lo, hi := span(s)
			// 1.8.11 writes a range's two ends as two ports
			ports := []string{strconv.FormatUint(lo, 10)}
			if lo != hi {
				if x.exact {
					ports = []string{rangeText(lo, hi)}
				} else {
					ports = append(ports, strconv.FormatUint(hi, 10))
				}
			}
			for _, pt := range ports {
				if !first {
					x.rule.add(", ")
				}
				first = false
				x.rule.add("0-65535 . %s, %s . 0-65535", pt, pt)
			}
		}
		x.rule.add(" }")
		return true
	default:
		return false
	}
	x.rule.add(" %s ", dir)
	if p.inv {
		x.rule.add("!= ")
	}
	items := strings.Split(p.args[0], ",")
	braces := len(items) > 1
	for i, s := range items {
		lo, hi := span(s)
		sep := ""
		if i > 0 {
			sep = ", "
		}
		if i == 0 && braces {
			x.rule.add("{ ")
		}
		x.rule.add("%s%d", sep, lo)
		if lo != hi {
			x.rule.add("-%d", hi)
		}
	}
	if braces {
		x.rule.add("}")
	}
	return true
}

// icmpNames are the ICMP types iptables names as a whole (every code).
var icmpNames = map[uint64]string{
	0: "echo-reply", 3: "destination-unreachable", 4: "source-quench", 5: "redirect",
	8: "echo-request", 9: "router-advertisement", 10: "router-solicitation",
	11: "time-exceeded", 12: "parameter-problem", 13: "timestamp-request",
	14: "timestamp-reply", 17: "address-mask-request", 18: "address-mask-reply",
}

var icmp6Names = map[uint64]string{
	1: "destination-unreachable", 2: "packet-too-big", 3: "time-exceeded",
	4: "parameter-problem", 128: "echo-request", 129: "echo-reply",
	130: "mld-listener-query", 131: "mld-listener-report", 132: "mld-listener-done",
	// nft's names of the neighbour discovery types
	133: "nd-router-solicit", 134: "nd-router-advert", 135: "nd-neighbor-solicit",
	136: "nd-neighbor-advert", 137: "nd-redirect",
}

func icmpMatch(x *xl, o opts, _ *rules.MatchUse) bool {
	t, ok := o.get("icmp-type")
	if !ok {
		return false
	}
	if t.args[0] == "any" {
		// a no-op, but it took the rule's -p icmp away: say it here
		x.rule.add("ip protocol icmp")
		return true
	}
	return icmpType(x, t, "icmp", icmpNames)
}

func icmp6Match(x *xl, o opts, _ *rules.MatchUse) bool {
	t, ok := o.get("icmpv6-type")
	if !ok {
		return false
	}
	return icmpType(x, t, "icmpv6", icmp6Names)
}

// icmpType translates --icmp-type or --icmpv6-type TYPE[/CODE] (t) to
// nft's "icmp type" or "icmpv6 type" (kw), by the type's nft name.
func icmpType(x *xl, t opt, kw string, names map[uint64]string) bool {
	op := opNeq(t.inv)
	x.rule.add("%s type%s ", kw, op)
	typ, code, hasCode := strings.Cut(t.args[0], "/")
	n, _ := strconv.ParseUint(typ, 10, 8)
	name := names[n]
	if x.exact && (hasCode || name == "") {
		// 1.8.11 gives up on a code, or a type it has no name for.
		if hasCode && t.inv {
			return x.refuse("! --%s-type TYPE/CODE has no nft form of one test", kw)
		}
		x.rule.add("%s", typ)
		if hasCode {
			x.rule.add("%s code %s", kw, code)
		}
		return true
	}
	if hasCode || name == "" {
		return false
	}
	x.rule.add("%s", name)
	return true
}

func ahMatch(x *xl, o opts, _ *rules.MatchUse) bool {
	spi, hasSPI := o.get("ahspi")
	if x.fam == ext.IPv4 {
		if hasSPI {
			lo, hi := span(spi.args[0])
			op := opNeq(spi.inv)
			x.rule.add("ah spi%s ", op)
			x.rule.add("%s", rangeText(lo, hi))
		} else {
			x.rule.add("meta l4proto ah")
		}
		return true
	}
	space := ""
	if hasSPI {
		lo, hi := span(spi.args[0])
		op := opNeq(spi.inv)
		x.rule.add("ah spi%s ", op)
		x.rule.add("%s", rangeText(lo, hi))
		space = " "
	}
	if l, ok := o.get("ahlen"); ok {
		op := opNeq(l.inv)
		x.rule.add("%sah hdrlength%s %s", space, op, l.args[0])
		space = " "
	}
	if o.has("ahres") {
		x.rule.add("%sah reserved %d", space, 1)
		space = " "
	}
	if space == "" {
		x.rule.add("exthdr ah exists")
	}
	return true
}

func espMatch(x *xl, o opts, _ *rules.MatchUse) bool {
	if spi, ok := o.get("espspi"); ok {
		lo, hi := span(spi.args[0])
		op := opNeq(spi.inv)
		x.rule.add("esp spi%s", op)
		x.rule.add(" %s", rangeText(lo, hi))
	} else if x.fam == ext.IPv4 {
		x.rule.add("meta l4proto esp")
	} else {
		x.rule.add("exthdr esp exists")
	}
	return true
}

func ipcompMatch(x *xl, o opts, _ *rules.MatchUse) bool {
	lo, hi := uint64(0), uint64(0xffffffff)
	inv := false
	if spi, ok := o.get("ipcompspi"); ok {
		lo, hi = span(spi.args[0])
		inv = spi.inv
	}
	x.rule.add("comp cpi %s", neq(inv))
	x.rule.add("%s", rangeText(lo, hi))
	return true
}

func mhMatch(x *xl, o opts, _ *rules.MatchUse) bool {
	t, ok := o.get("mh-type")
	if !ok {
		x.rule.add("exthdr mh exists")
		return true
	}
	lo, hi := span(t.args[0])
	x.rule.add("mh type %s%s", neq(t.inv), rangeText(lo, hi))
	return true
}

func fragMatch(x *xl, o opts, _ *rules.MatchUse) bool {
	flags := o.has("fragres") || o.has("fragfirst") || o.has("fragmore") || o.has("fraglast")
	if id, ok := o.get("fragid"); ok {
		lo, hi := span(id.args[0])
		x.rule.add("frag id %s", neq(id.inv))
		x.rule.add("%s", rangeText(lo, hi))
	} else if !flags {
		x.rule.add("exthdr frag exists")
		return true
	}
	// --fraglen has no effect in the kernel; 1.8.11 leaves it out.
	if o.has("fragres") {
		x.rule.add("frag reserved 1")
	}
	if o.has("fragfirst") {
		x.rule.add("frag frag-off 0")
	}
	if o.has("fragmore") {
		x.rule.add("frag more-fragments 1")
	}
	if o.has("fraglast") {
		x.rule.add("frag more-fragments 0")
	}
	return true
}

func hbhMatch(x *xl, o opts, _ *rules.MatchUse) bool {
	l, ok := o.get("hbh-len")
	if !ok || o.has("hbh-opts") {
		return false
	}
	x.rule.add("hbh hdrlength %s%s", neq(l.inv), l.args[0])
	return true
}

func rtMatch(x *xl, o opts, _ *rules.MatchUse) bool {
	t, hasType := o.get("rt-type")
	if hasType {
		op := opNeq(t.inv)
		x.rule.add("rt type%s %s", op, t.args[0])
	}
	l, hasLen := o.get("rt-len")
	other := o.has("rt-0-res") || o.has("rt-0-addrs") || o.has("rt-0-not-strict")
	if s, ok := o.get("rt-segsleft"); ok {
		lo, hi := span(s.args[0])
		op := opNeq(s.inv)
		x.rule.add("rt seg-left%s ", op)
		x.rule.add("%s", rangeText(lo, hi))
	} else if !hasType && !hasLen && !other {
		x.rule.add("exthdr rt exists")
		return true
	}
	if hasLen {
		op := opNeq(l.inv)
		x.rule.add("rt hdrlength%s %s", op, l.args[0])
	}
	return !other
}

func tcpmssMatch(x *xl, o opts, _ *rules.MatchUse) bool {
	m, ok := o.get("mss")
	if !ok {
		return false
	}
	lo, hi := span(m.args[0])
	x.rule.add("tcp option maxseg size %s", neq(m.inv))
	x.rule.add("%s", rangeText(lo, hi))
	return true
}
