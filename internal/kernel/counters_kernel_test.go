package kernel

import (
	"encoding/binary"
	"maps"
	"net/netip"
	"testing"
	"time"
)

// ipv4TCP builds an IPv4 TCP segment with flags (SYN is 0x02) and correct
// checksums.
func ipv4TCP(src, dst string, sport, dport uint16, flags byte) []byte {
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	p := make([]byte, 40)
	p[0] = 0x45
	binary.BigEndian.PutUint16(p[2:], uint16(len(p)))
	binary.BigEndian.PutUint16(p[4:], 1) // id
	p[8] = 64                            // ttl
	p[9] = 6                             // tcp
	copy(p[12:], s[:])
	copy(p[16:], d[:])
	binary.BigEndian.PutUint16(p[10:], checksum(p[:20], 0))
	tcp := p[20:]
	binary.BigEndian.PutUint16(tcp[0:], sport)
	binary.BigEndian.PutUint16(tcp[2:], dport)
	binary.BigEndian.PutUint32(tcp[4:], 1000) // seq
	tcp[12] = 5 << 4                          // data offset
	tcp[13] = flags
	binary.BigEndian.PutUint16(tcp[14:], 8192) // window
	var pseudo uint32
	for i := 0; i < 4; i += 2 {
		pseudo += (uint32(s[i])<<8 | uint32(s[i+1])) + (uint32(d[i])<<8 | uint32(d[i+1]))
	}
	pseudo += 6 + uint32(len(tcp))
	binary.BigEndian.PutUint16(tcp[16:], checksum(tcp, pseudo))
	return p
}

// countersFull uses all five tables: user chains reached by -j and -g,
// RETURN, rules without a target, DROP and ACCEPT policies, built-in
// chains without rules, an unused user chain and an empty table
// (security).
const countersFull = `*raw
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A PREROUTING -i eth0
-A PREROUTING -p tcp
COMMIT
*mangle
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:MARKS - [0:0]
-A PREROUTING -j MARKS
-A MARKS -p udp -j MARK --set-mark 1
-A MARKS -p tcp -j RETURN
-A MARKS
-A POSTROUTING -o wlan0
-A FORWARD -j MARKS
COMMIT
*security
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:NATOUT - [0:0]
:EMPTY - [0:0]
-A PREROUTING -i eth0 -p udp --dport 5353 -j DNAT --to-destination 192.0.2.20
-A OUTPUT -j NATOUT
-A NATOUT -p udp -j RETURN
-A NATOUT -j EMPTY
-A POSTROUTING -o eth0 -s 192.0.2.0/24 -j MASQUERADE
COMMIT
*filter
:INPUT DROP [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:IN_UDP - [0:0]
:IN_TCP - [0:0]
:FWD - [0:0]
:UNUSED - [0:0]
-A INPUT -i lo -j ACCEPT
-A INPUT -p udp -j IN_UDP
-A INPUT -p tcp -g IN_TCP
-A INPUT -p icmp
-A IN_UDP -p udp --dport 9 -j ACCEPT
-A IN_UDP -p udp --dport 10 -j RETURN
-A IN_UDP
-A IN_TCP -p tcp --dport 22 -j ACCEPT
-A IN_TCP -p tcp --dport 23 -j RETURN
-A FORWARD -d 192.0.2.10 -j FWD
-A FORWARD -d 192.0.2.30 -j DROP
-A FWD -p udp --dport 80 -j ACCEPT
-A FWD -j RETURN
-A UNUSED -j DROP
COMMIT
`

// countersFilterOnly replaces filter alone with fewer chains and rules:
// the other tables keep theirs (and their counters).
const countersFilterOnly = `*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:LOG_IT - [0:0]
-A FORWARD -j LOG_IT
-A LOG_IT -p udp
-A LOG_IT -p tcp -j ACCEPT
-A OUTPUT -p udp -j RETURN
COMMIT
`

// countersPackets sends traffic that walks every path of countersFull.
func countersPackets(t *testing.T, fw *Firewall) {
	t.Helper()
	send := []struct {
		local bool
		pkt   []byte
	}{
		{false, ipv4UDP("203.0.113.7", "198.51.100.1", 40000, 9, []byte("ping"))},
		{false, ipv4UDP("203.0.113.7", "198.51.100.1", 40000, 10, nil)},
		{false, ipv4UDP("203.0.113.7", "198.51.100.1", 40000, 11, []byte("xyz"))},
		{false, ipv4TCP("203.0.113.7", "198.51.100.1", 40001, 22, 0x02)},
		{false, ipv4TCP("203.0.113.7", "198.51.100.1", 40002, 23, 0x02)},
		{false, ipv4TCP("203.0.113.7", "198.51.100.1", 40003, 24, 0x02)},
		{false, ipv4UDP("203.0.113.7", "192.0.2.10", 40000, 80, []byte("web"))},
		{false, ipv4UDP("203.0.113.7", "192.0.2.10", 40000, 81, nil)},
		{false, ipv4UDP("203.0.113.7", "192.0.2.30", 40000, 80, nil)},
		{false, ipv4TCP("203.0.113.8", "192.0.2.10", 40004, 443, 0x02)},
		{false, ipv4UDP("203.0.113.7", "198.51.100.1", 40005, 5353, []byte("dns"))},
		{true, ipv4UDP("198.51.100.1", "203.0.113.7", 12345, 53, nil)},
		{true, ipv4TCP("198.51.100.1", "203.0.113.7", 12346, 443, 0x02)},
	}
	for _, s := range send {
		var err error
		if s.local {
			err = fw.SendLocal(s.pkt)
		} else {
			err = fw.Inject("eth0", s.pkt)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	// Let every answer the firewall sends pass its chains before reading.
	if _, err := fw.CaptureAll(); err != nil {
		t.Logf("capture: %v", err)
	}
}

// requireCountersMatchSave compares Counters with what iptables-save -c
// gives. Nothing sends in between, so the two must agree exactly.
func requireCountersMatchSave(t *testing.T, fw *Firewall, what string) map[RuleKey]Counter {
	t.Helper()
	got, err := fw.Counters()
	if err != nil {
		t.Fatalf("%s: Counters: %v", what, err)
	}
	save, err := fw.SaveCounters()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	want := ParseSaveCounters(save)
	if !maps.Equal(got, want) {
		t.Fatalf("%s: Counters() =\n%s\nParseSaveCounters(SaveCounters()) =\n%s\niptables-save -c:\n%s",
			what, FormatCounters(got), FormatCounters(want), save)
	}
	return got
}

func TestCountersMatchSave(t *testing.T) {
	Require(t)
	for _, b := range Backends {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel()
			fw := NewFirewall(t, b)
			ipt := func(args ...string) {
				t.Helper()
				if out, err := fw.Run(append([]string{b.tool("")}, args...)...); err != nil {
					t.Fatalf("%v: %s", err, out)
				}
			}

			if got := requireCountersMatchSave(t, fw, "no rules"); len(got) != 0 {
				t.Errorf("fresh namespace: %d counters, want none", len(got))
			}
			// Legacy makes the table on first use, so it exists empty
			// from here on; nft makes nothing.
			ipt("-t", "security", "-L", "-n")
			requireCountersMatchSave(t, fw, "after listing security")

			if err := fw.Restore(countersFull); err != nil {
				t.Fatal(err)
			}
			requireCountersMatchSave(t, fw, "full ruleset loaded")
			countersPackets(t, fw)
			got := requireCountersMatchSave(t, fw, "full ruleset after packets")
			for _, k := range []RuleKey{
				{"filter", "IN_UDP", 1}, {"filter", "IN_TCP", 1}, {"filter", "INPUT", 0},
				{"filter", "FWD", 1}, {"filter", "FORWARD", 2}, {"mangle", "MARKS", 3},
				{"nat", "PREROUTING", 1}, {"nat", "NATOUT", 1}, {"raw", "PREROUTING", 2},
			} {
				if got[k].Packets == 0 {
					t.Errorf("%s counted nothing; the test traffic should reach it", k)
				}
			}

			if err := fw.Restore(countersFilterOnly); err != nil {
				t.Fatal(err)
			}
			requireCountersMatchSave(t, fw, "filter replaced")
			countersPackets(t, fw)
			requireCountersMatchSave(t, fw, "filter replaced, after packets")

			// Flushed and without user chains: every table keeps its
			// built-in chains and policy counters.
			for _, table := range []string{"filter", "nat", "mangle", "raw", "security"} {
				ipt("-t", table, "-F")
				ipt("-t", table, "-X")
			}
			requireCountersMatchSave(t, fw, "all flushed")
			countersPackets(t, fw)
			requireCountersMatchSave(t, fw, "all flushed, after packets")

			if b == NFT {
				if _, err := lookTool("nft"); err != nil {
					t.Logf("skipping the nft-made tables: %v", err)
					return
				}
				// A table without chains still shows up in
				// iptables-nft-save with its built-in chains; a table
				// iptables does not know is not shown at all.
				for _, cmd := range []string{
					"delete table ip raw",
					"add table ip raw",
					"add table ip other",
					"add chain ip other c { type filter hook input priority 0; }",
					"add rule ip other c counter",
				} {
					if out, err := fw.Run("nft", cmd); err != nil {
						t.Fatalf("%v: %s", err, out)
					}
				}
				countersPackets(t, fw)
				requireCountersMatchSave(t, fw, "tables made by nft")
			}
		})
	}
}

// TestCountersTiming compares Counters with SaveCounters +
// ParseSaveCounters on the full ruleset and logs the time per call (run
// with -v to see it; BenchmarkCounters measures the same more carefully).
func TestCountersTiming(t *testing.T) {
	Require(t)
	const n = 50
	for _, b := range Backends {
		t.Run(string(b), func(t *testing.T) {
			fw := NewFirewall(t, b)
			if err := fw.Restore(countersFull); err != nil {
				t.Fatal(err)
			}
			countersPackets(t, fw)
			start := time.Now()
			for range n {
				if _, err := fw.Counters(); err != nil {
					t.Fatal(err)
				}
			}
			direct := time.Since(start) / n
			start = time.Now()
			for range n {
				save, err := fw.SaveCounters()
				if err != nil {
					t.Fatal(err)
				}
				ParseSaveCounters(save)
			}
			viaSave := time.Since(start) / n
			t.Logf("%s: Counters %v per call, SaveCounters+ParseSaveCounters %v per call (%.0fx)",
				b, direct, viaSave, float64(viaSave)/float64(direct))
		})
	}
}

func BenchmarkCounters(b *testing.B) {
	for _, backend := range Backends {
		b.Run(string(backend), func(b *testing.B) {
			fw := NewFirewall(b, backend)
			if err := fw.Restore(countersFull); err != nil {
				b.Fatal(err)
			}
			b.Run("Counters", func(b *testing.B) {
				for b.Loop() {
					if _, err := fw.Counters(); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("SaveCounters+Parse", func(b *testing.B) {
				for b.Loop() {
					save, err := fw.SaveCounters()
					if err != nil {
						b.Fatal(err)
					}
					ParseSaveCounters(save)
				}
			})
		})
	}
}
