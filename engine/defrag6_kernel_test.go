package engine

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/ipsift/ipsift/internal/kernel"
	"github.com/ipsift/ipsift/packet"
)

// defragRules count, in raw PREROUTING (after nf_defrag_ipv6 at -400),
// packets with a Fragment header and all packets; a conntrack rule
// makes IPv6 connection tracking, and so reassembly, active.
const defragRules = `*raw
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A PREROUTING -m frag
-A PREROUTING
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A FORWARD -m conntrack --ctstate INVALID,NEW,ESTABLISHED,RELATED,UNTRACKED
COMMIT
`

// TestKernelDefrag6 checks add6 against nf_defrag_ipv6: what raw
// PREROUTING sees of whole datagrams, fragments, atomic fragments,
// overlaps and fragments not a multiple of 8 bytes, how a forwarded
// datagram leaves (refragmented along the geometry it came in), and the
// Time Exceeded a timed-out queue with its first fragment draws.
func TestKernelDefrag6(t *testing.T) {
	fw := kernel.NewFirewallWith(t, kernel.NFT, kernel.Options{IPv6: true})
	if err := fw.Restore6(defragRules); err != nil {
		t.Fatal(err)
	}
	if err := fw.AddNeighbour("wlan0", f6dst); err != nil {
		t.Fatal(err)
	}
	raw := func() (frag, all uint64) {
		t.Helper()
		c, err := fw.Counters6()
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range c {
			if k.Table == "raw" && k.Chain == "PREROUTING" {
				switch k.Rule {
				case 1:
					frag = v.Packets
				case 2:
					all = v.Packets
				}
			}
		}
		return
	}
	// send injects pkts on eth0 and returns how many of them raw saw
	// with a Fragment header and in all, and what left on wlan0; ipsift
	// must agree.
	d := newDefragmenter()
	id := uint32(100)
	send := func(what string, pkts ...[]byte) [][]byte {
		t.Helper()
		f0, a0 := raw()
		var iFrag, iAll uint64
		var want [][]byte
		for _, b := range pkts {
			b = append([]byte(nil), b...)
			binary32(b, id) // a datagram of its own each time
			if err := fw.Inject("eth0", b); err != nil {
				t.Fatal(err)
			}
			p := dec6(t, b)
			v, whole, maxSize, sizes := d.add6(fragConntrackIn, "eth0", p, 0)
			switch v {
			case defrag6Pass:
				iAll++
				if p.FragID != 0 || p.MF || p.FragOff != 0 || bytes.Contains(b[6:7], []byte{44}) {
					iFrag++
				}
				want = append(want, hop(b))
			case defrag6Done:
				iAll++
				refragment6(hop(whole), sizes, maxSize, 0, func(f []byte) { want = append(want, f) })
			}
		}
		id++
		f1, a1 := raw()
		got, err := fw.Capture("wlan0")
		if err != nil {
			t.Fatal(err)
		}
		if f1-f0 != iFrag || a1-a0 != iAll {
			t.Errorf("%s: raw saw %d with a Fragment header of %d, ipsift %d of %d", what, f1-f0, a1-a0, iFrag, iAll)
		}
		if len(got) != len(want) {
			t.Errorf("%s: kernel sent %d packets, ipsift %d", what, len(got), len(want))
			return got
		}
		for i := range got {
			if !sameButID(got[i], want[i]) {
				t.Errorf("%s: packet %d\n kernel %x\n ipsift %x", what, i, got[i], want[i])
			}
		}
		return got
	}
	orig := datagram6(200, false, 0)
	fr := frags6(orig, 40, 104, 48)
	send("whole", orig)
	send("three fragments", fr[1], fr[2], fr[0])
	send("atomic fragment", frags6(orig, 40, 1000)[0])
	hb := datagram6(300, true, 0)
	send("fragments behind a hop-by-hop header", frags6(hb, 48, 96, 96)...)
	over := frags6(orig, 40, 96, 56)
	send("overlap", fr[0], over[1], fr[1], fr[2])
	odd := frags6(orig, 40, 100)
	send("not a multiple of 8", odd[0])
	send("duplicate", fr[1], fr[1], fr[0], fr[2])

	// Timeout: one second here instead of 60.
	if _, err := fw.Run("sysctl", "-qw", "net.netfilter.nf_conntrack_frag6_timeout=1"); err != nil {
		t.Fatal(err)
	}
	first := append([]byte(nil), fr[0]...)
	binary32(first, 999)
	if err := fw.Inject("eth0", first); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2500 * time.Millisecond)
	got, err := fw.CaptureAll()
	if err != nil {
		t.Fatal(err)
	}
	var te []byte
	for _, b := range got["eth0"] {
		if len(b) > 48 && b[6] == packet.ProtoICMPv6 && b[40] == 3 {
			te = b
		}
	}
	if te == nil || te[41] != 1 || !bytes.Equal(te[48:], first) {
		t.Errorf("time exceeded: %x (all: %v)", te, strings.Repeat("*", len(got["eth0"])))
	}
	dq := newDefragmenter()
	dq.add6(fragConntrackIn, "eth0", dec6(t, first), 0)
	if m := dq.takeTimeouts6(fragTime6); len(m) != 1 || !bytes.Equal(m[0].First, first) {
		t.Errorf("ipsift timeouts %+v", m)
	}
}

// binary32 sets a fragment's identification, if it has a Fragment
// header right after the IPv6 header or a Hop-by-Hop header.
func binary32(b []byte, id uint32) {
	at := -1
	switch {
	case b[6] == packet.ProtoFragment:
		at = 40
	case b[6] == packet.ProtoHopOpts && b[40] == packet.ProtoFragment:
		at = 48
	}
	if at >= 0 {
		b[at+4], b[at+5], b[at+6], b[at+7] = byte(id>>24), byte(id>>16), byte(id>>8), byte(id)
	}
}

// hop is b forwarded: the hop limit one less.
func hop(b []byte) []byte {
	b = append([]byte(nil), b...)
	b[7]--
	return b
}

// sameButID compares packets, the identification of a Fragment header
// (new at random when the kernel refragments) aside.
func sameButID(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	a, b = append([]byte(nil), a...), append([]byte(nil), b...)
	binary32(a, 0)
	binary32(b, 0)
	return bytes.Equal(a, b)
}
