package kerneldiff

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"regexp"
	"strings"
)

// IPv6 rulesets: ip6tables-restore files over the same tables, with the
// matches and targets of ip6tables (issue 10): addresses and prefixes
// of 2001:db8::/32 with negation, -p with extension-header numbers and
// No Next Header, ports, icmp6 types, hl, the extension-header matches
// (frag, hbh, dst, rt, ah, mh, ipv6header), conntrack states, LOG,
// every REJECT of ip6t_REJECT, MARK, HL, NAT66 (SNAT, DNAT, MASQUERADE,
// REDIRECT, NETMAP) and the prefix translation of SNPT and DNPT. The
// family-neutral matches come from ruleGen.match, minus what is IPv4's
// alone.

// addrOperands6 are -s and -d operands: the host's subnets and
// addresses, the outside (2001:db8:113::/64, beyond the default route),
// the DNPT side (2001:db8:300::/64), prefixes of every length class,
// link-local and multicast, an address list and a non-contiguous mask.
var addrOperands6 = []string{
	"2001:db8:100::/64", "2001:db8:100::1", "2001:db8:100::9", "2001:db8:100::/120",
	"2001:db8:2::/64", "2001:db8:2::10", "2001:db8:2::/124", "2001:db8:2::10,2001:db8:2::20",
	"2001:db8:113::/64", "2001:db8:113::7", "2001:db8:113::/48", "2001:db8::/32",
	"2001:db8:300::/64", "fe80::/10", "ff02::/16", "2001:db8:2::/ffff:ffff:ffff:ffff::ff",
}

// icmp6Types are --icmpv6-type operands, as numbers, type/code and the
// names ip6tables knows.
var icmp6Types = []string{
	"1", "1/4", "1/0", "2", "3", "3/1", "4", "4/0", "128", "129", "133", "134", "135", "136", "137",
	"echo-request", "echo-reply", "destination-unreachable", "port-unreachable", "packet-too-big",
	"neighbour-solicitation", "neighbour-advertisement", "router-solicitation", "parameter-problem",
	"time-exceeded", "no-route", "unknown-header-type",
}

// ipv4Only marks what ruleGen.match makes that ip6tables does not take
// or that means nothing for IPv6: IPv4 addresses, icmp, ttl, addrtype
// (its IPv6 support has other limits) and -f.
var ipv4Only = regexp.MustCompile(`\d+\.\d+\.\d+\.\d+|icmp|-m ttl|addrtype|\s-f\b|--connlimit-mask`)

// match6 returns a random IPv6 match (with any -p it needs as proto),
// registering what packets should aim at.
func (g *ruleGen) match6(table, hook string) (proto, text string) {
	r, a := g.r, g.a
	switch r.IntN(24) {
	case 0, 1:
		t := pick(r, icmp6Types)
		a.icmp = append(a.icmp, icmp6Aim(t))
		return "icmpv6", "-m icmp6 " + neg(r, 4) + "--icmpv6-type " + t
	case 2:
		n := pick(r, []uint8{1, 2, 63, 64, 65, 254, 255})
		a.ttls = append(a.ttls, n-1, n, n+1)
		if r.IntN(4) == 0 {
			return "", fmt.Sprintf("-m hl ! --hl-eq %d", n)
		}
		return "", fmt.Sprintf("-m hl --hl-%s %d", pick(r, []string{"eq", "lt", "gt"}), n)
	case 3:
		lo := uint32(r.IntN(3000))
		spec := fmt.Sprint(lo)
		if r.IntN(2) == 0 {
			spec = fmt.Sprintf("%d:%d", lo, lo+uint32(r.IntN(2000)))
		}
		a.fragIDs = append(a.fragIDs, lo, lo+1)
		extra := pick(r, []string{"", " --fragfirst", " --fragmore", " --fraglast", " --fragres", " --fraglen 8"})
		return "", fmt.Sprintf("-m frag %s--fragid %s%s", neg(r, 4), spec, extra)
	case 4:
		return "", "-m frag " + pick(r, []string{"--fragfirst", "--fragmore", "--fraglast", "! --fragid 0"})
	case 5:
		which := pick(r, []string{"hbh", "dst"})
		n := r.IntN(3)
		a.extLens = append(a.extLens, uint8(n))
		if r.IntN(3) == 0 {
			return "", fmt.Sprintf("-m %s --%s-opts 1:%d", which, which, 2+8*n)
		}
		return "", fmt.Sprintf("-m %s %s--%s-len %d", which, neg(r, 4), which, n)
	case 6:
		return "", "-m " + pick(r, []string{"hbh", "dst"})
	case 7:
		sl := r.IntN(3)
		a.segLefts = append(a.segLefts, uint8(sl))
		return "", fmt.Sprintf("-m rt --rt-type %s %s--rt-segsleft %d", pick(r, []string{"0", "2", "4"}), neg(r, 4), sl)
	case 8:
		return "", fmt.Sprintf("-m ah %s--ahspi %d", neg(r, 4), pick(r, []int{0, 1, 256, 1000}))
	case 9:
		return "mh", fmt.Sprintf("-m mh %s--mh-type %s", neg(r, 4), pick(r, []string{"0", "1", "5", "binding-update", "1:3"}))
	case 10, 11:
		hs := []string{"hop", "dst", "route", "frag", "auth", "esp", "none", "prot"}
		r.Shuffle(len(hs), func(i, j int) { hs[i], hs[j] = hs[j], hs[i] })
		soft := pick(r, []string{"", " --soft"})
		return "", fmt.Sprintf("-m ipv6header %s--header %s%s", neg(r, 5), strings.Join(hs[:1+r.IntN(3)], ","), soft)
	case 12:
		lo := 40 + r.IntN(40)
		hi := lo + r.IntN(200)
		a.lengths = append(a.lengths, lo-1, lo, hi, hi+1)
		return "", fmt.Sprintf("-m length %s--length %d:%d", neg(r, 5), lo, hi)
	case 13:
		if table == "raw" {
			return "", "-m comment --comment \"raw rule\""
		}
		return "", "-m conntrack " + pick(r, []string{"--ctstate NEW", "--ctstate RELATED,ESTABLISHED", "! --ctstate INVALID", "--ctstate DNAT",
			"--ctstate SNAT", "--ctdir REPLY", "--ctproto ipv6-icmp", "--ctorigsrc 2001:db8:2::/64", "--ctstate NEW --ctorigdst 2001:db8:100::1",
			"--ctstate UNTRACKED", "--ctstate INVALID", "--ctstatus ASSURED"})
	case 14:
		lo := pick(r, []string{"2001:db8:2::10", "2001:db8:100::5", "2001:db8:113::7"})
		l := netip.MustParseAddr(lo)
		h := l
		for i := r.IntN(12); i > 0; i-- {
			h = h.Next()
		}
		a.addrAround(l)
		a.addrAround(h)
		return "", fmt.Sprintf("-m iprange %s--%s-range %s-%s", neg(r, 4), pick(r, []string{"src", "dst"}), l, h)
	case 15:
		d := pick(r, []uint8{10, 34, 46})
		a.tos = append(a.tos, d<<2, d<<2|1)
		return "", fmt.Sprintf("-m dscp %s--dscp %d", neg(r, 4), d)
	}
	// The family-neutral matches: tcp, udp, multiport, mark, connmark,
	// state, limit, statistic, recent, hashlimit, connlimit, pkttype,
	// comment.
	for range 20 {
		p, m := g.match(table, hook)
		if !ipv4Only.MatchString(m) && p != "icmp" {
			return p, m
		}
	}
	return "", "-m comment --comment \"generated rule\""
}

// icmp6Aim turns an --icmpv6-type operand into the type and code packets
// should carry.
func icmp6Aim(t string) [2]uint8 {
	names := map[string][2]uint8{
		"echo-request": {128, 0}, "echo-reply": {129, 0}, "destination-unreachable": {1, 0},
		"port-unreachable": {1, 4}, "packet-too-big": {2, 0}, "neighbour-solicitation": {135, 0},
		"neighbour-advertisement": {136, 0}, "router-solicitation": {133, 0}, "parameter-problem": {4, 0},
		"time-exceeded": {3, 0}, "no-route": {1, 0}, "unknown-header-type": {4, 1},
	}
	if v, ok := names[t]; ok {
		return v
	}
	var ty, co int
	if _, err := fmt.Sscanf(t, "%d/%d", &ty, &co); err != nil {
		fmt.Sscanf(t, "%d", &ty)
	}
	return [2]uint8{uint8(ty), uint8(co)}
}

// Where NAT66 and the prefix translations point: the inside hosts, the
// host's own addresses, and the outside prefix 2001:db8:300::/64 that
// NETMAP maps onto wlan0's subnet (host bits kept: the harness gives
// those addresses neighbour entries) and SNPT/DNPT onto
// 2001:db8:113::/64, beyond the default route: their checksum-neutral
// rewrite (RFC 6296) changes a host word, and an address off the links
// needs no neighbour entry, which the harness could only add by
// computing the translation itself.
var (
	dnat6Targets = []string{"2001:db8:2::10", "2001:db8:2::20", "2001:db8:2::30", "2001:db8:100::9"}
	netmap6In    = "2001:db8:2::/64"
	npt6Inside   = "2001:db8:113::/64"
	npt6Outside  = "2001:db8:300::/64"
)

// target6 returns a target for table and hook of an IPv6 ruleset (with a
// -p when it needs one), or "" for a rule without one. later are the
// user chains this chain may jump to.
func (g *ruleGen) target6(table, hook string, later []string) (proto, text string) {
	r := g.r
	if len(later) > 0 && r.IntN(3) == 0 {
		return "", pick(r, []string{"-j ", "-j ", "-g "}) + pick(r, later)
	}
	switch table {
	case "raw":
		return "", pick(r, []string{"-j NOTRACK", "-j CT --notrack", "-j ACCEPT", "-j DROP", "-j RETURN", "", ""})
	case "mangle":
		switch r.IntN(10) {
		case 0, 1:
			return "", fmt.Sprintf("-j MARK --set-mark 0x%x", r.IntN(4))
		case 2:
			return "", pick(r, []string{"-j CONNMARK --save-mark", "-j CONNMARK --restore-mark", "-j CONNMARK --set-mark 0x2"})
		case 3:
			if hook == "PREROUTING" || hook == "FORWARD" || hook == "POSTROUTING" || hook == "OUTPUT" {
				return "", pick(r, []string{"-j HL --hl-set 32", "-j HL --hl-inc 1", "-j HL --hl-dec 1", "-j DSCP --set-dscp 10"})
			}
			return "", "-j ACCEPT"
		case 4, 5:
			// SNPT in INPUT and POSTROUTING, DNPT in PREROUTING and
			// OUTPUT: the inside prefix shown outside as another, and
			// back.
			switch hook {
			case "POSTROUTING", "INPUT":
				return "", fmt.Sprintf("-s %s -j SNPT --src-pfx %s --dst-pfx %s", npt6Inside, npt6Inside, npt6Outside)
			case "PREROUTING", "OUTPUT":
				return "", fmt.Sprintf("-d %s -j DNPT --src-pfx %s --dst-pfx %s", npt6Outside, npt6Outside, npt6Inside)
			}
			return "", "-j RETURN"
		case 6:
			return "", "-j RETURN"
		case 7:
			return "", "-j DROP"
		default:
			return "", pick(r, []string{"-j ACCEPT", ""})
		}
	case "nat":
		switch hook {
		case "PREROUTING":
			switch r.IntN(6) {
			case 0:
				return "tcp", fmt.Sprintf("-j DNAT --to-destination [%s]:%d", pick(r, dnat6Targets), pick(r, []int{22, 80, 8080}))
			case 1:
				return "", "-j DNAT --to-destination " + pick(r, dnat6Targets)
			case 2:
				return "tcp", "-j REDIRECT --to-ports " + pick(r, []string{"8080", "2222"})
			case 3:
				return "", "-d " + npt6Outside + " -j NETMAP --to " + netmap6In
			case 4:
				return "", "-j RETURN"
			}
			return "", pick(r, []string{"-j ACCEPT", ""})
		case "OUTPUT":
			if r.IntN(2) == 0 {
				return "", "-j DNAT --to-destination 2001:db8:2::40"
			}
			return "", pick(r, []string{"-j ACCEPT", "-j RETURN", ""})
		case "POSTROUTING":
			switch r.IntN(5) {
			case 0:
				return "", "-o eth0 -j MASQUERADE"
			case 1:
				return "", "-o eth0 -j SNAT --to-source 2001:db8:100::1"
			case 2:
				return "", "-o wlan0 -j SNAT --to-source 2001:db8:2::1"
			case 3:
				return "", "-o eth0 -s " + netmap6In + " -j NETMAP --to " + npt6Outside
			}
			return "", pick(r, []string{"-j ACCEPT", "-j RETURN", ""})
		case "INPUT":
			if r.IntN(3) == 0 {
				return "", "-j SNAT --to-source 2001:db8:2::77"
			}
			return "", pick(r, []string{"-j ACCEPT", "-j RETURN", ""})
		}
	}
	// filter
	switch r.IntN(12) {
	case 0, 1, 2:
		return "", "-j ACCEPT"
	case 3, 4:
		return "", "-j DROP"
	case 5:
		return "", "-j RETURN"
	case 6:
		return "", "-j REJECT"
	case 7:
		return "tcp", "-j REJECT --reject-with tcp-reset"
	case 8:
		return "", "-j REJECT --reject-with " + pick(r, []string{"icmp6-no-route", "icmp6-adm-prohibited", "icmp6-addr-unreachable",
			"icmp6-port-unreachable", "icmp6-policy-fail", "icmp6-reject-route", "no-route", "adm-prohibited"})
	case 9:
		return "", "-j LOG --log-prefix \"kd6: \"" + pick(r, []string{"", " --log-ip-options", " --log-tcp-sequence --log-uid"})
	case 10:
		return "", fmt.Sprintf("-j MARK --set-mark 0x%x", r.IntN(4))
	}
	return "", ""
}

// protos6 are -p operands without a match that needs them: upper
// layers, No Next Header, AH and ESP, extension-header numbers (which
// the legacy and nft backends treat differently), and "all" as a number.
var protos6 = []string{"tcp", "udp", "ipv6-icmp", "! tcp", "59", "ah", "esp", "47", "0", "44", "60", "! udp"}

// genRuleset6 builds a random ip6tables-restore file over the tables and
// returns it with what its packets should aim at.
func genRuleset6(r *rand.Rand) (string, *aims) {
	return genTables(&ruleGen{r: r, a: &aims{}, six: true})
}
