package ext

import (
	"fmt"
	"strconv"
	"strings"
)

// The rateest match (-m rateest, libxt_rateest and the kernel's
// xt_rateest) compares the rates that RATEEST targets estimate, with a
// fixed rate or with each other. ipsift does not model rate estimators:
// the rule parses, checks and prints, and Compile says so (the kernel
// refuses the rule when no RATEEST target made the estimator).

// XT_RATEEST_MATCH_* flags and modes.
const (
	reInvert = 1 << 0
	reAbs    = 1 << 1
	reRel    = 1 << 2
	reDelta  = 1 << 3
	reBPS    = 1 << 4
	rePPS    = 1 << 5

	reEq = 1
	reLt = 2
	reGt = 3
)

func init() {
	var opts []Option
	for _, n := range []string{"rateest1", "rateest", "rateest2"} {
		opts = append(opts, Option{Name: n, Arg: OneArg})
	}
	for _, n := range []string{"rateest-bps1", "rateest-pps1", "rateest-bps2", "rateest-pps2", "rateest-bps", "rateest-pps", "rateest-delta", "rateest-lt", "rateest-gt", "rateest-eq"} {
		opts = append(opts, Option{Name: n})
	}
	// Old-style parsing: the core allows "!" and repeats, the extension
	// refuses them where iptables does.
	for i := range opts {
		opts[i].Invert, opts[i].Multi = true, true
	}
	RegisterMatch(&MatchType{
		Name:    "rateest",
		Family:  AnyFamily,
		Options: opts,
		New:     func() Match { return &rateestMatch{} },
	})
}

// rateestMatch is one -m rateest in a rule (struct
// xt_rateest_match_info).
type rateestMatch struct {
	name1, name2           string
	flags, mode            uint16
	bps1, pps1, bps2, pps2 uint32
	seen                   map[string]bool
}

// rateestSuffixes are iproute's rate units, in bits per second.
var rateestSuffixes = []struct {
	name  string
	scale float64
}{
	{"bit", 1}, {"Kibit", 1024}, {"kbit", 1000}, {"Mibit", 1024 * 1024}, {"mbit", 1e6},
	{"Gibit", 1024 * 1024 * 1024}, {"gbit", 1e9}, {"Tibit", 1024 * 1024 * 1024 * 1024}, {"tbit", 1e12},
	{"Bps", 8}, {"KiBps", 8 * 1024}, {"KBps", 8000}, {"MiBps", 8 * 1024 * 1024}, {"MBps", 8e6},
	{"GiBps", 8 * 1024 * 1024 * 1024}, {"GBps", 8e9}, {"TiBps", 8 * 1024 * 1024 * 1024 * 1024}, {"TBps", 8e12},
}

// parseRateestRate is rateest_get_rate: a number with a unit, into
// bytes per second.
func parseRateestRate(s string) (uint32, error) {
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.' || s[i] == '+' || s[i] == '-' || s[i] == 'e' && i > 0) {
		i++
	}
	v, err := strconv.ParseFloat(s[:i], 64)
	if i == 0 || err != nil {
		return 0, fmt.Errorf("could not parse rate %q (write e.g. 8bit, 5kbit, 1mbit or 100KBps)", s)
	}
	unit := s[i:]
	if unit == "" {
		return uint32(v / 8), nil
	}
	for _, u := range rateestSuffixes {
		if strings.EqualFold(u.name, unit) {
			return uint32(v * u.scale / 8), nil
		}
	}
	return 0, fmt.Errorf("could not parse rate %q (write e.g. 8bit, 5kbit, 1mbit or 100KBps)", s)
}

// optionalWord takes the next word when it is not an option or "!".
func optionalWord(more *Args) (string, bool) {
	if more == nil || more.Next >= len(more.Words) {
		return "", false
	}
	w := more.Words[more.Next]
	if strings.HasPrefix(w, "-") || strings.HasPrefix(w, "!") {
		return "", false
	}
	more.Next++
	return w, true
}

// Parse implements Parser.
func (m *rateestMatch) Parse(opt, arg string, invert bool, more *Args) error {
	if m.seen == nil {
		m.seen = map[string]bool{}
	}
	key := map[string]string{"rateest": "rateest1", "rateest-bps": "rateest-bps2", "rateest-pps": "rateest-pps2",
		"rateest-lt": "mode", "rateest-gt": "mode", "rateest-eq": "mode"}[opt]
	if key == "" {
		key = opt
	}
	if m.seen[key] {
		if key == "mode" {
			return fmt.Errorf("can't specify lt/gt/eq twice")
		}
		return fmt.Errorf("can't specify --%s twice", key)
	}
	m.seen[key] = true
	if invert && key != "mode" {
		return fmt.Errorf("--%s can't be inverted", opt)
	}
	name := func() string {
		if len(arg) > 15 {
			return arg[:15]
		}
		return arg
	}
	switch key {
	case "rateest1":
		m.name1 = name()
	case "rateest2":
		m.name2 = name()
		m.flags |= reRel
	case "rateest-bps1", "rateest-bps2":
		m.flags |= reBPS
		if w, ok := optionalWord(more); ok {
			r, err := parseRateestRate(w)
			if err != nil {
				return err
			}
			if key == "rateest-bps1" {
				m.bps1 = r
			} else {
				m.bps2 = r
			}
		}
	case "rateest-pps1", "rateest-pps2":
		m.flags |= rePPS
		if w, ok := optionalWord(more); ok {
			v, ok := StrtoulFull(w, 0, 0, 1<<32-1)
			if !ok {
				return fmt.Errorf("could not parse pps %q", w)
			}
			if key == "rateest-pps1" {
				m.pps1 = uint32(v)
			} else {
				m.pps2 = uint32(v)
			}
		}
	case "rateest-delta":
		m.flags |= reDelta
	case "mode":
		m.mode = map[string]uint16{"rateest-eq": reEq, "rateest-lt": reLt, "rateest-gt": reGt}[opt]
		if invert {
			m.flags |= reInvert
		}
	default:
		return fmt.Errorf("unknown option --%s", opt)
	}
	return nil
}

// Finish implements Parser: rateest_final_check and the kernel's checks
// that do not need the estimators.
func (m *rateestMatch) Finish(*RuleInfo) error {
	if m.flags&reRel == 0 {
		m.flags |= reAbs
	}
	if m.name1 == "" {
		return fmt.Errorf("invalid argument: name the estimator with --rateest (or --rateest1)")
	}
	if m.flags&(reBPS|rePPS) == 0 {
		return fmt.Errorf("invalid argument: give --rateest-bps or --rateest-pps")
	}
	if m.mode == 0 {
		return fmt.Errorf("invalid argument: give --rateest-lt, --rateest-gt or --rateest-eq")
	}
	return nil
}

func rateestRate(b *strings.Builder, rate uint32, numeric bool) {
	tmp := float64(rate) * 8
	switch {
	case numeric:
		b.WriteString(" " + strconv.FormatUint(uint64(rate), 10))
	case tmp >= 1000.0*1000000.0:
		b.WriteString(" " + strconv.FormatFloat(tmp/1e6, 'f', 0, 64) + "Mbit")
	case tmp >= 1000.0*1000.0:
		b.WriteString(" " + strconv.FormatFloat(tmp/1e3, 'f', 0, 64) + "Kbit")
	default:
		b.WriteString(" " + strconv.FormatFloat(tmp, 'f', 0, 64) + "bit")
	}
}

func (m *rateestMatch) writeMode(b *strings.Builder, prefix string) {
	if m.flags&reInvert != 0 {
		b.WriteString(" !")
	}
	b.WriteString(" " + prefix + [...]string{"", "eq", "lt", "gt"}[m.mode])
}

func (m *rateestMatch) saveRate(b *strings.Builder, name string, r1, r2 uint32, numeric bool) {
	if m.flags&reDelta != 0 {
		b.WriteString(" --rateest-" + name + "1")
		rateestRate(b, r1, numeric)
		m.writeMode(b, "--rateest-")
		b.WriteString(" --rateest-" + name + "2")
	} else {
		m.writeMode(b, "--rateest-")
		b.WriteString(" --rateest-" + name)
	}
	if m.flags&(reAbs|reDelta) != 0 {
		rateestRate(b, r2, numeric)
	}
}

// Save implements Parser.
func (m *rateestMatch) Save(b *strings.Builder) {
	if m.flags&reDelta != 0 {
		b.WriteString(" --rateest-delta")
	}
	if m.flags&reRel != 0 {
		b.WriteString(" --rateest1 " + m.name1)
	} else {
		b.WriteString(" --rateest " + m.name1)
	}
	if m.flags&reBPS != 0 {
		m.saveRate(b, "bps", m.bps1, m.bps2, false)
	}
	if m.flags&rePPS != 0 {
		m.saveRate(b, "pps", m.pps1, m.pps2, true)
	}
	if m.flags&reRel != 0 {
		b.WriteString(" --rateest2 " + m.name2)
	}
}

// Print implements Parser.
func (m *rateestMatch) Print(b *strings.Builder, numeric bool) {
	b.WriteString(" rateest match " + m.name1)
	if m.flags&reDelta != 0 {
		b.WriteString(" delta")
	}
	if m.flags&reBPS != 0 {
		b.WriteString(" bps")
		if m.flags&reDelta != 0 {
			rateestRate(b, m.bps1, numeric)
		}
		if m.flags&reAbs != 0 {
			rateestRate(b, m.bps2, numeric)
			m.writeMode(b, "")
		}
	}
	if m.flags&rePPS != 0 {
		b.WriteString(" pps")
		if m.flags&reDelta != 0 {
			b.WriteString(" " + strconv.FormatUint(uint64(m.pps1), 10))
		}
		if m.flags&reAbs != 0 {
			m.writeMode(b, "")
			b.WriteString(" " + strconv.FormatUint(uint64(m.pps2), 10))
		}
	}
	if m.flags&reRel != 0 {
		m.writeMode(b, "")
		b.WriteString(" " + m.name2)
		if m.flags&reBPS != 0 {
			b.WriteString(" bps")
			if m.flags&reDelta != 0 {
				rateestRate(b, m.bps2, numeric)
			}
		}
		if m.flags&rePPS != 0 {
			b.WriteString(" pps")
			if m.flags&reDelta != 0 {
				b.WriteString(" " + strconv.FormatUint(uint64(m.pps2), 10))
			}
		}
	}
}

// Compile implements Match.
func (m *rateestMatch) Compile(*Compiler) (Matcher, error) {
	return nil, fmt.Errorf("-m rateest: ipsift does not model the rate estimators of RATEEST targets (estimator %s); the rule cannot be evaluated", m.name1)
}
