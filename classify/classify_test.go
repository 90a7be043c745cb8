package classify

import (
	"math/rand/v2"
	"testing"
)

// randomRule draws tests from small value sets so that packets often
// pass them and rules collide in buckets.
func randomRule(r *rand.Rand) Rule {
	ru := Any()
	lens := []uint32{0, 1, 8, 16, 24, 28, 31, 32}
	m := func() uint32 {
		l := lens[r.IntN(len(lens))]
		if r.IntN(10) == 0 {
			return r.Uint32() // a mask that is no prefix
		}
		if l == 0 {
			return 0
		}
		return ^uint32(0) << (32 - l)
	}
	ru.SrcMask, ru.DstMask = m(), m()
	ru.Src, ru.Dst = addrs[r.IntN(len(addrs))]&ru.SrcMask, addrs[r.IntN(len(addrs))]&ru.DstMask
	ru.InvSrc, ru.InvDst = r.IntN(8) == 0, r.IntN(8) == 0
	if r.IntN(4) != 0 {
		ru.HasProto, ru.Proto, ru.InvProto = true, []uint8{0, 1, 6, 17}[r.IntN(4)], r.IntN(8) == 0
	}
	port := func() uint16 { return []uint16{0, 22, 53, 80, 443, 1024, 8080, 65535}[r.IntN(8)] }
	if r.IntN(2) == 0 {
		a, b := port(), port()
		ru.NarrowDPort(min(a, b), max(a, b))
	}
	if r.IntN(3) == 0 {
		a, b := port(), port()
		ru.NarrowSPort(min(a, b), max(a, b))
	}
	if r.IntN(6) == 0 {
		ru.NarrowTCPFlags(uint8(r.IntN(64)), uint8(r.IntN(64)), r.IntN(3) == 0)
	}
	if r.IntN(6) == 0 {
		ru.NarrowICMP(uint8(r.IntN(4)), uint8(r.IntN(3)), uint8(r.IntN(4)))
	}
	if r.IntN(5) == 0 {
		ru.NarrowMark(uint32(r.IntN(4)), uint32(r.IntN(4)))
	}
	return ru
}

// randomRule6 is randomRule with IPv6 addresses.
func randomRule6(r *rand.Rand) Rule {
	ru := randomRule(r)
	ru.IPv6 = true
	ru.Src, ru.SrcMask, ru.Dst, ru.DstMask = 0, 0, 0, 0
	lens := []uint8{0, 1, 16, 32, 48, 64, 65, 100, 127, 128}
	m := func() Addr6 {
		if r.IntN(10) == 0 {
			return Addr6{r.Uint64(), r.Uint64()} // no prefix
		}
		return mask128(lens[r.IntN(len(lens))])
	}
	ru.SrcMask6, ru.DstMask6 = m(), m()
	ru.Src6, ru.Dst6 = addrs6[r.IntN(len(addrs6))].and(ru.SrcMask6), addrs6[r.IntN(len(addrs6))].and(ru.DstMask6)
	return ru
}

var addrs6 = []Addr6{{0, 0}, {0x20010db800020000, 0x10}, {0x20010db800020000, 0x11}, {0x20010db800020001, 0x200},
	{0x20010db801000000, 9}, {0x20010db801130000, 0x8000000000000130}, {^uint64(0), ^uint64(0)}, {1 << 63, 0}}

func randomKey6(r *rand.Rand) Key {
	k := randomKey(r)
	k.Src, k.Dst = 0, 0
	k.Src6 = addrs6[r.IntN(len(addrs6))]
	k.Dst6 = addrs6[r.IntN(len(addrs6))]
	k.Src6[1] ^= uint64(r.IntN(4))
	k.Dst6[0] ^= uint64(r.IntN(2)) << 20
	return k
}

var addrs = []uint32{0, 0xc0000201, 0xc0000202, 0xc00002ff, 0xc6336401, 0xcb007100, 0xffffffff, 0x80000000}

func randomKey(r *rand.Rand) Key {
	return Key{
		Src: addrs[r.IntN(len(addrs))] ^ uint32(r.IntN(4)), Dst: addrs[r.IntN(len(addrs))] ^ uint32(r.IntN(4)),
		SPort: []uint16{0, 22, 53, 80, 443, 1024, 8080, 65535, 7}[r.IntN(9)],
		DPort: []uint16{0, 22, 53, 80, 443, 1024, 8080, 65535, 7}[r.IntN(9)],
		Proto: []uint8{1, 6, 17, 47}[r.IntN(4)], TCPFlags: uint8(r.IntN(64)),
		ICMPType: uint8(r.IntN(4)), ICMPCode: uint8(r.IntN(4)), Mark: uint32(r.IntN(4)),
	}
}

// TestNextAgreesWithLinear checks Next against trying every Rule in
// order, from every start position, over random rule sets of many
// sizes and bucket bounds.
func TestNextAgreesWithLinear(t *testing.T) { testAgrees(t, randomRule, randomKey) }

// TestNextAgreesWithLinear6 is TestNextAgreesWithLinear with IPv6 rules.
func TestNextAgreesWithLinear6(t *testing.T) { testAgrees(t, randomRule6, randomKey6) }

func testAgrees(t *testing.T, randomRule func(*rand.Rand) Rule, randomKey func(*rand.Rand) Key) {
	r := rand.New(rand.NewPCG(1, 2))
	cut := 0 // rounds whose tables were cut
	defer func() {
		if cut == 0 {
			t.Errorf("no rule set was cut: the test misses cutAt")
		}
	}()
	for round := 0; round < 300; round++ {
		n := r.IntN(200)
		if round%50 == 0 {
			n = 3000
		}
		rules := make([]Rule, n)
		for i := range rules {
			rules[i] = randomRule(r)
		}
		p := Params{Bucket: 1 + r.IntN(10)}
		if round%2 == 0 {
			bigTable = 8 // tables count as big from 8 rules: more cuts
		}
		c := Build(rules, p)
		bigTable = 8192
		samples = 0
		if Build(rules, p).Tables() != c.Tables() {
			cut++
		}
		samples = 2048
		for q := 0; q < 200; q++ {
			k := randomKey(r)
			from := 0
			if n > 0 && q%2 == 1 {
				from = r.IntN(n + 1)
			}
			want := n
			for i := from; i < n; i++ {
				if rules[i].Match(&k) {
					want = i
					break
				}
			}
			if got := c.Next(&k, from); got != want {
				t.Fatalf("round %d: Next(%+v, %d) = %d, linear says %d (rule %+v)", round, k, from, got, want, rules[min(want, got)])
			}
		}
	}
}

func TestNarrow(t *testing.T) {
	r := Any()
	r.NarrowDPort(10, 20)
	r.NarrowDPort(15, 30)
	if r.DPort != [2]uint16{15, 20} || r.Never {
		t.Fatalf("ports %v never %v", r.DPort, r.Never)
	}
	r.NarrowDPort(25, 30)
	if !r.Never {
		t.Fatal("disjoint ranges must make the rule Never")
	}
	r = Any()
	r.NarrowMark(0x4000, 0x4000)
	r.NarrowMark(0x1, 0xf)
	if r.Never || r.Mark != 0x4001 || r.MarkMask != 0x400f {
		t.Fatalf("mark %#x/%#x never %v", r.Mark, r.MarkMask, r.Never)
	}
	r.NarrowMark(0x0, 0x4000)
	if !r.Never {
		t.Fatal("contradicting marks must make the rule Never")
	}
	r = Any()
	r.NarrowMark(0x10, 0x1)
	if !r.Never {
		t.Fatal("a value outside its mask matches nothing")
	}
	if c := Build([]Rule{r, Any()}, Params{}); c.Next(&Key{}, 0) != 1 {
		t.Fatal("a Never rule must not be found")
	}
}

// FuzzNext compares Next with trying every rule in order on rule sets
// and keys drawn from the fuzzer's seeds (IPv6 when six is odd).
func FuzzNext(f *testing.F) {
	f.Add(uint64(1), uint64(2), uint16(40), uint8(0))
	f.Add(uint64(3), uint64(4), uint16(900), uint8(1))
	f.Fuzz(func(t *testing.T, s1, s2 uint64, n uint16, six uint8) {
		r := rand.New(rand.NewPCG(s1, s2))
		rule, key := randomRule, randomKey
		if six&1 == 1 {
			rule, key = randomRule6, randomKey6
		}
		rules := make([]Rule, int(n%2000))
		for i := range rules {
			rules[i] = rule(r)
		}
		c := Build(rules, Params{Bucket: 1 + int(six>>1)%20})
		for q := 0; q < 50; q++ {
			k := key(r)
			from := r.IntN(len(rules) + 1)
			want := len(rules)
			for i := from; i < len(rules); i++ {
				if rules[i].Match(&k) {
					want = i
					break
				}
			}
			if got := c.Next(&k, from); got != want {
				t.Fatalf("Next(%+v, %d) = %d, linear says %d", k, from, got, want)
			}
		}
	})
}
