package ext

import (
	"bytes"
	"math/rand"
	"testing"
)

func TestMatchStringParseSave(t *testing.T) {
	saves(t,
		`-m string --algo bm --string "te\"s\\t" --from 10 --to 100 --icase`, `-m string --string "te\"s\\t" --algo bm --from 10 --to 100 --icase`,
		`-m string --algo kmp ! --hex-string "ab|0d 0a|c\|d"`, `-m string ! --hex-string "|61620d0a637c64|" --algo kmp`,
		`-m string --algo kmp --hex-string "ab|41|c"`, `-m string --string "abAc" --algo kmp`,
		`-m string --algo kmp --hex-string "| 41 42|"`, `-m string --string "AB" --algo kmp`,
		`-m string --algo kmp --string "a\\"`, `-m string --hex-string "|615c|" --algo kmp`,
		`-m string --algo bm --string x --from 0x10`, `-m string --string "x" --algo bm --from 16`,
	)
	parseFails(t,
		"-m string --string x",
		"-m string --algo bm",
		"-m string --algo fsm --string x",
		"-m string --algo BM --string x",
		"-m string --algo bm --string x --hex-string |41|",
		"-m string --algo bm --string x --from 10 --to 9",
		"-m string --algo bm --string x --to 65536",
		`-m string --algo bm --hex-string "|4|"`,
		`-m string --algo bm --hex-string "|41"`,
		`-m string --algo bm --hex-string "|4g|"`,
		`-m string --algo bm --hex-string "|4\1|"`,
		`-m string --algo bm --hex-string 'ab\'`,
		`-m string --algo bm --hex-string ""`,
	)
	runPrintCases(t, []printCase{
		{`-m string --algo bm --string "te\"s" --from 10 --to 100 --icase`, "string",
			` STRING match  "te\"s" ALGO name bm FROM 10 TO 100 ICASE`, ` STRING match  "te\"s" ALGO name bm FROM 10 TO 100 ICASE`},
		{`-m string --algo kmp ! --hex-string "|00ff|"`, "string", ` STRING match ! "|00ff|" ALGO name kmp`, ` STRING match ! "|00ff|" ALGO name kmp`},
	})
}

func TestMatchStringMatch(t *testing.T) {
	// The packet: 20 bytes of IP header, 8 of UDP, then the payload.
	p := ipPkt(17, append(make([]byte, 8), "GET /index.html HTTP/1.1\r\nHost: example\xe9\r\n"...))
	runMatchCases(t, []matchCase{
		{rule: "-m string --algo bm --string index.html", name: "string", pkt: p, want: true},
		{rule: "-m string --algo kmp --string index.html", name: "string", pkt: p, want: true},
		{rule: "-m string --algo bm --string INDEX.html", name: "string", pkt: p},
		{rule: "-m string --algo bm --string INDEX.html --icase", name: "string", pkt: p, want: true},
		{rule: "-m string --algo kmp --string INDEX.html --icase", name: "string", pkt: p, want: true},
		{rule: "-m string --algo kmp ! --string INDEX.html", name: "string", pkt: p, want: true},
		// Latin-1 folds under the kernel's toupper: 0xe9 is 0xc9.
		{rule: `-m string --algo kmp --hex-string "|c9|" --icase`, name: "string", pkt: p, want: true},
		{rule: `-m string --algo bm --hex-string "Example|c9|" --icase`, name: "string", pkt: p, want: true},
		// Offsets count from the IP header: "GET" starts at 28.
		{rule: "-m string --algo bm --string GET --from 28", name: "string", pkt: p, want: true},
		{rule: "-m string --algo bm --string GET --from 29", name: "string", pkt: p},
		{rule: "-m string --algo kmp --string GET --to 31", name: "string", pkt: p, want: true},
		// The find must end by --to.
		{rule: "-m string --algo kmp --string GET --to 30", name: "string", pkt: p},
		{rule: "-m string --algo bm --string GET --to 30", name: "string", pkt: p},
		{rule: "-m string --algo bm --string GET --from 200", name: "string", pkt: p},
		// The IP header is searched too: protocol 17 at byte 9.
		{rule: `-m string --algo kmp --hex-string "|4011|" --to 10`, name: "string", pkt: p, want: true},
	})
}

// TestStringAlgorithms checks the two searches against a plain one on
// random texts: kmp always finds the first occurrence; for bm, any
// difference is the kernel's own good-suffix table at work, and must at
// least never invent a match.
func TestStringAlgorithms(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	misses := 0
	for n := 0; n < 20000; n++ {
		alpha := []byte("ab")
		if n%3 == 0 {
			alpha = []byte("abc")
		}
		pat := make([]byte, 1+r.Intn(6))
		for i := range pat {
			pat[i] = alpha[r.Intn(len(alpha))]
		}
		text := make([]byte, r.Intn(40))
		for i := range text {
			text[i] = alpha[r.Intn(len(alpha))]
		}
		want := bytes.Index(text, pat)
		for _, algo := range []string{"kmp", "bm"} {
			m := &stringMatch{algo: algo, pattern: pat, to: 65535, given: true}
			sm, err := m.Compile(nil)
			if err != nil {
				t.Fatal(err)
			}
			got := sm.(*stringMatcher).find(text)
			if algo == "kmp" && got != want {
				t.Fatalf("kmp %q in %q: %d, want %d", pat, text, got, want)
			}
			if algo == "bm" && got != want {
				if got >= 0 && !bytes.Equal(text[got:got+len(pat)], pat) {
					t.Fatalf("bm %q in %q: bogus find at %d", pat, text, got)
				}
				misses++
			}
		}
	}
	t.Logf("bm differs from a plain search in %d of 20000 cases", misses)
}
