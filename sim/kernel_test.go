package sim

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/ipsift/ipsift/engine"
	"github.com/ipsift/ipsift/internal/kernel"
	"github.com/ipsift/ipsift/ipset"
	"github.com/ipsift/ipsift/packet"
	"github.com/ipsift/ipsift/rules"
)

// statelessRules is a ruleset with no connection state and no NAT, so
// that every packet's fate depends on that packet alone: the kernel's
// and ipsift's hits and verdicts must agree exactly. (With no conntrack
// in the namespace, the kernel does not reassemble fragments either.)
const statelessRules = `*mangle
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -p udp -m udp --dport 53
-A PREROUTING -i wlan0 -p tcp -m tcp --tcp-flags SYN,ACK SYN
-A FORWARD -m ttl --ttl-eq 63
-A POSTROUTING -o eth0 -p icmp
COMMIT
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:admin - [0:0]
:scan - [0:0]
:web - [0:0]
-A INPUT -i lo -j ACCEPT
-A INPUT -s 198.51.100.66/32 -j DROP
-A INPUT -s 203.0.113.0/24 -j admin
-A INPUT -p tcp -m tcp --tcp-flags SYN,ACK,FIN,RST RST -j scan
-A INPUT -p tcp -m multiport --dports 25,80,443,8000:8080 -j web
-A INPUT -i wlan0 -p udp -m udp --dport 53 -j ACCEPT
-A INPUT -p icmp -m icmp --icmp-type 8 -j ACCEPT
-A INPUT -p icmp -m icmp --icmp-type 3/3
-A INPUT -m length --length 1000:65535 -j DROP
-A INPUT ! -i eth0 -p 47 -j ACCEPT
-A FORWARD -i wlan0 -o eth0 -j ACCEPT
-A FORWARD -i eth0 -o wlan0 -d 192.0.2.10/31 -p tcp -m tcp ! --dport 22 -j ACCEPT
-A FORWARD -f -j ACCEPT
-A FORWARD -p udp -m udp --sport 1024:65535 --dport 500 -g web
-A admin -p tcp -m tcp --dport 22 -j ACCEPT
-A admin -p tcp -m tcp --dport 23 -j RETURN
-A admin -p udp -j DROP
-A scan -m ttl --ttl-lt 10 -j RETURN
-A scan -j DROP
-A web -p tcp -m tcp --dport 8080 -j RETURN
-A web -s 192.0.2.0/24 -j ACCEPT
-A web -p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -j ACCEPT
COMMIT
`

// randomPackets aims packets at the rules' addresses, ports and flags,
// from both sides of the host.
func randomPackets(seed uint64, n int) []packet.Desc {
	r := rand.New(rand.NewPCG(seed, 1))
	srcs := map[string][]string{
		"eth0":  {"198.51.100.66", "198.51.100.9", "203.0.113.7", "203.0.113.255", "198.51.100.200"},
		"wlan0": {"192.0.2.10", "192.0.2.11", "192.0.2.12", "192.0.2.99"},
	}
	dsts := []string{"198.51.100.1", "192.0.2.1", "192.0.2.10", "192.0.2.11", "192.0.2.12", "203.0.113.50", "198.51.100.9"}
	ports := []uint16{22, 23, 25, 53, 80, 443, 500, 7999, 8000, 8080, 8081, 1023, 1024, 40000}
	flags := []string{"S", "SA", "A", "R", "RA", "F", "FA", "PA", "", "SF", "FPU"}
	var out []packet.Desc
	sport := uint16(30000)
	for i := 0; i < n; i++ {
		in := []string{"eth0", "wlan0"}[r.IntN(2)]
		d := packet.Desc{In: in, Src: netip.MustParseAddr(srcs[in][r.IntN(len(srcs[in]))]), Dst: netip.MustParseAddr(dsts[r.IntN(len(dsts))])}
		sport++
		switch k := r.IntN(10); {
		case k < 5:
			d.Proto = packet.ProtoTCP
			d.Sport, d.Dport = sport, ports[r.IntN(len(ports))]
			f, _ := packet.ParseTCPFlags(flags[r.IntN(len(flags))])
			d.Flags = &f
		case k < 8:
			d.Proto = packet.ProtoUDP
			d.Sport, d.Dport = []uint16{sport, 53, 1000}[r.IntN(3)], ports[r.IntN(len(ports))]
			if r.IntN(4) == 0 {
				d.Len = 1200
			}
		case k < 9:
			d.Proto = packet.ProtoICMP
			d.Type = []uint8{8, 0, 13}[r.IntN(3)]
		default:
			d.Proto = 47
			d.Len = 8
		}
		if r.IntN(6) == 0 {
			ttl := []uint8{1, 2, 5, 64}[r.IntN(4)]
			d.TTL = &ttl
		}
		// Later fragments only where they are forwarded: one held for
		// reassembly on the way in depends on the rest, which never comes.
		if d.Dst.Is4() && !strings.HasPrefix(d.Dst.String(), "198.51.100.1") && d.Dst.String() != "192.0.2.1" && r.IntN(8) == 0 {
			d.FragOff = 100
		}
		out = append(out, d)
	}
	return out
}

// addNeighbours gives the firewall a neighbour entry for every on-link
// address the packets name, so that its answers and forwarded packets
// need no ARP (the peers never answer).
func addNeighbours(t *testing.T, fw *kernel.Firewall, descs []packet.Desc) {
	links := map[string]netip.Prefix{"eth0": netip.MustParsePrefix("198.51.100.0/24"), "wlan0": netip.MustParsePrefix("192.0.2.0/24")}
	done := map[netip.Addr]bool{}
	for _, d := range descs {
		for _, a := range []netip.Addr{d.Src, d.Dst} {
			for ifname, p := range links {
				if p.Contains(a) && !done[a] && a != p.Addr() && a.As4()[3] != 255 && a.As4()[3] != 1 {
					done[a] = true
					if err := fw.AddNeighbour(ifname, a); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
	}
}

type keyCount map[string]int

func hitKeys(hs []Hit, keep func(Hit) bool) keyCount {
	m := keyCount{}
	for _, h := range hs {
		if keep(h) {
			m[fmt.Sprintf("%s/%s/%d", h.Table, h.Chain, h.Rule)]++
		}
	}
	return m
}

func (k keyCount) String() string {
	var s []string
	for key, n := range k {
		s = append(s, fmt.Sprintf("%s×%d", key, n))
	}
	sort.Strings(s)
	return strings.Join(s, " ")
}

// TestKernelStateless sends the same packets through the kernel and
// through ipsift and compares, packet by packet, the counters raised,
// the verdict and the packets forwarded.
func TestKernelStateless(t *testing.T) {
	compareStateless(t, statelessRules, "", randomPackets(1, 150), nil)
}

// compareStateless sends descs through the kernel and through ipsift,
// with the rules (and sets, ipset restore input, loaded into the
// namespace and into ipsift) and compares packet by packet; after, when
// given, runs on each backend's firewall and ipsift's sets.
func compareStateless(t *testing.T, ruleText, setsText string, descs []packet.Desc, after func(t *testing.T, fw *kernel.Firewall, sets *ipset.Registry)) {
	kernel.Require(t)
	for _, b := range kernel.Backends {
		t.Run(string(b), func(t *testing.T) {
			var sets *ipset.Registry
			fw := kernel.NewFirewall(t, b)
			if setsText != "" {
				sets = ipset.NewRegistry()
				c := &ipset.Cmd{R: sets, Now: func() int64 { return 0 }, Stdout: io.Discard, Stderr: io.Discard}
				if err := c.Restore(strings.NewReader(setsText), false); err != nil {
					t.Fatal(err)
				}
				f := filepath.Join(t.TempDir(), "sets")
				os.WriteFile(f, []byte(setsText), 0o644)
				if _, err := fw.Run("ipset", "restore", "-f", f); err != nil {
					t.Fatal(err)
				}
			}
			rs := rules.New()
			if _, err := rs.Restore(strings.NewReader(ruleText), rules.RestoreOptions{}); err != nil {
				t.Fatal(err)
			}
			if err := fw.Restore(ruleText); err != nil {
				t.Fatal(err)
			}
			addNeighbours(t, fw, descs)
			e, err := engine.New(rs, nil, engine.Config{Legacy: b == kernel.Legacy, Sets: sets})
			if err != nil {
				t.Fatal(err)
			}
			s := New(e)
			if sets != nil {
				sets.Shift(s.Now)
			}
			diffs := 0
			for i, d := range descs {
				data, err := d.Build(i)
				if err != nil {
					t.Fatal(err)
				}
				got, err := s.Run(i, d)
				if err != nil {
					t.Fatal(err)
				}
				before, _ := fw.SaveCounters()
				ipBefore, _ := fw.Delivered()
				if err := fw.Inject(d.In, data); err != nil {
					t.Fatal(err)
				}
				out, err := fw.CaptureAll()
				if err != nil {
					t.Fatal(err)
				}
				after, _ := fw.SaveCounters()
				ipAfter, _ := fw.Delivered()
				kHits := kernel.Diff(kernel.ParseSaveCounters(before), kernel.ParseSaveCounters(after))
				verdict := "drop"
				if ipAfter.InDelivers+ipAfter.InUnknownProtos > ipBefore.InDelivers+ipBefore.InUnknownProtos {
					verdict = "accept-local"
				}
				var fwd []string
				for ifname, frames := range out {
					for _, f := range frames {
						var p packet.Packet
						if p.Decode(f) != nil || p.Src != d.Src {
							continue // the host's own answers
						}
						fwd = append(fwd, ifname+" "+p.Src.String()+">"+p.Dst.String())
						verdict = "forward"
					}
				}
				// Counters in OUTPUT and POSTROUTING belong to the host's
				// answers unless the packet was forwarded.
				keep := func(h Hit) bool {
					return verdict == "forward" && h.Chain != "OUTPUT" || h.Chain != "OUTPUT" && h.Chain != "POSTROUTING"
				}
				var kh []Hit
				for k, c := range kHits {
					for j := uint64(0); j < c.Packets; j++ {
						kh = append(kh, Hit{Table: k.Table, Chain: k.Chain, Rule: k.Rule})
					}
				}
				want, have := hitKeys(kh, keep), hitKeys(got.Hits, keep)
				var ours []string
				for _, o := range got.Out {
					if !o.HostReply { // packets.md: comparisons leave these out
						ours = append(ours, o.If+" "+o.Src+">"+o.Dst)
					}
				}
				sort.Strings(fwd)
				sort.Strings(ours)
				if want.String() != have.String() || verdict != got.Verdict || strings.Join(fwd, ",") != strings.Join(ours, ",") {
					diffs++
					t.Errorf("packet %d %s:\n kernel: %s %s %v\n ipsift: %s %s %v", i, d.String(), verdict, want, fwd, got.Verdict, have, ours)
				}
			}
			t.Logf("%s: %d packets, %d differences", b, len(descs), diffs)
			if after != nil {
				after(t, fw, sets)
			}
		})
	}
}
