package datapath_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestThroughputVsKernel measures, in the end-to-end topology, HTTP
// requests per second (each its own connection, DNAT'd over the four
// mirrors) and bulk throughput through the port-80 DNAT, first with
// ipsift enforcing gateway.rules over NFQUEUE, then with the kernel
// itself loaded with the same rules. It is a measurement, not a check:
// it runs only with IPSIFT_DATAPATH_BENCH=1 and logs its figures
// (recorded in BENCHMARKS.md). Loads are bounded in count and time.
func TestThroughputVsKernel(t *testing.T) {
	if os.Getenv("IPSIFT_DATAPATH_BENCH") == "" {
		t.Skip("a measurement: run with IPSIFT_DATAPATH_BENCH=1")
	}
	const requests = 400
	tp := newTopology(t)
	rules := gatewayRules(t, t.TempDir())
	measure := func(name string) (rps, mbps float64) {
		start := time.Now()
		n := 0
		for n < requests && time.Since(start) < 60*time.Second {
			if _, err := tp.get("203.0.113.7", "198.51.100.1:80", "who"); err != nil {
				t.Fatalf("%s: request %d: %v", name, n, err)
			}
			n++
		}
		rps = float64(n) / time.Since(start).Seconds()
		start = time.Now()
		total := 0
		for i := 0; i < 5; i++ {
			body, err := tp.get("203.0.113.7", "198.51.100.1:80", "big")
			if err != nil {
				t.Fatalf("%s: bulk %d: %v", name, i, err)
			}
			total += len(body)
		}
		mbps = float64(total) / 1e6 / time.Since(start).Seconds()
		t.Logf("%s: %.0f requests/s (%d sequential HTTP/1.0 requests), %.0f MB/s bulk through DNAT (~%.0f packets/s of 1448-byte segments)",
			name, rps, n, mbps, mbps*1e6/1448)
		return rps, mbps
	}

	p := tp.runIpsift(t, rules)
	ipsiftRPS, ipsiftMBps := measure("ipsift (NFQUEUE)")
	if out, err := p.ctlCmd(t, "stats"); err == nil {
		t.Logf("ipsift ctl stats:\n%s", out)
	}
	p.cmd.Process.Signal(os.Interrupt)
	p.wait(10 * time.Second)
	tp.removeRules()

	restore := exec.Command("ip", "netns", "exec", tp.fw, "iptables-restore", rules)
	if out, err := restore.CombinedOutput(); err != nil {
		t.Fatalf("kernel rules: %v: %s", err, out)
	}
	kernelRPS, kernelMBps := measure("kernel (iptables-restore)")
	t.Logf("ipsift/kernel: requests %.2f×, bulk %.2f×", ipsiftRPS/kernelRPS, ipsiftMBps/kernelMBps)
	if !strings.Contains(rules, "gateway") {
		t.Log(rules)
	}
}
