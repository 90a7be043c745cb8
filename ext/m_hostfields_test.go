package ext

import (
	"net/netip"
	"testing"
)

// Tests of the matches on addresses and on what the host knows of a
// packet: iprange, addrtype, mac, pkttype, and of comment, realm and ipvs.

func TestMatchIPRange(t *testing.T) {
	saves(t,
		"-m iprange --src-range 10.1-10.2.0.9", "-m iprange --src-range 10.1.0.0-10.2.0.9",
		"-m iprange ! --dst-range 192.0.2.010", "-m iprange ! --dst-range 192.0.2.8-192.0.2.8",
		"-m iprange --dst-range 2-1 --src-range 3-4", "-m iprange --src-range 3.0.0.0-4.0.0.0 --dst-range 2.0.0.0-1.0.0.0",
	)
	parseFails(t, "-m iprange", "-m iprange --src-range 1.2.3.4.5", "-m iprange --src-range host.example",
		"-m iprange --src-range 1.2.3.256", "-m iprange --src-range 2001:db8::1", "-m iprange --src-range 1.2.3.4-2001:db8::1")
	runPrintCases(t, []printCase{
		{"-m iprange ! --src-range 10.1-10.2.0.9 --dst-range 1.2.3.4", "iprange",
			" source IP range ! 10.1.0.0-10.2.0.9 destination IP range 1.2.3.4-1.2.3.4",
			" source IP range ! 10.1.0.0-10.2.0.9 destination IP range 1.2.3.4-1.2.3.4"},
	})
	p := udpPkt(1, 2) // 192.0.2.1 -> 198.51.100.2
	runMatchCases(t, []matchCase{
		{rule: "-m iprange --src-range 192.0.2.1-192.0.2.9", name: "iprange", pkt: p, want: true},
		{rule: "-m iprange --src-range 192.0.2.2-192.0.2.9", name: "iprange", pkt: p},
		{rule: "-m iprange ! --src-range 192.0.2.2-192.0.2.9", name: "iprange", pkt: p, want: true},
		{rule: "-m iprange --src-range 192.0.2.0-192.0.2.255 --dst-range 198.51.100.3-198.51.100.9", name: "iprange", pkt: p},
		{rule: "-m iprange --dst-range 198.51.100.2", name: "iprange", pkt: p, want: true},
		// A reversed range never matches.
		{rule: "-m iprange --dst-range 198.51.100.9-198.51.100.1", name: "iprange", pkt: p},
	})
}

// fakeHost answers AddrType from a table; dev-limited lookups see only
// the addresses of that device.
type fakeHost struct {
	types map[netip.Addr]int
	dev   map[netip.Addr]string
}

func (h fakeHost) AddrType(a netip.Addr, dev string) int {
	t, ok := h.types[a]
	if !ok || dev != "" && h.dev[a] != dev {
		return 1
	}
	return t
}

func TestMatchAddrtype(t *testing.T) {
	saves(t,
		"-m addrtype --src-type local,multi --dst-type U", "-m addrtype --src-type LOCAL,MULTICAST --dst-type UNSPEC",
		"-m addrtype ! --dst-type BROADCAST --limit-iface-in", "-m addrtype ! --dst-type BROADCAST --limit-iface-in",
	)
	parseFails(t, "-m addrtype", "-m addrtype --src-type LOCALX", "-m addrtype --src-type LOCAL,",
		"-m addrtype --src-type LOCAL --limit-iface-out")
	if _, _, err := protoRule("-m addrtype --src-type LOCAL --limit-iface-in", "filter", "OUTPUT"); err == nil {
		t.Errorf("--limit-iface-in accepted in OUTPUT")
	}
	runPrintCases(t, []printCase{
		{"-m addrtype ! --src-type LOCAL,MULTICAST --dst-type unicast --limit-iface-in", "addrtype",
			" ADDRTYPE match src-type !LOCAL,MULTICAST dst-type UNICAST limit-in",
			" ADDRTYPE match src-type !LOCAL,MULTICAST dst-type UNICAST limit-in"},
	})
	local := netip.MustParseAddr("198.51.100.2")
	h := fakeHost{types: map[netip.Addr]int{local: 2}, dev: map[netip.Addr]string{local: "eth1"}}
	host := func(c *Ctx) { c.Host = h; c.In = &Iface{Name: "eth0"} }
	hostEth1 := func(c *Ctx) { c.Host = h; c.In = &Iface{Name: "eth1"} }
	p := udpPkt(1, 2)
	runMatchCases(t, []matchCase{
		{rule: "-m addrtype --dst-type LOCAL", name: "addrtype", pkt: p, ctx: host, want: true},
		{rule: "-m addrtype --src-type LOCAL", name: "addrtype", pkt: p, ctx: host},
		{rule: "-m addrtype ! --src-type LOCAL --dst-type LOCAL", name: "addrtype", pkt: p, ctx: host, want: true},
		{rule: "-m addrtype --dst-type LOCAL --limit-iface-in", name: "addrtype", pkt: p, ctx: host},
		{rule: "-m addrtype --dst-type LOCAL --limit-iface-in", name: "addrtype", pkt: p, ctx: hostEth1, want: true},
		// Without a host model: the kernel's view of a bare host.
		{rule: "-m addrtype --dst-type UNICAST", name: "addrtype", pkt: p, want: true},
	})
	if bareAddrType(netip.MustParseAddr("255.255.255.255")) != 3 || bareAddrType(netip.MustParseAddr("0.1.2.3")) != 3 ||
		bareAddrType(netip.MustParseAddr("224.0.0.1")) != 5 || bareAddrType(netip.MustParseAddr("127.0.0.1")) != 2 {
		t.Errorf("bareAddrType is wrong")
	}
}

func TestMatchMAC(t *testing.T) {
	saves(t, "-m mac ! --mac-source 42:1:2:3:4:AB", "-m mac ! --mac-source 42:01:02:03:04:ab")
	parseFails(t, "-m mac", "-m mac --mac-source 42:01:02:03:04", "-m mac --mac-source 42:01:02:03:04:05:06",
		"-m mac --mac-source 42:01:02:03:04:123", "-m mac --mac-source 42:01:02:03:04:0g")
	if _, _, err := protoRule("-m mac --mac-source 42:01:02:03:04:05", "filter", "OUTPUT"); err == nil {
		t.Errorf("-m mac accepted in OUTPUT")
	}
	runPrintCases(t, []printCase{{"-m mac ! --mac-source 42:1:2:3:4:AB", "mac", " MAC ! 42:01:02:03:04:ab", " MAC ! 42:01:02:03:04:ab"}})
	mac := func(c *Ctx) { c.HasMAC, c.SrcMAC = true, [6]byte{0x42, 1, 2, 3, 4, 5} }
	runMatchCases(t, []matchCase{
		{rule: "-m mac --mac-source 42:01:02:03:04:05", name: "mac", pkt: udpPkt(1, 2), ctx: mac, want: true},
		{rule: "-m mac --mac-source 42:01:02:03:04:06", name: "mac", pkt: udpPkt(1, 2), ctx: mac},
		{rule: "-m mac ! --mac-source 42:01:02:03:04:06", name: "mac", pkt: udpPkt(1, 2), ctx: mac, want: true},
		// No Ethernet header: no match, inverted or not.
		{rule: "-m mac ! --mac-source 42:01:02:03:04:06", name: "mac", pkt: udpPkt(1, 2)},
	})
}

func TestMatchPkttype(t *testing.T) {
	saves(t,
		"-m pkttype --pkt-type host", "-m pkttype --pkt-type unicast",
		"-m pkttype ! --pkt-type BCAST", "-m pkttype ! --pkt-type broadcast",
		"-m pkttype --pkt-type otherhost", "-m pkttype --pkt-type otherhost",
	)
	parseFails(t, "-m pkttype", "-m pkttype --pkt-type anycast")
	runPrintCases(t, []printCase{
		{"-m pkttype ! --pkt-type bcast", "pkttype", " PKTTYPE != broadcast", " PKTTYPE != broadcast"},
		{"-m pkttype --pkt-type multicast", "pkttype", " PKTTYPE = multicast", " PKTTYPE = multicast"},
	})
	bcast := func(c *Ctx) { c.PktType = PktBroadcast }
	loop := func(c *Ctx) { c.PktType = PktLoopback }
	mcast := ipPkt(17, make([]byte, 8))
	mcast.Dst = netip.MustParseAddr("224.0.0.251")
	runMatchCases(t, []matchCase{
		{rule: "-m pkttype --pkt-type unicast", name: "pkttype", pkt: udpPkt(1, 2), want: true},
		{rule: "-m pkttype --pkt-type broadcast", name: "pkttype", pkt: udpPkt(1, 2), ctx: bcast, want: true},
		{rule: "-m pkttype ! --pkt-type broadcast", name: "pkttype", pkt: udpPkt(1, 2), ctx: bcast},
		{rule: "-m pkttype --pkt-type broadcast", name: "pkttype", pkt: udpPkt(1, 2), ctx: loop, want: true},
		{rule: "-m pkttype --pkt-type multicast", name: "pkttype", pkt: mcast, ctx: loop, want: true},
	})
}

func TestMatchComment(t *testing.T) {
	long := ""
	for len(long) < 300 {
		long += "x"
	}
	saves(t,
		"-m comment --comment allow-ssh", "-m comment --comment allow-ssh",
		`-m comment --comment "allow ssh"`, `-m comment --comment "allow ssh"`,
		"-m comment --comment "+long, "-m comment --comment "+long[:255],
	)
	parseFails(t, "-m comment", "-m comment ! --comment x")
	runPrintCases(t, []printCase{{`-m comment --comment "a b"`, "comment", " /* a b */", " /* a b */"}})
	runMatchCases(t, []matchCase{{rule: "-m comment --comment x", name: "comment", pkt: udpPkt(1, 2), want: true}})
}

func TestMatchRealmIPVS(t *testing.T) {
	saves(t,
		"-m realm --realm 0", "-m realm --realm cosmos",
		"-m realm ! --realm 5/0xff", "-m realm ! --realm 0x5/0xff",
		"-m ipvs --vaddr 192.0.2.1/255.255.255.0 --vport https", "-m ipvs --vaddr 192.0.2.1/24 --vport 443",
		"-m ipvs --vdir REPLY --vmethod masq", "-m ipvs --vdir REPLY --vmethod MASQ",
		"-m ipvs --ipvs --vproto udp", "-m ipvs --vproto 17",
	)
	parseFails(t, "-m realm", "-m realm --realm cosmos/7", "-m realm --realm foo", "-m ipvs",
		"-m ipvs ! --ipvs --vport 80", "-m ipvs --vdir SIDEWAYS", "-m ipvs ! --vdir REPLY", "-m ipvs --vmethod NAT")
	if _, _, err := protoRule("-m realm --realm 1", "nat", "PREROUTING"); err == nil {
		t.Errorf("-m realm accepted in PREROUTING")
	}
	runPrintCases(t, []printCase{
		{"-m realm ! --realm 0", "realm", " ! realm 0x0", " ! realm cosmos"},
		{"-m ipvs ! --vaddr 0.0.0.0/0", "ipvs", " ! vaddr 0.0.0.0/0", " ! vaddr anywhere"},
	})
	for _, r := range []string{"-m realm --realm 1", "-m ipvs --ipvs"} {
		name := "realm"
		if r[3] == 'i' {
			name = "ipvs"
		}
		if _, err := ruleMatch(t, r, name).Compile(NewCompiler(nil)); err == nil {
			t.Errorf("%q compiled; ipsift cannot evaluate it", r)
		}
	}
}
