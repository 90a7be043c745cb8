package report

import (
	"bytes"
	"strings"
	"testing"

	"github.com/ipsift/ipsift/diff"
	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/load"
	"github.com/ipsift/ipsift/rules"
)

func diffRules(t *testing.T, text string) *rules.Ruleset {
	t.Helper()
	res := load.Bytes("t.rules", []byte(text), load.Options{})
	if res.Diags.HasErrors() {
		t.Fatalf("%v\n%s", res.Diags.Err(), text)
	}
	return res.Rules
}

const diffOld = `*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p tcp --dport 22 -s 203.0.113.0/24 -j ACCEPT
-A INPUT -p tcp --dport 80 -j ACCEPT
-A INPUT -j LOG --log-prefix "<script>alert(1)</script>"
COMMIT
`

func writeDiffPage(t *testing.T, old, new string) string {
	t.Helper()
	res, err := diff.Compare(diffRules(t, old), diffRules(t, new), diff.Options{Matrix: true})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	err = WriteDiff(&b, &DiffInput{Old: "old.rules", New: "new<b>.rules", Options: "--focus 'eth0'", Results: []*diff.Result{res},
		Trace: func(o bool, fam ext.Family, pk ...string) string {
			f := "new.rules"
			if o {
				f = "old.rules"
			}
			return "ipsift trace " + f + " '" + strings.Join(pk, "' '") + "'"
		}})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestDiffPage: the page of a diff has a row and a section per region
// with stable anchors, OLD's and NEW's outcomes with the deciding rule,
// the classes, the witness the engine ran with the trace command lines,
// and the services that change; it is deterministic and escapes the
// rulesets' text (a LOG prefix with a script runs nothing).
func TestDiffPage(t *testing.T) {
	newRules := strings.Replace(diffOld, "-s 203.0.113.0/24", "-s 203.0.113.0/25", 1)
	page := writeDiffPage(t, diffOld, newRules)
	for _, want := range []string{
		`<h1>ipsift diff: <span class="t">old.rules → new&lt;b&gt;.rules</span></h1>`,
		`<a href="#IPv4">IPv4: 2 regions differ</a>`,
		`<section class="region" id="IPv4/region/2">`,
		`<a href="#IPv4/region/1">1</a>`,
		`OLD <span class="old">accept-local (filter INPUT rule 1)</span>, NEW <span class="new">drop (filter INPUT policy)</span>`,
		`<li><code>in eth0`, // a class
		"203.0.113.128/25",
		"the engine confirms the difference.",
		"<pre>OLD: accept-local",
		"<p class=\"cmd\"><code>ipsift trace old.rules '",
		"<p class=\"cmd\"><code>ipsift trace new.rules '",
		"tcp/22</td><td class=\"old\">from 203.0.113.0/24</td><td class=\"new\">from 203.0.113.0/25</td>",
		"&lt;script&gt;alert(1)&lt;/script&gt;",
		"Options: <code>--focus 'eth0'</code>",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if n := strings.Count(page, "<script"); n != 1 {
		t.Errorf("%d script elements, want the page's own", n)
	}
	if page != writeDiffPage(t, diffOld, newRules) {
		t.Errorf("two pages of the same diff differ")
	}
	page = writeDiffPage(t, diffOld, diffOld)
	if !strings.Contains(page, "<h2>IPv4: equivalent</h2>") || strings.Contains(page, `class="region"`) {
		t.Errorf("equivalent rulesets:\n%s", page)
	}
}

// TestDiffPageWitnessNotes: a witness drawn with another seed, or sent
// with a socket mark, says that ipsift trace may show another fate.
func TestDiffPageWitnessNotes(t *testing.T) {
	r := &diff.Result{Regions: []*diff.Region{{
		Old: diff.Outcome{Verdict: "forward"}, New: diff.Outcome{Verdict: "drop"}, Log2Size: 10,
		Witness: &diff.Witness{Text: "local tcp 198.51.100.1:1 > 203.0.113.7:80 S", Seed: 3, Mark: 0x10, Reproduced: true, Old: "sent", New: "drop"},
	}}}
	var b bytes.Buffer
	if err := WriteDiff(&b, &DiffInput{Old: "a", New: "b", Results: []*diff.Result{r}}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"with seed 3 for this witness", "without the socket mark", "(socket mark 0x10)", "<td class=\"n\">2^10.0</td><td class=\"n\">100.0%"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("page lacks %q", want)
		}
	}
}
