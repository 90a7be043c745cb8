package saveopt

import (
	"strings"
	"testing"
)

func TestEach(t *testing.T) {
	type opt struct {
		name string
		args []string
		inv  bool
	}
	read := func(text string, nargs int) ([]opt, bool) {
		var got []opt
		ok := Each(strings.Fields(text), func(name string, args func() (string, bool), inv bool) bool {
			o := opt{name: name, inv: inv}
			for range nargs {
				a, ok := args()
				if !ok {
					return false
				}
				o.args = append(o.args, a)
			}
			got = append(got, o)
			return true
		})
		return got, ok
	}
	got, ok := read("! --dport 22 --sport 1:2", 1)
	if !ok || len(got) != 2 || !got[0].inv || got[0].args[0] != "22" || got[1].inv || got[1].args[0] != "1:2" {
		t.Fatalf("got %+v, %v", got, ok)
	}
	for _, bad := range []string{
		"--tcp-flags SYN,ACK SYN", // an argument left untaken
		"dport 22",                // not an option
		"--dport 22 !",            // ! before nothing
		"--dport",                 // no argument
	} {
		if got, ok := read(bad, 1); ok {
			t.Errorf("%q: read as %+v", bad, got)
		}
	}
}

func TestPortRangeAndFlags(t *testing.T) {
	if lo, hi, ok := PortRange("80"); !ok || lo != 80 || hi != 80 {
		t.Errorf("80: %d %d %v", lo, hi, ok)
	}
	if lo, hi, ok := PortRange("1024:65535"); !ok || lo != 1024 || hi != 65535 {
		t.Errorf("1024:65535: %d %d %v", lo, hi, ok)
	}
	for _, bad := range []string{"", "65536", "1:x", "-1"} {
		if _, _, ok := PortRange(bad); ok {
			t.Errorf("%q read as a port range", bad)
		}
	}
	if f, ok := TCPFlags("SYN,ACK"); !ok || f != 0x12 {
		t.Errorf("SYN,ACK: %#x %v", f, ok)
	}
	if _, ok := TCPFlags("SYN,syn"); ok {
		t.Error("lower-case syn read: iptables-save prints flag names in capitals")
	}
}
