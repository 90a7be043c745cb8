package report

import (
	"bufio"
	"bytes"
	"html"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"

	"github.com/ipsift/ipsift/internal/benchsets"
	"github.com/ipsift/ipsift/load"
	"github.com/ipsift/ipsift/rules"
)

func loadFile(t *testing.T, path string) *load.Result {
	t.Helper()
	res, err := load.File(path, load.Options{Counters: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Diags.HasErrors() {
		t.Fatalf("%s: %v", path, res.Diags)
	}
	return res
}

func families(res *load.Result) []*Family {
	var fs []*Family
	if len(res.Rules.Tables) > 0 {
		fs = append(fs, &Family{Rules: res.Rules})
	}
	if res.Rules6 != nil {
		fs = append(fs, &Family{IPv6: true, Rules: res.Rules6})
	}
	return fs
}

func write(t *testing.T, in *Input) string {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, in); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// rowRE finds the rule rows of a page: the text of each row's code.
var rowRE = regexp.MustCompile(`<div class="r[^"]*"[^>]*>(?:<a [^>]*>\d+</a><i>\d+</i><i>\d+</i>)?<code[^>]*>([^<]*)</code>`)

// rows returns the page's rule rows per table section, unescaped.
func rows(page string) map[string][]string {
	out := map[string][]string{}
	secRE := regexp.MustCompile(`<section class="table" id="([^"]*)">`)
	idx := secRE.FindAllStringSubmatchIndex(page, -1)
	for i, m := range idx {
		end := len(page)
		if i+1 < len(idx) {
			end = idx[i+1][0]
		}
		id := html.UnescapeString(page[m[2]:m[3]])
		for _, r := range rowRE.FindAllStringSubmatch(page[m[0]:end], -1) {
			out[id] = append(out[id], html.UnescapeString(r[1]))
		}
	}
	return out
}

// The rule rows of each table are what ipsift rules (iptables -S)
// prints for it, line for line, for both families.
func TestRowsAreListRules(t *testing.T) {
	for _, path := range []string{"../examples/gateway.rules", "../examples/dualstack.sh", "../examples/ipv6.rules"} {
		res := loadFile(t, path)
		page := write(t, &Input{Title: path, Families: families(res)})
		rowsEqual(t, path, res, page)
	}
	// iptables -S lists user chains in its own order, not the file's
	text, _ := benchsets.Kube(30, 2, rand.New(rand.NewPCG(1, 2)))
	res := load.Bytes("kube.rules", []byte(text), load.Options{Counters: true})
	rowsEqual(t, "kube.rules", res, write(t, &Input{Title: "kube.rules", Families: families(res)}))
}

func rowsEqual(t *testing.T, path string, res *load.Result, page string) {
	t.Helper()
	{
		got := rows(page)
		n := 0
		for _, f := range families(res) {
			for _, tb := range f.Rules.Tables {
				var b bytes.Buffer
				f.Rules.ListRules(&b, tb.Name, "", false)
				want := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
				id := tb.Name
				if f.IPv6 {
					id = "ip6/" + id
				}
				if strings.Join(got[id], "\n") != strings.Join(want, "\n") {
					t.Errorf("%s table %s: rows\n%s\nwant\n%s", path, id, strings.Join(got[id], "\n"), strings.Join(want, "\n"))
				}
				n++
			}
		}
		if len(got) != n {
			t.Errorf("%s: %d table sections, want %d", path, len(got), n)
		}
	}
}

const hostile = `*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:<img/src=x/onerror=f()> - [0:0]
-A INPUT -p tcp -m comment --comment "</script><script>alert(1)</script>" -j ACCEPT
-A INPUT -j LOG --log-prefix "<b>&amp;'"
-A INPUT -j <img/src=x/onerror=f()>
COMMIT
`

// Text from the ruleset is escaped everywhere: the page's only script
// is its own, and no ruleset text makes an element.
func TestEscaping(t *testing.T) {
	res := load.Bytes("evil</title>.rules", []byte(hostile), load.Options{Counters: true})
	if res.Diags.HasErrors() {
		t.Fatal(res.Diags)
	}
	page := write(t, &Input{Title: "evil</title>.rules", Families: families(res),
		Sources:  []Source{{Name: "evil</title>.rules", Text: hostile}},
		Findings: []Finding{{Pos: rules.Pos{File: "evil</title>.rules", Line: 6}, Severity: "warning", Msg: "<script>alert(3)</script>"}}})
	if n := strings.Count(page, "<script"); n != 1 {
		t.Errorf("%d <script elements, want the page's own one", n)
	}
	for _, bad := range []string{"<img", "alert(1)</script>", "</title>.rules", "<b>&amp;"} {
		if strings.Contains(page, bad) {
			t.Errorf("page holds %q unescaped", bad)
		}
	}
	if !strings.Contains(page, "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Error("the comment is not shown as text")
	}
	// and the rows still equal iptables -S
	var b bytes.Buffer
	res.Rules.ListRules(&b, "filter", "", false)
	if got, want := strings.Join(rows(page)["filter"], "\n"), strings.TrimSuffix(b.String(), "\n"); got != want {
		t.Errorf("rows\n%s\nwant\n%s", got, want)
	}
}

// The same input gives the same bytes.
func TestDeterministic(t *testing.T) {
	text, _ := benchsets.Kube(200, 3, rand.New(rand.NewPCG(1, 2)))
	var pages []string
	for range 3 {
		res := load.Bytes("kube.rules", []byte(text), load.Options{Counters: true})
		pages = append(pages, write(t, &Input{Title: "kube.rules", Families: families(res)}))
	}
	if pages[0] != pages[1] || pages[1] != pages[2] {
		t.Error("two writes of the same input differ")
	}
}

// Collapsing: KUBE-SEP-* and KUBE-SVC-* are one node each, with their
// count; every chain is in exactly one node.
func TestCollapse(t *testing.T) {
	text, _ := benchsets.Kube(50, 2, rand.New(rand.NewPCG(1, 2)))
	res := load.Bytes("kube.rules", []byte(text), load.Options{Counters: true})
	g := buildGraph(&Family{Rules: res.Rules})
	labels := map[string]int{}
	chains := 0
	for _, n := range g.nodes {
		switch n.kind {
		case "group":
			labels[n.label] = len(n.members)
			chains += len(n.members)
		case "chain":
			labels[n.label] = 1
			chains++
		}
	}
	total := 0
	for _, tb := range res.Rules.Tables {
		total += len(tb.Chains)
	}
	if chains != total || g.chains != total {
		t.Errorf("nodes hold %d chains (graph says %d), the ruleset has %d", chains, g.chains, total)
	}
	if labels["nat KUBE-SEP-* (100)"] != 100 || labels["nat KUBE-SVC-* (50)"] != 50 || labels["nat KUBE-SERVICES"] != 1 {
		t.Errorf("nodes: %v", labels)
	}
	if len(g.nodes) > 20 {
		t.Errorf("%d nodes for a kube-proxy ruleset", len(g.nodes))
	}
	// fan-out: many chains named without a shared prefix, all reached
	// from one chain, are one node
	var b strings.Builder
	b.WriteString("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n")
	for i := range 20 {
		b.WriteString(":c" + string(rune('a'+i)) + " - [0:0]\n")
	}
	for i := range 20 {
		b.WriteString("-A INPUT -j c" + string(rune('a'+i)) + "\n")
	}
	b.WriteString("COMMIT\n")
	res = load.Bytes("fan.rules", []byte(b.String()), load.Options{})
	g = buildGraph(&Family{Rules: res.Rules})
	var ls []string
	for _, n := range g.nodes {
		ls = append(ls, n.label)
	}
	// three hooks, three built-in chains, the group
	if len(g.nodes) != 7 || ls[6] != "filter from INPUT (20)" {
		t.Errorf("fan-out nodes: %q", ls)
	}
}

// The layout puts every node right of its callers (but on cycles) and
// no two nodes on top of each other.
func TestLayout(t *testing.T) {
	res := loadFile(t, "../examples/gateway.rules")
	g := buildGraph(&Family{Rules: res.Rules})
	seen := map[[2]int]bool{}
	for _, n := range g.nodes {
		if seen[[2]int{n.x, n.y}] {
			t.Errorf("two nodes at %d,%d", n.x, n.y)
		}
		seen[[2]int{n.x, n.y}] = true
		if n.x < 0 || n.y < 0 || n.x+nodeW > g.w || n.y+nodeH > g.h {
			t.Errorf("node %s at %d,%d outside %dx%d", n.label, n.x, n.y, g.w, g.h)
		}
	}
	for _, e := range g.edges {
		if e.to.layer <= e.from.layer {
			t.Errorf("edge %s -> %s goes back (layers %d, %d)", e.from.label, e.to.label, e.from.layer, e.to.layer)
		}
	}
}

// No edge passes over a node: every edge's route alternates between
// gaps (from one layer's column to the next, where no node is) and
// slots of its own in the layers it passes, which no node overlaps.
// Checked on gateway.rules, a kube-proxy ruleset, and rules made of
// long edges (a chain called from a built-in chain and from the end of
// a long call chain) and a cycle (a group whose members call a chain
// that calls another member).
func TestEdgesAvoidNodes(t *testing.T) {
	kube, _ := benchsets.Kube(50, 2, rand.New(rand.NewPCG(1, 2)))
	var long strings.Builder
	long.WriteString("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n")
	for _, c := range []string{"a1", "a2", "a3", "a4", "sink", "X-Y-1", "X-Y-2", "X-Y-3", "X-Y-4", "mid"} {
		long.WriteString(":" + c + " - [0:0]\n")
	}
	long.WriteString("-A INPUT -j a1\n-A INPUT -j sink\n-A FORWARD -j sink\n-A OUTPUT -j X-Y-1\n" +
		"-A a1 -j a2\n-A a2 -j a3\n-A a3 -j a4\n-A a4 -j sink\n-A a1 -j sink\n" +
		"-A X-Y-1 -j mid\n-A mid -j X-Y-2\n-A X-Y-2 -j X-Y-3\n-A X-Y-3 -j X-Y-4\n-A INPUT -j X-Y-4\nCOMMIT\n")
	for _, src := range []struct{ name, text string }{
		{"gateway.rules", ""}, {"kube.rules", kube}, {"long.rules", long.String()},
	} {
		var res *load.Result
		if src.text == "" {
			res = loadFile(t, "../examples/"+src.name)
		} else {
			res = load.Bytes(src.name, []byte(src.text), load.Options{})
			if res.Diags.HasErrors() {
				t.Fatalf("%s: %v", src.name, res.Diags)
			}
		}
		g := buildGraph(&Family{Rules: res.Rules})
		column := func(x int) int { return (x - margin) / (nodeW + gapX) }
		longs, backs := 0, 0
		for _, e := range g.edges {
			ps := e.route()
			if len(e.via) > 0 {
				longs++
			}
			if e.back {
				backs++
			}
			for i := 1; i < len(ps); i++ {
				a, b := ps[i-1], ps[i]
				lo, hi := min(a.x, b.x), max(a.x, b.x)
				if i%2 == 1 {
					// a gap: from a column's right side to the next
					// column's left side
					if hi-lo != gapX || (lo-margin-nodeW)%(nodeW+gapX) != 0 {
						t.Errorf("%s: %s -> %s: segment %v-%v is not one gap", src.name, e.from.label, e.to.label, a, b)
					}
					continue
				}
				// a slot: across one column at one height, clear of nodes
				if a.y != b.y || hi-lo != nodeW {
					t.Errorf("%s: %s -> %s: segment %v-%v is not a slot", src.name, e.from.label, e.to.label, a, b)
				}
				for _, n := range g.nodes {
					if column(n.x) == column(lo) && a.y >= n.y-gapY/2 && a.y <= n.y+nodeH+gapY/2 {
						t.Errorf("%s: %s -> %s passes over %s at y %d", src.name, e.from.label, e.to.label, n.label, a.y)
					}
				}
			}
			if first, last := ps[0], ps[len(ps)-1]; first.y != e.from.y+nodeH/2 || last.y != e.to.y+nodeH/2 {
				t.Errorf("%s: %s -> %s does not start and end at its nodes", src.name, e.from.label, e.to.label)
			}
		}
		if src.name == "long.rules" && (longs < 3 || backs == 0) {
			t.Errorf("long.rules: %d long edges, %d back edges; the test needs both", longs, backs)
		}
	}
}

// TestHookCounts: with traced packets a hook node shows the packets
// that met it (the most any of its chains saw: nat sees a connection's
// first packet only) and its edges the packets each chain took in;
// without entries it stays "hook".
func TestHookCounts(t *testing.T) {
	res := loadFile(t, "../examples/gateway.rules")
	f := &Family{Rules: res.Rules, Returned: map[Key]uint64{}, Entries: map[Key]uint64{
		{"nat", "PREROUTING", 0}: 3, {"filter", "INPUT", 0}: 7, {"filter", "FORWARD", 0}: 2,
		{"nat", "POSTROUTING", 0}: 1, {"nat", "INPUT", 0}: 2,
	}}
	g := buildGraph(f)
	subs := map[string]string{}
	for _, n := range g.nodes {
		if n.kind == "hook" {
			subs[n.label] = n.sub
		}
	}
	if subs["PREROUTING"] != "≥ 3 packets" || subs["INPUT"] != "7 packets" || subs["POSTROUTING"] != "≥ 1 packets" || subs["FORWARD"] != "2 packets" || subs["OUTPUT"] != "≥ 0 packets" {
		t.Errorf("hook nodes: %v", subs)
	}
	var b bytes.Buffer
	w := bufio.NewWriter(&b)
	g.svg(&page{w: w})
	w.Flush()
	if !strings.Contains(b.String(), "<title>INPUT → filter INPUT: 7 packets in</title>") {
		t.Errorf("no count on the hook's edge:\n%s", b.String())
	}
	for _, n := range buildGraph(&Family{Rules: res.Rules}).nodes {
		if n.kind == "hook" && n.sub != "hook" {
			t.Errorf("hook %s without entries: %q", n.label, n.sub)
		}
	}
}
