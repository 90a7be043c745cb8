package ext

import (
	"fmt"
	"strconv"
	"strings"
)

// The connbytes match (-m connbytes, libxt_connbytes and the kernel's
// xt_connbytes) tests how many packets or bytes a connection has carried,
// or its average packet size, in one direction or both. It reads the
// conntrack accounting counters through the AcctConn interface
// (conn_extras.go); the kernel switches accounting on when a connbytes
// rule is loaded.

// XT_CONNBYTES_* what and direction values.
const (
	cbPkts = iota
	cbBytes
	cbAvgPkt
)

const (
	cbOriginal = iota
	cbReply
	cbBoth
)

func init() {
	RegisterMatch(&MatchType{
		// The kernel runs connection tracking for rules using it.
		Conntrack: true,
		Name:      "connbytes",
		Family:    AnyFamily,
		Options: []Option{
			{Name: "connbytes", Arg: OneArg, Invert: true, Mandatory: true},
			{Name: "connbytes-dir", Arg: OneArg, Mandatory: true},
			{Name: "connbytes-mode", Arg: OneArg, Mandatory: true},
		},
		New: func() Match { return &connbytesMatch{} },
	})
}

// connbytesMatch is one -m connbytes in a rule (struct
// xt_connbytes_info); an inverted range is stored with from > to.
type connbytesMatch struct {
	from, to  uint64
	what, dir uint8
}

// parseUint64Range reads XTTYPE_UINT64RC: "N", "LO:HI", ":HI", "LO:" or
// ":", the second part never below the first; hasHi tells whether a
// second part was given.
func parseUint64Range(arg string) (lo, hi uint64, hasHi bool, err error) {
	a, b, isRange := strings.Cut(arg, ":")
	if strings.Contains(b, ":") {
		return 0, 0, false, fmt.Errorf("too many components in %q (write N or LO:HI)", arg)
	}
	if a != "" {
		v, ok := StrtoulFull(a, 0, 0, 0)
		if !ok {
			return 0, 0, false, fmt.Errorf("bad value %q: a number 0-18446744073709551615 is needed", a)
		}
		lo = v
	}
	if !isRange {
		return lo, lo, false, nil
	}
	hi = ^uint64(0)
	if b != "" {
		v, ok := StrtoulFull(b, 0, lo, 0)
		if !ok {
			return 0, 0, false, fmt.Errorf("bad value %q: a number from %d to 18446744073709551615 is needed (the range may not run backwards)", b, lo)
		}
		hi = v
	}
	return lo, hi, true, nil
}

// Parse implements Parser.
func (m *connbytesMatch) Parse(opt, arg string, invert bool, _ *Args) error {
	switch opt {
	case "connbytes":
		lo, hi, hasHi, err := parseUint64Range(arg)
		if err != nil {
			return err
		}
		m.from, m.to = lo, ^uint64(0)
		if hasHi {
			m.to = hi
		}
		if invert {
			m.from, m.to = m.to, m.from
		}
	case "connbytes-dir":
		switch arg {
		case "original":
			m.dir = cbOriginal
		case "reply":
			m.dir = cbReply
		case "both":
			m.dir = cbBoth
		default:
			return fmt.Errorf("unknown --connbytes-dir %q: write original, reply or both", arg)
		}
	case "connbytes-mode":
		switch arg {
		case "packets":
			m.what = cbPkts
		case "bytes":
			m.what = cbBytes
		case "avgpkt":
			m.what = cbAvgPkt
		default:
			return fmt.Errorf("unknown --connbytes-mode %q: write packets, bytes or avgpkt", arg)
		}
	default:
		return fmt.Errorf("unknown option --%s", opt)
	}
	return nil
}

// Finish implements Parser.
func (m *connbytesMatch) Finish(*RuleInfo) error { return nil }

func (m *connbytesMatch) dump(b *strings.Builder, prefix, modeLabel, dirLabel string) {
	from, to := m.from, m.to
	if from > to {
		b.WriteString(" !")
		from, to = to, from
	}
	b.WriteString(" " + prefix + "connbytes " + strconv.FormatUint(from, 10))
	if to != 0 && to < ^uint64(0) {
		b.WriteString(":" + strconv.FormatUint(to, 10))
	}
	b.WriteString(modeLabel + " " + [...]string{"packets", "bytes", "avgpkt"}[m.what])
	b.WriteString(dirLabel + " " + [...]string{"original", "reply", "both"}[m.dir])
}

// Save implements Parser.
func (m *connbytesMatch) Save(b *strings.Builder) {
	m.dump(b, "--", " --connbytes-mode", " --connbytes-dir")
}

// Print implements Parser.
func (m *connbytesMatch) Print(b *strings.Builder, _ bool) {
	m.dump(b, "", " connbytes mode", " connbytes direction")
}

// Compile implements Match.
func (m *connbytesMatch) Compile(*Compiler) (Matcher, error) {
	cm := *m
	return &cm, nil
}

// value is what connbytes_mt compares; ok is false when the packet has
// no connection or the connection no counters.
func (m *connbytesMatch) value(c *Ctx) (uint64, bool) {
	if c.Conn == nil {
		return 0, false
	}
	a, ok := c.Conn.(AcctConn)
	if !ok {
		return 0, false
	}
	op, ob := a.Counters(0)
	rp, rb := a.Counters(1)
	var pkts, bytes uint64
	switch m.dir {
	case cbOriginal:
		pkts, bytes = op, ob
	case cbReply:
		pkts, bytes = rp, rb
	default:
		pkts, bytes = op+rp, ob+rb
	}
	switch m.what {
	case cbPkts:
		return pkts, true
	case cbBytes:
		return bytes, true
	}
	if pkts == 0 {
		return 0, true
	}
	return bytes / pkts, true
}

// Match implements Matcher: connbytes_mt.
func (m *connbytesMatch) Match(c *Ctx) bool {
	what, ok := m.value(c)
	if !ok {
		return false
	}
	if m.to >= m.from {
		return what >= m.from && what <= m.to
	}
	return what < m.to || what > m.from
}

// Explain implements Explainer.
func (m *connbytesMatch) Explain(c *Ctx, matched bool) string {
	what, ok := m.value(c)
	if !ok {
		if c.Conn == nil {
			return "connbytes: the packet has no connection"
		}
		return "connbytes: the connection keeps no accounting counters"
	}
	unit := [...]string{"packets", "bytes", "bytes per packet"}[m.what]
	lo, hi, not := m.from, m.to, ""
	if lo > hi {
		lo, hi, not = hi, lo, "not "
	}
	return fmt.Sprintf("connbytes: the connection has %d %s (%s direction), the rule asks for %s%d to %d",
		what, unit, [...]string{"original", "reply", "both"}[m.dir], not, lo, hi)
}
