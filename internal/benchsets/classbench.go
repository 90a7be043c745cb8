// Package benchsets makes the rule sets and traces of the classifier
// benchmarks (BENCHMARKS.md), all seeded: it reads ClassBench rule sets
// and traces (../shared/bench/classbench, README there), writes them as
// iptables rules and grows bigger sets in the same style, and generates
// the shapes ClassBench lacks (kube-proxy's chains, a blocklist).
package benchsets

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
)

// Rule is one ClassBench filter.
type Rule struct {
	Src, Dst       uint32
	SrcLen, DstLen uint8
	SPort, DPort   [2]uint16
	Proto          uint8 // 0 with ProtoAny
	ProtoAny       bool
}

// Packet is one trace header.
type Packet struct {
	Src, Dst     uint32
	SPort, DPort uint16
	Proto        uint8
}

// ParseRules reads a .rules file.
func ParseRules(text string) ([]Rule, error) {
	var out []Rule
	sc := bufio.NewScanner(strings.NewReader(text))
	for ln := 1; sc.Scan(); ln++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		f := strings.Fields(strings.TrimPrefix(line, "@"))
		// SRC DST SLO : SHI DLO : DHI PROTO FLAGS
		if len(f) < 9 || f[3] != ":" || f[6] != ":" {
			return nil, fmt.Errorf("line %d: not a ClassBench rule: %q", ln, line)
		}
		var r Rule
		var err error
		if r.Src, r.SrcLen, err = prefix(f[0]); err != nil {
			return nil, fmt.Errorf("line %d: %v", ln, err)
		}
		if r.Dst, r.DstLen, err = prefix(f[1]); err != nil {
			return nil, fmt.Errorf("line %d: %v", ln, err)
		}
		nums := make([]uint64, 4)
		for i, s := range []string{f[2], f[4], f[5], f[7]} {
			if nums[i], err = strconv.ParseUint(s, 10, 16); err != nil {
				return nil, fmt.Errorf("line %d: port %q: %v", ln, s, err)
			}
		}
		r.SPort = [2]uint16{uint16(nums[0]), uint16(nums[1])}
		r.DPort = [2]uint16{uint16(nums[2]), uint16(nums[3])}
		pv, pm, ok := strings.Cut(f[8], "/")
		if !ok {
			return nil, fmt.Errorf("line %d: protocol %q", ln, f[8])
		}
		p, err1 := strconv.ParseUint(pv, 0, 8)
		m, err2 := strconv.ParseUint(pm, 0, 8)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("line %d: protocol %q", ln, f[8])
		}
		r.Proto, r.ProtoAny = uint8(p&m), m == 0
		out = append(out, r)
	}
	return out, sc.Err()
}

func prefix(s string) (uint32, uint8, error) {
	a, l, ok := strings.Cut(s, "/")
	if !ok {
		return 0, 0, fmt.Errorf("prefix %q", s)
	}
	n, err := strconv.ParseUint(l, 10, 8)
	if err != nil || n > 32 {
		return 0, 0, fmt.Errorf("prefix length %q", l)
	}
	var v uint32
	parts := strings.Split(a, ".")
	if len(parts) != 4 {
		return 0, 0, fmt.Errorf("address %q", a)
	}
	for _, p := range parts {
		b, err := strconv.ParseUint(p, 10, 8)
		if err != nil {
			return 0, 0, fmt.Errorf("address %q", a)
		}
		v = v<<8 | uint32(b)
	}
	return v & mask(uint8(n)), uint8(n), nil
}

func mask(n uint8) uint32 {
	if n == 0 {
		return 0
	}
	return ^uint32(0) << (32 - n)
}

// ParseTrace reads a .trace file.
func ParseTrace(text string) ([]Packet, error) {
	var out []Packet
	sc := bufio.NewScanner(strings.NewReader(text))
	for ln := 1; sc.Scan(); ln++ {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if len(f) < 5 {
			return nil, fmt.Errorf("trace line %d: %q", ln, sc.Text())
		}
		var v [5]uint64
		for i := range v {
			var err error
			if v[i], err = strconv.ParseUint(f[i], 10, 32); err != nil {
				return nil, fmt.Errorf("trace line %d: %v", ln, err)
			}
		}
		out = append(out, Packet{uint32(v[0]), uint32(v[1]), uint16(v[2]), uint16(v[3]), uint8(v[4])})
	}
	return out, sc.Err()
}

// Expanded is a ClassBench rule as iptables can write it: any protocol
// with port ranges that are not the whole range becomes a tcp rule and a
// udp rule (README "As iptables rules").
func Expanded(rules []Rule) []Rule {
	var out []Rule
	for _, r := range rules {
		if r.ProtoAny && (!full(r.SPort) || !full(r.DPort)) {
			t, u := r, r
			t.Proto, t.ProtoAny = 6, false
			u.Proto, u.ProtoAny = 17, false
			out = append(out, t, u)
			continue
		}
		if !r.ProtoAny && r.Proto != 6 && r.Proto != 17 {
			// ports mean nothing to iptables for other protocols
			r.SPort, r.DPort = [2]uint16{0, 0xffff}, [2]uint16{0, 0xffff}
		}
		out = append(out, r)
	}
	return out
}

func full(r [2]uint16) bool { return r[0] == 0 && r[1] == 0xffff }

func addr(v uint32) string {
	return fmt.Sprintf("%d.%d.%d.%d", v>>24, v>>16&0xff, v>>8&0xff, v&0xff)
}

// Iptables writes the rules (expand them first) as an iptables-restore
// filter table: the rules in chain, each jumping to target, the chain
// called from FORWARD.
func Iptables(rules []Rule, chain, target string) string {
	var b strings.Builder
	b.WriteString("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n")
	if chain != "FORWARD" {
		fmt.Fprintf(&b, ":%s - [0:0]\n-A FORWARD -j %s\n", chain, chain)
	}
	for _, r := range rules {
		fmt.Fprintf(&b, "-A %s -s %s/%d -d %s/%d", chain, addr(r.Src), r.SrcLen, addr(r.Dst), r.DstLen)
		if !r.ProtoAny {
			fmt.Fprintf(&b, " -p %d", r.Proto)
			if r.Proto == 6 || r.Proto == 17 {
				name := map[uint8]string{6: "tcp", 17: "udp"}[r.Proto]
				if !full(r.SPort) || !full(r.DPort) {
					fmt.Fprintf(&b, " -m %s", name)
				}
				if !full(r.SPort) {
					fmt.Fprintf(&b, " --sport %s", ports(r.SPort))
				}
				if !full(r.DPort) {
					fmt.Fprintf(&b, " --dport %s", ports(r.DPort))
				}
			}
		}
		fmt.Fprintf(&b, " -j %s\n", target)
	}
	b.WriteString("COMMIT\n")
	return b.String()
}

func ports(r [2]uint16) string {
	if r[0] == r[1] {
		return strconv.Itoa(int(r[0]))
	}
	return fmt.Sprintf("%d:%d", r[0], r[1])
}

// Grow makes n rules in the style of seed: each new rule takes the
// shape of a random seed rule (its prefix lengths, port ranges,
// protocol) with fresh address bits below the seed's first 8 (so the
// address blocks stay where the seed's are, as ClassBench's generator
// keeps its trees of prefixes) and its ports kept. A rule that would
// repeat an earlier one exactly (a seed rule with short prefixes) is
// drawn again, and after a few tries gets a random destination port:
// a set of copies would measure nothing but the copies. The seed's own
// rules come first. Deterministic for a given rand source.
func Grow(seed []Rule, n int, r *rand.Rand) []Rule {
	out := make([]Rule, 0, n)
	seen := map[Rule]bool{}
	for i := 0; i < n; i++ {
		if i < len(seed) {
			out = append(out, seed[i])
			seen[seed[i]] = true
			continue
		}
		var s Rule
		for try := 0; ; try++ {
			s = seed[r.IntN(len(seed))]
			s.Src = fresh(s.Src, s.SrcLen, r)
			s.Dst = fresh(s.Dst, s.DstLen, r)
			if try >= 4 && !s.ProtoAny && (s.Proto == 6 || s.Proto == 17) {
				p := uint16(1 + r.IntN(65535))
				s.DPort = [2]uint16{p, p}
			}
			if !seen[s] {
				break
			}
		}
		seen[s] = true
		out = append(out, s)
	}
	return out
}

func fresh(v uint32, l uint8, r *rand.Rand) uint32 {
	keep := min(l, 8)
	return (v&mask(keep) | r.Uint32()&^mask(keep)) & mask(l)
}

// Trace makes n packets each aimed at a rule (a header inside the rule),
// the rule drawn uniformly (zipf 0) or by a Zipf law of exponent s over
// rule positions, early rules hit more.
func Trace(rules []Rule, n int, s float64, r *rand.Rand) []Packet {
	var z *rand.Zipf
	if s > 1 {
		z = rand.NewZipf(r, s, 1, uint64(len(rules)-1))
	}
	out := make([]Packet, n)
	for i := range out {
		var j int
		if z != nil {
			j = int(z.Uint64())
		} else {
			j = r.IntN(len(rules))
		}
		ru := rules[j]
		p := Packet{
			Src:   ru.Src | r.Uint32()&^mask(ru.SrcLen),
			Dst:   ru.Dst | r.Uint32()&^mask(ru.DstLen),
			SPort: inside(ru.SPort, r),
			DPort: inside(ru.DPort, r),
			Proto: ru.Proto,
		}
		if ru.ProtoAny {
			p.Proto = []uint8{6, 17, 1}[r.IntN(3)]
		}
		out[i] = p
	}
	return out
}

func inside(rg [2]uint16, r *rand.Rand) uint16 {
	return rg[0] + uint16(r.IntN(int(rg[1])-int(rg[0])+1))
}
