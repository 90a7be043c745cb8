package ext

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/ipsift/ipsift/packet"
)

// The connlimit match (-m connlimit, libxt_connlimit revision 1 and the
// kernel's xt_connlimit with nf_conncount) counts the connections of the
// packet's source (or destination) address group and matches when there
// are more than --connlimit-above (or at most --connlimit-upto). Like the
// kernel, each rule keeps its own lists of connection tuples per group,
// adds the packet's connection, and drops from a list the connections
// the conntrack table no longer holds (or that are closing: TCP TIME_WAIT
// and CLOSE), which it asks through the ConnTable and ConnFinder
// interfaces. The counts start afresh with every load and rebuild as
// packets pass, as in the kernel.
//
// The counting is that of the 6.18.y stable kernels, which carry the
// 2025/2026 nf_conncount rework (upstream be102eb6a0e7 "rework API to use
// sk_buff directly" and its follow-ups: "update the count if add was
// skipped" 69894e5b4c5e, "fix leaked ct in error paths", "reduce
// unnecessary GC" with its per-jiffy last_gc, "increase the connection
// clean up limit to 64", "fix tracking of connections from localhost"
// and its replacement, the ASSURED check that fixed the regression
// reported as "Network failure beyond first connection after
// 69894e5b4c5e"): a packet of a confirmed, assured connection is not
// added but cleans its group's list, and when that leaves the list empty
// (the packet's own connection was the last and is closing, as the final
// ACK of a close in TIME_WAIT) xt_connlimit drops the packet. See count.

// XT_CONNLIMIT_* flags.
const (
	clInvert = 1 << 0
	clDaddr  = 1 << 1
)

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
	hz := c.HZ
	if hz <= 0 {
		hz = 250
	}
	ref := c.Shared("connlimit.conntrack-table", func() any { return &clTableRef{} }).(*clTableRef)
	return &connlimitMatcher{m: *m, mask: ToAddr16(mask), hz: hz, table: ref, lists: map[clKey]*clList{}}, nil
}

// clKey is a group: the masked address and the conntrack zone (the key
// xt_connlimit builds).
type clKey struct {
	addr Addr16
	zone uint16
}

// clConn is one counted connection (struct nf_conncount_tuple).
type clConn struct {
	tuple ConnTuple
	zone  uint16
}

// clList is the connections of one group (struct nf_conncount_list):
// lastGC is the jiffy (u32) of its latest clean-up and lastGCCount its
// length then.
type clList struct {
	conns       []clConn
	lastGC      uint32
	lastGCCount uint32
}

// clTableRef remembers the conntrack table for the packets that come
// without an entry (invalid, untracked): the kernel looks their tuple up
// in the table, but such a Ctx has no Conn to name it. Every connlimit
// rule of an engine (one Store) shares it and learns the table from the
// first packet that has an entry.
type clTableRef struct{ p atomic.Pointer[clTableBox] }

type clTableBox struct{ t ConnTable }

func (r *clTableRef) get() ConnTable {
	if b := r.p.Load(); b != nil {
		return b.t
	}
	return nil
}

func (r *clTableRef) learn(t ConnTable) {
	if b := r.p.Load(); b == nil || b.t != t {
		r.p.Store(&clTableBox{t: t})
	}
}

// connlimitMatcher is the compiled rule with its lists (the rule's
// nf_conncount_data).
type connlimitMatcher struct {
	m     connlimitMatch
	mask  Addr16
	hz    int
	table *clTableRef
	mu    sync.Mutex
	lists map[clKey]*clList
}

// clPacket is what nf_conncount makes of a packet
// (get_ct_or_tuple_from_skb): the tuple to count and, when the packet
// belongs to a connection, that connection.
type clPacket struct {
	tuple ConnTuple
	zone  uint16
	conn  Conn // the packet's entry, or the one the lookup found; nil for none
}

// nf_conncount's outcomes of adding a packet's connection to a list.
// (-ENOENT, the tuple cannot be read, is handled before: count 0.)
const (
	clAdded   = iota // added, or already there
	clSkipped        // -EEXIST: an assured connection, not added; the list is cleaned instead
)

// clGCMaxCollect is CONNCOUNT_GC_MAX_COLLECT: how many connections one
// walk over a list removes before it stops (the 6.18.y stable kernels
// raised it from CONNCOUNT_GC_MAX_NODES, 8, to 64).
const clGCMaxCollect = 64

// packetTuple is the tuple nf_ct_get_tuplepr reads from a packet that
// has no conntrack entry: addresses, protocol and, for TCP, UDP,
// UDP-Lite, SCTP and DCCP, the ports (the first 4 bytes of the header),
// for ICMP and ICMPv6 the echo id and type<<8|code (the 8-byte header),
// nothing more for other protocols (GRE included); ok is false
// when those bytes are not there or the packet is a later fragment.
// An IPv6 packet's protocol is found as conntrack finds it
// (ipv6_get_l4proto: ipv6_skip_exthdr), which fails on No Next Header,
// on a truncated extension header chain and on a later fragment.
func packetTuple(p *packet.Packet) (t ConnTuple, ok bool) {
	if p.IsLaterFragment() {
		return t, false
	}
	t.Src, t.Dst, t.Proto = p.Src, p.Dst, p.Proto
	l4 := p.L4
	if p.Version == 6 {
		w := p.ConntrackProto()
		if w.Err != packet.ExtOK || w.FragOff != 0 || w.Off > len(p.Data) {
			return t, false
		}
		t.Proto, l4 = w.Proto, p.Data[w.Off:]
	}
	switch t.Proto {
	case 6, 17, 136, 132, 33:
		if len(l4) < 4 {
			return t, false
		}
		t.SrcPort = binary.BigEndian.Uint16(l4)
		t.DstPort = binary.BigEndian.Uint16(l4[2:])
	case 1, 58:
		if len(l4) < 8 {
			return t, false
		}
		t.SrcPort = binary.BigEndian.Uint16(l4[4:])
		t.DstPort = uint16(l4[0])<<8 | uint16(l4[1])
	}
	return t, true
}

// connZone is the conntrack zone of a packet's entry (0 without one).
func connZone(c Conn) uint16 {
	if z, ok := c.(ZoneConn); ok {
		return z.Zone()
	}
	return 0
}

// tableOf returns the conntrack table: the engine's (Ctx.Conns), or, for
// a caller that gives none, the one learnt from a packet's entry.
func (cm *connlimitMatcher) tableOf(c *Ctx) ConnTable {
	if c.Conns != nil {
		return c.Conns
	}
	if tc, ok := c.Conn.(TableConn); ok {
		if t := tc.ConnTable(); t != nil {
			cm.table.learn(t)
			return t
		}
	}
	return cm.table.get()
}

// find looks a tuple up in the table as nf_conntrack_find_get does:
// the confirmed connection, and whether it is closing (TCP TIME_WAIT or
// CLOSE). A table that only answers ConnAlive reports a closing
// connection as gone; without a table nothing is found.
func find(table ConnTable, t ConnTuple, zone uint16, now int64) (c Conn, found, closed bool) {
	switch tb := table.(type) {
	case nil:
		return nil, false, false
	case ConnFinder:
		c, closed = tb.FindConn(t, zone, now)
		return c, c != nil, closed
	default:
		return nil, tb.ConnAlive(t, zone), false
	}
}

// packetConn is get_ct_or_tuple_from_skb: a packet with an entry
// counts the entry's original tuple; one without counts the tuple read
// from the packet (in its own direction) and belongs to the confirmed
// connection that tuple finds, if any. ok is false when the tuple
// cannot be read.
func packetConn(c *Ctx, table ConnTable) (pc clPacket, ok bool) {
	if conn := c.Conn; conn != nil {
		pc.tuple.Src, pc.tuple.Dst, pc.tuple.SrcPort, pc.tuple.DstPort = conn.Tuple(0)
		pc.tuple.Proto = conn.Proto()
		pc.zone, pc.conn = connZone(conn), conn
		return pc, true
	}
	if pc.tuple, ok = packetTuple(c.Pkt); !ok {
		return pc, false
	}
	pc.conn, _, _ = find(table, pc.tuple, 0, c.Now)
	return pc, true
}

// groupKey is the packet's group: its source (or destination with
// --connlimit-daddr) masked, and the zone of its entry.
func (cm *connlimitMatcher) groupKey(c *Ctx) clKey {
	a := c.Pkt.Src
	if cm.m.flags&clDaddr != 0 {
		a = c.Pkt.Dst
	}
	return clKey{addr: ToAddr16(a).And(cm.mask), zone: connZone(c.Conn)}
}

// count is nf_conncount_count_skb for this rule: the number of
// connections of the packet's group, after counting the packet's own;
// 0 tells xt_connlimit to drop the packet.
//
//   - A group seen for the first time gets a list holding the packet's
//     connection (count 1), whatever its state (insert_tree).
//   - The connection of a packet whose entry is confirmed and ASSURED is
//     not added: the list is cleaned instead (connections gone, or TCP
//     in TIME_WAIT or CLOSE, leave it) unless that was done in this
//     jiffy already, and what remains is the count. A closing
//     connection's own packets thus find a count of 0 once it was the
//     last one, and are dropped.
//   - Any other packet's connection (new, not yet assured, untracked,
//     invalid) is added unless the list holds it already: the walk over
//     the list that looks for it cleans the list on the way, except
//     that within the jiffy of the last clean-up an unconfirmed
//     connection is appended without the walk (fewer than 64 added
//     since).
//   - An empty list (the kernel keeps its node until the tree is
//     cleaned) is not cleaned again when the add is skipped.
func (cm *connlimitMatcher) count(c *Ctx) int {
	table := cm.tableOf(c)
	pc, ok := packetConn(c, table)
	k := cm.groupKey(c)
	j := uint32(Jiffies(c.Now, cm.hz))
	cm.mu.Lock()
	defer cm.mu.Unlock()
	l := cm.lists[k]
	if l == nil {
		if !ok {
			return 0
		}
		l = &clList{lastGC: j}
		l.conns = append(l.conns, clConn{tuple: pc.tuple, zone: pc.zone})
		cm.lists[k] = l
		return 1
	}
	if !ok {
		return 0
	}
	if cm.add(l, pc, table, j, c.Now) == clSkipped && len(l.conns) > 0 {
		cm.gc(l, table, j, c.Now)
	}
	return len(l.conns)
}

// add is __nf_conncount_add.
func (cm *connlimitMatcher) add(l *clList, pc clPacket, table ConnTable, j uint32, now int64) int {
	if pc.conn != nil && pc.conn.Status()&IPSConfirmed != 0 {
		// Confirmed: skipped when assured; one still being set up (a
		// SYN-ACK, a second datagram before the answer) is looked for
		// and added like a new one, even within the jiffy.
		if pc.conn.Status()&IPSAssured != 0 {
			return clSkipped
		}
	} else if j == l.lastGC && uint32(len(l.conns))-l.lastGCCount < clGCMaxCollect {
		l.conns = append(l.conns, clConn{tuple: pc.tuple, zone: pc.zone})
		return clAdded
	}
	collect, exists := 0, false
	w := 0
	for r := range l.conns {
		cn := l.conns[r]
		if exists || collect > clGCMaxCollect {
			l.conns[w] = cn
			w++
			continue
		}
		_, found, closed := find(table, cn.tuple, cn.zone, now)
		switch {
		case !found:
			// Gone, or never confirmed (nf_conncount evicts those this
			// CPU added, or older than two jiffies: every one here).
			collect++
			continue
		case cn.tuple == pc.tuple && cn.zone == pc.zone:
			// Counted already (even when closing); stop looking.
			exists = true
		case closed:
			collect++
			continue
		}
		l.conns[w] = cn
		w++
	}
	clear(l.conns[w:])
	l.conns = l.conns[:w]
	if exists {
		return clAdded
	}
	l.lastGC, l.lastGCCount = j, uint32(len(l.conns))
	l.conns = append(l.conns, clConn{tuple: pc.tuple, zone: pc.zone})
	return clAdded
}

// gc is nf_conncount_gc_list: once per jiffy, the connections that are
// gone or closing leave the list (the walk stops at the first live one
// after more than 64 were removed).
func (cm *connlimitMatcher) gc(l *clList, table ConnTable, j uint32, now int64) {
	if j == l.lastGC {
		return
	}
	collected, stop := 0, false
	w := 0
	for r := range l.conns {
		cn := l.conns[r]
		if !stop {
			if _, found, closed := find(table, cn.tuple, cn.zone, now); !found || closed {
				collected++
				continue
			}
			stop = collected > clGCMaxCollect
		}
		l.conns[w] = cn
		w++
	}
	clear(l.conns[w:])
	l.conns = l.conns[:w]
	l.lastGC, l.lastGCCount = j, uint32(len(l.conns))
}

// Match implements Matcher: more than --connlimit-above connections in
// the group (or at most --connlimit-upto). A count of 0 (the packet's
// tuple cannot be read, or its own closing connection was the last one
// and left the list) makes xt_connlimit drop the packet: Match is false
// and Hotdrop true then.
func (cm *connlimitMatcher) Match(c *Ctx) bool {
	n := cm.count(c)
	if n == 0 {
		return false
	}
	return (uint64(n) > uint64(cm.m.limit)) != (cm.m.flags&clInvert != 0)
}

// Hotdrop implements Hotdropper: after Match, the packet is dropped when
// its group's count came out 0, which leaves the group's list empty (or
// absent when the tuple could not be read).
func (cm *connlimitMatcher) Hotdrop(c *Ctx) bool {
	if c.Conn == nil {
		if _, ok := packetTuple(c.Pkt); !ok {
			return true
		}
	}
	k := cm.groupKey(c)
	cm.mu.Lock()
	l := cm.lists[k]
	empty := l == nil || len(l.conns) == 0
	cm.mu.Unlock()
	return empty
}

// Explain implements Explainer.
func (cm *connlimitMatcher) Explain(c *Ctx, matched bool) string {
	if c.Conn == nil {
		if _, ok := packetTuple(c.Pkt); !ok {
			return "connlimit: the packet's connection tuple cannot be read; the kernel drops it"
		}
	}
	k := cm.groupKey(c)
	side := "source"
	a := c.Pkt.Src
	if cm.m.flags&clDaddr != 0 {
		a, side = c.Pkt.Dst, "destination"
	}
	cm.mu.Lock()
	n := 0
	if l := cm.lists[k]; l != nil {
		n = len(l.conns)
	}
	cm.mu.Unlock()
	if n == 0 {
		return fmt.Sprintf("connlimit: %s %s/%d has no connection left (the packet's own has closed); the kernel drops the packet", side, a, cm.m.maskBits())
	}
	op := "more than"
	if cm.m.flags&clInvert != 0 {
		op = "at most"
	}
	note := ""
	if cm.table.get() == nil {
		note = " (no conntrack table known yet to find closed connections in)"
	}
	return fmt.Sprintf("connlimit: %s %s/%d has %d connections, the rule asks for %s %d%s", side, a, cm.m.maskBits(), n, op, cm.m.limit, note)
}
