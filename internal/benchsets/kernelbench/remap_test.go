package kernelbench

import (
	"encoding/binary"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipsift/ipsift/internal/benchsets"
)

// firstMatch is the index of the first rule matching p as iptables reads
// benchsets.Iptables's rules (ports only for tcp and udp), or -1.
func firstMatch(rules []benchsets.Rule, p benchsets.Packet) int {
	for i, r := range rules {
		if p.Src&prefixMask(r.SrcLen) != r.Src || p.Dst&prefixMask(r.DstLen) != r.Dst {
			continue
		}
		if !r.ProtoAny && p.Proto != r.Proto {
			continue
		}
		if !r.ProtoAny && (r.Proto == 6 || r.Proto == 17) &&
			(p.SPort < r.SPort[0] || p.SPort > r.SPort[1] || p.DPort < r.DPort[0] || p.DPort > r.DPort[1]) {
			continue
		}
		return i
	}
	return -1
}

// Remap must keep, for every packet, the first rule it matches: the
// kernel then walks the same rules as ipsift does on the original set.
func TestRemapKeepsFirstMatch(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var rules []benchsets.Rule
	for i := 0; i < 300; i++ {
		ru := benchsets.Rule{SrcLen: uint8(r.IntN(33)), DstLen: uint8(r.IntN(33)), Proto: 6, SPort: [2]uint16{0, 65535}}
		// Few first octets, many of them unroutable, so prefixes overlap.
		ru.Src = (uint32(224+r.IntN(4))<<24 | r.Uint32()&0xffffff) & prefixMask(ru.SrcLen)
		ru.Dst = (uint32(r.IntN(3))<<24 | r.Uint32()&0xffffff) & prefixMask(ru.DstLen)
		lo := uint16(r.IntN(1000))
		ru.DPort = [2]uint16{lo, lo + uint16(r.IntN(500))}
		rules = append(rules, ru)
	}
	trace := benchsets.Trace(rules, 2000, 0, r)
	for i := range trace[:200] { // and some packets aimed at nothing
		trace[i].Src, trace[i].Dst = r.Uint32(), r.Uint32()
	}
	mr, mt, sx, dx := Remap(rules, trace)
	if sx == 0 || dx == 0 {
		t.Fatalf("Remap kept the unroutable first octets (xor %#x, %#x)", sx, dx)
	}
	before, after := 0, 0
	for i, p := range trace {
		if a, b := firstMatch(rules, p), firstMatch(mr, mt[i]); a != b {
			t.Fatalf("packet %d %+v: first match %d before the mapping, %d after (%+v)", i, p, a, b, mt[i])
		}
		if !Forwardable(p) {
			before++
		}
		if !Forwardable(mt[i]) {
			after++
		}
	}
	if after >= before || after > 200 {
		t.Errorf("unforwardable packets: %d before Remap, %d after", before, after)
	}
}

func TestForwardable(t *testing.T) {
	ip := func(a, b, c, d uint32) uint32 { return a<<24 | b<<16 | c<<8 | d }
	ok := ip(10, 1, 2, 3)
	for _, c := range []struct {
		src, dst uint32
		want     bool
	}{
		{ok, ip(172, 16, 0, 1), true},
		{ip(0, 1, 2, 3), ok, false},
		{ok, ip(127, 0, 0, 1), false},
		{ip(224, 0, 0, 5), ok, false},
		{ok, ip(240, 1, 1, 1), false},
		{ok, ip(255, 255, 255, 255), false},
		{ip(198, 51, 100, 7), ok, false}, // the firewall's eth0 subnet
		{ok, ip(192, 0, 2, 9), false},    // its wlan0 subnet
		{ip(198, 51, 101, 7), ok, true},
	} {
		if got := Forwardable(benchsets.Packet{Src: c.src, Dst: c.dst}); got != c.want {
			t.Errorf("Forwardable(%08x > %08x) = %v, want %v", c.src, c.dst, got, c.want)
		}
	}
}

func TestFrames(t *testing.T) {
	dst := net.HardwareAddr{2, 0, 0, 0, 0, 2}
	src := net.HardwareAddr{2, 0, 0, 0, 2, 1}
	trace := []benchsets.Packet{
		{Src: 0x0a000001, Dst: 0x0b000001, SPort: 1, DPort: 80, Proto: 6},
		{Src: 0x7f000001, Dst: 0x0b000001, Proto: 17}, // left out
		{Src: 0x0a000002, Dst: 0x0b000002, Proto: 255},
	}
	frames, left, err := Frames(trace, 5, dst, src)
	if err != nil {
		t.Fatal(err)
	}
	if left != 1 || len(frames) != 5 {
		t.Fatalf("%d frames, %d left out; want 5 and 1", len(frames), left)
	}
	for i, f := range frames {
		want := trace[[]int{0, 2}[i%2]]
		if string(f[0:6]) != string(dst) || string(f[6:12]) != string(src) || f[12] != 8 || f[13] != 0 {
			t.Errorf("frame %d: Ethernet header % x", i, f[:14])
		}
		ip := f[14:]
		if binary.BigEndian.Uint32(ip[12:]) != want.Src || binary.BigEndian.Uint32(ip[16:]) != want.Dst || ip[9] != want.Proto {
			t.Errorf("frame %d: IP header % x, want %+v", i, ip[:20], want)
		}
		var sum uint32
		for j := 0; j < 20; j += 2 {
			sum += uint32(binary.BigEndian.Uint16(ip[j:]))
		}
		for sum > 0xffff {
			sum = sum&0xffff + sum>>16
		}
		if sum != 0xffff {
			t.Errorf("frame %d: IP header checksum does not add up (%04x)", i, sum)
		}
	}
}

// On the real data Remap must leave out far fewer than the 74% of
// fw1_8k's trace the original addresses lose.
func TestRemapClassBench(t *testing.T) {
	shared := os.Getenv("IPSIFT_SHARED")
	if shared == "" {
		t.Skip("set IPSIFT_SHARED for the ClassBench files")
	}
	set, err := ClassBench(filepath.Join(shared, "bench", "classbench"), "fw1_8k", 0, 10000, 0)
	if err != nil {
		t.Fatal(err)
	}
	bad := 0
	for _, p := range set.Trace {
		if !Forwardable(p) {
			bad++
		}
	}
	if bad*100 > 20*len(set.Trace) {
		t.Errorf("fw1_8k: %d of %d trace packets still unforwardable after Remap", bad, len(set.Trace))
	}
}

func TestMakeSetNames(t *testing.T) {
	shared := os.Getenv("IPSIFT_SHARED")
	if shared == "" {
		t.Skip("set IPSIFT_SHARED for the ClassBench files")
	}
	for _, c := range []struct {
		name  string
		rules int
	}{{"fw1_gen1000", 1000}, {"ipc1_gen10000", 10000}, {"acl1_1k", 959}, {"ipc1_8k_zipf", 7534}, {"blocklist_100k_uniform", 100003}} {
		set, err := makeSet(filepath.Join(shared, "bench", "classbench"), c.name, 100)
		if err != nil {
			t.Fatal(err)
		}
		if set.Name != c.name || set.Rules != c.rules {
			t.Errorf("makeSet(%s): %s of %d rules, want %d", c.name, set.Name, set.Rules, c.rules)
		}
		if got := strings.Count(set.Text, "\n-A FORWARD "); got != c.rules {
			t.Errorf("makeSet(%s): %d rules written, want %d", c.name, got, c.rules)
		}
		if strings.Contains(set.Text, ":FORWARD DROP") || strings.Contains(set.Text, "/32 -j DROP") {
			t.Errorf("makeSet(%s): a DROP in the kernel's set: packets would not arrive", c.name)
		}
	}
}
