package ext

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
)

// The connlimit match (-m connlimit, libxt_connlimit revision 1 and the
// kernel's xt_connlimit with nf_conncount) counts the connections of the
// packet's source (or destination) address group and matches when there
// are more than --connlimit-above (or at most --connlimit-upto). Like the
// kernel, each rule keeps its own lists of connection tuples per group,
// adds the packet's connection, and drops from a list the connections
// the conntrack table no longer holds (or that are closing: TCP TIME_WAIT
// and CLOSE), which it asks through the ConnTable interface
// (conn_extras.go). The counts start afresh with every load and rebuild
// as packets pass, as in the kernel.

// XT_CONNLIMIT_* flags.
const (
	clInvert = 1 << 0
	clDaddr  = 1 << 1
)

// connlimitGCMax is CONNCOUNT_GC_MAX_NODES: how many closed connections
// one packet removes from a list at most.
const connlimitGCMax = 8

func init() {
	RegisterMatch(&MatchType{
		// The kernel runs connection tracking for rules using it.
		Conntrack: true,
		Name:      "connlimit",
		Family:    AnyFamily,
		Options: []Option{
			{Name: "connlimit-upto", Arg: OneArg, Invert: true, Excludes: []string{"connlimit-above"}},
			{Name: "connlimit-above", Arg: OneArg, Invert: true, Excludes: []string{"connlimit-upto"}},
			{Name: "connlimit-mask", Arg: OneArg},
			{Name: "connlimit-saddr", Excludes: []string{"connlimit-daddr"}},
			{Name: "connlimit-daddr", Excludes: []string{"connlimit-saddr"}},
		},
		New: func() Match { return &connlimitMatch{} },
	})
}

// connlimitMatch is one -m connlimit in a rule (struct
// xt_connlimit_info).
type connlimitMatch struct {
	limit   uint32
	flags   uint8
	given   bool
	maskArg string
	mask    netip.Addr
}

// Parse implements Parser.
func (m *connlimitMatch) Parse(opt, arg string, invert bool, _ *Args) error {
	switch opt {
	case "connlimit-upto", "connlimit-above":
		v, ok := StrtoulFull(arg, 0, 0, 1<<32-1)
		if !ok {
			return fmt.Errorf("bad value %q, or out of range (0-4294967295)", arg)
		}
		m.limit, m.given = uint32(v), true
		if (opt == "connlimit-upto") != invert {
			m.flags |= clInvert
		}
	case "connlimit-mask":
		m.maskArg = arg
	case "connlimit-saddr":
		m.flags &^= clDaddr
	case "connlimit-daddr":
		m.flags |= clDaddr
	default:
		return fmt.Errorf("unknown option --%s", opt)
	}
	return nil
}

// Finish implements Parser.
func (m *connlimitMatch) Finish(r *RuleInfo) error {
	bits := 32
	if r.Family == IPv6 {
		bits = 128
	}
	m.mask = PrefixMask(bits, bits)
	if m.maskArg != "" {
		// XTTYPE_PLENMASK: a prefix length or a mask.
		if v, ok := StrtoulFull(m.maskArg, 0, 0, uint64(bits)); ok {
			m.mask = PrefixMask(bits, int(v))
		} else if a, err := netip.ParseAddr(m.maskArg); err == nil && a.BitLen() == bits {
			m.mask = a
		} else {
			return fmt.Errorf("--connlimit-mask: bad value %q: neither a valid network mask nor a prefix length (0-%d)", m.maskArg, bits)
		}
	}
	if !m.given {
		return fmt.Errorf("you must specify --connlimit-above or --connlimit-upto")
	}
	return nil
}

// maskBits is libxt_connlimit's count_bits4/count_bits6: the prefix
// length of a prefix mask (and a number of sorts for any other mask).
func (m *connlimitMatch) maskBits() int {
	b := m.mask.AsSlice()
	bits := 0
	for i := 0; i+4 <= len(b); i += 4 {
		for w := ^binary.BigEndian.Uint32(b[i:]); w != 0; w >>= 1 {
			bits++
		}
	}
	return len(b)*8 - bits
}

// Save implements Parser.
func (m *connlimitMatch) Save(b *strings.Builder) {
	if m.flags&clInvert != 0 {
		b.WriteString(" --connlimit-upto ")
	} else {
		b.WriteString(" --connlimit-above ")
	}
	b.WriteString(strconv.FormatUint(uint64(m.limit), 10))
	if m.mask.IsValid() {
		b.WriteString(" --connlimit-mask " + strconv.Itoa(m.maskBits()))
	}
	if m.flags&clDaddr != 0 {
		b.WriteString(" --connlimit-daddr")
	} else {
		b.WriteString(" --connlimit-saddr")
	}
}

// Print implements Parser.
func (m *connlimitMatch) Print(b *strings.Builder, _ bool) {
	side, op := "src", ">"
	if m.flags&clDaddr != 0 {
		side = "dst"
	}
	if m.flags&clInvert != 0 {
		op = "<="
	}
	fmt.Fprintf(b, " #conn %s/%d %s %d", side, m.maskBits(), op, m.limit)
}

// Compile implements Match: fresh, empty lists for the rule.
func (m *connlimitMatch) Compile(c *Compiler) (Matcher, error) {
	mask := m.mask
	if !mask.IsValid() {
		mask = PrefixMask4(32)
	}
	return &connlimitMatcher{m: *m, mask: ToAddr16(mask), hz: c.HZ, lists: map[clKey]*clList{}}, nil
}

// clKey is a group: the masked address and the conntrack zone.
type clKey struct {
	addr Addr16
	zone uint16
}

// clConn is one counted connection (struct nf_conncount_tuple).
type clConn struct {
	tuple ConnTuple
	zone  uint16
}

// clList is the connections of one group (struct nf_conncount_list).
type clList struct {
	conns []clConn
}

// connlimitMatcher is the compiled rule with its lists.
type connlimitMatcher struct {
	m     connlimitMatch
	mask  Addr16
	hz    int
	mu    sync.Mutex
	lists map[clKey]*clList
}

// packetTuple is the packet's connection: its entry's original tuple, or,
// for a packet without one, the tuple read from the packet itself
// (nf_ct_get_tuplepr); ok is false when even that fails.
func packetTuple(c *Ctx) (t ConnTuple, zone uint16, ok bool) {
	if conn := c.Conn; conn != nil {
		t.Src, t.Dst, t.SrcPort, t.DstPort = conn.Tuple(0)
		t.Proto = conn.Proto()
		if z, isZ := conn.(ZoneConn); isZ {
			zone = z.Zone()
		}
		return t, zone, true
	}
	p := c.Pkt
	t.Src, t.Dst, t.Proto = p.Src, p.Dst, p.Proto
	switch p.Proto {
	case 6, 17, 132, 33, 136:
		if !p.L4Fixed {
			return t, 0, false
		}
		t.SrcPort, t.DstPort = p.SrcPort, p.DstPort
	case 1, 58:
		if !p.L4Fixed {
			return t, 0, false
		}
		t.SrcPort, t.DstPort = p.ICMPID, uint16(p.ICMPType)<<8|uint16(p.ICMPCode)
	}
	return t, zone, true
}

// count is nf_conncount_count for this rule: it cleans the group's list,
// adds the packet's connection unless it is there, and returns how many
// there are.
func (cm *connlimitMatcher) count(c *Ctx) (n int, ok bool) {
	t, zone, ok := packetTuple(c)
	if !ok {
		return 0, false
	}
	a := c.Pkt.Src
	if cm.m.flags&clDaddr != 0 {
		a = c.Pkt.Dst
	}
	k := clKey{addr: ToAddr16(a).And(cm.mask), zone: zone}
	var table ConnTable
	if tc, isT := c.Conn.(TableConn); isT {
		table = tc.ConnTable()
	}
	cm.mu.Lock()
	defer cm.mu.Unlock()
	l := cm.lists[k]
	if l == nil {
		l = &clList{}
		cm.lists[k] = l
	}
	// The kernel walks the list, dropping closed connections (at most
	// connlimitGCMax+1 per packet) until it meets the packet's own; it
	// stops there, or adds the packet's connection at the end.
	collect := 0
	kept := l.conns[:0]
	exists, stopped := false, false
	for _, cn := range l.conns {
		if exists || stopped {
			kept = append(kept, cn)
			continue
		}
		if collect > connlimitGCMax {
			stopped = true
			kept = append(kept, cn)
			continue
		}
		if table != nil && !table.ConnAlive(cn.tuple, cn.zone) {
			collect++
			continue
		}
		if cn.tuple == t && cn.zone == zone {
			exists = true
		}
		kept = append(kept, cn)
	}
	clear(l.conns[len(kept):])
	l.conns = kept
	if !exists {
		l.conns = append(l.conns, clConn{tuple: t, zone: zone})
	}
	return len(l.conns), true
}

// Match implements Matcher. A packet whose connection cannot be formed
// is dropped by the kernel (hotdrop); here it does not match.
func (cm *connlimitMatcher) Match(c *Ctx) bool {
	n, ok := cm.count(c)
	if !ok {
		return false
	}
	return (uint64(n) > uint64(cm.m.limit)) != (cm.m.flags&clInvert != 0)
}

// Explain implements Explainer.
func (cm *connlimitMatcher) Explain(c *Ctx, matched bool) string {
	t, zone, ok := packetTuple(c)
	if !ok {
		return "connlimit: the packet's connection tuple cannot be read; the kernel drops it"
	}
	a := t.Src
	side := "source"
	if cm.m.flags&clDaddr != 0 {
		a, side = t.Dst, "destination"
	}
	if c.Conn == nil {
		a = c.Pkt.Src
		if cm.m.flags&clDaddr != 0 {
			a = c.Pkt.Dst
		}
	}
	k := clKey{addr: ToAddr16(a).And(cm.mask), zone: zone}
	cm.mu.Lock()
	n := 0
	if l := cm.lists[k]; l != nil {
		n = len(l.conns)
	}
	cm.mu.Unlock()
	op := "more than"
	if cm.m.flags&clInvert != 0 {
		op = "at most"
	}
	note := ""
	if _, isT := c.Conn.(TableConn); !isT {
		note = " (no conntrack table to drop closed connections from the count)"
	}
	return fmt.Sprintf("connlimit: %s %s/%d has %d connections, the rule asks for %s %d%s", side, a, cm.m.maskBits(), n, op, cm.m.limit, note)
}
