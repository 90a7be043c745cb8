package rules

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestSplitPlain checks SplitLine's fast path for lines without quotes
// against the general one, on random lines of blanks, ASCII and
// multi-byte runes.
func TestSplitPlain(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{" ", " ", "\t", "\r", "\n", "-", "A", "x", "0", "/", "é", "–", "ü", "!"}
	for range 5000 {
		var line string
		for range r.IntN(30) {
			line += alphabet[r.IntN(len(alphabet))]
		}
		got, want := splitPlain("f", 3, line), splitQuoted("f", 3, line)
		if len(got) != len(want) || len(got) > 0 && !slices.Equal(got, want) {
			t.Fatalf("%q: fast %v, general %v", line, got, want)
		}
	}
}
