package jhash

import "testing"

// Values from the kernel's jhash.h compiled as C.
func TestKernelValues(t *testing.T) {
	for _, c := range []struct {
		name string
		got  uint32
		want uint32
	}{
		{"jhash_1word(0x010200c0, 0xfeedcafe)", Word1(0x010200c0, 0xfeedcafe), 1095939932},
		{"jhash_1word(0, 0)", Word1(0, 0), 76781240},
		{"jhash2({1,2,3,4}, 0x1234)", Words([]uint32{1, 2, 3, 4}, 0x1234), 4164672798},
		{"jhash2({9,8,7,6,5}, 7)", Words([]uint32{9, 8, 7, 6, 5}, 7), 1563592230},
	} {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
}

// jhash_3words is jhash2 of the three words (the kernel's definitions
// agree: both add the length, 3 words, to the initial value).
func TestWords3IsWords(t *testing.T) {
	for _, k := range [][3]uint32{{0, 0, 0}, {1, 2, 3}, {0xc0000201, 0xc6336401, 0x16}, {0xffffffff, 0x80000000, 7}} {
		for _, seed := range []uint32{0, 1, 0xfeedcafe} {
			if a, b := Words3(k[0], k[1], k[2], seed), Words(k[:], seed); a != b {
				t.Errorf("%x seed %x: jhash_3words %d, jhash2 %d", k, seed, a, b)
			}
		}
	}
}
