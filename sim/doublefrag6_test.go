package sim

import (
	"testing"

	"github.com/ipsift/ipsift/engine"
	"github.com/ipsift/ipsift/load"
	"github.com/ipsift/ipsift/packet"
)

// TestIPv6SecondFragmentHeader checks ipv6_frag_rcv's refusal of a
// second Fragment header to the host: a parameter problem, code 0,
// pointing at that header (found by TestKernelDiff, nft, seed
// 1796621151710178898).
func TestIPv6SecondFragmentHeader(t *testing.T) {
	r4 := load.Bytes("r4.rules", []byte(filterAccept), load.Options{})
	r6 := load.Bytes("r6.rules", []byte("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n"), load.Options{Family: 2})
	e, err := engine.New(r4.Rules, nil, engine.Config{Rules6: r6.Rules6})
	if err != nil {
		t.Fatal(err)
	}
	s := New(e)
	d, err := packet.ParseShort("eth0 udp [2001:db8:300::5]:40000 > [2001:db8:100::1]:9 ext=frag/0/0/63,frag/0/0/4477")
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Run(0, d)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Out) != 1 || *r.Out[0].Type != 4 || *r.Out[0].Code != 0 || r.Out[0].Dst != "2001:db8:300::5" {
		t.Fatalf("second fragment header: %s", r.JSON())
	}
}
