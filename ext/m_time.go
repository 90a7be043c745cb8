package ext

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// The time match (-m time, libxt_time and the kernel's xt_time) matches
// by the time of day, weekday, day of the month and date range in which
// the packet is seen. The kernel reads its real-time clock; ipsift reads
// the engine clock, Ctx.Now, as nanoseconds since the Unix epoch (a
// replayed capture's timestamps). Times are UTC unless --kerneltz, which
// applies the kernel's timezone, KernelTZMinutesWest.

// KernelTZMinutesWest is the kernel's timezone (sys_tz.tz_minuteswest)
// that --kerneltz rules use: 0 unless something set it, as on most
// systems.
var KernelTZMinutesWest = 0

// XT_TIME_* flags and defaults.
const (
	timeLocalTZ      = 1 << 0
	timeContiguous   = 1 << 1
	timeAllMonthdays = 0xFFFFFFFE
	timeAllWeekdays  = 0xFE
	timeMaxDaytime   = 24*60*60 - 1
)

var weekDays = [...]string{"", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}

func init() {
	RegisterMatch(&MatchType{
		Name:   "time",
		Family: AnyFamily,
		Options: []Option{
			{Name: "datestart", Arg: OneArg},
			{Name: "datestop", Arg: OneArg},
			{Name: "timestart", Arg: OneArg},
			{Name: "timestop", Arg: OneArg},
			{Name: "contiguous"},
			{Name: "weekdays", Arg: OneArg, Invert: true},
			{Name: "monthdays", Arg: OneArg, Invert: true},
			{Name: "localtz", Excludes: []string{"utc"}},
			{Name: "utc", Excludes: []string{"localtz", "kerneltz"}},
			{Name: "kerneltz", Excludes: []string{"utc"}},
		},
		New: func() Match {
			return &timeMatch{monthdays: timeAllMonthdays, weekdays: timeAllWeekdays, dayStop: timeMaxDaytime, dateStop: math.MaxInt32}
		},
	})
}

// timeMatch is one -m time in a rule (struct xt_time_info).
type timeMatch struct {
	dateStart, dateStop uint32
	dayStart, dayStop   uint32
	monthdays           uint32
	weekdays            uint8
	flags               uint8
	contiguous          bool
}

// strtoulDec is C's strtoul(s, &e, 10) for the date parser: the value
// and the rest (no digits gives 0 and s).
func strtoulDec(s string) (uint64, string) {
	v, rest, ok := StrtoulPrefix(s, 10, 0, 0)
	if !ok {
		if rest == s {
			return 0, s
		}
		return ^uint64(0), rest
	}
	return v, rest
}

// parseTimeDate is time_parse_date: YYYY[-MM[-DD[Thh[:mm[:ss]]]]], UTC.
func parseTimeDate(s string) (uint32, error) {
	bad := fmt.Errorf("invalid date %q specified: write YYYY[-MM[-DD[Thh[:mm[:ss]]]]], e.g. 2025-01-31T08:00", s)
	fields := [6]uint64{0, 1, 1, 0, 0, 0}
	seps := [5]byte{'-', '-', 'T', ':', ':'}
	maxes := [6]uint64{2038, 12, 31, 23, 59, 59}
	rest := s
	for i := 0; i < 6; i++ {
		v, r := strtoulDec(rest)
		fields[i] = v
		if i == 0 && (v < 1970 || v > 2038) {
			return 0, bad
		}
		if v > maxes[i] {
			return 0, bad
		}
		if r == "" {
			break
		}
		if i == 5 || r[0] != seps[i] {
			return 0, bad
		}
		rest = r[1:]
	}
	// mktime normalises out-of-range days (Feb 31 is March 3), as Go's
	// time.Date does.
	t := time.Date(int(fields[0]), time.Month(fields[1]), int(fields[2]), int(fields[3]), int(fields[4]), int(fields[5]), 0, time.UTC)
	return uint32(t.Unix()), nil
}

// parseTimeOfDay is time_parse_minutes: hh:mm[:ss].
func parseTimeOfDay(s string) (uint32, error) {
	bad := fmt.Errorf("invalid time %q specified, should be hh:mm[:ss] format and within the boundaries", s)
	h, r := strtoulDec(s)
	if r == "" || r[0] != ':' || h > 23 {
		return 0, bad
	}
	mi, r := strtoulDec(r[1:])
	if (r != "" && r[0] != ':') || mi > 59 {
		return 0, bad
	}
	var sec uint64
	if r != "" {
		sec, r = strtoulDec(r[1:])
		if r != "" || sec > 59 {
			return 0, bad
		}
	}
	return uint32(h*3600 + mi*60 + sec), nil
}

// splitSegs is my_strseg: comma-separated pieces, each cut to size-1
// characters (the C buffer), stopping at an empty rest.
func splitSegs(arg string, size int) []string {
	var out []string
	for arg != "" {
		seg, rest, more := strings.Cut(arg, ",")
		if len(seg) > size-1 {
			seg = seg[:size-1]
		}
		out = append(out, seg)
		if !more {
			break
		}
		arg = rest
	}
	return out
}

func parseMonthdays(arg string) (uint32, error) {
	var ret uint32
	for _, d := range splitSegs(arg, 3) {
		v, rest, ok := StrtoulPrefix(d, 0, 0, 0)
		if !ok && rest == d {
			v, rest = 0, d
		}
		if (rest != "" && rest[0] != ',') || v > 31 {
			return 0, fmt.Errorf("%s is not a valid day for --monthdays (1-31)", d)
		}
		ret |= 1 << v
	}
	return ret, nil
}

func parseWeekdays(arg string) (uint8, error) {
	var ret uint8
	for _, d := range splitSegs(arg, 4) {
		v, rest, ok := StrtoulPrefix(d, 0, 0, 0)
		if (ok || rest != d) && rest == "" {
			if v == 0 {
				return 0, fmt.Errorf("no, the week does NOT begin with Sunday: weekdays are 1 (Mon) to 7 (Sun)")
			}
			if v < 8 {
				ret |= uint8(1 << v)
			}
			continue
		}
		valid := false
		for i := 1; i < len(weekDays); i++ {
			if len(d) >= 2 && d[:2] == weekDays[i][:2] {
				ret |= 1 << i
				valid = true
			}
		}
		if !valid {
			return 0, fmt.Errorf("%s is not a valid day specifier (Mon, Tue, Wed, Thu, Fri, Sat, Sun or 1-7)", d)
		}
	}
	return ret, nil
}

// Parse implements Parser.
func (m *timeMatch) Parse(opt, arg string, invert bool, _ *Args) error {
	var err error
	switch opt {
	case "datestart":
		m.dateStart, err = parseTimeDate(arg)
	case "datestop":
		m.dateStop, err = parseTimeDate(arg)
	case "timestart":
		m.dayStart, err = parseTimeOfDay(arg)
	case "timestop":
		m.dayStop, err = parseTimeOfDay(arg)
	case "contiguous":
		m.flags |= timeContiguous
		m.contiguous = true
	case "localtz", "kerneltz":
		m.flags |= timeLocalTZ
	case "utc":
	case "monthdays":
		m.monthdays, err = parseMonthdays(arg)
		if invert {
			m.monthdays ^= timeAllMonthdays
		}
	case "weekdays":
		m.weekdays, err = parseWeekdays(arg)
		if invert {
			m.weekdays ^= timeAllWeekdays
		}
	default:
		return fmt.Errorf("unknown option --%s", opt)
	}
	return err
}

// Finish implements Parser: time_check.
func (m *timeMatch) Finish(*RuleInfo) error {
	if m.contiguous && m.dayStart < m.dayStop {
		return fmt.Errorf("--contiguous only makes sense when stoptime is smaller than starttime")
	}
	return nil
}

func hms(t uint32) string {
	return fmt.Sprintf("%02d:%02d:%02d", t/3600, t/60%60, t%60)
}

// writeDate is time_print_date: iptables skips 0 and LONG_MAX, which the
// 32-bit default stop date (INT_MAX) is not, so 2038-01-19T03:14:07 is
// always printed for it.
func writeDate(b *strings.Builder, date uint32, cmd string) {
	if date == 0 {
		return
	}
	t := time.Unix(int64(date), 0).UTC()
	if cmd != "" {
		b.WriteString(" " + cmd + " " + t.Format("2006-01-02T15:04:05"))
	} else {
		b.WriteString(" " + t.Format("2006-01-02 15:04:05"))
	}
}

func writeMonthdays(b *strings.Builder, mask uint32, human bool) {
	b.WriteByte(' ')
	n := 0
	for i := 1; i <= 31; i++ {
		if mask&(1<<i) == 0 {
			continue
		}
		if n > 0 {
			b.WriteByte(',')
		}
		n++
		b.WriteString(strconv.Itoa(i))
		if human {
			// libxt_time's suffixes by the last digit: 11st, 12nd, 13rd.
			b.WriteString([...]string{"th", "st", "nd", "rd", "th", "th", "th", "th", "th", "th"}[i%10])
		}
	}
}

func writeWeekdays(b *strings.Builder, mask uint8) {
	b.WriteByte(' ')
	n := 0
	for i := 1; i <= 7; i++ {
		if mask&(1<<i) != 0 {
			if n > 0 {
				b.WriteByte(',')
			}
			b.WriteString(weekDays[i])
			n++
		}
	}
}

// Save implements Parser.
func (m *timeMatch) Save(b *strings.Builder) {
	if m.dayStart != 0 || m.dayStop != timeMaxDaytime {
		b.WriteString(" --timestart " + hms(m.dayStart) + " --timestop " + hms(m.dayStop))
	}
	if m.monthdays != timeAllMonthdays {
		b.WriteString(" --monthdays")
		writeMonthdays(b, m.monthdays, false)
	}
	if m.weekdays != timeAllWeekdays {
		b.WriteString(" --weekdays")
		writeWeekdays(b, m.weekdays)
	}
	writeDate(b, m.dateStart, "--datestart")
	writeDate(b, m.dateStop, "--datestop")
	if m.flags&timeLocalTZ != 0 {
		b.WriteString(" --kerneltz")
	}
	if m.flags&timeContiguous != 0 {
		b.WriteString(" --contiguous")
	}
}

// Print implements Parser.
func (m *timeMatch) Print(b *strings.Builder, _ bool) {
	b.WriteString(" TIME")
	if m.dayStart != 0 || m.dayStop != timeMaxDaytime {
		b.WriteString(" from " + hms(m.dayStart) + " to " + hms(m.dayStop))
	}
	if m.weekdays != timeAllWeekdays {
		b.WriteString(" on")
		writeWeekdays(b, m.weekdays)
	}
	if m.monthdays != timeAllMonthdays {
		b.WriteString(" on")
		writeMonthdays(b, m.monthdays, true)
	}
	if m.dateStart != 0 {
		b.WriteString(" starting from")
		writeDate(b, m.dateStart, "")
	}
	if m.dateStop != math.MaxInt32 {
		b.WriteString(" until date")
		writeDate(b, m.dateStop, "")
	}
	if m.flags&timeLocalTZ == 0 {
		b.WriteString(" UTC")
	}
	if m.flags&timeContiguous != 0 {
		b.WriteString(" contiguous")
	}
}

// Compile implements Match.
func (m *timeMatch) Compile(*Compiler) (Matcher, error) {
	tm := *m
	return &timeMatcher{tm}, nil
}

type timeMatcher struct{ m timeMatch }

// stamp is the packet's time in seconds as time_mt sees it.
func (t *timeMatcher) stamp(c *Ctx) int64 {
	s := c.Now / 1e9
	if c.Now < 0 && c.Now%1e9 != 0 {
		s--
	}
	if t.m.flags&timeLocalTZ != 0 {
		s -= 60 * int64(KernelTZMinutesWest)
	}
	return s
}

// Match implements Matcher: time_mt.
func (t *timeMatcher) Match(c *Ctx) bool {
	_, ok := t.check(c)
	return ok
}

// check returns why a packet fails (for Explain) and whether it matches.
func (t *timeMatcher) check(c *Ctx) (string, bool) {
	m := &t.m
	stamp := t.stamp(c)
	if stamp < int64(m.dateStart) || stamp > int64(m.dateStop) {
		return "outside the date range", false
	}
	const day = 86400
	packetTime := uint32(((stamp % day) + day) % day)
	if m.dayStart < m.dayStop {
		if packetTime < m.dayStart || packetTime > m.dayStop {
			return "outside the time of day", false
		}
	} else {
		if packetTime < m.dayStart && packetTime > m.dayStop {
			return "outside the time of day", false
		}
		if m.flags&timeContiguous != 0 && packetTime <= m.dayStop {
			stamp -= day
		}
	}
	dse := stamp / day
	if stamp < 0 && stamp%day != 0 {
		dse--
	}
	weekday := (4+dse-1)%7 + 1
	if weekday <= 0 {
		weekday += 7
	}
	if m.weekdays&(1<<weekday) == 0 {
		return "not on the weekdays", false
	}
	if m.monthdays != timeAllMonthdays {
		md := time.Unix(stamp, 0).UTC().Day()
		if m.monthdays&(1<<md) == 0 {
			return "not on the days of the month", false
		}
	}
	return "", true
}

// Explain implements Explainer.
func (t *timeMatcher) Explain(c *Ctx, matched bool) string {
	when := time.Unix(0, c.Now).UTC().Format("2006-01-02 15:04:05 Mon") + " UTC"
	if matched {
		return "time: " + when + " is within the rule's times"
	}
	why, _ := t.check(c)
	return "time: " + when + " is " + why
}
