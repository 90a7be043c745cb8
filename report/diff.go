package report

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/ipsift/ipsift/diff"
	"github.com/ipsift/ipsift/ext"
)

// DiffInput is what a diff page shows: ipsift diff's answer for each
// family, as its text output has it, in the report's style.
type DiffInput struct {
	// Old and New name the rulesets (their file names).
	Old, New string
	// Options says how they were compared, in words ("--ignore log"),
	// "" for the full comparison.
	Options string
	// Results holds the answer of each family compared (IPv4 first).
	Results []*diff.Result
	// Trace, when set, is the ipsift trace command line that runs
	// packets through a ruleset (old or new) of a family, to reproduce
	// a witness.
	Trace func(old bool, fam ext.Family, packets ...string) string
}

// WriteDiff writes the page of a diff: per family whether the rulesets
// are equivalent, and each region of packets that differs, largest
// first, with its share of the differing inputs, the packet classes
// that make it up, what OLD and NEW do there (and which rule decided),
// the witness packet both were run with in the engine and the command
// lines that trace it; then the services whose reachable sources
// change. Like the report it loads nothing, is deterministic and
// escapes every text that comes from the rulesets.
func WriteDiff(w io.Writer, in *DiffInput) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	p := &page{w: bw}
	title := in.Old + " → " + in.New
	p.s("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n")
	p.s("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n")
	p.s("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n")
	p.printf("<title>ipsift diff: %s</title>\n<style>%s%s</style>\n</head><body>\n", esc(title), css, diffCSS)
	p.printf("<header><h1>ipsift diff: <span class=\"t\">%s</span></h1>\n", esc(title))
	p.printf("<p>OLD is <code>%s</code>, NEW is <code>%s</code>. Compared by their effect on every packet and connection context on the host: the verdict (with the output interface, the REJECT answer or the queue), the packet after every rewrite, the mark and connection mark, the log records.", escText(in.Old), escText(in.New))
	if in.Options != "" {
		p.printf(" Options: <code>%s</code>.", escText(in.Options))
	}
	p.s("</p>\n<noscript><p>JavaScript is off: the copy buttons need it; everything else is here.</p></noscript>\n<nav><ul>")
	for _, r := range in.Results {
		fam := famText(r.Family)
		p.printf("<li><a href=\"%s\">%s: %s</a></li>", href(fam), fam, esc(r.Brief()))
	}
	p.s("</ul></nav></header>\n<main>\n")
	if len(in.Results) == 0 {
		p.s("<p>equivalent (neither file holds rules)</p>\n")
	}
	for _, r := range in.Results {
		p.diffFamily(in, r)
	}
	p.printf("</main>\n<script>%s</script>\n</body></html>\n", script)
	return bw.Flush()
}

// diffCSS adds the diff page's own style to the report's.
const diffCSS = `
section.fam{border-top:2px solid #ccc;margin-top:10px}
section.region{border-top:1px solid #e4e4e4;padding:4px 0}
section.region:target,section.region.focus{background:#fff8d6;outline:2px solid #e0b000}
table{border-collapse:collapse;font-size:13px;margin:6px 0}td,th{border-bottom:1px solid #e4e4e4;padding:2px 6px;text-align:left;vertical-align:top}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.bar{display:inline-block;height:10px;background:#c55;vertical-align:middle;min-width:1px}
.old{color:#245}.new{color:#822}.may{background:#fff0c8}.bad{background:#fdd}
ul.classes{margin:2px 0;padding-left:18px}
@media(max-width:600px){table.regions td:nth-child(3),table.regions th:nth-child(3){display:none}}
`

func famText(f ext.Family) string {
	if f == ext.IPv6 {
		return "IPv6"
	}
	return "IPv4"
}

// shares are each region's part of all the differing inputs, from the
// log2 sizes.
func shares(rs []*diff.Region) []float64 {
	top := math.Inf(-1)
	for _, g := range rs {
		top = math.Max(top, g.Log2Size)
	}
	out := make([]float64, len(rs))
	sum := 0.0
	for i, g := range rs {
		if !math.IsInf(g.Log2Size, -1) {
			out[i] = math.Exp2(g.Log2Size - top)
		}
		sum += out[i]
	}
	for i := range out {
		if sum > 0 {
			out[i] /= sum
		}
	}
	return out
}

// shareText writes a share as a percentage, "<0.1%" below that.
func shareText(x float64) string {
	if x < 0.001 {
		return "<0.1%"
	}
	return fmt.Sprintf("%.1f%%", 100*x)
}

func (p *page) diffFamily(in *DiffInput, r *diff.Result) {
	fam := famText(r.Family)
	p.printf("<section class=\"fam\" id=\"%s\"><h2>%s: %s</h2>\n", esc(fam), fam, esc(r.Brief()))
	if r.GaveUp != nil {
		p.printf("<p class=\"bad\">The comparison ran out of its node budget after %d nodes: what follows is partial. Raise --budget or narrow with --focus.</p>\n", r.Nodes)
	}
	if len(r.Opaque) > 0 {
		p.s("<p>Read as unknown (the same answer in both where the options and the packets that reach them are the same):</p><ul>")
		for _, o := range r.Opaque {
			p.printf("<li><code>%s</code></li>", escText(o))
		}
		p.s("</ul>\n")
	}
	if len(r.Regions) > 0 {
		p.s("<p class=\"legend\">The packets (every header the rules read, and the connection context) on which OLD and NEW differ, as regions: those that differ for sure first, then those that only may differ (highlighted: it depends on a limit's or a random match's answer), each group largest first; each with its share of all the differing inputs, what OLD and NEW do there and which rule decided, the packet classes it is made of, and a witness packet run through both rulesets in the engine before it is shown here.</p>\n")
		p.s("<table class=\"regions\"><thead><tr><th>#</th><th>inputs</th><th>share</th><th>OLD</th><th>NEW</th><th>differs in</th></tr></thead><tbody>\n")
		sh := shares(r.Regions)
		for i, g := range r.Regions {
			id := fmt.Sprintf("%s/region/%d", fam, i+1)
			cls := ""
			if g.May {
				cls = " class=\"may\""
			}
			p.printf("<tr%s><td class=\"n\"><a href=\"%s\">%d</a></td><td class=\"n\">%s</td><td class=\"n\">%s <span class=\"bar\" style=\"width:%dpx\"></span></td><td class=\"old\">%s</td><td class=\"new\">%s</td><td>%s</td></tr>\n",
				cls, href(id), i+1, g.Size(), shareText(sh[i]), int(math.Round(80*sh[i])), escText(g.Old.String()), escText(g.New.String()), escText(strings.Join(g.Aspects, ", ")))
		}
		p.s("</tbody></table>\n")
		for i, g := range r.Regions {
			p.diffRegion(in, r.Family, fmt.Sprintf("%s/region/%d", fam, i+1), i+1, g, sh[i])
		}
	}
	if len(r.Unconfirmed) > 0 {
		p.s("<h3 class=\"bad\">Regions the engine did not confirm (an ipsift bug: please report)</h3>\n")
		for i, g := range r.Unconfirmed {
			p.diffRegion(in, r.Family, fmt.Sprintf("%s/unconfirmed/%d", fam, i+1), i+1, g, 0)
		}
	}
	if len(r.Matrix) > 0 {
		p.printf("<h3 id=\"%s/services\">Services: new connections accepted or forwarded, and the sources that reach them</h3>\n", esc(fam))
		p.s("<table class=\"services\"><thead><tr><th>in</th><th>to</th><th>service</th><th>OLD</th><th>NEW</th></tr></thead><tbody>\n")
		for _, m := range r.Matrix {
			p.printf("<tr><td>%s</td><td>%s</td><td>%s/%d</td><td class=\"old\">%s</td><td class=\"new\">%s</td></tr>\n",
				escText(m.In), escText(m.To), escText(m.Proto), m.Port, escText(m.Old), escText(m.New))
		}
		p.s("</tbody></table>\n")
	}
	p.s("</section>\n")
}

func (p *page) diffRegion(in *DiffInput, fam ext.Family, id string, n int, g *diff.Region, share float64) {
	p.printf("<section class=\"region\" id=\"%s\"><h3><a href=\"%s\">%d.</a> ", esc(id), href(id), n)
	switch {
	case g.May && g.Witness != nil && g.Witness.Reproduced:
		p.printf("differs, depending on %s (witnessed): ", escText(strings.Join(g.Because, "; ")))
	case g.May:
		p.printf("<span class=\"may\">may differ</span> (because of %s): ", escText(strings.Join(g.Because, "; ")))
	}
	p.printf("OLD <span class=\"old\">%s</span>, NEW <span class=\"new\">%s</span></h3>\n", escText(g.Old.String()), escText(g.New.String()))
	p.printf("<p>%s inputs", g.Size())
	if share > 0 {
		p.printf(" (%s of the differing ones)", shareText(share))
	}
	if len(g.Aspects) > 0 {
		p.printf("; differs in %s", escText(strings.Join(g.Aspects, ", ")))
	}
	p.s(".</p>\n<ul class=\"classes\">")
	for _, c := range g.Classes {
		p.printf("<li><code>%s</code></li>", escText(c))
	}
	if g.More > 0 {
		p.printf("<li>and %d more classes</li>", g.More)
	}
	p.s("</ul>\n")
	if x := g.Witness; x != nil {
		p.s("<div class=\"sample\"><p>Witness: <code>")
		if x.ConnText != "" {
			p.printf("%s</code> (a packet of the connection it quotes, first) then <code>", escText(x.ConnText))
		}
		p.printf("%s</code>", escText(x.Text))
		if x.Mark != 0 {
			p.printf(" (socket mark 0x%x)", x.Mark)
		}
		if x.Reproduced {
			p.s(": the engine confirms the difference.")
		} else {
			p.printf(": the engine gives both the same here; the difference needs other answers of %s.", escText(strings.Join(g.Because, "; ")))
		}
		p.printf("</p>\n<pre>OLD: %s\nNEW: %s</pre>\n", escText(x.Old), escText(x.New))
		if x.Seed != 0 {
			p.printf("<p>The engine drew its random matches with seed %d for this witness; <code>ipsift trace</code> draws with seed 0 and may show another fate.</p>\n", x.Seed)
		}
		if x.Mark != 0 {
			p.s("<p><code>ipsift trace</code> sends it without the socket mark: it may show another fate.</p>\n")
		}
		if in.Trace != nil {
			pk := []string{x.Text}
			if x.ConnText != "" {
				pk = []string{x.ConnText, x.Text}
			}
			for _, old := range []bool{true, false} {
				p.printf("<p class=\"cmd\"><code>%s</code> <button type=\"button\" class=\"copy\">copy</button></p>\n", escText(in.Trace(old, fam, pk...)))
			}
		}
		p.s("</div>\n")
	}
	p.s("</section>\n")
}
