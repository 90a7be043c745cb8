package kernel

import (
	"encoding/binary"
	"maps"
	"net/netip"
	"strings"
	"sync"
	"testing"
)

// ipv4UDP builds an IPv4 UDP packet with correct checksums (the kernel
// drops a bad IP header checksum before netfilter and a bad UDP checksum
// before the socket lookup), TTL 64 and no options.
func ipv4UDP(src, dst string, sport, dport uint16, payload []byte) []byte {
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	p := make([]byte, 28+len(payload))
	p[0] = 0x45
	binary.BigEndian.PutUint16(p[2:], uint16(len(p)))
	binary.BigEndian.PutUint16(p[4:], 1) // id
	p[8] = 64                            // ttl
	p[9] = 17                            // udp
	copy(p[12:], s[:])
	copy(p[16:], d[:])
	binary.BigEndian.PutUint16(p[10:], checksum(p[:20], 0))
	u := p[20:]
	binary.BigEndian.PutUint16(u[0:], sport)
	binary.BigEndian.PutUint16(u[2:], dport)
	binary.BigEndian.PutUint16(u[4:], uint16(len(u)))
	copy(u[8:], payload)
	// Pseudo-header: addresses, protocol, UDP length.
	var pseudo uint32
	for i := 0; i < 4; i += 2 {
		pseudo += (uint32(s[i])<<8 | uint32(s[i+1])) + (uint32(d[i])<<8 | uint32(d[i+1]))
	}
	pseudo += 17 + uint32(len(u))
	c := checksum(u, pseudo)
	if c == 0 {
		c = 0xffff // 0 means "no checksum" in UDP
	}
	binary.BigEndian.PutUint16(u[6:], c)
	return p
}

// checksum is the Internet checksum of b, starting from sum.
func checksum(b []byte, sum uint32) uint16 {
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// counted is the test ruleset: one counted INPUT rule, one FORWARD rule
// for the inside web host, policies ACCEPT so that only those rules and
// the policies a reply meets can count.
const counted = `*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p udp --dport 9 -j ACCEPT
-A FORWARD -d 192.0.2.10/32 -p udp -j ACCEPT
COMMIT
`

// step injects or sends one packet and returns what rose: counters, IP
// stack counters and the packets that left each interface.
type step struct {
	counters map[RuleKey]Counter
	ip       IPCounters
	out      map[string][][]byte
}

func observe(t *testing.T, fw *Firewall, send func() error) step {
	t.Helper()
	before, err := fw.SaveCounters()
	if err != nil {
		t.Fatal(err)
	}
	ipBefore, err := fw.Delivered()
	if err != nil {
		t.Fatal(err)
	}
	if err := send(); err != nil {
		t.Fatal(err)
	}
	out, err := fw.CaptureAll()
	if err != nil {
		t.Fatal(err)
	}
	after, err := fw.SaveCounters()
	if err != nil {
		t.Fatal(err)
	}
	ipAfter, err := fw.Delivered()
	if err != nil {
		t.Fatal(err)
	}
	return step{
		counters: Diff(ParseSaveCounters(before), ParseSaveCounters(after)),
		ip: IPCounters{
			InReceives:      ipAfter.InReceives - ipBefore.InReceives,
			InDelivers:      ipAfter.InDelivers - ipBefore.InDelivers,
			InUnknownProtos: ipAfter.InUnknownProtos - ipBefore.InUnknownProtos,
			ForwDatagrams:   ipAfter.ForwDatagrams - ipBefore.ForwDatagrams,
			OutRequests:     ipAfter.OutRequests - ipBefore.OutRequests,
		},
		out: out,
	}
}

func wantCounters(t *testing.T, what string, got, want map[RuleKey]Counter) {
	t.Helper()
	if !maps.Equal(got, want) {
		t.Errorf("%s: counters that rose:\n%swant:\n%s", what, FormatCounters(got), FormatCounters(want))
	}
}

func TestFirewall(t *testing.T) {
	Require(t)
	var (
		mu   sync.Mutex
		made []string // every namespace the subtests made, to check they are gone
	)
	t.Run("backends", func(t *testing.T) {
		for _, b := range Backends {
			t.Run(string(b), func(t *testing.T) {
				t.Parallel()
				fw := NewFirewall(t, b)
				mu.Lock()
				made = append(made, fw.Namespaces()...)
				mu.Unlock()
				testFirewall(t, fw)
			})
		}
	})
	// Parallel subtests have all finished, and their cleanups run, when
	// t.Run returns.
	if len(made) != 3*len(Backends) {
		t.Fatalf("expected %d namespaces to have been made, recorded %d: %v", 3*len(Backends), len(made), made)
	}
	for _, ns := range made {
		if NamespaceExists(ns) {
			t.Errorf("namespace %s still exists after its test ended", ns)
		}
	}
}

func testFirewall(t *testing.T, fw *Firewall) {
	for _, ns := range fw.Namespaces() {
		if !NamespaceExists(ns) {
			t.Fatalf("namespace %s missing", ns)
		}
	}
	checkTopology(t, fw)
	if err := fw.Restore(counted); err != nil {
		t.Fatal(err)
	}
	save, err := fw.Save()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(save, "-A INPUT -p udp -m udp --dport 9 -j ACCEPT\n") {
		t.Errorf("iptables-save lacks the restored rule in its canonical form:\n%s", save)
	}

	t.Run("input", func(t *testing.T) {
		pkt := ipv4UDP("203.0.113.7", "198.51.100.1", 40000, 9, []byte("ping"))
		s := observe(t, fw, func() error { return fw.Inject("eth0", pkt) })
		// Port 9 is closed, so the host answers with a port unreachable
		// (20 + 8 + the 32 bytes quoted), which passes OUTPUT.
		wantCounters(t, "udp to the firewall", s.counters, map[RuleKey]Counter{
			{"filter", "INPUT", 1}:  {1, uint64(len(pkt))},
			{"filter", "OUTPUT", 0}: {1, 20 + 8 + uint64(len(pkt))},
		})
		if s.ip.InDelivers != 1 || s.ip.ForwDatagrams != 0 {
			t.Errorf("IP counters rose by %+v; want 1 delivered, none forwarded", s.ip)
		}
		if len(s.out["wlan0"]) != 0 || len(s.out["eth0"]) != 1 {
			t.Fatalf("left eth0: %d packets, wlan0: %d; want the port unreachable on eth0 only", len(s.out["eth0"]), len(s.out["wlan0"]))
		}
		icmp := s.out["eth0"][0]
		if len(icmp) < 28 || icmp[9] != 1 || icmp[20] != 3 || icmp[21] != 3 ||
			netip.AddrFrom4([4]byte(icmp[16:20])) != netip.MustParseAddr("203.0.113.7") {
			t.Errorf("left eth0: % x; want an ICMP port unreachable to 203.0.113.7", icmp)
		}
	})

	t.Run("forward", func(t *testing.T) {
		pkt := ipv4UDP("203.0.113.7", "192.0.2.10", 40000, 80, nil)
		s := observe(t, fw, func() error { return fw.Inject("eth0", pkt) })
		wantCounters(t, "udp through the firewall", s.counters, map[RuleKey]Counter{
			{"filter", "FORWARD", 1}: {1, uint64(len(pkt))},
		})
		if s.ip.ForwDatagrams != 1 || s.ip.InDelivers != 0 {
			t.Errorf("IP counters rose by %+v; want 1 forwarded, none delivered", s.ip)
		}
		if len(s.out["eth0"]) != 0 || len(s.out["wlan0"]) != 1 {
			t.Fatalf("left eth0: %d packets, wlan0: %d; want the packet on wlan0 only", len(s.out["eth0"]), len(s.out["wlan0"]))
		}
		// Forwarding changes the TTL and with it the header checksum,
		// nothing else.
		want := append([]byte(nil), pkt...)
		want[8]--
		want[10], want[11] = 0, 0
		binary.BigEndian.PutUint16(want[10:], checksum(want[:20], 0))
		if got := s.out["wlan0"][0]; string(got) != string(want) {
			t.Errorf("left wlan0:\n% x\nwant\n% x", got, want)
		}
	})

	t.Run("local", func(t *testing.T) {
		pkt := ipv4UDP("198.51.100.1", "203.0.113.7", 9, 40000, nil)
		s := observe(t, fw, func() error { return fw.SendLocal(pkt) })
		wantCounters(t, "udp from the firewall", s.counters, map[RuleKey]Counter{
			{"filter", "OUTPUT", 0}: {1, uint64(len(pkt))},
		})
		if len(s.out["wlan0"]) != 0 || len(s.out["eth0"]) != 1 || string(s.out["eth0"][0]) != string(pkt) {
			t.Errorf("left eth0: %x, wlan0: %x; want the packet on eth0 (via the gateway) only", s.out["eth0"], s.out["wlan0"])
		}
	})

	t.Run("unknown neighbour", func(t *testing.T) {
		// 192.0.2.99 has no neighbour entry: the firewall asks by ARP
		// (which Capture reports), and once the entry is added, sends
		// the packet it held.
		pkt := ipv4UDP("203.0.113.7", "192.0.2.99", 40000, 80, nil)
		if err := fw.Inject("eth0", pkt); err != nil {
			t.Fatal(err)
		}
		out, err := fw.Capture("wlan0")
		if err == nil || !strings.Contains(err.Error(), "192.0.2.99") || len(out) != 0 {
			t.Errorf("Capture = %d packets, error %v; want none and an ARP error naming 192.0.2.99", len(out), err)
		}
		if err := fw.AddNeighbour("wlan0", netip.MustParseAddr("192.0.2.99")); err != nil {
			t.Fatal(err)
		}
		out, err = fw.Capture("wlan0")
		if err != nil || len(out) != 1 {
			t.Errorf("after AddNeighbour: Capture = %d packets, error %v; want the held packet", len(out), err)
		}
	})

	t.Run("delivered matches /proc/net/snmp", func(t *testing.T) {
		c, err := fw.Delivered()
		if err != nil {
			t.Fatal(err)
		}
		snmp, err := fw.Run("cat", "/proc/net/snmp")
		if err != nil {
			t.Fatal(err)
		}
		viaExec, err := parseSNMP([]byte(snmp))
		if err != nil {
			t.Fatal(err)
		}
		if c != viaExec {
			t.Errorf("Delivered() = %+v, but ip netns exec cat /proc/net/snmp gives %+v", c, viaExec)
		}
		if c.InDelivers == 0 {
			t.Error("no delivery counted, though the input test delivered a packet")
		}
	})

	t.Run("restore error", func(t *testing.T) {
		err := fw.Restore("*filter\n-A INPUT -p udp --dport 9 -j NOSUCHTARGET\nCOMMIT\n")
		if err == nil || !strings.Contains(err.Error(), "line") {
			t.Errorf("restoring a bad ruleset: error %v; want iptables-restore's message naming the line", err)
		}
	})

	t.Run("flush conntrack", func(t *testing.T) {
		if err := fw.FlushConntrack(); err != nil {
			t.Error(err)
		}
	})
}

// checkTopology reads back the settings NewFirewall promises.
func checkTopology(t *testing.T, fw *Firewall) {
	t.Helper()
	for path, want := range map[string]string{
		"/proc/sys/net/ipv4/ip_forward":                "1",
		"/proc/sys/net/ipv4/conf/all/rp_filter":        "0",
		"/proc/sys/net/ipv4/conf/eth0/rp_filter":       "0",
		"/proc/sys/net/ipv4/conf/wlan0/rp_filter":      "0",
		"/proc/sys/net/ipv4/icmp_echo_ignore_all":      "1",
		"/proc/sys/net/ipv4/icmp_ratelimit":            "0",
		"/proc/sys/net/ipv4/icmp_msgs_per_sec":         "100000",
		"/proc/sys/net/ipv4/icmp_msgs_burst":           "100000",
		"/proc/sys/net/ipv6/conf/all/disable_ipv6":     "1",
		"/proc/sys/net/ipv6/conf/default/disable_ipv6": "1",
	} {
		got, err := fw.Run("cat", path)
		if err != nil {
			t.Error(err)
			continue
		}
		if strings.TrimSpace(got) != want {
			t.Errorf("%s in %s = %q, want %q", path, fw.NS, strings.TrimSpace(got), want)
		}
	}
	addrs, err := fw.Run("ip", "-br", "addr")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"198.51.100.1/24", "192.0.2.1/24"} {
		if !strings.Contains(addrs, want) {
			t.Errorf("firewall addresses lack %s:\n%s", want, addrs)
		}
	}
	routes, err := fw.Run("ip", "route")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(routes, "default via 198.51.100.254 dev eth0") {
		t.Errorf("no default route via 198.51.100.254:\n%s", routes)
	}
	neigh, err := fw.Run("ip", "neigh")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(neigh, "198.51.100.254 dev eth0 lladdr 02:00:00:00:01:01 PERMANENT") ||
		!strings.Contains(neigh, "192.0.2.50 dev wlan0 lladdr 02:00:00:00:02:01 PERMANENT") {
		t.Errorf("neighbour entries missing:\n%s", neigh)
	}
	for _, l := range fw.links {
		peer, err := runIn(l.peerNS, nil, "ip", "-br", "addr")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(peer, ".") {
			t.Errorf("peer namespace %s has an IPv4 address:\n%s", l.peerNS, peer)
		}
	}
}
