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

// natPair runs the same packets through the kernel and through ipsift's
// router with the same nat rules.
type natPair struct {
	t  *testing.T
	fw *kernel.Firewall
	r  *router
}

func newNATPair(t *testing.T) *natPair {
	fw := kernel.NewFirewall(t, kernel.NFT)
	if err := fw.Restore(stateRules + natRules); err != nil {
		t.Fatal(err)
	}
	for i := 11; i < 40; i++ {
		if err := fw.AddNeighbour("wlan0", netip.AddrFrom4([4]byte{192, 0, 2, byte(i)})); err != nil {
			t.Fatal(err)
		}
	}
	r := newRouter(t, DefaultConfig())
	gatewayNAT(r)
	return &natPair{t: t, fw: fw, r: r}
}

// send injects pkt into both and returns what left each: the state, the
// interface and the packet.
func (n *natPair) send(in string, kpkt, ipkt []byte) (kst, kif string, kout []byte, ist, iif string, iout []byte) {
	n.t.Helper()
	kst = kernelState(n.t, n.fw, in, kpkt)
	got, err := n.fw.CaptureAll()
	if err != nil {
		n.t.Fatal(err)
	}
	for ifn, pkts := range got {
		for _, p := range pkts {
			if kout != nil {
				n.t.Fatalf("kernel sent more than one packet (%s)", ifn)
			}
			kif, kout = ifn, p
		}
	}
	ist, iif, iout = n.r.forward(in, ipkt)
	return
}

// same sends pkt to both and requires identical results, bytes included.
func (n *natPair) same(what, in string, pkt []byte) []byte {
	n.t.Helper()
	kst, kif, kout, ist, iif, iout := n.send(in, pkt, pkt)
	if kst != ist || kif != iif || !bytes.Equal(kout, iout) {
		n.t.Errorf("%s:\n kernel %s out %s %s\n ipsift %s out %s %s", what, kst, kif, show(kout), ist, iif, show(iout))
	}
	return iout
}

// clockSlack is how far the kernel's clock may have run on since start
// (ipsift's stands still), in whole seconds: the test's own duration,
// which on a loaded machine is well beyond the few seconds it takes on
// an idle one.
func clockSlack(start time.Time) int { return int(time.Since(start).Seconds()) + 2 }

func show(b []byte) string {
	if b == nil {
		return "(nothing)"
	}
	var p packet.Packet
	if err := p.Decode(b); err != nil {
		return fmt.Sprintf("%x", b)
	}
	return fmt.Sprintf("%s:%d > %s:%d proto %d %x", p.Src, p.SrcPort, p.Dst, p.DstPort, p.Proto, b)
}

func TestKernelNAT(t *testing.T) {
	start := time.Now()
	n := newNATPair(t)

	// Port forward: 198.51.100.1:2222 -> 192.0.2.50:22, replies back.
	n.same("port forward SYN", "eth0", tcpSegment(client, fwOut, 40000, 2222, "S", 1000, 0, 8192, wscaleOpt(7), 0))
	n.same("port forward SYN/ACK", "wlan0", tcpSegment(server, client, 22, 40000, "SA", 5000, 1001, 8192, wscaleOpt(7), 0))
	n.same("port forward ACK", "eth0", tcpSegment(client, fwOut, 40000, 2222, "A", 1001, 5001, 8192, nil, 0))
	n.same("port forward data", "wlan0", tcpSegment(server, client, 22, 40000, "PA", 5001, 1001, 8192, nil, 33))

	// An ICMP error from the outside router about a packet the
	// firewall sent the client: RELATED, translated inside and out.
	quoted := tcpSegment(fwOut, client, 2222, 40000, "PA", 5001, 1001, 8192, nil, 33)
	n.same("icmp error about the port forward", "eth0", icmpError(gateway, fwOut, 11, 0, quoted, false))
	n.same("icmp error quoting the whole segment", "eth0", icmpError(gateway, fwOut, 3, 4, quoted, true))

	// Masquerade: the source port is kept when free.
	n.same("masquerade SYN", "wlan0", tcpSegment(server, client, 33000, 80, "S", 1, 0, 8192, nil, 0))
	n.same("masquerade SYN/ACK", "eth0", tcpSegment(client, fwOut, 80, 33000, "SA", 7, 2, 8192, nil, 0))

	// Masquerade UDP, and the port unreachable that answers it.
	n.same("masquerade UDP", "wlan0", udpDatagram(server, client, 33001, 53, 20))
	n.same("port unreachable", "eth0", icmpError(client, fwOut, 3, 3, udpDatagram(fwOut, client, 33001, 53, 20), false))
	n.same("port unreachable, whole datagram", "eth0", icmpError(client, fwOut, 3, 3, udpDatagram(fwOut, client, 33001, 53, 20), true))

	// UDP forward with a port.
	n.same("udp forward", "eth0", udpDatagram(client, fwOut, 40001, 5353, 10))
	n.same("udp forward reply", "wlan0", udpDatagram(server, client, 53, 40001, 10))

	// Ping through the masquerade keeps its id while it is free.
	n.same("masqueraded ping", "wlan0", icmpMsg(server, client, 8, 0, 4321, 1, []byte("abcdefgh")))
	n.same("masqueraded ping reply", "eth0", icmpMsg(client, fwOut, 0, 0, 4321, 1, []byte("abcdefgh")))
	n.same("time exceeded about the ping", "eth0", icmpError(gateway, fwOut, 11, 0, icmpMsg(fwOut, client, 8, 0, 4321, 1, []byte("abcdefgh")), false))

	// A DNAT range: the address is jhash2 of the addresses, exactly.
	for i := 1; i <= 24; i++ {
		src := netip.AddrFrom4([4]byte{203, 0, 113, byte(i)})
		n.same(fmt.Sprintf("spread from %s", src), "eth0", tcpSegment(src, fwOut, uint16(50000+i), 8080, "S", 1000, 0, 8192, nil, 0))
	}

	// The same source port from a second inside host: the kernel picks
	// another port at random, ipsift from its seeded stream. Compare by
	// property, then answer each on its own port.
	pkt := tcpSegment(server2, client, 33000, 80, "S", 1, 0, 8192, nil, 0)
	kst, kif, kout, ist, iif, iout := n.send("wlan0", pkt, pkt)
	if kst != "NEW" || ist != "NEW" || kif != "eth0" || iif != "eth0" {
		t.Fatalf("clash SYN: kernel %s %s, ipsift %s %s", kst, kif, ist, iif)
	}
	kp, ip := decode(t, kout), decode(t, iout)
	for _, p := range []*packet.Packet{kp, ip} {
		if p.Src != fwOut || p.SrcPort == 33000 || p.SrcPort < 1024 || !p.L4ChecksumOK() || !p.IPChecksumOK() {
			t.Errorf("clash SYN left as %s", show(p.Data))
		}
	}
	kback := tcpSegment(client, fwOut, 80, kp.SrcPort, "SA", 7, 2, 8192, nil, 0)
	iback := tcpSegment(client, fwOut, 80, ip.SrcPort, "SA", 7, 2, 8192, nil, 0)
	kst, kif, kout, ist, iif, iout = n.send("eth0", kback, iback)
	want := tcpSegment(client, server2, 80, 33000, "SA", 7, 2, 8192, nil, 0)
	decTTL(want)
	if kst != "ESTABLISHED/REPLY" || ist != kst || kif != "wlan0" || iif != kif || !bytes.Equal(kout, want) || !bytes.Equal(iout, want) {
		t.Errorf("clash SYN/ACK:\n kernel %s %s %s\n ipsift %s %s %s\n want %s", kst, kif, show(kout), ist, iif, show(iout), show(want))
	}

	// The tables agree, but for the port the clash took.
	klist, ilist := kernelListing(t, n.fw), listing(n.r.tb)
	if len(klist) != len(ilist) {
		t.Errorf("kernel table:\n%sipsift table:\n%s", join2(klist), join2(ilist))
	}
	for i := range klist {
		// The kernel's clock ran on for a few seconds meanwhile.
		if i < len(ilist) && !sameListing(klist[i:i+1], ilist[i:i+1], clockSlack(start)) &&
			!bytes.Contains([]byte(klist[i]), []byte("src=192.0.2.10 dst=203.0.113.7 sport=33000")) {
			t.Errorf("kernel: %s\nipsift: %s", klist[i], ilist[i])
		}
	}
}

// TestKernelNullBindingClash checks the null binding's port change: a
// connection the firewall opens itself would have the reply tuple of a
// masqueraded one, so POSTROUTING gives it another source port although
// no nat rule matches it.
func TestKernelNullBindingClash(t *testing.T) {
	n := newNATPair(t)
	n.same("masquerade SYN", "wlan0", tcpSegment(server, client, 34000, 80, "S", 1, 0, 8192, nil, 0))
	pkt := tcpSegment(fwOut, client, 34000, 80, "S", 100, 0, 8192, nil, 0)
	if err := n.fw.SendLocal(pkt); err != nil {
		t.Fatal(err)
	}
	got, err := n.fw.Capture("eth0")
	if err != nil || len(got) != 1 {
		t.Fatalf("kernel sent %d packets (%v)", len(got), err)
	}
	_, iif, iout := n.r.local(pkt)
	kp, ip := decode(t, got[0]), decode(t, iout)
	for _, p := range []*packet.Packet{kp, ip} {
		if p.Src != fwOut || p.SrcPort == 34000 || p.SrcPort < 1024 || !p.L4ChecksumOK() {
			t.Errorf("local SYN left as %s", show(p.Data))
		}
	}
	if iif != "eth0" {
		t.Errorf("ipsift sent it out of %s", iif)
	}
	klist, ilist := kernelListing(t, n.fw), listing(n.r.tb)
	if len(klist) != 2 || len(ilist) != 2 {
		t.Errorf("kernel table:\n%sipsift table:\n%s", join2(klist), join2(ilist))
	}
}

// TestKernelHostRST checks the effect of the host's own answer: a SYN to
// a closed port of the firewall gets a RST from its stack, which
// conntrack sees at OUTPUT as the only reply, and deletes the
// connection.
func TestKernelHostRST(t *testing.T) {
	n := newNATPair(t)
	syn := tcpSegment(client, fwOut, 45000, 81, "S", 1000, 0, 8192, nil, 0)
	if err := n.fw.Inject("eth0", syn); err != nil {
		t.Fatal(err)
	}
	got, err := n.fw.Capture("eth0")
	if err != nil || len(got) != 1 {
		t.Fatalf("kernel sent %d packets (%v)", len(got), err)
	}
	rst := decode(t, got[0])
	if rst.TCPFlags != packet.TCPRst|packet.TCPAck {
		t.Fatalf("host answered %s", show(got[0]))
	}
	klist := kernelListing(t, n.fw)

	tb := n.r.tb
	p := decode(t, syn)
	e, st, _ := tb.Track(p, n.r.now)
	if st != ext.CTNew || !tb.Confirm(e, n.r.now) {
		t.Fatalf("SYN: %s", stateName(st, false))
	}
	e2, st, reply := tb.TrackLocal(decode(t, got[0]), n.r.now)
	if e2 != e || st != ext.CTEstablished || !reply {
		t.Errorf("host RST: %s", stateName(st, reply))
	}
	ilist := listing(tb)
	if !sameListing(klist, ilist, 2) || len(ilist) != 0 {
		t.Errorf("kernel table:\n%sipsift table:\n%s", join2(klist), join2(ilist))
	}
}
