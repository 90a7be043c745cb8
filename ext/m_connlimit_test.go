package ext

import (
	"net/netip"
	"strconv"
	"testing"
)

func TestConnlimitSavePrint(t *testing.T) {
	for _, tc := range []struct {
		rule        string
		fam         Family
		save, print string
	}{
		{"-m connlimit --connlimit-above 10", IPv4, " --connlimit-above 10 --connlimit-mask 32 --connlimit-saddr", " #conn src/32 > 10"},
		{"-m connlimit ! --connlimit-above 3 --connlimit-mask 24 --connlimit-daddr", IPv4, " --connlimit-upto 3 --connlimit-mask 24 --connlimit-daddr", " #conn dst/24 <= 3"},
		{"-m connlimit --connlimit-upto 2 --connlimit-mask 255.255.0.0", IPv4, " --connlimit-upto 2 --connlimit-mask 16 --connlimit-saddr", " #conn src/16 <= 2"},
		{"-m connlimit --connlimit-upto 2 --connlimit-mask 64", IPv6, " --connlimit-upto 2 --connlimit-mask 64 --connlimit-saddr", " #conn src/64 <= 2"},
	} {
		m, _ := sfMatch(t, tc.rule, tc.fam, "filter", "INPUT", nil)
		save, print, _ := sfSavePrint(m)
		if save != tc.save || print != tc.print {
			t.Errorf("%s: save %q print %q, want %q %q", tc.rule, save, print, tc.save, tc.print)
		}
	}
	if err := sfParseErr("-m connlimit --connlimit-above 1 --connlimit-mask 33", IPv4, "filter", "INPUT"); err == nil {
		t.Error("mask 33 accepted for IPv4")
	}
}

// clTable is a conntrack table for the connlimit tests: the confirmed
// connections by both their tuples. It implements ConnTable and
// ConnFinder.
type clTable struct{ m map[ConnTuple]*clConnT }

// clConnT is a connection of a clTable: an sfConn that names its table
// and can be closing (TCP TIME_WAIT or CLOSE).
type clConnT struct {
	*sfConn
	t      *clTable
	closed bool
}

func (c *clConnT) ConnTable() ConnTable { return c.t }

func (t *clTable) ConnAlive(tu ConnTuple, zone uint16) bool {
	c := t.m[tu]
	return c != nil && !c.closed
}

func (t *clTable) FindConn(tu ConnTuple, zone uint16, now int64) (Conn, bool) {
	if c := t.m[tu]; c != nil {
		return c, c.closed
	}
	return nil, false
}

// conn returns a new, unconfirmed TCP connection of the table.
func (t *clTable) conn(src, dst string, sp, dp uint16) *clConnT {
	c := &clConnT{sfConn: newConn(src, dst, sp, dp), t: t}
	c.status = 0
	return c
}

// confirm enters c in the table (it passed every hook); assured sets
// ASSURED too (a TCP connection after its handshake).
func (t *clTable) confirm(c *clConnT, assured bool) {
	c.status |= IPSConfirmed
	if assured {
		c.status |= IPSSeenReply | IPSAssured
	}
	t.m[c.tuples[0]], t.m[c.tuples[1]] = c, c
}

// gone removes c from the table (timed out, or dropped before it was
// confirmed).
func (t *clTable) gone(c *clConnT) {
	delete(t.m, c.tuples[0])
	delete(t.m, c.tuples[1])
}

// clPktOf returns a packet of c in its original direction at time ms.
func clPktOf(c *clConnT, ms int64) *Ctx {
	tu := c.tuples[0]
	p := sfPkt(tu.Src.String(), tu.Dst.String(), 6, tu.SrcPort, tu.DstPort, 60)
	cx := sfCtx(p, LocalIn, ms*1e6)
	cx.Conn, cx.CT = c, CTEstablished
	return cx
}

// clCount returns how many connections the matcher holds for the /24 of
// addr.
func clCount(mt Matcher, addr string) int {
	cm := mt.(*connlimitMatcher)
	l := cm.lists[clKey{addr: ToAddr16(netip.MustParseAddr(addr)).And(cm.mask)}]
	if l == nil {
		return -1
	}
	return len(l.conns)
}

func TestConnlimitCounting(t *testing.T) {
	_, mt := sfMatch(t, "-m connlimit --connlimit-above 2 --connlimit-mask 24", IPv4, "filter", "INPUT", nil)
	hd := mt.(Hotdropper)
	tb := &clTable{m: map[ConnTuple]*clConnT{}}
	var conns []*clConnT
	for i := range 6 {
		conns = append(conns, tb.conn("192.0.2."+strconv.Itoa(i+1), "198.51.100.1", uint16(40000+i), 80))
	}
	ms := int64(0)
	next := func(c *clConnT) *Ctx { ms += 10; return clPktOf(c, ms) }

	// New connections are counted; the third from the /24 is above 2.
	for i, want := range []bool{false, false, true} {
		if got := mt.Match(next(conns[i])); got != want {
			t.Fatalf("new connection %d: match %v", i, got)
		}
		if i < 2 {
			tb.confirm(conns[i], true)
		}
	}
	// The third was dropped, never confirmed: the next new connection's
	// walk over the list evicts it (0, 1, 3 remain: still above 2).
	if !mt.Match(next(conns[3])) || clCount(mt, "192.0.2.1") != 3 {
		t.Fatalf("after the dropped connection: %d counted, want 3", clCount(mt, "192.0.2.1"))
	}
	tb.confirm(conns[3], false)

	// A confirmed, assured connection that is not in the list is not
	// added: its packet only cleans the list (still 0, 1, 3).
	tb.confirm(conns[4], true)
	if !mt.Match(next(conns[4])) || clCount(mt, "192.0.2.1") != 3 {
		t.Errorf("assured connection added: %d counted, want 3", clCount(mt, "192.0.2.1"))
	}
	// A confirmed connection not yet assured (the SYN-ACK) is looked for
	// and added like a new one: 0, 1, 3, 5.
	tb.confirm(conns[5], false)
	if !mt.Match(next(conns[5])) || clCount(mt, "192.0.2.1") != 4 {
		t.Errorf("unassured confirmed connection: %d counted, want 4", clCount(mt, "192.0.2.1"))
	}
	// ... and not twice.
	if !mt.Match(next(conns[5])) || clCount(mt, "192.0.2.1") != 4 {
		t.Errorf("unassured confirmed connection again: %d counted, want 4", clCount(mt, "192.0.2.1"))
	}

	// Connections in TIME_WAIT (or CLOSE) and connections gone leave the
	// list when an assured packet cleans it: 0 closes, 1 times out.
	conns[0].closed = true
	tb.gone(conns[1])
	tb.confirm(conns[3], true)
	if mt.Match(next(conns[3])) || clCount(mt, "192.0.2.1") != 2 {
		t.Errorf("closed connections still counted: %d, want 2 (3 and 5)", clCount(mt, "192.0.2.1"))
	}

	// A closing connection's own packet finds a count of 0 once it was
	// the last one: no match, and the kernel drops the packet.
	_, mt2 := sfMatch(t, "-m connlimit --connlimit-upto 2 --connlimit-daddr", IPv4, "mangle", "POSTROUTING", nil)
	c := tb.conn("203.0.113.7", "203.0.113.50", 30541, 80)
	if !mt2.Match(clPktOf(c, 1000)) {
		t.Fatal("first packet of the connection: 1 <= 2")
	}
	tb.confirm(c, true)
	if cx := clPktOf(c, 1010); !mt2.Match(cx) || mt2.(Hotdropper).Hotdrop(cx) {
		t.Fatal("established connection: 1 <= 2, no drop")
	}
	c.closed = true
	if cx := clPktOf(c, 1020); mt2.Match(cx) || !mt2.(Hotdropper).Hotdrop(cx) {
		t.Error("final ACK in TIME_WAIT: want no match and a hotdrop")
	}
	// It stays dropped: the empty list has nothing left to clean.
	if cx := clPktOf(c, 1030); mt2.Match(cx) || !mt2.(Hotdropper).Hotdrop(cx) {
		t.Error("later packet in TIME_WAIT: want no match and a hotdrop")
	}
	// A new connection to the same address starts the count again.
	c2 := tb.conn("203.0.113.8", "203.0.113.50", 30542, 80)
	if cx := clPktOf(c2, 1040); !mt2.Match(cx) || mt2.(Hotdropper).Hotdrop(cx) {
		t.Error("new connection after the closed one: 1 <= 2")
	}

	// A match that does not hold is no hotdrop.
	if cx := next(conns[5]); mt.Match(cx) || hd.Hotdrop(cx) {
		t.Error("2 of the /24 are not above 2, and no drop")
	}
	cx := next(conns[5])
	sfNoAlloc(t, "connlimit", func() { mt.Match(cx) })
}

func TestConnlimitJiffy(t *testing.T) {
	_, mt := sfMatch(t, "-m connlimit --connlimit-above 1 --connlimit-mask 24", IPv4, "filter", "INPUT", nil)
	tb := &clTable{m: map[ConnTuple]*clConnT{}}
	a := tb.conn("192.0.2.1", "198.51.100.1", 40000, 80)
	b := tb.conn("192.0.2.2", "198.51.100.1", 40001, 80)
	// HZ 250: 4 ms a jiffy. a's list is made at 100 ms (jiffy 25).
	mt.Match(clPktOf(a, 100))
	// a is dropped, so never confirmed. b within the same jiffy is
	// appended without a walk: a is not evicted yet.
	if !mt.Match(clPktOf(b, 101)) || clCount(mt, "192.0.2.1") != 2 {
		t.Fatalf("same jiffy: %d counted, want 2", clCount(mt, "192.0.2.1"))
	}
	tb.confirm(b, true)
	// An assured packet in the same jiffy does not clean the list.
	if !mt.Match(clPktOf(b, 102)) || clCount(mt, "192.0.2.1") != 2 {
		t.Errorf("GC in the same jiffy: %d counted, want 2", clCount(mt, "192.0.2.1"))
	}
	// The next jiffy's does.
	if mt.Match(clPktOf(b, 104)) || clCount(mt, "192.0.2.1") != 1 {
		t.Errorf("GC in the next jiffy: %d counted, want 1", clCount(mt, "192.0.2.1"))
	}
}

func TestConnlimitNoEntry(t *testing.T) {
	_, mt := sfMatch(t, "-m connlimit --connlimit-upto 1 --connlimit-mask 0", IPv4, "filter", "FORWARD", nil)
	tb := &clTable{m: map[ConnTuple]*clConnT{}}
	a := tb.conn("192.0.2.1", "198.51.100.1", 40000, 80)
	// A tracked packet lets the rule learn the table.
	if !mt.Match(clPktOf(a, 10)) {
		t.Fatal("first")
	}
	tb.confirm(a, false)
	// A packet without an entry (invalid) in a's reply direction: its
	// tuple, read from the packet, finds a (confirmed, not assured), so
	// it is looked for in the list and, being a's reply tuple, added.
	p := sfPkt("198.51.100.1", "192.0.2.1", 6, 80, 40000, 40)
	cx := sfCtx(p, Forward, 20e6)
	cx.CT = CTInvalid
	if mt.Match(cx) || clCount(mt, "0.0.0.0") != 2 {
		t.Errorf("reply tuple of an unassured connection: %d counted, want 2", clCount(mt, "0.0.0.0"))
	}
	// Once a is assured, such a packet only cleans the list.
	tb.confirm(a, true)
	cx = sfCtx(p, Forward, 30e6)
	cx.CT = CTInvalid
	if mt.Match(cx) || clCount(mt, "0.0.0.0") != 2 {
		t.Errorf("assured: %d counted, want 2", clCount(mt, "0.0.0.0"))
	}
	// Untracked packets of no connection are added, and dropped ones
	// evicted by the next walk.
	for i := range 3 {
		q := sfPkt("203.0.113."+strconv.Itoa(i+1), "198.51.100.1", 17, 1000, 53, 40)
		cq := sfCtx(q, Forward, int64(40+10*i)*1e6)
		cq.CT = CTUntracked
		mt.Match(cq)
	}
	if n := clCount(mt, "0.0.0.0"); n != 3 {
		t.Errorf("untracked: %d counted, want 3 (a, its reply tuple, the last datagram)", n)
	}
	// A later fragment has no tuple: dropped.
	f := sfPkt("203.0.113.9", "198.51.100.1", 17, 0, 0, 40)
	f.FragOff, f.L4 = 10, nil
	cf := sfCtx(f, Forward, 100e6)
	if mt.Match(cf) || !mt.(Hotdropper).Hotdrop(cf) {
		t.Error("later fragment: want no match and a hotdrop")
	}
}
