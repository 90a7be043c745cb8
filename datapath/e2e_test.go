package datapath_test

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ipsift/ipsift/internal/kernel"
	"golang.org/x/sys/unix"
)

// topology is the gateway of examples/gateway.rules in three namespaces:
//
//	wan  wan0: 198.51.100.254 (the gateway's next hop), 198.51.100.66
//	     (hostile), 198.51.100.77 (anyone), 203.0.113.7 (an administrator)
//	fw   eth0 198.51.100.1/24 ─ wan0, wlan0 192.0.2.1/24 ─ lan0,
//	     default via 198.51.100.254, forwarding on, a TCP banner on :22
//	lan  lan0: 192.0.2.10/20/30/40 (HTTP on :80), 192.0.2.50 (TCP on :22),
//	     default via 192.0.2.1
type topology struct {
	t            *testing.T
	wan, fw, lan string // namespace names
	dir          string
	procs        []*exec.Cmd
	bigSum       [32]byte
	bigLen       int
	nginx        *exec.Cmd // the load test's (bench_load_test.go)
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		kernel.Lacking(t, "needs root: builds network namespaces and binds NFQUEUE")
	}
	for _, tool := range []string{"ip", "iptables", "iptables-restore"} {
		if _, err := exec.LookPath(tool); err != nil {
			kernel.Lacking(t, "needs %s: %v", tool, err)
		}
	}
}

func sh(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// topoOptions change the topology for a test: prefix names its
// namespaces (default "ipsift-e2e"), noServers leaves out the test's own
// servers on the lan (:80 on the mirrors, 192.0.2.50:22) for a test that
// runs its own there.
type topoOptions struct {
	prefix    string
	noServers bool
}

func newTopology(t *testing.T) *topology { return newTopologyWith(t, topoOptions{}) }

// newTopologyNamed builds the topology in namespaces named NAME-PID-wan,
// -fw and -lan.
func newTopologyNamed(t *testing.T, name string) *topology {
	return newTopologyWith(t, topoOptions{prefix: name})
}

func newTopologyWith(t *testing.T, o topoOptions) *topology {
	requireRoot(t)
	if o.prefix == "" {
		o.prefix = "ipsift-e2e"
	}
	pfx := fmt.Sprintf("%s-%d-", o.prefix, os.Getpid())
	tp := &topology{t: t, wan: pfx + "wan", fw: pfx + "fw", lan: pfx + "lan", dir: t.TempDir()}
	t.Cleanup(tp.close)
	for _, ns := range []string{tp.wan, tp.fw, tp.lan} {
		sh(t, "ip", "netns", "add", ns)
		sh(t, "ip", "-n", ns, "link", "set", "lo", "up")
	}
	sh(t, "ip", "-n", tp.fw, "link", "add", "eth0", "type", "veth", "peer", "name", "wan0", "netns", tp.wan)
	sh(t, "ip", "-n", tp.fw, "link", "add", "wlan0", "type", "veth", "peer", "name", "lan0", "netns", tp.lan)
	sh(t, "ip", "-n", tp.fw, "addr", "add", "198.51.100.1/24", "dev", "eth0")
	sh(t, "ip", "-n", tp.fw, "addr", "add", "192.0.2.1/24", "dev", "wlan0")
	for _, a := range []string{"198.51.100.254/24", "198.51.100.66/24", "198.51.100.77/24", "203.0.113.7/24"} {
		sh(t, "ip", "-n", tp.wan, "addr", "add", a, "dev", "wan0")
	}
	for _, a := range []string{"192.0.2.10/24", "192.0.2.20/24", "192.0.2.30/24", "192.0.2.40/24", "192.0.2.50/24"} {
		sh(t, "ip", "-n", tp.lan, "addr", "add", a, "dev", "lan0")
	}
	sh(t, "ip", "-n", tp.fw, "link", "set", "eth0", "up")
	sh(t, "ip", "-n", tp.fw, "link", "set", "wlan0", "up")
	sh(t, "ip", "-n", tp.wan, "link", "set", "wan0", "up")
	sh(t, "ip", "-n", tp.lan, "link", "set", "lan0", "up")
	sh(t, "ip", "-n", tp.fw, "route", "add", "default", "via", "198.51.100.254")
	sh(t, "ip", "-n", tp.lan, "route", "add", "default", "via", "192.0.2.1")
	sh(t, "ip", "netns", "exec", tp.fw, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	tp.serve(tp.fw, "198.51.100.1:22", bannerEcho("ssh-fw"))
	tp.serve(tp.wan, "198.51.100.254:8080", func(c net.Conn) {
		host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
		fmt.Fprintln(c, host)
	})
	if o.noServers {
		return tp
	}

	// The servers. A large file, the same on every mirror, for a transfer
	// of GSO packets through NAT.
	big := make([]byte, 8<<20)
	for i := range big {
		big[i] = byte(i*7 + i>>13)
	}
	tp.bigSum, tp.bigLen = sha256.Sum256(big), len(big)
	// Servers are goroutines of the test with their listening sockets
	// made inside the namespaces (bound by address: no name lookups).
	for _, n := range []string{"10", "20", "30", "40"} {
		who := []byte("server ." + n + "\n")
		mux := http.NewServeMux()
		mux.HandleFunc("/who", func(w http.ResponseWriter, _ *http.Request) { w.Write(who) })
		mux.HandleFunc("/big", func(w http.ResponseWriter, _ *http.Request) { w.Write(big) })
		l := tp.listen(tp.lan, "192.0.2."+n+":80")
		srv := &http.Server{Handler: mux}
		srv.SetKeepAlivesEnabled(false)
		go srv.Serve(l)
		t.Cleanup(func() { srv.Close() })
	}
	tp.serve(tp.lan, "192.0.2.50:22", bannerEcho("ssh-50"))
	return tp
}

// inNetns runs fn on a thread moved into namespace ns. Sockets fn makes
// stay in ns. The thread is never handed back to other goroutines: it
// exits with its goroutine still locked.
func inNetns(ns string, fn func() error) error {
	ch := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		f, err := os.Open("/run/netns/" + ns)
		if err != nil {
			ch <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- err
			return
		}
		ch <- fn()
	}()
	return <-ch
}

func (tp *topology) listen(ns, addr string) net.Listener {
	var l net.Listener
	err := inNetns(ns, func() (err error) {
		l, err = net.Listen("tcp4", addr)
		return err
	})
	if err != nil {
		tp.t.Fatalf("listen %s in %s: %v", addr, ns, err)
	}
	tp.t.Cleanup(func() { l.Close() })
	return l
}

// serve answers every connection to addr in ns with fn, then closes it.
func (tp *topology) serve(ns, addr string, fn func(net.Conn)) {
	l := tp.listen(ns, addr)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(60 * time.Second))
				fn(c)
			}()
		}
	}()
}

// bannerEcho says text, then echoes what it is sent.
func bannerEcho(text string) func(net.Conn) {
	return func(c net.Conn) {
		fmt.Fprintln(c, text)
		io.Copy(c, c)
	}
}

func (tp *topology) start(ns string, args ...string) *exec.Cmd {
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if f, err := os.Create(filepath.Join(tp.dir, fmt.Sprintf("proc%d.log", len(tp.procs)))); err == nil {
		cmd.Stdout, cmd.Stderr = f, f
		defer f.Close()
	}
	if err := cmd.Start(); err != nil {
		tp.t.Fatal(err)
	}
	tp.procs = append(tp.procs, cmd)
	return cmd
}

func (tp *topology) close() {
	for _, p := range tp.procs {
		if p.Process != nil {
			syscall.Kill(-p.Process.Pid, syscall.SIGKILL) // its own process group
			p.Wait()
		}
	}
	for _, ns := range []string{tp.wan, tp.fw, tp.lan} {
		exec.Command("ip", "netns", "del", ns).Run()
	}
}

// dial connects from namespace ns (from laddr when set) to raddr. The
// socket is made on a thread moved into ns; the thread is never handed
// back to other goroutines (it exits with the goroutine still locked).
func (tp *topology) dial(ns, laddr, raddr string, timeout time.Duration) (net.Conn, error) {
	var c net.Conn
	err := inNetns(ns, func() (err error) {
		d := net.Dialer{Timeout: timeout}
		if laddr != "" {
			d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(laddr)}
		}
		c, err = d.Dial("tcp4", raddr)
		return err
	})
	return c, err
}

// get fetches path over HTTP/1.0 (one connection, closed by the server).
func (tp *topology) get(laddr, raddr, path string) ([]byte, error) {
	c, err := tp.dial(tp.wan, laddr, raddr, 2*time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	fmt.Fprintf(c, "GET /%s HTTP/1.0\r\n\r\n", path)
	all, err := io.ReadAll(c)
	if err != nil {
		return nil, err
	}
	_, body, ok := bytes.Cut(all, []byte("\r\n\r\n"))
	if !ok {
		return nil, fmt.Errorf("no HTTP answer: %q", all)
	}
	return body, nil
}

// banner connects and reads the service's first line.
func (tp *topology) banner(ns, laddr, raddr string) (string, net.Conn, error) {
	c, err := tp.dial(ns, laddr, raddr, 1500*time.Millisecond)
	if err != nil {
		return "", nil, err
	}
	c.SetDeadline(time.Now().Add(3 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		c.Close()
		return "", nil, err
	}
	c.SetDeadline(time.Time{})
	return strings.TrimSpace(line), c, nil
}

func echo(c net.Conn, msg string) error {
	c.SetDeadline(time.Now().Add(3 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := fmt.Fprintln(c, msg); err != nil {
		return err
	}
	buf := make([]byte, len(msg)+1)
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	if string(buf) != msg+"\n" {
		return fmt.Errorf("echo %q, got %q", msg, buf)
	}
	return nil
}

// syncBuffer collects a subprocess's stderr for the test to read while it
// runs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor waits (at most 10 s) until the text appears n times.
func (s *syncBuffer) waitFor(t *testing.T, text string, n int) {
	t.Helper()
	for i := 0; i < 200; i++ {
		if strings.Count(s.String(), text) >= n {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("ipsift never logged %q (%d times); its log:\n%s", text, n, s.String())
}

// buildIpsift builds the command into a temporary directory, once per
// test binary.
var buildOnce struct {
	sync.Once
	path string
	err  error
}

func buildIpsift(t *testing.T) string {
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ipsift-bin-")
		if err != nil {
			buildOnce.err = err
			return
		}
		buildOnce.path = filepath.Join(dir, "ipsift")
		out, err := exec.Command("go", "build", "-o", buildOnce.path, "github.com/ipsift/ipsift/cmd/ipsift").CombinedOutput()
		if err != nil {
			buildOnce.err = fmt.Errorf("%v\n%s", err, out)
		}
	})
	if buildOnce.err != nil {
		t.Fatal(buildOnce.err)
	}
	return buildOnce.path
}

// ipsiftProc is a running `ipsift run` in the firewall namespace.
type ipsiftProc struct {
	cmd    *exec.Cmd
	log    *syncBuffer
	ctl    string
	done   chan error
	waited bool
	err    error
}

func (tp *topology) runIpsift(t *testing.T, rules string, extra ...string) *ipsiftProc {
	return tp.runIpsiftBin(t, buildIpsift(t), rules, extra...)
}

// runIpsiftBin runs the ipsift binary bin (another build, for a
// comparison) with --queue 0 unless extra names the queues.
func (tp *topology) runIpsiftBin(t *testing.T, bin, rules string, extra ...string) *ipsiftProc {
	p := &ipsiftProc{log: &syncBuffer{}, ctl: filepath.Join(t.TempDir(), "ctl.sock"), done: make(chan error, 1)}
	args := []string{"netns", "exec", tp.fw, bin, "run", rules, "--control", p.ctl}
	if !slices.ContainsFunc(extra, func(a string) bool { return a == "--queue" || a == "--queues" || a == "--queue-balance" }) {
		args = append(args, "--queue", "0")
	}
	args = append(args, extra...)
	p.cmd = exec.Command("ip", args...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		p.wait(5 * time.Second)
		tp.removeRules()
	})
	p.log.waitFor(t, "installed kernel rules", 1)
	return p
}

// wait waits for the process to end (bounded) and returns its error.
func (p *ipsiftProc) wait(d time.Duration) (error, bool) {
	if p.waited {
		return p.err, true
	}
	select {
	case p.err = <-p.done:
		p.waited = true
		return p.err, true
	case <-time.After(d):
		return nil, false
	}
}

// stop stops ipsift with SIGSTOP and waits until every one of its
// threads has stopped. kill returns once the signal is pending: one
// thread takes it and then stops the others, each when it next runs,
// and until then a thread may still read the queue and hand the kernel
// a verdict (milliseconds later on a loaded machine, long enough for a
// ping to be answered "while ipsift was stopped").
func (p *ipsiftProc) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatalf("SIGSTOP: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		running, err := runningThreads(p.cmd.Process.Pid)
		if err != nil {
			t.Fatalf("after SIGSTOP: %v", err)
		}
		if len(running) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("threads %v of ipsift (pid %d) still not stopped 10s after SIGSTOP", running, p.cmd.Process.Pid)
		}
		time.Sleep(time.Millisecond)
	}
}

// runningThreads lists the threads of process pid that are not stopped
// (state T in /proc/PID/task/TID/stat).
func runningThreads(pid int) ([]string, error) {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var running []string
	for _, task := range tasks {
		stat, err := os.ReadFile(filepath.Join(dir, task.Name(), "stat"))
		if os.IsNotExist(err) {
			continue // the thread ended
		}
		if err != nil {
			return nil, err
		}
		// pid (comm) state ...: comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 || i+2 >= len(stat) {
			return nil, fmt.Errorf("%s/%s/stat: no state in %q", dir, task.Name(), stat)
		}
		if stat[i+2] != 'T' {
			running = append(running, task.Name()+":"+string(stat[i+2]))
		}
	}
	return running, nil
}

func (p *ipsiftProc) ctlCmd(t *testing.T, args ...string) (string, error) {
	bin := buildIpsift(t)
	out, err := exec.Command(bin, append([]string{"ctl", "--control", p.ctl}, args...)...).CombinedOutput()
	return string(out), err
}

// hasRules reports whether ipsift's chains are in the firewall's kernel.
func (tp *topology) hasRules() bool {
	out, _ := exec.Command("ip", "netns", "exec", tp.fw, "iptables-save").CombinedOutput()
	return bytes.Contains(out, []byte("IPSIFT"))
}

func (tp *topology) removeRules() {
	for _, c := range [][3]string{{"raw", "PREROUTING", "IPSIFT-PRE"}, {"raw", "OUTPUT", "IPSIFT-OUT"}, {"mangle", "POSTROUTING", "IPSIFT-POST"}} {
		exec.Command("ip", "netns", "exec", tp.fw, "iptables", "-t", c[0], "-D", c[1], "-j", c[2]).Run()
		exec.Command("ip", "netns", "exec", tp.fw, "iptables", "-t", c[0], "-F", c[2]).Run()
		exec.Command("ip", "netns", "exec", tp.fw, "iptables", "-t", c[0], "-X", c[2]).Run()
	}
}

func gatewayRules(t *testing.T, dir string) string {
	data, err := os.ReadFile("../examples/gateway.rules")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "gateway.rules")
	os.WriteFile(p, data, 0o644)
	return p
}

// checkMasqueraded: two inside hosts reach the outside, seen there as
// the firewall's outside address.
func (tp *topology) checkMasqueraded(t *testing.T) {
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
}

// TestGatewayEndToEnd runs examples/gateway.rules with ipsift enforcing
// (the kernel's own filter and nat tables empty) and checks every
// scenario the ruleset was written for.
func TestGatewayEndToEnd(t *testing.T) {
	tp := newTopology(t)
	rules := gatewayRules(t, t.TempDir())
	p := tp.runIpsift(t, rules)
	if os.Getenv("IPSIFT_E2E_TCPDUMP") != "" {
		tp.start(tp.fw, "tcpdump", "-lnvi", "any", "-c", "30")
		time.Sleep(time.Second)
		defer func() { out, _ := os.ReadFile(filepath.Join(tp.dir, "proc0.log")); t.Logf("tcpdump:\n%s", out) }()
	}

	t.Run("FourMirrorsInTurn", func(t *testing.T) {
		var got []string
		for i := 0; i < 8; i++ {
			body, err := tp.get("203.0.113.7", "198.51.100.1:80", "who")
			if err != nil {
				t.Fatalf("request %d: %v\n%s", i+1, err, p.log.String())
			}
			got = append(got, strings.TrimSpace(string(body)))
		}
		want := "server .10,server .20,server .30,server .40,server .10,server .20,server .30,server .40"
		if strings.Join(got, ",") != want {
			t.Fatalf("answers %v, want %s", got, want)
		}
	})
	t.Run("LargeTransferThroughDNAT", func(t *testing.T) {
		body, err := tp.get("203.0.113.7", "198.51.100.1:80", "big")
		if err != nil {
			t.Fatal(err)
		}
		if len(body) != tp.bigLen || sha256.Sum256(body) != tp.bigSum {
			t.Fatalf("got %d bytes, want %d, identical", len(body), tp.bigLen)
		}
	})
	t.Run("PortForward2222", func(t *testing.T) {
		b, c, err := tp.banner(tp.wan, "198.51.100.77", "198.51.100.1:2222")
		if err != nil || b != "ssh-50" {
			t.Fatalf("banner %q, %v", b, err)
		}
		defer c.Close()
		if err := echo(c, "hello through DNAT"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("Trace", func(t *testing.T) {
		// ipsift ctl trace: the first packet of a connection to the
		// 2222 forward, traced live as ipsift trace renders it.
		var out syncBuffer
		cmd := exec.Command(buildIpsift(t), "ctl", "--control", p.ctl, "trace", "--count", "1", "--seconds", "20", "eth0", "tcp", "dport", "2222")
		cmd.Stdout, cmd.Stderr = &out, &out
		started := strings.Count(p.log.String(), "trace started")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		defer cmd.Process.Kill()
		p.log.waitFor(t, "trace started", started+1)
		// Not traced: another port.
		if _, err := tp.get("203.0.113.7", "198.51.100.1:80", "who"); err != nil {
			t.Fatal(err)
		}
		b, c, err := tp.banner(tp.wan, "198.51.100.77", "198.51.100.1:2222")
		if err != nil || b != "ssh-50" {
			t.Fatalf("banner %q, %v", b, err)
		}
		c.Close()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("ctl trace: %v\n%s", err, out.String())
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("ctl trace did not end after one packet:\n%s", out.String())
		}
		text := out.String()
		for _, want := range []string{"in eth0  IP 198.51.100.77.", "> 198.51.100.1.2222: Flags [S]", "nat PREROUTING", "--to-destination 192.0.2.50:22", "> 192.0.2.50.22: Flags [S]", "verdict  forwarded out wlan0"} {
			if !strings.Contains(text, want) {
				t.Errorf("the trace lacks %q:\n%s", want, text)
			}
		}
		if strings.Contains(text, ".80: ") || strings.Count(text, "verdict") != 1 {
			t.Errorf("a packet the filter does not select was traced:\n%s", text)
		}
	})
	t.Run("SSHFromAdminsOnly", func(t *testing.T) {
		b, c, err := tp.banner(tp.wan, "203.0.113.7", "198.51.100.1:22")
		if err != nil || b != "ssh-fw" {
			t.Fatalf("admin: banner %q, %v", b, err)
		}
		c.Close()
		if b, _, err := tp.banner(tp.wan, "198.51.100.77", "198.51.100.1:22"); err == nil {
			t.Fatalf("198.51.100.77 reached ssh: %q", b)
		}
	})
	t.Run("HostileGetsNothing", func(t *testing.T) {
		// Only INPUT names the hostile address: like the kernel, ipsift
		// still forwards its DNAT'd connections (2222, 80).
		if b, _, err := tp.banner(tp.wan, "198.51.100.66", "198.51.100.1:22"); err == nil {
			t.Fatalf("hostile reached ssh: %q", b)
		}
	})
	t.Run("InsideMasqueraded", tp.checkMasqueraded)
	t.Run("Reload", func(t *testing.T) {
		b, open, err := tp.banner(tp.wan, "203.0.113.7", "198.51.100.1:2222")
		if err != nil || b != "ssh-50" {
			t.Fatalf("banner %q, %v", b, err)
		}
		defer open.Close()
		good, _ := os.ReadFile(rules)
		// A broken file: refused, nothing changes.
		os.WriteFile(rules, append(append([]byte(nil), good...), "*filter\n-A INPUT -p tcp --dport 22 -j ACCPET\nCOMMIT\n"...), 0o644)
		p.cmd.Process.Signal(syscall.SIGHUP)
		p.log.waitFor(t, "reload refused", 1)
		if err := echo(open, "after a bad reload"); err != nil {
			t.Fatal(err)
		}
		if b, c, err := tp.banner(tp.wan, "203.0.113.7", "198.51.100.1:2222"); err != nil || b != "ssh-50" {
			t.Fatalf("2222 after a bad reload: %q, %v", b, err)
		} else {
			c.Close()
		}
		// A good one moving the forward to 2223: takes effect, the open
		// connection lives on.
		os.WriteFile(rules, bytes.Replace(good, []byte("--dport 2222"), []byte("--dport 2223"), 1), 0o644)
		p.cmd.Process.Signal(syscall.SIGHUP)
		p.log.waitFor(t, "msg=reloaded", 1)
		if err := echo(open, "after a good reload"); err != nil {
			t.Fatal(err)
		}
		if b, c, err := tp.banner(tp.wan, "203.0.113.7", "198.51.100.1:2223"); err != nil || b != "ssh-50" {
			t.Fatalf("2223 after reload: %q, %v", b, err)
		} else {
			c.Close()
		}
		if b, _, err := tp.banner(tp.wan, "203.0.113.7", "198.51.100.1:2222"); err == nil {
			t.Fatalf("2222 still forwarded after reload: %q", b)
		}
		os.WriteFile(rules, good, 0o644)
		// And through the control socket.
		if out, err := p.ctlCmd(t, "reload", rules); err != nil {
			t.Fatalf("ctl reload: %v\n%s", err, out)
		}
	})
	t.Run("Control", func(t *testing.T) {
		out, err := p.ctlCmd(t, "list")
		if err != nil || !strings.Contains(out, "DNAT") || !strings.Contains(out, "Chain INPUT (policy DROP") {
			t.Fatalf("ctl list: %v\n%s", err, out)
		}
		out, err = p.ctlCmd(t, "conntrack")
		if err != nil || !strings.Contains(out, "dport=80") {
			t.Fatalf("ctl conntrack: %v\n%s", err, out)
		}
		out, err = p.ctlCmd(t, "stats")
		if err != nil || !strings.Contains(out, "second_pass") {
			t.Fatalf("ctl stats: %v\n%s", err, out)
		}
		t.Logf("stats:\n%s", out)
		fi, err := os.Stat(p.ctl)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("control socket mode: %v %v", fi, err)
		}
	})
	t.Run("CleanStop", func(t *testing.T) {
		p.cmd.Process.Signal(syscall.SIGTERM)
		err, ok := p.wait(10 * time.Second)
		if !ok || err != nil {
			t.Fatalf("SIGTERM: exited %v (in time: %v)\n%s", err, ok, p.log.String())
		}
		if tp.hasRules() {
			t.Fatal("ipsift chains left after SIGTERM")
		}
		// The kernel's own (empty) rules again: the firewall answers
		// port 80 itself with a RST, nothing is forwarded.
		if _, err := tp.get("203.0.113.7", "198.51.100.1:80", "who"); err == nil {
			t.Fatal("port 80 still forwarded after ipsift stopped")
		}
	})
}

// TestCrashFailClosedAndOpen kills ipsift with SIGKILL: fail-closed, its
// queue rules stay with no reader and packets are dropped; with
// --fail-open they pass to the kernel's own (here empty) rules.
func TestCrashFailClosedAndOpen(t *testing.T) {
	tp := newTopology(t)
	rules := gatewayRules(t, t.TempDir())
	for _, failOpen := range []bool{false, true} {
		var extra []string
		if failOpen {
			extra = []string{"--fail-open"}
		}
		p := tp.runIpsift(t, rules, extra...)
		// Enforcing: 198.51.100.77 gets no ssh.
		if _, _, err := tp.banner(tp.wan, "198.51.100.77", "198.51.100.1:22"); err == nil {
			t.Fatal("ssh from 198.51.100.77 passed while enforcing")
		}
		p.cmd.Process.Kill()
		p.wait(5 * time.Second)
		if !tp.hasRules() {
			t.Fatal("SIGKILL removed the chains?")
		}
		b, c, err := tp.banner(tp.wan, "203.0.113.7", "198.51.100.1:22")
		if c != nil {
			c.Close()
		}
		if failOpen && (err != nil || b != "ssh-fw") {
			t.Fatalf("--fail-open after a crash: ssh %q, %v", b, err)
		}
		if !failOpen && err == nil {
			t.Fatal("fail-closed after a crash: ssh passed")
		}
		tp.removeRules()
	}
}
