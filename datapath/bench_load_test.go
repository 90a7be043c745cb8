package datapath_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestLoadVsKernel measures, in the end-to-end topology, concurrent
// short HTTP connections (requests/s) and a bulk transfer (packets/s
// through the firewall) through the port-80 DNAT of gateway.rules,
// first with ipsift enforcing over NFQUEUE (the kernel's own tables
// empty), then with the kernel itself loaded with the same rules by
// iptables-restore. For ipsift it also reports the engine's share of
// the time: engine time (ipsift ctl stats) against the process's CPU
// time and against the wall time per queued packet. A measurement, not
// a check: it runs only with IPSIFT_DATAPATH_BENCH=1 (BENCHMARKS.md).
// Every load is bounded in count and time.
func TestLoadVsKernel(t *testing.T) {
	if os.Getenv("IPSIFT_DATAPATH_BENCH") == "" {
		t.Skip("a measurement: run with IPSIFT_DATAPATH_BENCH=1")
	}
	const (
		requests    = 2000
		concurrency = 16
		bulkGets    = 5 // of the 8 MB /big
		limit       = 60 * time.Second
	)
	tp := newTopology(t)
	rules := gatewayRules(t, t.TempDir())

	type phase struct {
		n       int
		elapsed time.Duration
		fwPkts  uint64 // packets received by the firewall's two interfaces
		bytes   int
	}
	httpLoad := func(name string) phase {
		var next, failed atomic.Int64
		var wg sync.WaitGroup
		pk0 := tp.fwRxPackets(t)
		start := time.Now()
		for w := 0; w < concurrency; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for next.Add(1) <= requests && time.Since(start) < limit {
					if _, err := tp.get("203.0.113.7", "198.51.100.1:80", "who"); err != nil {
						if failed.Add(1) == 1 {
							t.Logf("%s: a request failed: %v", name, err)
						}
					}
				}
			}()
		}
		wg.Wait()
		el := time.Since(start)
		done := int(min(next.Load()-concurrency, requests))
		if f := failed.Load(); f*100 > int64(done) {
			t.Fatalf("%s: %d of %d requests failed", name, f, done)
		}
		return phase{n: done - int(failed.Load()), elapsed: el, fwPkts: tp.fwRxPackets(t) - pk0}
	}
	bulk := func(name string) phase {
		pk0 := tp.fwRxPackets(t)
		start := time.Now()
		total := 0
		for i := 0; i < bulkGets && time.Since(start) < limit; i++ {
			body, err := tp.get("203.0.113.7", "198.51.100.1:80", "big")
			if err != nil || len(body) != tp.bigLen {
				t.Fatalf("%s: bulk %d: %d bytes, %v", name, i, len(body), err)
			}
			total += len(body)
		}
		return phase{elapsed: time.Since(start), fwPkts: tp.fwRxPackets(t) - pk0, bytes: total}
	}
	report := func(name string, h, b phase) (rps, pps float64) {
		rps = float64(h.n) / h.elapsed.Seconds()
		pps = float64(b.fwPkts) / b.elapsed.Seconds()
		t.Logf("%s: HTTP %d requests, %d at a time: %.0f requests/s (%.0f firewall packets/s); bulk %d MB: %.0f MB/s, %.0f firewall packets/s (%d packets, GSO/GRO super-packets count as one)",
			name, h.n, concurrency, rps, float64(h.fwPkts)/h.elapsed.Seconds(), b.bytes>>20, float64(b.bytes)/1e6/b.elapsed.Seconds(), pps, b.fwPkts)
		return rps, pps
	}

	// ipsift.
	p := tp.runIpsift(t, rules)
	pid := p.cmd.Process.Pid // ip netns exec execs ipsift: the same process
	engineShare := func(name string, run func() phase) phase {
		s0, c0 := p.stats(t), procCPU(t, pid)
		ph := run()
		s1, c1 := p.stats(t), procCPU(t, pid)
		pk := s1["packets"] - s0["packets"]
		runs1 := s1["packets"] - s1["second_pass"]
		runs0 := s0["packets"] - s0["second_pass"]
		engine := time.Duration(s1["engine_ns_per_packet"]*runs1 - s0["engine_ns_per_packet"]*runs0)
		cpu := c1 - c0
		t.Logf("ipsift %s: %d packets queued (%d second passes), %.0f queued packets/s; engine %v in all (%.0f ns per engine run), ipsift CPU %v (%.1f µs per queued packet), wall %.1f µs per queued packet; engine share: %.1f%% of ipsift's CPU, %.1f%% of the wall time",
			name, pk, s1["second_pass"]-s0["second_pass"], float64(pk)/ph.elapsed.Seconds(),
			engine.Round(time.Millisecond), float64(engine)/float64(max(runs1-runs0, 1)),
			cpu, float64(cpu.Microseconds())/float64(max(pk, 1)), float64(ph.elapsed.Microseconds())/float64(max(pk, 1)),
			100*float64(engine)/float64(max(cpu, 1)), 100*float64(engine)/float64(ph.elapsed))
		return ph
	}
	ih := engineShare("HTTP", func() phase { return httpLoad("ipsift") })
	ib := engineShare("bulk", func() phase { return bulk("ipsift") })
	iRPS, iPPS := report("ipsift (NFQUEUE)", ih, ib)
	if out, err := p.ctlCmd(t, "stats"); err == nil {
		t.Logf("ipsift ctl stats at the end:\n%s", out)
	}
	p.cmd.Process.Signal(os.Interrupt)
	if _, ok := p.wait(10 * time.Second); !ok {
		t.Fatal("ipsift did not stop on SIGINT")
	}
	tp.removeRules()

	// The kernel, same rules.
	if out, err := exec.Command("ip", "netns", "exec", tp.fw, "iptables-restore", rules).CombinedOutput(); err != nil {
		t.Fatalf("kernel rules: %v: %s", err, out)
	}
	kRPS, kPPS := report("kernel (iptables-restore)", httpLoad("kernel"), bulk("kernel"))
	t.Logf("ipsift/kernel: requests/s %.2f×, bulk packets/s %.2f×", iRPS/kRPS, iPPS/kPPS)
}

// fwRxPackets is the number of packets the firewall's eth0 and wlan0
// have received (every forwarded packet is received once).
func (tp *topology) fwRxPackets(t *testing.T) uint64 {
	out, err := exec.Command("ip", "-n", tp.fw, "-s", "-j", "link", "show").Output()
	if err != nil {
		t.Fatalf("ip -s link: %v", err)
	}
	var links []struct {
		Ifname string `json:"ifname"`
		Stats  struct {
			RX struct {
				Packets uint64 `json:"packets"`
			} `json:"rx"`
		} `json:"stats64"`
	}
	if err := json.Unmarshal(out, &links); err != nil {
		t.Fatalf("ip -s -j link: %v", err)
	}
	var n uint64
	for _, l := range links {
		if l.Ifname == "eth0" || l.Ifname == "wlan0" {
			n += l.Stats.RX.Packets
		}
	}
	return n
}

// stats reads ipsift ctl stats as numbers.
func (p *ipsiftProc) stats(t *testing.T) map[string]uint64 {
	out, err := p.ctlCmd(t, "stats")
	if err != nil {
		t.Fatalf("ctl stats: %v\n%s", err, out)
	}
	m := map[string]uint64{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, " "); ok {
			if n, err := strconv.ParseUint(v, 10, 64); err == nil {
				m[k] = n
			}
		}
	}
	return m
}

// procCPU is the user plus system CPU time of process pid.
func procCPU(t *testing.T, pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the command name (which may hold spaces): state is
	// field 3, utime 14, stime 15, in clock ticks (USER_HZ, 100).
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	ut, _ := strconv.ParseUint(f[11], 10, 64)
	st, _ := strconv.ParseUint(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}
