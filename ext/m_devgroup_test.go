package ext

import "testing"

// TestMatchDevgroup: parse, save and print as libxt_devgroup (checked
// against iptables 1.8.9 here: a group with a mask is always numeric,
// group 0 is "default" unless -n), and devgroup_mt's value/mask test
// with each inversion.
func TestMatchDevgroup(t *testing.T) {
	saves(t,
		"-m devgroup --src-group 2", "-m devgroup --src-group 0x2",
		"-m devgroup --src-group 0", "-m devgroup --src-group default",
		"-m devgroup --dst-group default", "-m devgroup --dst-group default",
		"-m devgroup --src-group 0/0xffffffff", "-m devgroup --src-group default",
		"-m devgroup ! --dst-group 0xc/0xc", "-m devgroup ! --dst-group 0xc/0xc",
		"-m devgroup --src-group ' 0x10/ 010'", "-m devgroup --src-group 0x10/0x8",
		"-m devgroup ! --src-group 0x2 --dst-group 5", "-m devgroup ! --src-group 0x2 --dst-group 0x5",
		"-m devgroup --dst-group 1 --src-group 4294967295", "-m devgroup --src-group 0xffffffff --dst-group 0x1",
	)
	parseFails(t, "-m devgroup", "-m devgroup --src-group 7x", "-m devgroup --src-group 1/2x",
		"-m devgroup --src-group default/0xf", "-m devgroup --src-group 4294967296",
		"-m devgroup --src-group 1 --src-group 2", "-m devgroup --dst-group 1/0x100000000",
		"-m devgroup --src-group -1", "-m devgroup --src-group ''")
	runPrintCases(t, []printCase{
		{"-m devgroup --src-group 0 ! --dst-group default", "devgroup", " src-group 0x0 ! dst-group 0x0", " src-group default ! dst-group default"},
		{"-m devgroup --src-group 0x10/0x8", "devgroup", " src-group 0x10/0x8", " src-group 0x10/0x8"},
	})
	in := func(g uint32) func(*Ctx) { return func(c *Ctx) { c.In = &Iface{Name: "eth0", Group: g} } }
	out := func(g uint32) func(*Ctx) { return func(c *Ctx) { c.Out = &Iface{Name: "wlan0", Group: g} } }
	both := func(gi, go_ uint32) func(*Ctx) {
		return func(c *Ctx) { in(gi)(c); out(go_)(c) }
	}
	p := udpPkt(1, 2)
	runMatchCases(t, []matchCase{
		{rule: "-m devgroup --src-group 2", name: "devgroup", pkt: p, ctx: in(2), want: true},
		{rule: "-m devgroup --src-group 2", name: "devgroup", pkt: p, ctx: in(3), want: false},
		{rule: "-m devgroup --src-group default", name: "devgroup", pkt: p, ctx: in(0), want: true},
		{rule: "-m devgroup ! --src-group 2", name: "devgroup", pkt: p, ctx: in(2), want: false},
		{rule: "-m devgroup ! --src-group 2", name: "devgroup", pkt: p, ctx: in(0x102), want: true},
		{rule: "-m devgroup --src-group 0xc/0xc", name: "devgroup", pkt: p, ctx: in(0x1c), want: true},
		{rule: "-m devgroup --src-group 0xc/0xc", name: "devgroup", pkt: p, ctx: in(0x8), want: false},
		{rule: "-m devgroup --src-group 0x3/0", name: "devgroup", pkt: p, ctx: in(0x8), want: true},
		{rule: "-m devgroup ! --src-group 0x3/0", name: "devgroup", pkt: p, ctx: in(0x8), want: false},
		{rule: "-m devgroup --dst-group 5", name: "devgroup", pkt: p, ctx: both(0, 5), want: true},
		{rule: "-m devgroup ! --dst-group 4/4", name: "devgroup", pkt: p, ctx: both(0, 5), want: false},
		{rule: "-m devgroup ! --dst-group 4/4", name: "devgroup", pkt: p, ctx: both(0, 3), want: true},
		{rule: "-m devgroup ! --src-group 2 --dst-group 5", name: "devgroup", pkt: p, ctx: both(1, 5), want: true},
		{rule: "-m devgroup ! --src-group 2 --dst-group 5", name: "devgroup", pkt: p, ctx: both(2, 5), want: false},
		{rule: "-m devgroup ! --src-group 2 --dst-group 5", name: "devgroup", pkt: p, ctx: both(1, 4), want: false},
		// No device (the hook checks keep such rules out): no match,
		// whatever the inversion, and no panic.
		{rule: "-m devgroup ! --src-group 2", name: "devgroup", pkt: p, want: false},
		{rule: "-m devgroup ! --dst-group 2", name: "devgroup", pkt: p, ctx: in(0), want: false},
	})
	for _, tc := range []struct {
		rule string
		want HookMask
	}{
		{"-m devgroup --src-group 1", HookPreRouting | HookLocalIn | HookForward},
		{"-m devgroup ! --dst-group 1", HookForward | HookLocalOut | HookPostRouting},
		{"-m devgroup --src-group 1 --dst-group 2", HookForward},
	} {
		if h, why := AllowedHooks(0, ruleMatch(t, tc.rule, "devgroup")); h != tc.want || why == "" {
			t.Errorf("%q: hooks %#x (%q), want %#x", tc.rule, h, why, tc.want)
		}
	}
}
