package diff

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/ipsift/ipsift/bdd"
	"github.com/ipsift/ipsift/symbolic"
)

// maxClasses is how many packet classes a region lists.
const maxClasses = 4

// describe writes a region's packet classes: the paths of its diagram
// over the header variables, each as iptables-like conditions.
func (c *comparer) describe(r *Region) {
	m := c.s.M
	hdr := m.Exists(r.g, c.s.PoolVars())
	// What the input domain says already need not be said.
	h := m.And(hdr, c.s.Domain)
	// Split by the small fields (where from, protocol, connection),
	// then describe each part as a box of per-field sets when it is
	// one, else by its largest cubes.
	var big []int
	for f := symbolic.Field(0); f < symbolic.NumFields; f++ {
		for _, v := range c.s.FieldVars(f) {
			switch f {
			case symbolic.FLocal, symbolic.FIn, symbolic.FFirst, symbolic.FCT, symbolic.FReply, symbolic.FSNAT, symbolic.FDNAT, symbolic.FProto:
			default:
				big = append(big, v)
			}
		}
	}
	for i := 0; i < symbolic.NumExtra; i++ {
		big = append(big, c.s.ExtraVars(i)...)
	}
	type class struct {
		text string
		size float64
	}
	var classes []class
	total := 0
	// Where a packet comes from and its connection change what routing
	// and NAT do: split on every combination of them.
	var conn []int
	for _, f := range []symbolic.Field{symbolic.FLocal, symbolic.FIn, symbolic.FFirst, symbolic.FCT, symbolic.FReply, symbolic.FSNAT, symbolic.FDNAT} {
		conn = append(conn, c.s.FieldVars(f)...)
	}
	one := func(part bdd.Node) {
		size := c.log2Size(part)
		if text, ok := c.boxText(part); ok {
			total++
			classes = append(classes, class{text, size})
			return
		}
		m.Cubes(m.Simplify(part, c.s.Domain), 64, func(cube []int8) {
			total++
			classes = append(classes, class{c.cubeText(cube), c.log2Size(m.And(cubeNode(m, cube), c.s.Domain))})
		})
	}
	m.Cubes(m.Exists(h, big), 64, func(cube []int8) {
		cn := m.And(h, cubeNode(m, cube))
		var free []int
		for _, v := range conn {
			if cube[v] < 0 {
				free = append(free, v)
			}
		}
		for k := 0; k < 1<<len(free); k++ {
			part := cn
			for i, v := range free {
				if k>>i&1 == 1 {
					part = m.And(part, m.Var(v))
				} else {
					part = m.And(part, m.NVar(v))
				}
			}
			if part != bdd.False {
				one(part)
			}
		}
	})
	sort.SliceStable(classes, func(i, j int) bool { return classes[i].size > classes[j].size })
	for i, cl := range classes {
		if i == maxClasses {
			break
		}
		r.Classes = append(r.Classes, cl.text)
	}
	r.More = total - len(r.Classes)
}

// cubeNode is the conjunction a cube stands for.
func cubeNode(m *bdd.Manager, cube []int8) bdd.Node {
	n := bdd.True
	for v := len(cube) - 1; v >= 0; v-- {
		switch cube[v] {
		case 0:
			n = m.And(n, m.NVar(v))
		case 1:
			n = m.And(n, m.Var(v))
		}
	}
	return n
}

// boxText describes g when it is a product of one set per field: each
// field's set as a list of values, prefixes or ranges, or as "! list"
// when the complement is shorter.
func (c *comparer) boxText(g bdd.Node) (string, bool) {
	m := c.s.M
	s := c.s
	type proj struct {
		f      symbolic.Field
		p      bdd.Node
		vars   []int
		others []int
	}
	var projs []proj
	prod := bdd.True
	for _, f := range describeOrder {
		vars := c.vecVars(f)
		if len(vars) == 0 {
			continue
		}
		others := otherVars(s.Header, vars)
		p := m.Exists(g, others)
		prod = m.And(prod, p)
		projs = append(projs, proj{f, p, vars, others})
	}
	if m.And(prod, s.Domain) != m.And(g, s.Domain) {
		return "", false
	}
	// A field need not be described where the others kept and the
	// domain already say as much: drop fields greedily, the least
	// telling first, as long as the class stays the same.
	target := m.And(prod, s.Domain)
	kept := make([]bool, len(projs))
	for i := range kept {
		kept[i] = projs[i].p != bdd.True
	}
	for _, i := range dropOrder(len(projs)) {
		if !kept[i] {
			continue
		}
		rest := s.Domain
		for j, q := range projs {
			if j != i && kept[j] {
				rest = m.And(rest, q.p)
			}
		}
		if rest == target {
			kept[i] = false
		}
	}
	var parts []string
	for i, p := range projs {
		if !kept[i] {
			continue
		}
		// Say the set itself, within what the domain allows.
		if t := c.setText(p.f, m.And(p.p, m.Exists(s.Domain, p.others)), p.vars); t != "" {
			parts = append(parts, t)
		}
	}
	if len(parts) == 0 {
		return "every packet", true
	}
	return strings.Join(parts, " "), true
}

// dropOrder tries the fields of describeOrder from the last (the
// connection details) to the first, except that where a packet comes
// from goes after the rest: "in eth0" says more than "arriving".
func dropOrder(n int) []int {
	var out []int
	for i := n - 1; i >= 0; i-- {
		out = append(out, i)
	}
	return out
}

// Pseudo-fields for the NAT an existing connection applies.
const (
	fPreAddr = symbolic.NumFields + iota
	fPrePort
	fPostAddr
	fPostPort
)

// describeOrder is the order of a class's conditions.
var describeOrder = []symbolic.Field{
	symbolic.FLocal, symbolic.FIn, symbolic.FProto, symbolic.FSrc, symbolic.FSport, symbolic.FDst, symbolic.FDport,
	symbolic.FFlags, symbolic.FIType, symbolic.FICode, symbolic.FTTL, symbolic.FTOS, symbolic.FLen, symbolic.FMark,
	symbolic.FFirst, symbolic.FCT, symbolic.FReply, symbolic.FSNAT, symbolic.FDNAT, symbolic.FCTMark,
	fPreAddr, fPrePort, fPostAddr, fPostPort,
}

// vecVars is FieldVars for fields and pseudo-fields.
func (c *comparer) vecVars(f symbolic.Field) []int {
	if f >= symbolic.NumFields {
		return c.s.ExtraVars(int(f - symbolic.NumFields))
	}
	return c.s.FieldVars(f)
}

// otherVars lists the variables below n that are not in vars.
func otherVars(n int, vars []int) []int {
	in := make(map[int]bool, len(vars))
	for _, v := range vars {
		in[v] = true
	}
	var out []int
	for v := 0; v < n; v++ {
		if !in[v] {
			out = append(out, v)
		}
	}
	return out
}

// setText describes the values of one field a projection allows.
func (c *comparer) setText(f symbolic.Field, p bdd.Node, vars []int) string {
	first, w := vars[0], len(vars)
	vec := c.s.M.VarsVec(vars)
	m := c.s.M
	list := func(n bdd.Node) ([]string, int) {
		var out []string
		total := m.Cubes(n, 1000, func(cube []int8) {
			if len(out) < 6 {
				out = append(out, c.valueText(f, bits(cube, vars)))
			}
		})
		return out, total
	}
	pos, np := list(p)
	neg, nn := list(m.Not(p))
	name := map[symbolic.Field]string{symbolic.FSrc: "from", symbolic.FDst: "to", fPreAddr: "connection NATed to", fPrePort: "connection NATed to port",
		fPostAddr: "connection NATed from", fPostPort: "connection NATed from port"}[f]
	if name == "" {
		name = f.String()
	}
	switch f {
	case symbolic.FLocal:
		if p == m.Var(first) {
			return "sent by the host"
		}
		return "arriving"
	case symbolic.FIn:
		var names []string
		for i, ifc := range c.s.Ifaces {
			if m.And(p, m.Eq(vec, bdd.UintVec(uint64(i+1), w))) != bdd.False && ifc.Name != "lo" {
				names = append(names, ifc.Name)
			}
		}
		return "in " + strings.Join(names, "|")
	case symbolic.FCT:
		var states []string
		for v, n := range symbolic.CTNames {
			if m.And(p, m.Eq(vec, bdd.UintVec(uint64(v), w))) != bdd.False && uint64(v) != symbolic.CTUntracked {
				states = append(states, n)
			}
		}
		return "state " + strings.Join(states, ",")
	case symbolic.FFirst:
		if p == m.Var(first) {
			return "first packet of its connection"
		}
		return "connection seen before"
	case symbolic.FReply:
		if p == m.Var(first) {
			return "reply direction"
		}
		return "original direction"
	case symbolic.FSNAT, symbolic.FDNAT:
		if p == m.Var(first) {
			return "connection " + strings.ToUpper(f.String()) + "ed"
		}
		return ""
	case symbolic.FProto:
		name = "proto"
	}
	if (f == symbolic.FDst || f == fPreAddr) && c.isHost(p, vec) {
		return name + " the host"
	}
	more := func(l []string, n int) string {
		t := strings.Join(l, ",")
		if n > len(l) {
			t += fmt.Sprintf(",… (%d more)", n-len(l))
		}
		return t
	}
	if f == symbolic.FProto && np == 1 && len(pos) == 1 {
		return pos[0]
	}
	if nn < np {
		return name + " ! " + more(neg, nn)
	}
	return name + " " + more(pos, np)
}

// isHost reports whether an address set is the host's own (local
// delivery).
func (c *comparer) isHost(p bdd.Node, vec bdd.Vec) bool {
	return p == c.s.LocalAddrs(vec)
}

// valueText writes one cube of a field.
func (c *comparer) valueText(f symbolic.Field, b []int8) string {
	switch f {
	case symbolic.FSrc, symbolic.FDst, fPreAddr, fPostAddr:
		return c.addrText(b)
	case symbolic.FProto:
		if prefixLen(b) == 8 {
			v, _ := value(b)
			if n, ok := protoNames[v]; ok {
				return n
			}
		}
	case symbolic.FFlags:
		v, mask := value(b)
		return flagText(v, mask)
	}
	return numText(b)
}

// bits returns the cube's values for an input vector (-1: any).
func bits(cube []int8, vars []int) []int8 {
	out := make([]int8, len(vars))
	for i, v := range vars {
		out[i] = cube[v]
	}
	return out
}

func allFree(b []int8) bool {
	for _, x := range b {
		if x >= 0 {
			return false
		}
	}
	return true
}

// prefixLen is the number of leading fixed bits when every bit after
// them is free; -1 when the pattern is not a prefix.
func prefixLen(b []int8) int {
	n := 0
	for n < len(b) && b[n] >= 0 {
		n++
	}
	for _, x := range b[n:] {
		if x >= 0 {
			return -1
		}
	}
	return n
}

func value(b []int8) (v, mask uint64) {
	for _, x := range b {
		v, mask = v<<1, mask<<1
		if x >= 0 {
			v |= uint64(x)
			mask |= 1
		}
	}
	return
}

func addrOf(b []int8) netip.Addr {
	var raw [16]byte
	for i, x := range b {
		if x == 1 {
			raw[i/8] |= 1 << (7 - i%8)
		}
	}
	if len(b) == 32 {
		return netip.AddrFrom4([4]byte(raw[:4]))
	}
	return netip.AddrFrom16(raw)
}

func (c *comparer) addrText(b []int8) string {
	if n := prefixLen(b); n >= 0 {
		a := addrOf(b)
		if n == len(b) {
			return a.String()
		}
		return netip.PrefixFrom(a, n).String()
	}
	// Not a prefix: address/mask, as iptables writes it.
	mask := make([]int8, len(b))
	for i, x := range b {
		if x >= 0 {
			mask[i] = 1
		}
	}
	return addrOf(b).String() + "/" + addrOf(mask).String()
}

func numText(b []int8) string {
	if n := prefixLen(b); n >= 0 {
		v, _ := value(b)
		span := uint64(1)<<(len(b)-n) - 1
		lo := v // value counts the free bits as 0
		if span == 0 {
			return fmt.Sprint(lo)
		}
		return fmt.Sprintf("%d-%d", lo, lo+span)
	}
	v, mask := value(b)
	return fmt.Sprintf("0x%x/0x%x", v, mask)
}

var protoNames = map[uint64]string{1: "icmp", 6: "tcp", 17: "udp", 58: "icmpv6", 132: "sctp", 33: "dccp", 136: "udplite"}

// cubeText writes one class.
func (c *comparer) cubeText(cube []int8) string {
	s := c.s
	var parts []string
	get := func(f symbolic.Field) []int8 {
		return bits(cube, s.FieldVars(f))
	}
	// Where from.
	local := get(symbolic.FLocal)
	in := get(symbolic.FIn)
	switch {
	case local[0] == 1:
		parts = append(parts, "sent by the host")
	case local[0] == 0 && !allFree(in):
		parts = append(parts, "in "+strings.Join(c.ifaceNames(in), "|"))
	case local[0] == 0:
		parts = append(parts, "arriving")
	}
	proto := get(symbolic.FProto)
	if !allFree(proto) {
		if prefixLen(proto) == 8 {
			v, _ := value(proto)
			if n, ok := protoNames[v]; ok {
				parts = append(parts, n)
			} else {
				parts = append(parts, fmt.Sprintf("proto %d", v))
			}
		} else {
			parts = append(parts, "proto "+numText(proto))
		}
	}
	if b := get(symbolic.FSrc); !allFree(b) {
		parts = append(parts, "from "+c.addrText(b))
	}
	if b := get(symbolic.FSport); !allFree(b) {
		parts = append(parts, "sport "+numText(b))
	}
	if b := get(symbolic.FDst); !allFree(b) {
		parts = append(parts, "to "+c.addrText(b))
	}
	if b := get(symbolic.FDport); !allFree(b) {
		parts = append(parts, "dport "+numText(b))
	}
	if b := get(symbolic.FFlags); !allFree(b) {
		v, mask := value(b)
		parts = append(parts, "flags "+flagText(v, mask))
	}
	if b := get(symbolic.FIType); !allFree(b) {
		parts = append(parts, "type "+numText(b))
	}
	if b := get(symbolic.FICode); !allFree(b) {
		parts = append(parts, "code "+numText(b))
	}
	for _, f := range []symbolic.Field{symbolic.FTTL, symbolic.FTOS, symbolic.FLen, symbolic.FMark} {
		if b := get(f); !allFree(b) {
			parts = append(parts, f.String()+" "+numText(b))
		}
	}
	// The connection.
	first := get(symbolic.FFirst)
	ct := get(symbolic.FCT)
	if !allFree(ct) || first[0] >= 0 {
		var states []string
		for v, name := range symbolic.CTNames {
			if !matches(ct, uint64(v)) || uint64(v) == symbolic.CTUntracked {
				continue
			}
			if v == int(symbolic.CTNew) {
				switch first[0] {
				case 1:
					name = "NEW (first packet)"
				case 0:
					name = "NEW (connection seen before)"
				}
			}
			states = append(states, name)
		}
		if len(states) < len(symbolic.CTNames) {
			parts = append(parts, "state "+strings.Join(states, ","))
		}
	}
	if b := get(symbolic.FReply); b[0] >= 0 {
		parts = append(parts, map[int8]string{0: "original direction", 1: "reply direction"}[b[0]])
	}
	if b := get(symbolic.FSNAT); b[0] == 1 {
		parts = append(parts, "connection SNATed")
	}
	if b := get(symbolic.FDNAT); b[0] == 1 {
		parts = append(parts, "connection DNATed")
	}
	if b := get(symbolic.FCTMark); !allFree(b) {
		parts = append(parts, "ctmark "+numText(b))
	}
	if len(parts) == 0 {
		return "every packet"
	}
	return strings.Join(parts, " ")
}

func matches(b []int8, v uint64) bool {
	for i, x := range b {
		bit := int8(v >> (len(b) - 1 - i) & 1)
		if x >= 0 && x != bit {
			return false
		}
	}
	return true
}

func (c *comparer) ifaceNames(b []int8) []string {
	var out []string
	for i, ifc := range c.s.Ifaces {
		if matches(b, uint64(i+1)) && ifc.Name != "lo" {
			out = append(out, ifc.Name)
		}
	}
	return out
}

func flagText(v, mask uint64) string {
	names := []string{"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"}
	var set, clear []string
	for i, n := range names {
		bit := uint64(1) << i
		if mask&bit == 0 {
			continue
		}
		if v&bit != 0 {
			set = append(set, n)
		} else {
			clear = append(clear, "!"+n)
		}
	}
	return strings.Join(append(set, clear...), ",")
}

var _ = bdd.False
