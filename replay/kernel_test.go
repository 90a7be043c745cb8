package replay

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ipsift/ipsift/capture"
	"github.com/ipsift/ipsift/conntrack"
	"github.com/ipsift/ipsift/engine"
	"github.com/ipsift/ipsift/host"
	"github.com/ipsift/ipsift/internal/kernel"
	"github.com/ipsift/ipsift/packet"
	"github.com/ipsift/ipsift/rules"
)

// kernelRules exercises NAT both ways (a port forward, masquerade),
// conntrack states (NEW, ESTABLISHED, RELATED: the outside host's port
// unreachable for a masqueraded datagram, INVALID, DNAT), a limit away from its bucket's boundaries, a recent
// list (two knocks open port 2200, which then answers with a RST),
// REJECT, and the host's own answers (echo replies, a port
// unreachable).
const kernelRules = `*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -i eth0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 192.0.2.10:80
-A PREROUTING -i eth0 -p tcp -m tcp --dport 2222 -j DNAT --to-destination 192.0.2.10:22
-A POSTROUTING -o eth0 -j MASQUERADE
COMMIT
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -m conntrack --ctstate INVALID -j DROP
-A INPUT -p udp -m udp --dport 7000 -m recent --set --name knock --mask 255.255.255.255 --rsource -j DROP
-A INPUT -p tcp -m tcp --dport 2200 -m recent --rcheck --seconds 60 --hitcount 2 --name knock --mask 255.255.255.255 --rsource -j REJECT --reject-with tcp-reset
-A INPUT -p icmp -m icmp --icmp-type 8 -m limit --limit 2/sec --limit-burst 3 -j ACCEPT
-A INPUT -p tcp -m tcp --dport 23 -j REJECT --reject-with tcp-reset
-A INPUT -p udp -m udp --dport 5000:5010 -j ACCEPT
-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT
-A INPUT -p tcp -m tcp --dport 24 -j LOG --log-prefix "PFXin24 "
-A FORWARD -m conntrack --ctstate RELATED -j ACCEPT
-A FORWARD -m conntrack --ctstate ESTABLISHED -j ACCEPT
-A FORWARD -i eth0 -o wlan0 -m conntrack --ctstate DNAT -j ACCEPT
-A FORWARD -i wlan0 -o eth0 -p tcp -m tcp --dport 8081 -m conntrack --ctstate NEW -j ACCEPT
-A FORWARD -i wlan0 -o eth0 -p udp -m udp --dport 33434 -j ACCEPT
-A FORWARD -i wlan0 -o eth0 -p tcp -m tcp --dport 9999 -j LOG --log-prefix "PFXfwd " --log-tcp-sequence
-A FORWARD -i wlan0 -o eth0 -j REJECT --reject-with icmp-port-unreachable
-A OUTPUT -p icmp -j ACCEPT
COMMIT
`

type kernelNet struct {
	t            *testing.T
	wan, fw, lan string
}

func run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// newKernelNet builds three namespaces: wan - fw - lan, fw the
// firewall with gateway.rules' addresses, the others with documentation
// addresses and real sockets.
func newKernelNet(t *testing.T) *kernelNet {
	if _, err := exec.LookPath("tcpdump"); err != nil {
		kernel.Lacking(t, "needs tcpdump: %v", err)
	}
	p := fmt.Sprintf("ipsift-rp-%d-%d-", os.Getpid(), netSeq.Add(1))
	k := &kernelNet{t: t, wan: p + "wan", fw: p + "fw", lan: p + "lan"}
	t.Cleanup(func() {
		for _, ns := range []string{k.wan, k.fw, k.lan} {
			exec.Command("ip", "netns", "del", ns).Run()
		}
	})
	for _, ns := range []string{k.wan, k.fw, k.lan} {
		run(t, "ip", "netns", "add", ns)
		run(t, "ip", "-n", ns, "link", "set", "lo", "up")
		run(t, "ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
	}
	run(t, "ip", "-n", k.fw, "link", "add", "eth0", "type", "veth", "peer", "name", "wan0", "netns", k.wan)
	run(t, "ip", "-n", k.fw, "link", "add", "wlan0", "type", "veth", "peer", "name", "lan0", "netns", k.lan)
	run(t, "ip", "-n", k.fw, "addr", "add", "198.51.100.1/24", "dev", "eth0")
	run(t, "ip", "-n", k.fw, "addr", "add", "192.0.2.1/24", "dev", "wlan0")
	run(t, "ip", "-n", k.wan, "addr", "add", "198.51.100.254/24", "dev", "wan0")
	for _, a := range []string{"192.0.2.10/24", "192.0.2.20/24"} {
		run(t, "ip", "-n", k.lan, "addr", "add", a, "dev", "lan0")
	}
	for _, l := range [][2]string{{k.fw, "eth0"}, {k.fw, "wlan0"}, {k.wan, "wan0"}, {k.lan, "lan0"}} {
		run(t, "ip", "-n", l[0], "link", "set", l[1], "up")
	}
	run(t, "ip", "-n", k.fw, "route", "add", "default", "via", "198.51.100.254")
	run(t, "ip", "-n", k.lan, "route", "add", "default", "via", "192.0.2.1")
	run(t, "ip", "netns", "exec", k.fw, "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv4.icmp_ratelimit=0", "net.ipv4.icmp_echo_ignore_all=0")
	return k
}

func (k *kernelNet) listen(ns, addr string, serve func(net.Conn)) {
	var l net.Listener
	if err := kernel.InNamespace(ns, func() (err error) { l, err = net.Listen("tcp4", addr); return err }); err != nil {
		k.t.Fatal(err)
	}
	k.t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(20 * time.Second))
				serve(c)
			}()
		}
	}()
}

func (k *kernelNet) dial(ns, network, raddr string, timeout time.Duration) (net.Conn, error) {
	var c net.Conn
	err := kernel.InNamespace(ns, func() (err error) {
		c, err = net.DialTimeout(network, raddr, timeout)
		return err
	})
	return c, err
}

// mac returns the link address of fw's interface ifname.
func (k *kernelNet) mac(ifname string) string {
	out := run(k.t, "ip", "-n", k.fw, "-o", "link", "show", ifname)
	m := regexp.MustCompile(`link/ether ([0-9a-f:]{17})`).FindStringSubmatch(out)
	if m == nil {
		k.t.Fatalf("no link address in %q", out)
	}
	return m[1]
}

// ifindexes returns fw's interface indexes by name.
func (k *kernelNet) ifindexes() map[uint32]string {
	out := run(k.t, "ip", "-n", k.fw, "-o", "link", "show")
	m := map[uint32]string{}
	re := regexp.MustCompile(`^(\d+): ([^:@]+)[:@]`)
	for line := range strings.Lines(out) {
		if g := re.FindStringSubmatch(line); g != nil {
			n, _ := strconv.Atoi(g[1])
			m[uint32(n)] = g[2]
		}
	}
	return m
}

// captureRecipe starts a capture in the firewall's namespace.
type captureRecipe struct {
	name string
	args []string // tcpdump's, -w FILE appended
	// setup runs before tcpdump starts (the NFLOG recipe's nft table).
	setup func(k *kernelNet)
	// local: the capture holds the host's own packets, so traffic to
	// a service on the firewall itself can be replayed exactly.
	local bool
	// preopen: a connection is open before the capture starts, and
	// the knocks on port 7000 are made then; the table is listed
	// (conntrack -L -o extended), the recent lists copied (the README's
	// --recent recipe) and the counters zeroed then, and the replay
	// preloads both.
	preopen bool
}

var recipes = []captureRecipe{
	{name: "interfaces (tcpdump -i any, SLL2)", args: []string{"-i", "any", "-y", "LINUX_SLL2"}},
	{name: "connections open before the capture (--conntrack)", args: []string{"-i", "any", "-y", "LINUX_SLL2"}, preopen: true},
	{name: "NFLOG before raw", args: []string{"-i", "nflog:5"}, local: true, setup: func(k *kernelNet) {
		for _, c := range [][]string{
			{"add", "table", "ip", "ipsift_capture"},
			{"add", "chain", "ip", "ipsift_capture", "pre", "{ type filter hook prerouting priority -450; }"},
			{"add", "chain", "ip", "ipsift_capture", "out", "{ type filter hook output priority -450; }"},
			{"add", "rule", "ip", "ipsift_capture", "pre", "log", "group", "5", "queue-threshold", "1"},
			{"add", "rule", "ip", "ipsift_capture", "out", "log", "group", "5", "queue-threshold", "1"},
		} {
			run(k.t, append([]string{"ip", "netns", "exec", k.fw, "nft"}, c...)...)
		}
	}},
}

// TestKernelReplayCounters sends real traffic (sockets, so GSO and
// offloaded checksums occur, and raw ICMP) through the kernel's
// firewall while tcpdump records it at each capture point replay
// supports, then replays the capture: every rule's and policy's packet
// and byte counters must equal the kernel's.
func TestKernelReplayCounters(t *testing.T) {
	kernel.Require(t)
	for _, rc := range recipes {
		t.Run(rc.name, func(t *testing.T) {
			// A capture that dropped packets makes the run invalid,
			// not failed: on a loaded machine tcpdump can fall
			// behind, so an invalid run is made again, twice at most.
			kernel.EnableNamespaceLog(t) // once: it holds a lock until the test ends
			for attempt := 1; !kernelReplay(t, rc, attempt == maxAttempts); attempt++ {
				t.Logf("attempt %d: the capture dropped packets; running again", attempt)
			}
		})
	}
}

// maxAttempts is how many runs a kernel replay test makes when the
// capture drops packets.
const maxAttempts = 3

var netSeq atomic.Int64

// kernelReplay runs the traffic through the kernel while capturing it
// as rc says and checks the replay against the kernel. It reports false
// when the capture dropped packets (the run is invalid) and last is
// false; on the last attempt that fails the test.
func kernelReplay(t *testing.T, rc captureRecipe, last bool) bool {
	k := newKernelNet(t)
	// LOG lines go to the machine's kernel log: a prefix of this run's
	// own finds them.
	prefix := fmt.Sprintf("ipsift-rp%d ", time.Now().UnixNano()%1_000_000_000)
	ruleText := strings.ReplaceAll(kernelRules, "PFX", prefix)
	cmd := exec.Command("ip", "netns", "exec", k.fw, "iptables-nft-restore")
	cmd.Stdin = strings.NewReader(ruleText)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("iptables-nft-restore: %v\n%s", err, out)
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	k.listen(k.lan, "192.0.2.10:80", func(c net.Conn) {
		bufio.NewReader(c).ReadString('\n')
		c.Write(big)
	})
	k.listen(k.wan, "198.51.100.254:8081", func(c net.Conn) { io.Copy(c, c) })
	k.listen(k.lan, "192.0.2.10:22", func(c net.Conn) { io.Copy(c, c) })
	k.listen(k.fw, "198.51.100.1:22", func(c net.Conn) {
		fmt.Fprintln(c, "ssh-fw")
		io.Copy(c, c)
	})
	if rc.setup != nil {
		rc.setup(k)
	}

	dir := t.TempDir()
	file := filepath.Join(dir, "fw.pcap")
	// A masqueraded connection and a port forward open before the
	// capture, used during it.
	var open []net.Conn
	var ctList string
	recentDir := filepath.Join(dir, "recent")
	// Two knocks on port 7000 put the outside host in the list knock.
	knock := func() {
		c, err := k.dial(k.wan, "udp4", "198.51.100.1:7000", time.Second)
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			c.Write([]byte("knock"))
			time.Sleep(20 * time.Millisecond)
		}
		c.Close()
	}
	if rc.preopen {
		knock()
		if err := os.Mkdir(recentDir, 0o755); err != nil {
			t.Fatal(err)
		}
		// The recipe (replay.RecentRecipe): the lists, then the jiffies.
		run(t, "ip", "netns", "exec", k.fw, "sh", "-c", `cp /proc/net/xt_recent/* "$1"/ && grep -m1 '^jiffies' /proc/timer_list > "$1"/jiffies`, "sh", recentDir)
		for _, d := range [][2]string{{k.lan, "198.51.100.254:8081"}, {k.wan, "198.51.100.1:2222"}} {
			c, err := k.dial(d[0], "tcp4", d[1], 2*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(10 * time.Second))
			fmt.Fprintln(c, "before")
			if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
				t.Fatal(err)
			}
			open = append(open, c)
		}
		ctList = run(t, "ip", "netns", "exec", k.fw, "conntrack", "-L", "-o", "extended")
		run(t, "ip", "netns", "exec", k.fw, "iptables-nft", "-Z")
		run(t, "ip", "netns", "exec", k.fw, "iptables-nft", "-t", "nat", "-Z")
	}
	td := exec.Command("ip", append([]string{"netns", "exec", k.fw, "tcpdump", "-n", "-s", "0", "-B", "131072", "--immediate-mode", "-U", "-w", file}, rc.args...)...)
	td.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, _ := td.StderrPipe()
	if err := td.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	t.Cleanup(func() {
		if !killed {
			syscall.Kill(-td.Process.Pid, syscall.SIGKILL)
			td.Wait()
		}
	})
	errs := bufio.NewReader(stderr)
	for {
		line, err := errs.ReadString('\n')
		if err != nil {
			t.Fatalf("tcpdump did not start: %q %v", line, err)
		}
		if strings.Contains(line, "listening on") {
			break
		}
	}

	// The port forward, a large transfer through DNAT.
	if c, err := k.dial(k.wan, "tcp4", "198.51.100.1:8080", 2*time.Second); err != nil {
		t.Fatal(err)
	} else {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintln(c, "GET")
		n, err := io.Copy(io.Discard, c)
		c.Close()
		if n != int64(len(big)) {
			t.Fatalf("port forward: %d bytes, %v", n, err)
		}
	}
	// Masqueraded connections out, and one the FORWARD chain refuses.
	for range 3 {
		c, err := k.dial(k.lan, "tcp4", "198.51.100.254:8081", 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintln(c, "hello")
		bufio.NewReader(c).ReadString('\n')
		c.Close()
	}
	// A masqueraded datagram to a closed port outside: the outside
	// host's port unreachable comes back RELATED, its quoted packet
	// translated back.
	if c, err := k.dial(k.lan, "udp4", "198.51.100.254:33434", time.Second); err != nil {
		t.Fatal(err)
	} else {
		c.Write([]byte("probe"))
		c.SetReadDeadline(time.Now().Add(time.Second))
		if _, err := c.Read(make([]byte, 16)); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("udp to a closed port outside: %v, want connection refused (the RELATED port unreachable)", err)
		}
		c.Close()
	}
	if c, err := k.dial(k.lan, "tcp4", "198.51.100.254:9999", time.Second); err == nil {
		c.Close()
		t.Fatal("the FORWARD REJECT let a connection through")
	}
	// Refused by the host: REJECT's RST, then the DROP policy (one SYN:
	// the dial gives up before the retransmission).
	k.dial(k.wan, "tcp4", "198.51.100.1:23", time.Second)
	k.dial(k.wan, "tcp4", "198.51.100.1:24", 300*time.Millisecond)
	// A datagram to a closed port the rules accept: the host's port
	// unreachable.
	if c, err := k.dial(k.wan, "udp4", "198.51.100.1:5001", time.Second); err == nil {
		c.Write([]byte("x"))
		c.Close()
	}
	// Port 2200 answers the knocked host with a RST (the DROP policy
	// otherwise): the knocks are in this capture or, with preopen,
	// in the lists --recent preloads.
	if !rc.preopen {
		knock()
	}
	if _, err := k.dial(k.wan, "tcp4", "198.51.100.1:2200", time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("port 2200 after two knocks: %v, want connection refused (the recent rule's RST)", err)
	}
	// Six echo requests 20 ms apart: the limit's burst of 3 takes the
	// first three, the next refill is 500 ms away.
	if c, err := k.dial(k.wan, "ip4:icmp", "198.51.100.1", time.Second); err != nil {
		t.Fatal(err)
	} else {
		for i := range 6 {
			echo := []byte{8, 0, 0, 0, 0x12, 0x34, 0, byte(i + 1), 'p', 'i', 'n', 'g'}
			cs := packet.Checksum(echo)
			echo[2], echo[3] = byte(cs>>8), byte(cs)
			if _, err := c.Write(echo); err != nil {
				t.Fatal(err)
			}
			time.Sleep(20 * time.Millisecond)
		}
		c.Close()
	}
	for _, c := range open {
		fmt.Fprintln(c, strings.Repeat("during", 500))
		if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	// A service on the firewall itself: its answers are the host's own
	// traffic, which only the NFLOG recipe captures before OUTPUT.
	if rc.local {
		c, err := k.dial(k.wan, "tcp4", "198.51.100.1:22", 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(3 * time.Second))
		r := bufio.NewReader(c)
		r.ReadString('\n')
		fmt.Fprintln(c, strings.Repeat("x", 3000))
		r.ReadString('\n')
		c.Close()
	}
	// nfnetlink_log sends what it holds at least every second.
	time.Sleep(1500 * time.Millisecond)

	syscall.Kill(td.Process.Pid, syscall.SIGINT)
	rest, _ := io.ReadAll(errs)
	td.Wait()
	killed = true
	m := regexp.MustCompile(`(\d+) packets dropped by kernel`).FindSubmatch(rest)
	if m == nil || string(m[1]) != "0" {
		if !last {
			return false
		}
		t.Fatalf("the capture is not complete in %d runs, the run is invalid: %s", maxAttempts, rest)
	}
	save := run(t, "ip", "netns", "exec", k.fw, "iptables-nft-save", "-c")
	want := kernel.ParseSaveCounters(save)

	rs := rules.New()
	if _, err := rs.Restore(strings.NewReader(ruleText), rules.RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	h, err := host.Parse(strings.NewReader(fmt.Sprintf(`iface lo 127.0.0.1/8
iface eth0 198.51.100.1/24 mac %s
iface wlan0 192.0.2.1/24 mac %s
route default via 198.51.100.254 dev eth0
echo-reply
`, k.mac("eth0"), k.mac("wlan0"))), "kernel test host")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rd, err := capture.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	own, err := HoldsOwnPackets(rd)
	if err != nil || own != rc.local {
		t.Fatalf("HoldsOwnPackets: %v, %v", own, err)
	}
	f.Seek(0, io.SeekStart)
	rd, _ = capture.NewReader(f)
	e, err := engine.New(rs, h, engine.Config{NoHostStack: own, ForwardErrors: own})
	if err != nil {
		t.Fatal(err)
	}
	var pre []conntrack.Preload
	var recent *RecentLists
	if rc.preopen {
		if pre, err = ReadConntrackList(strings.NewReader(ctList), "conntrack -L"); err != nil || len(pre) < 2 {
			t.Fatalf("conntrack -L: %v (%d entries)\n%s", err, len(pre), ctList)
		}
		if recent, err = ReadRecentDir(recentDir); err != nil || len(recent.Lists["knock"]) != 1 {
			t.Fatalf("--recent %s: %v %+v", recentDir, err, recent)
		}
	}
	var logged strings.Builder
	e.Log = &logged
	r := New(e, Options{IfIndex: k.ifindexes(), OwnAnswers: own, Preload: pre, Recent: recent})
	if err := r.Run(rd); err != nil {
		t.Fatal(err)
	}
	rep := r.Report()
	// The kernel judges the flow cache too: the transfers' established
	// segments (about 47 a run) must have run on proven paths, so that the
	// counters compared below include what the cache raised.
	if n := r.s.FlowCachedPackets(); n == 0 {
		t.Errorf("no packet of the capture ran on a proven path (flow cache): the kernel comparison does not cover it")
	}
	var b bytes.Buffer
	e.Program().Ruleset().Save(&b, rules.SaveOptions{Counters: true})
	got := kernel.ParseSaveCounters(b.String())
	for _, key := range kernel.SortedKeys(want) {
		if got[key] != want[key] {
			t.Errorf("%s: replay %v, kernel %v", key, got[key], want[key])
		}
	}
	for key := range got {
		if _, ok := want[key]; !ok {
			t.Errorf("%s: replay has a counter the kernel does not", key)
		}
	}
	for _, s := range rep.Skipped {
		if s.Input {
			t.Errorf("an input was skipped: %+v", s)
		}
	}
	ours := strings.Split(strings.TrimRight(logged.String(), "\n"), "\n")
	for i := range ours {
		ours[i] = strings.TrimRight(ours[i], " ")
	}
	theirs, err := kernel.LogLines(prefix, len(ours), 2*time.Second)
	if err != nil {
		kernel.Lacking(t, "%v", err)
	}
	t.Logf("LOG lines, the kernel's and the replay's:\n%s", strings.Join(ours, "\n"))
	if len(ours) < 2 || strings.Join(ours, "\n") != strings.Join(theirs, "\n") {
		t.Errorf("LOG lines differ:\nkernel:\n%s\nreplay:\n%s", strings.Join(theirs, "\n"), strings.Join(ours, "\n"))
	}
	if d := rep.Departures; !rc.local && (d == nil || d.Missing != 0 || d.Unexpected != 0 || d.Observed == 0) {
		t.Errorf("departures: %+v", d)
	}
	if rep.PreCaptureFlows != 0 || rc.preopen && rep.Preloaded != len(pre) {
		t.Errorf("%d flows began before the capture, %d of %d preloaded", rep.PreCaptureFlows, rep.Preloaded, len(pre))
	}
	if rc.preopen && (rep.RecentLoaded["knock"] != 1 || len(rep.RecentUnused) != 0) {
		t.Errorf("recent lists loaded %v, unused %v; want knock with one address", rep.RecentLoaded, rep.RecentUnused)
	}
	t.Logf("%d records, %d replayed, verdicts %v, bad checksums %d, skipped %+v, departures %+v", rep.Records, rep.Replayed.Packets, verdictText(rep), rep.BadChecksums, rep.Skipped, rep.Departures)
	if t.Failed() {
		t.Logf("kernel:\n%s\nreplay:\n%s", save, b.String())
	}
	return true
}

func verdictText(rep *Report) string {
	var s []string
	for v, c := range rep.Verdicts {
		s = append(s, fmt.Sprintf("%s %d", v, c.Packets))
	}
	return strings.Join(s, ", ")
}
