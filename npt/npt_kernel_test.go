package npt

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/ipsift/ipsift/internal/kernel"
	"github.com/ipsift/ipsift/packet"
)

const nptRules = `*mangle
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -i eth0 -d 2001:db8:55::/64 -j DNPT --src-pfx 2001:db8:55::/64 --dst-pfx 2001:db8:2::/64
-A POSTROUTING -o eth0 -s 2001:db8:2::/64 -j SNPT --src-pfx 2001:db8:2::/64 --dst-pfx 2001:db8:55::/64
COMMIT
`

func udp6(src, dst netip.Addr, sport, dport uint16) []byte {
	l4 := make([]byte, 12)
	binary.BigEndian.PutUint16(l4[0:], sport)
	binary.BigEndian.PutUint16(l4[2:], dport)
	binary.BigEndian.PutUint16(l4[4:], 12)
	copy(l4[8:], "npt!")
	binary.BigEndian.PutUint16(l4[6:], packet.ChecksumFinish(packet.ChecksumAdd(packet.PseudoHeaderSum6(src, dst, 17, 12), l4)))
	return ip6(src, dst, 17, l4)
}

// TestKernelNPT checks SNPT and DNPT against the kernel: forwarded
// packets both ways, an ICMPv6 error whose quoted packet is translated
// back, and a source whose words after the /64 are all 0xffff, which
// the kernel drops with a parameter problem quoting the packet with its
// prefix already replaced.
func TestKernelNPT(t *testing.T) {
	fw := kernel.NewFirewallWith(t, kernel.NFT, kernel.Options{IPv6: true})
	if err := fw.Restore6(nptRules); err != nil {
		t.Fatal(err)
	}
	inside := netip.MustParseAddr("2001:db8:2::50")
	allOnes := netip.MustParseAddr("2001:db8:2:0:ffff:ffff:ffff:ffff")
	client := netip.MustParseAddr("2001:db8:113::7")
	for _, a := range []netip.Addr{inside, allOnes} {
		if err := fw.AddNeighbour("wlan0", a); err != nil {
			t.Fatal(err)
		}
	}
	snpt := mustNew(t, "2001:db8:2::/64", "2001:db8:55::/64")
	dnpt := mustNew(t, "2001:db8:55::/64", "2001:db8:2::/64")
	forward := func(what, in, out string, pkt []byte, tr Translation, dst bool) []byte {
		t.Helper()
		if err := fw.Inject(in, pkt); err != nil {
			t.Fatal(err)
		}
		got, err := fw.Capture(out)
		if err != nil || len(got) != 1 {
			t.Fatalf("%s: kernel sent %d packets on %s (%v)", what, len(got), out, err)
		}
		var p packet.Packet
		if err := p.Decode(append([]byte(nil), pkt...)); err != nil {
			t.Fatal(err)
		}
		p.Data[7]--
		var ok bool
		if dst {
			ok = tr.DNPT(&p)
		} else {
			ok = tr.SNPT(&p)
		}
		if !ok || !bytes.Equal(got[0], p.Data) {
			t.Errorf("%s:\n kernel %x\n ipsift %x (%v)", what, got[0], p.Data, ok)
		}
		return got[0]
	}
	out := forward("SNPT", "wlan0", "eth0", udp6(inside, client, 5000, 53), snpt, false)
	mapped := netip.AddrFrom16([16]byte(out[8:24]))
	forward("DNPT", "eth0", "wlan0", udp6(client, mapped, 53, 5000), dnpt, true)
	quoted := append([]byte(nil), out...)
	forward("DNPT of an error", "eth0", "wlan0", icmp6Err(client, mapped, quoted), dnpt, true)

	// All 0xffff after the prefix: dropped, with a parameter problem
	// to the source as it now is (prefix replaced), so by way of eth0
	// (and itself translated there, as it leaves from 2001:db8:2::1).
	bad := udp6(allOnes, client, 5001, 53)
	if err := fw.Inject("wlan0", bad); err != nil {
		t.Fatal(err)
	}
	got, err := fw.CaptureAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(got["eth0"]) != 1 || len(got["wlan0"]) != 0 {
		t.Fatalf("all-ones source: kernel sent %v", got)
	}
	pp := got["eth0"][0]
	var p packet.Packet
	p.Decode(append([]byte(nil), bad...))
	p.Data[7]--
	if snpt.SNPT(&p) {
		t.Fatal("SNPT of an all-ones source succeeded")
	}
	if len(pp) < 48+len(p.Data) || pp[40] != 4 || pp[41] != 0 || binary.BigEndian.Uint32(pp[44:]) != SrcOffset ||
		!bytes.Equal(pp[48:48+len(p.Data)], p.Data) {
		t.Errorf("parameter problem:\n kernel %x\n quoting what ipsift has %x", pp, p.Data)
	}
}
