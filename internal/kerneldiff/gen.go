package kerneldiff

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"

	"github.com/ipsift/ipsift/packet"
)

// aims collects the values a generated ruleset tests for, so that the
// packets generated for it hit and just miss every rule: addresses at and
// around every prefix and range bound, ports at and around every port and
// range end, the tcp flag combinations the rules name, and the ttl, tos
// and length values of their matches.
type aims struct {
	addrs   []netip.Addr
	ports   []uint16
	flags   []packet.TCPFlags
	ttls    []uint8
	lengths []int
	tos     []uint8
	icmp    [][2]uint8
	// IPv6 only: fragment identifications, hbh/dst header lengths and
	// routing header segments left that -m frag, hbh, dst and rt test.
	fragIDs  []uint32
	extLens  []uint8
	segLefts []uint8
}

func (a *aims) addr(s string) {
	if p, err := netip.ParseAddr(s); err == nil && inDoc(p) {
		a.addrs = append(a.addrs, p)
	}
}

// addrAround adds an address and its two neighbours.
func (a *aims) addrAround(p netip.Addr) {
	for _, q := range []netip.Addr{p.Prev(), p, p.Next()} {
		if q.IsValid() && inDoc(q) {
			a.addrs = append(a.addrs, q)
		}
	}
}

func (a *aims) port(ps ...uint16) {
	for _, p := range ps {
		a.ports = append(a.ports, p)
		if p > 1 {
			a.ports = append(a.ports, p-1)
		}
		if p < 65535 {
			a.ports = append(a.ports, p+1)
		}
	}
}

// docNets are the only addresses packets may carry (DESIGN.md's network
// rules).
var docNets = []netip.Prefix{
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("2001:db8::/32"),
}

func inDoc(a netip.Addr) bool {
	for _, p := range docNets {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func pick[T any](r *rand.Rand, s []T) T { return s[r.IntN(len(s))] }

func neg(r *rand.Rand, oneIn int) string {
	if r.IntN(oneIn) == 0 {
		return "! "
	}
	return ""
}

// ruleGen builds one ruleset.
type ruleGen struct {
	r       *rand.Rand
	a       *aims
	hashN   int
	recents []string
	six     bool // an ip6tables ruleset (gen6.go)
}

// Address operands for -s and -d: prefixes of every length class,
// single hosts, a non-contiguous mask and address lists (which the tools
// expand into one rule per address).
var addrOperands = []string{
	"192.0.2.0/24", "192.0.2.0/28", "192.0.2.16/29", "192.0.2.10", "192.0.2.10,192.0.2.20",
	"198.51.100.0/25", "198.51.100.128/25", "198.51.100.1", "198.51.100.9", "198.51.100.64/26",
	"203.0.113.0/24", "203.0.113.7", "203.0.113.0/27", "192.0.2.0/255.255.255.1", "198.51.0.0/16",
}

var ifOperands = []string{"eth0", "wlan0", "eth+", "wlan+", "lo"}

// prefixAims adds the bounds of an -s/-d operand (of either family) and
// their neighbours.
func (g *ruleGen) prefixAims(op string) {
	for _, part := range strings.Split(op, ",") {
		if p, err := netip.ParsePrefix(part); err == nil {
			p = p.Masked()
			g.a.addrAround(p.Addr())
			last := p.Addr().AsSlice()
			for i := 0; i < len(last)*8-p.Bits(); i++ {
				last[len(last)-1-i/8] |= 1 << (i % 8)
			}
			a, _ := netip.AddrFromSlice(last)
			g.a.addrAround(a)
			continue
		}
		if a, _, ok := strings.Cut(part, "/"); ok {
			g.a.addr(a)
			continue
		}
		if a, err := netip.ParseAddr(part); err == nil {
			g.a.addrAround(a)
		}
	}
}

// match returns a random match (with any -p it needs as proto) suitable
// for table and hook, registering what packets should aim at.
func (g *ruleGen) match(table, hook string) (proto, text string) {
	r, a := g.r, g.a
	switch r.IntN(27) {
	case 0, 1:
		p := pick(r, []uint16{22, 25, 53, 80, 443, 8080})
		a.port(p)
		return "tcp", fmt.Sprintf("-m tcp %s--dport %d", neg(r, 4), p)
	case 2:
		lo := pick(r, []uint16{1000, 1024, 30000})
		hi := lo + uint16(r.IntN(3000))
		a.port(lo, hi)
		return "tcp", fmt.Sprintf("-m tcp %s--sport %d:%d", neg(r, 4), lo, hi)
	case 3, 4:
		mask := pick(r, []string{"SYN,ACK", "FIN,SYN,RST,ACK", "ALL", "ACK,RST", "FIN,SYN", "SYN,RST"})
		comp := pick(r, []string{"SYN", "NONE", "RST", "ACK", "FIN,SYN", "SYN,ACK"})
		for _, s := range []string{mask, comp} {
			f := packet.TCPFlags(0)
			for _, n := range strings.Split(s, ",") {
				f |= tcpFlagNames[n]
			}
			a.flags = append(a.flags, f, f|packet.TCPAck, f&^packet.TCPAck)
		}
		return "tcp", fmt.Sprintf("-m tcp %s--tcp-flags %s %s", neg(r, 5), mask, comp)
	case 5:
		return "tcp", neg(r, 3) + "--syn"
	case 6, 7:
		p := pick(r, []uint16{53, 67, 123, 500, 4500})
		a.port(p)
		return "udp", fmt.Sprintf("-m udp %s--dport %d", neg(r, 4), p)
	case 8:
		lo := pick(r, []uint16{1, 1024, 33434})
		hi := lo + uint16(r.IntN(200))
		a.port(lo, hi)
		return "udp", fmt.Sprintf("-m udp --sport %d:%d", lo, hi)
	case 9, 10:
		t := pick(r, [][2]int{{8, -1}, {0, -1}, {3, 3}, {3, 1}, {11, 0}, {3, -1}})
		a.icmp = append(a.icmp, [2]uint8{uint8(t[0]), uint8(max(t[1], 0))})
		spec := fmt.Sprint(t[0])
		if t[1] >= 0 {
			spec += fmt.Sprintf("/%d", t[1])
		}
		return "icmp", fmt.Sprintf("-m icmp %s--icmp-type %s", neg(r, 4), spec)
	case 11:
		p := pick(r, []string{"tcp", "udp"})
		lo := uint16(8000 + r.IntN(80))
		a.port(22, 53, 443, lo, lo+10)
		return p, fmt.Sprintf("-m multiport %s--%s 22,53,443,%d:%d", neg(r, 4), pick(r, []string{"dports", "sports", "ports"}), lo, lo+10)
	case 12:
		lo := pick(r, []string{"192.0.2.10", "198.51.100.5", "203.0.113.7"})
		l := netip.MustParseAddr(lo)
		h := l
		for i := r.IntN(12); i > 0; i-- {
			h = h.Next()
		}
		a.addrAround(l)
		a.addrAround(h)
		return "", fmt.Sprintf("-m iprange %s--%s-range %s-%s", neg(r, 4), pick(r, []string{"src", "dst"}), l, h)
	case 13:
		lo := 40 + r.IntN(30)
		hi := lo + r.IntN(200)
		a.lengths = append(a.lengths, lo-1, lo, hi, hi+1)
		return "", fmt.Sprintf("-m length %s--length %d:%d", neg(r, 5), lo, hi)
	case 14:
		n := pick(r, []uint8{1, 2, 63, 64, 65})
		a.ttls = append(a.ttls, n-1, n, n+1)
		return "", fmt.Sprintf("-m ttl --ttl-%s %d", pick(r, []string{"eq", "lt", "gt"}), n)
	case 15:
		if r.IntN(2) == 0 {
			t := pick(r, []uint8{0x10, 0x08, 0x04})
			a.tos = append(a.tos, t, t|0x2)
			return "", fmt.Sprintf("-m tos %s--tos 0x%02x", neg(r, 4), t)
		}
		d := pick(r, []uint8{10, 34, 46})
		a.tos = append(a.tos, d<<2, d<<2|1)
		return "", fmt.Sprintf("-m dscp %s--dscp %d", neg(r, 4), d)
	case 16:
		return "", fmt.Sprintf("-m mark %s--mark 0x%x/0x%x", neg(r, 4), r.IntN(4), pick(r, []int{0xff, 0x3, 0xffffffff}))
	case 17:
		return "", "-m connmark " + neg(r, 4) + "--mark " + fmt.Sprint(r.IntN(4))
	case 18, 19:
		if table == "raw" {
			return "", "-m comment --comment \"raw rule\""
		}
		if r.IntN(2) == 0 {
			return "", "-m state " + neg(r, 6) + "--state " + pick(r, []string{"NEW", "ESTABLISHED", "RELATED,ESTABLISHED", "INVALID", "NEW,ESTABLISHED", "UNTRACKED"})
		}
		return "", "-m conntrack " + pick(r, []string{"--ctstate NEW", "--ctstate RELATED,ESTABLISHED", "! --ctstate INVALID", "--ctstate DNAT",
			"--ctstate SNAT", "--ctdir REPLY", "--ctproto tcp", "--ctorigsrc 192.0.2.0/24", "--ctstate NEW --ctorigdst 198.51.100.1", "--ctstatus ASSURED", "--ctstate UNTRACKED"})
	case 20:
		return "", fmt.Sprintf("-m limit --limit %d/%s --limit-burst %d", 1+r.IntN(3), pick(r, []string{"min", "hour"}), 1+r.IntN(4))
	case 21:
		every := 2 + r.IntN(3)
		if r.IntN(3) == 0 {
			return "", "-m statistic --mode random " + neg(r, 3) + "--probability " + pick(r, []string{"1", "0"})
		}
		return "", fmt.Sprintf("-m statistic --mode nth %s--every %d --packet %d", neg(r, 4), every, r.IntN(every))
	case 22:
		if len(g.recents) == 0 || r.IntN(3) == 0 {
			name := fmt.Sprintf("r%d", len(g.recents))
			g.recents = append(g.recents, name)
			return "", fmt.Sprintf("-m recent --name %s --set %s", name, pick(r, []string{"", "--rsource", "--rdest"}))
		}
		return "", fmt.Sprintf("-m recent --name %s %s%s --seconds 600 %s", pick(r, g.recents), neg(r, 5), pick(r, []string{"--rcheck", "--update"}), pick(r, []string{"", "--hitcount 2", "--hitcount 3", "--rdest"}))
	case 23:
		g.hashN++
		return "", fmt.Sprintf("-m hashlimit --hashlimit-%s %d/min --hashlimit-burst %d --hashlimit-mode %s --hashlimit-name h%d",
			pick(r, []string{"upto", "above"}), 1+r.IntN(3), 1+r.IntN(3), pick(r, []string{"srcip", "dstip", "srcip,dstport", "dstip,dstport"}), g.hashN)
	case 24:
		if table == "raw" {
			return "", "-m comment --comment \"raw rule\""
		}
		return "", fmt.Sprintf("-m connlimit --connlimit-%s %d %s", pick(r, []string{"above", "upto"}), 1+r.IntN(2), pick(r, []string{"", "--connlimit-mask 24", "--connlimit-daddr"}))
	case 25:
		t := pick(r, []string{"LOCAL", "UNICAST", "BROADCAST", "MULTICAST"})
		dir := pick(r, []string{"src", "dst"})
		extra := ""
		if hook == "PREROUTING" || hook == "INPUT" || hook == "FORWARD" && r.IntN(2) == 0 {
			extra = pick(r, []string{"", " --limit-iface-in"})
		}
		return "", fmt.Sprintf("-m addrtype %s--%s-type %s%s", neg(r, 4), dir, t, extra)
	default:
		if r.IntN(2) == 0 {
			return "", "-m pkttype " + neg(r, 4) + "--pkt-type " + pick(r, []string{"unicast", "broadcast", "multicast"})
		}
		return "", "-m comment --comment \"generated rule\""
	}
}

var tcpFlagNames = map[string]packet.TCPFlags{
	"FIN": packet.TCPFin, "SYN": packet.TCPSyn, "RST": packet.TCPRst, "PSH": packet.TCPPsh,
	"ACK": packet.TCPAck, "URG": packet.TCPUrg, "NONE": 0, "ALL": 0x3f,
}

var builtin = map[string][]string{
	"raw":    {"PREROUTING", "OUTPUT"},
	"mangle": {"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"},
	"nat":    {"PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"},
	"filter": {"INPUT", "FORWARD", "OUTPUT"},
}

// userHook is the hook whose restrictions a table's user chains follow:
// they are only jumped to from that built-in chain (and from each other).
var userHook = map[string]string{"filter": "FORWARD", "mangle": "PREROUTING", "nat": "PREROUTING", "raw": "PREROUTING"}

// target returns a target for table and hook (with a -p when it needs
// one), or "" for a rule without one. later are the user chains this
// chain may jump to.
func (g *ruleGen) target(table, hook string, later []string) (proto, text string) {
	r := g.r
	if len(later) > 0 && r.IntN(3) == 0 {
		return "", pick(r, []string{"-j ", "-j ", "-g "}) + pick(r, later)
	}
	switch table {
	case "raw":
		return "", pick(r, []string{"-j NOTRACK", "-j CT --notrack", "-j ACCEPT", "-j DROP", "-j RETURN", "", ""})
	case "mangle":
		switch r.IntN(9) {
		case 0, 1:
			return "", fmt.Sprintf("-j MARK --set-mark 0x%x", r.IntN(4))
		case 2:
			return "", fmt.Sprintf("-j MARK --set-xmark 0x1/0x%x", 1+r.IntN(3))
		case 3:
			return "", pick(r, []string{"-j CONNMARK --save-mark", "-j CONNMARK --restore-mark", "-j CONNMARK --set-mark 0x2"})
		case 4:
			if hook == "PREROUTING" || hook == "FORWARD" || hook == "POSTROUTING" || hook == "OUTPUT" {
				return "", pick(r, []string{"-j TOS --set-tos 0x10", "-j DSCP --set-dscp 10", "-j TTL --ttl-set 32", "-j TTL --ttl-inc 1"})
			}
			return "", "-j ACCEPT"
		case 5:
			return "", "-j RETURN"
		case 6:
			return "", "-j DROP"
		default:
			return "", pick(r, []string{"-j ACCEPT", ""})
		}
	case "nat":
		switch hook {
		case "PREROUTING":
			switch r.IntN(5) {
			case 0:
				return "tcp", fmt.Sprintf("-j DNAT --to-destination %s:%d", pick(r, []string{"192.0.2.10", "192.0.2.20"}), pick(r, []int{22, 80, 8080}))
			case 1:
				return "", "-j DNAT --to-destination " + pick(r, []string{"192.0.2.10", "192.0.2.30", "198.51.100.9"})
			case 2:
				return "tcp", "-j REDIRECT --to-ports " + pick(r, []string{"8080", "2222"})
			case 3:
				return "", "-j RETURN"
			}
			return "", pick(r, []string{"-j ACCEPT", ""})
		case "OUTPUT":
			if r.IntN(2) == 0 {
				return "", "-j DNAT --to-destination 192.0.2.40"
			}
			return "", pick(r, []string{"-j ACCEPT", "-j RETURN", ""})
		case "POSTROUTING":
			switch r.IntN(4) {
			case 0:
				return "", "-o eth0 -j MASQUERADE"
			case 1:
				return "", "-o eth0 -j SNAT --to-source 198.51.100.1"
			case 2:
				return "", "-o wlan0 -j SNAT --to-source 192.0.2.1"
			}
			return "", pick(r, []string{"-j ACCEPT", "-j RETURN", ""})
		case "INPUT":
			if r.IntN(3) == 0 {
				return "", "-j SNAT --to-source 192.0.2.77"
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
		return "", "-j REJECT --reject-with " + pick(r, []string{"icmp-host-prohibited", "icmp-net-unreachable", "icmp-admin-prohibited"})
	case 9:
		return "", "-j LOG --log-prefix \"kd: \""
	case 10:
		return "", fmt.Sprintf("-j MARK --set-mark 0x%x", r.IntN(4))
	}
	return "", ""
}

// rule builds one rule for chain (a built-in chain, or a user chain
// following hook's restrictions). The families draw their operands,
// matches and targets from their own lists, in the same order.
func (g *ruleGen) rule(table, hook string, later []string) string {
	r := g.r
	addrs, matchOf, targetOf := addrOperands, g.match, g.target
	protos := []string{"tcp", "udp", "icmp", "! tcp", "47"}
	if g.six {
		addrs, matchOf, targetOf = addrOperands6, g.match6, g.target6
		protos = protos6
	}
	var parts []string
	proto := ""
	if r.IntN(3) == 0 {
		op := pick(r, addrs)
		n := neg(r, 5)
		if strings.Contains(op, ",") {
			n = "" // the tools refuse ! with several addresses
		}
		g.prefixAims(op)
		parts = append(parts, n+pick(r, []string{"-s ", "-d "})+op)
	}
	if hook != "OUTPUT" && hook != "POSTROUTING" && r.IntN(4) == 0 {
		parts = append(parts, neg(r, 4)+"-i "+pick(r, ifOperands))
	}
	if hook != "INPUT" && hook != "PREROUTING" && r.IntN(5) == 0 {
		parts = append(parts, neg(r, 4)+"-o "+pick(r, ifOperands))
	}
	var matches []string
	for n := r.IntN(3); n > 0; n-- {
		p, m := matchOf(table, hook)
		if p != "" {
			if proto != "" && proto != p {
				continue
			}
			proto = p
		}
		if strings.Contains(m, "hashlimit") && strings.Contains(strings.Join(parts, " "), ",") {
			continue // one table per rule: an address list would share it
		}
		matches = append(matches, m)
	}
	tp, target := targetOf(table, hook, later)
	if tp != "" {
		if proto != "" && proto != tp {
			target = "-j ACCEPT"
		} else {
			proto = tp
		}
	}
	switch {
	case !g.six && (strings.Contains(target, " -j ") || strings.HasPrefix(target, "-o ")):
		// the target brought an -o; drop ours
		parts = slices.DeleteFunc(parts, func(s string) bool { return strings.Contains(s, "-o ") })
	case g.six && (strings.HasPrefix(target, "-o ") || strings.HasPrefix(target, "-s ") || strings.HasPrefix(target, "-d ")):
		// The target brought an address or interface of its own: drop
		// ours of the same kind.
		for _, opt := range []string{"-o ", "-s ", "-d "} {
			if strings.HasPrefix(target, opt) || strings.Contains(target, " "+opt) {
				parts = slices.DeleteFunc(parts, func(s string) bool { return strings.Contains(s, opt) })
			}
		}
	}
	if proto == "" && r.IntN(4) == 0 {
		proto = pick(r, protos)
	}
	if p, ok := strings.CutPrefix(proto, "! "); ok {
		parts = append(parts, "! -p "+p)
	} else if proto != "" {
		parts = append(parts, "-p "+proto)
	}
	if !g.six && r.IntN(25) == 0 {
		// IPv6 has no -f: its fragments are matched by -m frag
		parts = append(parts, neg(r, 2)+"-f")
	}
	parts = append(parts, matches...)
	if target != "" {
		parts = append(parts, target)
	}
	return strings.Join(parts, " ")
}

// genRuleset builds a random restore file over the tables and returns it
// with what its packets should aim at.
func genRuleset(r *rand.Rand) (string, *aims) {
	return genTables(&ruleGen{r: r, a: &aims{}})
}

// genTables writes g's ruleset, table by table.
func genTables(g *ruleGen) (string, *aims) {
	r := g.r
	var b strings.Builder
	for _, table := range []string{"raw", "mangle", "nat", "filter"} {
		if r.IntN(5) < 2 && table != "filter" {
			continue
		}
		fmt.Fprintf(&b, "*%s\n", table)
		for _, c := range builtin[table] {
			pol := "ACCEPT"
			if table == "filter" && r.IntN(3) == 0 || table == "mangle" && r.IntN(20) == 0 {
				pol = "DROP"
			}
			fmt.Fprintf(&b, ":%s %s [0:0]\n", c, pol)
		}
		var users []string
		if table != "raw" {
			for i := r.IntN(3); i > 0; i-- {
				users = append(users, fmt.Sprintf("u%d", len(users)))
			}
		}
		for _, u := range users {
			fmt.Fprintf(&b, ":%s - [0:0]\n", u)
		}
		for _, c := range builtin[table] {
			var later []string
			if c == userHook[table] {
				later = users
			}
			for n := r.IntN(5); n > 0; n-- {
				fmt.Fprintf(&b, "-A %s %s\n", c, g.rule(table, c, later))
			}
		}
		for i, u := range users {
			for n := 1 + r.IntN(3); n > 0; n-- {
				fmt.Fprintf(&b, "-A %s %s\n", u, g.rule(table, userHook[table], users[i+1:]))
			}
		}
		b.WriteString("COMMIT\n")
	}
	return strings.ReplaceAll(b.String(), " \n", "\n"), g.a
}
