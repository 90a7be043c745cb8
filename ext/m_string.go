package ext

import (
	"fmt"
	"strconv"
	"strings"
)

// The string match (-m string --algo bm|kmp --string TEXT | --hex-string
// HEX [--from N] [--to N] [--icase]): a byte pattern anywhere in the
// packet, counted from the first byte of the IP header, as iptables'
// libxt_string.c (revision 1) reads and prints it and the kernel's
// xt_string.c, skb_find_text and its textsearch algorithms find it.
//
// The search starts at --from and the pattern must end by --to (the
// kernel since 6.4 refuses a find that runs past --to). Both algorithms
// are the kernel's own: kmp finds the first occurrence; bm is the
// kernel's Boyer-Moore, whose good-suffix table is its own (ipsift builds
// the same table, so it finds what the kernel finds, skipped occurrences
// included). With --icase both compare letters through the kernel's
// toupper, which folds Latin-1 letters as well as ASCII ones.

// stringMaxPattern is XT_STRING_MAX_PATTERN_SIZE.
const stringMaxPattern = 128

// stringMatch is one -m string in one rule (struct xt_string_info).
type stringMatch struct {
	from, to uint16
	algo     string
	pattern  []byte
	invert   bool
	icase    bool
	given    bool // --string or --hex-string
}

func init() {
	RegisterMatch(&MatchType{
		Name:   "string",
		Family: AnyFamily,
		Options: []Option{
			{Name: "from", Arg: OneArg},
			{Name: "to", Arg: OneArg},
			{Name: "algo", Arg: OneArg, Mandatory: true},
			{Name: "string", Arg: OneArg, Invert: true, Excludes: []string{"hex-string"}},
			{Name: "hex-string", Arg: OneArg, Invert: true, Excludes: []string{"string"}},
			{Name: "icase", Arg: NoArg},
		},
		New: func() Match { return &stringMatch{to: 65535} },
	})
}

// Parse implements Parser.
func (m *stringMatch) Parse(opt, arg string, invert bool, more *Args) error {
	switch opt {
	case "from", "to":
		v, ok := ParseUintFull(arg, 0, 65535)
		if !ok {
			return Errorf("bad value %q: an offset is 0-65535", arg)
		}
		if opt == "from" {
			m.from = uint16(v)
		} else {
			m.to = uint16(v)
		}
	case "algo":
		// The kernel's field holds 15 characters; iptables cuts the rest.
		if len(arg) > 15 {
			arg = arg[:15]
		}
		m.algo = arg
	case "string":
		if len(arg) > stringMaxPattern {
			return Errorf("string too long (%d bytes): the kernel takes at most %d", len(arg), stringMaxPattern)
		}
		m.pattern, m.invert, m.given = []byte(arg), invert, true
	case "hex-string":
		p, err := parseHexString(arg)
		if err != nil {
			return err
		}
		m.pattern, m.invert, m.given = p, invert, true
	case "icase":
		m.icase = true
	default:
		return Errorf("unknown option --%s", opt)
	}
	return nil
}

// parseHexString reads a --hex-string argument as iptables'
// parse_hex_string: text, with hex bytes between '|' (blanks allowed
// after a byte), and '\' quoting the next character outside them.
func parseHexString(s string) ([]byte, error) {
	if s == "" {
		return nil, fmt.Errorf("the string must contain at least one character")
	}
	var out []byte
	hex, literal := false, false
	at := func(i int) byte {
		if i < len(s) {
			return s[i]
		}
		return 0
	}
	for i := 0; i < len(s); {
		if len(out) >= stringMaxPattern {
			return nil, fmt.Errorf("string %q too long: the kernel takes at most %d bytes", s, stringMaxPattern)
		}
		switch {
		case s[i] == '\\' && !hex:
			literal = true
		case s[i] == '\\':
			return nil, fmt.Errorf("cannot include literals (\\) inside |hex| data in %q", s)
		case s[i] == '|':
			if hex {
				hex = false
			} else {
				hex = true
				for at(i+1) == ' ' {
					i++
				}
			}
			if i+1 >= len(s) {
				return out, nil
			}
			i++
		}
		switch {
		case literal:
			if i+1 >= len(s) {
				return nil, fmt.Errorf("bad literal placement at the end of %q: a \\ must be followed by the character it quotes", s)
			}
			out = append(out, s[i+1])
			i += 2
			literal = false
		case hex:
			if i+1 >= len(s) {
				return nil, fmt.Errorf("odd number of hex digits in %q", s)
			}
			if i+2 >= len(s) {
				return nil, fmt.Errorf("invalid hex block in %q: it must end with |", s)
			}
			hi, lo := digitVal(s[i]), digitVal(s[i+1])
			if hi >= 16 {
				return nil, fmt.Errorf("invalid hex char %q in %q", s[i], s)
			}
			if lo >= 16 {
				return nil, fmt.Errorf("invalid hex char %q in %q", s[i+1], s)
			}
			out = append(out, byte(hi<<4|lo))
			if s[i+2] == ' ' {
				i += 3
			} else {
				i += 2
			}
		default:
			out = append(out, s[i])
			i++
		}
	}
	return out, nil
}

// Finish implements Parser, with the kernel's string_mt_check.
func (m *stringMatch) Finish(r *RuleInfo) error {
	if !m.given {
		return Errorf("STRING match: you must specify --string or --hex-string")
	}
	if m.from > m.to {
		return Errorf("--from %d is beyond --to %d: the kernel refuses the rule", m.from, m.to)
	}
	if len(m.pattern) == 0 {
		return Errorf("the pattern is empty: the kernel refuses an empty pattern")
	}
	switch m.algo {
	case "bm", "kmp":
	case "fsm":
		return Errorf("--algo fsm takes a compiled token program, not text: use --algo bm or --algo kmp")
	default:
		return Errorf("unknown algorithm %q: use --algo bm (Boyer-Moore) or --algo kmp (Knuth-Morris-Pratt)", m.algo)
	}
	return nil
}

// isHexString is iptables' is_hex_string: a pattern with a byte that is
// not printable ASCII, or that ends in a backslash, is shown in hex.
func isHexString(p []byte) bool {
	for _, c := range p {
		if c < 0x20 || c > 0x7e {
			return true
		}
	}
	return len(p) > 0 && p[len(p)-1] == '\\'
}

// appendPattern writes ` "|0a0b|"` or ` "text"` (with '"' and '\'
// escaped), as iptables prints the pattern.
func appendPattern(b *strings.Builder, p []byte) {
	if isHexString(p) {
		b.WriteString(` "|`)
		for _, c := range p {
			fmt.Fprintf(b, "%02x", c)
		}
		b.WriteString(`|"`)
		return
	}
	b.WriteString(` "`)
	for _, c := range p {
		if c == '"' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
	b.WriteByte('"')
}

// Save implements Parser.
func (m *stringMatch) Save(b *strings.Builder) {
	if m.invert {
		b.WriteString(" !")
	}
	if isHexString(m.pattern) {
		b.WriteString(" --hex-string")
	} else {
		b.WriteString(" --string")
	}
	appendPattern(b, m.pattern)
	b.WriteString(" --algo " + m.algo)
	if m.from != 0 {
		fmt.Fprintf(b, " --from %d", m.from)
	}
	if m.to != 65535 {
		fmt.Fprintf(b, " --to %d", m.to)
	}
	if m.icase {
		b.WriteString(" --icase")
	}
}

// Print implements Parser.
func (m *stringMatch) Print(b *strings.Builder, numeric bool) {
	b.WriteString(" STRING match " + bangNoSpace(m.invert))
	appendPattern(b, m.pattern)
	b.WriteString(" ALGO name " + m.algo)
	if m.from != 0 {
		fmt.Fprintf(b, " FROM %d", m.from)
	}
	if m.to != 65535 {
		fmt.Fprintf(b, " TO %d", m.to)
	}
	if m.icase {
		b.WriteString(" ICASE")
	}
}

// stringMatcher is a compiled string match: the pattern (upper-cased
// for --icase, as the kernel keeps it) and the search tables.
type stringMatcher struct {
	m       stringMatch
	pat     []byte
	kmp     bool
	bad     [256]int // bm: bad-character shifts
	good    []int    // bm: good-suffix shifts; kmp: the prefix table
	display string
}

// Compile implements Match.
func (m *stringMatch) Compile(c *Compiler) (Matcher, error) {
	sm := &stringMatcher{m: *m, kmp: m.algo == "kmp"}
	sm.pat = make([]byte, len(m.pattern))
	for i, ch := range m.pattern {
		if m.icase {
			ch = kToUpper(ch)
		}
		sm.pat[i] = ch
	}
	if len(sm.pat) == 0 {
		return nil, Errorf("the pattern is empty")
	}
	if sm.kmp {
		sm.good = kmpPrefix(sm.pat)
	} else {
		sm.bad, sm.good = bmTables(sm.pat, m.icase)
	}
	var b strings.Builder
	appendPattern(&b, m.pattern)
	sm.display = strings.TrimSpace(b.String())
	return sm, nil
}

// kmpPrefix is the kernel's ts_kmp prefix table (on the already
// upper-cased pattern, which is what folding both sides amounts to).
func kmpPrefix(p []byte) []int {
	t := make([]int, len(p))
	k := 0
	for q := 1; q < len(p); q++ {
		for k > 0 && p[k] != p[q] {
			k = t[k-1]
		}
		if p[k] == p[q] {
			k++
		}
		t[q] = k
	}
	return t
}

// bmTables builds the kernel's ts_bm tables: the bad-character shift
// (also for the lower-case letter of each pattern letter under --icase)
// and its good-suffix shift.
func bmTables(p []byte, icase bool) (bad [256]int, good []int) {
	n := len(p)
	for i := range bad {
		bad[i] = n
	}
	for i := 0; i < n-1; i++ {
		bad[p[i]] = n - 1 - i
		if icase {
			bad[kToLower(p[i])] = n - 1 - i
		}
	}
	good = make([]int, n)
	good[0] = 1
	for i := 1; i < n; i++ {
		good[i] = n
	}
	for i, g := n-1, 1; i > 0; i, g = i-1, g+1 {
		for j := i - 1; j >= 1-g; j-- {
			if bmSubpattern(p, i, j, g) {
				good[g] = n - j - g
				break
			}
		}
	}
	return bad, good
}

// bmSubpattern is ts_bm's subpattern: whether the g bytes ending the
// pattern recur ending at j+g-1, preceded by a different byte (or
// running off the pattern's start).
func bmSubpattern(p []byte, i, j, g int) bool {
	x, y := i+g-1, j+g-1
	for {
		eq := p[x] == p[y]
		x, y = x-1, y-1
		if !eq {
			return false
		}
		if y < 0 {
			return true
		}
		g--
		if g == 0 {
			return p[i-1] != p[j-1]
		}
	}
}

// find returns the offset of the pattern in text as the kernel's
// algorithm finds it, or -1.
func (sm *stringMatcher) find(text []byte) int {
	icase := sm.m.icase
	n := len(sm.pat)
	if sm.kmp {
		q := 0
		for i, c := range text {
			if icase {
				c = kToUpper(c)
			}
			for q > 0 && sm.pat[q] != c {
				q = sm.good[q-1]
			}
			if sm.pat[q] == c {
				q++
			}
			if q == n {
				return i + 1 - n
			}
		}
		return -1
	}
	for shift := n - 1; shift < len(text); {
		i := 0
		for ; i < n; i++ {
			c := text[shift-i]
			if icase {
				c = kToUpper(c)
			}
			if c != sm.pat[n-1-i] {
				break
			}
		}
		if i == n {
			return shift - (n - 1)
		}
		shift = max(shift-i+sm.bad[text[shift-i]], shift+sm.good[i])
	}
	return -1
}

// search runs skb_find_text over the packet: the text runs from --from
// to the end of the packet, and a find must end by --to.
func (sm *stringMatcher) search(c *Ctx) (off int, found bool) {
	p := c.Pkt
	data := p.Data
	if p.TotalLen > 0 && p.TotalLen < len(data) {
		data = data[:p.TotalLen]
	}
	from := int(sm.m.from)
	if from >= len(data) {
		return -1, false
	}
	ret := sm.find(data[from:])
	if ret < 0 || ret+len(sm.pat) > int(sm.m.to)-from {
		return ret, false
	}
	return from + ret, true
}

// Match implements Matcher.
func (sm *stringMatcher) Match(c *Ctx) bool {
	_, found := sm.search(c)
	return found != sm.m.invert
}

// Explain implements Explainer.
func (sm *stringMatcher) Explain(c *Ctx, matched bool) string {
	off, found := sm.search(c)
	opt := "--string "
	if isHexString(sm.m.pattern) {
		opt = "--hex-string "
	}
	what := bang(sm.m.invert) + opt + sm.display
	switch {
	case found:
		return what + ": found at byte " + strconv.Itoa(off) + " of the packet"
	case off >= 0:
		return fmt.Sprintf("%s: found only past --to %d", what, sm.m.to)
	}
	return fmt.Sprintf("%s: not in bytes %d-%d of the packet", what, sm.m.from, min(int(sm.m.to), len(c.Pkt.Data)))
}
