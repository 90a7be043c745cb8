package ext

import (
	"strings"
	"testing"
	"unsafe"
)

func TestInternSameName(t *testing.T) {
	a := Intern(strings.Repeat("eth", 2)[:4] + "0") // "etheth"[:4]+"0": built at run time
	b := Intern("ethe0")
	if a != "ethe0" || unsafe.StringData(a) != unsafe.StringData(b) {
		t.Fatalf("Intern: %q %p, %q %p: want one copy", a, unsafe.StringData(a), b, unsafe.StringData(b))
	}
	for _, c := range []struct {
		x, y string
		want bool
	}{{a, b, true}, {a, "ethe0", true}, {a, "ethe1", false}, {a, "eth0", false}, {"", "", true}, {"wlan0", "wlan0+"[:5], true}} {
		if got := SameName(c.x, c.y); got != c.want {
			t.Errorf("SameName(%q, %q) = %v", c.x, c.y, got)
		}
	}
}
