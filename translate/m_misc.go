package translate

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/ipsift/ipsift/rules"
)

// The remaining matches: mark, owner, cgroup, cpu, comment, limit,
// hashlimit, quota, statistic, time, policy, rpfilter, socket, cluster.

func init() {
	registerMatch(markMatch, "mark")
	registerMatch(ownerMatch, "owner")
	registerMatch(cgroupMatch, "cgroup")
	registerMatch(cpuMatch, "cpu")
	registerMatch(commentMatch, "comment")
	registerMatch(limitMatch, "limit")
	registerMatch(hashlimitMatch, "hashlimit")
	registerMatch(quotaMatch, "quota")
	registerMatch(statisticMatch, "statistic")
	registerMatch(timeMatch, "time")
	registerMatch(policyMatch, "policy")
	registerMatch(rpfilterMatch, "rpfilter")
	registerMatch(socketMatch, "socket")
	registerMatch(clusterMatch, "cluster")
}

func markMatch(x *xl, o opts, _ *rules.MatchUse) bool {
	m, ok := o.get("mark")
	if !ok {
		return false
	}
	x.rule.add("mark")
	valueMask(x, m.args[0], m.inv)
	return true
}

func ownerMatch(x *xl, o opts, _ *rules.MatchUse) bool {
	if len(o) != 1 {
		return false // only a lone --uid-owner or --gid-owner
	}
	var sel string
	switch o[0].name {
	case "uid-owner":
		sel = "skuid"
	case "gid-owner":
		sel = "skgid"
	default:
		return false
	}
	op := opNeq(o[0].inv)
	x.rule.add("%s%s ", sel, op)
	lo, hi := span(o[0].args[0])
	x.rule.add("%s", rangeText(lo, hi))
	return true
}

func cgroupMatch(x *xl, o opts, _ *rules.MatchUse) bool {
	if o.has("path") {
		return false
	}
	if c, ok := o.get("cgroup"); ok {
		x.rule.add("meta cgroup %s%s", neq(c.inv), c.args[0])
	}
	return true
}

func cpuMatch(x *xl, o opts, _ *rules.MatchUse) bool {
	c, ok := o.get("cpu")
	if !ok {
		return false
	}
	op := opNeq(c.inv)
	x.rule.add("cpu%s %s", op, c.args[0])
	return true
}

func commentMatch(x *xl, o opts, _ *rules.MatchUse) bool {
	c := o.arg("comment")
	if x.exact {
		// An nft string cannot hold a double quote; a comment means
		// nothing to the packets, so it gets single ones.
		c = strings.ReplaceAll(c, "\"", "'")
	}
	x.comment = "\"" + c + "\""
	return true
}

// rateUnits maps the units iptables-save prints to those of nft.
var rateUnits = map[string]string{"sec": "second", "s": "second", "min": "minute", "m": "minute", "hour": "hour", "h": "hour", "day": "day", "d": "day"}

func limitMatch(x *xl, o opts, _ *rules.MatchUse) bool {
	n, unit, ok := strings.Cut(o.arg("limit"), "/")
	if !ok {
		return false
	}
	x.rule.add("limit rate")
	x.rule.add(" %s/%s", n, rateUnits[unit])
	burst := "5"
	if b := o.arg("limit-burst"); b != "" {
		burst = b
	}
	if burst != "0" {
		x.rule.add(" burst %s packets", burst)
	}
	return true
}

// byteUnits are libxt_hashlimit's byte suffixes as nft writes them.
var byteUnits = map[string]string{"m": "mbytes", "k": "kbytes", "": "bytes"}

// hashlimitModes in the order of their bits (dstip, dstport, srcip,
// srcport), as hashlimit_mode_xlate walks them.
var hashlimitModes = []string{"dstip", "dstport", "srcip", "srcport"}

func hashlimitMatch(x *xl, o opts, m *rules.MatchUse) bool {
	x.rule.add("meter %s {", o.arg("hashlimit-name"))
	modes := map[string]bool{}
	for _, s := range strings.Split(o.arg("hashlimit-mode"), ",") {
		modes[s] = true
	}
	first := true
	bits := 32
	if x.ip() == "ip6" {
		bits = 128
	}
	for _, md := range hashlimitModes {
		if !modes[md] {
			continue
		}
		if first {
			x.rule.add(" ")
			first = false
		} else {
			x.rule.add(" . ")
		}
		switch md {
		case "dstip":
			x.rule.add("%s daddr", x.ip())
			subnet(x, o.arg("hashlimit-dstmask"), bits)
		case "srcip":
			x.rule.add("%s saddr", x.ip())
			subnet(x, o.arg("hashlimit-srcmask"), bits)
		case "dstport", "srcport":
			dir := md[:1]  // d or s
			proto := "tcp" // 1.8.11 whatever the rule's protocol
			if x.exact {
				switch x.r.Proto {
				case 6, 17, 33, 132, 136:
					if x.r.InvProto {
						return x.refuse("--hashlimit-mode %s with ! -p has no nft form", md)
					}
					proto = protoName(x.r.Proto)
				default:
					return x.refuse("--hashlimit-mode %s needs -p tcp, udp, udplite, sctp or dccp for an nft form", md)
				}
			}
			x.rule.add("%s %sport", proto, dir)
		}
	}
	if e, ok := m.M.(interface{ HtableExpire() uint32 }); ok && e.HtableExpire() != 1000 {
		x.rule.add(" timeout %ds", e.HtableExpire()/1000)
	}
	x.rule.add(" limit rate")
	rate := o.arg("hashlimit-upto")
	if rate == "" {
		rate = o.arg("hashlimit-above")
		x.rule.add(" over")
	}
	if strings.HasSuffix(rate, "b/s") {
		num := strings.TrimRight(rate[:len(rate)-3], "km")
		x.rule.add(" %s %s/second", num, byteUnits[rate[len(num):len(rate)-3]])
		if b := o.arg("hashlimit-burst"); b != "" && b != "0" {
			bn := strings.TrimRight(b[:len(b)-1], "km")
			x.rule.add(" burst %s %s", bn, byteUnits[b[len(bn):len(b)-1]])
		}
	} else {
		n, unit, _ := strings.Cut(rate, "/")
		x.rule.add(" %s/%s ", n, rateUnits[unit])
		if b := o.arg("hashlimit-burst"); b != "" && b != "5" {
			x.rule.add("burst %s packets", b)
		}
	}
	x.rule.add("}")
	return true
}

// subnet is hashlimit_print_subnet_xlate: " and MASK" for a prefix
// shorter than the address, IPv6 groups with four hex digits each.
func subnet(x *xl, plen string, bits int) {
	if plen == "" {
		return
	}
	n, _ := strconv.Atoi(plen)
	if n == bits {
		return
	}
	x.rule.add(" and ")
	blocks, width, sep, format := 4, 8, ".", "%d"
	if bits == 128 {
		blocks, width, sep, format = 8, 16, ":", "%04x"
	}
	for b := 0; b < blocks; b++ {
		acc := 0
		for i := 0; i < width; i++ {
			acc <<= 1
			if n > 0 {
				acc++
				n--
			}
		}
		x.rule.addNoSpace(format, acc)
		if b < blocks-1 {
			x.rule.add("%s", sep)
		}
	}
}

func quotaMatch(x *xl, o opts, _ *rules.MatchUse) bool {
	q, ok := o.get("quota")
	if !ok {
		return false
	}
	over := ""
	if q.inv {
		over = "over "
	}
	x.rule.add("quota %s%s bytes", over, q.args[0])
	return true
}

func statisticMatch(x *xl, o opts, _ *rules.MatchUse) bool {
	inv := false
	for _, e := range o {
		inv = inv || e.inv
	}
	switch o.arg("mode") {
	case "random":
		p, _ := strconv.ParseFloat(o.arg("probability"), 64)
		op := "<"
		if inv {
			op = ">="
		}
		x.rule.add("meta random & %d %s %d", math.MaxInt32, op, uint32(math.Round(p*0x80000000)))
	case "nth":
		packet := o.arg("packet")
		if packet == "" {
			packet = "0"
		}
		x.rule.add("numgen inc mod %s %s%s", o.arg("every"), neq(inv), packet)
	default:
		return false
	}
	return true
}

const dateStopMax = "2038-01-19T03:14:07"

func timeMatch(x *xl, o opts, _ *rules.MatchUse) bool {
	if x.exact && (o.has("kerneltz") || o.has("contiguous")) {
		return x.refuse("-m time with --kerneltz or --contiguous has no nft form")
	}
	start, stop := o.arg("datestart"), o.arg("datestop")
	if start == "" {
		start = "1970-01-01T00:00:00"
	}
	if stop == "" {
		stop = dateStopMax
	}
	if start != "1970-01-01T00:00:00" || stop != dateStopMax {
		x.rule.add("meta time ")
		x.rule.add("\"%s\"", dateText(start))
		x.rule.add("-\"%s\"", dateText(stop))
	}
	if ts := o.arg("timestart"); ts != "" {
		x.rule.add(" meta hour \"%s\"", ts)
		x.rule.add("-\"%s\"", o.arg("timestop"))
	}
	if o.has("monthdays") {
		return false // nft's time has no day of the month
	}
	if w := o.arg("weekdays"); w != "" {
		days := map[string]int{"Mon": 1, "Tue": 2, "Wed": 3, "Thu": 4, "Fri": 5, "Sat": 6, "Sun": 7}
		var mask int
		for _, d := range strings.Split(w, ",") {
			mask |= 1 << days[d]
		}
		x.rule.add(" meta day ")
		many := strings.Contains(w, ",")
		if many {
			x.rule.add("{")
		}
		sep := ""
		for i := 1; i <= 7; i++ {
			if mask&(1<<i) != 0 {
				x.rule.add("%s%d", sep, i%7)
				sep = ", "
			}
		}
		if many {
			x.rule.add("}")
		}
	}
	return true
}

// dateText turns iptables-save's date into nft's ("T" becomes a blank).
func dateText(s string) string {
	if t, err := time.Parse("2006-01-02T15:04:05", s); err == nil {
		return t.Format("2006-01-02 15:04:05")
	}
	return strings.Replace(s, "T", " ", 1)
}

func policyMatch(x *xl, o opts, _ *rules.MatchUse) bool {
	for _, e := range o {
		switch {
		case e.name == "dir" && len(e.args) > 0 && e.args[0] == "in":
		case e.name == "pol", e.name == "strict":
		default:
			return false
		}
	}
	x.rule.add("meta secpath ")
	if o.arg("pol") == "none" {
		x.rule.add("missing")
	} else {
		x.rule.add("exists")
	}
	return true
}

func rpfilterMatch(x *xl, o opts, _ *rules.MatchUse) bool {
	inv := o.has("invert")
	if o.has("accept-local") {
		if !inv {
			return false
		}
		x.rule.add("fib saddr type != local ")
	}
	x.rule.add("fib saddr ")
	if o.has("validmark") {
		x.rule.add(". mark ")
	}
	if !o.has("loose") {
		x.rule.add(". iif ")
	}
	x.rule.add("oif %s0", neq(!inv))
	return true
}

func socketMatch(x *xl, o opts, _ *rules.MatchUse) bool {
	if len(o) == 1 && o.has("nowildcard") {
		x.rule.add("socket wildcard le 1")
		return true
	}
	if !o.has("nowildcard") {
		x.rule.add("socket wildcard 0")
	}
	if o.has("transparent") {
		x.rule.add("socket transparent 1")
	}
	if o.has("restore-skmark") {
		x.rule.add("meta mark set socket mark")
	}
	return true
}

func clusterMatch(x *xl, o opts, _ *rules.MatchUse) bool {
	if x.exact {
		// xt_cluster scales its hash into the node range (it does not
		// take a remainder), and 1.8.11's node numbers are off by one:
		// "mod 1 ... eq 1" and "mod 32 ... eq 32" never match.
		return x.refuse("-m cluster has no exact nft form (xt_cluster's hash is not nft's jhash mod N)")
	}
	mask, _ := strconv.ParseUint(o.arg("cluster-local-nodemask"), 0, 32)
	total := o.arg("cluster-total-nodes")
	seed, _ := strconv.ParseUint(o.arg("cluster-hash-seed"), 0, 32)
	const jhash, pkttype = "jhash ct original saddr mod", "meta pkttype set host"
	if mask&(mask-1) == 0 {
		node := mask
		if mask > 2 {
			node = 0
			for t := mask; ; {
				t >>= 1
				node++
				if t == 0 {
					break
				}
			}
		}
		x.rule.add("%s %s seed 0x%08x eq %d %s", jhash, total, seed, node, pkttype)
		return true
	}
	x.rule.add("%s %s seed 0x%08x ", jhash, total, seed)
	first := true
	for n := 0; n < 32; n++ {
		if mask&(1<<n) == 0 {
			continue
		}
		if first {
			x.rule.add("{ ")
		} else {
			x.rule.add(", ")
		}
		first = false
		x.rule.add("%d", n)
	}
	if !first {
		x.rule.add(" }")
	}
	x.rule.add(" %s", pkttype)
	return true
}
