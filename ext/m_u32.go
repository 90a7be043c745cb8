package ext

import (
	"fmt"
	"strings"
)

// The u32 match (-m u32 --u32 "TESTS"): tests on 32-bit words read at
// offsets into the packet (counted from the first byte of the IP header),
// as iptables' libxt_u32.c reads and prints them and the kernel's
// xt_u32.c evaluates them.
//
//	tests    := location "=" value { "&&" location "=" value }
//	value    := range { "," range }
//	range    := number [ ":" number ]
//	location := number { operator number }
//	operator := "&" | "<<" | ">>" | "@"
//
// A location starts by reading the big-endian word at its first number;
// "&" masks it, "<<" and ">>" shift it, and "@" moves the base offset by
// the current value and reads the word at the next number from there
// (so "0>>22&0x3C@0" reads the first word of the transport header). A
// test holds when the result lies in one of the value ranges; all tests
// must hold. A read past the end of the packet makes the whole match
// false (then "!" makes it true), as in the kernel.
//
// Shifts by 32 or more are refused, as the kernel's u32_mt_checkentry
// has refused them since 6.6 (C leaves them undefined).

// u32Max is XT_U32_MAXSIZE: at most this many tests, location numbers
// per test and value ranges per test.
const u32Max = 10

// u32 location operators (XT_U32_*).
const (
	u32And = iota
	u32LeftSh
	u32RightSh
	u32At
)

// u32Test is struct xt_u32_test.
type u32Test struct {
	nums   [u32Max]uint32
	ops    [u32Max]uint8 // ops[i] joins nums[i-1] and nums[i]
	nnums  int
	ranges [u32Max][2]uint32
	nvals  int
}

// u32Match is one -m u32 in one rule (struct xt_u32).
type u32Match struct {
	tests  [u32Max]u32Test
	ntests int
	invert bool
}

func init() {
	RegisterMatch(&MatchType{
		Name:    "u32",
		Family:  AnyFamily,
		Options: []Option{{Name: "u32", Arg: OneArg, Invert: true, Mandatory: true}},
		New:     func() Match { return &u32Match{} },
	})
}

// Parse implements Parser.
func (m *u32Match) Parse(opt, arg string, invert bool, more *Args) error {
	if opt != "u32" {
		return Errorf("unknown option --%s", opt)
	}
	m.invert = invert
	return m.parse(arg)
}

func isCSpace(c byte) bool { return c == ' ' || c >= '\t' && c <= '\r' }

// parse reads the test expression as libxt_u32's u32_parse, with its
// messages (positions are byte offsets into the argument).
func (m *u32Match) parse(s string) error {
	*m = u32Match{invert: m.invert}
	i := 0
	state := 0 // 0: reading a location, 1: reading values
	ct := &m.tests[0]
	number := func() (uint32, error) {
		v, rest, ok := ParseUintPrefix(s[i:], 0, 0xffffffff)
		if !ok {
			return 0, fmt.Errorf("u32: at char %d: not a number or out of range", i)
		}
		i = len(s) - len(rest)
		return uint32(v), nil
	}
	for {
		for i < len(s) && isCSpace(s[i]) {
			i++
		}
		if i == len(s) {
			if state == 0 {
				return fmt.Errorf("u32: abrupt end of input after location specifier in %q: a test is LOCATION=VALUE", s)
			}
			if ct.nvals == 0 {
				return fmt.Errorf("u32: test ended with no value specified")
			}
			m.ntests++
			return nil
		}
		c := s[i]
		if state == 0 {
			if c == '=' {
				if ct.nnums == 0 {
					return fmt.Errorf("u32: at char %d: location spec missing", i)
				}
				i++
				state = 1
				continue
			}
			var op uint8
			if ct.nnums != 0 {
				switch c {
				case '&':
					op = u32And
				case '<', '>':
					if i+1 >= len(s) || s[i+1] != c {
						return fmt.Errorf("u32: at char %d: a second '%c' was expected", i+1, c)
					}
					i++
					op = u32LeftSh
					if c == '>' {
						op = u32RightSh
					}
				case '@':
					op = u32At
				default:
					return fmt.Errorf("u32: at char %d: operator expected (&, <<, >> or @)", i)
				}
				i++
			}
			if ct.nnums == u32Max {
				return fmt.Errorf("u32: at char %d: too many operators (at most %d numbers in a location)", i, u32Max)
			}
			v, err := number()
			if err != nil {
				return err
			}
			ct.nums[ct.nnums], ct.ops[ct.nnums] = v, op
			ct.nnums++
			continue
		}
		if c == '&' {
			if i+1 >= len(s) || s[i+1] != '&' {
				return fmt.Errorf("u32: at char %d: a second '&' was expected", i+1)
			}
			i++
			if ct.nvals == 0 {
				return fmt.Errorf("u32: at char %d: value spec missing", i)
			}
			m.ntests++
			if m.ntests == u32Max {
				return fmt.Errorf("u32: at char %d: too many \"&&\"s (at most %d tests)", i, u32Max)
			}
			ct = &m.tests[m.ntests]
			i++
			state = 0
			continue
		}
		if ct.nvals > 0 {
			if c != ',' {
				return fmt.Errorf("u32: at char %d: expected \",\" or \"&&\"", i)
			}
			i++
		}
		if ct.nvals == u32Max {
			return fmt.Errorf("u32: at char %d: too many \",\"s (at most %d ranges in a value)", i, u32Max)
		}
		lo, err := number()
		if err != nil {
			return err
		}
		hi := lo
		for i < len(s) && isCSpace(s[i]) {
			i++
		}
		if i < len(s) && s[i] == ':' {
			i++
			if hi, err = number(); err != nil {
				return err
			}
		}
		ct.ranges[ct.nvals] = [2]uint32{lo, hi}
		ct.nvals++
	}
}

// Finish implements Parser, with the kernel's u32_mt_checkentry.
func (m *u32Match) Finish(r *RuleInfo) error {
	for t := 0; t < m.ntests; t++ {
		ct := &m.tests[t]
		for i := 1; i < ct.nnums; i++ {
			if (ct.ops[i] == u32LeftSh || ct.ops[i] == u32RightSh) && ct.nums[i] >= 32 {
				return Errorf("u32: a shift by %d bits: the kernel refuses shifts of 32 or more (a 32-bit value shifted that far is 0: test with &0 instead)", ct.nums[i])
			}
		}
	}
	return nil
}

var u32OpNames = [...]string{"&", "<<", ">>", "@"}

// dump is u32_dump: the expression in iptables' canonical form, quoted.
func (m *u32Match) dump(b *strings.Builder) {
	b.WriteString(` "`)
	for t := 0; t < m.ntests; t++ {
		ct := &m.tests[t]
		if t > 0 {
			b.WriteString("&&")
		}
		fmt.Fprintf(b, "0x%x", ct.nums[0])
		for i := 1; i < ct.nnums; i++ {
			fmt.Fprintf(b, "%s0x%x", u32OpNames[ct.ops[i]], ct.nums[i])
		}
		b.WriteByte('=')
		for i := 0; i < ct.nvals; i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			if r := ct.ranges[i]; r[0] == r[1] {
				fmt.Fprintf(b, "0x%x", r[0])
			} else {
				fmt.Fprintf(b, "0x%x:0x%x", r[0], r[1])
			}
		}
	}
	b.WriteByte('"')
}

// Save implements Parser.
func (m *u32Match) Save(b *strings.Builder) {
	if m.invert {
		b.WriteString(" !")
	}
	b.WriteString(" --u32")
	m.dump(b)
}

// Print implements Parser.
func (m *u32Match) Print(b *strings.Builder, numeric bool) {
	b.WriteString(" u32")
	if m.invert {
		b.WriteString(" !")
	}
	m.dump(b)
}

// Compile implements Match.
func (m *u32Match) Compile(c *Compiler) (Matcher, error) {
	cm := *m
	return &cm, nil
}

// eval is u32_match_it: whether all tests hold, and the index of the
// first that does not (or -1), with the value it computed and whether it
// ran off the packet, for explanations.
func (m *u32Match) eval(data []byte) (ok bool, failed int, val uint32, short bool) {
	n := uint32(len(data))
	for t := 0; t < m.ntests; t++ {
		ct := &m.tests[t]
		var at uint32
		pos := ct.nums[0]
		if n < 4 || pos > n-4 {
			return false, t, 0, true
		}
		val = be32(data[pos:])
		for i := 1; i < ct.nnums; i++ {
			num := ct.nums[i]
			switch ct.ops[i] {
			case u32And:
				val &= num
			case u32LeftSh:
				val <<= num
			case u32RightSh:
				val >>= num
			case u32At:
				if at+val < at {
					return false, t, val, true
				}
				at += val
				pos = num
				if at+4 < at || n < at+4 || pos > n-at-4 {
					return false, t, val, true
				}
				val = be32(data[at+pos:])
			}
		}
		in := false
		for i := 0; i < ct.nvals && !in; i++ {
			in = ct.ranges[i][0] <= val && val <= ct.ranges[i][1]
		}
		if !in {
			return false, t, val, false
		}
	}
	return true, -1, 0, false
}

// u32Data is the packet as the kernel's skb holds it: the IP packet up to
// its total length.
func u32Data(c *Ctx) []byte {
	d := c.Pkt.Data
	if t := c.Pkt.TotalLen; t > 0 && t < len(d) {
		d = d[:t]
	}
	return d
}

// Match implements Matcher.
func (m *u32Match) Match(c *Ctx) bool {
	ok, _, _, _ := m.eval(u32Data(c))
	return ok != m.invert
}

// Explain implements Explainer.
func (m *u32Match) Explain(c *Ctx, matched bool) string {
	ok, t, val, short := m.eval(u32Data(c))
	var b strings.Builder
	m.Save(&b)
	expr := strings.TrimSpace(b.String())
	switch {
	case ok:
		return expr + ": every test holds"
	case short:
		return fmt.Sprintf("%s: test %d reads past the end of the packet (%d bytes)", expr, t+1, len(u32Data(c)))
	}
	return fmt.Sprintf("%s: test %d computes 0x%x, in none of its ranges", expr, t+1, val)
}
