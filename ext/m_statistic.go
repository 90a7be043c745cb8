package ext

import (
	"fmt"
	"hash/fnv"
	"math"
	"strconv"
	"strings"
	"sync/atomic"
)

// The statistic match (-m statistic, libxt_statistic and the kernel's
// xt_statistic) matches every nth packet (a counter per rule) or packets
// at random with a fixed probability. ipsift's random source is
// reproducible: each rule draws from its own stream, derived from
// Compiler.Seed, the rule's table and chain and the order in which the
// engine compiled it, so a replay with the same seed makes the same
// choices (the kernel's get_random_u32 of course does not).

// Statistic modes (XT_STATISTIC_MODE_*).
const (
	statRandom = 0
	statNth    = 1
)

func init() {
	RegisterMatch(&MatchType{
		Name:   "statistic",
		Family: AnyFamily,
		Options: []Option{
			{Name: "mode", Arg: OneArg, Mandatory: true},
			{Name: "probability", Arg: OneArg, Invert: true, Excludes: []string{"every", "packet"}},
			{Name: "every", Arg: OneArg, Invert: true, Excludes: []string{"probability"}, Also: []string{"packet"}},
			{Name: "packet", Arg: OneArg, Excludes: []string{"probability"}, Also: []string{"every"}},
		},
		New: func() Match { return &statisticMatch{} },
	})
}

// statisticMatch is one -m statistic in a rule (struct
// xt_statistic_info; the kernel keeps probability and every in one
// union, which the checks below mirror).
type statisticMatch struct {
	mode        uint16
	invert      bool
	probability uint32 // P * 2^31, rounded
	every       uint32 // n-1
	packet      uint32
	hasProb     bool
	hasNth      bool
}

// Parse implements Parser.
func (m *statisticMatch) Parse(opt, arg string, invert bool, _ *Args) error {
	if invert {
		m.invert = true
	}
	switch opt {
	case "mode":
		switch arg {
		case "random":
			m.mode = statRandom
		case "nth":
			m.mode = statNth
		default:
			return fmt.Errorf("bad mode %q: write random or nth", arg)
		}
	case "probability":
		p, err := strconv.ParseFloat(strings.TrimLeft(arg, " \t"), 64)
		if err != nil || p < 0 || p > 1 || math.IsNaN(p) {
			return fmt.Errorf("bad value %q, or out of range (0-1): a probability is a number from 0 to 1, e.g. 0.25", arg)
		}
		m.probability = uint32(math.Round(0x80000000 * p))
		m.hasProb = true
	case "every":
		v, ok := StrtoulFull(arg, 0, 1, 1<<32-1)
		if !ok {
			return fmt.Errorf("bad value %q, or out of range (1-4294967295)", arg)
		}
		m.every = uint32(v - 1)
		m.hasNth = true
	case "packet":
		v, ok := StrtoulFull(arg, 0, 0, 1<<32-1)
		if !ok {
			return fmt.Errorf("bad value %q, or out of range (0-4294967295)", arg)
		}
		m.packet = uint32(v)
		m.hasNth = true
	default:
		return fmt.Errorf("unknown option --%s", opt)
	}
	return nil
}

// Finish implements Parser: statistic_check.
func (m *statisticMatch) Finish(*RuleInfo) error {
	if m.mode == statRandom && !m.hasProb {
		return fmt.Errorf("--probability must be specified when using random mode")
	}
	if m.mode == statNth && !m.hasNth {
		return fmt.Errorf("--every and --packet must be specified when using nth mode")
	}
	if m.mode == statNth && m.packet > m.every {
		return fmt.Errorf("the --packet p must be 0 <= p <= n-1 (here n is %d)", uint64(m.every)+1)
	}
	return nil
}

func (m *statisticMatch) dump(b *strings.Builder, prefix string) {
	not := ""
	if m.invert {
		not = " !"
	}
	switch m.mode {
	case statRandom:
		b.WriteString(" " + prefix + "mode random" + not + " " + prefix + "probability " +
			strconv.FormatFloat(float64(m.probability)/0x80000000, 'f', 11, 64))
	case statNth:
		b.WriteString(" " + prefix + "mode nth" + not + " " + prefix + "every " + strconv.FormatUint(uint64(m.every)+1, 10))
		if m.packet != 0 || prefix != "" {
			b.WriteString(" " + prefix + "packet " + strconv.FormatUint(uint64(m.packet), 10))
		}
	}
}

// Save implements Parser.
func (m *statisticMatch) Save(b *strings.Builder) { m.dump(b, "--") }

// Print implements Parser.
func (m *statisticMatch) Print(b *strings.Builder, _ bool) {
	b.WriteString(" statistic")
	m.dump(b, "")
}

// statSeq numbers the statistic rules an engine compiles, so that every
// rule gets a stream of its own.
type statSeq struct{ n atomic.Uint64 }

// Compile implements Match: a fresh counter (nth) or a fresh random
// stream (random) per rule, as statistic_mt_check allocates per rule.
func (m *statisticMatch) Compile(c *Compiler) (Matcher, error) {
	sm := &statisticMatcher{m: *m}
	sm.count.Store(m.every - m.packet)
	seq := c.Shared("statistic/seq", func() any { return &statSeq{} }).(*statSeq)
	h := fnv.New64a()
	fmt.Fprintf(h, "%d/%s/%s/%d", c.Seed, c.Table, c.Chain, seq.n.Add(1))
	sm.seed = h.Sum64()
	return sm, nil
}

// statisticMatcher is the compiled match with its per-rule state.
type statisticMatcher struct {
	m     statisticMatch
	count atomic.Uint32 // nth: the kernel's master->count
	seed  uint64
	draws atomic.Uint64 // random: how many numbers the stream gave
}

// random32 returns the stream's next 32 random bits (SplitMix64).
func (s *statisticMatcher) random32() uint32 {
	z := s.seed + s.draws.Add(1)*0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return uint32(z ^ z>>31)
}

// Match implements Matcher: statistic_mt.
func (s *statisticMatcher) Match(*Ctx) bool {
	ret := s.m.invert
	switch s.m.mode {
	case statRandom:
		if s.random32()&0x7FFFFFFF < s.m.probability {
			ret = !ret
		}
	case statNth:
		for {
			old := s.count.Load()
			nv := old + 1
			if old == s.m.every {
				nv = 0
			}
			if s.count.CompareAndSwap(old, nv) {
				if nv == 0 {
					ret = !ret
				}
				break
			}
		}
	}
	return ret
}

// Explain implements Explainer.
func (s *statisticMatcher) Explain(_ *Ctx, matched bool) string {
	switch s.m.mode {
	case statRandom:
		if matched {
			return fmt.Sprintf("statistic: chosen at random (probability %.4f)", float64(s.m.probability)/0x80000000)
		}
		return fmt.Sprintf("statistic: not chosen at random (probability %.4f)", float64(s.m.probability)/0x80000000)
	}
	c := s.count.Load()
	if c == 0 {
		return fmt.Sprintf("statistic: the packet is the one in every %d this rule counts", uint64(s.m.every)+1)
	}
	return fmt.Sprintf("statistic: packet %d of every %d (the rule picks packet 0)", c, uint64(s.m.every)+1)
}
