package kernel

import (
	"strings"
	"testing"
	"time"
)

// TestIsMLDReport checks the recogniser the IPv6 settling and the
// kernel-diff harness use to leave the host's own MLD reports out.
func TestIsMLDReport(t *testing.T) {
	hdr := func(next byte, payload ...byte) []byte {
		p := make([]byte, 40)
		p[0], p[6] = 0x60, next
		return append(p, payload...)
	}
	hbh := []byte{58, 0, 5, 2, 0, 0, 1, 0} // Router Alert, then ICMPv6
	for _, c := range []struct {
		name string
		p    []byte
		want bool
	}{
		{"MLDv2 report behind Hop-by-Hop", hdr(0, append(hbh, 143, 0, 0, 0)...), true},
		{"MLDv1 report behind Hop-by-Hop", hdr(0, append(hbh, 131, 0, 0, 0)...), true},
		{"MLD query", hdr(0, append(hbh, 130, 0, 0, 0)...), false},
		{"neighbour solicitation", hdr(58, 135, 0, 0, 0), false},
		{"truncated Hop-by-Hop", hdr(0, 58, 0, 5), false},
		{"IPv4", append([]byte{0x45}, make([]byte, 60)...), false},
	} {
		if got := IsMLDReport(c.p); got != c.want {
			t.Errorf("%s: IsMLDReport = %v, want %v", c.name, got, c.want)
		}
	}
}

// TestSetGroupSettles: setting an interface's device group makes the
// IPv6 host send its MLD reports on that link again; SetGroup waits
// them out, so nothing leaves the host afterwards on its own (before,
// the reports came during the test's first packets and raised OUTPUT
// and POSTROUTING counters: TestKernelDevgroup6). The group is set.
func TestSetGroupSettles(t *testing.T) {
	fw := NewFirewallWith(t, NFT, Options{IPv6: true})
	for _, l := range fw.Links() {
		if err := fw.SetGroup(l.Name, 0x1c); err != nil {
			t.Fatal(err)
		}
		out, err := fw.Run("ip", "-d", "link", "show", "dev", l.Name)
		if err != nil || !strings.Contains(out, " group 28 ") && !strings.Contains(out, " group 28\n") {
			t.Errorf("%s after SetGroup: %v\n%s", l.Name, err, out)
		}
	}
	got, err := fw.capture(fw.links, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	for name, frames := range got {
		for _, fr := range frames {
			t.Errorf("%s: the host sent %d bytes on its own after SetGroup (an MLD report: %v)", name, len(fr), IsMLDReport(fr))
		}
	}
}
