package engine

import (
	"bytes"
	"testing"

	"github.com/ipsift/ipsift/packet"
)

// TestFragmentAndReassemble splits a datagram as ip_do_fragment does and
// reassembles the pieces (in any order) into the same bytes.
func TestFragmentAndReassemble(t *testing.T) {
	d, err := packet.ParseShort("wlan0 udp 192.0.2.20:30440 > 203.0.113.50:33434 len=100")
	if err != nil {
		t.Fatal(err)
	}
	orig, err := d.Build(7)
	if err != nil {
		t.Fatal(err)
	}
	var pieces [][]byte
	fragment(orig, 60, func(f []byte) { pieces = append(pieces, f) })
	if len(pieces) != 3 {
		t.Fatalf("%d pieces of a %d-byte datagram at 60 bytes, want 3", len(pieces), len(orig))
	}
	for i, f := range pieces {
		var p packet.Packet
		if err := p.Decode(f); err != nil {
			t.Fatalf("piece %d: %v", i, err)
		}
		if len(f) > 60 || (i < 2) != p.MF || !p.IPChecksumOK() {
			t.Errorf("piece %d: %d bytes, MF %v, checksum ok %v", i, len(f), p.MF, p.IPChecksumOK())
		}
	}
	dq := newDefragmenter()
	var whole []byte
	for _, i := range []int{2, 0, 1} {
		var p packet.Packet
		p.Decode(pieces[i])
		w, maxLen := dq.add(&p, 0)
		if w != nil {
			whole = w
			if maxLen != 60 {
				t.Errorf("largest fragment %d, want 60", maxLen)
			}
		}
	}
	if !bytes.Equal(whole, orig) {
		t.Errorf("reassembled:\n%x\nwant:\n%x", whole, orig)
	}
}
