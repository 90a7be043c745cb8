package replay

import (
	"bytes"
	"fmt"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ipsift/ipsift/capture"
	"github.com/ipsift/ipsift/internal/capgen"
	"github.com/ipsift/ipsift/rules"
)

// benchmarkReplay replays a seeded synthetic capture through
// gateway.rules, the whole capture per iteration, and reports packets
// per second (BENCHMARKS.md has the figures and the command). The
// handshakes that open the workload's first connections are replayed
// first through the same Replayer and left out of the figures: they
// measure the steady state.
func benchmarkReplay(b *testing.B, c capgen.Config) {
	benchmarkReplayRules(b, c, gateway(b))
}

func benchmarkReplayRules(b *testing.B, c capgen.Config, rs *rules.Ruleset) {
	benchmarkReplayOptions(b, c, rs, Options{})
}

// benchmarkReplayOptions is benchmarkReplay with options o. With
// o.ReadAhead the reading goroutine's CPU time is on another thread:
// besides the engine thread's own, the whole process's CPU time per
// packet (proc-cpu-ns/packet: both goroutines and the collector) and the
// packets per wall-clock second say what two cores do.
func benchmarkReplayOptions(b *testing.B, c capgen.Config, rs *rules.Ruleset, o Options) {
	var warmBuf, buf bytes.Buffer
	if err := capgen.WriteWarm(&warmBuf, &buf, c); err != nil {
		b.Fatal(err)
	}
	warm, file := warmBuf.Bytes(), buf.Bytes()
	// The machine is shared: besides the wall clock, the CPU time of
	// the benchmark's own thread says what one core does.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var n, allocs uint64
	var cpu, proc, wall time.Duration
	var ms runtime.MemStats
	for b.Loop() {
		b.StopTimer()
		e := newEngine(b, rs)
		r := New(e, o)
		wrd, _ := capture.NewReader(bytes.NewReader(warm))
		if err := r.Run(wrd); err != nil {
			b.Fatal(err)
		}
		before := r.Report().Replayed.Packets
		rd, _ := capture.NewReader(bytes.NewReader(file))
		runtime.ReadMemStats(&ms)
		a0 := ms.Mallocs
		b.StartTimer()
		t0, p0, w0 := threadCPU(), processCPU(), time.Now()
		if err := timedRun(r, rd); err != nil {
			b.Fatal(err)
		}
		cpu += threadCPU() - t0
		proc += processCPU() - p0
		wall += time.Since(w0)
		b.StopTimer()
		runtime.ReadMemStats(&ms)
		allocs += ms.Mallocs - a0
		n += r.Report().Replayed.Packets - before
		b.StartTimer()
	}
	b.ReportMetric(float64(wall.Nanoseconds())/float64(n), "wall-ns/packet")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(n), "cpu-ns/packet")
	b.ReportMetric(float64(n)/cpu.Seconds(), "packets/cpu-s")
	if o.ReadAhead {
		b.ReportMetric(float64(proc.Nanoseconds())/float64(n), "proc-cpu-ns/packet")
		b.ReportMetric(float64(n)/wall.Seconds(), "packets/wall-s")
	}
	b.ReportMetric(float64(allocs)/float64(n), "allocs/packet")
}

// timedRun is the measured Run, a function of its own for profilers
// (valgrind --toggle-collect='*replay.timedRun' counts its instructions
// alone, the warm-up left out).
//
//go:noinline
func timedRun(r *Replayer, rd *capture.Reader) error { return r.Run(rd) }

// threadCPU is the CPU time the calling thread has used.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// processCPU is the CPU time of the whole process.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// The same workloads with the capture read in a goroutine of its own
// (Options.ReadAhead): run with -cpu 2.
func BenchmarkReadAheadEstablished(b *testing.B) {
	benchmarkReplayOptions(b, capgen.Config{Workload: capgen.Established, Packets: 200000, Flows: 10000, Seed: 1}, gateway(b), Options{ReadAhead: true})
}

func BenchmarkReadAheadMix(b *testing.B) {
	benchmarkReplayOptions(b, capgen.Config{Workload: capgen.Mix, Packets: 200000, Flows: 100000, Seed: 2}, gateway(b), Options{ReadAhead: true})
}

func BenchmarkReadAheadFlood(b *testing.B) {
	benchmarkReplayOptions(b, capgen.Config{Workload: capgen.Flood, Packets: 200000, Seed: 3}, gateway(b), Options{ReadAhead: true})
}

func BenchmarkReplayEstablished(b *testing.B) {
	benchmarkReplay(b, capgen.Config{Workload: capgen.Established, Packets: 200000, Flows: 10000, Seed: 1})
}

func BenchmarkReplayMix(b *testing.B) {
	benchmarkReplay(b, capgen.Config{Workload: capgen.Mix, Packets: 200000, Flows: 100000, Seed: 2})
}

func BenchmarkReplayFlood(b *testing.B) {
	benchmarkReplay(b, capgen.Config{Workload: capgen.Flood, Packets: 200000, Seed: 3})
}

// rules10k is gateway.rules with 10,000 rules in FORWARD after its
// ESTABLISHED rule, none of which matches the traffic: every new
// connection meets all of them, established packets none.
func rules10k(b testing.TB) *rules.Ruleset {
	rs := gateway(b).Clone()
	fwd := rs.Table("filter").Chain("FORWARD")
	var text strings.Builder
	text.WriteString("*filter\n:FORWARD DROP [0:0]\n")
	for i := range 10000 {
		fmt.Fprintf(&text, "-A FORWARD -d 203.0.113.%d/32 -i wlan0 -p tcp -m tcp --dport %d -j DROP\n", 1+i%250, 10000+i)
	}
	text.WriteString("COMMIT\n")
	gen := rules.New()
	if _, err := gen.Restore(strings.NewReader(text.String()), rules.RestoreOptions{}); err != nil {
		b.Fatal(err)
	}
	extra := gen.Table("filter").Chain("FORWARD").Rules
	fwd.Rules = append(append(append([]*rules.Rule{}, fwd.Rules[0]), extra...), fwd.Rules[1:]...)
	return rs
}

func BenchmarkReplayEstablished10k(b *testing.B) {
	benchmarkReplayRules(b, capgen.Config{Workload: capgen.Established, Packets: 200000, Flows: 10000, Seed: 1}, rules10k(b))
}

func BenchmarkReplayMix10k(b *testing.B) {
	benchmarkReplayRules(b, capgen.Config{Workload: capgen.Mix, Packets: 200000, Flows: 100000, Seed: 2}, rules10k(b))
}

func BenchmarkReplayFlood10k(b *testing.B) {
	benchmarkReplayRules(b, capgen.Config{Workload: capgen.Flood, Packets: 20000, Seed: 3}, rules10k(b))
}

// BenchmarkReadOnly is the reader's share: the same established capture
// read and decoded without running the engine.
func BenchmarkReadOnly(b *testing.B) {
	var buf bytes.Buffer
	capgen.Write(&buf, capgen.Config{Workload: capgen.Established, Packets: 200000, Flows: 10000, Seed: 1})
	file := buf.Bytes()
	b.ReportAllocs()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	n := 0
	t0 := threadCPU()
	for b.Loop() {
		rd, _ := capture.NewReader(bytes.NewReader(file))
		var rec capture.Record
		var fr capture.Frame
		for rd.Next(&rec) == nil {
			fr.Decode(rec.Link, rec.Data, rec.BigEndian)
			n++
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "wall-ns/packet")
	b.ReportMetric(float64((threadCPU()-t0).Nanoseconds())/float64(n), "cpu-ns/packet")
}
