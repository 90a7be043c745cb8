package sim

import (
	"net/netip"
	"testing"

	"github.com/ipsift/ipsift/engine"
	"github.com/ipsift/ipsift/load"
	"github.com/ipsift/ipsift/packet"
)

// TestIPv6ProtoAllHotdrop checks "-p 0" ("-p all") on ip6tables: legacy
// still sets IP6T_F_PROTO, so ip6_packet_match walks the extension
// headers and hotdrops a packet whose walk fails (a truncated AH here:
// no counter rises); iptables-nft writes no protocol expression and the
// rule matches (found by TestKernelDiff, legacy, seed
// 1796621322108886236).
func TestIPv6ProtoAllHotdrop(t *testing.T) {
	rs := "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n" +
		"-A FORWARD -i wlan0 -p 0 -j DROP\nCOMMIT\n"
	d := packet.Desc{In: "wlan0", Src: netip.MustParseAddr("2001:db8:2::10"), Dst: netip.MustParseAddr("2001:db8:1:ffff:ffff:ffff:ffff:ffff"), Proto: 51, Len: 7}
	for _, legacy := range []bool{true, false} {
		r4 := load.Bytes("r4.rules", []byte(filterAccept), load.Options{Legacy: legacy})
		r6 := load.Bytes("r6.rules", []byte(rs), load.Options{Family: 2, Legacy: legacy})
		if r6.Diags.HasErrors() {
			t.Fatalf("%v", r6.Diags)
		}
		e, err := engine.New(r4.Rules, nil, engine.Config{Rules6: r6.Rules6, Legacy: legacy})
		if err != nil {
			t.Fatal(err)
		}
		r, err := New(e).Run(0, d)
		if err != nil {
			t.Fatal(err)
		}
		hits := len(r.Hits)
		if r.Verdict != "drop" || legacy && hits != 0 || !legacy && (hits != 1 || r.Hits[0].Chain != "FORWARD" || r.Hits[0].Rule != 1) {
			t.Errorf("legacy %v: %s", legacy, r.JSON())
		}
	}
}
