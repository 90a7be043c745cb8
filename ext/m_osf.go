package ext

import (
	"fmt"
	"strconv"
	"strings"
)

// The osf match (-m osf, libxt_osf and the kernel's xt_osf) guesses the
// operating system of a TCP SYN's sender from the fingerprints userspace
// loaded with nfnl_osf. ipsift has no fingerprint database: the rule
// parses and prints, and Compile says so. The kernel wants -p tcp and
// PREROUTING, INPUT or FORWARD.

const osfGenreLen = 32 // MAXGENRELEN

// XT_OSF_* flags.
const (
	osfTTL    = 1 << 1
	osfLog    = 1 << 2
	osfInvert = 1 << 3
)

func init() {
	RegisterMatch(&MatchType{
		Name:   "osf",
		Family: IPv4,
		Proto:  6,
		Hooks:  HookPreRouting | HookLocalIn | HookForward,
		Options: []Option{
			{Name: "genre", Arg: OneArg, Invert: true, Mandatory: true},
			{Name: "ttl", Arg: OneArg},
			{Name: "log", Arg: OneArg},
		},
		New: func() Match { return &osfMatch{} },
	})
}

// osfMatch is one -m osf in a rule (struct xt_osf_info).
type osfMatch struct {
	genre         string
	flags         uint32
	ttl, loglevel uint32
}

// Parse implements Parser.
func (m *osfMatch) Parse(opt, arg string, invert bool, _ *Args) error {
	switch opt {
	case "genre":
		if len(arg) > osfGenreLen-1 {
			arg = arg[:osfGenreLen-1]
		}
		m.genre = arg
		if invert {
			m.flags |= osfInvert
		}
	case "ttl", "log":
		v, ok := StrtoulFull(arg, 0, 0, 2)
		if !ok {
			return fmt.Errorf("bad value %q, or out of range (0-2)", arg)
		}
		if opt == "ttl" {
			m.ttl = uint32(v)
			m.flags |= osfTTL
		} else {
			m.loglevel = uint32(v)
			m.flags |= osfLog
		}
	default:
		return fmt.Errorf("unknown option --%s", opt)
	}
	return nil
}

// Finish implements Parser.
func (m *osfMatch) Finish(*RuleInfo) error { return nil }

// Save implements Parser.
func (m *osfMatch) Save(b *strings.Builder) {
	if m.flags&osfInvert != 0 {
		b.WriteString(" !")
	}
	b.WriteString(" --genre " + m.genre)
	if m.flags&osfTTL != 0 {
		b.WriteString(" --ttl " + strconv.FormatUint(uint64(m.ttl), 10))
	}
	if m.flags&osfLog != 0 {
		b.WriteString(" --log " + strconv.FormatUint(uint64(m.loglevel), 10))
	}
}

// Print implements Parser.
func (m *osfMatch) Print(b *strings.Builder, _ bool) {
	not := ""
	if m.flags&osfInvert != 0 {
		not = "! "
	}
	b.WriteString(" OS fingerprint match " + not + m.genre)
}

// Compile implements Match.
func (m *osfMatch) Compile(*Compiler) (Matcher, error) {
	return nil, fmt.Errorf("-m osf: ipsift has no OS fingerprint database (nfnl_osf); the rule cannot be evaluated")
}
