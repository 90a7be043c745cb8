package ext

import (
	"fmt"
	"strconv"
	"strings"
)

// The set match (-m set, libxt_set revision 4 and the kernel's xt_set)
// tests whether the packet's addresses and ports are in an ipset. ipsift
// has no ipsets: the rule parses, checks and prints (so that rulesets
// using ipset can be read, linted and diffed), and Compile says so.

// ipset limits and flags.
const (
	ipsetDimMax     = 6
	ipsetMaxNameLen = 32

	ipsetInvMatch           = 1 << 0
	ipsetFlagReturnNomatch  = 1 << 7
	ipsetFlagSkipCounter    = 1 << 8
	ipsetFlagSkipSubcounter = 1 << 9
	ipsetCounterNone        = 0
	ipsetCounterEq          = 1
	ipsetCounterNe          = 2
	ipsetCounterLt          = 3
	ipsetCounterGt          = 4
)

func init() {
	opts := []Option{{Name: "match-set", Arg: OneArg}, {Name: "set", Arg: OneArg}}
	for _, n := range []string{"return-nomatch", "update-counters", "update-subcounters"} {
		opts = append(opts, Option{Name: n})
	}
	for _, n := range []string{"packets-eq", "packets-lt", "packets-gt", "bytes-eq", "bytes-lt", "bytes-gt"} {
		opts = append(opts, Option{Name: n, Arg: OneArg})
	}
	// libxt_set parses the old way: "!" is allowed everywhere by the
	// core and refused by the extension where it makes no sense, and
	// repeats are the extension's business.
	for i := range opts {
		opts[i].Invert, opts[i].Multi = true, true
	}
	RegisterMatch(&MatchType{
		Name:    "set",
		Family:  AnyFamily,
		Options: opts,
		New:     func() Match { return &setMatch{} },
	})
}

// setCounter is struct ip_set_counter_match.
type setCounter struct {
	op    uint8
	value uint64
}

// setMatch is one -m set in a rule (struct xt_set_info_match_v4).
type setMatch struct {
	name     string
	dim      int
	dirFlags uint32 // bit i set: dimension i is src
	invert   bool
	flags    uint32
	packets  setCounter
	bytes    setCounter
}

// Parse implements Parser.
func (m *setMatch) Parse(opt, arg string, invert bool, more *Args) error {
	counter := func(c *setCounter, what, op string) error {
		if c.op != ipsetCounterNone {
			return fmt.Errorf("only one of the --%s-[eq|lt|gt] is allowed", what)
		}
		v, ok := StrtoulFull(arg, 0, 0, 0)
		if !ok {
			return fmt.Errorf("cannot parse %q as a counter value", arg)
		}
		switch {
		case op == "eq" && invert:
			c.op = ipsetCounterNe
		case op == "eq":
			c.op = ipsetCounterEq
		case invert:
			return fmt.Errorf("--%s-%s option cannot be inverted", what, op)
		case op == "lt":
			c.op = ipsetCounterLt
		default:
			c.op = ipsetCounterGt
		}
		c.value = v
		return nil
	}
	switch opt {
	case "match-set", "set":
		if m.dim != 0 {
			return fmt.Errorf("--match-set can be specified only once")
		}
		m.invert = invert
		if more == nil || more.Next >= len(more.Words) || strings.HasPrefix(more.Words[more.Next], "-") || strings.HasPrefix(more.Words[more.Next], "!") {
			return fmt.Errorf("--match-set requires two args: the set name and the directions, e.g. --match-set blocklist src")
		}
		dirs := more.Words[more.Next]
		more.Next++
		if len(arg) > ipsetMaxNameLen-1 {
			return fmt.Errorf("setname %q too long, max %d characters", arg, ipsetMaxNameLen-1)
		}
		m.name = arg
		parts := strings.Split(dirs, ",")
		if len(parts) > ipsetDimMax {
			return fmt.Errorf("can't be more src/dst options than %d", ipsetDimMax)
		}
		for _, p := range parts {
			m.dim++
			switch {
			case strings.HasPrefix(p, "src"):
				m.dirFlags |= 1 << m.dim
			case strings.HasPrefix(p, "dst"):
			default:
				return fmt.Errorf("you must specify (the comma separated list of) 'src' or 'dst', not %q", dirs)
			}
		}
	case "return-nomatch":
		if invert {
			return fmt.Errorf("--return-nomatch flag cannot be inverted")
		}
		m.flags |= ipsetFlagReturnNomatch
	case "update-counters":
		if invert {
			m.flags |= ipsetFlagSkipCounter
		}
	case "update-subcounters":
		if invert {
			m.flags |= ipsetFlagSkipSubcounter
		}
	case "packets-eq", "packets-lt", "packets-gt":
		return counter(&m.packets, "packets", opt[len(opt)-2:])
	case "bytes-eq", "bytes-lt", "bytes-gt":
		return counter(&m.bytes, "bytes", opt[len(opt)-2:])
	default:
		return fmt.Errorf("unknown option --%s", opt)
	}
	return nil
}

// Finish implements Parser.
func (m *setMatch) Finish(*RuleInfo) error {
	if m.dim == 0 {
		return fmt.Errorf("you must specify --match-set with proper arguments")
	}
	// The kernel refuses a rule naming a set that does not exist, and
	// ipsift has no ipsets: every named set is missing.
	return fmt.Errorf("set %q does not exist (ipsift has no ipsets yet; the kernel refuses rules naming missing sets)", m.name)
}

func (m *setMatch) dump(b *strings.Builder, opt, sep string) {
	if m.invert {
		b.WriteString(" !")
	}
	b.WriteString(" " + opt + " " + m.name)
	for i := 1; i <= m.dim; i++ {
		if i == 1 {
			b.WriteByte(' ')
		} else {
			b.WriteByte(',')
		}
		if m.dirFlags&(1<<i) != 0 {
			b.WriteString("src")
		} else {
			b.WriteString("dst")
		}
	}
	if m.flags&ipsetFlagReturnNomatch != 0 {
		b.WriteString(" " + sep + "return-nomatch")
	}
	if m.flags&ipsetFlagSkipCounter != 0 {
		b.WriteString(" ! " + sep + "update-counters")
	}
	if m.flags&ipsetFlagSkipSubcounter != 0 {
		b.WriteString(" ! " + sep + "update-subcounters")
	}
	for _, c := range []struct {
		c    setCounter
		name string
	}{{m.packets, "packets"}, {m.bytes, "bytes"}} {
		v := strconv.FormatUint(c.c.value, 10)
		switch c.c.op {
		case ipsetCounterEq:
			b.WriteString(" " + sep + c.name + "-eq " + v)
		case ipsetCounterNe:
			b.WriteString(" ! " + sep + c.name + "-eq " + v)
		case ipsetCounterLt:
			b.WriteString(" " + sep + c.name + "-lt " + v)
		case ipsetCounterGt:
			b.WriteString(" " + sep + c.name + "-gt " + v)
		}
	}
}

// Save implements Parser.
func (m *setMatch) Save(b *strings.Builder) { m.dump(b, "--match-set", "--") }

// Print implements Parser.
func (m *setMatch) Print(b *strings.Builder, _ bool) { m.dump(b, "match-set", "") }

// Compile implements Match.
func (m *setMatch) Compile(*Compiler) (Matcher, error) {
	return nil, fmt.Errorf("-m set: ipsift has no ipsets (set %q); the rule cannot be evaluated (list the addresses with -s/-d or -m iprange instead)", m.name)
}
