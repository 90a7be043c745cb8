// Command genrules writes a benchmark rule set (BENCHMARKS.md, "Compiled
// chains") as an iptables-restore file on standard output, for load and
// kernel measurements: a ClassBench seed grown to n rules, a blocklist,
// or kube-proxy's nat chains. Seeded: the same arguments give the same
// file.
//
//	go run ./internal/benchsets/genrules -set fw1 -n 100000 > fw1_100k.rules
//	go run ./internal/benchsets/genrules -set blocklist -n 100000 > block.rules
//	go run ./internal/benchsets/genrules -set kube -n 5000 > kube.rules   # n services of 3 endpoints
package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/ipsift/ipsift/internal/benchsets"
)

func main() {
	set := flag.String("set", "fw1", "acl1, fw1, ipc1 (ClassBench seeds), blocklist or kube")
	n := flag.Int("n", 100000, "rules (kube: services)")
	shared := flag.String("shared", os.Getenv("IPSIFT_SHARED"), "the shared directory holding bench/classbench")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: genrules [-set NAME] [-n N] > FILE\nexample: go run ./internal/benchsets/genrules -set fw1 -n 100000 > fw1_100k.rules")
		flag.PrintDefaults()
	}
	flag.Parse()
	r := rand.New(rand.NewPCG(uint64(*n), 7))
	switch *set {
	case "blocklist":
		text, _ := benchsets.Blocklist(*n, r)
		fmt.Print(text)
	case "kube":
		text, _ := benchsets.Kube(*n, 3, r)
		fmt.Print(text)
	case "acl1", "fw1", "ipc1":
		if *shared == "" {
			fmt.Fprintln(os.Stderr, "genrules: set IPSIFT_SHARED or -shared to the directory holding bench/classbench")
			os.Exit(2)
		}
		text, err := os.ReadFile(filepath.Join(*shared, "bench", "classbench", *set+"_8k.rules"))
		if err != nil {
			fmt.Fprintln(os.Stderr, "genrules:", err)
			os.Exit(1)
		}
		seed, err := benchsets.ParseRules(string(text))
		if err != nil {
			fmt.Fprintln(os.Stderr, "genrules:", err)
			os.Exit(1)
		}
		fmt.Print(benchsets.Iptables(benchsets.Grow(benchsets.Expanded(seed), *n, r), "FORWARD", "ACCEPT"))
	default:
		fmt.Fprintf(os.Stderr, "genrules: unknown set %q: write acl1, fw1, ipc1, blocklist or kube\n", *set)
		os.Exit(2)
	}
}
