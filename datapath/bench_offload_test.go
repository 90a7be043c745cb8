package datapath_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestLoadOffload measures connection offload (BENCHMARKS.md, "Connection
// offload"): on the gateway topology, in one run and in turns, the
// kernel with gateway.rules, ipsift with --offload=off, ipsift with
// offload, and ipsift with offload under rules that keep every packet in
// userspace (a limit on the established path). HTTP: new connections,
// 16 at a time, GET /who; bulk: GET of the 8 MB /big through the DNAT.
// A measurement, not a check: it runs only with IPSIFT_DATAPATH_BENCH=1.
// IPSIFT_OFFLOAD_ROUNDS sets the rounds (default 3).
func TestLoadOffload(t *testing.T) {
	if os.Getenv("IPSIFT_DATAPATH_BENCH") == "" {
		t.Skip("a measurement: run with IPSIFT_DATAPATH_BENCH=1")
	}
	rounds := 3
	fmt.Sscan(os.Getenv("IPSIFT_OFFLOAD_ROUNDS"), &rounds)
	const (
		requests    = 1500
		concurrency = 16
		bulkGets    = 4
	)
	tp := newTopologyNamed(t, "oflbench")
	dir := t.TempDir()
	rules := gatewayRules(t, dir)
	data, _ := os.ReadFile(rules)
	limited := filepath.Join(dir, "limited.rules")
	os.WriteFile(limited, []byte(strings.Replace(string(data), "-A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
		"-A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -m limit --limit 10000/sec --limit-burst 10000 -j ACCEPT", 1)), 0o644)

	httpLoad := func() float64 {
		var next, failed atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for w := 0; w < concurrency; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for next.Add(1) <= requests && time.Since(start) < time.Minute {
					if _, err := tp.get("203.0.113.7", "198.51.100.1:80", "who"); err != nil {
						failed.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		done := min(next.Load()-concurrency, requests)
		if f := failed.Load(); f*100 > done {
			t.Fatalf("%d of %d requests failed", f, done)
		}
		return float64(done-failed.Load()) / time.Since(start).Seconds()
	}
	bulk := func() float64 {
		start := time.Now()
		total := 0
		for i := 0; i < bulkGets; i++ {
			body, err := tp.get("203.0.113.7", "198.51.100.1:80", "big")
			if err != nil || len(body) != tp.bigLen {
				t.Fatalf("bulk: %d bytes, %v", len(body), err)
			}
			total += len(body)
		}
		return float64(total) / 1e6 / time.Since(start).Seconds()
	}
	type result struct {
		rps, mbs       []float64
		shareH, shareB []float64 // share of the packets the firewall received that crossed to ipsift, HTTP and bulk
		cpuPerPkt      []float64 // ipsift's CPU per packet the firewall received, µs
	}
	res := map[string]*result{}
	kinds := []string{"kernel", "ipsift --offload=off", "ipsift offload", "ipsift offload, limit on the path"}
	for _, k := range kinds {
		res[k] = &result{}
	}
	flushKernel := func() {
		for _, c := range []string{"iptables -F", "iptables -X", "iptables -t nat -F", "iptables -t nat -X", "iptables -P INPUT ACCEPT", "iptables -P FORWARD ACCEPT", "conntrack -F"} {
			exec.Command("ip", append([]string{"netns", "exec", tp.fw}, strings.Fields(c)...)...).Run()
		}
	}
	// Warm up (servers, caches) with the kernel; not counted.
	exec.Command("ip", "netns", "exec", tp.fw, "iptables-restore", rules).Run()
	httpLoad()
	flushKernel()
	for r := 0; r < rounds; r++ {
		for i := range kinds {
			k := kinds[(i+r)%len(kinds)] // each kind in another place each round
			rs := res[k]
			if k == "kernel" {
				if out, err := exec.Command("ip", "netns", "exec", tp.fw, "iptables-restore", rules).CombinedOutput(); err != nil {
					t.Fatalf("kernel rules: %v: %s", err, out)
				}
				rs.rps = append(rs.rps, httpLoad())
				rs.mbs = append(rs.mbs, bulk())
				flushKernel()
				continue
			}
			file, extra := rules, []string{}
			switch k {
			case "ipsift --offload=off":
				extra = append(extra, "--offload=off")
			case "ipsift offload, limit on the path":
				file = limited
			}
			p := tp.runIpsift(t, file, extra...)
			pid := p.cmd.Process.Pid
			pk0, c0, q0 := tp.fwRxPackets(t), procCPU(t, pid), p.stats(t)["packets"]
			rs.rps = append(rs.rps, httpLoad())
			pk1, q1 := tp.fwRxPackets(t), p.stats(t)["packets"]
			rs.mbs = append(rs.mbs, bulk())
			pk2, cpu, q2 := tp.fwRxPackets(t), procCPU(t, pid)-c0, p.stats(t)["packets"]
			rs.shareH = append(rs.shareH, 100*float64(q1-q0)/float64(max(pk1-pk0, 1)))
			rs.shareB = append(rs.shareB, 100*float64(q2-q1)/float64(max(pk2-pk1, 1)))
			rs.cpuPerPkt = append(rs.cpuPerPkt, float64(cpu.Microseconds())/float64(max(pk2-pk0, 1)))
			p.cmd.Process.Signal(os.Interrupt)
			if _, ok := p.wait(10 * time.Second); !ok {
				t.Fatal("ipsift did not stop on SIGINT")
			}
			tp.removeRules()
			flushKernel()
		}
	}
	med := func(v []float64) string {
		if len(v) == 0 {
			return "-"
		}
		s := slices.Clone(v)
		slices.Sort(s)
		return fmt.Sprintf("%.0f (%.0f-%.0f)", s[len(s)/2], s[0], s[len(s)-1])
	}
	medf := func(v []float64) string {
		if len(v) == 0 {
			return "-"
		}
		s := slices.Clone(v)
		slices.Sort(s)
		return fmt.Sprintf("%.1f (%.1f-%.1f)", s[len(s)/2], s[0], s[len(s)-1])
	}
	median := func(v []float64) float64 { s := slices.Clone(v); slices.Sort(s); return s[len(s)/2] }
	k := res["kernel"]
	t.Logf("%d rounds; median (min-max)", rounds)
	t.Logf("| %-34s | %-20s | %-18s | %-6s | %-6s | %-18s | %-18s | %-18s |", "", "HTTP requests/s", "bulk MB/s", "HTTP×", "bulk×", "% queued, HTTP", "% queued, bulk", "µs CPU/packet")
	for _, name := range kinds {
		rs := res[name]
		t.Logf("| %-34s | %-20s | %-18s | %-6.2f | %-6.2f | %-18s | %-18s | %-18s |", name, med(rs.rps), med(rs.mbs),
			median(rs.rps)/median(k.rps), median(rs.mbs)/median(k.mbs), medf(rs.shareH), medf(rs.shareB), medf(rs.cpuPerPkt))
	}
}
