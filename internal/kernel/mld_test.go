package kernel

import "testing"

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
