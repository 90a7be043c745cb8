package diff

import "testing"

func TestNumText(t *testing.T) {
	for _, c := range []struct {
		bits []int8
		want string
	}{
		{[]int8{0, 1, 0, 0, 0, -1, -1, -1}, "64-71"},
		{[]int8{0, 0, 0, 1, 0, 1, 1, 0}, "22"},
		{[]int8{1, -1, -1, -1, -1, -1, -1, -1}, "128-255"},
		{[]int8{-1, 1, -1, -1, -1, -1, -1, -1}, "0x40/0x40"},
	} {
		if got := numText(c.bits); got != c.want {
			t.Errorf("%v: %s, want %s", c.bits, got, c.want)
		}
	}
}
