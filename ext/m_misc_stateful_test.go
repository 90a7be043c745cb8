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
	// The test runs for every packet: it must not allocate, whatever
	// decides it (the reasons are for Explain only).
	c.In = &Iface{Name: "eth1", Index: 3}
	if n := testing.AllocsPerRun(20, func() { strict.Match(c) }); n != 0 {
		t.Errorf("rpfilter allocates %v times per packet", n)
	}
	// The source 0.0.0.0 passes towards the limited broadcast and
	// 224.0.0.0/24 whatever the routes say; to other destinations it is
	// looked up like any source, and so is the rest of 0.0.0.0/8 (the
	// kernel's ipv4_is_zeronet is 0.0.0.0 alone: probed).
	for _, tc := range []struct {
		src, dst string
		pass     bool
	}{
		{"0.0.0.0", "255.255.255.255", true}, {"0.0.0.0", "224.0.0.22", true}, {"0.1.2.3", "255.255.255.255", false},
		{"0.0.0.0", "224.0.1.1", false}, {"0.0.0.0", "198.51.100.1", false},
	} {
		c := sfCtx(sfPkt(tc.src, tc.dst, 17, 68, 67, 40), PreRouting, 0)
		c.Host = rpHost{}
		c.In = &Iface{Name: "eth0", Index: 2}
		if got := !strict.Match(c); got != tc.pass {
			t.Errorf("%s > %s on eth0: passes %v, want %v", tc.src, tc.dst, got, tc.pass)
		}
	}
	// IPv6: the source :: passes (ip6t_rpfilter: not routable, the
	// forward path drops it); any other is looked up.
	for _, tc := range []struct {
		src  string
		pass bool
	}{{"::", true}, {"2001:db8::1", false}} {
		c := sfCtx(sfPkt(tc.src, "ff02::1:ff00:1", 58, 0, 0, 40), PreRouting, 0)
		c.Host = rpHost{}
		c.In = &Iface{Name: "eth0", Index: 2}
		if got := !strict.Match(c); got != tc.pass {
			t.Errorf("%s on eth0: passes %v, want %v", tc.src, got, tc.pass)
		}
	}
	// Loopback is known by its name, not its index: a host file may
	// list eth0 first.
	c.In = &Iface{Name: "eth1", Index: 1}
	if !strict.Match(c) {
		t.Error("an interface with index 1 is taken for loopback")
	}
	c.In = &Iface{Name: "lo", Index: 7}
	if strict.Match(c) {
		t.Error("loopback does not pass")
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
