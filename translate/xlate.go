// Package translate turns iptables rules into nftables syntax.
//
// It has two modes. Conformance mode (Command, Restore) prints exactly what
// iptables 1.8.11's iptables-translate and ip6tables-translate print,
// their known mistakes included, so that scripts built around those tools
// keep working. Exact mode (Ruleset) writes a whole nft script that means
// what the iptables ruleset means: where 1.8.11's translation is wrong, or
// nft has no exact form for a rule, it says so at the rule's position and
// prints the right form or nothing (see DIFFERENCES.md).
//
// A rule is translated from the rules package's model: the core fields
// (addresses, interfaces, protocol, fragments) directly, every extension
// from its canonical iptables-save options (ext's Save), which hold the
// same values as the kernel structure iptables' xlate functions read. One
// file per extension family registers the translators by extension name,
// as iptables' libxt_*.c files carry their own xlate functions.
package translate

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/rules"
)

// text is xt_xlate's buffer: pieces are appended with one space between
// them where the previous piece did not end in a blank and the new one
// starts with a letter, digit or bracket (a piece starting with ",", "-"
// or a blank is glued on), and trailing blanks are cut at the end.
type text struct{ b []byte }

func isBrace(c byte) bool {
	switch c {
	case '(', ')', '{', '}', '[', ']':
		return true
	}
	return false
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\n' }

// add appends a formatted piece with xt_xlate_add's spacing.
func (t *text) add(format string, a ...any) {
	s := fmt.Sprintf(format, a...)
	if len(t.b) > 0 && len(s) > 0 && !isBlank(t.b[len(t.b)-1]) && (isAlnum(s[0]) || isBrace(s[0])) {
		t.b = append(t.b, ' ')
	}
	t.b = append(t.b, s...)
}

// addNoSpace appends a piece as it is (xt_xlate_add_nospc).
func (t *text) addNoSpace(format string, a ...any) { t.b = append(t.b, fmt.Sprintf(format, a...)...) }

func (t *text) String() string { return strings.TrimRight(string(t.b), " \t\n") }

// xl is the state of one rule's translation.
type xl struct {
	rule, set text
	comment   string
	fam       ext.Family
	r         *rules.Rule
	// exact is set in exact mode: translators then refuse what nft cannot
	// say exactly (returning false with a reason in why) and correct
	// 1.8.11's mistakes.
	exact bool
	why   string
	// ids numbers the sets connlimit creates (a static counter in
	// iptables, shared by every rule of one run).
	ids *int
}

// refuse records why a rule has no exact translation and returns false.
func (x *xl) refuse(format string, a ...any) bool {
	if x.why == "" {
		x.why = fmt.Sprintf(format, a...)
	}
	return false
}

// ip is the nft name of the family's network header ("ip" or "ip6").
func (x *xl) ip() string {
	if x.fam == ext.IPv6 {
		return "ip6"
	}
	return "ip"
}

// opt is one option of an extension's canonical options.
type opt struct {
	name string
	args []string
	inv  bool
}

// opts are an extension instance's options in the order Save prints them.
type opts []opt

// optsOf reads what an extension's Save printed: "! --name ARG ARG ...".
func optsOf(p interface{ Save(*strings.Builder) }) opts {
	var b strings.Builder
	p.Save(&b)
	var out opts
	inv := false
	for _, w := range rules.SplitLine("", 0, b.String()) {
		switch {
		case w.Text == "!":
			inv = true
		case strings.HasPrefix(w.Text, "--") && len(w.Text) > 2:
			out = append(out, opt{name: w.Text[2:], inv: inv})
			inv = false
		case len(out) > 0:
			out[len(out)-1].args = append(out[len(out)-1].args, w.Text)
		}
	}
	return out
}

// get returns the named option.
func (o opts) get(name string) (opt, bool) {
	for _, x := range o {
		if x.name == name {
			return x, true
		}
	}
	return opt{}, false
}

// mustGet returns the named option, which the caller knows is there.
func (o opts) mustGet(name string) opt { x, _ := o.get(name); return x }

// has reports whether the named option is present.
func (o opts) has(name string) bool { _, ok := o.get(name); return ok }

// arg returns the first argument of the named option, "" when absent.
func (o opts) arg(name string) string {
	if x, ok := o.get(name); ok && len(x.args) > 0 {
		return x.args[0]
	}
	return ""
}

// matchFunc translates one match; false means it cannot be translated.
type matchFunc func(x *xl, o opts, m *rules.MatchUse) bool

// targetFunc translates one target.
type targetFunc func(x *xl, o opts, r *rules.Rule) bool

var (
	matchXlate  = map[string]matchFunc{}
	targetXlate = map[string]targetFunc{}
)

func registerMatch(fn matchFunc, names ...string) {
	for _, n := range names {
		matchXlate[n] = fn
	}
}

func registerTarget(fn targetFunc, names ...string) {
	for _, n := range names {
		targetXlate[n] = fn
	}
}

// chainProtos is iptables' xtables_chain_protos: the protocol names it
// knows without /etc/protocols, in its order.
var chainProtos = []struct {
	name string
	num  uint8
}{
	{"tcp", 6}, {"sctp", 132}, {"udp", 17}, {"udplite", 136}, {"icmp", 1},
	{"ipv6-icmp", 58}, {"icmpv6", 58}, {"esp", 50}, {"ah", 51},
	{"mobility-header", 135}, {"ipv6-mh", 135}, {"mh", 135}, {"dccp", 33},
	{"ipcomp", 108}, {"all", 0},
}

// protoName is proto_to_name(proto, 0): iptables' own name, else the
// system's (getprotobynumber), else "".
func protoName(p uint8) string {
	for _, c := range chainProtos {
		if c.num == p {
			return c.name
		}
	}
	if p != 0 {
		return ext.SystemProtoName(p)
	}
	return ""
}

// protoMatched is xlate_find_protomatch: a match named after the protocol
// makes "ip protocol tcp" redundant ("tcp dport" says it).
func protoMatched(r *rules.Rule, p uint8) bool {
	has := func(name string) bool {
		for _, m := range r.Matches {
			if m.Type.Name == name {
				return true
			}
		}
		return false
	}
	for _, c := range chainProtos {
		if c.num == p && has(c.name) {
			return true
		}
	}
	n := ext.SystemProtoName(p)
	return n != "" && has(n)
}

// ifname is xlate_ifname: an interface name as nft writes it, a trailing
// '+' becoming '*' and a literal trailing '*' escaped.
func (x *xl) ifname(meta, name string, inv bool) {
	if len(name) < 1 || len(name) >= 16 {
		return
	}
	if name == "+" {
		// Always true, or (inverted) never: no expression, or a name
		// the kernel can never give an interface.
		if !inv {
			return
		}
		x.rule.add("%s \"INVAL/D\" ", meta)
		return
	}
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		if name[i] == '*' && i == len(name)-1 {
			b.WriteByte('\\')
		}
		b.WriteByte(name[i])
	}
	s := b.String()
	if strings.HasSuffix(s, "+") {
		s = s[:len(s)-1] + "*"
	}
	op := ""
	if inv {
		op = "!= "
	}
	x.rule.add("%s %s\"%s\" ", meta, op, s)
}

// addr is xlate_ipv4_addr / xlate_ipv6_addr.
func (x *xl) addr(sel string, a, mask netip.Addr, inv bool) {
	if !a.IsValid() {
		if !inv {
			return
		}
		a, mask = netip.IPv4Unspecified(), netip.IPv4Unspecified()
		if x.fam == ext.IPv6 {
			a, mask = netip.IPv6Unspecified(), netip.IPv6Unspecified()
		}
	}
	if !mask.IsValid() {
		mask = allOnes(a.BitLen())
	}
	if !inv && a.IsUnspecified() && mask.IsUnspecified() {
		return
	}
	op := ""
	if inv {
		op = "!= "
	}
	switch cidr := maskCIDR(mask); cidr {
	case -1:
		eq := "=="
		if inv {
			eq = "!="
		}
		x.rule.add("%s & %s %s %s ", sel, mask, eq, a)
	case a.BitLen():
		x.rule.add("%s %s%s ", sel, op, a)
	default:
		x.rule.add("%s %s%s/%d ", sel, op, a, cidr)
	}
}

func allOnes(bits int) netip.Addr {
	if bits == 32 {
		return netip.AddrFrom4([4]byte{255, 255, 255, 255})
	}
	var b [16]byte
	for i := range b {
		b[i] = 0xff
	}
	return netip.AddrFrom16(b)
}

// maskCIDR is xtables_ipmask_to_cidr: the prefix length of a contiguous
// mask, -1 for any other.
func maskCIDR(m netip.Addr) int {
	b := m.AsSlice()
	n := 0
	for n < len(b)*8 && b[n/8]&(0x80>>(n%8)) != 0 {
		n++
	}
	for i := n; i < len(b)*8; i++ {
		if b[i/8]&(0x80>>(i%8)) != 0 {
			return -1
		}
	}
	return n
}

// ruleBody translates a rule's matches and target (nft_ipv4_xlate,
// nft_ipv6_xlate); false when some part has no translation.
func (x *xl) ruleBody() bool {
	r := x.r
	x.ifname("iifname", r.In, r.InvIn)
	x.ifname("oifname", r.Out, r.InvOut)
	if x.fam == ext.IPv4 && r.Frag {
		op := "!= "
		if r.InvFrag {
			op = ""
		}
		x.rule.add("ip frag-off & 0x1fff %s%x ", op, 0)
	}
	if r.Proto != 0 && !protoMatched(r, r.Proto) {
		if x.fam == ext.IPv6 {
			x.rule.add("meta l4proto")
		} else {
			x.rule.add("ip protocol")
		}
		if r.InvProto {
			x.rule.add(" !=")
		}
		if n := protoName(r.Proto); n != "" {
			x.rule.add("%s", n)
		} else {
			x.rule.add("%d", r.Proto)
		}
	}
	x.addr(x.ip()+" saddr", r.Src, r.SrcMask, r.InvSrc)
	x.addr(x.ip()+" daddr", r.Dst, r.DstMask, r.InvDst)
	for _, m := range r.Matches {
		fn := matchXlate[m.Type.Name]
		if fn == nil {
			return x.refuse("-m %s has no nft translation", m.Type.Name)
		}
		if !fn(x, optsOf(m.M), m) {
			return x.refuse("-m %s with these options has no nft translation", m.Type.Name)
		}
	}
	x.rule.add("counter")
	if !x.action() {
		return false
	}
	if x.comment != "" {
		x.rule.add(" comment %s", x.comment)
	}
	return true
}

// action is xlate_action: the verdict or the target's statement.
func (x *xl) action() bool {
	r := x.r
	switch r.Verdict {
	case "":
		return true
	case "ACCEPT":
		x.rule.add(" accept")
		return true
	case "DROP":
		x.rule.add(" drop")
		return true
	case "RETURN":
		x.rule.add(" return")
		return true
	case "QUEUE":
		return x.refuse("-j QUEUE has no nft translation")
	}
	if r.Target == nil {
		if r.Goto {
			x.rule.add(" goto %s", r.Verdict)
		} else {
			x.rule.add(" jump %s", r.Verdict)
		}
		return true
	}
	fn := targetXlate[r.Verdict]
	if fn == nil {
		return x.refuse("-j %s has no nft translation", r.Verdict)
	}
	if !fn(x, optsOf(r.Target), r) {
		return x.refuse("-j %s with these options has no nft translation", r.Verdict)
	}
	return true
}

// familyName is nft's name of the table family.
func familyName(f ext.Family) string {
	if f == ext.IPv6 {
		return "ip6"
	}
	return "ip"
}
