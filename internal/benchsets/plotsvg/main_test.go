package main

import (
	"strings"
	"testing"
)

func TestRead(t *testing.T) {
	in := `BenchmarkSets/acl1_gen10000/compiled-2   	   20000	       784.3 ns/op	       385.9 cpu-ns/op	       0 B/op	       0 allocs/op
BenchmarkSets/acl1_gen10000/compiled-2   	   20000	       784.4 ns/op	       365.5 cpu-ns/op	       0 B/op	       0 allocs/op
BenchmarkSets/acl1_8k/compiled-2   	   20000	       784.4 ns/op	       365.5 cpu-ns/op	       0 B/op	       0 allocs/op
BenchmarkNext/fw1_gen100000-2   	  300000	       300 ns/op	       219 cpu-ns/op
kernel-rep acl1_gen10000 nft rep=1 empty-ns=2406 set-ns=54706 cost-ns=52300 cpu-empty-ns=2112 cpu-set-ns=28348 cpu-cost-ns=26236 in-flight=0,0 loadavg=1,1,1
kernel acl1_gen10000 nft rules=10000 packets=10000 xor=0x2,0x45 left-out=9 to-policy=0% reps=5 cost-ns=243065 cpu-cost-ns=52141 empty-ns=2224 set-ns=245183 loadavg=19.94,11.92,6.07
kernel acl1_8k legacy rules=7665 packets=10000 xor=0x2,0x45 left-out=987 to-policy=0% reps=5 cost-ns=14330 cpu-cost-ns=12176 empty-ns=2077 set-ns=16319 loadavg=1,1,1
`
	lines := map[string]series{}
	if err := read(strings.NewReader(in), lines); err != nil {
		t.Fatal(err)
	}
	want := map[string]map[int][]float64{
		"acl1 compiled":   {10000: {385.9, 365.5}},
		"fw1 next()":      {100000: {219}},
		"acl1 kernel-nft": {10000: {52141}},
	}
	if len(lines) != len(want) {
		t.Fatalf("series %v, want %v", lines, want)
	}
	for k, w := range want {
		for n, vs := range w {
			got := lines[k][n]
			if len(got) != len(vs) {
				t.Fatalf("%s at %d: %v, want %v", k, n, got, vs)
			}
			for i := range vs {
				if got[i] != vs[i] {
					t.Errorf("%s at %d: %v, want %v", k, n, got, vs)
				}
			}
		}
	}
	if !strings.Contains(svg(lines), "acl1 kernel-nft") {
		t.Error("the plot has no legend entry for the kernel's line")
	}
}
