// Command capgen writes a seeded synthetic capture (see package capgen):
//
//	go run ./internal/capgen/cmd/capgen -workload mix -packets 100000 -flows 1000 -seed 1 > mix.pcapng
//
// With -warm FILE the handshakes that open the first -flows connections
// go to FILE and the -packets packets after them to the standard
// output, to replay one after the other (the replay benchmarks' steady
// state: see BENCHMARKS.md):
//
//	go run ./internal/capgen/cmd/capgen -workload mix -packets 200000 -flows 100000 -seed 2 -warm mix-warm.pcapng > mix.pcapng
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
	warm := flag.String("warm", "", "write the handshakes that open the first connections to this file, the rest to the standard output")
	flag.Parse()
	c := capgen.Config{Workload: capgen.Workload(*w), Packets: *n, Flows: *flows, Seed: *seed}
	out := bufio.NewWriter(os.Stdout)
	var err error
	var wf *os.File
	if *warm == "" {
		err = capgen.Write(out, c)
	} else if wf, err = os.Create(*warm); err == nil {
		wb := bufio.NewWriter(wf)
		err = capgen.WriteWarm(wb, out, c)
		err = firstErr(err, wb.Flush(), wf.Close())
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "capgen:", err)
		os.Exit(2)
	}
	if err := out.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, "capgen:", err)
		os.Exit(1)
	}
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
