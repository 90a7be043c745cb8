package ext

import "testing"

func TestLimitSavePrint(t *testing.T) {
	for _, tc := range []struct{ rule, save, print string }{
		{"-m limit", " --limit 3/hour", " limit: avg 3/hour burst 5"},
		{"-m limit --limit 5/sec", " --limit 5/sec", " limit: avg 5/sec burst 5"},
		{"-m limit --limit 5/s --limit-burst 10", " --limit 5/sec --limit-burst 10", " limit: avg 5/sec burst 10"},
		{"-m limit --limit 7x/m", " --limit 7/min", " limit: avg 7/min burst 5"},
		{"-m limit --limit 120/minute", " --limit 2/sec", " limit: avg 2/sec burst 5"},
		{"-m limit --limit 13/H", " --limit 13/hour", " limit: avg 13/hour burst 5"},
		{"-m limit --limit 10", " --limit 10/sec", " limit: avg 10/sec burst 5"},
		{"-m limit --limit 7/d --limit-burst 10000", " --limit 7/day --limit-burst 10000", " limit: avg 7/day burst 10000"},
	} {
		m, _ := sfMatch(t, tc.rule, IPv4, "filter", "INPUT", nil)
		save, print, _ := sfSavePrint(m)
		if save != tc.save || print != tc.print {
			t.Errorf("%s: save %q print %q, want %q %q", tc.rule, save, print, tc.save, tc.print)
		}
	}
	for _, rule := range []string{
		"-m limit --limit 7/seconds", "-m limit --limit 1/day", "-m limit --limit-burst 0",
		"-m limit --limit 10001/s", "-m limit --limit /s", "-m limit --limit 5/", "-m limit ! --limit 5",
		"-m limit --limit-burst 10001", "-m limit --limit 3 --limit 4",
	} {
		if err := sfParseErr(rule, IPv4, "filter", "INPUT"); err == nil {
			t.Errorf("%s: parsed, want an error", rule)
		}
	}
}

func TestLimitBucket(t *testing.T) {
	// 1/sec burst 2 at 250 Hz: credits per jiffy 128, cost 32000, cap 64000.
	_, mt := sfMatch(t, "-m limit --limit 1/sec --limit-burst 2", IPv4, "filter", "INPUT", nil)
	p := sfPkt("192.0.2.1", "198.51.100.1", 17, 1, 2, 28)
	at := func(ns int64) bool { return mt.Match(sfCtx(p, LocalIn, ns)) }
	if !at(0) || !at(1e6) || at(2e6) {
		t.Fatal("burst of 2 then limited")
	}
	// 250 jiffies refill one packet: 996 ms after the last is 249 jiffies.
	if at(2e6 + 996e6 - 5e6) {
		t.Error("matched before a full second of credit")
	}
	if !at(1002e6) {
		t.Error("no match after a second")
	}
	lm := mt.(*limitMatcher)
	if lm.cost != 32000 || lm.cap != 64000 || lm.cpj != 128 {
		t.Errorf("cost %d cap %d cpj %d", lm.cost, lm.cap, lm.cpj)
	}
	// After a long pause the bucket is full again but no fuller.
	if a, b, c := at(100e9), at(100e9), at(100e9); !a || !b || c {
		t.Error("refill caps at burst")
	}
	c := sfCtx(p, LocalIn, 200e9)
	sfNoAlloc(t, "limit", func() { mt.Match(c) })
}

func TestLimitHZ(t *testing.T) {
	cc := NewCompiler(nil)
	cc.HZ = 1000
	_, mt := sfMatch(t, "-m limit --limit 1/sec --limit-burst 1", IPv4, "filter", "INPUT", cc)
	lm := mt.(*limitMatcher)
	// MAX_CPJ at 1000 Hz is 49, so 32 credits per jiffy.
	if lm.cpj != 32 || lm.cost != 32000 {
		t.Errorf("cpj %d cost %d", lm.cpj, lm.cost)
	}
}

// The kernel's 32-bit credit arithmetic wraps for slow rates with big
// bursts: 1/hour with --limit-burst 100 gives 25 packets, not 100, and
// ipsift gives the same 25 (checked against Linux 6.18 in a namespace).
func TestLimitKernelWrap(t *testing.T) {
	_, mt := sfMatch(t, "-m limit --limit 1/hour --limit-burst 100", IPv4, "filter", "INPUT", nil)
	c := sfCtx(sfPkt("192.0.2.1", "198.51.100.1", 6, 1, 2, 40), LocalIn, 0)
	n := 0
	for i := 0; i < 200; i++ {
		if mt.Match(c) {
			n++
		}
	}
	if n != 25 {
		t.Errorf("%d packets, the kernel lets 25 through", n)
	}
}
