package rules

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestSplitPlain checks SplitLine's fast path for lines without quotes
// against the general one, on random lines of blanks, ASCII and
// multi-byte runes, and bytes that are not UTF-8.
func TestSplitPlain(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{" ", " ", "\t", "\r", "\n", "-", "A", "x", "0", "/", "é", "–", "ü", "!", "\xe9", "\xff"}
	for range 5000 {
		var line string
		for range r.IntN(30) {
			line += alphabet[r.IntN(len(alphabet))]
		}
		got, want := splitPlain(nil, "f", 3, line), splitQuoted("f", 3, line)
		if len(got) != len(want) || len(got) > 0 && !slices.Equal(got, want) {
			t.Fatalf("%q: fast %v, general %v", line, got, want)
		}
	}
}

// TestSplitKeepsBytes: a quoted word keeps bytes that are not UTF-8 as
// they are (iptables-restore passes them to the kernel, whose save
// prints them back), as an unquoted word does.
func TestSplitKeepsBytes(t *testing.T) {
	for _, c := range []struct{ line, want string }{
		{"--comment \"caf\xe9\"", "caf\xe9"},
		{"--comment caf\xe9", "caf\xe9"},
		{"--comment \"a\\\xe9b\xff\"", "a\xe9b\xff"},
	} {
		if w := SplitLine("f", 1, c.line); len(w) != 2 || w[1].Text != c.want || w[1].Pos.Col != 11 {
			t.Errorf("%q: %q, want the second word %q at column 11", c.line, w, c.want)
		}
	}
}
