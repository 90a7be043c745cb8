package engine_test

import (
	"testing"

	"github.com/ipsift/ipsift/engine"
)

// TestRpfilterAntiSpoofing runs the usual anti-spoofing rule on the
// default host (eth0 outside with the default route, wlan0 the inside
// 192.0.2.0/24): a packet whose source routes out of another interface
// than the one it came in on is dropped, the others go on; --loose only
// asks for some route back. The kernel comparison is in
// sim/kernel_rpfilter_test.go.
func TestRpfilterAntiSpoofing(t *testing.T) {
	rs := mustRules(t, `*raw
:PREROUTING ACCEPT [0:0]
-A PREROUTING -m rpfilter --invert -j DROP
COMMIT
`)
	e, err := engine.New(rs, nil, engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	s := engine.NewState()
	for _, c := range []struct{ pkt, verdict string }{
		{"wlan0 tcp 192.0.2.10:1000 > 203.0.113.7:80 S", "forward"},
		{"eth0 tcp 203.0.113.7:1000 > 192.0.2.10:80 S", "forward"},
		// Spoofed: an inside source from outside, an outside one from inside.
		{"eth0 tcp 192.0.2.10:1000 > 198.51.100.1:22 S", "drop"},
		{"wlan0 tcp 203.0.113.7:1000 > 192.0.2.1:22 S", "drop"},
		// The host's own address from outside is local: refused without
		// --accept-local.
		{"eth0 tcp 198.51.100.1:1000 > 198.51.100.1:22 S", "drop"},
	} {
		d, b := build(t, c.pkt)
		e.Process(s, &engine.Input{Data: b, In: d.In})
		if got := s.Result.Verdict.String(); got != c.verdict {
			t.Errorf("%s: %s, want %s", c.pkt, got, c.verdict)
		}
	}
	d, b := build(t, "eth0 tcp 192.0.2.10:1000 > 203.0.113.7:80 S")
	in := &engine.Input{Data: b, In: d.In}
	if n := testing.AllocsPerRun(100, func() { e.Process(s, in) }); n != 0 {
		t.Errorf("a packet rpfilter drops costs %.1f allocations, want 0", n)
	}
}
