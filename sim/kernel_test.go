package sim_test

import (
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"

	"github.com/ipsift/ipsift/internal/kernel"
	"github.com/ipsift/ipsift/internal/kerneldiff"
	"github.com/ipsift/ipsift/packet"
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

// TestKernelStateless sends the same packets through the kernel and
// through ipsift and compares them packet by packet (kerneldiff.Compare:
// the counters raised, the verdict, every packet that left).
func TestKernelStateless(t *testing.T) {
	kernel.Require(t)
	descs := randomPackets(1, 150)
	for _, b := range kernel.Backends {
		t.Run(string(b), func(t *testing.T) {
			diffs := kerneldiff.Compare(t, b, statelessRules, descs)
			for _, d := range diffs {
				t.Errorf("%s", d)
			}
			t.Logf("%s: %d packets, %d differences", b, len(descs), len(diffs))
		})
	}
}
