package ext

import (
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

func TestConnlimitCounting(t *testing.T) {
	_, mt := sfMatch(t, "-m connlimit --connlimit-above 2 --connlimit-mask 24", IPv4, "filter", "INPUT", nil)
	table := &sfTable{live: map[ConnTuple]bool{}}
	conns := make([]*sfConn, 5)
	ctx := func(i int, src string) *Ctx {
		if conns[i] == nil {
			conns[i] = newConn(src, "198.51.100.1", uint16(40000+i), 80)
			conns[i].table = table
		}
		p := sfPkt(src, "198.51.100.1", 6, uint16(40000+i), 80, 60)
		c := sfCtx(p, LocalIn, int64(i)*1e6)
		c.Conn, c.CT = conns[i], CTNew
		return c
	}
	// Three connections from the same /24: the third is above 2. The
	// first two are confirmed (enter the table) after their packet.
	if mt.Match(ctx(0, "192.0.2.1")) {
		t.Fatal("first")
	}
	table.live[conns[0].tuples[0]] = true
	if mt.Match(ctx(1, "192.0.2.2")) {
		t.Fatal("second")
	}
	table.live[conns[1].tuples[0]] = true
	if !mt.Match(ctx(2, "192.0.2.3")) {
		t.Fatal("third connection from the /24 is above 2")
	}
	// A packet of a counted connection is not counted again.
	if !mt.Match(ctx(2, "192.0.2.3")) {
		t.Error("still 3")
	}
	// The third was dropped and never confirmed: it leaves the count,
	// the fourth takes its place (0, 1, 3: still above 2).
	if !mt.Match(ctx(3, "192.0.2.4")) {
		t.Error("0, 1 and 3 are three connections")
	}
	if n := len(mt.(*connlimitMatcher).lists[clKey{addr: ToAddr16(conns[0].tuples[0].Src).And(mt.(*connlimitMatcher).mask)}].conns); n != 3 {
		t.Errorf("%d connections in the list, want 3", n)
	}
	// Two close: 3 and 4 remain.
	delete(table.live, conns[0].tuples[0])
	delete(table.live, conns[1].tuples[0])
	table.live[conns[3].tuples[0]] = true
	if mt.Match(ctx(4, "192.0.2.5")) {
		t.Error("closed connections still counted")
	}
	// Another /24 has its own count.
	c := ctx(4, "192.0.2.5")
	sfNoAlloc(t, "connlimit", func() { mt.Match(c) })
	for i := 0; i < 3; i++ {
		p := sfPkt("203.0.113."+strconv.Itoa(i+1), "198.51.100.1", 6, 1000, 80, 60)
		cc := sfCtx(p, LocalIn, 0)
		cc.CT = CTUntracked
		if got := mt.Match(cc); got != (i == 2) {
			t.Errorf("untracked packet %d: %v", i, got)
		}
	}
}
