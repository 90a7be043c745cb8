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
		w, maxLen, _ := dq.add(&p, 0)
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

// frag describes one fragment for the defragmenter tests: its data
// starts at byte off of the datagram's payload and holds n bytes, each
// (off+i)%251, so that reassembled data shows where it came from.
type frag struct {
	off, n int
	mf, df bool
	tos    uint8
	id     uint16 // 0: 7
	src    byte   // last byte of the source; 0: 9
	ttl    uint8  // 0: 64
	at     int64  // engine clock, ns
	user   fragUser
	fill   byte // when not 0, every data byte is fill instead
}

func (f frag) build() []byte {
	b := make([]byte, 20+f.n)
	b[0] = 0x45
	b[1] = f.tos
	b[2], b[3] = byte(len(b)>>8), byte(len(b))
	id := f.id
	if id == 0 {
		id = 7
	}
	b[4], b[5] = byte(id>>8), byte(id)
	fo := uint16(f.off / 8)
	if f.mf {
		fo |= 0x2000
	}
	if f.df {
		fo |= 0x4000
	}
	b[6], b[7] = byte(fo>>8), byte(fo)
	b[8] = 64
	if f.ttl != 0 {
		b[8] = f.ttl
	}
	b[9] = 17
	src := f.src
	if src == 0 {
		src = 9
	}
	copy(b[12:], []byte{203, 0, 113, src})
	copy(b[16:], []byte{192, 0, 2, 10})
	for i := 0; i < f.n; i++ {
		b[20+i] = byte((f.off + i) % 251)
		if f.fill != 0 {
			b[20+i] = f.fill
		}
	}
	return b
}

// feed gives the fragments to d in order and returns what each add
// returned.
func feed(t *testing.T, d *defragmenter, frags []frag) (wholes [][]byte, maxLens []int) {
	t.Helper()
	for i, f := range frags {
		var p packet.Packet
		if err := p.Decode(f.build()); err != nil {
			t.Fatalf("fragment %d: %v", i, err)
		}
		w, m, _ := d.addFor(f.user, &p, f.at)
		wholes = append(wholes, w)
		maxLens = append(maxLens, m)
	}
	return wholes, maxLens
}

const sec = int64(1_000_000_000)

func TestDefrag(t *testing.T) {
	for _, tc := range []struct {
		name  string
		frags []frag
		// done is the index of the fragment that completes the
		// datagram, -1 for none; then the datagram's payload length,
		// TOS, DF, TTL and largest fragment.
		done   int
		plen   int
		tos    uint8
		df     bool
		ttl    uint8
		maxLen int
	}{
		{name: "in order", frags: []frag{{off: 0, n: 16, mf: true}, {off: 16, n: 16, mf: true}, {off: 32, n: 5}},
			done: 2, plen: 37, maxLen: 36},
		{name: "out of order, last first", frags: []frag{{off: 32, n: 5}, {off: 0, n: 16, mf: true}, {off: 16, n: 16, mf: true}},
			done: 2, plen: 37, maxLen: 36},
		{name: "out of order, middle last", frags: []frag{{off: 0, n: 16, mf: true}, {off: 32, n: 5}, {off: 16, n: 16, mf: true}},
			done: 2, plen: 37, maxLen: 36},
		{name: "reverse", frags: []frag{{off: 24, n: 3}, {off: 16, n: 8, mf: true}, {off: 8, n: 8, mf: true}, {off: 0, n: 8, mf: true}},
			done: 3, plen: 27, maxLen: 28},
		{name: "header from the offset-0 fragment", frags: []frag{{off: 8, n: 8, ttl: 9}, {off: 0, n: 8, mf: true, ttl: 33}},
			done: 1, plen: 16, ttl: 33, maxLen: 28},

		// Overlaps discard the whole queue; what follows starts anew.
		{name: "overlap at the head", frags: []frag{{off: 8, n: 16, mf: true}, {off: 0, n: 16, mf: true}, {off: 24, n: 4}, {off: 0, n: 8, mf: true}},
			done: -1},
		{name: "overlap at the tail", frags: []frag{{off: 0, n: 16, mf: true}, {off: 8, n: 16}, {off: 16, n: 8}},
			done: -1},
		{name: "overlap in the middle", frags: []frag{{off: 0, n: 8, mf: true}, {off: 24, n: 8}, {off: 8, n: 24, mf: true}, {off: 8, n: 16, mf: true}},
			done: -1},
		{name: "overlap discards, then a whole set completes", frags: []frag{{off: 0, n: 16, mf: true}, {off: 8, n: 16}, {off: 0, n: 8, mf: true}, {off: 8, n: 8}},
			done: 3, plen: 16, maxLen: 28},
		{name: "partial duplicate", frags: []frag{{off: 0, n: 8, mf: true}, {off: 16, n: 8}, {off: 0, n: 16, mf: true}, {off: 8, n: 8, mf: true}},
			done: -1},

		// Duplicates are dropped; the queue stays.
		{name: "exact duplicate", frags: []frag{{off: 0, n: 8, mf: true}, {off: 0, n: 8, mf: true}, {off: 8, n: 8}},
			done: 2, plen: 16, maxLen: 28},
		{name: "duplicate last fragment", frags: []frag{{off: 8, n: 8}, {off: 8, n: 8}, {off: 0, n: 8, mf: true}},
			done: 2, plen: 16, maxLen: 28},
		{name: "duplicate keeps the first data", frags: []frag{{off: 0, n: 8, mf: true}, {off: 0, n: 8, mf: true, fill: 0xee}, {off: 8, n: 8}},
			done: 2, plen: 16, maxLen: 28},
		{name: "duplicate inside a run", frags: []frag{{off: 0, n: 8, mf: true}, {off: 8, n: 8, mf: true}, {off: 0, n: 16, mf: true}, {off: 16, n: 1}},
			done: 3, plen: 17, maxLen: 28}, // the duplicate counts for nothing
		{name: "spanning two runs overlaps", frags: []frag{{off: 8, n: 8, mf: true}, {off: 0, n: 8, mf: true}, {off: 0, n: 16, mf: true}, {off: 16, n: 1}},
			done: -1},

		// Lengths.
		{name: "MF data trimmed to 8", frags: []frag{{off: 0, n: 13, mf: true}, {off: 8, n: 4}},
			done: 1, plen: 12, maxLen: 28},
		{name: "MF data below 8 is no data", frags: []frag{{off: 8, n: 4}, {off: 0, n: 5, mf: true}, {off: 0, n: 8, mf: true}},
			done: -1},
		{name: "zero-length last fragment", frags: []frag{{off: 0, n: 8, mf: true}, {off: 8, n: 0}, {off: 8, n: 8}},
			done: -1},
		{name: "second last fragment disagrees", frags: []frag{{off: 16, n: 8}, {off: 16, n: 16}, {off: 0, n: 16, mf: true}},
			done: -1},
		{name: "last fragment before data held", frags: []frag{{off: 0, n: 24, mf: true}, {off: 8, n: 8}, {off: 8, n: 16}},
			done: -1},
		{name: "MF data beyond the last", frags: []frag{{off: 8, n: 8}, {off: 0, n: 24, mf: true}, {off: 0, n: 8, mf: true}},
			done: -1},
		{name: "oversize", frags: []frag{{off: 0, n: 65512, mf: true}, {off: 65512, n: 24}, {off: 65512, n: 24}},
			done: -1},
		{name: "largest size", frags: []frag{{off: 0, n: 65512, mf: true}, {off: 65512, n: 3}},
			done: 1, plen: 65515, maxLen: 65532},

		// ECN.
		{name: "ECN Not-ECT", frags: []frag{{off: 0, n: 8, mf: true}, {off: 8, n: 8}}, done: 1, plen: 16, maxLen: 28},
		{name: "ECN ECT(0)", frags: []frag{{off: 0, n: 8, mf: true, tos: 0x12}, {off: 8, n: 8, tos: 0x02}}, done: 1, plen: 16, tos: 0x12, maxLen: 28},
		{name: "ECN ECT(0) and CE", frags: []frag{{off: 0, n: 8, mf: true, tos: 0x02}, {off: 8, n: 8, tos: 0x03}}, done: 1, plen: 16, tos: 0x03, maxLen: 28},
		{name: "ECN ECT(1) and CE", frags: []frag{{off: 0, n: 8, mf: true, tos: 0x01}, {off: 8, n: 8, tos: 0x03}}, done: 1, plen: 16, tos: 0x03, maxLen: 28},
		{name: "ECN CE head and ECT(0)", frags: []frag{{off: 0, n: 8, mf: true, tos: 0x03}, {off: 8, n: 8, tos: 0x02}}, done: 1, plen: 16, tos: 0x03, maxLen: 28},
		{name: "ECN ECT(0) and ECT(1)", frags: []frag{{off: 0, n: 8, mf: true, tos: 0x02}, {off: 8, n: 8, tos: 0x01}}, done: 1, plen: 16, tos: 0x02, maxLen: 28},
		{name: "ECN all CE", frags: []frag{{off: 0, n: 8, mf: true, tos: 0x03}, {off: 8, n: 8, tos: 0x03}}, done: 1, plen: 16, tos: 0x03, maxLen: 28},
		{name: "ECN Not-ECT and ECT(0)", frags: []frag{{off: 0, n: 8, mf: true}, {off: 8, n: 8, tos: 0x02}}, done: -1},
		{name: "ECN Not-ECT and CE", frags: []frag{{off: 0, n: 8, mf: true, tos: 0x03}, {off: 8, n: 8}}, done: -1},
		{name: "ECN Not-ECT and ECT(1)", frags: []frag{{off: 0, n: 8, mf: true, tos: 0x01}, {off: 8, n: 8}}, done: -1},
		{name: "ECN of a duplicate does not count", frags: []frag{{off: 0, n: 8, mf: true}, {off: 0, n: 8, mf: true, tos: 0x03}, {off: 8, n: 8}},
			done: 2, plen: 16, maxLen: 28},

		// DF stays only when a DF fragment was the largest.
		{name: "all DF", frags: []frag{{off: 0, n: 16, mf: true, df: true}, {off: 16, n: 8, df: true}}, done: 1, plen: 24, df: true, maxLen: 36},
		{name: "largest DF", frags: []frag{{off: 0, n: 16, mf: true, df: true}, {off: 16, n: 8}}, done: 1, plen: 24, df: true, maxLen: 36},
		{name: "largest not DF", frags: []frag{{off: 0, n: 8, mf: true, df: true}, {off: 8, n: 16}}, done: 1, plen: 24, maxLen: 36},
		{name: "largest trimmed", frags: []frag{{off: 0, n: 15, mf: true, df: true}, {off: 8, n: 9}}, done: 1, plen: 17, maxLen: 29},

		// Time and separate queues.
		{name: "just in time", frags: []frag{{off: 8, n: 8}, {off: 0, n: 8, mf: true, at: 30*sec - 1}}, done: 1, plen: 16, maxLen: 28},
		{name: "timed out", frags: []frag{{off: 8, n: 8}, {off: 0, n: 8, mf: true, at: 30 * sec}, {off: 8, n: 8, at: 30 * sec}},
			done: 2, plen: 16, maxLen: 28},
		{name: "timed out, no completion", frags: []frag{{off: 8, n: 8}, {off: 0, n: 8, mf: true, at: 31 * sec}}, done: -1},
		{name: "users apart", frags: []frag{{off: 8, n: 8, user: fragLocalDeliver}, {off: 0, n: 8, mf: true}, {off: 8, n: 8, user: fragConntrackOut}}, done: -1},
		{name: "ids apart", frags: []frag{{off: 8, n: 8, id: 1}, {off: 0, n: 8, mf: true, id: 2}}, done: -1},
		{name: "after completion a new queue", frags: []frag{{off: 8, n: 8}, {off: 0, n: 8, mf: true}, {off: 8, n: 8}}, done: 1, plen: 16, maxLen: 28},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wholes, maxLens := feed(t, newDefragmenter(), tc.frags)
			for i, w := range wholes {
				if (w != nil) != (i == tc.done) {
					t.Fatalf("fragment %d: datagram %v, want %v", i, w != nil, i == tc.done)
				}
			}
			if tc.done < 0 {
				return
			}
			w := wholes[tc.done]
			var p packet.Packet
			if err := p.Decode(w); err != nil {
				t.Fatal(err)
			}
			ttl := tc.ttl
			if ttl == 0 {
				ttl = 64
			}
			if p.TotalLen != 20+tc.plen || len(w) != 20+tc.plen || p.MF || p.FragOff != 0 || p.DF != tc.df ||
				p.TOS != tc.tos || p.TTL != ttl || !p.IPChecksumOK() || p.ID != 7 {
				t.Errorf("header: length %d, MF %v, offset %d, DF %v, TOS %#x, TTL %d, id %d, checksum ok %v; want length %d, DF %v, TOS %#x, TTL %d",
					p.TotalLen, p.MF, p.FragOff, p.DF, p.TOS, p.TTL, p.ID, p.IPChecksumOK(), 20+tc.plen, tc.df, tc.tos, ttl)
			}
			for i, c := range w[20:] {
				if c != byte(i%251) {
					t.Errorf("payload byte %d is %#x, want %#x", i, c, byte(i%251))
					break
				}
			}
			if maxLens[tc.done] != tc.maxLen {
				t.Errorf("largest fragment %d, want %d", maxLens[tc.done], tc.maxLen)
			}
		})
	}
}

// TestDefragMaxDist: when more than ipfrag_max_dist (64) fragments came
// from the same source since a queue's last one, the queue starts again
// with the new fragment (ip_frag_too_far); other sources do not count.
func TestDefragMaxDist(t *testing.T) {
	for _, tc := range []struct {
		name    string
		between int
		src     byte
		done    bool
	}{
		{"63 between", 63, 9, true},
		{"64 between", 64, 9, false},
		{"64 from another source", 64, 10, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			frags := []frag{{off: 0, n: 8, mf: true}}
			for i := 0; i < tc.between; i++ {
				frags = append(frags, frag{off: 8, n: 8, id: uint16(100 + i), src: tc.src})
			}
			frags = append(frags, frag{off: 8, n: 8})
			wholes, _ := feed(t, newDefragmenter(), frags)
			if got := wholes[len(wholes)-1] != nil; got != tc.done {
				t.Errorf("complete %v, want %v", got, tc.done)
			}
		})
	}
	// After the restart the queue holds the new fragment alone: the
	// first one again completes it.
	frags := []frag{{off: 0, n: 8, mf: true}}
	for i := 0; i < 64; i++ {
		frags = append(frags, frag{off: 8, n: 8, id: uint16(100 + i)})
	}
	frags = append(frags, frag{off: 8, n: 8}, frag{off: 0, n: 8, mf: true})
	d := newDefragmenter()
	wholes, _ := feed(t, d, frags)
	if wholes[len(wholes)-1] == nil {
		t.Errorf("restarted queue did not complete")
	}
	// The queues that remain hold their source's peer; once none does,
	// the peer goes.
	if len(d.q) != 64 || len(d.peers) != 1 || d.peers[[4]byte{203, 0, 113, 9}].refs != 64 {
		t.Errorf("%d queues, %d peers", len(d.q), len(d.peers))
	}
	feed(t, d, []frag{{off: 0, n: 8, mf: true, id: 1, at: 31 * sec}})
	if len(d.q) != 1 || d.peers[[4]byte{203, 0, 113, 9}].refs != 1 {
		t.Errorf("after timeout: %d queues, %d peers", len(d.q), len(d.peers))
	}
}
