package ext

import (
	"os"
	"strings"
	"testing"
)

// The extension tests run iptables' .t vectors through small stand-ins
// for the rule parser (ext cannot import package rules, which imports
// ext); the whole-parser run is package conformance. These are the
// helpers the stand-ins share.

// conformanceDir finds ../shared/conformance/iptables-t beside the
// repository, or skips.
func conformanceDir(t *testing.T) string {
	if s := os.Getenv("IPSIFT_SHARED"); s != "" {
		return s + "/conformance/iptables-t"
	}
	for _, d := range []string{"../../shared/conformance/iptables-t", "../shared/conformance/iptables-t"} {
		if _, err := os.Stat(d); err == nil {
			return d
		}
	}
	t.Skip("conformance/iptables-t not found beside the repository (set IPSIFT_SHARED)")
	return ""
}

// shellWords splits a rule as a shell would for these files: blanks
// separate words; double quotes group (a backslash in them escapes '"',
// '\\', '$' and '`'), single quotes group literally, and a backslash
// outside quotes escapes the next character.
func shellWords(s string) []string {
	var out []string
	var cur strings.Builder
	any := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			any = true
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				j = len(s) - i - 1
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			any = true
		case c == '"':
			for i++; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$`", s[i+1]) >= 0 {
					i++
				}
				cur.WriteByte(s[i])
			}
			any = true
		case c == ' ' || c == '\t':
			if any {
				out = append(out, cur.String())
				cur.Reset()
				any = false
			}
		default:
			cur.WriteByte(c)
			any = true
		}
	}
	if any {
		out = append(out, cur.String())
	}
	return out
}

// chainHooks maps built-in chain names to their hooks.
var chainHooks = map[string]Hook{
	"PREROUTING": PreRouting, "INPUT": LocalIn, "FORWARD": Forward,
	"OUTPUT": LocalOut, "POSTROUTING": PostRouting,
}
