package datapath_test

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// rejectRules serve both families: REJECT answers with the family's
// port unreachable.
const rejectRules = `*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p udp --dport 9 -j REJECT
-A INPUT -p tcp --dport 9 -j REJECT --reject-with tcp-reset
COMMIT
`

// TestRejectRateLimitVsKernel sends bursts of UDP datagrams to a port
// REJECT answers with ICMP port unreachable, and TCP connection attempts
// to one it answers with a RST, first against the kernel loaded with the
// rules, then against ipsift enforcing them, and counts the answers the
// client gets: the ICMP errors limited per destination as the kernel
// limits them (net.ipv4.icmp_ratelimit 1000 ms, the namespace's default:
// a burst of 6, then one a second), the RSTs not at all; and with
// icmp_ratelimit 0 in the firewall's namespace, which ipsift reads at
// start, no limit.
func TestRejectRateLimitVsKernel(t *testing.T) {
	tp := newTopologyWith(t, topoOptions{prefix: "ldt", noServers: true})
	rules := filepath.Join(t.TempDir(), "reject.rules")
	if err := os.WriteFile(rules, []byte(rejectRules), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, limit := range []string{"1000", "0"} {
		sh(t, "ip", "netns", "exec", tp.fw, "sysctl", "-qw", "net.ipv4.icmp_ratelimit="+limit)
		// Each side has fresh buckets: its own client address.
		tp.kernelRules(t, rules)
		client := "198.51.100.77"
		if limit == "0" {
			client = "198.51.100.78"
			sh(t, "ip", "-n", tp.wan, "addr", "add", "198.51.100.78/24", "dev", "wan0")
			sh(t, "ip", "-n", tp.wan, "addr", "add", "198.51.100.79/24", "dev", "wan0")
		}
		k := rejectBursts(t, tp.wan, client, "198.51.100.1")
		tp.kernelRules(t, "")
		p := tp.runIpsift(t, rules)
		client = "198.51.100.66"
		if limit == "0" {
			client = "198.51.100.79"
		}
		i := rejectBursts(t, tp.wan, client, "198.51.100.1")
		st := p.stats(t)
		p.cmd.Process.Signal(os.Interrupt)
		p.wait(10 * time.Second)
		tp.removeRules()
		want := [3]int{6, 1, 20}
		if limit == "0" {
			want = [3]int{20, 5, 20}
		}
		t.Logf("icmp_ratelimit %s: kernel %v, ipsift %v (ICMP errors for a burst of 20, then for 5 1.5 s later; RSTs for 20 connection attempts); ipsift icmp_rate_limited %d", limit, k, i, st["icmp_rate_limited"])
		if k != want {
			t.Errorf("icmp_ratelimit %s: the kernel answered %v, want %v (the test's expectation of the kernel is wrong, or the machine too slow)", limit, k, want)
		}
		if i != k {
			t.Errorf("icmp_ratelimit %s: ipsift answered %v, the kernel %v", limit, i, k)
		}
		// Every rejected packet was answered or counted as limited.
		if sent := uint64(i[0] + i[1] + i[2]); st["rejected"] != sent+st["icmp_rate_limited"] {
			t.Errorf("icmp_ratelimit %s: ipsift rejected %d packets, answered %d, counted %d answers limited", limit, st["rejected"], sent, st["icmp_rate_limited"])
		}
	}
}

// rejectBursts sends from client in namespace ns a burst of 20 UDP
// datagrams to server port 9 and, 1.5 s later, 5 more, counting the
// ICMP (or ICMPv6) port unreachables that come back for each; then 20
// TCP connection attempts to port 9, counting those refused by a RST.
func rejectBursts(t *testing.T, ns, client, server string) (n [3]int) {
	six := strings.Contains(client, ":")
	icmpNet, udpNet, tcpNet, typ, code, quote := "ip4:icmp", "udp4", "tcp4", byte(3), byte(3), 8+20
	if six {
		icmpNet, udpNet, tcpNet, typ, code, quote = "ip6:ipv6-icmp", "udp6", "tcp6", 1, 4, 8+40
	}
	var icmp net.PacketConn
	var udp *net.UDPConn
	err := inNetns(ns, func() (err error) {
		if icmp, err = net.ListenPacket(icmpNet, client); err != nil {
			return err
		}
		// Not connected: a connected socket's next send would fail
		// with the error an ICMP unreachable left on it, unsent.
		udp, err = net.ListenUDP(udpNet, &net.UDPAddr{IP: net.ParseIP(client)})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer icmp.Close()
	defer udp.Close()
	count := func() int {
		c := 0
		buf := make([]byte, 1500)
		icmp.SetReadDeadline(time.Now().Add(400 * time.Millisecond))
		for {
			m, _, err := icmp.ReadFrom(buf)
			if err != nil {
				return c
			}
			// A port unreachable quoting a datagram to port 9.
			if m >= quote+4 && buf[0] == typ && buf[1] == code && buf[quote+2] == 0 && buf[quote+3] == 9 {
				c++
			}
		}
	}
	to := &net.UDPAddr{IP: net.ParseIP(server), Port: 9}
	burst := func(k int) {
		for i := 0; i < k; i++ {
			if _, err := udp.WriteTo([]byte("x"), to); err != nil {
				t.Fatalf("send %d: %v", i, err)
			}
		}
	}
	start := time.Now()
	burst(20)
	n[0] = count()
	time.Sleep(time.Until(start.Add(1500 * time.Millisecond)))
	burst(5)
	n[1] = count()
	for i := 0; i < 20; i++ {
		err := inNetns(ns, func() error {
			d := net.Dialer{Timeout: time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(client)}}
			c, err := d.Dial(tcpNet, net.JoinHostPort(server, "9"))
			if c != nil {
				c.Close()
			}
			return err
		})
		if errors.Is(err, syscall.ECONNREFUSED) {
			n[2]++
		} else if err != nil {
			t.Logf("connection attempt %d: %v", i, err)
		}
	}
	return n
}

// TestReject6RateLimitVsKernel is TestRejectRateLimitVsKernel for IPv6:
// with net.ipv6.icmp.ratelimit 1000 ms in the firewall's namespace, an
// error to an address on a connected /64 gets a token a second (older
// kernels shortened it for routes wider than /128; this one does not):
// a burst of 6, then one 1.5 s later; the RSTs are not limited.
func TestReject6RateLimitVsKernel(t *testing.T) {
	tp := newTopology6(t)
	rules := filepath.Join(t.TempDir(), "reject6.rules")
	if err := os.WriteFile(rules, []byte(rejectRules), 0o644); err != nil {
		t.Fatal(err)
	}
	sh(t, "ip", "netns", "exec", tp.fw, "sysctl", "-qw", "net.ipv6.icmp.ratelimit=1000")
	load := func(data string) {
		cmd := exec.Command("ip", "netns", "exec", tp.fw, "ip6tables-restore")
		cmd.Stdin = strings.NewReader(data)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("ip6tables-restore: %v: %s", err, out)
		}
	}
	load(rejectRules)
	k := rejectBursts(t, tp.wan, anyone, fw6)
	load("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n")
	rules4 := filepath.Join(t.TempDir(), "empty4.rules")
	if err := os.WriteFile(rules4, []byte("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := tp.run(t, rules4, "--rules6", rules)
	i := rejectBursts(t, tp.wan, hostil, fw6)
	st := p.stats(t)
	t.Logf("kernel %v, ipsift %v (ICMPv6 errors for a burst of 20, then for 5 1.5 s later; RSTs for 20 connection attempts); ipsift icmp_rate_limited %d", k, i, st["icmp_rate_limited"])
	if want := [3]int{6, 1, 20}; k != want {
		t.Errorf("the kernel answered %v, want %v (the test's expectation of the kernel is wrong, or the machine too slow)", k, want)
	}
	if i != k {
		t.Errorf("ipsift answered %v, the kernel %v", i, k)
	}
	if sent := uint64(i[0] + i[1] + i[2]); st["rejected"] != sent+st["icmp_rate_limited"] {
		t.Errorf("ipsift rejected %d packets, answered %d, counted %d answers limited", st["rejected"], sent, st["icmp_rate_limited"])
	}
}
