package engine

import (
	"strings"
	"testing"

	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/rules"
)

// TestExactMatchesSkipped: the matches a chain's classifier tests whole
// are counted in rule.exact (and so skipped on a rule it found); a
// negated port, a --tcp-option scan, a second flags test, a match it
// does not index or one after such, and a rule without -p are not.
func TestExactMatchesSkipped(t *testing.T) {
	for _, legacy := range []bool{false, true} {
		for _, c := range []struct {
			rule string
			want uint8
		}{
			{"-p tcp -m tcp --dport 80", 1},
			{"-p udp -m udp --sport 53 --dport 1000:2000", 1},
			{"-p tcp -m tcp --tcp-flags SYN,ACK SYN -m tcp --dport 22", 2},
			{"-p tcp -m tcp --tcp-flags SYN,ACK SYN -m tcp --tcp-flags FIN FIN", 1},
			{"-p tcp -m tcp ! --dport 80", 0},
			{"-p tcp -m tcp --tcp-option 2", 0},
			{"-p tcp -m mark --mark 1 -m tcp --dport 80", 0},
			{"-p tcp -m tcp --dport 80 -m mark --mark 1", 1},
			{"! -p udp -m mark --mark 1", 0},
		} {
			rs := rules.New()
			text := "*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD " + c.rule + " -j ACCEPT\nCOMMIT\n"
			if _, err := rs.Restore(strings.NewReader(text), rules.RestoreOptions{File: "t"}); err != nil {
				t.Fatalf("%s: %v", c.rule, err)
			}
			p, err := Compile(rs, Config{Classify: ClassifyCompiled, Legacy: legacy}, ext.NewStore())
			if err != nil {
				t.Fatalf("%s: %v", c.rule, err)
			}
			r := &p.tables[tFilter].hooks[ext.Forward].rules[0]
			if r.exact != c.want {
				t.Errorf("legacy %v: %s: %d matches skipped, want %d", legacy, c.rule, r.exact, c.want)
			}
		}
	}
}
