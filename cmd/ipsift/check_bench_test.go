package main

import (
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/ipsift/ipsift/internal/benchsets"
)

// BenchmarkCheck is `ipsift check FILE` on the big generated rulesets of
// issue 14, as genrules writes them (same seeds): a blocklist of 100,000
// `-s X/32 -j DROP` rules after a conntrack prelude, and kube-proxy's nat
// chains for 5,000 services of 3 endpoints. A run takes about a second
// each, so -short skips it. Figures: BENCHMARKS.md, "ipsift check of
// 100,000 rules". Relative only: the machine is shared.
func BenchmarkCheck(b *testing.B) {
	if testing.Short() {
		b.Skip("100,000-rule files: not with -short")
	}
	for _, set := range []struct {
		name string
		text func() string
	}{
		{"blocklist_100k", func() string {
			t, _ := benchsets.Blocklist(100000, rand.New(rand.NewPCG(100000, 7)))
			return t
		}},
		{"kube_5000x3", func() string {
			t, _ := benchsets.Kube(5000, 3, rand.New(rand.NewPCG(5000, 7)))
			return t
		}},
	} {
		b.Run(set.name, func(b *testing.B) {
			path := filepath.Join(b.TempDir(), set.name+".rules")
			if err := os.WriteFile(path, []byte(set.text()), 0o644); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			cpu := benchsets.StartCPU()
			for b.Loop() {
				if code := run([]string{"ipsift", "check", path}, io.Discard, io.Discard); code != exitOK {
					b.Fatalf("check exits %d", code)
				}
			}
			cpu.Report(b)
		})
	}
}
