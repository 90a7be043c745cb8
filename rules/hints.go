package rules

import (
	"fmt"
	"net/netip"
	"strings"
	"unicode"

	"github.com/ipsift/ipsift/ext"
)

type netipAddr = netip.Addr

// Typographic dashes that word processors and web pages put where a
// how-to's author typed "--" or "-".
var typoDashes = []rune{'\u2010', '\u2011', '\u2012', '\u2013', '\u2014', '\u2015', '\u2212', '\uFE63', '\uFF0D'}

func isTypoDash(r rune) bool {
	for _, d := range typoDashes {
		if r == d {
			return true
		}
	}
	return false
}

// FixTypographicDashes returns the word with a leading typographic dash
// replaced by the ASCII dashes it stands for: "–syn" becomes "--syn" (a
// single typographic dash before a long name stands for two hyphens,
// the way word processors join "--"), "–j" stays a short option "-j".
// ok is false when the word has no leading typographic dash.
func FixTypographicDashes(word string) (fixed string, ok bool) {
	rs := []rune(word)
	n := 0
	for n < len(rs) && (isTypoDash(rs[n]) || rs[n] == '-') {
		n++
	}
	hasTypo := false
	for _, r := range rs[:n] {
		hasTypo = hasTypo || isTypoDash(r)
	}
	if !hasTypo {
		return word, false
	}
	rest := string(rs[n:])
	if len(rest) == 1 {
		return "-" + rest, true
	}
	return "--" + rest, true
}

// HasTypographicDash reports whether the word contains one.
func HasTypographicDash(word string) bool {
	return strings.ContainsFunc(word, isTypoDash)
}

// looksLikePlaceholder reports words such as MALICIOUS_ADDRESS or
// WLAN_INTERFACE that how-tos put where the reader fills in a value: all
// capitals with an underscore, or one of the usual placeholder words.
func looksLikePlaceholder(s string) bool {
	if s == "" {
		return false
	}
	upper, under, letters := true, false, 0
	for _, r := range s {
		switch {
		case r == '_':
			under = true
		case unicode.IsLetter(r):
			letters++
			if !unicode.IsUpper(r) {
				upper = false
			}
		case unicode.IsDigit(r):
		default:
			upper = false
		}
	}
	if upper && under && letters > 2 {
		return true
	}
	if upper && letters > 3 {
		for _, p := range []string{"ADDRESS", "INTERFACE", "PORT", "NUMBER", "DESTINATION", "SOURCE", "NETWORK", "HOST", "SERVER", "IFACE"} {
			if strings.Contains(s, p) {
				return true
			}
		}
	}
	return false
}

// placeholderIn finds a placeholder glued to the end of an option word,
// as in "--dportPORTNUMBERS"; it returns the option part and the
// placeholder.
func placeholderIn(word string) (opt, ph string) {
	for i := 1; i < len(word); i++ {
		if looksLikePlaceholder(word[i:]) && !unicode.IsUpper(rune(word[i-1])) {
			return word[:i], word[i:]
		}
	}
	return "", ""
}

// suggest returns the candidate closest to s (case-insensitive equality
// first, then a small edit distance), or "".
func suggest(s string, cands []string) string {
	for _, c := range cands {
		if strings.EqualFold(c, s) {
			return c
		}
	}
	best, bestD := "", 3
	if len(s) <= 3 {
		bestD = 2
	}
	for _, c := range cands {
		if d := editDistance(strings.ToLower(s), strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// knownLongOptions lists the long options the parser knows at this point,
// for "did you mean".
func (p *parser) knownLongOptions() []string {
	var out []string
	for i := range p.options() {
		out = append(out, "--"+p.option(i).name)
	}
	return out
}

// DescribeTypographic explains a word that starts with a typographic
// dash: the message, and the word(s) to write instead. ok is false when
// the word has no such dash.
func DescribeTypographic(word string) (msg, fix string, ok bool) {
	fixed, ok := FixTypographicDashes(word)
	if !ok {
		return "", "", false
	}
	msg = fmt.Sprintf("%q starts with a typographic dash (%U) where iptables needs hyphens: write %s", word, []rune(word)[0], fixed)
	fix = fixed
	if opt, ph := placeholderIn(fixed); ph != "" {
		msg = fmt.Sprintf("%q starts with a typographic dash (%U) where iptables needs hyphens, and %q is a placeholder glued to the option: write %s VALUE", word, []rune(word)[0], ph, opt)
		fix = opt + " " + ph
	}
	return msg, fix, true
}

// hint adds to d what the user most likely meant by the word w.
func (p *parser) hint(d *Diag, w Word) {
	t := w.Text
	if msg, fix, ok := DescribeTypographic(t); ok {
		d.Msg, d.Fix = msg, fix
		return
	}
	if strings.HasPrefix(t, "--") {
		if opt, ph := placeholderIn(t); ph != "" {
			d.Msg = fmt.Sprintf("%q is a placeholder glued to %s: write %s VALUE with a space, and a real value", ph, opt, opt)
			d.Fix = opt + " " + ph
			return
		}
		if s := suggest(t, p.knownLongOptions()); s != "" {
			d.Msg += fmt.Sprintf(" (did you mean %s?)", s)
			d.Fix, d.Guess = s, true
		}
		return
	}
	if strings.HasPrefix(t, "-") && len(t) == 2 {
		l := strings.ToLower(t)
		if _, ok := shortOpts[l[1]]; ok && l != t {
			d.Msg = fmt.Sprintf("unknown option %q: options are case-sensitive; write %s", t, l)
			d.Fix = l
		}
		return
	}
	if looksLikePlaceholder(t) {
		d.Msg = fmt.Sprintf("%q looks like a placeholder from a how-to: replace it with a real value", t)
	}
}

// singleDashLong reports a word like "-syn" that getopt reads as "-s yn"
// but that the writer meant as a long option ("--syn"); it returns the
// long option when one with that name is known after loading the
// protocol's match.
func singleDashLong(word string, known func(string) bool) (string, bool) {
	if len(word) < 3 || word[0] != '-' || word[1] == '-' {
		return "", false
	}
	long := "-" + word
	if known(long[2:]) {
		return long, true
	}
	return "", false
}

// anyExtOption reports whether some registered match or target has a long
// option of this name.
func anyExtOption(name string) bool {
	for _, fam := range []ext.Family{ext.IPv4, ext.IPv6} {
		for _, n := range ext.MatchNames(fam) {
			for _, o := range ext.LookupMatch(n, fam).Options {
				if o.Name == name {
					return true
				}
			}
		}
		for _, n := range ext.TargetNames(fam) {
			for _, o := range ext.LookupTarget(n, fam).Options {
				if o.Name == name {
					return true
				}
			}
		}
	}
	return false
}

// placeholderStandIn is a value that lets a checker read on past a
// placeholder for an option, chosen by the option's name.
func placeholderStandIn(opt string) string {
	switch {
	case strings.Contains(opt, "port"):
		return "1"
	case strings.Contains(opt, "to"), strings.Contains(opt, "addr"), strings.Contains(opt, "src"), strings.Contains(opt, "dst"):
		return "192.0.2.1"
	}
	return "1"
}
