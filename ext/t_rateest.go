package ext

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// RATEEST (iptables' libxt_RATEEST, the kernel's xt_RATEEST): feed the
// packet into a named rate estimator that -m rateest reads. The target
// itself changes nothing about the packet; ipsift does not run the
// estimators yet, so the Action only continues (a -m rateest rule is
// the one that would need them).
//
// iptables turns --rateest-interval into a power of two of quarter
// seconds (250ms to 8s) and --rateest-ewmalog into the matching
// averaging shift, and prints them back from those, so "300ms" saves as
// "500.0ms".

const timeUnitsPerSec = 1000000

type rateestTarget struct {
	name              string
	interval, ewmaLog int
	udInterval, udEwm uint32
}

func init() {
	RegisterTarget(&TargetType{
		Name:   "RATEEST",
		Family: AnyFamily,
		Options: []Option{
			{Name: "rateest-name", Arg: OneArg, Mandatory: true},
			{Name: "rateest-interval", Arg: OneArg, Mandatory: true},
			{Name: "rateest-ewmalog", Arg: OneArg, Mandatory: true},
		},
		New: func() Target { return &rateestTarget{} },
	})
}

// parseRateestTime reads "N[s|sec|secs|ms|msec|msecs|us|usec|usecs]"
// into microseconds, as iptables' RATEEST_get_time does: a bare number
// is already in microseconds.
func parseRateestTime(s string) (uint32, bool) {
	// The number strtod would read: sign, digits, fraction, exponent.
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	digits := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i, digits = i+1, digits+1
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i, digits = i+1, digits+1
		}
	}
	if digits == 0 {
		return 0, false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		j := i + 1
		if j < len(s) && (s[j] == '+' || s[j] == '-') {
			j++
		}
		if j < len(s) && s[j] >= '0' && s[j] <= '9' {
			for j < len(s) && s[j] >= '0' && s[j] <= '9' {
				j++
			}
			i = j
		}
	}
	t, _ := strconv.ParseFloat(s[:i], 64)
	switch strings.ToLower(s[i:]) {
	case "":
	case "s", "sec", "secs":
		t *= timeUnitsPerSec
	case "ms", "msec", "msecs":
		t *= timeUnitsPerSec / 1000
	case "us", "usec", "usecs":
	default:
		return 0, false
	}
	return uint32(t), true
}

// Parse implements Parser.
func (t *rateestTarget) Parse(opt, arg string, invert bool, more *Args) error {
	switch opt {
	case "rateest-name":
		t.name = truncate(arg, 15)
	case "rateest-interval", "rateest-ewmalog":
		v, ok := parseRateestTime(arg)
		if !ok {
			return Errorf("bad --%s %q: write a time such as 250ms or 1s", opt, arg)
		}
		if opt == "rateest-interval" {
			t.udInterval = v
		} else {
			t.udEwm = v
		}
	}
	return nil
}

// Finish implements Parser: iptables' RATEEST_final_check.
func (t *rateestTarget) Finish(r *RuleInfo) error {
	i := 0
	for ; i <= 5; i++ {
		if t.udInterval <= uint32(1<<i)*(timeUnitsPerSec/4) {
			break
		}
	}
	if i > 5 {
		return Errorf("RATEEST: interval value is too large (at most 8s)")
	}
	t.interval = i - 2
	e := 1
	for ; e < 32; e++ {
		w := 1.0 - 1.0/float64(uint64(1)<<e)
		if float64(t.udInterval)/(-math.Log(w)) > float64(t.udEwm) {
			break
		}
	}
	e--
	if e == 0 || e >= 31 {
		return Errorf("RATEEST: ewmalog value is out of range")
	}
	t.ewmaLog = e
	return nil
}

func rateestTime(b *strings.Builder, v uint64) {
	switch {
	case v >= timeUnitsPerSec:
		fmt.Fprintf(b, " %.1fs", float64(v)/timeUnitsPerSec)
	case v >= timeUnitsPerSec/1000:
		fmt.Fprintf(b, " %.1fms", float64(v)/(timeUnitsPerSec/1000))
	default:
		fmt.Fprintf(b, " %dus", v)
	}
}

func (t *rateestTarget) format(b *strings.Builder, pfx string) {
	interval := uint64(timeUnitsPerSec<<(t.interval+2)) / 4
	ewma := interval * (1 << t.ewmaLog)
	b.WriteString(" " + pfx + "name " + t.name + " " + pfx + "interval")
	rateestTime(b, interval)
	b.WriteString(" " + pfx + "ewmalog")
	rateestTime(b, uint64(uint32(ewma)))
}

// Save implements Parser.
func (t *rateestTarget) Save(b *strings.Builder) { t.format(b, "--rateest-") }

// Print implements Parser.
func (t *rateestTarget) Print(b *strings.Builder, numeric bool) { t.format(b, "") }

// Compile implements Target.
func (t *rateestTarget) Compile(c *Compiler) (Action, error) {
	return ActionFunc(func(c *Ctx) Verdict { return Continue }), nil
}
