package ext

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/ipsift/ipsift/packet"
)

// Test helpers shared by the stateful matches' tests: a fake conntrack
// entry, packet builders, and a one-call parse of a match.

// sfConn is a conntrack entry for tests; it implements Conn and the
// optional interfaces of conn_extras.go.
type sfConn struct {
	mark    uint32
	status  uint32
	proto   uint8
	tuples  [2]ConnTuple
	expires int64 // absolute, engine ns
	reply   bool
	zone    uint16
	pkts    [2]uint64
	bytes   [2]uint64
	master  Conn
	helper  string
	labels  [2]uint64
	table   *sfTable
}

func (c *sfConn) Mark() uint32     { return c.mark }
func (c *sfConn) SetMark(m uint32) { c.mark = m }
func (c *sfConn) Status() uint32   { return c.status }
func (c *sfConn) Proto() uint8     { return c.proto }
func (c *sfConn) Reply() bool      { return c.reply }
func (c *sfConn) Expires(now int64) int64 {
	return c.expires - now
}
func (c *sfConn) Tuple(dir int) (src, dst netip.Addr, sport, dport uint16) {
	t := c.tuples[dir]
	return t.Src, t.Dst, t.SrcPort, t.DstPort
}
func (c *sfConn) Zone() uint16                      { return c.zone }
func (c *sfConn) Counters(dir int) (uint64, uint64) { return c.pkts[dir], c.bytes[dir] }
func (c *sfConn) Master() Conn                      { return c.master }
func (c *sfConn) HelperName() string                { return c.helper }
func (c *sfConn) Labels() [2]uint64                 { return c.labels }
func (c *sfConn) SetLabel(i uint)                   { c.labels[i/64] |= 1 << (i % 64) }
func (c *sfConn) ConnTable() ConnTable {
	if c.table == nil {
		return nil
	}
	return c.table
}

// sfTable is a conntrack table for connlimit tests: the set of live
// original tuples.
type sfTable struct{ live map[ConnTuple]bool }

func (t *sfTable) ConnAlive(tu ConnTuple, zone uint16) bool { return t.live[tu] }

// newConn returns an established TCP connection src:sp -> dst:dp.
func newConn(src, dst string, sp, dp uint16) *sfConn {
	s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
	return &sfConn{
		proto:  6,
		status: IPSSeenReply | IPSAssured | IPSConfirmed,
		tuples: [2]ConnTuple{
			{Src: s, Dst: d, SrcPort: sp, DstPort: dp, Proto: 6},
			{Src: d, Dst: s, SrcPort: dp, DstPort: sp, Proto: 6},
		},
	}
}

// sfPkt builds a decoded-looking IPv4 packet (fields set by hand).
func sfPkt(src, dst string, proto uint8, sp, dp uint16, length int) *packet.Packet {
	p := &packet.Packet{
		Version:  4,
		HdrLen:   20,
		TotalLen: length,
		TTL:      64,
		Proto:    proto,
		Src:      netip.MustParseAddr(src),
		Dst:      netip.MustParseAddr(dst),
		SrcPort:  sp,
		DstPort:  dp,
		L4OK:     true,
		L4Fixed:  true,
	}
	l4 := make([]byte, 20)
	l4[0], l4[1], l4[2], l4[3] = byte(sp>>8), byte(sp), byte(dp>>8), byte(dp)
	p.L4 = l4
	if p.Src.Is6() {
		p.Version = 6
		p.HdrLen = 40
	}
	return p
}

// sfCtx returns a Ctx for a packet in hook h at time now (ns).
func sfCtx(p *packet.Packet, h Hook, now int64) *Ctx {
	return &Ctx{Pkt: p, Hook: h, Now: now, UID: -1, GID: -1}
}

// sfMatch parses one rule (the options of exactly one match) and compiles
// it with compiler cc (a new one when nil).
func sfMatch(t *testing.T, rule string, fam Family, table, chain string, cc *Compiler) (Match, Matcher) {
	t.Helper()
	insts, _, skip, err := sfBuild(rule, fam, table, chain)
	if err != nil || skip || len(insts) != 1 {
		t.Fatalf("%s: parse: %v (skip %v, %d matches)", rule, err, skip, len(insts))
	}
	if cc == nil {
		cc = NewCompiler(nil)
		cc.Family = fam
	}
	mt, err := insts[0].m.Compile(cc)
	if err != nil {
		t.Fatalf("%s: compile: %v", rule, err)
	}
	return insts[0].m, mt
}

// sfParseErr returns the error of parsing rule (nil when it parses).
func sfParseErr(rule string, fam Family, table, chain string) error {
	_, _, _, err := sfBuild(rule, fam, table, chain)
	return err
}

// sfSavePrint returns a match's save and print (numeric and not) texts.
func sfSavePrint(m Match) (save, print, printN string) {
	var a, b, c strings.Builder
	m.Save(&a)
	m.Print(&b, false)
	m.Print(&c, true)
	return a.String(), b.String(), c.String()
}

// sfNoAlloc fails when f allocates.
func sfNoAlloc(t *testing.T, what string, f func()) {
	t.Helper()
	if n := testing.AllocsPerRun(200, f); n != 0 {
		t.Errorf("%s: %v allocations per packet, want 0", what, n)
	}
}
