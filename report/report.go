// Package report writes a ruleset as one self-contained HTML page: every
// rule as iptables -S prints it, linked to the line it came from, with
// check's findings and its counters beside it; per hook and chain the
// funnel in numbers; a graph of hooks, chains, jumps and gotos laid out
// here, in Go, so that the SVG is in the page with JavaScript off; and
// per rule sample packets with their traces.
//
// The page loads nothing (no fonts, scripts or images from elsewhere)
// and is deterministic: the same Input gives the same bytes. Every text
// that comes from the ruleset (chain names, comments, LOG prefixes,
// file names) is escaped where it is written; the page's only script is
// the constant one in assets.go, and no ruleset text is ever written
// into it.
package report

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"

	"github.com/ipsift/ipsift/rules"
)

// Input is everything a report shows.
type Input struct {
	// Title names the ruleset (its file name).
	Title string
	// Counters says where the counters come from, in words ("the file's
	// own counters", "replay of night.pcap", ...).
	Counters string
	// Measured says the counters come from traffic run here: a rule
	// without packets then "matched nothing in this capture", apart
	// from the rules that can never match.
	Measured bool
	// What names the traffic for that phrase ("this capture", "these
	// packets").
	What string
	// Families holds the IPv4 and then the IPv6 rules (either may be
	// missing).
	Families []*Family
	// Sources are the files the rules came from, shown with line
	// anchors so that each rule links to its FILE:LINE.
	Sources []Source
	// Findings are check's, by position.
	Findings []Finding
	// Summary lines (a replay's verdict counts, what it skipped).
	Summary []string
}

// Family is one family's rules with their counters.
type Family struct {
	IPv6  bool
	Rules *rules.Ruleset
	// Entries counts the packets that entered each chain (Key.Rule 0):
	// every chain when the traffic was traced packet by packet (Returned
	// is set then), the built-in chains after a replay (which counts
	// them); a chain it does not hold has as entries, when a user
	// chain, the sum of its jumps' counters, when a built-in chain, an
	// unknown number (iptables counts no entries).
	Entries map[Key]uint64
	// Returned counts, when the traffic was traced, the packets that
	// came back out of each user chain (a RETURN, or its end) to the
	// chain that called it; nil otherwise.
	Returned map[Key]uint64
	// Samples are packets that matched each rule (Key.Rule from 1) or
	// fell to a policy (Rule 0).
	Samples map[Key][]Sample
}

// Key names a chain's rule (from 1) or, with Rule 0, the chain itself
// or its policy.
type Key struct {
	Table, Chain string
	Rule         int
}

// Sample is one packet and what became of it.
type Sample struct {
	Packet  string // its one-line description
	Verdict string
	Trace   string // the trace, as ipsift trace prints it
	// Command reproduces the trace ("" when no command can: a packet
	// of a capture in the middle of its connection).
	Command string
}

// Finding is one of check's findings.
type Finding struct {
	Pos      rules.Pos
	Severity string
	Msg      string
	Fix      string
	// Never marks a rule that can never match (shadowed, or its
	// matches exclude each other): apart from "matched nothing".
	Never bool
}

// Source is a file the rules came from.
type Source struct {
	Name string
	Text string
}

// MaxSources is the most source text a page embeds (for the FILE:LINE
// links); larger sources are left out and the positions are text.
const MaxSources = 2 << 20

// Write writes the page.
func Write(w io.Writer, in *Input) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	p := &page{w: bw, in: in, byLine: map[string][]*Finding{}}
	for i := range in.Findings {
		f := &in.Findings[i]
		k := f.Pos.File + ":" + strconv.Itoa(f.Pos.Line)
		p.byLine[k] = append(p.byLine[k], f)
	}
	p.srcIndex = map[string]int{}
	size := 0
	for _, s := range in.Sources {
		size += len(s.Text)
	}
	if size <= MaxSources {
		for i, s := range in.Sources {
			p.srcIndex[s.Name] = i
		}
	}
	p.write()
	return bw.Flush()
}

type page struct {
	w        *bufio.Writer
	in       *Input
	byLine   map[string][]*Finding
	srcIndex map[string]int
	used     map[*Finding]bool
	linked   map[[2]int]bool // source lines linked to: {file, line}
}

// esc escapes text for HTML element content and double-quoted
// attributes; escText for element content only (quotes stay, which
// keeps kube-proxy's quoted comments small).
var (
	escAttr = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&#39;")
	escTxt  = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")
)

func esc(s string) string     { return escAttr.Replace(s) }
func escText(s string) string { return escTxt.Replace(s) }

// anchor is the fragment of a chain, rule or policy: table/CHAIN[/N],
// prefixed ip6/ for the IPv6 rules; the id is the same text (a browser
// decodes the fragment before it looks the id up).
func anchor(six bool, k Key, policy bool) string {
	s := k.Table + "/" + k.Chain
	if six {
		s = "ip6/" + s
	}
	switch {
	case policy:
		s += "/policy"
	case k.Rule > 0:
		s += "/" + strconv.Itoa(k.Rule)
	}
	return s
}

// href is the link to an id: the id percent-encoded as a URL fragment,
// then HTML-escaped.
func href(id string) string {
	return esc("#" + (&url.URL{Fragment: id}).EscapedFragment())
}

func (p *page) printf(format string, args ...any) { fmt.Fprintf(p.w, format, args...) }
func (p *page) s(s string)                        { p.w.WriteString(s) }

func (p *page) write() {
	in := p.in
	p.used = map[*Finding]bool{}
	p.linked = map[[2]int]bool{}
	p.s("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n")
	p.s("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n")
	// No request but the page itself: the policy forbids every fetch,
	// and the inline style and script are the page's own.
	p.s("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n")
	p.printf("<title>ipsift report: %s</title>\n<style>%s</style>\n</head><body>\n", esc(in.Title), css)
	p.printf("<header><h1>ipsift report: <span class=\"t\">%s</span></h1>\n", esc(in.Title))
	p.printf("<p>Counters: %s.</p>\n", esc(in.Counters))
	p.s("<p class=\"search\"><label>Search rules and comments <input id=\"q\" type=\"search\" autocomplete=\"off\" placeholder=\"e.g. svc12 or --dport 22\"></label> <span id=\"qn\"></span></p>\n")
	p.s("<noscript><p>JavaScript is off: search and copy buttons need it; the graph, the links and every rule are here.</p></noscript>\n")
	if len(in.Summary) > 0 {
		p.s("<pre class=\"summary\">")
		for _, l := range in.Summary {
			p.s(esc(l) + "\n")
		}
		p.s("</pre>\n")
	}
	p.s("<nav><ul>")
	for _, f := range in.Families {
		for _, t := range f.Rules.Tables {
			id := t.Name
			if f.IPv6 {
				id = "ip6/" + id
			}
			p.printf("<li><a href=\"%s\">%s</a></li>", href(id), esc(familyName(f)+" "+t.Name))
		}
	}
	p.s("<li><a href=\"#findings\">findings</a></li>")
	if len(in.Sources) > 0 {
		p.s("<li><a href=\"#sources\">sources</a></li>")
	}
	p.s("</ul></nav>\n<p class=\"legend\">Each chain: <b>in</b> the packets that entered it (iptables counts no entries into a built-in chain: without --packets or --replay they are not counted), <b>taken</b> by its rules that end a packet's way (ACCEPT, DROP, REJECT, NAT...), sent <b>to chains</b> by its jumps and gotos, and what fell <b>to the policy</b> or <b>returned</b>. Each rule: its number (a link to paste), packets, bytes, the rule as iptables -S prints it, and the FILE:LINE it came from.</p></header>\n<main>\n")
	for _, f := range in.Families {
		p.family(f)
	}
	p.findings()
	p.sources()
	p.printf("</main>\n<script>%s</script>\n</body></html>\n", script)
}

func familyName(f *Family) string {
	if f.IPv6 {
		return "ip6tables"
	}
	return "iptables"
}

func (p *page) family(f *Family) {
	fam := familyName(f)
	g := buildGraph(f)
	p.printf("<section class=\"family\"><h2>%s: hooks, chains, jumps and gotos</h2>\n", fam)
	p.printf("<p class=\"legend\">%d nodes for %d chains: %s Solid arrows are jumps (-j), dashed ones gotos (-g); numbers on an arrow are its rules and, after the slash, the packets they sent. Click a node to go to its chain.</p>\n",
		len(g.nodes), g.chains, esc(collapseRule))
	g.svg(p)
	for _, t := range f.Rules.Tables {
		p.table(f, t, g)
	}
	p.s("</section>\n")
}

// ruleLines returns the lines ipsift rules (iptables -S) prints for a
// table: the -P and -N lines, and each chain's -A lines.
func ruleLines(rs *rules.Ruleset, table string) (head []string, byChain map[string][]string) {
	var b bytes.Buffer
	rs.ListRules(&b, table, "", false)
	byChain = map[string][]string{}
	for _, line := range strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n") {
		if strings.HasPrefix(line, "-A ") {
			chain, _, _ := strings.Cut(line[3:], " ")
			byChain[chain] = append(byChain[chain], line)
			continue
		}
		head = append(head, line)
	}
	return head, byChain
}

func (p *page) table(f *Family, t *rules.Table, g *graph) {
	id := t.Name
	if f.IPv6 {
		id = "ip6/" + id
	}
	head, byChain := ruleLines(f.Rules, t.Name)
	p.printf("<section class=\"table\" id=\"%s\"><h2>%s table %s</h2>\n", esc(id), familyName(f), esc(t.Name))
	p.printf("<div class=\"rows head\" data-table=\"%s\">", esc(id))
	for _, l := range head {
		p.printf("<div class=\"r\"><code>%s</code></div>", escText(l))
	}
	p.s("</div>\n")
	// Chains in the order iptables -S lists them (-P lines, then -N).
	for _, l := range head {
		if !strings.HasPrefix(l, "-P ") && !strings.HasPrefix(l, "-N ") {
			continue
		}
		name, _, _ := strings.Cut(l[3:], " ")
		if c := t.Chain(name); c != nil {
			p.chain(f, t, c, byChain[c.Name], g)
		}
	}
	p.s("</section>\n")
}

// terminal reports whether a rule's target ends the packet's way
// through the hook (ACCEPT, DROP, a NAT target...), as opposed to
// continuing (LOG, MARK), returning or jumping.
func terminal(r *rules.Rule) bool {
	switch r.Verdict {
	case "ACCEPT", "DROP", "QUEUE", "REJECT", "DNAT", "SNAT", "MASQUERADE", "REDIRECT", "NETMAP", "NFQUEUE", "TPROXY", "SYNPROXY", "CT", "NOTRACK", "TARPIT":
		// CT and NOTRACK continue in fact (XT_CONTINUE); listed below.
	default:
		return false
	}
	return r.Verdict != "CT" && r.Verdict != "NOTRACK"
}

func (p *page) chain(f *Family, t *rules.Table, c *rules.Chain, lines []string, g *graph) {
	k := Key{Table: t.Name, Chain: c.Name}
	id := anchor(f.IPv6, k, false)
	in, known := g.entries(f, k)
	var taken, jumped uint64
	for _, r := range c.Rules {
		switch {
		case terminal(r):
			taken += r.Counters.Packets
		case t.Chain(r.Verdict) != nil:
			jumped += r.Counters.Packets
		}
	}
	// Few elements and no white space between them: a kube-proxy
	// ruleset has 10,000 chains and 25,000 rules, and the browser's
	// time goes into building nodes.
	p.printf("<section class=\"chain\" id=\"%s\"><h3>%s %s", esc(id), escText(t.Name), escText(c.Name))
	if c.Builtin {
		p.printf(" · policy %s", escText(c.Policy))
	}
	p.s("</h3><p class=\"funnel\">")
	if known {
		p.printf("in %d", in)
	} else {
		p.s("in: not counted")
	}
	p.printf(" · taken %d · to chains %d", taken, jumped)
	if c.Builtin {
		p.printf(" · to the policy %s %d (%d bytes)", escText(c.Policy), c.Counters.Packets, c.Counters.Bytes)
	} else if f.Returned != nil {
		p.printf(" · returned %d", f.Returned[k])
	}
	if src := g.callers[k]; len(src) > 0 {
		p.s(" · from ")
		for i, ref := range src {
			if i > 0 {
				p.s(", ")
			}
			if i == 12 {
				p.printf("and %d more", len(src)-12)
				break
			}
			rid := anchor(f.IPv6, ref, false)
			p.printf("<a href=\"%s\">%s %s %d</a>", href(rid), escText(ref.Table), escText(ref.Chain), ref.Rule)
		}
	}
	p.s("</p>")
	for i, r := range c.Rules {
		line := ""
		if i < len(lines) {
			line = lines[i]
		}
		p.rule(f, Key{t.Name, c.Name, i + 1}, r, line)
	}
	if c.Builtin {
		pk := Key{Table: t.Name, Chain: c.Name}
		p.printf("<div class=\"pr\" id=\"%s\"><i>%d</i><i>%d</i><span>policy %s</span>", esc(anchor(f.IPv6, pk, true)), c.Counters.Packets, c.Counters.Bytes, escText(c.Policy))
		p.samples(f.Samples[pk])
		p.s("</div>")
	}
	p.s("</section>\n")
}

func (p *page) rule(f *Family, k Key, r *rules.Rule, line string) {
	id := anchor(f.IPv6, k, false)
	var finds []*Finding
	if r.Pos.Line > 0 {
		finds = p.byLine[r.Pos.File+":"+strconv.Itoa(r.Pos.Line)]
	}
	never := false
	for _, fd := range finds {
		never = never || fd.Never
		p.used[fd] = true
	}
	cls := "r"
	if never {
		cls += " never"
	}
	p.printf("<div class=\"%s\" id=\"%s\"><a href=\"%s\">%d</a><i>%d</i><i>%d</i>", cls, esc(id), href(id), k.Rule, r.Counters.Packets, r.Counters.Bytes)
	if r.Pos.Line > 0 {
		loc := fmt.Sprintf("%s:%d", r.Pos.File, r.Pos.Line)
		if i, ok := p.srcIndex[r.Pos.File]; ok {
			p.printf("<code>%s</code><a href=\"#s%d-%d\">%s</a>", escText(line), i, r.Pos.Line, escText(loc))
			p.linked[[2]int{i, r.Pos.Line}] = true
		} else {
			// the source is not in the page: the position is shown
			// by the style sheet, which costs no element
			p.printf("<code data-pos=\"%s\">%s</code>", esc(loc), escText(line))
		}
	} else {
		p.printf("<code>%s</code>", escText(line))
	}
	switch {
	case never:
	case p.in.Measured && r.Counters.Packets == 0:
		p.printf("<span class=\"b nothing\">matched nothing in %s</span>", escText(p.in.What))
	}
	for _, fd := range finds {
		cls := "b " + esc(strings.ToLower(fd.Severity))
		label := fd.Severity
		if fd.Never {
			cls += " neverb"
			label = "can never match"
		}
		p.printf("<span class=\"%s\">%s: %s</span>", cls, escText(label), escText(fd.Msg))
	}
	p.samples(f.Samples[k])
	p.s("</div>")
}

func (p *page) samples(ss []Sample) {
	if len(ss) == 0 {
		return
	}
	p.printf("<details class=\"samples\"><summary>%d sample packet%s</summary>", len(ss), map[bool]string{true: "", false: "s"}[len(ss) == 1])
	for _, s := range ss {
		p.printf("<div class=\"sample\"><p><b>%s</b>: %s</p>", escText(s.Verdict), escText(s.Packet))
		if s.Command != "" {
			p.printf("<p class=\"cmd\"><code>%s</code> <button type=\"button\" class=\"copy\">copy</button></p>", escText(s.Command))
		}
		p.printf("<pre>%s</pre></div>", escText(s.Trace))
	}
	p.s("</details>")
}

func (p *page) findings() {
	p.s("<section id=\"findings\"><h2>Findings of ipsift check</h2>\n")
	var never, other, loose []*Finding
	for i := range p.in.Findings {
		f := &p.in.Findings[i]
		switch {
		case f.Never:
			never = append(never, f)
		case p.used[f]:
			other = append(other, f)
		default:
			loose = append(loose, f)
		}
	}
	if len(p.in.Findings) == 0 {
		p.s("<p>none: ipsift check finds no problem.</p>\n")
	}
	list := func(title string, fs []*Finding) {
		if len(fs) == 0 {
			return
		}
		p.printf("<h3>%s (%d)</h3><ul class=\"finds\">", esc(title), len(fs))
		for _, f := range fs {
			p.s("<li>")
			if i, ok := p.srcIndex[f.Pos.File]; ok && f.Pos.Line > 0 {
				p.printf("<a href=\"#s%d-%d\">%s</a>", i, f.Pos.Line, esc(f.Pos.String()))
				p.linked[[2]int{i, f.Pos.Line}] = true
			} else {
				p.s(esc(f.Pos.String()))
			}
			p.printf(": %s: %s", esc(f.Severity), esc(f.Msg))
			if f.Fix != "" {
				p.printf("<br>write instead: <code>%s</code>", esc(f.Fix))
			}
			p.s("</li>")
		}
		p.s("</ul>\n")
	}
	list("Rules that can never match", never)
	list("Other findings at rules", other)
	list("Findings about the file", loose)
	if p.in.Measured {
		p.printf("<p>Apart from these, rules marked <span class=\"b nothing\">matched nothing in %s</span> can match, but no packet did.</p>\n", esc(p.in.What))
	}
	p.s("</section>\n")
}

func (p *page) sources() {
	if len(p.in.Sources) == 0 {
		return
	}
	p.s("<section id=\"sources\"><h2>Sources</h2>\n")
	if len(p.srcIndex) == 0 {
		p.printf("<p>The sources are larger than %d MB together: left out to keep the page small, rules show their FILE:LINE as text.</p></section>\n", MaxSources>>20)
		return
	}
	for i, s := range p.in.Sources {
		p.printf("<details class=\"src\" id=\"s%d\"><summary>%s</summary><pre>", i, esc(s.Name))
		for n, l := range strings.Split(strings.TrimSuffix(s.Text, "\n"), "\n") {
			// only the lines something links to are elements
			if p.linked[[2]int{i, n + 1}] {
				p.printf("<span id=\"s%d-%d\">%s</span>\n", i, n+1, escText(l))
			} else {
				p.s(escText(l) + "\n")
			}
		}
		p.s("</pre></details>\n")
	}
	p.s("</section>\n")
}

// hooks lists the built-in chains in the order a packet meets the hooks.
var hooks = []string{"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"}

// tableOrder is the order of tables at one hook (by priority).
var tableOrder = map[string]int{"raw": 0, "mangle": 1, "nat": 2, "filter": 3, "security": 4}
