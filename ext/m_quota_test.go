package ext

import "testing"

func TestQuotaHelperPhysdevCPU(t *testing.T) {
	for _, tc := range []struct{ rule, chain, save, print string }{
		{"-m quota ! --quota 1000", "INPUT", " ! --quota 1000", " quota: 1000 bytes"},
		{"-m helper ! --helper ftp", "INPUT", " ! --helper ftp", " helper match ! \"ftp\""},
		{"-m helper --helper \"a b\"", "INPUT", " --helper \"a b\"", " helper match \"a b\""},
		{"-m physdev ! --physdev-in eth0 --physdev-is-bridged", "FORWARD", " ! --physdev-in eth0 --physdev-is-bridged", " PHYSDEV match ! --physdev-in eth0 --physdev-is-bridged"},
		{"-m cpu ! --cpu 3", "INPUT", " ! --cpu 3", " cpu ! 3"},
	} {
		insts, _, _, err := sfBuild(tc.rule, IPv4, "filter", tc.chain)
		if err != nil {
			t.Fatalf("%s: %v", tc.rule, err)
		}
		save, print, _ := sfSavePrint(insts[0].m)
		if save != tc.save || print != tc.print {
			t.Errorf("%s: %q %q, want %q %q", tc.rule, save, print, tc.save, tc.print)
		}
	}
	if err := sfParseErr("-m physdev --physdev-out eth0", IPv4, "filter", "FORWARD"); err == nil {
		t.Error("--physdev-out without --physdev-is-bridged in FORWARD")
	}
	if insts, _, _, _ := sfBuild("-m cpu --cpu 0", IPv4, "filter", "INPUT"); insts != nil {
		if _, err := insts[0].m.Compile(NewCompiler(nil)); err == nil {
			t.Error("cpu compiled")
		}
	}

	p := sfPkt("192.0.2.1", "198.51.100.1", 17, 1, 2, 400)
	c := sfCtx(p, Forward, 0)
	_, q := sfMatch(t, "-m quota --quota 1000", IPv4, "filter", "INPUT", nil)
	if a, b, d := q.Match(c), q.Match(c), q.Match(c); !a || !b || d {
		t.Error("quota 1000: two packets of 400")
	}
	p.TotalLen = 100
	if q.Match(c) {
		t.Error("an exhausted quota stays exhausted")
	}
	_, pd := sfMatch(t, "-m physdev ! --physdev-is-bridged", IPv4, "filter", "FORWARD", nil)
	_, pd2 := sfMatch(t, "-m physdev --physdev-in eth0", IPv4, "filter", "FORWARD", nil)
	if !pd.Match(c) || pd2.Match(c) {
		t.Error("physdev on unbridged packets")
	}

	master := newConn("192.0.2.1", "198.51.100.1", 3000, 21)
	master.helper = "ftp"
	data := newConn("198.51.100.1", "192.0.2.1", 20, 3001)
	data.master = master
	c.Conn = data
	for _, tc := range []struct {
		rule string
		want bool
	}{
		{"-m helper --helper ftp", true}, {"-m helper --helper ftp-21", true}, {"-m helper --helper sip", false},
		{"-m helper ! --helper ftp", false}, {"-m helper --helper ft", false},
	} {
		_, h := sfMatch(t, tc.rule, IPv4, "filter", "INPUT", nil)
		if got := h.Match(c); got != tc.want {
			t.Errorf("%s: %v", tc.rule, got)
		}
	}
	c.Conn = master
	_, h := sfMatch(t, "-m helper ! --helper ftp", IPv4, "filter", "INPUT", nil)
	if !h.Match(c) {
		t.Error("a connection without master matches ! --helper")
	}
}
