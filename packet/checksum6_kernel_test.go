package packet

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ipsift/ipsift/internal/kernel"
)

// snmp6 reads the firewall namespace's IPv6 stack counters
// (/proc/net/snmp6) and TCP's checksum error counter (/proc/net/snmp,
// shared by both families).
func snmp6(t *testing.T, fw *kernel.Firewall) map[string]int64 {
	t.Helper()
	out, err := fw.Run("cat", "/proc/net/snmp6", "/proc/net/snmp")
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]int64{}
	var tcpNames []string
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) == 2:
			m[f[0]], _ = strconv.ParseInt(f[1], 10, 64)
		case len(f) > 2 && f[0] == "Tcp:" && tcpNames == nil:
			tcpNames = f
		case len(f) > 2 && f[0] == "Tcp:":
			for i := 1; i < len(f) && i < len(tcpNames); i++ {
				m["Tcp"+tcpNames[i]], _ = strconv.ParseInt(f[i], 10, 64)
			}
		}
	}
	return m
}

// ipv6Host is a kernel host (legacy backend, no rules) with IPv6 on,
// 2001:db8:100::1/64 on eth0, a default route via 2001:db8:100::fe
// (a permanent neighbour) and no ICMPv6 rate limit.
func ipv6Host(t *testing.T) *kernel.Firewall {
	t.Helper()
	fw := kernel.NewFirewall(t, kernel.Legacy)
	enableIPv6(t, fw)
	for _, args := range [][]string{
		{"ip", "addr", "add", "2001:db8:100::1/64", "dev", "eth0", "nodad"},
		{"ip", "-6", "neigh", "replace", "2001:db8:100::fe", "lladdr", "02:00:00:00:01:01", "dev", "eth0", "nud", "permanent"},
		{"ip", "-6", "route", "add", "default", "via", "2001:db8:100::fe", "dev", "eth0"},
		{"sysctl", "-qw", "net.ipv6.icmp.ratelimit=0"},
	} {
		if _, err := fw.Run(args...); err != nil {
			t.Fatal(err)
		}
	}
	return fw
}

// TestBuild6AgainstKernelStack sends packets built from the packets
// format into a kernel host that has 2001:db8:100::1 on eth0 and no
// firewall rules, and checks by the stack's counters that the kernel
// took each as what it is: a checksum it accepts (UDP to a closed port
// counts in Udp6NoPorts, a bad checksum in Udp6InCsumErrors), extension
// headers whose padding and options it accepts (a malformed Hop-by-Hop
// or Destination Options header is dropped before the transport sees
// it), fragments it reassembles into a datagram whose checksum holds, a
// neighbour solicitation it answers. A routing header puts its final
// destination into the checksum, which the receiving stack, checking
// against the IPv6 destination, finds wrong unless the two agree.
func TestBuild6AgainstKernelStack(t *testing.T) {
	fw := ipv6Host(t)
	const udp0 = `{"in":"eth0","src":"2001:db8:113::7","dst":"2001:db8:100::1","proto":"udp","sport":40000,"dport":9`
	const udp = udp0 + `,"len":13`
	tests := []struct {
		name  string
		lines []string // the packet file; all are sent, in order
		rest  bool     // build the first with the others as BuildOpts.Rest
		want  map[string]int64
	}{
		{"udp", []string{udp + `}`}, false,
			map[string]int64{"Udp6NoPorts": 1, "Udp6InCsumErrors": 0}},
		{"udp, hbh and dst padding", []string{udp + `,"ext":[{"type":"hbh"},{"type":"dst","len":1}]}`}, false,
			map[string]int64{"Udp6NoPorts": 1, "Udp6InCsumErrors": 0, "Ip6InHdrErrors": 0}},
		{"udp, options beyond padding", []string{udp + `,"ext":[{"type":"hbh","len":3},{"type":"dst","len":100}]}`}, false,
			map[string]int64{"Udp6NoPorts": 1, "Udp6InCsumErrors": 0, "Ip6InHdrErrors": 0}},
		{"udp, atomic fragment", []string{udp + `,"ext":[{"type":"frag"}]}`}, false,
			map[string]int64{"Udp6NoPorts": 1, "Udp6InCsumErrors": 0}},
		{"udp, routing type 0 to the host", []string{udp + `,"ext":[{"type":"rt","addrs":["2001:db8:100::1"]}]}`}, false,
			map[string]int64{"Udp6NoPorts": 1, "Udp6InCsumErrors": 0}},
		{"udp, routing type 0 elsewhere", []string{udp + `,"ext":[{"type":"rt","addrs":["2001:db8:100::5"]}]}`}, false,
			map[string]int64{"Udp6NoPorts": 0, "Udp6InCsumErrors": 1}},
		{"fragments, first carries the datagram's checksum", []string{
			udp0 + `,"len":16,"mf":true,"id":77}`,
			`{"in":"eth0","src":"2001:db8:113::7","dst":"2001:db8:100::1","proto":"17","len":40,"frag_off":3,"id":77}`,
		}, true, map[string]int64{"Ip6ReasmOKs": 1, "Udp6NoPorts": 1, "Udp6InCsumErrors": 0}},
		// TCP has no length field: its checksum covers the whole
		// reassembled segment, so a first fragment whose checksum
		// covers itself alone is wrong once the rest (non-zero bytes)
		// follows.
		{"tcp fragments, first carries the datagram's checksum", []string{
			`{"in":"eth0","src":"2001:db8:113::7","dst":"2001:db8:100::1","proto":"tcp","sport":40000,"dport":9,"len":4,"mf":true,"id":79}`,
			`{"in":"eth0","src":"2001:db8:113::7","dst":"2001:db8:100::1","proto":"tcp","sport":5,"dport":6,"frag_off":3,"id":79}`,
		}, true, map[string]int64{"Ip6ReasmOKs": 1, "TcpInCsumErrors": 0, "TcpOutRsts": 1}},
		{"tcp fragments, first alone", []string{
			`{"in":"eth0","src":"2001:db8:113::7","dst":"2001:db8:100::1","proto":"tcp","sport":40000,"dport":9,"len":4,"mf":true,"id":80}`,
			`{"in":"eth0","src":"2001:db8:113::7","dst":"2001:db8:100::1","proto":"tcp","sport":5,"dport":6,"frag_off":3,"id":80}`,
		}, false, map[string]int64{"Ip6ReasmOKs": 1, "TcpInCsumErrors": 1, "TcpOutRsts": 0}},
		{"tcp syn behind dst", []string{`{"in":"eth0","src":"2001:db8:113::7","dst":"2001:db8:100::1","proto":"tcp","sport":40000,"dport":9,"ext":[{"type":"dst"}]}`}, false,
			map[string]int64{"TcpInCsumErrors": 0, "TcpOutRsts": 1}},
		{"echo request", []string{`{"in":"eth0","src":"2001:db8:113::7","dst":"2001:db8:100::1","proto":"icmpv6","type":128,"len":9}`}, false,
			map[string]int64{"Icmp6InEchos": 1, "Icmp6InCsumErrors": 0}},
		{"port unreachable quoting udp", []string{`{"in":"eth0","src":"2001:db8:113::80","dst":"2001:db8:100::1","proto":"icmpv6","type":1,"code":4,"inner":{"src":"2001:db8:100::1","dst":"2001:db8:113::80","proto":"udp","sport":46000,"dport":33434}}`}, false,
			map[string]int64{"Icmp6InDestUnreachs": 1, "Icmp6InCsumErrors": 0}},
		{"packet too big quoting tcp", []string{`{"in":"eth0","src":"2001:db8:113::80","dst":"2001:db8:100::1","proto":"icmpv6","type":2,"mtu":1400,"inner":{"src":"2001:db8:100::1","dst":"2001:db8:113::80","proto":"tcp","sport":22,"dport":40000}}`}, false,
			map[string]int64{"Icmp6InPktTooBigs": 1, "Icmp6InCsumErrors": 0}},
		{"neighbour solicitation", []string{`{"in":"eth0","src":"fe80::ff:fe00:101","dst":"ff02::1:ff00:1","proto":"icmpv6","type":135,"target":"2001:db8:100::1"}`}, false,
			map[string]int64{"Icmp6InNeighborSolicits": 1, "Icmp6OutNeighborAdvertisements": 1, "Icmp6InCsumErrors": 0}},
	}
	peer := MAC{2, 0, 0, 0, 1, 1}
	// Wait until the freshly enabled stack takes packets: echo requests
	// until one counts.
	ping, _ := ParseDescLine([]byte(`{"in":"eth0","src":"2001:db8:113::7","dst":"2001:db8:100::1","proto":"icmpv6","type":128}`))
	pb, _ := ping.Build(0)
	for try := 0; ; try++ {
		before := snmp6(t, fw)["Icmp6InEchos"]
		if err := fw.Inject("eth0", pb); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
		if snmp6(t, fw)["Icmp6InEchos"] > before {
			break
		}
		if try == 40 {
			t.Fatal("the IPv6 stack took no echo request in 2 s")
		}
	}
	for _, tt := range tests {
		var ds []Desc
		for _, l := range tt.lines {
			d, err := ParseDescLine([]byte(l))
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			ds = append(ds, d)
		}
		before := snmp6(t, fw)
		for i, d := range ds {
			o := BuildOpts{LinkAddr: peer}
			if tt.rest && i == 0 {
				o.Rest = ds[1:]
			}
			b, err := d.BuildWith(i, o)
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			if err := fw.Inject("eth0", b); err != nil {
				t.Fatal(err)
			}
		}
		// The stack's answers are sent synchronously, but give the
		// neighbour advertisement its moment.
		var after map[string]int64
		for try := 0; try < 20; try++ {
			after = snmp6(t, fw)
			ok := true
			for k, v := range tt.want {
				ok = ok && after[k]-before[k] == v
			}
			if ok {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		for k, v := range tt.want {
			if _, known := after[k]; !known {
				t.Fatalf("%s: no counter %s", tt.name, k)
			}
			if got := after[k] - before[k]; got != v {
				t.Errorf("%s: %s rose by %d, want %d", tt.name, k, got, v)
			}
		}
	}
}

// TestOptsCheckAgainstKernel patches the Hop-by-Hop or Destination
// Options header of a UDP packet to a closed port (the UDP checksum does
// not cover it) and checks that OptsCheck says what the kernel's stack
// did: accepted (Udp6NoPorts), dropped, or dropped with a Parameter
// Problem (Icmp6OutParmProblems).
func TestOptsCheckAgainstKernel(t *testing.T) {
	fw := ipv6Host(t)
	base := `{"in":"eth0","src":"2001:db8:113::7","dst":"2001:db8:100::1","proto":"udp","sport":40000,"dport":9,"ext":[{"type":"%s","len":1}]}`
	tests := []struct {
		name string
		opts []byte // the 14 bytes after the header's first two
	}{
		{"as built", nil},
		{"unknown option, skip", []byte{0x1e, 12, 12: 0}},
		{"unknown option, drop", []byte{0x5e, 12, 12: 0}},
		{"unknown option, parameter problem", []byte{0x9e, 12, 12: 0}},
		{"unknown option, parameter problem unless multicast", []byte{0xde, 12, 12: 0}},
		{"padn not zero", []byte{1, 12, 5: 1, 12: 0}},
		{"padding of 8", []byte{1, 6, 0, 0, 0, 0, 0, 0, 0x1e, 4, 0, 0, 0, 0}},
		{"padding of 7", []byte{1, 5, 0, 0, 0, 0, 0, 0x1e, 5, 0, 0, 0, 0, 0}},
		{"pad1 runs", []byte{0, 0, 0, 0, 0, 0, 0, 0x1e, 5, 0, 0, 0, 0, 0}},
		{"option past the end", []byte{0x1e, 13, 12: 0}},
		{"router alert", []byte{5, 2, 0, 0, 1, 8, 0, 0, 0, 0, 0, 0, 0, 0}},
		{"router alert, wrong length", []byte{5, 3, 0, 0, 0, 1, 6, 0, 0, 0, 0, 0, 0, 0}},
		{"nine options", []byte{0x1e, 0, 0x1e, 0, 0x1e, 0, 0x1e, 0, 0x1e, 0, 0x1e, 0, 0x1e, 0}},
		{"jumbo, payload length set", []byte{0, 0, 0xc2, 4, 0, 1, 0, 0, 1, 4, 0, 0, 0, 0}},
		{"jumbo, misaligned", []byte{0xc2, 4, 0, 1, 0, 0, 1, 6, 0, 0, 0, 0, 0, 0}},
	}
	for _, typ := range []string{"hbh", "dst"} {
		for _, tt := range tests {
			d, err := ParseDescLine([]byte(fmt.Sprintf(base, typ)))
			if err != nil {
				t.Fatal(err)
			}
			b, err := d.Build(0)
			if err != nil {
				t.Fatal(err)
			}
			copy(b[42:56], tt.opts)
			v, _ := OptsCheck(b, 40, typ == "hbh", false)
			if v == OptsUnknownOption {
				v = OptsParamProb // the counters tell no code
			}
			before := snmp6(t, fw)
			if err := fw.Inject("eth0", b); err != nil {
				t.Fatal(err)
			}
			var after map[string]int64
			for try := 0; try < 10; try++ {
				time.Sleep(20 * time.Millisecond)
				after = snmp6(t, fw)
				if after["Udp6NoPorts"] > before["Udp6NoPorts"] || after["Icmp6OutParmProblems"] > before["Icmp6OutParmProblems"] {
					break
				}
			}
			got := OptsDrop
			switch {
			case after["Udp6NoPorts"] > before["Udp6NoPorts"]:
				got = OptsOK
			case after["Icmp6OutParmProblems"] > before["Icmp6OutParmProblems"]:
				got = OptsParamProb
			}
			if got != v {
				t.Errorf("%s, %s: kernel %d, OptsCheck %d (0 accepted, 1 dropped, 2 parameter problem)", typ, tt.name, got, v)
			}
		}
	}
}
