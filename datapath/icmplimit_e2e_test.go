package datapath_test

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

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
		k := tp.rejectBursts(t, client)
		tp.kernelRules(t, "")
		p := tp.runIpsift(t, rules)
		client = "198.51.100.66"
		if limit == "0" {
			client = "198.51.100.79"
		}
		i := tp.rejectBursts(t, client)
		st := p.stats(t)
		p.cmd.Process.Signal(os.Interrupt)
		p.wait(10 * time.Second)
		tp.removeRules()
		want := [3]int{6, 1, 20}
		if limit == "0" {
			want = [3]int{20, 5, 20}
		}
		t.Logf("icmp_ratelimit %s: kernel %v, ipsift %v (ICMP errors for a burst of 20, then for 5 a second later; RSTs for 20 connection attempts); ipsift icmp_rate_limited %d", limit, k, i, st["icmp_rate_limited"])
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

// rejectBursts sends from client a burst of 20 UDP datagrams to
// 198.51.100.1:9 and, 1.2 s later, 5 more, counting the ICMP port
// unreachables that come back for each; then 20 TCP connection
// attempts to port 9, counting those refused by a RST.
func (tp *topology) rejectBursts(t *testing.T, client string) (n [3]int) {
	var icmp net.PacketConn
	var udp *net.UDPConn
	err := inNetns(tp.wan, func() (err error) {
		if icmp, err = net.ListenPacket("ip4:icmp", client); err != nil {
			return err
		}
		// Not connected: a connected socket's next send would fail
		// with the error an ICMP unreachable left on it, unsent.
		udp, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(client)})
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
			// Type 3 code 3, quoting a datagram to port 9.
			if m >= 8+20+4 && buf[0] == 3 && buf[1] == 3 && buf[8+20+2] == 0 && buf[8+20+3] == 9 {
				c++
			}
		}
	}
	to := &net.UDPAddr{IP: net.ParseIP("198.51.100.1"), Port: 9}
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
	time.Sleep(time.Until(start.Add(1200 * time.Millisecond)))
	burst(5)
	n[1] = count()
	for i := 0; i < 20; i++ {
		c, err := tp.dial(tp.wan, client, "198.51.100.1:9", time.Second)
		if c != nil {
			c.Close()
		}
		if errors.Is(err, syscall.ECONNREFUSED) {
			n[2]++
		} else if err != nil && !strings.Contains(err.Error(), "refused") {
			t.Logf("connection attempt %d: %v", i, err)
		}
	}
	return n
}
