package datapath_test

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ipsift/ipsift/packet"
	"golang.org/x/sys/unix"
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
	tp.checkMasqueraded(t)
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
	// A clean stop with two workers.
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err, ok := p.wait(10 * time.Second); !ok || err != nil {
		t.Fatalf("SIGTERM: %v (in time: %v)\n%s", err, ok, p.log.String())
	}
	if tp.hasRules() {
		t.Fatal("ipsift chains left after SIGTERM")
	}
}

// TestGatewayOnePass runs gateway.rules with --one-pass: forwarded
// packets whose source ipsift rewrites (the masquerade, the replies of
// the DNATs) leave in their first verdict, with accept_local set while
// ipsift runs and restored after; everything still arrives rewritten,
// and a packet from outside with the firewall's own address as source,
// which the kernel drops as a martian without accept_local, is dropped
// by ipsift instead (one with another spoofed source goes through, so
// the check can fail).
func TestGatewayOnePass(t *testing.T) {
	tp := newTopologyWith(t, topoOptions{prefix: "ldt"})
	rules := gatewayRules(t, t.TempDir())
	acceptLocal := func() string {
		b, _ := exec.Command("ip", "netns", "exec", tp.fw, "cat", "/proc/sys/net/ipv4/conf/all/accept_local").Output()
		return strings.TrimSpace(string(b))
	}
	if a := acceptLocal(); a != "0" {
		t.Fatalf("accept_local %q before ipsift", a)
	}
	p := tp.runIpsift(t, rules, "--one-pass", "--exempt-port", "22")
	if a := acceptLocal(); a != "1" {
		t.Fatalf("accept_local %q while ipsift runs --one-pass", a)
	}
	var got []string
	for i := 0; i < 4; i++ {
		body, err := tp.get("203.0.113.7", "198.51.100.1:80", "who")
		if err != nil {
			t.Fatalf("request %d: %v\n%s", i, err, p.log.String())
		}
		got = append(got, strings.TrimSpace(string(body)))
	}
	if strings.Join(got, ",") != "server .10,server .20,server .30,server .40" {
		t.Fatalf("answers %v", got)
	}
	body, err := tp.get("203.0.113.7", "198.51.100.1:80", "big")
	if err != nil || len(body) != tp.bigLen || sha256.Sum256(body) != tp.bigSum {
		t.Fatalf("large transfer: %d bytes, %v", len(body), err)
	}
	b, c, err := tp.banner(tp.wan, "198.51.100.77", "198.51.100.1:2222")
	if err != nil || b != "ssh-50" {
		t.Fatalf("2222: %q, %v", b, err)
	}
	if err := echo(c, "one pass"); err != nil {
		t.Fatal(err)
	}
	c.Close()
	tp.checkMasqueraded(t)
	st := p.stats(t)
	if st["second_pass"] != 0 || st["rewritten"] == 0 {
		t.Errorf("second passes %d, rewritten %d: want every source rewrite in one pass", st["second_pass"], st["rewritten"])
	}
	t.Logf("one pass: %d packets, %d rewritten, %d second passes", st["packets"], st["rewritten"], st["second_pass"])

	// Spoofed SYNs to the 2222 forward: from the firewall's own address
	// (a martian: dropped), from another address (forwarded).
	if n := tp.spoofedSYNs(t, "198.51.100.1", 4444, 2222, tp.lan, "192.0.2.50", 22); n != 0 {
		t.Errorf("%d SYNs with the firewall's own address as source reached 192.0.2.50; the kernel drops them as martians", n)
	}
	if n := tp.spoofedSYNs(t, "198.51.100.99", 4445, 2222, tp.lan, "192.0.2.50", 22); n != 3 {
		t.Errorf("%d of 3 spoofed SYNs from 198.51.100.99 reached 192.0.2.50", n)
	}
	// The exempt port is the kernel's, but not for a martian: queued
	// and dropped before the exemption.
	if n := tp.spoofedSYNs(t, "198.51.100.1", 4446, 22, tp.fw, "198.51.100.1", 22); n != 0 {
		t.Errorf("%d SYNs with the firewall's own address as source reached its exempt port 22", n)
	}
	if n := tp.spoofedSYNs(t, "198.51.100.99", 4447, 22, tp.fw, "198.51.100.1", 22); n != 3 {
		t.Errorf("%d of 3 SYNs from 198.51.100.99 reached the exempt port 22", n)
	}

	p.cmd.Process.Signal(syscall.SIGTERM)
	if err, ok := p.wait(10 * time.Second); !ok || err != nil {
		t.Fatalf("SIGTERM: %v (in time: %v)\n%s", err, ok, p.log.String())
	}
	if a := acceptLocal(); a != "0" {
		t.Fatalf("accept_local %q after ipsift stopped, want 0 again", a)
	}
}

// spoofedSYNs sends three SYNs from wan with source src:sport to
// 198.51.100.1:dport and counts those delivered to rxAddr port rxPort in
// namespace rxNS.
func (tp *topology) spoofedSYNs(t *testing.T, src string, sport, dport uint16, rxNS, rxAddr string, rxPort uint16) int {
	var rx net.PacketConn
	if err := inNetns(rxNS, func() (err error) {
		rx, err = net.ListenPacket("ip4:tcp", rxAddr)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	d, err := packet.ParseShort(fmt.Sprintf("wan0 tcp %s:%d > 198.51.100.1:%d S seq=1", src, sport, dport))
	if err != nil {
		t.Fatal(err)
	}
	syn, err := d.Build(0)
	if err != nil {
		t.Fatal(err)
	}
	err = inNetns(tp.wan, func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_RAW)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		for i := 0; i < 3; i++ {
			if err := unix.Sendto(fd, syn, 0, &unix.SockaddrInet4{Addr: [4]byte{198, 51, 100, 1}}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	buf := make([]byte, 1500)
	rx.SetReadDeadline(time.Now().Add(time.Second))
	for {
		m, _, err := rx.ReadFrom(buf)
		if err != nil {
			return n
		}
		if m >= 20 && binary.BigEndian.Uint16(buf[0:2]) == sport && binary.BigEndian.Uint16(buf[2:4]) == rxPort {
			n++
		}
	}
}
