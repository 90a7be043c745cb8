package ext

import (
	"net/netip"
	"testing"
)

func TestMiscSavePrint(t *testing.T) {
	for _, tc := range []struct{ rule, table, chain, save, print string }{
		{"-m cgroup ! --path /user.slice", "filter", "OUTPUT", " ! --path \"/user.slice\"", " cgroup ! /user.slice"},
		{"-m cgroup --cgroup 0x10", "filter", "OUTPUT", " --cgroup 16", " cgroup 16"},
		{"-m connlabel ! --label 7 --set", "filter", "INPUT", " ! --label \"7\" --set", " connlabel ! 7 set"},
		{"-m socket --restore-skmark --transparent", "mangle", "PREROUTING", " --transparent --restore-skmark", " socket --transparent --restore-skmark"},
		{"-m rpfilter --invert --loose", "raw", "PREROUTING", " --loose --invert", " rpfilter loose invert"},
		{"-p tcp -m osf ! --genre Linux --ttl 2", "filter", "INPUT", " ! --genre Linux --ttl 2", " OS fingerprint match ! Linux"},
	} {
		insts, _, _, err := sfBuild(tc.rule, IPv4, tc.table, tc.chain)
		if err != nil {
			t.Fatalf("%s: %v", tc.rule, err)
		}
		save, print, _ := sfSavePrint(insts[0].m)
		if save != tc.save || print != tc.print {
			t.Errorf("%s: %q %q, want %q %q", tc.rule, save, print, tc.save, tc.print)
		}
		if _, err := insts[0].m.Compile(NewCompiler(nil)); err != nil {
			t.Logf("%s: %v", tc.rule, err)
		}
	}
	for _, tc := range []struct{ rule, table, chain string }{
		{"-m rpfilter", "filter", "INPUT"}, {"-m rpfilter", "raw", "OUTPUT"}, {"-m socket", "mangle", "OUTPUT"},
		{"-m cgroup --cgroup 1", "filter", "FORWARD"}, {"-m osf --genre x", "filter", "INPUT"},
		{"-m set --match-set x sideways", "filter", "INPUT"}, {"-m set --match-set x src --packets-lt 1 --packets-gt 2", "filter", "INPUT"},
		// No accounting objects exist in ipsift, and the kernel refuses
		// rules naming missing ones (a missing set: TestSetMatch).
		{"-m nfacct --nfacct-name http", "filter", "INPUT"},
	} {
		if err := sfParseErr(tc.rule, IPv4, tc.table, tc.chain); err == nil {
			t.Errorf("%s in %s %s: parsed", tc.rule, tc.table, tc.chain)
		}
	}
}

func TestConnlabelMatch(t *testing.T) {
	conn := newConn("192.0.2.1", "198.51.100.1", 1, 2)
	c := sfCtx(sfPkt("192.0.2.1", "198.51.100.1", 6, 1, 2, 40), LocalIn, 0)
	c.Conn = conn
	_, chk := sfMatch(t, "-m connlabel --label 70", IPv4, "filter", "INPUT", nil)
	_, set := sfMatch(t, "-m connlabel --label 70 --set", IPv4, "filter", "INPUT", nil)
	if chk.Match(c) || !set.Match(c) || !chk.Match(c) {
		t.Error("label 70: unset, set, then set")
	}
	c.Conn = nil
	_, inv := sfMatch(t, "-m connlabel ! --label 70", IPv4, "filter", "INPUT", nil)
	if !inv.Match(c) {
		t.Error("no connection: ! --label matches")
	}
}

// rpHost routes 192.0.2.0/24 via eth0 and everything else via eth1.
type rpHost struct{}

func (rpHost) AddrType(netip.Addr, string) int { return 1 }
func (rpHost) ReverseRoute(dst, _ netip.Addr, _ uint32, _ uint8, dev string) (int, bool, bool) {
	if netip.MustParsePrefix("192.0.2.0/24").Contains(dst) {
		return 1, dev == "eth0", true
	}
	return 1, dev == "eth1", true
}

func TestRpfilterMatch(t *testing.T) {
	_, strict := sfMatch(t, "-m rpfilter --invert", IPv4, "raw", "PREROUTING", nil)
	_, loose := sfMatch(t, "-m rpfilter --loose --invert", IPv4, "raw", "PREROUTING", nil)
	c := sfCtx(sfPkt("192.0.2.1", "198.51.100.1", 6, 1, 2, 40), PreRouting, 0)
	c.Host = rpHost{}
	c.In = &Iface{Name: "eth1", Index: 3}
	if !strict.Match(c) || loose.Match(c) {
		t.Error("192.0.2.1 from eth1: spoofed in strict mode, fine in loose")
	}
	c.In = &Iface{Name: "eth0", Index: 2}
	if strict.Match(c) {
		t.Error("192.0.2.1 from eth0 passes")
	}
}

func TestRateest(t *testing.T) {
	insts, _, _, err := sfBuild("-m rateest --rateest-delta --rateest RE1 --rateest-bps1 1mbit ! --rateest-gt --rateest-bps2 2mbit", IPv4, "filter", "INPUT")
	if err != nil {
		t.Fatal(err)
	}
	save, print, printN := sfSavePrint(insts[0].m)
	if save != " --rateest-delta --rateest RE1 --rateest-bps1 1000Kbit ! --rateest-gt --rateest-bps2 2000Kbit" ||
		print != " rateest match RE1 delta bps 1000Kbit 2000Kbit ! gt" || printN != " rateest match RE1 delta bps 125000 250000 ! gt" {
		t.Errorf("%q %q %q", save, print, printN)
	}
	for _, rule := range []string{
		"-m rateest --rateest RE1 --rateest-bps 1kbit", "-m rateest --rateest RE1 --rateest-lt",
		"-m rateest --rateest RE1 --rateest1 RE2 --rateest-lt --rateest-pps", "-m rateest ! --rateest RE1 --rateest-lt --rateest-pps 1",
	} {
		if err := sfParseErr(rule, IPv4, "filter", "INPUT"); err == nil {
			t.Errorf("%s: parsed", rule)
		}
	}
}
