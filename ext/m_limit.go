package ext

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
)

// The limit match (-m limit, libxt_limit and the kernel's xt_limit) is a
// token bucket per rule: it matches while the rule has credit, and every
// match costs one packet's worth. The bucket is the kernel's, to the
// credit: 32-bit credits, CREDITS_PER_JIFFY per tick, refilled on the
// jiffies of the engine clock.

// limitScale is XT_LIMIT_SCALE: rates are stored as the average time
// between packets in 1/10000 s.
const limitScale = 10000

const (
	limitDefaultAvg   = limitScale * 60 * 60 / 3 // 3/hour
	limitDefaultBurst = 5
)

func init() {
	RegisterMatch(&MatchType{
		Name:   "limit",
		Family: AnyFamily,
		Options: []Option{
			{Name: "limit", Arg: OneArg},
			{Name: "limit-burst", Arg: OneArg},
		},
		New: func() Match { return &limitMatch{avg: limitDefaultAvg, burst: limitDefaultBurst} },
	})
}

// limitMatch is one -m limit in a rule (struct xt_rateinfo's user part).
type limitMatch struct {
	avg   uint32 // average time between packets, 1/10000 s
	burst uint32
}

// rateUnit reads the "/second" part of a rate as libxt_limit's
// parse_rate does: any case-insensitive prefix of second, minute, hour or
// day ("/s", "/min", "/HOUR"); a longer word ("/seconds") is not one.
// mult is the unit in seconds; ok is false for an unknown unit.
func rateUnit(rate string) (mult uint32, ok bool) {
	_, unit, has := strings.Cut(rate, "/")
	if !has {
		return 1, true
	}
	if unit == "" {
		return 0, false
	}
	for _, u := range []struct {
		name string
		mult uint32
	}{{"second", 1}, {"minute", 60}, {"hour", 3600}, {"day", 86400}} {
		if len(unit) <= len(u.name) && strings.EqualFold(unit, u.name[:len(unit)]) {
			return u.mult, true
		}
	}
	return 0, false
}

// parseLimitRate is libxt_limit's parse_rate: "N[/unit]", N read by atoi
// (so "5x/s" is 5), into the average time between packets in
// 1/10000 s.
func parseLimitRate(rate string) (uint32, error) {
	mult, ok := rateUnit(rate)
	r := uint32(Atoi(rate))
	if !ok || r == 0 {
		return 0, fmt.Errorf("bad rate %q: write N/second, N/minute, N/hour or N/day (e.g. 5/sec)", rate)
	}
	v := limitScale * mult / r
	if v == 0 {
		return 0, fmt.Errorf("rate too fast %q: at most 10000/second", rate)
	}
	return v, nil
}

// formatLimitRate is libxt_limit's print_rate: the largest unit in which
// the rate is a whole number, roughly ("1/sec", "7/min", "1000/hour").
func formatLimitRate(period uint64, scale uint64) string {
	if period == 0 {
		return "inf"
	}
	units := [...]struct {
		name string
		mult uint64
	}{{"day", scale * 86400}, {"hour", scale * 3600}, {"min", scale * 60}, {"sec", scale}}
	i := 1
	for ; i < len(units); i++ {
		if period > units[i].mult || units[i].mult/period < units[i].mult%period {
			break
		}
	}
	return strconv.FormatUint(units[i-1].mult/period, 10) + "/" + units[i-1].name
}

// Parse implements Parser.
func (m *limitMatch) Parse(opt, arg string, invert bool, _ *Args) error {
	if invert {
		return fmt.Errorf("limit does not support invert; use -m hashlimit ! --hashlimit-upto RATE instead")
	}
	switch opt {
	case "limit":
		v, err := parseLimitRate(arg)
		if err != nil {
			return err
		}
		m.avg = v
	case "limit-burst":
		v, ok := StrtoulFull(arg, 0, 0, 10000)
		if !ok {
			return fmt.Errorf("bad value %q, or out of range (0-10000)", arg)
		}
		m.burst = uint32(v)
	default:
		return fmt.Errorf("unknown option --%s", opt)
	}
	return nil
}

// Finish implements Parser: the kernel's overflow check (limit_mt_check)
// at the reference kernel's 250 Hz; none for a rule no kernel will see.
func (m *limitMatch) Finish(r *RuleInfo) error {
	if r != nil && r.Userspace {
		return nil
	}
	return m.check(250)
}

func (m *limitMatch) check(hz int) error {
	cpj := limitCPJ(hz)
	if m.burst == 0 || limitUser2Credits(m.avg*m.burst, hz, cpj) < limitUser2Credits(m.avg, hz, cpj) {
		return fmt.Errorf("numerical result out of range: the kernel refuses --limit %s with --limit-burst %d (xt_limit overflow); lower the burst or raise the rate",
			formatLimitRate(uint64(m.avg), limitScale), m.burst)
	}
	return nil
}

// limitCPJ is xt_limit's CREDITS_PER_JIFFY for hz: the largest power of
// two that keeps a day's worth of credit within 32 bits.
func limitCPJ(hz int) uint32 {
	return Pow2Below32(0xFFFFFFFF / uint32(hz*60*60*24))
}

// limitUser2Credits is xt_limit's user2credits, in its 32-bit arithmetic.
func limitUser2Credits(user uint32, hz int, cpj uint32) uint32 {
	h := uint32(hz)
	if user > 0xFFFFFFFF/(h*cpj) {
		return (user / limitScale) * h * cpj
	}
	return (user * h * cpj) / limitScale
}

// Save implements Parser.
func (m *limitMatch) Save(b *strings.Builder) {
	b.WriteString(" --limit " + formatLimitRate(uint64(m.avg), limitScale))
	if m.burst != limitDefaultBurst {
		b.WriteString(" --limit-burst " + strconv.FormatUint(uint64(m.burst), 10))
	}
}

// Print implements Parser.
func (m *limitMatch) Print(b *strings.Builder, _ bool) {
	b.WriteString(" limit: avg " + formatLimitRate(uint64(m.avg), limitScale) + " burst " + strconv.FormatUint(uint64(m.burst), 10))
}

// Compile implements Match: a fresh, full bucket, as limit_mt_check
// makes one for every rule it loads.
func (m *limitMatch) Compile(c *Compiler) (Matcher, error) {
	hz := c.HZ
	if hz <= 0 {
		hz = 250
	}
	if err := m.check(hz); err != nil {
		return nil, err
	}
	cpj := limitCPJ(hz)
	lm := &limitMatcher{hz: hz, cpj: cpj, cost: limitUser2Credits(m.avg, hz, cpj)}
	lm.credit = limitUser2Credits(m.avg*m.burst, hz, cpj)
	lm.cap = lm.credit
	return lm, nil
}

// limitMatcher is the bucket of one rule (xt_limit_priv plus the rule's
// credit_cap and cost).
type limitMatcher struct {
	hz        int
	cpj       uint32
	cost, cap uint32

	mu     sync.Mutex
	prev   uint64 // jiffies of the last refill
	credit uint32
	// started is false until the first packet: the kernel sets prev
	// when the rule is loaded, ipsift (which has no clock at Compile)
	// when the first packet arrives, with the bucket already full; the
	// two differ only if that packet comes more than 2^32 credits'
	// worth of jiffies (37 hours at 250 Hz) after the load.
	started bool
}

// Match implements Matcher: limit_mt.
func (l *limitMatcher) Match(c *Ctx) bool {
	now := Jiffies(c.Now, l.hz)
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.started {
		l.prev, l.started = now, true
	}
	// The increase is computed in unsigned long and added in 32 bits,
	// as the kernel's u32 credit does (it wraps after a very long idle
	// time, exactly as the kernel's does).
	// A clock that runs backwards (a capture replayed out of order)
	// gives no credit and does not move prev back; the kernel's jiffies
	// never run backwards.
	if now > l.prev {
		l.credit += uint32((now - l.prev) * uint64(l.cpj))
		l.prev = now
	}
	if l.credit > l.cap {
		l.credit = l.cap
	}
	if l.credit >= l.cost {
		l.credit -= l.cost
		return true
	}
	return false
}

// Explain implements Explainer.
func (l *limitMatcher) Explain(c *Ctx, matched bool) string {
	l.mu.Lock()
	credit := l.credit
	l.mu.Unlock()
	if matched {
		return fmt.Sprintf("limit: within the rate (%d packets' credit left)", credit/l.cost)
	}
	next := (l.cost - credit + l.cpj - 1) / l.cpj
	return fmt.Sprintf("limit: no credit left (the next packet can pass in %d jiffies, %.3f s)", next, float64(next)/float64(l.hz))
}
