package datapath_test

import (
	"crypto/sha256"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// TestGatewayMultiQueue runs gateway.rules with two queues balanced by
// address (--queue 3:4, one worker each on one engine) and clients on
// several addresses, so that both queues carry packets of the same
// connections (a request and its reply hash differently after DNAT).
// Verdicts must stay exact under concurrency: 64 connections, 8 at a
// time, are spread over the four mirrors by the shared statistic nth
// counter exactly 16 each, and the DNAT rules count 16 each.
func TestGatewayMultiQueue(t *testing.T) {
	tp := newTopologyWith(t, topoOptions{prefix: "ldt"})
	clients := []string{"203.0.113.7"}
	for i := 11; i <= 14; i++ {
		a := fmt.Sprintf("203.0.113.%d", i)
		sh(t, "ip", "-n", tp.wan, "addr", "add", a+"/24", "dev", "wan0")
		clients = append(clients, a)
	}
	rules := gatewayRules(t, t.TempDir())
	p := tp.runIpsift(t, rules, "--queue", "3:4")
	save, _ := exec.Command("ip", "netns", "exec", tp.fw, "iptables-save").CombinedOutput()
	if !strings.Contains(string(save), "--queue-balance 3:4") {
		t.Fatalf("no balanced queue rule:\n%s", save)
	}

	const conns, parallel = 64, 8
	var mu sync.Mutex
	per := map[string]int{}
	var wg sync.WaitGroup
	next := make(chan int, conns)
	for i := 0; i < conns; i++ {
		next <- i
	}
	close(next)
	errs := make(chan error, conns)
	for w := 0; w < parallel; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				body, err := tp.get(clients[i%len(clients)], "198.51.100.1:80", "who")
				if err != nil {
					errs <- fmt.Errorf("request %d from %s: %v", i, clients[i%len(clients)], err)
					continue
				}
				mu.Lock()
				per[strings.TrimSpace(string(body))]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("%v\n%s", err, p.log.String())
	}
	for _, m := range []string{"server .10", "server .20", "server .30", "server .40"} {
		if per[m] != conns/4 {
			t.Errorf("%s answered %d of %d connections, want %d: %v", m, per[m], conns, conns/4, per)
		}
	}
	list, err := p.ctlCmd(t, "list")
	if err != nil {
		t.Fatalf("ctl list: %v\n%s", err, list)
	}
	for _, m := range []string{"10", "20", "30", "40"} {
		found := false
		for _, line := range strings.Split(list, "\n") {
			if strings.Contains(line, "DNAT") && strings.Contains(line, "to:192.0.2."+m+":80") {
				found = true
				if f := strings.Fields(line); len(f) == 0 || f[0] != strconv.Itoa(conns/4) {
					t.Errorf("DNAT to .%s counted %q, want %d packets:\n%s", m, line, conns/4, list)
				}
			}
		}
		if !found {
			t.Errorf("no DNAT rule to .%s in ctl list:\n%s", m, list)
		}
	}
	// Bulk through the DNAT and the source rewrite of its replies, and
	// the masquerade of the inside, with both queues at work.
	body, err := tp.get("203.0.113.12", "198.51.100.1:80", "big")
	if err != nil || len(body) != tp.bigLen || sha256.Sum256(body) != tp.bigSum {
		t.Fatalf("large transfer: %d bytes, %v", len(body), err)
	}
	for _, src := range []string{"192.0.2.10", "192.0.2.50"} {
		b, c, err := tp.banner(tp.lan, src, "198.51.100.254:8080")
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		c.Close()
		if b != "198.51.100.1" {
			t.Fatalf("%s seen outside as %s, want 198.51.100.1", src, b)
		}
	}
	// Both queues carried packets (the kernel's id_sequence per queue).
	out, err := exec.Command("ip", "netns", "exec", tp.fw, "cat", "/proc/net/netfilter/nfnetlink_queue").Output()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]uint64{}
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) >= 8 {
			n, _ := strconv.ParseUint(f[7], 10, 64)
			seen[f[0]] = n
		}
	}
	if seen["3"] == 0 || seen["4"] == 0 {
		t.Fatalf("packets per queue %v: want both 3 and 4 used\n%s", seen, out)
	}
	t.Logf("packets queued: queue 3 %d, queue 4 %d", seen["3"], seen["4"])
}
