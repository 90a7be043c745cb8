package translate

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/rules"
)

// The targets (libxt_NAT.c, libxt_MARK.c, libxt_LOG.c, ...): each writes
// its nft statement after "counter".

func init() {
	registerTarget(natTarget("snat", "to-source", false), "SNAT")
	registerTarget(natTarget("dnat", "to-destination", false), "DNAT")
	registerTarget(natTarget("masquerade", "to-ports", true), "MASQUERADE")
	registerTarget(natTarget("redirect", "to-ports", true), "REDIRECT")
	registerTarget(markTarget, "MARK")
	registerTarget(connmarkTarget, "CONNMARK")
	registerTarget(logTarget, "LOG")
	registerTarget(nflogTarget, "NFLOG")
	registerTarget(nfqueueTarget, "NFQUEUE")
	registerTarget(rejectTarget, "REJECT")
	registerTarget(dscpTarget, "DSCP")
	registerTarget(tosTarget, "TOS")
	registerTarget(tcpmssTarget, "TCPMSS")
	registerTarget(teeTarget, "TEE")
	registerTarget(tproxyTarget, "TPROXY")
	registerTarget(classifyTarget, "CLASSIFY")
	registerTarget(auditTarget, "AUDIT")
	registerTarget(ttlTarget("ip ttl", "ttl"), "TTL")
	registerTarget(ttlTarget("ip6 hoplimit", "hl"), "HL")
	registerTarget(synproxyTarget, "SYNPROXY")
	registerTarget(func(x *xl, _ opts, _ *rules.Rule) bool { x.rule.add("nftrace set 1"); return true }, "TRACE")
	registerTarget(func(x *xl, _ opts, _ *rules.Rule) bool { x.rule.add("notrack"); return true }, "NOTRACK")
	registerTarget(func(x *xl, o opts, _ *rules.Rule) bool {
		if len(o) != 1 || !o.has("notrack") {
			return false
		}
		x.rule.add("notrack")
		return true
	}, "CT")
}

// natTarget is __NAT_xlate; ports is set for the targets whose option
// holds only ports (the range is written ":PORTS").
func natTarget(stmt, option string, ports bool) targetFunc {
	return func(x *xl, o opts, _ *rules.Rule) bool {
		rng := o.arg(option)
		if strings.Contains(rng, "/") || len(o) > 0 && countOpt(o, option) > 1 {
			return false // shifted port maps and several ranges: nft has neither
		}
		x.rule.add("%s", stmt)
		if rng != "" {
			if ports {
				rng = ":" + rng
			}
			x.rule.add(" to %s", rng)
		}
		sep := " "
		for _, f := range []struct{ opt, nft string }{{"random", "random"}, {"random-fully", "fully-random"}, {"persistent", "persistent"}} {
			if o.has(f.opt) {
				x.rule.add("%s%s", sep, f.nft)
				sep = ","
			}
		}
		return true
	}
}

func countOpt(o opts, name string) int {
	n := 0
	for _, e := range o {
		if e.name == name {
			n++
		}
	}
	return n
}

// xmark reads "VALUE/MASK" (MASK all ones when absent).
func xmark(s string) (val, mask uint32) {
	v, m, ok := strings.Cut(s, "/")
	a, _ := strconv.ParseUint(v, 0, 32)
	b := uint64(0xffffffff)
	if ok {
		b, _ = strconv.ParseUint(m, 0, 32)
	}
	return uint32(a), uint32(b)
}

func markTarget(x *xl, o opts, _ *rules.Rule) bool {
	s := o.arg("set-xmark")
	if s == "" {
		return false
	}
	mark, mask := xmark(s)
	x.rule.add("meta mark set ")
	switch {
	case mask == 0xffffffff:
		x.rule.add("0x%x ", mark)
	case mark == 0:
		x.rule.add("mark and 0x%x ", ^mask)
	case mark == mask:
		x.rule.add("mark or 0x%x ", mark)
	case mask == 0:
		x.rule.add("mark xor 0x%x ", mark)
	default:
		x.rule.add("mark and 0x%x xor 0x%x ", ^mask, mark)
	}
	return true
}

func connmarkTarget(x *xl, o opts, _ *rules.Rule) bool {
	braces := ""
	shift, dir := o.arg("right-shift-mark"), ">>"
	if shift == "" {
		shift, dir = o.arg("left-shift-mark"), "<<"
	}
	if shift == "0" {
		shift = ""
	}
	if shift != "" {
		braces = "( "
	}
	nfmask, _ := strconv.ParseUint(orDefault(o.arg("nfmask"), "0xffffffff"), 0, 32)
	ctmask, _ := strconv.ParseUint(orDefault(o.arg("ctmask"), "0xffffffff"), 0, 32)
	switch {
	case o.has("set-xmark"):
		mark, mask := xmark(o.arg("set-xmark"))
		x.rule.add("ct mark set %s", braces)
		switch {
		case mask == 0xffffffff:
			x.rule.add("0x%x ", mark)
		case mark == 0:
			x.rule.add("ct mark and 0x%x", ^mask)
		case mark == mask:
			x.rule.add("ct mark or 0x%x", mark)
		case mask == 0:
			x.rule.add("ct mark xor 0x%x", mark)
		case x.exact:
			// xt_CONNMARK clears the mask's bits, then flips the
			// value's: 1.8.11 writes the two steps the other way round.
			x.rule.add("ct mark and 0x%x xor 0x%x", ^mask, mark)
		default:
			x.rule.add("ct mark xor 0x%x and 0x%x", mark, ^mask)
		}
	case o.has("save-mark"):
		x.rule.add("ct mark set %smark", braces)
		if nfmask != 0xffffffff || ctmask != 0xffffffff {
			if nfmask != ctmask {
				return false
			}
			x.rule.add(" and 0x%x", nfmask)
		}
	case o.has("restore-mark"):
		x.rule.add("meta mark set %sct mark", braces)
		if nfmask != 0xffffffff || ctmask != 0xffffffff {
			if nfmask != ctmask {
				return false
			}
			x.rule.add(" and 0x%x", nfmask)
		}
	default:
		return false
	}
	if shift != "" {
		x.rule.add(" ) %s %s", dir, shift)
	}
	return true
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

var syslogLevels = []string{"emerg", "alert", "crit", "err", "warn", "notice", "info", "debug"}

func logTarget(x *xl, o opts, _ *rules.Rule) bool {
	x.rule.add("log")
	if p := o.arg("log-prefix"); strings.Contains(p, "\"") && x.exact {
		return x.refuse("a log prefix with a double quote has no nft form (an nft string cannot hold one)")
	} else if p != "" {
		x.rule.add(" prefix \"%s\"", p)
	}
	level := 4
	if l := o.arg("log-level"); l != "" {
		level, _ = strconv.Atoi(l)
	}
	if level < 0 || level >= len(syslogLevels) {
		return false
	}
	if level != 4 {
		x.rule.add(" level %s", syslogLevels[level])
	}
	seq, tcpopt, ipopt, uid, mac := o.has("log-tcp-sequence"), o.has("log-tcp-options"), o.has("log-ip-options"), o.has("log-uid"), o.has("log-macdecode")
	if seq && tcpopt && ipopt && uid && mac {
		x.rule.add(" flags all")
		return true
	}
	if seq || tcpopt {
		delim := " "
		x.rule.add(" flags tcp")
		if seq {
			x.rule.add(" sequence")
			delim = ","
		}
		if tcpopt {
			x.rule.add("%soptions", delim)
		}
	}
	if ipopt {
		x.rule.add(" flags ip options")
	}
	if uid {
		x.rule.add(" flags skuid")
	}
	if mac {
		x.rule.add(" flags ether")
	}
	return true
}

func nflogTarget(x *xl, o opts, _ *rules.Rule) bool {
	x.rule.add("log ")
	if p := o.arg("nflog-prefix"); strings.Contains(p, "\"") && x.exact {
		return x.refuse("a log prefix with a double quote has no nft form (an nft string cannot hold one)")
	} else if p != "" {
		x.rule.add("prefix \"%s\" ", p)
	}
	if s := o.arg("nflog-size"); s != "" {
		x.rule.add("snaplen %s ", s)
	}
	if t := o.arg("nflog-threshold"); t != "" && t != "1" {
		x.rule.add("queue-threshold %s ", t)
	}
	x.rule.add("group %s ", orDefault(o.arg("nflog-group"), "0"))
	return true
}

func nfqueueTarget(x *xl, o opts, _ *rules.Rule) bool {
	if b := o.arg("queue-balance"); b != "" {
		lo, hi := span(b)
		if hi > lo {
			x.rule.add("queue num %d-%d ", lo, hi)
		} else {
			x.rule.add("queue num %d ", lo)
		}
	} else {
		x.rule.add("queue num %s ", orDefault(o.arg("queue-num"), "0"))
	}
	bypass := o.has("queue-bypass")
	if bypass {
		x.rule.add("bypass")
	}
	if o.has("queue-cpu-fanout") {
		sep := ""
		if bypass {
			sep = ","
		}
		x.rule.add("%sfanout ", sep)
	}
	return true
}

var rejectNames = map[string]string{
	"icmp-net-unreachable": "net-unreachable", "icmp-host-unreachable": "host-unreachable",
	"icmp-proto-unreachable": "prot-unreachable", "icmp-net-prohibited": "net-prohibited",
	"icmp-host-prohibited": "host-prohibited", "icmp-admin-prohibited": "admin-prohibited",
	"icmp6-no-route": "no-route", "icmp6-adm-prohibited": "admin-prohibited",
	"icmp6-addr-unreachable": "addr-unreachable", "icmp6-policy-fail": "policy-fail",
	"icmp6-reject-route": "reject-route",
}

func rejectTarget(x *xl, o opts, _ *rules.Rule) bool {
	with := o.arg("reject-with")
	switch with {
	case "", "icmp-port-unreachable", "icmp6-port-unreachable":
		x.rule.add("reject")
	case "tcp-reset":
		x.rule.add("reject with tcp reset")
	default:
		n, ok := rejectNames[with]
		if !ok {
			return false
		}
		kind := "icmp"
		if x.fam == ext.IPv6 {
			kind = "icmpv6"
		}
		x.rule.add("reject with %s type %s", kind, n)
	}
	return true
}

func dscpTarget(x *xl, o opts, _ *rules.Rule) bool {
	v, err := strconv.ParseUint(o.arg("set-dscp"), 0, 8)
	if err != nil {
		return false
	}
	x.rule.add("%s dscp set 0x%02x", x.ip(), v)
	return true
}

func tosTarget(x *xl, o opts, _ *rules.Rule) bool {
	v, m, _ := strings.Cut(o.arg("set-tos"), "/")
	t64, _ := strconv.ParseUint(v, 0, 8)
	m64, err := strconv.ParseUint(orDefault(m, "0xff"), 0, 8)
	if err != nil {
		return false
	}
	tos, mask := uint8(t64), uint8(m64)
	// 1.8.11 uses its IPv6 translation (revision 1 of TOS) for both
	// families, and takes the low six bits of the mask for the DSCP's.
	ip := "ip6"
	if x.exact {
		// The kernel writes (tos & ^mask) ^ value. nft sets the DSCP
		// and ECN fields as wholes (it cannot compute a field from
		// itself: "ip dscp set ip dscp xor 4" is refused), so only masks
		// that cover each field whole or not at all have an exact form.
		dm, em := mask>>2, mask&3
		if dm != 0 && dm != 0x3f || em != 0 && em != 3 || dm == 0 && tos>>2 != 0 || em == 0 && tos&3 != 0 {
			return x.refuse("TOS 0x%02x/0x%02x changes part of a field; nft can only set the DSCP and ECN fields whole", tos, mask)
		}
		if dm == 0x3f {
			x.rule.add("%s dscp set 0x%02x", x.ip(), tos>>2)
		}
		if em == 3 {
			x.rule.add("%s ecn set %s", x.ip(), []string{"not-ect", "ect1", "ect0", "ce"}[tos&3])
		}
		return true
	}
	x.rule.add("%s dscp set ", ip)
	switch {
	case mask&0x3f == 0x3f:
		x.rule.add("0x%02x", tos>>2)
	case tos == 0:
		x.rule.add("%s dscp and 0x%02x", ip, ^mask>>2)
	case tos == mask:
		x.rule.add("%s dscp or 0x%02x", ip, tos>>2)
	case mask == 0:
		x.rule.add("%s dscp xor 0x%02x", ip, tos>>2)
	default:
		x.rule.add("%s dscp and 0x%02x xor 0x%02x", ip, ^mask>>2, tos>>2)
	}
	return true
}

func tcpmssTarget(x *xl, o opts, _ *rules.Rule) bool {
	if o.has("clamp-mss-to-pmtu") {
		x.rule.add("tcp option maxseg size set rt mtu")
		return true
	}
	x.rule.add("tcp option maxseg size set %s", o.arg("set-mss"))
	return true
}

func teeTarget(x *xl, o opts, _ *rules.Rule) bool {
	x.rule.add("dup to %s", o.arg("gateway"))
	if oif := o.arg("oif"); oif != "" {
		x.rule.add(" device %s", oif)
	}
	return true
}

func tproxyTarget(x *xl, o opts, _ *rules.Rule) bool {
	x.rule.add("tproxy to")
	a, _ := netip.ParseAddr(orDefault(o.arg("on-ip"), "0.0.0.0"))
	port := orDefault(o.arg("on-port"), "0")
	switch {
	case a.IsValid() && !a.IsUnspecified() && x.fam == ext.IPv6:
		x.rule.add("[%s]", a)
	case a.IsValid() && !a.IsUnspecified():
		x.rule.add("%s", a)
	default:
		x.rule.add(" :%s", port)
		port = "0"
	}
	if port != "0" {
		x.rule.add(":%s", port)
	}
	mark, mask := xmark(orDefault(o.arg("tproxy-mark"), "0x0/0x0"))
	if mask == 0xffffffff {
		x.rule.add("meta mark set 0x%x", mark)
	} else if mask != 0 || mark != 0 {
		x.rule.add("meta mark set meta mark & 0x%x xor 0x%x", ^mask, mark)
	}
	x.rule.add("accept")
	return true
}

func classifyTarget(x *xl, o opts, _ *rules.Rule) bool {
	maj, min, ok := strings.Cut(o.arg("set-class"), ":")
	if !ok {
		return false
	}
	a, _ := strconv.ParseUint(maj, 16, 16)
	b, _ := strconv.ParseUint(min, 16, 16)
	x.rule.add("meta priority set ")
	switch h := a<<16 | b; h {
	case 0xffffffff:
		x.rule.add("root")
	case 0:
		x.rule.add("none")
	default:
		x.rule.add("%x:%x", a, b)
	}
	return true
}

func auditTarget(x *xl, _ opts, _ *rules.Rule) bool {
	if x.exact {
		return x.refuse("-j AUDIT has no nft form (\"log level audit\" writes another record)")
	}
	x.rule.add("log level audit")
	return true
}

func synproxyTarget(x *xl, o opts, _ *rules.Rule) bool {
	x.rule.add("synproxy ")
	if o.has("sack-perm") {
		x.rule.add("sack-perm ")
	}
	if o.has("timestamp") {
		x.rule.add("timestamp ")
	}
	if w := o.arg("wscale"); w != "" {
		x.rule.add("wscale %s ", w)
	}
	if m := o.arg("mss"); m != "" {
		x.rule.add("mss %s ", m)
	}
	if o.has("ecn") {
		x.rule.add("ecn ")
	}
	return true
}

// ttlTarget is TTL and HL, which 1.8.11 does not translate: exact mode
// writes --ttl-set as nft's statement; nft cannot count a field up or
// down (--ttl-inc, --ttl-dec).
func ttlTarget(field, prefix string) targetFunc {
	return func(x *xl, o opts, _ *rules.Rule) bool {
		if !x.exact {
			return false
		}
		v := o.arg(prefix + "-set")
		if v == "" {
			return x.refuse("--%s-inc and --%s-dec have no nft form", prefix, prefix)
		}
		x.rule.add("%s set %s", field, v)
		return true
	}
}
