package ext

import "testing"

func TestMarkConnmark(t *testing.T) {
	for _, tc := range []struct{ rule, save, print string }{
		{"-m mark --mark 0x10/0xf0", " --mark 0x10/0xf0", " mark match 0x10/0xf0"},
		{"-m mark ! --mark 5", " ! --mark 0x5", " mark match ! 0x5"},
		{"-m connmark --mark 0x1", " --mark 0x1", " connmark match  0x1"},
		{"-m connmark ! --mark 0x1/0x3", " ! --mark 0x1/0x3", " connmark match ! 0x1/0x3"},
	} {
		m, _ := sfMatch(t, tc.rule, IPv4, "mangle", "PREROUTING", nil)
		save, print, _ := sfSavePrint(m)
		if save != tc.save || print != tc.print {
			t.Errorf("%s: save %q print %q, want %q %q", tc.rule, save, print, tc.save, tc.print)
		}
	}
	p := sfPkt("192.0.2.1", "198.51.100.1", 6, 1, 2, 40)
	c := sfCtx(p, PreRouting, 0)
	c.Mark = 0x12
	_, mt := sfMatch(t, "-m mark --mark 0x10/0xf0", IPv4, "mangle", "PREROUTING", nil)
	if !mt.Match(c) {
		t.Error("mark 0x12 & 0xf0 == 0x10")
	}
	_, ct := sfMatch(t, "-m connmark ! --mark 0x1", IPv4, "mangle", "PREROUTING", nil)
	if ct.Match(c) {
		t.Error("connmark without a connection matched")
	}
	conn := newConn("192.0.2.1", "198.51.100.1", 1, 2)
	conn.mark = 2
	c.Conn = conn
	if !ct.Match(c) {
		t.Error("connmark ! 0x1 with ctmark 2")
	}
	sfNoAlloc(t, "connmark", func() { ct.Match(c); mt.Match(c) })
}
