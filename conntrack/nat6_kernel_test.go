package conntrack

import (
	"bytes"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/internal/kernel"
	"github.com/ipsift/ipsift/packet"
)

var (
	fwOut6 = netip.MustParseAddr("2001:db8:100::1")
	// masq6 is the address MASQUERADE and REDIRECT must pick on eth0
	// once natHost6's addresses are added: as old a prefix match with
	// 2001:db8:113::7 as 2001:db8:100::1, but added later, so first in
	// the kernel's list; 2001:db8:112::1 matches longer but is
	// deprecated.
	masq6 = netip.MustParseAddr("2001:db8:101::1")
)

// natHost6 are the IPv6 addresses of the kernel harness host with the
// two the NAT66 test adds to eth0, in the kernel's interface order.
var natHost6 = []HostAddr{
	{Addr: netip.IPv6Loopback(), PrefixLen: 128, Dev: "lo"},
	{Addr: netip.MustParseAddr("fe80::ff:fe00:1"), PrefixLen: 64, Dev: "eth0"},
	{Addr: fwOut6, PrefixLen: 64, Dev: "eth0"},
	{Addr: netip.MustParseAddr("2001:db8:112::1"), PrefixLen: 64, Dev: "eth0", Deprecated: true},
	{Addr: masq6, PrefixLen: 64, Dev: "eth0"},
	{Addr: netip.MustParseAddr("fe80::ff:fe00:2"), PrefixLen: 64, Dev: "wlan0"},
	{Addr: netip.MustParseAddr("2001:db8:2::1"), PrefixLen: 64, Dev: "wlan0"},
}

const natRules6 = `*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -d 2001:db8:100::1/128 -p tcp --dport 2222 -j DNAT --to-destination [2001:db8:2::50]:22
-A PREROUTING -d 2001:db8:100::1/128 -p tcp --dport 8080 -j DNAT --to-destination 2001:db8:2::10-2001:db8:2::40
-A PREROUTING -d 2001:db8:100::1/128 -p tcp --dport 8081 -j DNAT --to-destination 2001:db8:9:0:ffff:ffff:ffff:fff0-2001:db8:9:1::10
-A PREROUTING -d 2001:db8:100::1/128 -p udp --dport 5353 -j DNAT --to-destination [2001:db8:2::50]:53
-A PREROUTING -d 2001:db8:77::/64 -j NETMAP --to 2001:db8:2::/64
-A PREROUTING -i eth0 -p udp --dport 8443 -j REDIRECT --to-ports 443
-A POSTROUTING -s 2001:db8:2::/64 -o eth0 -p udp --dport 7000 -j SNAT --to-source 2001:db8:100::10-2001:db8:100::20
-A POSTROUTING -s 2001:db8:2::/64 -o eth0 -j MASQUERADE
COMMIT
`

// gatewayNAT6 is natRules6 for the router.
func gatewayNAT6(r *router) {
	r.addrs = natHost6
	pf := &ext.NATRequest{Kind: ext.NATDst, Range: ext.NATRange{Flags: ext.NATMapIPs | ext.NATProtoSpecified,
		MinAddr: server6, MaxAddr: server6, MinPort: 22, MaxPort: 22}}
	spread := &ext.NATRequest{Kind: ext.NATDst, Range: ext.NATRange{Flags: ext.NATMapIPs,
		MinAddr: netip.MustParseAddr("2001:db8:2::10"), MaxAddr: netip.MustParseAddr("2001:db8:2::40")}}
	wide := &ext.NATRequest{Kind: ext.NATDst, Range: ext.NATRange{Flags: ext.NATMapIPs,
		MinAddr: netip.MustParseAddr("2001:db8:9:0:ffff:ffff:ffff:fff0"), MaxAddr: netip.MustParseAddr("2001:db8:9:1::10")}}
	udpf := &ext.NATRequest{Kind: ext.NATDst, Range: ext.NATRange{Flags: ext.NATMapIPs | ext.NATProtoSpecified,
		MinAddr: server6, MaxAddr: server6, MinPort: 53, MaxPort: 53}}
	netmap := &ext.NATRequest{Kind: ext.NATDst, Netmap: true, Range: ext.NATRange{Flags: ext.NATMapIPs,
		MinAddr: netip.MustParseAddr("2001:db8:2::"), MaxAddr: netip.MustParseAddr("2001:db8:2::ffff:ffff:ffff:ffff")}}
	redirect := &ext.NATRequest{Kind: ext.NATDst, Redirect: true, Range: ext.NATRange{Flags: ext.NATProtoSpecified, MinPort: 443, MaxPort: 443}}
	snat := &ext.NATRequest{Kind: ext.NATSrc, Range: ext.NATRange{Flags: ext.NATMapIPs,
		MinAddr: netip.MustParseAddr("2001:db8:100::10"), MaxAddr: netip.MustParseAddr("2001:db8:100::20")}}
	masq := &ext.NATRequest{Kind: ext.NATSrc, Masquerade: true}
	r.pre = func(p *packet.Packet) *ext.NATRequest {
		if netip.MustParsePrefix("2001:db8:77::/64").Contains(p.Dst) {
			return netmap
		}
		if p.Proto == packet.ProtoUDP && p.DstPort == 8443 {
			return redirect
		}
		if p.Dst != fwOut6 {
			return nil
		}
		switch {
		case p.Proto == packet.ProtoTCP && p.DstPort == 2222:
			return pf
		case p.Proto == packet.ProtoTCP && p.DstPort == 8080:
			return spread
		case p.Proto == packet.ProtoTCP && p.DstPort == 8081:
			return wide
		case p.Proto == packet.ProtoUDP && p.DstPort == 5353:
			return udpf
		}
		return nil
	}
	r.post = func(p *packet.Packet, out string) *ext.NATRequest {
		if out != "eth0" || !netip.MustParsePrefix("2001:db8:2::/64").Contains(p.Src) {
			return nil
		}
		if p.Proto == packet.ProtoUDP && p.DstPort == 7000 {
			return snat
		}
		return masq
	}
}

// TestSelectSource6 checks the choice the NAT66 kernel test relies on,
// and the rules one by one.
func TestSelectSource6(t *testing.T) {
	for _, c := range []struct {
		dst, out string
		addrs    []HostAddr
		want     string
	}{
		{"2001:db8:113::7", "eth0", natHost6, "2001:db8:101::1"},
		// The outgoing interface beats a longer prefix elsewhere.
		{"2001:db8:2::99", "eth0", natHost6, "2001:db8:101::1"},
		// Link-local destinations: the outgoing interface's link-local.
		{"fe80::1", "wlan0", natHost6, "fe80::ff:fe00:2"},
		// Multicast: the outgoing interface's addresses only, the
		// appropriate scope.
		{"ff02::1", "eth0", natHost6, "fe80::ff:fe00:1"},
		{"ff0e::1", "wlan0", natHost6, "2001:db8:2::1"},
		// The same address first.
		{"2001:db8:2::1", "eth0", natHost6, "2001:db8:2::1"},
		// Only a deprecated address: still used.
		{"2001:db8:113::7", "eth0", []HostAddr{{Addr: netip.MustParseAddr("2001:db8:112::1"), PrefixLen: 64, Dev: "eth0", Deprecated: true}}, "2001:db8:112::1"},
		// Tentative addresses are not candidates.
		{"2001:db8:113::7", "eth0", []HostAddr{{Addr: netip.MustParseAddr("2001:db8:112::1"), PrefixLen: 64, Dev: "eth0", Tentative: true}}, ""},
		// Longest prefix, limited to the address's prefix length.
		{"2001:db8:113::7", "eth0", []HostAddr{
			{Addr: netip.MustParseAddr("2001:db8:113::1"), PrefixLen: 16, Dev: "eth0"},
			{Addr: netip.MustParseAddr("2001:db8:112::1"), PrefixLen: 64, Dev: "eth0"},
		}, "2001:db8:112::1"},
	} {
		got, ok := SelectSource6(netip.MustParseAddr(c.dst), c.out, c.addrs)
		if c.want == "" && ok || c.want != "" && got != netip.MustParseAddr(c.want) {
			t.Errorf("to %s out %s: %v %v, want %s", c.dst, c.out, got, ok, c.want)
		}
	}
	eth0 := natHost6[1:5]
	for _, c := range []struct{ dst, want string }{
		{"2001:db8:100::1", "2001:db8:101::1"}, // the global added last
		{"fe80::ff:fe00:1", "fe80::ff:fe00:1"},
		{"ff02::1", "fe80::ff:fe00:1"},
		{"fec0::1", ""}, // no site-local address
	} {
		got, ok := RedirectAddr6(netip.MustParseAddr(c.dst), eth0)
		if c.want == "" && ok || c.want != "" && got != netip.MustParseAddr(c.want) {
			t.Errorf("redirect to %s: %v %v, want %s", c.dst, got, ok, c.want)
		}
	}
}

// TestKernelNAT66 sends the same IPv6 packets through the kernel with
// natRules6 and through the router with gatewayNAT6, and requires the
// same packets out, byte for byte, and the same table.
func TestKernelNAT66(t *testing.T) {
	start := time.Now()
	fw := kernel.NewFirewallWith(t, kernel.NFT, kernel.Options{IPv6: true})
	if err := fw.Restore6(stateRules + natRules6); err != nil {
		t.Fatal(err)
	}
	if err := fw.AddNeighbour("wlan0", server6); err != nil {
		t.Fatal(err)
	}
	for i := 0x10; i <= 0x40; i++ {
		if err := fw.AddNeighbour("wlan0", netip.MustParseAddr(fmt.Sprintf("2001:db8:2::%x", i))); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range [][]string{
		{"2001:db8:112::1/64", "dev", "eth0", "nodad", "preferred_lft", "0"},
		{"2001:db8:101::1/64", "dev", "eth0", "nodad"},
	} {
		if _, err := fw.Run(append([]string{"ip", "-6", "addr", "add"}, a...)...); err != nil {
			t.Fatal(err)
		}
	}
	// The MLD reports for the new addresses' groups go now, not into
	// a capture below.
	time.Sleep(300 * time.Millisecond)
	if _, err := fw.CaptureAll(); err != nil {
		t.Fatal(err)
	}
	r := newRouter(t, DefaultConfig())
	gatewayNAT6(r)
	n := &natPair{t: t, fw: fw, r: r}

	gw6 := router6
	n.same("port forward SYN", "eth0", tcpSegment(client6, fwOut6, 40000, 2222, "S", 1000, 0, 8192, wscaleOpt(7), 0))
	n.same("port forward SYN/ACK", "wlan0", tcpSegment(server6, client6, 22, 40000, "SA", 5000, 1001, 8192, wscaleOpt(7), 0))
	n.same("port forward ACK", "eth0", tcpSegment(client6, fwOut6, 40000, 2222, "A", 1001, 5001, 8192, nil, 0))
	n.same("port forward data", "wlan0", tcpSegment(server6, client6, 22, 40000, "PA", 5001, 1001, 8192, nil, 33))
	quoted := tcpSegment(fwOut6, client6, 2222, 40000, "PA", 5001, 1001, 8192, nil, 33)
	n.same("time exceeded about the port forward", "eth0", icmpError(gw6, fwOut6, 3, 0, quoted, false))
	n.same("packet too big quoting the whole segment", "eth0", icmpError(gw6, fwOut6, 2, 0, quoted, true))

	n.same("masquerade SYN", "wlan0", tcpSegment(server6, client6, 33000, 80, "S", 1, 0, 8192, nil, 0))
	n.same("masquerade SYN/ACK", "eth0", tcpSegment(client6, masq6, 80, 33000, "SA", 7, 2, 8192, nil, 0))
	n.same("masquerade UDP", "wlan0", udpDatagram(server6, client6, 33001, 53, 20))
	n.same("port unreachable", "eth0", icmpError(client6, masq6, 1, 4, udpDatagram(masq6, client6, 33001, 53, 20), false))
	n.same("udp forward", "eth0", udpDatagram(client6, fwOut6, 40001, 5353, 10))
	n.same("udp forward reply", "wlan0", udpDatagram(server6, client6, 53, 40001, 10))
	n.same("masqueraded ping", "wlan0", icmpMsg(server6, client6, 128, 0, 4321, 1, []byte("abcdefgh")))
	n.same("masqueraded ping reply", "eth0", icmpMsg(client6, masq6, 129, 0, 4321, 1, []byte("abcdefgh")))
	n.same("time exceeded about the ping", "eth0", icmpError(gw6, masq6, 3, 0, icmpMsg(masq6, client6, 128, 0, 4321, 1, []byte("abcdefgh")), false))
	n.same("netmap", "eth0", udpDatagram(client6, netip.MustParseAddr("2001:db8:77::50"), 40002, 53, 4))
	n.same("netmap reply", "wlan0", udpDatagram(server6, client6, 53, 40002, 4))
	for i := 1; i <= 16; i++ {
		src := netip.MustParseAddr(fmt.Sprintf("2001:db8:113::%x", i))
		n.same(fmt.Sprintf("spread from %s", src), "eth0", tcpSegment(src, fwOut6, uint16(50000+i), 8080, "S", 1000, 0, 8192, nil, 0))
		n.same(fmt.Sprintf("wide spread from %s", src), "eth0", tcpSegment(src, fwOut6, uint16(51000+i), 8081, "S", 1000, 0, 8192, nil, 0))
	}
	for i := 0x10; i < 0x20; i++ {
		src := netip.MustParseAddr(fmt.Sprintf("2001:db8:2::%x", i))
		// Distinct ports: a clash would draw a random port.
		n.same(fmt.Sprintf("snat range from %s", src), "wlan0", udpDatagram(src, client6, uint16(30000+i), 7000, 4))
	}
	// REDIRECT to the host: compare the tables only.
	n.send("eth0", udpDatagram(client6, fwOut6, 40003, 8443, 4), udpDatagram(client6, fwOut6, 40003, 8443, 4))
	if _, err := fw.CaptureAll(); err != nil {
		t.Fatal(err)
	}

	klist, ilist := kernelListing(t, fw, "ipv6"), listing(r.tb)
	if !sameListing(klist, ilist, clockSlack(start)) {
		t.Errorf("kernel table:\n%sipsift table:\n%s", join2(klist), join2(ilist))
	}
	if !bytes.Contains([]byte(join2(klist)), []byte("src="+masq6.String()+" dst=2001:db8:113::7 sport=443 dport=40003")) {
		t.Errorf("REDIRECT did not pick %s:\n%s", masq6, join2(klist))
	}
}
