package datapath_test

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func (tp *topology) nsOut(ns string, args ...string) string {
	out, _ := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...).CombinedOutput()
	return string(out)
}

// clientCounters are the client's own iptables counters of its HTTP
// traffic to the gateway: every packet it sent, the SYNs among them,
// and every packet it received.
type clientCounters struct{ out, syn, in [2]uint64 }

// countClient installs the client's counting rules in the wan namespace.
func (tp *topology) countClient(t *testing.T) {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", tp.wan, "iptables-restore")
	cmd.Stdin = strings.NewReader(`*filter
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A OUTPUT -d 198.51.100.1/32 -p tcp -m tcp --dport 80 --syn
-A OUTPUT -d 198.51.100.1/32 -p tcp -m tcp --dport 80
-A INPUT -s 198.51.100.1/32 -p tcp -m tcp --sport 80
COMMIT
`)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("client rules: %v %s", err, out)
	}
}

var saveCounter = regexp.MustCompile(`^\[(\d+):(\d+)\] -A (\w+) (.*)$`)

func (tp *topology) clientCounters(t *testing.T) clientCounters {
	var c clientCounters
	for _, l := range strings.Split(tp.nsOut(tp.wan, "iptables-save", "-c", "-t", "filter"), "\n") {
		m := saveCounter.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		pk, _ := strconv.ParseUint(m[1], 10, 64)
		by, _ := strconv.ParseUint(m[2], 10, 64)
		switch {
		case m[3] == "INPUT":
			c.in = [2]uint64{pk, by}
		case strings.Contains(m[4], "SYN"):
			c.syn = [2]uint64{pk, by}
		default:
			c.out = [2]uint64{pk, by}
		}
	}
	return c
}

// forwardCounters reads ipsift ctl list -x: the packets and bytes of
// filter FORWARD's rules, in order.
func forwardCounters(t *testing.T, p *ipsiftProc) [][2]uint64 {
	out, err := p.ctlCmd(t, "list", "-x")
	if err != nil {
		t.Fatalf("ctl list -x: %v\n%s", err, out)
	}
	var rows [][2]uint64
	in := false
	for _, l := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(l, "# table "):
			in = false
		case strings.HasPrefix(l, "Chain FORWARD"):
			in = strings.Contains(out[:strings.Index(out, l)], "# table filter")
		case strings.HasPrefix(l, "Chain "):
			in = false
		case in:
			f := strings.Fields(l)
			if len(f) < 2 || f[0] == "pkts" {
				continue
			}
			pk, err1 := strconv.ParseUint(f[0], 10, 64)
			by, err2 := strconv.ParseUint(f[1], 10, 64)
			if err1 == nil && err2 == nil {
				rows = append(rows, [2]uint64{pk, by})
			}
		}
	}
	return rows
}

func ctlStat(t *testing.T, p *ipsiftProc, name string) uint64 {
	out, _ := p.ctlCmd(t, "stats")
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) == 2 && f[0] == name {
			v, _ := strconv.ParseUint(f[1], 10, 64)
			return v
		}
	}
	t.Fatalf("no %s in ctl stats:\n%s", name, out)
	return 0
}

// slowGet starts GET /big and reads the head and the first n bytes of
// the body; the rest is read by finish, which checks the whole body.
type slowGet struct {
	c    net.Conn
	br   *bufio.Reader
	body bytes.Buffer
}

func (tp *topology) startGet(t *testing.T, n int) *slowGet {
	return tp.startGetBuf(t, n, 0)
}

// startGetBuf is startGet with the client's receive buffer set to
// rcvbuf bytes (0: the default), so that the server cannot send the
// whole body ahead of the client's reads.
func (tp *topology) startGetBuf(t *testing.T, n, rcvbuf int) *slowGet {
	t.Helper()
	var c net.Conn
	var err error
	if rcvbuf == 0 {
		c, err = tp.dial(tp.wan, "203.0.113.7", "198.51.100.1:80", 2*time.Second)
	} else {
		err = inNetns(tp.wan, func() error {
			d := net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP("203.0.113.7")},
				Control: func(_, _ string, rc syscall.RawConn) error {
					return rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf) })
				}}
			var err error
			c, err = d.Dial("tcp4", "198.51.100.1:80")
			return err
		})
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(c, "GET /big HTTP/1.0\r\n\r\n")
	g := &slowGet{c: c, br: bufio.NewReaderSize(c, 4096)}
	for {
		line, err := g.br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the head: %v", err)
		}
		if line == "\r\n" {
			break
		}
	}
	if _, err := io.CopyN(&g.body, g.br, int64(n)); err != nil {
		t.Fatalf("reading the first bytes: %v", err)
	}
	return g
}

// finish reads the body to its length (not to the end: after a crash the
// server's FIN may not come through) and checks it.
func (g *slowGet) finish(t *testing.T, tp *topology) {
	t.Helper()
	g.c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.CopyN(&g.body, g.br, int64(tp.bigLen-g.body.Len())); err != nil {
		t.Fatalf("after %d bytes: %v", g.body.Len(), err)
	}
	if sha256.Sum256(g.body.Bytes()) != tp.bigSum {
		t.Fatal("the body differs from the file")
	}
}

func waitStat(t *testing.T, p *ipsiftProc, name string, ok func(uint64) bool) uint64 {
	t.Helper()
	var v uint64
	for i := 0; i < 100; i++ {
		if v = ctlStat(t, p, name); ok(v) {
			return v
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("ctl stats %s stayed %d", name, v)
	return v
}

// TestOffloadCountersExact fetches pages and large files through the
// port-80 DNAT with offload on and off. Either way, filter FORWARD's
// counters must be what the client itself counted: rule 2 (the DNAT
// rule) every SYN, rule 1 (ESTABLISHED,RELATED) every other packet both
// ways. With offload on, the kernel carried most of them. on-2q: two
// queues fanned out by CPU, so a connection's directions may be proved
// by different workers. early: connections handed over after their
// handshake, their close carried by the kernel too (every /who request
// is offloaded). first: connections handed over at their SYN-ACK, the
// original direction proved by a probe at the SYN.
func TestOffloadCountersExact(t *testing.T) {
	for _, mode := range []string{"on", "off", "on-2q", "early", "first"} {
		t.Run(mode, func(t *testing.T) {
			tp := newTopologyNamed(t, "ofl"+mode)
			tp.countClient(t)
			args := []string{"--offload=" + mode}
			if mode == "on-2q" {
				args = []string{"--offload=on", "--queue", "0:1", "--queue-cpu-fanout"}
			}
			p := tp.runIpsift(t, gatewayRules(t, t.TempDir()), args...)
			if os.Getenv("OFL_DEBUG") != "" {
				tp.nsOut(tp.fw, "sysctl", "-w", "net.netfilter.nf_conntrack_log_invalid=6")
				defer func() { t.Logf("%s", tp.nsOut(tp.fw, "sh", "-c", "dmesg | tail -20; conntrack -S")) }()
			}
			for i := 0; i < 4; i++ {
				if _, err := tp.get("203.0.113.7", "198.51.100.1:80", "who"); err != nil {
					t.Fatal(err)
				}
			}
			for i := 0; i < 2; i++ {
				body, err := tp.get("203.0.113.7", "198.51.100.1:80", "big")
				if err != nil || sha256.Sum256(body) != tp.bigSum {
					t.Fatalf("big: %d bytes, %v", len(body), err)
				}
			}
			on := mode != "off"
			if on {
				// A connection the kernel carries now shows as such.
				g := tp.startGet(t, 1<<20)
				out, _ := p.ctlCmd(t, "conntrack")
				if !strings.Contains(out, "[OFFLOAD]") {
					t.Errorf("ctl conntrack shows no offloaded connection during a transfer:\n%s", out)
				}
				g.finish(t, tp)
				g.c.Close()
				if mode != "early" && mode != "first" {
					// (early, first: closed connections stay with the kernel
					// through TIME_WAIT)
					waitStat(t, p, "offload_active", func(v uint64) bool { return v == 0 })
				}
				want := uint64(3)
				if mode == "early" || mode == "first" {
					want = 7 // the small ones too: every connection
				}
				if n := ctlStat(t, p, "offloaded"); n < want {
					t.Errorf("offloaded %d connections, want at least %d", n, want)
				}
			}
			checkForwardCounters(t, tp, p)
			kp := ctlStat(t, p, "kernel_packets")
			if on && kp == 0 || !on && kp != 0 {
				t.Errorf("offload %s: the kernel carried %d packets", mode, kp)
			}
			t.Logf("offload %s: %d packets carried by the kernel, %d crossed to ipsift", mode, kp, ctlStat(t, p, "packets"))
			if os.Getenv("OFL_DEBUG") != "" {
				t.Logf("%s", p.log.String())
			}
		})
	}
}

// checkForwardCounters checks filter FORWARD's counters against the
// client's own: rule 2 (the DNAT rule) every SYN, rule 1
// (ESTABLISHED,RELATED) every other packet both ways.
func checkForwardCounters(t *testing.T, tp *topology, p *ipsiftProc) {
	t.Helper()
	var want, got [2][2]uint64
	for i := 0; i < 100; i++ {
		c := tp.clientCounters(t)
		want[0] = c.syn
		want[1] = [2]uint64{c.out[0] + c.in[0] - c.syn[0], c.out[1] + c.in[1] - c.syn[1]}
		rows := forwardCounters(t, p)
		if len(rows) < 2 {
			t.Fatalf("ctl list -x: FORWARD has %d rules", len(rows))
		}
		got = [2][2]uint64{rows[1], rows[0]}
		if got == want {
			break
		}
		if i == 99 {
			t.Logf("FORWARD: %v", rows)
			out, _ := p.ctlCmd(t, "stats")
			t.Logf("stats:\n%s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got != want {
		t.Errorf("FORWARD rule 2 (DNAT) %v, rule 1 (ESTABLISHED) %v packets/bytes; the client counted %v and %v", got[0], got[1], want[0], want[1])
	}
}

// TestOffloadEarlyPortReuse: with --offload=early (and first) the kernel carries a
// connection's close, so its entry lingers in TIME_WAIT; a new
// connection from the same client port reopens it, as in the kernel,
// only if ipsift took the kernel's state back with the connection.
// Every connection works, is handed over, and the counters stay exact.
func TestOffloadEarlyPortReuse(t *testing.T) {
	for _, mode := range []string{"early", "first"} {
		t.Run(mode, func(t *testing.T) { offloadPortReuse(t, mode) })
	}
}

// getFromPort fetches /who through the port-80 DNAT from client port
// port of 203.0.113.7, and returns the whole answer.
func (tp *topology) getFromPort(port int) ([]byte, error) {
	var body []byte
	err := inNetns(tp.wan, func() error {
		d := net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP("203.0.113.7"), Port: port}}
		c, err := d.Dial("tcp4", "198.51.100.1:80")
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(c, "GET /who HTTP/1.0\r\n\r\n")
		body, err = io.ReadAll(c)
		return err
	})
	return body, err
}

func offloadPortReuse(t *testing.T, mode string) {
	tp := newTopologyNamed(t, "oflpr"+mode)
	tp.countClient(t)
	p := tp.runIpsift(t, gatewayRules(t, t.TempDir()), "--offload="+mode)
	for i := 0; i < 3; i++ {
		body, err := tp.getFromPort(40123)
		if err != nil || !bytes.Contains(body, []byte("200 OK")) {
			t.Fatalf("connection %d from port 40123: %v %q", i+1, err, body)
		}
		// The close goes through the kernel: its entry is in TIME_WAIT.
		time.Sleep(200 * time.Millisecond)
		if i == 0 {
			out := tp.nsOut(tp.fw, "conntrack", "-L", "-p", "tcp", "--sport", "40123")
			if !strings.Contains(out, "TIME_WAIT") {
				t.Errorf("the kernel's entry after the close:\n%s", out)
			}
		}
	}
	if n := ctlStat(t, p, "offloaded"); n != 3 {
		t.Errorf("offloaded %d connections, want 3", n)
	}
	checkForwardCounters(t, tp, p)
	out, _ := p.ctlCmd(t, "conntrack")
	if !strings.Contains(out, "TIME_WAIT") {
		t.Errorf("ctl conntrack does not show the kernel's TIME_WAIT:\n%s", out)
	}
}

// TestOffloadReloadDuringTransfer reloads during a large transfer: the
// same rules take the connection back and hand it over again; rules with
// a limit on the established path take it back for good, and the
// transfer goes on through ipsift.
func TestOffloadReloadDuringTransfer(t *testing.T) {
	for _, mode := range []string{"on", "first"} {
		t.Run(mode, func(t *testing.T) { offloadReloadDuringTransfer(t, mode) })
	}
}

func offloadReloadDuringTransfer(t *testing.T, mode string) {
	tp := newTopologyNamed(t, "oflrl"+mode)
	dir := t.TempDir()
	rules := gatewayRules(t, dir)
	p := tp.runIpsift(t, rules, "--offload="+mode)
	// With first, a closed connection stays with the kernel through its
	// TIME_WAIT: the transfer is one of the active ones.
	one := func(v uint64) bool { return v == 1 || mode == "first" && v >= 1 }
	// A small receive buffer keeps the transfer going until the reload
	// (carried by the kernel from its SYN, it would be over).
	g := tp.startGetBuf(t, 1<<20, 64<<10)
	waitStat(t, p, "offload_active", one)
	if out, err := p.ctlCmd(t, "reload"); err != nil {
		t.Fatalf("reload: %v %s", err, out)
	}
	if n := ctlStat(t, p, "offload_returned"); n < 1 {
		t.Errorf("the reload took back %d connections", n)
	}
	// Its next packets come to ipsift, which hands it over again.
	if _, err := io.CopyN(&g.body, g.br, 1<<20); err != nil {
		t.Fatal(err)
	}
	if os.Getenv("OFL_DEBUG") != "" {
		defer func() { t.Logf("%s", p.log.String()) }()
	}
	waitStat(t, p, "offload_active", one)
	if n := ctlStat(t, p, "offloaded"); n < 2 {
		t.Errorf("offloaded %d times, want 2 (before and after the reload)", n)
	}
	g.finish(t, tp)
	// A limit on the established path: nothing is handed over, the
	// transfers cross to ipsift whole.
	data, _ := os.ReadFile(rules)
	limited := strings.Replace(string(data), "-A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
		"-A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -m limit --limit 10000/sec --limit-burst 10000 -j ACCEPT", 1)
	lp := filepath.Join(dir, "limited.rules")
	os.WriteFile(lp, []byte(limited), 0o644)
	// A small receive buffer again: with the default one the server
	// sends the whole body and its FIN at once, and with offload on the
	// FIN takes the connection back before the first look at the stats.
	g2 := tp.startGetBuf(t, 1<<20, 64<<10)
	waitStat(t, p, "offload_active", one)
	if out, err := p.ctlCmd(t, "reload", lp); err != nil {
		t.Fatalf("reload: %v %s", err, out)
	}
	if n := ctlStat(t, p, "offload_active"); n != 0 {
		t.Errorf("%d connections still offloaded after rules with a limit came", n)
	}
	g2.finish(t, tp)
	offloaded, before := ctlStat(t, p, "offloaded"), ctlStat(t, p, "packets")
	body, err := tp.get("203.0.113.7", "198.51.100.1:80", "big")
	if err != nil || sha256.Sum256(body) != tp.bigSum {
		t.Fatalf("big: %d bytes, %v", len(body), err)
	}
	if n := ctlStat(t, p, "offloaded"); n != offloaded {
		t.Errorf("%d connections offloaded with a limit on their path", n-offloaded)
	}
	if after := ctlStat(t, p, "packets"); after-before < 100 {
		t.Errorf("only %d packets crossed to ipsift with a limit on the path", after-before)
	}
}

// TestOffloadFailOpenCrash kills ipsift (SIGKILL) while the kernel
// carries a connection through the port-2222 DNAT, with --fail-open: the
// connection goes on, carried by the kernel with the NAT binding ipsift
// gave it (its FIN, which crosses to the queue, would not: with nobody
// reading, it passes untracked, without the binding).
func TestOffloadFailOpenCrash(t *testing.T) {
	for _, mode := range []string{"on", "first"} {
		t.Run(mode, func(t *testing.T) { offloadFailOpenCrash(t, mode) })
	}
}

func offloadFailOpenCrash(t *testing.T, mode string) {
	tp := newTopologyNamed(t, "oflfo"+mode)
	p := tp.runIpsift(t, gatewayRules(t, t.TempDir()), "--fail-open", "--offload="+mode)
	line, c, err := tp.banner(tp.wan, "198.51.100.77", "198.51.100.1:2222")
	if err != nil || line != "ssh-50" {
		t.Fatalf("banner %q, %v", line, err)
	}
	defer c.Close()
	for i := 0; i < 10; i++ { // enough packets for a handover
		if err := echo(c, fmt.Sprintf("before %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	waitStat(t, p, "offload_active", func(v uint64) bool { return v == 1 })
	p.cmd.Process.Signal(syscall.SIGKILL)
	if _, ok := p.wait(5 * time.Second); !ok {
		t.Fatal("ipsift did not die")
	}
	for i := 0; i < 3; i++ {
		if err := echo(c, fmt.Sprintf("after the crash %d", i)); err != nil {
			t.Fatalf("the offloaded connection after the crash: %v", err)
		}
	}
	// A new connection now meets no NAT at all (the kernel's own empty
	// rules, fail-open): it does not reach the inside host.
	if line, c2, err := tp.banner(tp.wan, "198.51.100.77", "198.51.100.1:2222"); err == nil {
		c2.Close()
		t.Errorf("a new connection after the crash got %q", line)
	}
}

// TestOffloadTrace: ipsift ctl trace says which packet handed its
// connection to the kernel (the later ones are not traced: the kernel
// carries them) and which took it back.
func TestOffloadTrace(t *testing.T) {
	tp := newTopologyNamed(t, "ofltr")
	// --offload=on: the hand-over after the handshake and the FIN that
	// takes the connection back (TestOffloadTraceFirst: the default).
	p := tp.runIpsift(t, gatewayRules(t, t.TempDir()), "--offload=on")
	done := make(chan string, 1)
	go func() {
		out, _ := p.ctlCmd(t, "trace", "tcp", "port", "80", "--count", "0", "--seconds", "8", "--quiet")
		done <- out
	}()
	time.Sleep(500 * time.Millisecond) // the subscription is in place
	body, err := tp.get("203.0.113.7", "198.51.100.1:80", "big")
	if err != nil || sha256.Sum256(body) != tp.bigSum {
		t.Fatalf("big: %d bytes, %v", len(body), err)
	}
	out := <-done
	for _, want := range []string{"offload: connection handed to the kernel", "offload: a FIN or RST: ipsift decides it"} {
		if !strings.Contains(out, want) {
			t.Errorf("the trace does not say %q:\n%.3000s", want, out)
		}
	}
	if n := strings.Count(out, "\n\n"); n > 200 {
		t.Errorf("%d packets traced for an 8 MB transfer: the kernel should have carried most", n)
	}
}

// TestOffloadRestartAdopts kills ipsift (SIGKILL, fail-closed) while the
// kernel carries a connection through the port-2222 DNAT: the kernel
// goes on carrying it; the next ipsift takes it over from the kernel's
// table (its NAT binding included), decides its packets, and hands it
// back once proved again.
func TestOffloadRestartAdopts(t *testing.T) {
	for _, mode := range []string{"on", "first"} {
		t.Run(mode, func(t *testing.T) { offloadRestartAdopts(t, mode) })
	}
}

func offloadRestartAdopts(t *testing.T, mode string) {
	tp := newTopologyNamed(t, "oflra"+mode)
	rules := gatewayRules(t, t.TempDir())
	p := tp.runIpsift(t, rules, "--offload="+mode)
	line, c, err := tp.banner(tp.wan, "198.51.100.77", "198.51.100.1:2222")
	if err != nil || line != "ssh-50" {
		t.Fatalf("banner %q, %v", line, err)
	}
	defer c.Close()
	for i := 0; i < 10; i++ {
		if err := echo(c, fmt.Sprintf("before %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	waitStat(t, p, "offload_active", func(v uint64) bool { return v == 1 })
	p.cmd.Process.Signal(syscall.SIGKILL)
	if _, ok := p.wait(5 * time.Second); !ok {
		t.Fatal("ipsift did not die")
	}
	if err := echo(c, "while ipsift is dead"); err != nil {
		t.Fatalf("the kernel stopped carrying the connection: %v", err)
	}
	p2 := tp.runIpsift(t, rules, "--offload="+mode)
	p2.log.waitFor(t, "took over connections an earlier run left to the kernel", 1)
	// (first: the handover after adoption needs no 8 packets each way,
	// so segments retransmitted since the kill may have handed it over
	// again already.)
	if n := ctlStat(t, p2, "offload_active"); n != 0 && mode != "first" {
		t.Errorf("%d connections offloaded right after the restart", n)
	}
	out, _ := p2.ctlCmd(t, "conntrack")
	if !strings.Contains(out, "dport=2222 src=192.0.2.50") {
		t.Errorf("the restarted ipsift does not have the connection:\n%s", out)
	}
	for i := 0; i < 12; i++ {
		if err := echo(c, fmt.Sprintf("after the restart %d", i)); err != nil {
			t.Fatalf("after the restart: %v", err)
		}
	}
	waitStat(t, p2, "offload_active", func(v uint64) bool { return v == 1 })
}

// TestOffloadTraceFirst: with --offload=first, ctl trace shows the SYN
// handing its connection to the kernel, and nothing after it (the kernel
// carried the rest); with a limit on the established path it says why
// the connection was not handed over.
func TestOffloadTraceFirst(t *testing.T) {
	tp := newTopologyNamed(t, "ofltf")
	dir := t.TempDir()
	rules := gatewayRules(t, dir)
	p := tp.runIpsift(t, rules, "--offload=first")
	trace := func() string {
		done := make(chan string, 1)
		go func() {
			out, _ := p.ctlCmd(t, "trace", "tcp", "port", "80", "--count", "0", "--seconds", "3", "--quiet")
			done <- out
		}()
		time.Sleep(500 * time.Millisecond) // the subscription is in place
		if _, err := tp.get("203.0.113.7", "198.51.100.1:80", "who"); err != nil {
			t.Fatal(err)
		}
		return <-done
	}
	out := trace()
	if !strings.Contains(out, "offload: connection handed to the kernel at its SYN") {
		t.Errorf("the trace does not say the SYN handed the connection over:\n%.3000s", out)
	}
	if n := strings.Count(out, "\n        verdict ") + strings.Count(out, "\nverdict "); n != 1 {
		t.Errorf("%d packets traced for one request: the kernel should have carried all but the SYN:\n%.3000s", n, out)
	}
	data, _ := os.ReadFile(rules)
	limited := strings.Replace(string(data), "-A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
		"-A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -m limit --limit 10000/sec --limit-burst 10000 -j ACCEPT", 1)
	lp := filepath.Join(dir, "limited.rules")
	os.WriteFile(lp, []byte(limited), 0o644)
	if out, err := p.ctlCmd(t, "reload", lp); err != nil {
		t.Fatalf("reload: %v %s", err, out)
	}
	out = trace()
	if !strings.Contains(out, "offload: not handed to the kernel at the SYN") {
		t.Errorf("the trace does not say why the connection stayed:\n%.3000s", out)
	}
}

// TestOffloadFirstRefusedCreate: with --offload=first the create of the
// kernel's entry goes out with the SYN's verdict, and its answer is
// read after it. A create the kernel refuses (here: it already has an
// entry on the connection's tuple, put there by conntrack -I, in a
// state in which every segment of the client's is INVALID to it) leaves
// the connection with ipsift: not counted as offloaded, counted as
// refused, every later packet decided by ipsift, the counters exact;
// the next connection is handed over as usual.
func TestOffloadFirstRefusedCreate(t *testing.T) {
	tp := newTopologyNamed(t, "oflrc")
	tp.countClient(t)
	p := tp.runIpsift(t, gatewayRules(t, t.TempDir()), "--offload=first")
	if out, err := exec.Command("ip", "netns", "exec", tp.fw, "conntrack", "-I", "-p", "tcp", "-s", "203.0.113.7", "-d", "198.51.100.1",
		"--sport", "40124", "--dport", "80", "--state", "SYN_SENT", "--timeout", "120").CombinedOutput(); err != nil {
		t.Fatalf("conntrack -I: %v %s", err, out)
	}
	get := func(port int) {
		t.Helper()
		body, err := tp.getFromPort(port)
		if err != nil || !bytes.Contains(body, []byte("200 OK")) {
			t.Fatalf("connection from port %d: %v %q", port, err, body)
		}
	}
	packets := ctlStat(t, p, "packets")
	get(40124)
	if n := ctlStat(t, p, "offload_refused"); n != 1 {
		t.Errorf("offload_refused %d, want 1", n)
	}
	if n := ctlStat(t, p, "offloaded"); n != 0 {
		t.Errorf("offloaded %d with the create refused, want 0", n)
	}
	if n := ctlStat(t, p, "offload_active"); n != 0 {
		t.Errorf("offload_active %d with the create refused, want 0", n)
	}
	// Every packet of that connection crossed (a handshake, a request,
	// an answer and a close: well over one).
	if n := ctlStat(t, p, "packets") - packets; n < 6 {
		t.Errorf("%d packets crossed to ipsift for the refused connection, want every one of them", n)
	}
	checkForwardCounters(t, tp, p)
	get(40125)
	if n := ctlStat(t, p, "offloaded"); n != 1 {
		t.Errorf("offloaded %d after a second connection, want 1", n)
	}
	checkForwardCounters(t, tp, p)
	if kp := ctlStat(t, p, "kernel_packets"); kp == 0 {
		t.Errorf("the kernel carried no packet of the second connection")
	}
	// A stale entry as ipsift's own hand-overs leave them when a destroy
	// event went to another flow of the tuple: ipsift's mark, ASSURED,
	// ESTABLISHED, and no NAT (0x40000000 is markOffload). Left in place after the refusal, it would
	// carry the new connection's segments without the DNAT ipsift
	// decided (to the firewall's own port 80, where nothing listens):
	// the refusal deletes it, and the connection crosses to ipsift whole.
	if out, err := exec.Command("ip", "netns", "exec", tp.fw, "conntrack", "-I", "-p", "tcp", "-s", "203.0.113.7", "-d", "198.51.100.1",
		"--sport", "40126", "--dport", "80", "--state", "ESTABLISHED", "--status", "ASSURED,SEEN_REPLY",
		"--mark", "0x40000000", "--timeout", "120").CombinedOutput(); err != nil {
		t.Fatalf("conntrack -I: %v %s", err, out)
	}
	packets = ctlStat(t, p, "packets")
	get(40126)
	if n := ctlStat(t, p, "offload_refused"); n != 2 {
		t.Errorf("offload_refused %d, want 2", n)
	}
	if n := ctlStat(t, p, "packets") - packets; n < 6 {
		t.Errorf("%d packets crossed to ipsift for the connection whose create met a stale entry, want every one of them", n)
	}
	checkForwardCounters(t, tp, p)
}
