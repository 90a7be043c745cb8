package kerneldiff

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
)

// Generated sets and rules that use them: several set types (with
// timeouts, counters, nomatch entries, a list:set), filter rules that
// match them (-m set with its flags, mixed with the generator's other
// matches) and add and delete with -j SET, and packets aimed at their
// elements. Every hash set pins its initval, so ipsift's listing order
// (the kernel's buckets) can be compared with the kernel's as it is.

// genSet is one generated set and how rules may name it.
type genSet struct {
	name    string
	dims    int
	timeout bool // created with timeout: -j SET may give --timeout
	list    bool
}

// setKind is a set type the generator makes: its create options and a
// maker of one element (registering what packets should aim at).
type setKind struct {
	typ  string
	dims int
	opts string
	elem func(r *rand.Rand, a *aims) string
}

// docAddr is an address of the IPv4 documentation ranges (the sets
// generated here are of family inet).
func docAddr(r *rand.Rand) netip.Addr {
	var v4 []netip.Prefix
	for _, n := range docNets {
		if n.Addr().Is4() {
			v4 = append(v4, n)
		}
	}
	n := pick(r, v4)
	b := n.Addr().As4()
	b[3] = byte(r.IntN(256))
	return netip.AddrFrom4(b)
}

// docNet is a network of the documentation ranges with a length from
// /24 to /32; nomatch entries are its more specific parts.
func docNet(r *rand.Rand, a *aims) string {
	ad := docAddr(r)
	bits := pick(r, []int{24, 25, 26, 28, 30, 32})
	p, _ := ad.Prefix(bits)
	a.addrAround(p.Addr())
	a.addrAround(ad)
	if bits == 32 {
		return p.Addr().String()
	}
	return p.String()
}

func docHost(r *rand.Rand, a *aims) string {
	ad := docAddr(r)
	a.addrAround(ad)
	return ad.String()
}

func protoPort(r *rand.Rand, a *aims) string {
	switch r.IntN(6) {
	case 0:
		return "icmp:echo-request"
	case 1:
		return "udp:53"
	}
	p := uint16(pick(r, []int{22, 25, 80, 443, 1024, 8080}))
	a.port(p)
	return fmt.Sprintf("%s:%d", pick(r, []string{"tcp", "tcp", "udp"}), p)
}

var setKinds = []setKind{
	{"hash:ip", 1, "", docHost},
	{"hash:net", 1, "", docNet},
	{"hash:ip,port", 2, "", func(r *rand.Rand, a *aims) string { return docHost(r, a) + "," + protoPort(r, a) }},
	{"hash:net,port", 2, "", func(r *rand.Rand, a *aims) string { return docNet(r, a) + "," + protoPort(r, a) }},
	{"hash:ip,port,ip", 3, "", func(r *rand.Rand, a *aims) string {
		return docHost(r, a) + "," + protoPort(r, a) + "," + docHost(r, a)
	}},
	{"hash:ip,port,net", 3, "", func(r *rand.Rand, a *aims) string {
		return docHost(r, a) + "," + protoPort(r, a) + "," + docNet(r, a)
	}},
	{"hash:net,iface", 2, "", func(r *rand.Rand, a *aims) string {
		return docNet(r, a) + "," + pick(r, []string{"eth0", "wlan0", "lo"})
	}},
	{"bitmap:port", 1, "range 0-1024", func(r *rand.Rand, a *aims) string {
		p := uint16(pick(r, []int{22, 53, 80, 443, 1000}))
		a.port(p)
		return fmt.Sprint(p)
	}},
	{"bitmap:ip", 1, "range 198.51.100.0/24", func(r *rand.Rand, a *aims) string {
		ad := netip.AddrFrom4([4]byte{198, 51, 100, byte(r.IntN(256))})
		a.addrAround(ad)
		return ad.String()
	}},
}

// genSets makes a few sets (ipset restore input) and returns them with
// what rules may do with them.
func genSets(r *rand.Rand, a *aims) (string, []genSet) {
	var b strings.Builder
	var sets []genSet
	for i, n := 0, 2+r.IntN(4); i < n; i++ {
		k := pick(r, setKinds)
		s := genSet{name: fmt.Sprintf("s%d", i), dims: k.dims}
		opts := k.opts
		if strings.HasPrefix(k.typ, "hash:") {
			opts += fmt.Sprintf(" hashsize 64 bucketsize %d initval 0x%08x", pick(r, []int{2, 4, 12}), r.Uint32())
		}
		if r.IntN(3) == 0 {
			s.timeout = true
			opts += " timeout 600"
		}
		if r.IntN(3) == 0 {
			opts += " counters"
		}
		fmt.Fprintf(&b, "create %s %s %s\n", s.name, k.typ, strings.TrimSpace(opts))
		nomatch := strings.Contains(k.typ, "net")
		seen := map[string]bool{}
		for j := r.IntN(8); j > 0; j-- {
			e := k.elem(r, a)
			if seen[e] {
				continue
			}
			seen[e] = true
			x := ""
			if nomatch && r.IntN(4) == 0 {
				x = " nomatch"
			}
			if s.timeout && r.IntN(3) == 0 {
				x += fmt.Sprintf(" timeout %d", 100+r.IntN(500))
			}
			fmt.Fprintf(&b, "add %s %s%s\n", s.name, e, x)
		}
		sets = append(sets, s)
	}
	// a list:set of some of them (its members' types may differ)
	if len(sets) > 1 && r.IntN(2) == 0 {
		l := genSet{name: "lst", dims: 1, list: true}
		fmt.Fprintf(&b, "create %s list:set\n", l.name)
		for _, s := range sets[:1+r.IntN(len(sets)-1)] {
			fmt.Fprintf(&b, "add %s %s\n", l.name, s.name)
		}
		sets = append(sets, l)
	}
	return b.String(), sets
}

// dirs is a direction list for a set of d dimensions: usually d flags,
// sometimes one fewer (loads, never matches) or one more.
func dirs(r *rand.Rand, d int) string {
	n := d
	switch r.IntN(10) {
	case 0:
		n = max(1, d-1)
	case 1:
		n = d + 1
	}
	f := make([]string, n)
	for i := range f {
		f[i] = pick(r, []string{"src", "dst"})
	}
	return strings.Join(f, ",")
}

// setMatch is a -m set match on one of the sets, with its flags.
func setMatch(r *rand.Rand, sets []genSet) string {
	s := pick(r, sets)
	m := "-m set " + neg(r, 4) + "--match-set " + s.name + " " + dirs(r, s.dims)
	if r.IntN(4) == 0 {
		m += " --return-nomatch"
	}
	if r.IntN(5) == 0 {
		m += " ! --update-counters"
	}
	if s.list && r.IntN(3) == 0 {
		m += " ! --update-subcounters"
	}
	if r.IntN(5) == 0 {
		m += fmt.Sprintf(" --packets-%s %d", pick(r, []string{"gt", "lt", "eq"}), r.IntN(3))
	}
	return m
}

// setTarget is a -j SET adding or deleting the packet's element.
func setTarget(r *rand.Rand, sets []genSet) string {
	s := pick(r, sets)
	if r.IntN(3) == 0 {
		return "-j SET --del-set " + s.name + " " + dirs(r, s.dims)
	}
	t := "-j SET --add-set " + s.name + " " + dirs(r, s.dims)
	if r.IntN(2) == 0 {
		t += " --exist"
	}
	if s.timeout && r.IntN(2) == 0 {
		t += fmt.Sprintf(" --timeout %d", 60+r.IntN(600))
	}
	return t
}

// genSetRuleset builds sets and a filter table whose rules match them,
// some with the generator's other matches too.
func genSetRuleset(r *rand.Rand) (sets, ruleset string, a *aims) {
	g := &ruleGen{r: r, a: &aims{}}
	sets, gs := genSets(r, g.a)
	var b strings.Builder
	b.WriteString("*filter\n")
	for _, c := range builtin["filter"] {
		fmt.Fprintf(&b, ":%s %s [0:0]\n", c, pick(r, []string{"ACCEPT", "ACCEPT", "DROP"}))
	}
	for _, c := range builtin["filter"] {
		for n := 1 + r.IntN(5); n > 0; n-- {
			var parts []string
			if r.IntN(3) == 0 {
				parts = append(parts, "-p "+pick(r, []string{"tcp", "udp", "icmp"}))
			}
			for m := 1 + r.IntN(2); m > 0; m-- {
				parts = append(parts, setMatch(r, gs))
			}
			switch r.IntN(6) {
			case 0, 1:
				parts = append(parts, setTarget(r, gs))
			case 2:
				parts = append(parts, "-j DROP")
			case 3:
				parts = append(parts, "-j ACCEPT")
			case 4:
				// counting only
			default:
				// a rule of the ordinary generator after the set match
				parts = append(parts, g.rule("filter", c, nil))
				if p := parts[0]; strings.HasPrefix(p, "-p ") && strings.Contains(parts[len(parts)-1], "-p ") {
					parts = parts[1:]
				}
			}
			fmt.Fprintf(&b, "-A %s %s\n", c, strings.Join(parts, " "))
		}
	}
	b.WriteString("COMMIT\n")
	return sets, strings.ReplaceAll(b.String(), " \n", "\n"), g.a
}

// GenerateSets returns set ruleset i of seed: the sets (ipset restore
// input), the restore file of rules using them, and their packets.
func GenerateSets(seed uint64, i, packets int) (string, string, []Packet) {
	r := rand.New(rand.NewPCG(seed, uint64(i)))
	sets, rs, a := genSetRuleset(r)
	return sets, rs, genPackets(r, a, packets)
}
