package ext

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
)

// The quota match (-m quota, libxt_quota and the kernel's xt_quota)
// matches until the rule has seen --quota bytes (IP total lengths), then
// never again: a packet larger than what is left empties the quota. The
// quota belongs to the rule and starts afresh with every load.

func init() {
	RegisterMatch(&MatchType{
		Name:   "quota",
		Family: AnyFamily,
		Options: []Option{
			{Name: "quota", Arg: OneArg, Invert: true, Mandatory: true},
		},
		New: func() Match { return &quotaMatch{} },
	})
}

// quotaMatch is one -m quota in a rule (struct xt_quota_info).
type quotaMatch struct {
	quota  uint64
	invert bool
}

// Parse implements Parser.
func (m *quotaMatch) Parse(opt, arg string, invert bool, _ *Args) error {
	if opt != "quota" {
		return fmt.Errorf("unknown option --%s", opt)
	}
	v, ok := StrtoulFull(arg, 0, 0, 0)
	if !ok {
		return fmt.Errorf("bad value %q, or out of range (0-18446744073709551615): the quota is a number of bytes", arg)
	}
	m.quota, m.invert = v, invert
	return nil
}

// Finish implements Parser.
func (m *quotaMatch) Finish(*RuleInfo) error { return nil }

// Save implements Parser.
func (m *quotaMatch) Save(b *strings.Builder) {
	if m.invert {
		b.WriteString(" !")
	}
	b.WriteString(" --quota " + strconv.FormatUint(m.quota, 10))
}

// Print implements Parser (libxt_quota prints no "!").
func (m *quotaMatch) Print(b *strings.Builder, _ bool) {
	b.WriteString(" quota: " + strconv.FormatUint(m.quota, 10) + " bytes")
}

// Compile implements Match.
func (m *quotaMatch) Compile(*Compiler) (Matcher, error) {
	return &quotaMatcher{left: m.quota, invert: m.invert}, nil
}

// quotaMatcher holds the bytes left (struct xt_quota_priv).
type quotaMatcher struct {
	mu     sync.Mutex
	left   uint64
	invert bool
}

// Match implements Matcher: quota_mt.
func (q *quotaMatcher) Match(c *Ctx) bool {
	n := uint64(c.Pkt.TotalLen)
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.left >= n {
		q.left -= n
		return !q.invert
	}
	q.left = 0
	return q.invert
}

// Explain implements Explainer.
func (q *quotaMatcher) Explain(c *Ctx, matched bool) string {
	q.mu.Lock()
	left := q.left
	q.mu.Unlock()
	if matched != q.invert {
		return fmt.Sprintf("quota: %d bytes left after this packet", left)
	}
	return "quota: used up"
}
