// Command capgen writes a seeded synthetic capture (see package capgen):
//
//	go run ./internal/capgen/cmd/capgen -workload mix -packets 100000 -flows 1000 -seed 1 > mix.pcapng
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"

	"github.com/ipsift/ipsift/internal/capgen"
)

func main() {
	w := flag.String("workload", "mix", "established, mix or flood")
	n := flag.Int("packets", 100000, "packets to write")
	flows := flag.Int("flows", 1000, "concurrent connections (established, mix)")
	seed := flag.Uint64("seed", 1, "the seed: the same seed writes the same bytes")
	flag.Parse()
	out := bufio.NewWriter(os.Stdout)
	if err := capgen.Write(out, capgen.Config{Workload: capgen.Workload(*w), Packets: *n, Flows: *flows, Seed: *seed}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if err := out.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
