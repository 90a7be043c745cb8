package datapath_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
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

// softirqdCPU is the CPU time of the kernel's ksoftirqd threads: network
// work deferred from interrupt context lands there when it cannot run at
// the end of the system call that raised it (every namespace's, so on a
// shared machine others' too).
func softirqdCPU() time.Duration {
	var total time.Duration
	dirs, _ := filepath.Glob("/proc/[0-9]*/comm")
	for _, c := range dirs {
		b, err := os.ReadFile(c)
		if err != nil || !strings.HasPrefix(string(b), "ksoftirqd/") {
			continue
		}
		st, err := os.ReadFile(filepath.Join(filepath.Dir(c), "stat"))
		if err != nil {
			continue
		}
		s := string(st)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		ut, _ := strconv.ParseUint(f[11], 10, 64)
		sy, _ := strconv.ParseUint(f[12], 10, 64)
		total += time.Duration(ut+sy) * 10 * time.Millisecond
	}
	return total
}

// procCPU is the user plus system CPU time of process pid.
func procCPU(t *testing.T, pid int) time.Duration {
	u, s := procCPUSplit(t, pid)
	return u + s
}

// procCPUSplit is the user and the system CPU time of process pid. The
// system time of ipsift includes the kernel's work after a verdict
// (nf_reinject runs the rest of the packet's path, forwarding and the
// veth transmit, in the verdict's sendto).
func procCPUSplit(t *testing.T, pid int) (user, sys time.Duration) {
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
	return time.Duration(ut) * 10 * time.Millisecond, time.Duration(st) * 10 * time.Millisecond
}

// TestLoadWrkIperf is the gateway load test with load generators that
// are not themselves the limit: wrk (16 connections, a new connection
// per request) against nginx on the four mirrors behind the port-80
// DNAT, and iperf3 through the 2222 DNAT to 192.0.2.50:22, on the
// end-to-end topology. The clients' connections are spread over four
// source addresses (an SNAT in the wan namespace, the clients' own
// side), so that a queue balanced by address (--queue-balance) sees
// several flows. Each round measures, one after the other, the kernel
// loaded with gateway.rules by iptables-restore and ipsift enforcing
// the same file, then both again with a rule that keeps every packet of
// an established connection in userspace (a limit on the established
// path, gateway-limit below); the report is the median of the rounds
// with the range. A measurement, not a check: it runs only with
// IPSIFT_DATAPATH_BENCH=1 (BENCHMARKS.md says how to install the three
// tools). Settings, from the environment:
//
//	IPSIFT_LOAD_ROUNDS    rounds (default 3)
//	IPSIFT_LOAD_SECONDS   seconds of each wrk and iperf3 run (default 5)
//	IPSIFT_LOAD_ARGS      more `ipsift run` arguments (e.g. "--queues 2")
//	IPSIFT_LOAD_BEFORE    another ipsift binary (an older build) measured
//	                      in the same rounds, with IPSIFT_LOAD_BEFORE_ARGS
//	IPSIFT_LOAD_VARIANTS  more configurations of this build, measured
//	                      beside it: "NAME=ARGS;NAME=ARGS"
//	IPSIFT_LOAD_STREAMS   parallel iperf3 streams (default 1)
//	IPSIFT_LOAD_ONLY      a comma list of the configurations to run
//	IPSIFT_LOAD_PROFILE   a shell command run during each wrk run, with
//	                      $PID (ipsift's, empty for the kernel) and $NAME
//	                      set (perf record/stat)
func TestLoadWrkIperf(t *testing.T) {
	if os.Getenv("IPSIFT_DATAPATH_BENCH") == "" {
		t.Skip("a measurement: run with IPSIFT_DATAPATH_BENCH=1")
	}
	for _, tool := range []string{"wrk", "nginx", "iperf3"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (apt-get install wrk nginx-light iperf3): %v", tool, err)
		}
	}
	rounds := envInt("IPSIFT_LOAD_ROUNDS", 3, 1, 20)
	secs := envInt("IPSIFT_LOAD_SECONDS", 5, 1, 60)
	streams := envInt("IPSIFT_LOAD_STREAMS", 1, 1, 16)
	tp := newTopologyWith(t, topoOptions{prefix: "ldt", noServers: true})
	dir := t.TempDir()
	rules := gatewayRules(t, dir)
	limited := filepath.Join(dir, "gateway-limit.rules")
	writeLimitVariant(t, rules, limited)
	tp.startNginx(t, dir)
	tp.start(tp.lan, "iperf3", "-s", "-B", "192.0.2.50", "-p", "22")
	tp.spreadClients(t)
	time.Sleep(300 * time.Millisecond) // the servers listen

	type config struct {
		name, rules, bin string
		kernel           bool
		args             []string
	}
	extra := strings.Fields(os.Getenv("IPSIFT_LOAD_ARGS"))
	configs := []config{
		{name: "kernel", rules: rules, kernel: true},
		{name: "ipsift", rules: rules, bin: buildIpsift(t), args: extra},
	}
	// More configurations of this build: "NAME=ARGS;NAME=ARGS".
	for _, v := range strings.Split(os.Getenv("IPSIFT_LOAD_VARIANTS"), ";") {
		if name, args, ok := strings.Cut(strings.TrimSpace(v), "="); ok && name != "" {
			configs = append(configs, config{name: name, rules: rules, bin: buildIpsift(t), args: strings.Fields(args)})
		}
	}
	if b := os.Getenv("IPSIFT_LOAD_BEFORE"); b != "" {
		configs = append(configs, config{name: "ipsift-before", rules: rules, bin: b, args: strings.Fields(os.Getenv("IPSIFT_LOAD_BEFORE_ARGS"))})
	}
	configs = append(configs,
		config{name: "kernel-limit", rules: limited, kernel: true},
		config{name: "ipsift-limit", rules: limited, bin: buildIpsift(t), args: extra})
	if only := os.Getenv("IPSIFT_LOAD_ONLY"); only != "" {
		configs = slices.DeleteFunc(configs, func(c config) bool { return !slices.Contains(strings.Split(only, ","), c.name) })
	}
	results := map[string][]loadResult{}
	for round := 0; round < rounds; round++ {
		for _, c := range configs {
			// Every configuration starts with empty connection tables on
			// the clients' side (their SNAT): tens of thousands of
			// connections a run would otherwise fill it within rounds.
			exec.Command("ip", "netns", "exec", tp.wan, "conntrack", "-F").Run()
			var r loadResult
			if c.kernel {
				tp.kernelRules(t, c.rules)
				r = tp.measureLoad(t, c.name, secs, streams, nil)
				tp.kernelRules(t, "")
			} else {
				p := tp.runIpsiftBin(t, c.bin, c.rules, c.args...)
				r = tp.measureLoad(t, c.name, secs, streams, p)
				p.cmd.Process.Signal(os.Interrupt)
				if _, ok := p.wait(10 * time.Second); !ok {
					t.Fatalf("%s did not stop on SIGINT", c.name)
				}
				tp.removeRules()
			}
			t.Logf("round %d %s: %s", round+1, c.name, r)
			results[c.name] = append(results[c.name], r)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "median of %d rounds [range]; wrk -c16 -t2 -d%ds, Connection: close; iperf3 -t%d -P%d; load average at the start %s\n", rounds, secs, secs, streams, loadAvg())
	b.WriteString("| | HTTP requests/s | firewall packets/s (HTTP) | queued / firewall packets (HTTP) | ipsift CPU µs per firewall packet (HTTP), user, ksoftirqd | ipsift per HTTP request: CPU µs, user, context switches | wrk+nginx+ipsift CPU µs per HTTP request | bulk MB/s | firewall packets/s (bulk) | queued / firewall packets (bulk) | ipsift CPU µs per firewall packet (bulk), user, ksoftirqd |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, c := range configs {
		rs := results[c.name]
		col := func(f func(loadResult) float64, format string) string {
			return medianRange(rs, f, format)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", c.name,
			col(func(r loadResult) float64 { return r.rps }, "%.0f"),
			col(func(r loadResult) float64 { return r.httpPPS }, "%.0f"),
			col(func(r loadResult) float64 { return r.httpQueued }, "%.2f"),
			col(func(r loadResult) float64 { return r.httpCPU }, "%.1f")+" user "+col(func(r loadResult) float64 { return r.httpUser }, "%.1f")+" ksoftirqd "+col(func(r loadResult) float64 { return r.httpSoft }, "%.1f"),
			col(func(r loadResult) float64 { return r.reqCPU }, "%.1f")+", "+col(func(r loadResult) float64 { return r.reqUser }, "%.1f")+", "+col(func(r loadResult) float64 { return r.reqCS }, "%.2f"),
			col(func(r loadResult) float64 { return r.reqAll }, "%.1f"),
			col(func(r loadResult) float64 { return r.mbps }, "%.0f"),
			col(func(r loadResult) float64 { return r.bulkPPS }, "%.0f"),
			col(func(r loadResult) float64 { return r.bulkQueued }, "%.2f"),
			col(func(r loadResult) float64 { return r.bulkCPU }, "%.1f")+" user "+col(func(r loadResult) float64 { return r.bulkUser }, "%.1f")+" ksoftirqd "+col(func(r loadResult) float64 { return r.bulkSoft }, "%.1f"))
	}
	pairs := [][2]string{{"ipsift", "kernel"}, {"ipsift-before", "kernel"}, {"ipsift-limit", "kernel-limit"}}
	for _, c := range configs {
		if !c.kernel && !slices.Contains([]string{"ipsift", "ipsift-before", "ipsift-limit"}, c.name) {
			pairs = append(pairs, [2]string{c.name, "kernel"})
		}
	}
	for _, pair := range pairs {
		a, k := results[pair[0]], results[pair[1]]
		if len(a) == 0 || len(k) == 0 {
			continue
		}
		med := func(rs []loadResult, f func(loadResult) float64) float64 {
			v := make([]float64, len(rs))
			for i, r := range rs {
				v[i] = f(r)
			}
			slices.Sort(v)
			return v[len(v)/2]
		}
		fmt.Fprintf(&b, "%s / %s: requests/s %.2f×, bulk %.2f×\n", pair[0], pair[1],
			med(a, func(r loadResult) float64 { return r.rps })/med(k, func(r loadResult) float64 { return r.rps }),
			med(a, func(r loadResult) float64 { return r.mbps })/med(k, func(r loadResult) float64 { return r.mbps }))
	}
	t.Logf("load test:\n%s", b.String())
	if os.Getenv("IPSIFT_LOAD_DEBUG") != "" {
		errs, _ := os.ReadFile(filepath.Join(dir, "nginx-error.log"))
		t.Logf("nginx's error log (%d bytes): %.2000s", len(errs), errs)
	}
}

// loadResult is one configuration's figures in one round.
type loadResult struct {
	rps, httpPPS, httpQueued, httpCPU, httpUser, httpSoft float64
	// Per HTTP request (a connection): ipsift's CPU, its user part,
	// and its threads' context switches (voluntary and not).
	reqCPU, reqUser, reqCS float64
	// reqAll: the CPU per request of wrk, nginx and ipsift together
	// (with the kernel's work each ran: the packets' paths, softirqs
	// included when they ran in those processes' time).
	reqAll                                                 float64
	mbps, bulkPPS, bulkQueued, bulkCPU, bulkUser, bulkSoft float64
	errors                                                 string
	requests                                               float64 // wrk's requests in all
}

func (r loadResult) String() string {
	s := fmt.Sprintf("HTTP %.0f requests/s, %.0f firewall packets/s, %.2f queued per firewall packet, %.1f µs ipsift CPU per firewall packet (%.1f user), %.1f µs ksoftirqd; bulk %.0f MB/s, %.0f firewall packets/s, %.2f queued per firewall packet, %.1f µs ipsift CPU per firewall packet (%.1f user), %.1f µs ksoftirqd",
		r.rps, r.httpPPS, r.httpQueued, r.httpCPU, r.httpUser, r.httpSoft, r.mbps, r.bulkPPS, r.bulkQueued, r.bulkCPU, r.bulkUser, r.bulkSoft)
	if r.reqCPU != 0 {
		s += fmt.Sprintf("; per request: ipsift CPU %.1f µs (%.1f user), %.2f context switches", r.reqCPU, r.reqUser, r.reqCS)
	}
	if r.reqAll != 0 {
		s += fmt.Sprintf("; wrk+nginx+ipsift CPU per request %.1f µs", r.reqAll)
	}
	if r.errors != "" {
		s += "; " + r.errors
	}
	return s
}

func medianRange(rs []loadResult, f func(loadResult) float64, format string) string {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	slices.Sort(v)
	if len(v) == 0 {
		return ""
	}
	return fmt.Sprintf(format+" ["+format+"-"+format+"]", v[len(v)/2], v[0], v[len(v)-1])
}

func envInt(name string, def, lo, hi int) int {
	if s := os.Getenv(name); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n >= lo && n <= hi {
			return n
		}
	}
	return def
}

func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// writeLimitVariant writes gateway.rules with a rule ahead of FORWARD's
// ESTABLISHED,RELATED accept that accepts the same packets under a
// limit: the verdict is the same for every packet (those over the limit
// meet the original rule next), but the path of an established
// connection now holds a rule with history, so no packet of it may be
// left to the kernel.
func writeLimitVariant(t *testing.T, from, to string) {
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	const est = "-A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\n"
	if !bytes.Contains(data, []byte(est)) {
		t.Fatalf("%s has no %q", from, est)
	}
	data = bytes.Replace(data, []byte(est), []byte("-A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -m limit --limit 10000/sec --limit-burst 10000 -j ACCEPT\n"+est), 1)
	if err := os.WriteFile(to, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// kernelRules loads rules into the firewall's kernel, or with "" empties
// its filter and nat tables again.
func (tp *topology) kernelRules(t *testing.T, rules string) {
	cmd := exec.Command("ip", "netns", "exec", tp.fw, "iptables-restore")
	if rules == "" {
		cmd.Stdin = strings.NewReader("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\nCOMMIT\n")
	} else {
		cmd.Args = append(cmd.Args, rules)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("iptables-restore %s: %v: %s", rules, err, out)
	}
	// Connections the last configuration tracked must not carry over.
	exec.Command("ip", "netns", "exec", tp.fw, "conntrack", "-F").Run()
}

// startNginx runs nginx on the four mirrors (192.0.2.10-40:80), each
// answering every request with its name.
func (tp *topology) startNginx(t *testing.T, dir string) {
	var b strings.Builder
	fmt.Fprintf(&b, "daemon off;\nmaster_process on;\nuser root;\nworker_processes 2;\npid %s/nginx.pid;\nerror_log %s/nginx-error.log;\n", dir, dir)
	b.WriteString("events { worker_connections 4096; }\nhttp {\n access_log off;\n keepalive_timeout 0;\n")
	fmt.Fprintf(&b, " client_body_temp_path %[1]s; proxy_temp_path %[1]s; fastcgi_temp_path %[1]s; uwsgi_temp_path %[1]s; scgi_temp_path %[1]s;\n", dir)
	for _, n := range []string{"10", "20", "30", "40"} {
		fmt.Fprintf(&b, " server { listen 192.0.2.%s:80 backlog=4096; location / { return 200 \"server .%s\\n\"; } }\n", n, n)
	}
	b.WriteString("}\n")
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	tp.nginx = tp.start(tp.lan, "nginx", "-p", dir, "-c", conf)
}

// nginxCPU is the CPU time of nginx's master and workers so far.
func (tp *topology) nginxCPU(t *testing.T) time.Duration {
	if tp.nginx == nil {
		return 0
	}
	pid := tp.nginx.Process.Pid
	total := procCPU(t, pid)
	kids, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	for _, k := range strings.Fields(string(kids)) {
		if n, err := strconv.Atoi(k); err == nil {
			if _, err := os.Stat(fmt.Sprintf("/proc/%d/stat", n)); err == nil {
				total += procCPU(t, n)
			}
		}
	}
	return total
}

// spreadClients gives the wan side four more client addresses
// (203.0.113.11-14) and an SNAT in the wan namespace that spreads its
// new connections to the firewall over them, one in four each.
func (tp *topology) spreadClients(t *testing.T) {
	var b strings.Builder
	b.WriteString("*nat\n:POSTROUTING ACCEPT [0:0]\n")
	for i, every := range []int{4, 3, 2, 1} {
		a := fmt.Sprintf("203.0.113.%d", 11+i)
		sh(t, "ip", "-n", tp.wan, "addr", "add", a+"/24", "dev", "wan0")
		nth := ""
		if every > 1 {
			nth = fmt.Sprintf(" -m statistic --mode nth --every %d --packet 0", every)
		}
		fmt.Fprintf(&b, "-A POSTROUTING -o wan0 -d 198.51.100.1%s -j SNAT --to-source %s\n", nth, a)
	}
	b.WriteString("COMMIT\n")
	cmd := exec.Command("ip", "netns", "exec", tp.wan, "iptables-restore")
	cmd.Stdin = strings.NewReader(b.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("wan SNAT: %v: %s", err, out)
	}
	// The clients' side forgets closed connections at once, and reuses
	// its ports in TIME_WAIT (wrk closes first when it has read a whole
	// answer): otherwise tens of thousands of TIME_WAIT ports make every
	// connect() search longer, and the request rate falls from one
	// configuration to the next.
	sh(t, "ip", "netns", "exec", tp.wan, "sysctl", "-qw", "net.netfilter.nf_conntrack_tcp_timeout_time_wait=1",
		"net.ipv4.tcp_tw_reuse=1", "net.ipv4.ip_local_port_range=1024 65535")
}

// queuedTotal is the number of packets the firewall's kernel has queued
// to userspace (the sum of id_sequence over its queues) and how many its
// queues dropped (full, or ipsift's socket full).
func (tp *topology) queuedTotal(t *testing.T) (queued, dropped uint64) {
	out, err := exec.Command("ip", "netns", "exec", tp.fw, "cat", "/proc/net/netfilter/nfnetlink_queue").Output()
	if err != nil {
		return 0, 0 // no queue bound (the kernel's run)
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 {
			continue
		}
		n, _ := strconv.ParseUint(f[7], 10, 64)
		d1, _ := strconv.ParseUint(f[5], 10, 64)
		d2, _ := strconv.ParseUint(f[6], 10, 64)
		queued, dropped = queued+n, dropped+d1+d2
	}
	return queued, dropped
}

// nstat reads one of namespace ns's network counters (0 when absent).
func (tp *topology) nstat(t *testing.T, ns, name string) uint64 {
	return tp.nstats(ns)[name]
}

// nstats reads all of namespace ns's network counters.
func (tp *topology) nstats(ns string) map[string]uint64 {
	out, _ := exec.Command("ip", "netns", "exec", ns, "nstat", "-asz").Output()
	m := map[string]uint64{}
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) >= 2 {
			n, _ := strconv.ParseUint(f[1], 10, 64)
			m[f[0]] = n
		}
	}
	return m
}

// nstatDiff names the counters of ns that changed since before, with
// IPSIFT_LOAD_DEBUG set (a look at what the clients and servers did).
func (tp *topology) nstatDiff(ns string, before map[string]uint64) string {
	if os.Getenv("IPSIFT_LOAD_DEBUG") == "" {
		return ""
	}
	var b strings.Builder
	for k, v := range tp.nstats(ns) {
		if d := v - before[k]; d != 0 && (strings.HasPrefix(k, "TcpExt") || strings.HasPrefix(k, "Tcp")) {
			fmt.Fprintf(&b, " %s=%d", k, d)
		}
	}
	return ns + ":" + b.String() + "; "
}

var wrkRPS = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)

var wrkRequests = regexp.MustCompile(`([0-9]+) requests in`)

// procSwitches is the context switches (voluntary and involuntary) of
// every thread of process pid so far.
func procSwitches(pid int) uint64 {
	var n uint64
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.HasSuffix(k, "ctxt_switches") {
				c, _ := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
				n += c
			}
		}
	}
	return n
}

// measureLoad runs wrk, then iperf3, from the wan namespace, and reads
// the firewall's packet counters, its queues' counters and (p not nil)
// ipsift's CPU time around each.
func (tp *topology) measureLoad(t *testing.T, name string, secs, streams int, p *ipsiftProc) loadResult {
	var r loadResult
	around := func(run func() time.Duration) (pps, queued, cpuPerPkt, userPerPkt, softPerPkt float64) {
		pk0 := tp.fwRxPackets(t)
		k0 := softirqdCPU()
		q0, d0 := tp.queuedTotal(t)
		var u0, s0 time.Duration
		var cs0 uint64
		if p != nil {
			u0, s0 = procCPUSplit(t, p.cmd.Process.Pid)
			cs0 = procSwitches(p.cmd.Process.Pid)
		}
		el := run()
		pk := float64(tp.fwRxPackets(t) - pk0)
		q1, d1 := tp.queuedTotal(t)
		if d1 > d0 {
			r.errors += fmt.Sprintf("%d packets dropped by the queue; ", d1-d0)
		}
		if p != nil {
			u1, s1 := procCPUSplit(t, p.cmd.Process.Pid)
			cpuPerPkt = float64((u1 + s1 - u0 - s0).Microseconds()) / max(pk, 1)
			userPerPkt = float64((u1 - u0).Microseconds()) / max(pk, 1)
			if r.requests > 0 && r.reqCPU == 0 {
				r.reqCPU = float64((u1 + s1 - u0 - s0).Microseconds()) / r.requests
				r.reqUser = float64((u1 - u0).Microseconds()) / r.requests
				r.reqCS = float64(procSwitches(p.cmd.Process.Pid)-cs0) / r.requests
			}
		}
		softPerPkt = float64((softirqdCPU() - k0).Microseconds()) / max(pk, 1)
		return pk / el.Seconds(), float64(q1-q0) / max(pk, 1), cpuPerPkt, userPerPkt, softPerPkt
	}
	syn0 := tp.nstat(t, tp.wan, "TcpExtTCPSynRetrans")
	wanStats, lanStats := tp.nstats(tp.wan), tp.nstats(tp.lan)
	tw0 := tp.nstat(t, tp.lan, "TcpExtTW")
	ng0 := tp.nginxCPU(t)
	var ip0 time.Duration
	if p != nil {
		ip0 = procCPU(t, p.cmd.Process.Pid)
	}
	var wrkCPU time.Duration
	r.httpPPS, r.httpQueued, r.httpCPU, r.httpUser, r.httpSoft = around(func() time.Duration {
		start := time.Now()
		var prof *exec.Cmd
		if hook := os.Getenv("IPSIFT_LOAD_PROFILE"); hook != "" {
			// A command run during wrk with PID (ipsift's; empty for the
			// kernel) and NAME (the configuration's) in its
			// environment, e.g. 'perf stat -p $PID -o /tmp/$NAME.stat --
			// sleep 3', or 'perf record -a ...' for every process.
			prof = exec.Command("sh", "-c", hook)
			pid := ""
			if p != nil {
				pid = strconv.Itoa(p.cmd.Process.Pid)
			}
			prof.Env = append(os.Environ(), "PID="+pid, "NAME="+name)
			prof.Stdout, prof.Stderr = os.Stderr, os.Stderr
			if err := prof.Start(); err != nil {
				t.Fatalf("IPSIFT_LOAD_PROFILE: %v", err)
			}
		}
		cmd := exec.Command("ip", "netns", "exec", tp.wan, "timeout", strconv.Itoa(secs+20), "wrk", "-t2", "-c16", fmt.Sprintf("-d%ds", secs), "-H", "Connection: close", "http://198.51.100.1/")
		out, err := cmd.CombinedOutput()
		el := time.Since(start)
		if prof != nil {
			prof.Wait()
		}
		if cmd.ProcessState != nil {
			// (wait4's usage: timeout's, with wrk's, which it waited for)
			wrkCPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		}
		m := wrkRPS.FindSubmatch(out)
		if err != nil || m == nil {
			t.Fatalf("%s: wrk: %v\n%s", name, err, out)
		}
		r.rps, _ = strconv.ParseFloat(string(m[1]), 64)
		if m := wrkRequests.FindSubmatch(out); m != nil {
			r.requests, _ = strconv.ParseFloat(string(m[1]), 64)
		}
		if os.Getenv("IPSIFT_LOAD_DEBUG") != "" {
			t.Logf("%s: wrk:\n%s", name, out)
		}
		for _, line := range strings.Split(string(out), "\n") {
			if strings.Contains(line, "Socket errors") || strings.Contains(line, "Non-2xx") {
				r.errors += "wrk: " + strings.TrimSpace(line) + "; "
			}
		}
		return el
	})
	if r.requests > 0 {
		all := wrkCPU + tp.nginxCPU(t) - ng0
		if p != nil {
			all += procCPU(t, p.cmd.Process.Pid) - ip0
		}
		r.reqAll = float64(all.Microseconds()) / r.requests
	}
	if n := tp.nstat(t, tp.wan, "TcpExtTCPSynRetrans") - syn0; n > 0 {
		r.errors += fmt.Sprintf("%d SYNs retransmitted by the clients (each a stall of a second or more); servers' TIME_WAIT sockets %d; ", n, tp.nstat(t, tp.lan, "TcpExtTW")-tw0)
	}
	r.errors += tp.nstatDiff(tp.wan, wanStats) + tp.nstatDiff(tp.lan, lanStats)
	r.bulkPPS, r.bulkQueued, r.bulkCPU, r.bulkUser, r.bulkSoft = around(func() time.Duration {
		start := time.Now()
		cmd := exec.Command("ip", "netns", "exec", tp.wan, "timeout", strconv.Itoa(secs+20), "iperf3", "-c", "198.51.100.1", "-p", "2222", "-t", strconv.Itoa(secs), "-P", strconv.Itoa(streams), "-J")
		out, err := cmd.CombinedOutput()
		el := time.Since(start)
		var res struct {
			End struct {
				SumReceived struct {
					Bytes   float64 `json:"bytes"`
					Seconds float64 `json:"seconds"`
				} `json:"sum_received"`
			} `json:"end"`
			Error string `json:"error"`
		}
		if err != nil || json.Unmarshal(out, &res) != nil || res.Error != "" || res.End.SumReceived.Seconds == 0 {
			t.Fatalf("%s: iperf3: %v %s\n%s", name, err, res.Error, out)
		}
		r.mbps = res.End.SumReceived.Bytes / 1e6 / res.End.SumReceived.Seconds
		return el
	})
	return r
}
