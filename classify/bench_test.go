package classify_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/ipsift/ipsift/classify"
	"github.com/ipsift/ipsift/internal/benchsets"
)

func sharedDir(tb testing.TB) string {
	d := os.Getenv("IPSIFT_SHARED")
	if d == "" {
		d = "../../shared"
	}
	d = filepath.Join(d, "bench", "classbench")
	if _, err := os.Stat(d); err != nil {
		tb.Skipf("no ClassBench data (%v): set IPSIFT_SHARED", err)
	}
	return d
}

func load(tb testing.TB, name string) ([]benchsets.Rule, []benchsets.Packet) {
	d := sharedDir(tb)
	rt, err := os.ReadFile(filepath.Join(d, name+".rules"))
	if err != nil {
		tb.Fatal(err)
	}
	rules, err := benchsets.ParseRules(string(rt))
	if err != nil {
		tb.Fatal(err)
	}
	tt, err := os.ReadFile(filepath.Join(d, name+".trace"))
	if err != nil {
		tb.Fatal(err)
	}
	trace, err := benchsets.ParseTrace(string(tt))
	if err != nil {
		tb.Fatal(err)
	}
	return rules, trace
}

// toRules gives the classifier's view of expanded ClassBench rules.
func toRules(rules []benchsets.Rule) []classify.Rule {
	out := make([]classify.Rule, len(rules))
	for i, r := range rules {
		c := classify.Any()
		c.Src, c.Dst = r.Src, r.Dst
		if r.SrcLen > 0 {
			c.SrcMask = ^uint32(0) << (32 - r.SrcLen)
		}
		if r.DstLen > 0 {
			c.DstMask = ^uint32(0) << (32 - r.DstLen)
		}
		if !r.ProtoAny {
			c.HasProto, c.Proto = true, r.Proto
		}
		c.NarrowSPort(r.SPort[0], r.SPort[1])
		c.NarrowDPort(r.DPort[0], r.DPort[1])
		out[i] = c
	}
	return out
}

func keys(trace []benchsets.Packet) []classify.Key {
	out := make([]classify.Key, len(trace))
	for i, p := range trace {
		out[i] = classify.Key{Src: p.Src, Dst: p.Dst, SPort: p.SPort, DPort: p.DPort, Proto: p.Proto}
	}
	return out
}

// set is one benchmark rule set: a ClassBench file, or one grown from
// a seed file to n rules (with a uniform trace aimed at its rules).
func set(tb testing.TB, seed string, n int, zipf float64) ([]classify.Rule, []classify.Key) {
	base, trace := load(tb, seed)
	rules := benchsets.Expanded(base)
	if n > 0 {
		r := rand.New(rand.NewPCG(uint64(n), 7))
		rules = benchsets.Grow(rules, n, r)
		trace = benchsets.Trace(rules, 100000, zipf, r)
	}
	return toRules(rules), keys(trace)
}

func benchNext(b *testing.B, rules []classify.Rule, ks []classify.Key) {
	c := classify.Build(rules, classify.Params{})
	b.ReportAllocs()
	b.ResetTimer()
	cpu := benchsets.StartCPU()
	sum := 0
	for i := 0; i < b.N; i++ {
		sum += c.Next(&ks[i%len(ks)], 0)
	}
	b.StopTimer()
	cpu.Report(b)
	var tb, en int
	for i := range ks {
		t, e := c.Cost(&ks[i], 0)
		tb, en = tb+t, en+e
	}
	b.ReportMetric(float64(c.Tables()), "tables")
	b.ReportMetric(float64(tb)/float64(len(ks)), "probes/op")
	b.ReportMetric(float64(en)/float64(len(ks)), "compares/op")
	_ = sum
}

// BenchmarkNext is the classifier alone on the ClassBench files with
// their traces, and on sets grown from them (1k to 100k rules).
func BenchmarkNext(b *testing.B) {
	for _, seed := range []string{"acl1", "fw1", "ipc1"} {
		for _, f := range []string{"_1k", "_8k"} {
			b.Run(seed+f, func(b *testing.B) {
				rules, ks := set(b, seed+f, 0, 0)
				benchNext(b, rules, ks)
			})
		}
		for _, n := range []int{1000, 10000, 16000, 32000, 64000, 100000} {
			b.Run(fmt.Sprintf("%s_gen%d", seed, n), func(b *testing.B) {
				rules, ks := set(b, seed+"_8k", n, 0)
				benchNext(b, rules, ks)
			})
		}
	}
}

// TestBuildCost reports the time and memory Build takes for 100,000
// rules (the goal is at most 1 s and 1 KiB a rule; a report, never an
// assertion).
func TestBuildCost(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	for _, seed := range []string{"acl1", "fw1", "ipc1"} {
		rules, _ := set(t, seed+"_8k", 100000, 0)
		runtime.GC()
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		start := time.Now()
		c := classify.Build(rules, classify.Params{})
		d := time.Since(start)
		runtime.ReadMemStats(&m1)
		t.Logf("%s 100k: build %v, %d tables, allocated %.0f B/rule", seed, d, c.Tables(), float64(m1.TotalAlloc-m0.TotalAlloc)/float64(len(rules)))
	}
}
