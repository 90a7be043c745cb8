package kernelbench

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ipsift/ipsift/internal/kernel"
)

// envInt reads a positive integer from the environment, def when unset.
func envInt(t *testing.T, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive number", name, s)
	}
	return n
}

// setNames are the sets TestKernelCost knows, in the order it runs them
// (engine's BenchmarkSets names): the sets up to 10,000 rules of every
// seed first, then the big ones, which take minutes each on nft.
var setNames = func() []string {
	seeds := []string{"acl1", "fw1", "ipc1"}
	var out []string
	for _, seed := range seeds {
		out = append(out, seed+"_gen1000", seed+"_1k", seed+"_8k", seed+"_8k_zipf", seed+"_gen10000")
	}
	for _, seed := range seeds {
		for _, n := range []int{16000, 32000, 64000, 100000} {
			out = append(out, fmt.Sprintf("%s_gen%d", seed, n))
		}
	}
	return append(out, "blocklist_100k_uniform")
}()

// makeSet builds the set of one of setNames.
func makeSet(dir, name string, packets int) (Set, error) {
	if name == "blocklist_100k_uniform" {
		return Blocklist(100000, packets), nil
	}
	if seed, size, ok := strings.Cut(name, "_gen"); ok {
		n, err := strconv.Atoi(size)
		if err != nil {
			return Set{}, fmt.Errorf("set %s: %v", name, err)
		}
		return ClassBench(dir, seed+"_8k", n, packets, 0)
	}
	if file, ok := strings.CutSuffix(name, "_zipf"); ok {
		return ClassBench(dir, file, 0, packets, 1.1)
	}
	return ClassBench(dir, name, 0, packets, 0)
}

// TestKernelCost is the kernel's side of the classifier benchmarks
// (BENCHMARKS.md, "The kernel, measured"): for each set, both backends,
// the burst time with the set's rules and with an empty ruleset, each
// on a firewall of its own (four lanes), interleaved, median of the
// repetitions. It is a measurement, not a test: it runs only with
// IPSIFT_KERNEL_BENCH=1, as root, and prints its figures:
//
//	sudo IPSIFT_KERNEL_BENCH=1 IPSIFT_SHARED=/work/shared go test ./internal/benchsets/kernelbench \
//	    -run KernelCost -v -timeout 2h [IPSIFT_KERNEL_BENCH_SETS=REGEXP] [_PACKETS=10000] [_REPS=5]
//
// It fails when a burst loses a packet or FORWARD's counters do not
// add up to the packets sent.
func TestKernelCost(t *testing.T) {
	if os.Getenv("IPSIFT_KERNEL_BENCH") != "1" {
		t.Skip("a measurement for BENCHMARKS.md: run it with IPSIFT_KERNEL_BENCH=1 as root")
	}
	kernel.Require(t)
	shared := os.Getenv("IPSIFT_SHARED")
	if shared == "" {
		t.Fatal("set IPSIFT_SHARED to the directory holding bench/classbench")
	}
	dir := filepath.Join(shared, "bench", "classbench")
	packets := envInt(t, "IPSIFT_KERNEL_BENCH_PACKETS", 10000)
	reps := envInt(t, "IPSIFT_KERNEL_BENCH_REPS", 5)
	sel, err := regexp.Compile("^(" + os.Getenv("IPSIFT_KERNEL_BENCH_SETS") + ")$")
	if os.Getenv("IPSIFT_KERNEL_BENCH_SETS") == "" {
		sel, err = regexp.Compile(".")
	}
	if err != nil {
		t.Fatalf("IPSIFT_KERNEL_BENCH_SETS: %v", err)
	}

	type pair struct{ empty, set *Lane }
	backends := []kernel.Backend{kernel.Legacy, kernel.NFT}
	lanes := map[kernel.Backend]pair{}
	for _, b := range backends {
		p := pair{NewLane(t, b, string(b)+"-empty"), NewLane(t, b, string(b)+"-set")}
		if _, err := p.empty.Load(Empty); err != nil {
			t.Fatal(err)
		}
		lanes[b] = p
	}
	fmt.Printf("kernel-start %s loadavg=%s packets=%d reps=%d\n", time.Now().UTC().Format(time.RFC3339), LoadAvg(), packets, reps)
	for _, name := range setNames {
		if !sel.MatchString(name) {
			continue
		}
		set, err := makeSet(dir, name, packets)
		if err != nil {
			t.Fatal(err)
		}
		wlan0 := lanes[kernel.Legacy].set.wlan0
		frames, left, err := Frames(set.Trace, packets, wlan0.MAC, wlan0.PeerMAC)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, b := range backends {
			d, err := lanes[b].set.Load(set.Text)
			if err != nil {
				t.Fatalf("%s, %s: %v", name, b, err)
			}
			fmt.Printf("kernel-load %s %s rules=%d seconds=%.2f\n", name, b, set.Rules, d.Seconds())
			// Counters from zero on the empty lanes too.
			if _, err := lanes[b].empty.Load(Empty); err != nil {
				t.Fatal(err)
			}
		}
		order := []*Lane{lanes[kernel.Legacy].empty, lanes[kernel.Legacy].set, lanes[kernel.NFT].empty, lanes[kernel.NFT].set}
		for _, l := range order { // warm-up, not counted
			if _, err := l.Burst(frames); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
		got := map[*Lane][]Burst{}
		for rep := 0; rep < reps; rep++ {
			for i := range order {
				l := order[i]
				if rep%2 == 1 {
					l = order[len(order)-1-i]
				}
				b, err := l.Burst(frames)
				if err != nil {
					t.Fatalf("%s, repetition %d: %v", name, rep+1, err)
				}
				got[l] = append(got[l], b)
			}
			for _, b := range backends {
				e, s := got[lanes[b].empty][rep], got[lanes[b].set][rep]
				fmt.Printf("kernel-rep %s %s rep=%d empty-ns=%.0f set-ns=%.0f cost-ns=%.0f cpu-empty-ns=%.0f cpu-set-ns=%.0f cpu-cost-ns=%.0f in-flight=%d,%d loadavg=%s\n",
					name, b, rep+1, perPacket(e.Wall, e.Sent), perPacket(s.Wall, s.Sent), perPacket(s.Wall-e.Wall, s.Sent),
					perPacket(e.CPU, e.Sent), perPacket(s.CPU, s.Sent), perPacket(s.CPU-e.CPU, s.Sent), e.MaxInFlight, s.MaxInFlight, LoadAvg())
			}
		}
		fwd := map[*Lane]Forward{}
		for _, l := range order {
			f, err := l.ForwardCounted()
			if err != nil {
				t.Fatal(err)
			}
			if f.Counted != uint64(f.Sent) {
				t.Errorf("%s, lane %s: FORWARD counted %d packets, %d were sent", name, l.Name, f.Counted, f.Sent)
			}
			fwd[l] = f
		}
		for _, b := range backends {
			var cost, cpu, empty, full []float64
			for i, e := range got[lanes[b].empty] {
				s := got[lanes[b].set][i]
				cost = append(cost, perPacket(s.Wall-e.Wall, s.Sent))
				cpu = append(cpu, perPacket(s.CPU-e.CPU, s.Sent))
				empty = append(empty, perPacket(e.Wall, e.Sent))
				full = append(full, perPacket(s.Wall, s.Sent))
			}
			f := fwd[lanes[b].set]
			fmt.Printf("kernel %s %s rules=%d packets=%d xor=%#x,%#x left-out=%d to-policy=%d%% walked=%.0f reps=%d cost-ns=%.0f cpu-cost-ns=%.0f empty-ns=%.0f set-ns=%.0f loadavg=%s\n",
				name, b, set.Rules, packets, set.SrcXor>>24, set.DstXor>>24, left, f.Policy*100/max(f.Counted, 1), f.Walked,
				reps, Median(cost), Median(cpu), Median(empty), Median(full), LoadAvg())
		}
	}
}

func perPacket(d time.Duration, n int) float64 { return float64(d.Nanoseconds()) / float64(n) }
