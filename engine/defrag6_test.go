package engine

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/ipsift/ipsift/packet"
)

var (
	f6src = netip.MustParseAddr("2001:db8:113::7")
	f6dst = netip.MustParseAddr("2001:db8:2::50")
)

// datagram6 is an IPv6 UDP datagram of n payload bytes (each its own
// offset mod 251) behind a Hop-by-Hop header when hbh, checksummed.
func datagram6(n int, hbh bool, tclass uint8) []byte {
	l4 := make([]byte, 8+n)
	binary.BigEndian.PutUint16(l4[0:], 40000)
	binary.BigEndian.PutUint16(l4[2:], 53)
	binary.BigEndian.PutUint16(l4[4:], uint16(len(l4)))
	for i := 8; i < len(l4); i++ {
		l4[i] = byte(i % 251)
	}
	binary.BigEndian.PutUint16(l4[6:], packet.ChecksumFinish(packet.ChecksumAdd(packet.PseudoHeaderSum6(f6src, f6dst, 17, len(l4)), l4)))
	var ext []byte
	next := uint8(17)
	if hbh {
		ext = []byte{17, 0, 1, 4, 0, 0, 0, 0}
		next = 0
	}
	b := make([]byte, 40, 40+len(ext)+len(l4))
	b[0], b[1] = 0x60|tclass>>4, tclass<<4
	binary.BigEndian.PutUint16(b[4:], uint16(len(ext)+len(l4)))
	b[6], b[7] = next, 64
	s, d := f6src.As16(), f6dst.As16()
	copy(b[8:], s[:])
	copy(b[24:], d[:])
	b = append(b, ext...)
	return append(b, l4...)
}

// frags6 cuts datagram d (unfragmentable part hlen bytes) into
// fragments of the given data sizes (the last takes the rest), id 7.
func frags6(d []byte, hlen int, sizes ...int) [][]byte {
	payload := d[hlen:]
	nh := 6
	if hlen > 40 {
		nh = 40
	}
	var out [][]byte
	off := 0
	for i := 0; off < len(payload); i++ {
		n := len(payload) - off
		if i < len(sizes) && sizes[i] < n {
			n = sizes[i]
		}
		f := append([]byte(nil), d[:hlen]...)
		f[nh] = packet.ProtoFragment
		fo := uint16(off)
		if off+n < len(payload) {
			fo |= 1
		}
		fh := []byte{d[nh], 0, byte(fo >> 8), byte(fo), 0, 0, 0, 7}
		f = append(f, fh...)
		f = append(f, payload[off:off+n]...)
		binary.BigEndian.PutUint16(f[4:], uint16(len(f)-40))
		out = append(out, f)
		off += n
	}
	return out
}

func dec6(t *testing.T, b []byte) *packet.Packet {
	t.Helper()
	p := new(packet.Packet)
	if err := p.Decode(append([]byte(nil), b...)); err != nil {
		t.Fatal(err)
	}
	return p
}

var defrag6Names = map[defrag6]string{defrag6Pass: "pass", defrag6Held: "held", defrag6Drop: "drop", defrag6Done: "done"}

func TestDefrag6Reassembles(t *testing.T) {
	for _, hbh := range []bool{false, true} {
		orig := datagram6(200, hbh, 0)
		hlen := 40
		if hbh {
			hlen = 48
		}
		fr := frags6(orig, hlen, 104, 48)
		d := newDefragmenter()
		var whole []byte
		var maxSize int
		var sizes []int
		for i, idx := range []int{1, 2, 0} {
			v, w, m, s := d.add6(fragConntrackIn, "eth0", dec6(t, fr[idx]), 0)
			if want := map[bool]defrag6{false: defrag6Held, true: defrag6Done}[i == 2]; v != want {
				t.Fatalf("hbh %v, fragment %d: %s", hbh, idx, defrag6Names[v])
			}
			whole, maxSize, sizes = w, m, s
		}
		if !bytes.Equal(whole, orig) {
			t.Errorf("hbh %v: reassembled\n%x\nwant\n%x", hbh, whole, orig)
		}
		if maxSize != len(fr[0]) || len(sizes) != 3 || sizes[0] != 104 || sizes[1] != 48 {
			t.Errorf("frag_max_size %d (want %d), sizes %v", maxSize, len(fr[0]), sizes)
		}
		// Out again along the same geometry, with a new id.
		var out [][]byte
		refragment6(whole, sizes, maxSize, 7, func(f []byte) { out = append(out, f) })
		if len(out) != len(fr) {
			t.Fatalf("refragmented into %d", len(out))
		}
		for i := range out {
			if !bytes.Equal(out[i], fr[i]) {
				t.Errorf("refragment %d:\n%x\nwant\n%x", i, out[i], fr[i])
			}
		}
		if len(d.q6) != 0 {
			t.Errorf("%d queues left", len(d.q6))
		}
	}
}

func TestDefrag6Rules(t *testing.T) {
	orig := datagram6(200, false, 0)
	fr := frags6(orig, 40, 104, 48)
	run := func(name string, pkts [][]byte, want ...defrag6) *defragmenter {
		t.Helper()
		d := newDefragmenter()
		for i, b := range pkts {
			v, _, _, _ := d.add6(fragConntrackIn, "eth0", dec6(t, b), 0)
			if v != want[i] {
				t.Errorf("%s: packet %d %s, want %s", name, i, defrag6Names[v], defrag6Names[want[i]])
			}
		}
		return d
	}
	run("not a fragment", [][]byte{orig}, defrag6Pass)
	atomic := frags6(orig, 40, 1000)[0]
	// An atomic fragment is reassembled alone: its Fragment header goes.
	if d := run("atomic fragment", [][]byte{atomic}, defrag6Done); len(d.q6) != 0 {
		t.Errorf("queue left")
	}
	d0 := newDefragmenter()
	if _, w, _, _ := d0.add6(fragConntrackIn, "eth0", dec6(t, atomic), 0); !bytes.Equal(w, orig) {
		t.Errorf("atomic fragment reassembled as %x", w)
	}
	run("duplicate", [][]byte{fr[1], fr[1], fr[0], fr[2]}, defrag6Held, defrag6Held, defrag6Held, defrag6Done)
	// Overlap: the queue goes, and the rest never completes.
	over := frags6(orig, 40, 96, 56)
	run("overlap", [][]byte{fr[0], over[1], fr[1], fr[2]}, defrag6Held, defrag6Drop, defrag6Held, defrag6Held)
	// A fragment with MF whose data is not a multiple of 8 bytes passes
	// on, and its queue is dropped.
	odd := frags6(orig, 40, 100)
	d := run("not a multiple of 8", [][]byte{fr[1], odd[0], fr[0], fr[2]}, defrag6Held, defrag6Pass, defrag6Held, defrag6Held)
	if len(d.q6) != 1 {
		t.Errorf("odd fragment: %d queues", len(d.q6))
	}
	// Two last fragments that disagree.
	short := frags6(datagram6(190, false, 0), 40, 104, 48)
	run("second last fragment", [][]byte{fr[2], short[2]}, defrag6Held, defrag6Drop)
	// A first fragment cut inside its UDP header passes untouched.
	cut := frags6(orig, 40, 8)[0][:40+8+4]
	binary.BigEndian.PutUint16(cut[4:], 12)
	run("truncated first fragment", [][]byte{cut}, defrag6Pass)
	// Fragments from two interfaces are two queues.
	d = newDefragmenter()
	d.add6(fragConntrackIn, "eth0", dec6(t, fr[0]), 0)
	d.add6(fragConntrackIn, "wlan0", dec6(t, fr[1]), 0)
	if v, _, _, _ := d.add6(fragConntrackIn, "eth0", dec6(t, fr[2]), 0); v != defrag6Held || len(d.q6) != 2 {
		t.Errorf("two interfaces: %s, %d queues", defrag6Names[v], len(d.q6))
	}
	// ECN: not-ECT with ECT fragments is dropped at reassembly.
	e0 := frags6(datagram6(200, false, 0x01), 40, 104, 48)
	run("ecn mix", [][]byte{e0[0], fr[1], e0[2]}, defrag6Held, defrag6Held, defrag6Held)
	// ECT and CE: CE.
	ce := frags6(datagram6(200, false, 0x03), 40, 104, 48)
	ect := frags6(datagram6(200, false, 0x02), 40, 104, 48)
	d = newDefragmenter()
	d.add6(fragConntrackIn, "eth0", dec6(t, ce[0]), 0)
	d.add6(fragConntrackIn, "eth0", dec6(t, ect[1]), 0)
	if _, w, _, _ := d.add6(fragConntrackIn, "eth0", dec6(t, ect[2]), 0); w == nil || w[1]>>4&3 != 3 {
		t.Errorf("ecn CE: %x", w)
	}
}

// TestDefrag6Timeout: a queue lives 60 s; one whose first fragment came
// draws a Time Exceeded quoting that fragment, one without does not.
func TestDefrag6Timeout(t *testing.T) {
	orig := datagram6(200, false, 0)
	fr := frags6(orig, 40, 104, 48)
	other := frags6(datagram6(300, false, 0), 40, 104, 48)
	binary.BigEndian.PutUint32(other[1][44:], 8) // another id
	d := newDefragmenter()
	d.add6(fragConntrackIn, "eth0", dec6(t, fr[0]), 1e9)
	d.add6(fragConntrackIn, "eth0", dec6(t, fr[1]), 2e9)
	d.add6(fragConntrackIn, "eth0", dec6(t, other[1]), 3e9)
	if got := d.takeTimeouts6(60e9); len(got) != 0 {
		t.Errorf("early: %v", got)
	}
	got := d.takeTimeouts6(61e9)
	if len(got) != 1 || !bytes.Equal(got[0].First, fr[0]) || got[0].In != "eth0" || got[0].At != 61e9 {
		t.Fatalf("timeouts %+v", got)
	}
	if len(d.q6) != 1 {
		t.Errorf("%d queues", len(d.q6))
	}
	// A fragment after the timeout starts a new queue; the old
	// one's message is not sent twice.
	if v, _, _, _ := d.add6(fragConntrackIn, "eth0", dec6(t, fr[2]), 62e9); v != defrag6Held {
		t.Errorf("after timeout: %s", defrag6Names[v])
	}
	if got := d.takeTimeouts6(200e9); len(got) != 0 {
		t.Errorf("later: %+v", got)
	}
}

// TestRefragment6SlowPath: pieces that do not fit the size are cut
// evenly, 8-byte aligned, the unfragmentable part repeated.
func TestRefragment6SlowPath(t *testing.T) {
	orig := datagram6(3000, true, 0)
	var out [][]byte
	refragment6(orig, []int{2000, 1008}, 1500, 9, func(f []byte) { out = append(out, f) })
	if len(out) != 3 {
		t.Fatalf("%d fragments", len(out))
	}
	d := newDefragmenter()
	var whole []byte
	for _, f := range out {
		if len(f) > 1500 || f[6] != 0 || f[40] != packet.ProtoFragment {
			t.Errorf("fragment %x...", f[:56])
		}
		_, w, _, _ := d.add6(fragConntrackOut, "", dec6(t, f), 0)
		if w != nil {
			whole = w
		}
	}
	if !bytes.Equal(whole, orig) {
		t.Errorf("round trip differs")
	}
}
