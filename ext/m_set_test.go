package ext

import (
	"bytes"
	"strings"
	"testing"

	"github.com/ipsift/ipsift/ipset"
)

func setRegistry(t *testing.T, cmds ...string) *ipset.Registry {
	t.Helper()
	r := ipset.NewRegistry()
	c := &ipset.Cmd{R: r, Now: func() int64 { return 0 }, Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}}
	if err := c.Restore(strings.NewReader(strings.Join(cmds, "\n")), false); err != nil {
		t.Fatal(err)
	}
	return r
}

func setCompiler(r *ipset.Registry) *Compiler {
	cc := NewCompiler(nil)
	cc.Sets = r
	return cc
}

func TestSetMatch(t *testing.T) {
	r := setRegistry(t,
		"create bl hash:net counters",
		"add bl 203.0.113.0/24",
		"add bl 203.0.113.128/25 nomatch",
		"create svc hash:ip,port",
		"add svc 198.51.100.1,tcp:22",
		"add svc 198.51.100.1,gre:0",
		"create six hash:ip family inet6",
		"create cnt hash:net counters",
		"add cnt 203.0.113.0/24 packets 6",
	)
	cc := setCompiler(r)
	// the kernel refuses rules naming a missing set, or one of the
	// other family
	insts, _, _, err := sfBuild("-m set --match-set nosuch src", IPv4, "filter", "INPUT")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := insts[0].m.Compile(cc); err == nil || err.Error() != "Set nosuch doesn't exist." {
		t.Errorf("missing set: %v", err)
	}
	insts, _, _, _ = sfBuild("-m set --match-set six src", IPv4, "filter", "INPUT")
	if _, err := insts[0].m.Compile(cc); err == nil {
		t.Error("an inet6 set in an IPv4 rule compiled")
	}

	in := sfCtx(sfPkt("203.0.113.7", "198.51.100.1", 6, 40000, 22, 60), LocalIn, 0)
	nm := sfCtx(sfPkt("203.0.113.200", "198.51.100.1", 6, 40000, 22, 60), LocalIn, 0)
	out := sfCtx(sfPkt("192.0.2.7", "198.51.100.1", 6, 40000, 22, 60), LocalIn, 0)
	for _, tc := range []struct {
		rule        string
		in, nm, out bool
	}{
		{"-m set --match-set bl src", true, false, false},
		{"-m set ! --match-set bl src", false, true, true},
		{"-m set --match-set bl src --return-nomatch", false, true, false},
		{"-m set --match-set bl dst", false, false, false},
		{"-m set --match-set svc dst,dst", true, true, true},
		{"-m set --match-set svc dst,src", false, false, false},
		{"-m set --match-set svc dst", false, false, false}, // fewer flags than dimensions: never
	} {
		_, m := sfMatch(t, tc.rule, IPv4, "filter", "INPUT", cc)
		if m.Match(in) != tc.in || m.Match(nm) != tc.nm || m.Match(out) != tc.out {
			t.Errorf("%s: %v %v %v, want %v %v %v", tc.rule, m.Match(in), m.Match(nm), m.Match(out), tc.in, tc.nm, tc.out)
		}
	}
	// a later fragment has no ports; other protocols look up proto:0
	frag := sfCtx(sfPkt("203.0.113.7", "198.51.100.1", 6, 40000, 22, 60), LocalIn, 0)
	frag.Pkt.FragOff = 10
	gre := sfCtx(sfPkt("203.0.113.7", "198.51.100.1", 47, 0, 0, 60), LocalIn, 0)
	_, m := sfMatch(t, "-m set --match-set svc dst,dst", IPv4, "filter", "INPUT", cc)
	if m.Match(frag) || !m.Match(gre) {
		t.Error("svc: a later fragment must not match, gre:0 must")
	}
	// counters are raised before --packets-gt compares them: the kernel's
	// order: the element was added with 6 packets.
	_, gt := sfMatch(t, "-m set --match-set cnt src --packets-gt 7", IPv4, "filter", "INPUT", cc)
	_, skip := sfMatch(t, "-m set --match-set cnt src ! --update-counters --packets-gt 7", IPv4, "filter", "INPUT", cc)
	if skip.Match(in) {
		t.Error("without counter update, 6 packets are not > 7")
	}
	if gt.Match(in) || !gt.Match(in) {
		t.Error("--packets-gt 7: the 7th packet does not match, the 8th does")
	}
	http := sfCtx(sfPkt("192.0.2.7", "198.51.100.1", 6, 40000, 80, 60), LocalIn, 0)
	if e, ok := m.(Explainer); !ok || !strings.Contains(e.Explain(http, false), "no element for 198.51.100.1,tcp:80") {
		t.Errorf("explain: %v", m.(Explainer).Explain(http, false))
	}
	sfNoAlloc(t, "-m set lookup", func() { m.Match(in) })
}

func TestSetTarget(t *testing.T) {
	r := setRegistry(t, "create scanners hash:ip timeout 60", "create marks hash:net skbinfo", "add marks 203.0.113.0/24 skbmark 0x5/0xf")
	cc := setCompiler(r)
	if _, err := newTarget("SET", "--map-set marks src --map-mark", "filter", "INPUT", 0); err == nil {
		t.Error("--map-set outside mangle accepted")
	}
	if _, err := newTarget("SET", "--map-set marks src --map-prio", "mangle", "INPUT", 0); err == nil {
		t.Error("--map-prio in INPUT accepted")
	}
	add := sfTarget(t, "-j SET --add-set scanners src --timeout 10", "filter", "INPUT", cc)
	in := sfCtx(sfPkt("203.0.113.7", "198.51.100.1", 6, 40000, 22, 60), LocalIn, 1e9)
	if v := add.Do(in); v != Continue {
		t.Errorf("verdict %v", v)
	}
	var b bytes.Buffer
	r.Save(&b, "scanners", 1e9)
	if !strings.Contains(b.String(), "add scanners 203.0.113.7 timeout 10") {
		t.Errorf("after --add-set:\n%s", b.String())
	}
	mapt := sfTarget(t, "-j SET --map-set marks src --map-mark", "mangle", "PREROUTING", cc)
	in.Mark = 0xf0
	mapt.Do(in)
	if in.Mark != 0xf5 {
		t.Errorf("mark %#x, want 0xf5", in.Mark)
	}
	del := sfTarget(t, "-j SET --del-set scanners src", "filter", "INPUT", cc)
	del.Do(in)
	b.Reset()
	r.Save(&b, "scanners", 1e9)
	if strings.Contains(b.String(), "add scanners") {
		t.Errorf("after --del-set:\n%s", b.String())
	}
}

func sfTarget(t *testing.T, rule, table, chain string, cc *Compiler) Action {
	t.Helper()
	tg := parseTarget(t, "SET", strings.TrimPrefix(rule, "-j SET "), table, chain, 0)
	a, err := tg.Compile(cc)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
