package conntrack

import (
	"testing"

	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/packet"
)

// BenchmarkTrackMasqueraded: one packet of an established, masqueraded
// UDP flow (original direction): Track, both Translates (the source
// rewritten, checksums updated), Confirm. 0 allocs/op.
func BenchmarkTrackMasqueraded(b *testing.B) {
	tb := New(DefaultConfig())
	var p packet.Packet
	p.Decode(udpDatagram(server, client, 5000, 53, 0))
	e, _, _ := tb.Track(&p, sec)
	tb.SetupNullNAT(e, ext.NATDst)
	if err := tb.SetupNAT(e, &ext.NATRequest{Kind: ext.NATSrc, Masquerade: true}, fwOut); err != nil {
		b.Fatal(err)
	}
	tb.Translate(e, false, ext.NATSrc, &p)
	tb.Confirm(e, sec)
	orig := udpDatagram(server, client, 5000, 53, 100)
	buf := make([]byte, len(orig))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		copy(buf, orig)
		p.Decode(buf)
		e, _, reply := tb.Track(&p, sec)
		tb.Translate(e, reply, ext.NATDst, &p)
		if !tb.Translate(e, reply, ext.NATSrc, &p) || p.Src != fwOut {
			b.Fatal("not translated")
		}
		tb.Confirm(e, sec)
	}
}
