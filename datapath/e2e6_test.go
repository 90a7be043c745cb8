package datapath_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ipsift/ipsift/internal/kernel"
	"github.com/ipsift/ipsift/npt"
	"golang.org/x/sys/unix"
)

// topology6 is the IPv6 twin of the gateway topology, in three
// namespaces named lv6-PID-*:
//
//	wan  wan0: 2001:db8:100::fe/64 (the gateway's next hop, a server on
//	     :8080 that answers with the client's address), ::66 (hostile),
//	     ::77 (anyone), 2001:db8:113::7/64 (an administrator); the NPT
//	     prefix 2001:db8:2::/64 routed back to the firewall
//	fw   eth0 2001:db8:100::1/64 ─ wan0, wlan0 2001:db8:1::1/64 ─ lan0,
//	     default via 2001:db8:100::fe, forwarding on, a banner on :22
//	lan  lan0: 2001:db8:1::10, 2001:db8:1::50 (a banner on :22),
//	     default via 2001:db8:1::1
//
// Duplicate address detection and router solicitations are off, so no
// address waits and no stray packet raises a counter the test counts.
type topology6 struct {
	t            *testing.T
	wan, fw, lan string
	ctl          string
}

const (
	fw6    = "2001:db8:100::1"
	gw6    = "2001:db8:100::fe"
	admin6 = "2001:db8:113::7"
	anyone = "2001:db8:100::77"
	hostil = "2001:db8:100::66"
	lan10  = "2001:db8:1::10"
	lan50  = "2001:db8:1::50"
)

func requireRoot6(t *testing.T) {
	t.Helper()
	requireRoot(t)
	for _, tool := range []string{"ip6tables", "ip6tables-restore"} {
		if _, err := exec.LookPath(tool); err != nil {
			kernel.Lacking(t, "needs %s: %v", tool, err)
		}
	}
}

func newTopology6(t *testing.T) *topology6 {
	requireRoot6(t)
	pfx := fmt.Sprintf("lv6-%d-", os.Getpid())
	tp := &topology6{t: t, wan: pfx + "wan", fw: pfx + "fw", lan: pfx + "lan"}
	t.Cleanup(func() {
		for _, ns := range []string{tp.wan, tp.fw, tp.lan} {
			exec.Command("ip", "netns", "del", ns).Run()
		}
	})
	for _, ns := range []string{tp.wan, tp.fw, tp.lan} {
		sh(t, "ip", "netns", "add", ns)
		for _, k := range []string{"all", "default"} {
			for _, kv := range []string{"accept_dad=0", "accept_ra=0", "autoconf=0", "router_solicitations=0", "dad_transmits=0"} {
				sh(t, "ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf."+k+"."+kv)
			}
		}
		sh(t, "ip", "-n", ns, "link", "set", "lo", "up")
	}
	sh(t, "ip", "-n", tp.fw, "link", "add", "eth0", "type", "veth", "peer", "name", "wan0", "netns", tp.wan)
	sh(t, "ip", "-n", tp.fw, "link", "add", "wlan0", "type", "veth", "peer", "name", "lan0", "netns", tp.lan)
	sh(t, "ip", "-n", tp.fw, "addr", "add", fw6+"/64", "dev", "eth0", "nodad")
	sh(t, "ip", "-n", tp.fw, "addr", "add", "2001:db8:1::1/64", "dev", "wlan0", "nodad")
	for _, a := range []string{gw6, hostil, anyone} {
		sh(t, "ip", "-n", tp.wan, "addr", "add", a+"/64", "dev", "wan0", "nodad")
	}
	sh(t, "ip", "-n", tp.wan, "addr", "add", admin6+"/64", "dev", "wan0", "nodad")
	for _, a := range []string{lan10, lan50} {
		sh(t, "ip", "-n", tp.lan, "addr", "add", a+"/64", "dev", "lan0", "nodad")
	}
	for _, l := range [][2]string{{tp.fw, "eth0"}, {tp.fw, "wlan0"}, {tp.wan, "wan0"}, {tp.lan, "lan0"}} {
		sh(t, "ip", "-n", l[0], "link", "set", l[1], "up")
	}
	sh(t, "ip", "-n", tp.fw, "-6", "route", "add", "default", "via", gw6)
	sh(t, "ip", "-n", tp.lan, "-6", "route", "add", "default", "via", "2001:db8:1::1")
	sh(t, "ip", "-n", tp.wan, "-6", "route", "add", "2001:db8:1::/64", "via", fw6)
	sh(t, "ip", "-n", tp.wan, "-6", "route", "add", "2001:db8:2::/64", "via", fw6)
	sh(t, "ip", "netns", "exec", tp.fw, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
	waitLinksReady(t, [2]string{tp.fw, "eth0"}, [2]string{tp.fw, "wlan0"}, [2]string{tp.wan, "wan0"}, [2]string{tp.lan, "lan0"})

	tp.serve(tp.lan, "["+lan50+"]:22", bannerEcho("ssh-50"))
	tp.hopLimitEcho(tp.lan, "["+lan10+"]:7000")
	tp.serve(tp.fw, "["+fw6+"]:22", bannerEcho("ssh-fw"))
	tp.serve(tp.wan, "["+gw6+"]:8080", func(c net.Conn) {
		host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
		fmt.Fprintln(c, host)
	})
	return tp
}

// waitLinksReady waits until IPv6 is up on each link, given as
// namespace and interface: the link has its multicast route (ff00::/8)
// and no address of the namespace is tentative. A veth link's carrier
// reaches IPv6 through the kernel's linkwatch, which batches events up
// to a second apart (later on a loaded machine); until then the link
// has no link-local address and no multicast route, so a neighbour
// solicitation arriving on it is dropped (Ip6InNoRoutes) and the first
// connection through it waits for a retransmitted solicitation and SYN,
// which the rules count twice.
func waitLinksReady(t *testing.T, links ...[2]string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, l := range links {
		for {
			route := sh(t, "ip", "-n", l[0], "-6", "route", "show", "table", "local", "type", "multicast", "dev", l[1])
			tentative := sh(t, "ip", "-n", l[0], "-6", "addr", "show", "tentative")
			if strings.Contains(route, "ff00::/8") && strings.TrimSpace(tentative) == "" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("IPv6 on %s in %s not ready after 10s: multicast route %q, tentative %q", l[1], l[0], route, tentative)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func (tp *topology6) serve(ns, addr string, fn func(net.Conn)) {
	var l net.Listener
	if err := inNetns(ns, func() (err error) { l, err = net.Listen("tcp6", addr); return err }); err != nil {
		tp.t.Fatalf("listen %s in %s: %v", addr, ns, err)
	}
	tp.t.Cleanup(func() { l.Close() })
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

// hopLimitEcho answers each UDP datagram to addr in ns with the hop
// limit it arrived with (IPV6_RECVHOPLIMIT), in decimal.
func (tp *topology6) hopLimitEcho(ns, addr string) {
	var c *net.UDPConn
	err := inNetns(ns, func() (err error) {
		if c, err = net.ListenUDP("udp6", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addr))); err != nil {
			return err
		}
		raw, err := c.SyscallConn()
		if err != nil {
			return err
		}
		var serr error
		if err := raw.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_RECVHOPLIMIT, 1)
		}); err != nil {
			return err
		}
		return serr
	})
	if err != nil {
		tp.t.Fatalf("udp %s in %s: %v", addr, ns, err)
	}
	tp.t.Cleanup(func() { c.Close() })
	go func() {
		buf, oob := make([]byte, 1500), make([]byte, 128)
		for {
			_, oobn, _, from, err := c.ReadMsgUDP(buf, oob)
			if err != nil {
				return
			}
			hl := -1
			msgs, _ := unix.ParseSocketControlMessage(oob[:oobn])
			for _, m := range msgs {
				if m.Header.Level == unix.IPPROTO_IPV6 && m.Header.Type == unix.IPV6_HOPLIMIT && len(m.Data) >= 4 {
					hl = int(int32(m.Data[0]) | int32(m.Data[1])<<8 | int32(m.Data[2])<<16 | int32(m.Data[3])<<24)
				}
			}
			c.WriteToUDP([]byte(strconv.Itoa(hl)), from)
		}
	}()
}

// dial connects over TCP from ns (from laddr) to raddr.
func (tp *topology6) dial(ns, laddr, raddr string) (net.Conn, error) {
	var c net.Conn
	err := inNetns(ns, func() (err error) {
		d := net.Dialer{Timeout: 1500 * time.Millisecond, LocalAddr: &net.TCPAddr{IP: net.ParseIP(laddr)}}
		c, err = d.Dial("tcp6", raddr)
		return err
	})
	return c, err
}

func (tp *topology6) banner(ns, laddr, raddr string) (string, error) {
	c, err := tp.dial(ns, laddr, raddr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line), err
}

// udpAnswer sends one datagram from ns to raddr on a connected socket
// and returns the answer, or the error the answer raised (ECONNREFUSED
// for an ICMPv6 port unreachable).
func (tp *topology6) udpAnswer(ns, laddr, raddr string) (answer string, err error) {
	return answer, inNetns(ns, func() error {
		c, err := net.DialUDP("udp6", &net.UDPAddr{IP: net.ParseIP(laddr)}, net.UDPAddrFromAddrPort(netip.MustParseAddrPort(raddr)))
		if err != nil {
			return err
		}
		defer c.Close()
		if _, err := c.Write([]byte("hello")); err != nil {
			return err
		}
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		buf := make([]byte, 64)
		n, err := c.Read(buf)
		answer = string(buf[:n])
		return err
	})
}

// ping sends n ICMPv6 echo requests from ns (from the address from) to
// to, one at a time, and fails unless each is answered within 2 s.
func (tp *topology6) ping(ns, from, to string, n int) error {
	return inNetns(ns, func() error {
		c, err := net.ListenIP("ip6:ipv6-icmp", &net.IPAddr{IP: net.ParseIP(from)})
		if err != nil {
			return err
		}
		defer c.Close()
		id := uint16(os.Getpid())
		for seq := 1; seq <= n; seq++ {
			// The kernel fills in an ICMPv6 raw socket's checksum.
			req := []byte{128, 0, 0, 0, byte(id >> 8), byte(id), 0, byte(seq), 'l', 'v', '6'}
			if _, err := c.WriteToIP(req, &net.IPAddr{IP: net.ParseIP(to)}); err != nil {
				return err
			}
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			buf := make([]byte, 1500)
			for {
				k, _, err := c.ReadFromIP(buf)
				if err != nil {
					return fmt.Errorf("echo %d to %s: %w", seq, to, err)
				}
				if k >= 8 && buf[0] == 129 && buf[4] == byte(id>>8) && buf[5] == byte(id) && buf[7] == byte(seq) {
					break
				}
			}
		}
		return nil
	})
}

func (tp *topology6) run(t *testing.T, args ...string) *ipsiftProc {
	bin := buildIpsift(t)
	p := &ipsiftProc{log: &syncBuffer{}, ctl: filepath.Join(t.TempDir(), "ctl.sock"), done: make(chan error, 1)}
	tp.ctl = p.ctl
	p.cmd = exec.Command("ip", append([]string{"netns", "exec", tp.fw, bin, "run", "--queue", "0", "--control", p.ctl}, args...)...)
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
	p.log.waitFor(t, "family=ipv6", 1) // IPv6 installed after IPv4
	return p
}

func (tp *topology6) removeRules() {
	for _, tool := range []string{"iptables", "ip6tables"} {
		for _, c := range [][3]string{{"raw", "PREROUTING", "IPSIFT-PRE"}, {"raw", "OUTPUT", "IPSIFT-OUT"}, {"mangle", "POSTROUTING", "IPSIFT-POST"}} {
			exec.Command("ip", "netns", "exec", tp.fw, tool, "-t", c[0], "-D", c[1], "-j", c[2]).Run()
			exec.Command("ip", "netns", "exec", tp.fw, tool, "-t", c[0], "-F", c[2]).Run()
			exec.Command("ip", "netns", "exec", tp.fw, tool, "-t", c[0], "-X", c[2]).Run()
		}
	}
}

func (tp *topology6) hasRules6() bool {
	out, _ := exec.Command("ip", "netns", "exec", tp.fw, "ip6tables-save").CombinedOutput()
	return strings.Contains(string(out), "IPSIFT")
}

// gateway6 is the IPv6 gateway: NAT66 port forward and masquerade, and
// a REJECT of each kind the client can tell apart. Neighbour discovery
// is not accepted by any rule: INPUT's DROP policy would drop it if it
// were queued.
const gateway6 = `*mangle
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A FORWARD -d 2001:db8:1::10/128 -p udp -m udp --dport 7000 -j HL --hl-set 7
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -d 2001:db8:100::1/128 -i eth0 -p tcp -m tcp --dport 2222 -j DNAT --to-destination [2001:db8:1::50]:22
-A POSTROUTING -o eth0 -j MASQUERADE
COMMIT
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -i lo -j ACCEPT
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type 128 -j ACCEPT
-A INPUT -s 2001:db8:113::7/128 -p tcp -m tcp --dport 22 -j ACCEPT
-A INPUT -s 2001:db8:100::66/128 -j DROP
-A INPUT -p tcp -m tcp --dport 23 -j REJECT --reject-with tcp-reset
-A INPUT -p tcp -m tcp --dport 24 -j REJECT --reject-with icmp6-adm-prohibited
-A INPUT -p udp -m udp --dport 9999 -j LOG --log-prefix "lv6-udp: "
-A INPUT -p udp -m udp --dport 9999 -j REJECT
-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -i wlan0 -o eth0 -j ACCEPT
-A FORWARD -d 2001:db8:1::50/128 -p tcp -m tcp --dport 22 -m conntrack --ctstate DNAT -j ACCEPT
-A FORWARD -d 2001:db8:1::10/128 -p udp -m udp --dport 7000 -j ACCEPT
COMMIT
`

// npt6 replaces MASQUERADE with stateless prefix translation of the
// inside prefix (2001:db8:1::/64 seen outside as 2001:db8:2::/64).
// Conntrack records the untranslated addresses, so replies are NEW to
// FORWARD (the kernel's behaviour): FORWARD accepts them by port.
const npt6 = `*mangle
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -d 2001:db8:2::/64 -i eth0 -j DNPT --src-pfx 2001:db8:2::/64 --dst-pfx 2001:db8:1::/64
-A POSTROUTING -s 2001:db8:1::/64 -o eth0 -j SNPT --src-pfx 2001:db8:1::/64 --dst-pfx 2001:db8:2::/64
COMMIT
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -i wlan0 -o eth0 -j ACCEPT
-A FORWARD -i eth0 -o wlan0 -p tcp -m tcp --sport 8080 -j ACCEPT
COMMIT
`

// listed parses ipsift ctl list: the packet counter of each rule of a
// table and family, by its text as iptables -L -v -n prints it after
// the counters ("target prot opt in out source destination ...").
func listed(t *testing.T, out, table string, six bool) map[string]uint64 {
	t.Helper()
	head := "# table " + table
	if six {
		head += " (IPv6)"
	}
	m := map[string]uint64{}
	in := false
	ws := regexp.MustCompile(`\s+`)
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "# table ") {
			in = line == head
			continue
		}
		f := strings.Fields(line)
		if !in || len(f) < 3 || f[0] == "pkts" {
			continue
		}
		if len(f) > 4 && f[4] == "--" { // the opt column
			f = append(f[:4], f[5:]...)
		}
		if line[0] == 'C' { // Chain X (policy P n packets, m bytes)
			if i := strings.Index(line, "(policy "); i >= 0 {
				pf := strings.Fields(line[i:])
				if n, err := strconv.ParseUint(pf[2], 10, 64); err == nil {
					m[f[1]+" policy"] = n
				}
			}
			continue
		}
		n, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			continue
		}
		m[ws.ReplaceAllString(strings.Join(f[2:], " "), " ")] += n
	}
	return m
}

// TestGateway6EndToEnd enforces an IPv6 gateway (NAT66, REJECT with
// tcp-reset, adm-prohibited and port-unreachable) beside an IPv4
// ruleset, and checks what each client sees, the counters ipsift
// keeps, its connection table, live traces, a reload to prefix
// translation, that a stalled ipsift does not stop neighbour discovery,
// and a clean stop.
func TestGateway6EndToEnd(t *testing.T) {
	tp := newTopology6(t)
	dir := t.TempDir()
	rules4 := filepath.Join(dir, "gateway4.rules")
	rules6 := filepath.Join(dir, "gateway6.rules")
	os.WriteFile(rules4, []byte("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n"), 0o644)
	os.WriteFile(rules6, []byte(gateway6), 0o644)
	p := tp.run(t, rules4, "--rules6", rules6)

	t.Run("PortForwardDNAT66", func(t *testing.T) {
		for i := 0; i < 3; i++ {
			c, err := tp.dial(tp.wan, anyone, "["+fw6+"]:2222")
			if err != nil {
				t.Fatalf("connect %d: %v\n%s", i, err, p.log.String())
			}
			c.SetDeadline(time.Now().Add(3 * time.Second))
			line, err := bufio.NewReader(c).ReadString('\n')
			if err != nil || line != "ssh-50\n" {
				c.Close()
				t.Fatalf("banner %q, %v", line, err)
			}
			err = echo(c, "hello through NAT66")
			c.Close()
			if err != nil {
				t.Fatal(err)
			}
		}
	})
	t.Run("LargeTransferThroughDNAT66", func(t *testing.T) {
		// Big writes leave the sender as GSO packets larger than the
		// MTU, which NFQUEUE hands over whole: forwarding must not take
		// them for packets too big.
		c, err := tp.dial(tp.wan, anyone, "["+fw6+"]:2222")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		br := bufio.NewReader(c)
		if line, err := br.ReadString('\n'); err != nil || line != "ssh-50\n" {
			t.Fatalf("banner %q, %v", line, err)
		}
		big := make([]byte, 4<<20)
		for i := range big {
			big[i] = byte(i*7 + i>>13)
		}
		go c.Write(big)
		got := make([]byte, len(big))
		if _, err := io.ReadFull(br, got); err != nil || !bytes.Equal(got, big) {
			t.Fatalf("echo of %d bytes through NAT66: %v (equal %v)\n%s", len(big), err, bytes.Equal(got, big), p.log.String())
		}
	})
	t.Run("HopLimitSet", func(t *testing.T) {
		// mangle FORWARD's HL --hl-set 7: the packet arrives with 7
		// (the kernel's own forwarding decrement is not a second one).
		if hl, err := tp.udpAnswer(tp.wan, anyone, "["+lan10+"]:7000"); err != nil || hl != "7" {
			t.Fatalf("hop limit at the server: %q, %v; want 7", hl, err)
		}
	})
	t.Run("Masquerade66", func(t *testing.T) {
		for _, src := range []string{lan10, lan50} {
			b, err := tp.banner(tp.lan, src, "["+gw6+"]:8080")
			if err != nil || b != fw6 {
				t.Fatalf("%s seen outside as %q (%v), want %s", src, b, err, fw6)
			}
		}
	})
	t.Run("SSHFromAdminOnly", func(t *testing.T) {
		if b, err := tp.banner(tp.wan, admin6, "["+fw6+"]:22"); err != nil || b != "ssh-fw" {
			t.Fatalf("admin: %q, %v", b, err)
		}
		if b, err := tp.banner(tp.wan, anyone, "["+fw6+"]:22"); err == nil {
			t.Fatalf("%s reached ssh: %q", anyone, b)
		}
		if b, err := tp.banner(tp.wan, hostil, "["+fw6+"]:23"); err == nil || !errors.Is(err, os.ErrDeadlineExceeded) && !isTimeout(err) {
			t.Fatalf("hostile to 23 (dropped before the REJECT): %q, %v", b, err)
		}
	})
	t.Run("RejectAnswers", func(t *testing.T) {
		if _, err := tp.dial(tp.wan, anyone, "["+fw6+"]:23"); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("tcp-reset: %v, want connection refused", err)
		}
		if _, err := tp.dial(tp.wan, anyone, "["+fw6+"]:24"); !errors.Is(err, syscall.EACCES) {
			t.Fatalf("icmp6-adm-prohibited: %v, want permission denied (EACCES)", err)
		}
		if _, err := tp.udpAnswer(tp.wan, anyone, "["+fw6+"]:9999"); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("icmp6-port-unreachable: %v, want connection refused", err)
		}
		// The LOG line before it, in the kernel's IPv6 format.
		re := regexp.MustCompile(`lv6-udp: IN=eth0 OUT= MAC=[0-9a-f:]{41} SRC=2001:0db8:0100:0000:0000:0000:0000:0077 DST=2001:0db8:0100:0000:0000:0000:0000:0001 LEN=53 TC=0 HOPLIMIT=64 FLOWLBL=\d+ PROTO=UDP SPT=\d+ DPT=9999 LEN=13 \n`)
		for i := 0; i < 100 && !re.MatchString(p.log.String()); i++ {
			time.Sleep(50 * time.Millisecond) // stderr reaches the buffer through a pipe
		}
		if !re.MatchString(p.log.String()) {
			t.Errorf("no IPv6 LOG line matching %s in\n%s", re, p.log.String())
		}
	})
	t.Run("Ping", func(t *testing.T) {
		if err := tp.ping(tp.wan, anyone, fw6, 4); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("Counters", func(t *testing.T) {
		out, err := p.ctlCmd(t, "list")
		if err != nil {
			t.Fatalf("ctl list: %v\n%s", err, out)
		}
		nat, filter := listed(t, out, "nat", true), listed(t, out, "filter", true)
		// Exact counts: each is one packet per connection or datagram
		// the test made (nat sees a connection's first packet only;
		// REJECT answers at once, so nothing is sent twice).
		for _, c := range []struct {
			m    map[string]uint64
			rule string
			want uint64
		}{
			{nat, "DNAT tcp eth0 * ::/0 2001:db8:100::1 tcp dpt:2222 to:[2001:db8:1::50]:22", 4},
			// Two connections from inside, and tcp-reset's RST: REJECT in
			// filter INPUT runs before nat INPUT binds the connection's
			// source, so the RST it attaches meets nat POSTROUTING as a
			// NEW packet, as in the kernel.
			{nat, "MASQUERADE all * eth0 ::/0 ::/0", 3},
			{filter, "FORWARD policy", 0},
			{filter, "REJECT tcp * * ::/0 ::/0 tcp dpt:23 reject-with tcp-reset", 1},
			{filter, "REJECT tcp * * ::/0 ::/0 tcp dpt:24 reject-with icmp6-adm-prohibited", 1},
			{filter, "REJECT udp * * ::/0 ::/0 udp dpt:9999 reject-with icmp6-port-unreachable", 1},
			{filter, `LOG udp * * ::/0 ::/0 udp dpt:9999 LOG flags 0 level 4 prefix "lv6-udp: "`, 1},
			// The first echo request; the others are ESTABLISHED (one id).
			{filter, "ACCEPT ipv6-icmp * * ::/0 ::/0 ipv6-icmptype 128", 1},
			{filter, "ACCEPT tcp * * 2001:db8:113::7 ::/0 tcp dpt:22", 1},
			{filter, "ACCEPT tcp * * ::/0 2001:db8:1::50 tcp dpt:22 ctstate DNAT", 4},
			{filter, "ACCEPT all wlan0 eth0 ::/0 ::/0", 2},
		} {
			if got, ok := c.m[c.rule]; !ok || got != c.want {
				t.Errorf("%s: %d packets (listed %v), want %d", c.rule, got, ok, c.want)
			}
		}
		// Retransmitted SYNs: at least one each, how many depends on
		// timing.
		if n := filter["DROP all * * 2001:db8:100::66 ::/0"]; n < 1 {
			t.Errorf("hostile DROP: %d packets, want at least 1", n)
		}
		if n := filter["ACCEPT all * * ::/0 ::/0 ctstate RELATED,ESTABLISHED"]; n < 3 {
			t.Errorf("INPUT ESTABLISHED: %d packets, want at least the 3 later echo requests", n)
		}
		if n := filter["INPUT policy"]; n < 1 {
			t.Errorf("INPUT policy: %d packets, want at least 1 (ssh from %s)", n, anyone)
		}
		if t.Failed() {
			t.Logf("ctl list:\n%s", out)
		}
	})
	t.Run("Conntrack", func(t *testing.T) {
		out, err := p.ctlCmd(t, "conntrack")
		if err != nil {
			t.Fatalf("ctl conntrack: %v\n%s", err, out)
		}
		// The masqueraded connection: its reply goes to the firewall's
		// address; the port forward's to the inside server.
		for _, re := range []string{
			`tcp +6 \d+ \w+ src=2001:db8:1::10 dst=2001:db8:100::fe sport=\d+ dport=8080 src=2001:db8:100::fe dst=2001:db8:100::1 sport=8080 dport=\d+`,
			`tcp +6 \d+ \w+ src=2001:db8:100::77 dst=2001:db8:100::1 sport=\d+ dport=2222 src=2001:db8:1::50 dst=2001:db8:100::77 sport=22 dport=\d+`,
			`icmpv6 +58 \d+ src=2001:db8:100::77 dst=2001:db8:100::1 type=128 code=0 id=\d+ src=2001:db8:100::1 dst=2001:db8:100::77 type=129 code=0 id=\d+`,
		} {
			if !regexp.MustCompile(re).MatchString(out) {
				t.Errorf("ctl conntrack lacks %s\n%s", re, out)
			}
		}
	})
	t.Run("Trace", func(t *testing.T) {
		done := make(chan string, 1)
		go func() {
			out, _ := p.ctlCmd(t, "trace", "eth0", "tcp", "dst", fw6, "dport", "23", "--count", "1", "--seconds", "20")
			done <- out
		}()
		var out string
		for i := 0; i < 20 && out == ""; i++ {
			time.Sleep(300 * time.Millisecond)
			tp.dial(tp.wan, anyone, "["+fw6+"]:23")
			select {
			case out = <-done:
			default:
			}
		}
		if out == "" {
			out = <-done
		}
		for _, w := range []string{"in eth0  IP6 2001:db8:100::77.", "> 2001:db8:100::1.23: Flags [S]", "-j REJECT --reject-with tcp-reset", "Flags [R.]", "verdict  rejected"} {
			if !strings.Contains(out, w) {
				t.Errorf("trace lacks %q\n%s", w, out)
			}
		}
	})
	t.Run("ReloadToNPT", func(t *testing.T) {
		// A broken file is refused, the old rules stay.
		os.WriteFile(rules6, []byte(gateway6+"*filter\n-A INPUT -j ACCPET\nCOMMIT\n"), 0o644)
		p.cmd.Process.Signal(syscall.SIGHUP)
		p.log.waitFor(t, "reload refused", 1)
		if b, err := tp.banner(tp.lan, lan10, "["+gw6+"]:8080"); err != nil || b != fw6 {
			t.Fatalf("after a refused reload: %q, %v", b, err)
		}
		os.WriteFile(rules6, []byte(npt6), 0o644)
		p.cmd.Process.Signal(syscall.SIGHUP)
		p.log.waitFor(t, "msg=reloaded", 1)
		tr, err := npt.New(netip.MustParsePrefix("2001:db8:1::/64"), netip.MustParsePrefix("2001:db8:2::/64"))
		if err != nil {
			t.Fatal(err)
		}
		want, ok := tr.Map(netip.MustParseAddr(lan10).As16())
		if !ok {
			t.Fatal("npt.Map refused")
		}
		b, err := tp.banner(tp.lan, lan10, "["+gw6+"]:8080")
		if err != nil || b != netip.AddrFrom16(want).String() {
			t.Fatalf("after the NPT reload %s is seen as %q (%v), want %s\n%s", lan10, b, err, netip.AddrFrom16(want), p.log.String())
		}
		out, _ := p.ctlCmd(t, "list")
		if n := listed(t, out, "mangle", true)["SNPT all * eth0 2001:db8:1::/64 ::/0 SNPT src-pfx 2001:db8:1::/64 dst-pfx 2001:db8:2::/64"]; n < 3 {
			t.Errorf("SNPT counted %d packets, want at least a handshake's 3\n%s", n, out)
		}
	})
	t.Run("StalledDaemonKeepsND", func(t *testing.T) {
		// Stop ipsift (SIGSTOP: bound, not reading). Queued packets
		// wait; neighbour discovery is not queued, so the firewall
		// still answers a neighbour solicitation and the wan side
		// learns its link address, while the ping itself goes
		// unanswered.
		sh(t, "ip", "-n", tp.wan, "neigh", "flush", "dev", "wan0")
		defer p.cmd.Process.Signal(syscall.SIGCONT)
		p.stop(t)
		if err := tp.ping(tp.wan, anyone, fw6, 1); err == nil {
			t.Fatal("a ping passed while ipsift was stopped")
		}
		out := sh(t, "ip", "-n", tp.wan, "-6", "neigh", "show", fw6, "dev", "wan0")
		if !strings.Contains(out, "lladdr") {
			t.Fatalf("no neighbour entry for %s while ipsift was stopped: %q", fw6, out)
		}
	})
	t.Run("CleanStop", func(t *testing.T) {
		p.cmd.Process.Signal(syscall.SIGTERM)
		err, ok := p.wait(10 * time.Second)
		if !ok || err != nil {
			t.Fatalf("SIGTERM: exited %v (in time: %v)\n%s", err, ok, p.log.String())
		}
		if tp.hasRules6() {
			out, _ := exec.Command("ip", "netns", "exec", tp.fw, "ip6tables-save").CombinedOutput()
			t.Fatalf("ipsift's ip6tables chains left after SIGTERM:\n%s\nipsift's log:\n%s", out, p.log.String())
		}
		if strings.Contains(p.log.String(), "taking the IPv6 queue rules out") {
			// Removed in the end, but not at the first attempt: what
			// the tool said then is the clue to the failure once seen.
			t.Logf("ip6tables needed more than one attempt to remove ipsift's chains:\n%s", p.log.String())
		}
	})
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestND6QueuedStalls is the other side of the neighbour discovery
// choice: with --queue-nd a stalled ipsift stops neighbour discovery
// (the solicitation waits in the queue), which is why it is not the
// default; and with --fail-open after a crash IPv6 passes to the
// kernel's own rules, fail-closed it does not, except for an
// --exempt-port.
func TestND6QueuedStalls(t *testing.T) {
	tp := newTopology6(t)
	dir := t.TempDir()
	rules6 := filepath.Join(dir, "gateway6.rules")
	os.WriteFile(rules6, []byte(gateway6), 0o644)
	p := tp.run(t, rules6, "--queue-nd")
	sh(t, "ip", "-n", tp.wan, "neigh", "flush", "dev", "wan0")
	p.stop(t)
	err := tp.ping(tp.wan, anyone, fw6, 1)
	out := sh(t, "ip", "-n", tp.wan, "-6", "neigh", "show", fw6, "dev", "wan0")
	p.cmd.Process.Signal(syscall.SIGCONT)
	if err == nil || strings.Contains(out, "lladdr") {
		t.Fatalf("with --queue-nd and ipsift stopped: ping %v, neighbour %q; want no answer and no link address", err, out)
	}
	for _, failOpen := range []bool{false, true} {
		p.cmd.Process.Kill()
		p.wait(5 * time.Second)
		if !tp.hasRules6() {
			t.Fatal("SIGKILL removed the ip6tables chains?")
		}
		b, err := tp.banner(tp.wan, admin6, "["+fw6+"]:22")
		if failOpen && (err != nil || b != "ssh-fw") {
			t.Fatalf("--fail-open after a crash: ssh %q, %v", b, err)
		}
		if !failOpen && err == nil {
			t.Fatal("fail-closed after a crash: ssh passed")
		}
		if !failOpen {
			tp.removeRules()
			p = tp.run(t, rules6, "--fail-open")
		}
	}
	// --exempt-port 22, fail-closed, after a crash: the host's ssh is
	// the kernel's over IPv6 too (and neighbour discovery with it),
	// the port forward stays dropped.
	p.cmd.Process.Kill()
	p.wait(5 * time.Second)
	tp.removeRules()
	p = tp.run(t, rules6, "--exempt-port", "22")
	if b, err := tp.banner(tp.wan, anyone, "["+fw6+"]:2222"); err != nil || b != "ssh-50" {
		t.Fatalf("port forward while enforcing: %q, %v", b, err)
	}
	p.cmd.Process.Kill()
	p.wait(5 * time.Second)
	sh(t, "ip", "-n", tp.wan, "neigh", "flush", "dev", "wan0")
	if b, err := tp.banner(tp.wan, anyone, "["+fw6+"]:22"); err != nil || b != "ssh-fw" {
		t.Fatalf("--exempt-port 22 after a crash: ssh %q, %v", b, err)
	}
	if b, err := tp.banner(tp.wan, anyone, "["+fw6+"]:2222"); err == nil {
		t.Fatalf("port forward passed fail-closed after a crash: %q", b)
	}
}
