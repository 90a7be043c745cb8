package conntrack

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/ipsift/ipsift/packet"
)

// TestManipPkt4: manipPkt4 rewrites IPv4 TCP and UDP packets to the
// same bytes and decoded fields as manipPkt with the inverted tuple,
// whole or cut short, UDP with and without a checksum, either
// manipulation.
func TestManipPkt4(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	compared, failed := 0, 0
	for i := range 20000 {
		proto := uint8(protoTCP)
		if rng.IntN(2) == 0 {
			proto = protoUDP
		}
		hl := 20
		l4len := 8 + rng.IntN(60)
		if proto == protoTCP {
			l4len = 20 + rng.IntN(60)
		}
		total := hl + l4len
		b := make([]byte, total)
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		b[0], b[9] = 0x45, proto
		b[6], b[7] = 0, 0 // not a fragment
		binary.BigEndian.PutUint16(b[2:], uint16(total))
		if proto == protoUDP {
			binary.BigEndian.PutUint16(b[hl+4:], uint16(l4len))
			if rng.IntN(4) == 0 {
				b[hl+6], b[hl+7] = 0, 0
			}
		} else {
			b[hl+12] = 5 << 4
		}
		if rng.IntN(5) == 0 {
			b = b[:hl+rng.IntN(l4len)] // cut short (a quoted packet's view)
		}
		var r Tuple
		for j := range 4 {
			r.Src[j], r.Dst[j] = byte(rng.Uint32()), byte(rng.Uint32())
		}
		r.SrcPort, r.DstPort, r.Proto = uint16(rng.Uint32()), uint16(rng.Uint32()), proto
		manip := rng.IntN(2)
		b1, b2 := bytes.Clone(b), bytes.Clone(b)
		// The view Translate passes (decoded, or for a cut packet the
		// header's lengths over the bytes there are).
		p1 := packet.Packet{Version: 4, Data: b1, HdrLen: hl, TotalLen: total}
		p2 := packet.Packet{Version: 4, Data: b2, HdrLen: hl, TotalLen: total}
		target, _ := r.Invert()
		ok1 := manipPkt(p1.Data, p1.HdrLen, p1.TotalLen, &target, manip, &p1)
		ok2 := manipPkt4(&p2, &r, manip)
		compared++
		if !ok1 {
			failed++
		}
		if ok1 != ok2 || !bytes.Equal(b1, b2) || p1.Src != p2.Src || p1.Dst != p2.Dst || p1.SrcPort != p2.SrcPort || p1.DstPort != p2.DstPort {
			t.Fatalf("case %d (proto %d manip %d len %d): manipPkt %v %x %v:%d>%v:%d, manipPkt4 %v %x %v:%d>%v:%d", i, proto, manip, len(b),
				ok1, b1, p1.Src, p1.SrcPort, p1.Dst, p1.DstPort, ok2, b2, p2.Src, p2.SrcPort, p2.Dst, p2.DstPort)
		}
	}
	if compared < 15000 || failed == 0 || failed > compared/2 {
		t.Errorf("%d cases compared, %d refused: the cases do not cover both", compared, failed)
	}
}
