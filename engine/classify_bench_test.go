package engine_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/ipsift/ipsift/engine"
	"github.com/ipsift/ipsift/internal/benchsets"
	"github.com/ipsift/ipsift/load"
	"github.com/ipsift/ipsift/packet"
)

// The classifier's end-to-end benchmarks (BENCHMARKS.md, "Compiled
// chains"): the whole engine per packet, every chain walked or every
// long chain classified, on ClassBench sets (files and grown), a
// kube-proxy cluster and a blocklist, with uniform and Zipf traces.

func classbenchDir(tb testing.TB) string {
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

// cbSet returns a ClassBench set as a FORWARD chain (each rule
// accepting, the policy dropping) and packets of its trace: the file's
// own, or for n > 0 the file grown to n rules with a trace aimed at its
// rules uniformly (zipf 0) or by a Zipf law.
func cbSet(tb testing.TB, name string, n int, zipf float64) (string, []packet.Desc) {
	d := classbenchDir(tb)
	rt, err := os.ReadFile(filepath.Join(d, name+".rules"))
	if err != nil {
		tb.Fatal(err)
	}
	base, err := benchsets.ParseRules(string(rt))
	if err != nil {
		tb.Fatal(err)
	}
	rules := benchsets.Expanded(base)
	var trace []benchsets.Packet
	if n > 0 || zipf > 0 {
		r := rand.New(rand.NewPCG(uint64(n), 7))
		if n > 0 {
			rules = benchsets.Grow(rules, n, r)
		}
		trace = benchsets.Trace(rules, 4096, zipf, r)
	} else {
		tt, err := os.ReadFile(filepath.Join(d, name+".trace"))
		if err != nil {
			tb.Fatal(err)
		}
		if trace, err = benchsets.ParseTrace(string(tt)); err != nil {
			tb.Fatal(err)
		}
	}
	text := benchsets.Iptables(rules, "FORWARD", "ACCEPT")
	text = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]" + text[len("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]"):]
	var descs []packet.Desc
	for _, p := range trace {
		descs = append(descs, p.Desc("wlan0"))
	}
	return text, descs
}

// prepared is an engine on a set with the set's packets built.
type prepared struct {
	e     *engine.Engine
	datas [][]byte
	ins   []string
}

func prepare(b *testing.B, text string, pkts []packet.Desc, mode engine.ClassifyMode) *prepared {
	lr := load.Bytes("bench.rules", []byte(text), load.Options{})
	if lr.Diags.HasErrors() {
		b.Fatal(lr.Err())
	}
	e, err := engine.New(lr.Rules, nil, engine.Config{Classify: mode, Sets: lr.Sets})
	if err != nil {
		b.Fatal(err)
	}
	if len(pkts) > 4096 {
		pkts = pkts[:4096]
	}
	p := &prepared{e: e}
	for i, d := range pkts {
		data, err := d.Build(i)
		if err != nil {
			b.Fatalf("%s: %v", d.String(), err)
		}
		p.datas = append(p.datas, data)
		p.ins = append(p.ins, d.In)
	}
	return p
}

// run processes the packets in turn, b.N of them.
func (p *prepared) run(b *testing.B) {
	buf := make([]byte, 0, 2048)
	s := engine.NewState()
	in := &engine.Input{}
	b.ReportAllocs()
	b.ResetTimer()
	cpu := benchsets.StartCPU()
	for i := 0; i < b.N; i++ {
		j := i % len(p.datas)
		buf = append(buf[:0], p.datas[j]...)
		in.Data, in.In, in.Now = buf, p.ins[j], int64(i)*1000
		p.e.Process(s, in)
	}
	b.StopTimer()
	cpu.Report(b)
}

var modes = []struct {
	name string
	mode engine.ClassifyMode
}{{"linear", engine.ClassifyLinear}, {"compiled", engine.ClassifyAuto}}

// BenchmarkSets is the engine on every benchmark set, both walks (each
// engine is built once, outside the timing). BENCHMARKS.md runs the
// compiled walks with -benchtime=20000x and the linear ones with 200x.
func BenchmarkSets(b *testing.B) {
	type set struct {
		name string
		make func(testing.TB) (string, []packet.Desc)
	}
	var sets []set
	for _, seed := range []string{"acl1", "fw1", "ipc1"} {
		for _, f := range []string{"_1k", "_8k"} {
			sets = append(sets, set{seed + f, func(tb testing.TB) (string, []packet.Desc) { return cbSet(tb, seed+f, 0, 0) }})
		}
		sets = append(sets, set{seed + "_8k_zipf", func(tb testing.TB) (string, []packet.Desc) { return cbSet(tb, seed+"_8k", 0, 1.1) }})
		for _, n := range []int{1000, 10000, 16000, 32000, 64000, 100000} {
			sets = append(sets, set{fmt.Sprintf("%s_gen%d", seed, n), func(tb testing.TB) (string, []packet.Desc) { return cbSet(tb, seed+"_8k", n, 0) }})
		}
	}
	sets = append(sets,
		set{"one_rule", func(tb testing.TB) (string, []packet.Desc) {
			_, pkts := cbSet(tb, "acl1_8k", 0, 0)
			return "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n-A FORWARD -i wlan0 -j ACCEPT\nCOMMIT\n", pkts
		}},
		set{"kube_5000x3", func(tb testing.TB) (string, []packet.Desc) {
			return benchsets.Kube(5000, 3, rand.New(rand.NewPCG(5, 3)))
		}},
		set{"blocklist_100k_uniform", func(tb testing.TB) (string, []packet.Desc) { return blocklist(0) }},
		set{"blocklist_100k_zipf", func(tb testing.TB) (string, []packet.Desc) { return blocklist(1.1) }},
	)
	for _, st := range sets {
		b.Run(st.name, func(b *testing.B) {
			text, pkts := st.make(b)
			for _, m := range modes {
				// Built on first use (a -bench pattern may leave a
				// walk out) and kept for the next call of the same
				// benchmark.
				var p *prepared
				b.Run(m.name, func(b *testing.B) {
					if p == nil {
						p = prepare(b, text, pkts, m.mode)
					}
					p.run(b)
				})
			}
		})
	}
}

// blocklist is 100,000 blocked sources after a conntrack prelude, with
// 4096 packets from blocked sources drawn uniformly or by a Zipf law
// over the list, one in 16 from an address not on it.
func blocklist(zipf float64) (string, []packet.Desc) {
	r := rand.New(rand.NewPCG(100000, 9))
	text, addrs := benchsets.Blocklist(100000, r)
	var z *rand.Zipf
	if zipf > 1 {
		z = rand.NewZipf(r, zipf, 1, uint64(len(addrs)-1))
	}
	var pkts []packet.Desc
	for i := 0; i < 4096; i++ {
		var j int
		if z != nil {
			j = int(z.Uint64())
		} else {
			j = r.IntN(len(addrs))
		}
		src := addrs[j]
		if i%16 == 15 {
			src = addrs[0].Prev() // most likely not listed; either way the same for both walks
		}
		pkts = append(pkts, packet.Desc{In: "eth0", Src: src, Dst: addrs[len(addrs)-1-j], Proto: packet.ProtoUDP, Sport: uint16(1024 + i%4), Dport: 53})
	}
	return text, pkts
}

// BenchmarkCompile is Ruleset to Program for 100,000 rules (the goal:
// at most 1 s and 1 KiB a rule), linear and with the classifiers built.
func BenchmarkCompile(b *testing.B) {
	for _, st := range []struct {
		name string
		text func(testing.TB) string
	}{
		{"acl1_gen100000", func(tb testing.TB) string { t, _ := cbSet(tb, "acl1_8k", 100000, 0); return t }},
		{"fw1_gen100000", func(tb testing.TB) string { t, _ := cbSet(tb, "fw1_8k", 100000, 0); return t }},
		{"blocklist_100k", func(tb testing.TB) string { t, _ := blocklist(0); return t }},
	} {
		b.Run(st.name, func(b *testing.B) {
			lr := load.Bytes("bench.rules", []byte(st.text(b)), load.Options{})
			if lr.Diags.HasErrors() {
				b.Fatal(lr.Err())
			}
			for _, m := range modes {
				b.Run(m.name, func(b *testing.B) {
					b.ReportAllocs()
					cpu := benchsets.StartCPU()
					for i := 0; i < b.N; i++ {
						if _, err := engine.Compile(lr.Rules, engine.Config{Classify: m.mode}, nil); err != nil {
							b.Fatal(err)
						}
					}
					cpu.Report(b)
				})
			}
		})
	}
}

// BenchmarkLoadCompile is what a user waits for before the first packet
// of a 100,000-rule file: reading it (load.Bytes: parse and check) and
// compiling it. The goal is iptables-legacy-restore's time for the same
// file on the same machine (BENCHMARKS.md, "Compiled chains").
func BenchmarkLoadCompile(b *testing.B) {
	for _, st := range []struct {
		name string
		text func(testing.TB) string
	}{
		{"fw1_gen100000", func(tb testing.TB) string { t, _ := cbSet(tb, "fw1_8k", 100000, 0); return t }},
		{"blocklist_100k", func(tb testing.TB) string { t, _ := blocklist(0); return t }},
	} {
		b.Run(st.name, func(b *testing.B) {
			text := []byte(st.text(b))
			b.ReportAllocs()
			cpu := benchsets.StartCPU()
			for i := 0; i < b.N; i++ {
				lr := load.Bytes("bench.rules", text, load.Options{})
				if lr.Diags.HasErrors() {
					b.Fatal(lr.Err())
				}
				if _, err := engine.Compile(lr.Rules, engine.Config{}, nil); err != nil {
					b.Fatal(err)
				}
			}
			cpu.Report(b)
		})
	}
}
