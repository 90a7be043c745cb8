package ext

import "testing"

func TestStatisticSavePrint(t *testing.T) {
	for _, tc := range []struct{ rule, save, print string }{
		{"-m statistic --mode random --probability 0.25", " --mode random --probability 0.25000000000", " statistic mode random probability 0.25000000000"},
		{"-m statistic --mode random ! --probability 0.1", " --mode random ! --probability 0.10000000009", " statistic mode random ! probability 0.10000000009"},
		{"-m statistic --mode nth --every 3 --packet 0", " --mode nth --every 3 --packet 0", " statistic mode nth every 3"},
		{"-m statistic --mode nth --every 3 --packet 1", " --mode nth --every 3 --packet 1", " statistic mode nth every 3 packet 1"},
	} {
		m, _ := sfMatch(t, tc.rule, IPv4, "filter", "INPUT", nil)
		save, print, _ := sfSavePrint(m)
		if save != tc.save || print != tc.print {
			t.Errorf("%s: save %q print %q, want %q %q", tc.rule, save, print, tc.save, tc.print)
		}
	}
}

func TestStatisticNth(t *testing.T) {
	p := sfPkt("192.0.2.1", "198.51.100.1", 6, 1, 2, 40)
	c := sfCtx(p, LocalIn, 0)
	for _, tc := range []struct {
		rule string
		want string
	}{
		{"-m statistic --mode nth --every 3 --packet 0", "100100100"},
		{"-m statistic --mode nth --every 3 --packet 2", "001001001"},
		{"-m statistic --mode nth ! --every 2 --packet 1", "101010101"},
	} {
		_, mt := sfMatch(t, tc.rule, IPv4, "filter", "INPUT", nil)
		got := ""
		for i := 0; i < len(tc.want); i++ {
			if mt.Match(c) {
				got += "1"
			} else {
				got += "0"
			}
		}
		if got != tc.want {
			t.Errorf("%s: %s, want %s", tc.rule, got, tc.want)
		}
		sfNoAlloc(t, "statistic nth", func() { mt.Match(c) })
	}
}

func TestStatisticRandom(t *testing.T) {
	p := sfPkt("192.0.2.1", "198.51.100.1", 6, 1, 2, 40)
	c := sfCtx(p, LocalIn, 0)
	run := func(seed uint64) (string, int) {
		cc := NewCompiler(nil)
		cc.Seed = seed
		_, mt := sfMatch(t, "-m statistic --mode random --probability 0.3", IPv4, "filter", "INPUT", cc)
		s, n := "", 0
		for i := 0; i < 10000; i++ {
			if mt.Match(c) {
				n++
				if i < 40 {
					s += "1"
				}
			} else if i < 40 {
				s += "0"
			}
		}
		return s, n
	}
	a, n := run(7)
	b, _ := run(7)
	d, _ := run(8)
	if a != b || a == d {
		t.Errorf("streams: seed 7 %s / %s, seed 8 %s", a, b, d)
	}
	if n < 2800 || n > 3200 {
		t.Errorf("%d of 10000 chosen at probability 0.3", n)
	}
	// Two rules in one engine draw independent streams: the classic
	// 1/3, 1/2, rest load spreading gives thirds.
	cc := NewCompiler(nil)
	_, r1 := sfMatch(t, "-m statistic --mode random --probability 0.33333", IPv4, "nat", "PREROUTING", cc)
	_, r2 := sfMatch(t, "-m statistic --mode random --probability 0.5", IPv4, "nat", "PREROUTING", cc)
	var hits [3]int
	for i := 0; i < 30000; i++ {
		switch {
		case r1.Match(c):
			hits[0]++
		case r2.Match(c):
			hits[1]++
		default:
			hits[2]++
		}
	}
	for i, h := range hits {
		if h < 9400 || h > 10600 {
			t.Errorf("backend %d got %d of 30000", i, h)
		}
	}
	sfNoAlloc(t, "statistic random", func() { r1.Match(c) })
}
