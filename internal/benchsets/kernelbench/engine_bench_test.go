package kernelbench

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/ipsift/ipsift/engine"
	"github.com/ipsift/ipsift/internal/benchsets"
	"github.com/ipsift/ipsift/load"
)

// BenchmarkEngine is ipsift on exactly what TestKernelCost sends the
// kernel: the same rules (remapped, policy ACCEPT), the same 10,000
// packets in the same order, each walk and the empty ruleset, so that
// ipsift's cost of the rules can be taken as the kernel's is (with the
// set - with the empty ruleset) on the same packets (BENCHMARKS.md, "The
// kernel, measured"). Every iteration is one packet, the packets cycled:
//
//	IPSIFT_SHARED=/work/shared go test ./internal/benchsets/kernelbench -run '^$' -bench Engine -benchtime 20000x -count 5
//
// The blocklist is left out: its accepted packets would fill the
// engine's connection table (engine's BenchmarkSets drops them).
func BenchmarkEngine(b *testing.B) {
	shared := os.Getenv("IPSIFT_SHARED")
	if shared == "" {
		b.Skip("set IPSIFT_SHARED to the directory holding bench/classbench")
	}
	dir := filepath.Join(shared, "bench", "classbench")
	// The kernel harness's wlan0 link addresses; the engine ignores them.
	dst := net.HardwareAddr{2, 0, 0, 0, 0, 2}
	src := net.HardwareAddr{2, 0, 0, 0, 2, 1}
	for _, name := range setNames {
		if name == "blocklist_100k_uniform" {
			continue
		}
		b.Run(name, func(b *testing.B) {
			set, err := makeSet(dir, name, 10000)
			if err != nil {
				b.Fatal(err)
			}
			frames, _, err := Frames(set.Trace, 10000, dst, src)
			if err != nil {
				b.Fatal(err)
			}
			for _, w := range []struct {
				name string
				text string
				mode engine.ClassifyMode
			}{{"empty", Empty, engine.ClassifyAuto}, {"linear", set.Text, engine.ClassifyLinear}, {"compiled", set.Text, engine.ClassifyAuto}} {
				b.Run(w.name, func(b *testing.B) {
					lr := load.Bytes("kernel.rules", []byte(w.text), load.Options{})
					if lr.Diags.HasErrors() {
						b.Fatal(lr.Err())
					}
					e, err := engine.New(lr.Rules, nil, engine.Config{Classify: w.mode, Sets: lr.Sets})
					if err != nil {
						b.Fatal(err)
					}
					run(b, e, frames)
				})
			}
		})
	}
}

// run processes b.N packets, the frames' IP packets in turn, arriving on
// wlan0, and reports the CPU time per packet.
func run(b *testing.B, e *engine.Engine, frames [][]byte) {
	buf := make([]byte, 0, 2048)
	s := engine.NewState()
	in := &engine.Input{In: "wlan0"}
	b.ReportAllocs()
	b.ResetTimer()
	cpu := benchsets.StartCPU()
	for i := 0; i < b.N; i++ {
		buf = append(buf[:0], frames[i%len(frames)][14:]...)
		in.Data, in.Now = buf, int64(i)*1000
		e.Process(s, in)
	}
	b.StopTimer()
	cpu.Report(b)
}
