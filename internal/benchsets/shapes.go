package benchsets

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"

	"github.com/ipsift/ipsift/packet"
)

// Kube writes a nat table the shape kube-proxy's iptables mode gives a
// cluster of services services with endpoints endpoints each:
// KUBE-SERVICES holds two rules a service (mark for masquerade what
// does not come from the pod network, then jump to the service's chain),
// each KUBE-SVC chain spreads connections over its endpoints with
// -m statistic --mode random, each KUBE-SEP chain marks hairpin traffic
// and DNATs. Service addresses are (address, port) pairs of the
// documentation ranges; the filter table drops what is forwarded, so
// that every benchmark packet is a new connection that is forgotten
// again. It returns the ruleset and one packet per service (a SYN to
// its address and port), in random order.
func Kube(services, endpoints int, r *rand.Rand) (string, []packet.Desc) {
	var b strings.Builder
	b.WriteString("*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n")
	b.WriteString(":KUBE-SERVICES - [0:0]\n:KUBE-POSTROUTING - [0:0]\n:KUBE-MARK-MASQ - [0:0]\n:KUBE-NODEPORTS - [0:0]\n")
	for i := 0; i < services; i++ {
		fmt.Fprintf(&b, ":KUBE-SVC-%06d - [0:0]\n", i)
		for j := 0; j < endpoints; j++ {
			fmt.Fprintf(&b, ":KUBE-SEP-%06d-%d - [0:0]\n", i, j)
		}
	}
	b.WriteString(`-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
`)
	var pkts []packet.Desc
	for i := 0; i < services; i++ {
		vip, port := service(i)
		fmt.Fprintf(&b, "-A KUBE-SERVICES ! -s 192.0.2.0/25 -d %s/32 -p tcp -m comment --comment \"ns/svc%d:http cluster IP\" -m tcp --dport %d -j KUBE-MARK-MASQ\n", vip, i, port)
		fmt.Fprintf(&b, "-A KUBE-SERVICES -d %s/32 -p tcp -m comment --comment \"ns/svc%d:http cluster IP\" -m tcp --dport %d -j KUBE-SVC-%06d\n", vip, i, port, i)
		for j := 0; j < endpoints; j++ {
			if j < endpoints-1 {
				fmt.Fprintf(&b, "-A KUBE-SVC-%06d -m comment --comment \"ns/svc%d:http\" -m statistic --mode random --probability %.11f -j KUBE-SEP-%06d-%d\n", i, i, 1/float64(endpoints-j), i, j)
			} else {
				fmt.Fprintf(&b, "-A KUBE-SVC-%06d -m comment --comment \"ns/svc%d:http\" -j KUBE-SEP-%06d-%d\n", i, i, i, j)
			}
			ep := fmt.Sprintf("192.0.2.%d", 2+(i*endpoints+j)%120)
			fmt.Fprintf(&b, "-A KUBE-SEP-%06d-%d -s %s/32 -m comment --comment \"ns/svc%d:http\" -j KUBE-MARK-MASQ\n", i, j, ep, i)
			fmt.Fprintf(&b, "-A KUBE-SEP-%06d-%d -p tcp -m comment --comment \"ns/svc%d:http\" -m tcp -j DNAT --to-destination %s:%d\n", i, j, i, ep, 8000+i%1000)
		}
		pkts = append(pkts, packet.Desc{In: "eth0", Src: netip.AddrFrom4([4]byte{198, 51, 100, byte(2 + r.IntN(250))}), Dst: netip.MustParseAddr(vip), Proto: packet.ProtoTCP, Sport: uint16(20000 + r.IntN(40000)), Dport: uint16(port)})
	}
	b.WriteString("-A KUBE-SERVICES -m comment --comment \"kubernetes service nodeports\" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS\nCOMMIT\n")
	b.WriteString("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n")
	// In random order: a benchmark that runs only the first packets
	// must not see only the first services.
	r.Shuffle(len(pkts), func(i, j int) { pkts[i], pkts[j] = pkts[j], pkts[i] })
	return b.String(), pkts
}

// service is the address and port of service i: the addresses of
// 203.0.113.0/24, then ports.
func service(i int) (string, int) {
	return fmt.Sprintf("203.0.113.%d", 1+i%250), 1000 + i/250
}

// Blocklist writes a filter table whose FORWARD chain accepts
// established traffic, drops invalid packets, then drops n source
// addresses one rule each (-s x/32 -j DROP), and accepts the rest. The
// addresses are random unicast IPv4 addresses (the set is only ever
// simulated). It returns the ruleset and the blocked addresses in rule
// order.
func Blocklist(n int, r *rand.Rand) (string, []netip.Addr) {
	var b strings.Builder
	b.WriteString("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n")
	b.WriteString("-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n-A FORWARD -m conntrack --ctstate INVALID -j DROP\n")
	seen := map[uint32]bool{}
	var addrs []netip.Addr
	for len(addrs) < n {
		v := r.Uint32()
		if v>>24 == 0 || v>>24 >= 224 || v>>24 == 127 || seen[v] {
			continue
		}
		seen[v] = true
		a := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
		addrs = append(addrs, a)
		fmt.Fprintf(&b, "-A FORWARD -s %s/32 -j DROP\n", a)
	}
	b.WriteString("-A FORWARD -j ACCEPT\nCOMMIT\n")
	return b.String(), addrs
}

// Desc returns a ClassBench header as a packet arriving on in.
func (p Packet) Desc(in string) packet.Desc {
	d := packet.Desc{In: in, Src: addr4(p.Src), Dst: addr4(p.Dst), Proto: packet.Proto(p.Proto)}
	switch p.Proto {
	case 6, 17:
		d.Sport, d.Dport = p.SPort, p.DPort
	case 1:
		d.Type = 8
	}
	return d
}

func addr4(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
