package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/performance"
	"github.com/chromedp/chromedp"

	"github.com/ipsift/ipsift/internal/benchsets"
)

// chromium finds Debian's chromium-headless-shell (test.sh installs it)
// or the browser $IPSIFT_CHROMIUM names; without one the browser tests
// skip, and fail under CI=true.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("IPSIFT_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium-headless-shell", "/usr/lib/chromium/headless_shell", "chromium"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no headless Chromium: apt-get install chromium-headless-shell (or set IPSIFT_CHROMIUM)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// writeReport runs ipsift report with args, the page going to dir/name.
func writeReport(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	out := filepath.Join(dir, name)
	var stdout, stderr bytes.Buffer
	if code := run(append(append([]string{"ipsift", "report"}, args...), "-o", out), &stdout, &stderr); code != 0 {
		t.Fatalf("ipsift report %v: exit %d\n%s", args, code, stderr.String())
	}
	return out
}

// rulesOutputs keeps rulesOutput's answers: reading the kube-proxy
// ruleset takes seconds.
var rulesOutputs = map[string][]string{}

// rulesOutput is what ipsift rules FILE -t TABLE [-6] prints.
func rulesOutput(t *testing.T, file, table string, six bool) []string {
	t.Helper()
	key := fmt.Sprint(file, " ", table, " ", six)
	if out, ok := rulesOutputs[key]; ok {
		return out
	}
	args := []string{"ipsift", "rules", file, "-t", table}
	if six {
		args = append(args, "-6")
	}
	var stdout, stderr bytes.Buffer
	if code := run(args, &stdout, &stderr); code != 0 {
		t.Fatalf("%v: exit %d: %s", args, code, stderr.String())
	}
	out := strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n")
	rulesOutputs[key] = out
	return out
}

type browser struct {
	t        *testing.T
	ctx      context.Context
	mu       sync.Mutex
	requests []string
	dialogs  []string
}

func newBrowser(t *testing.T, execPath string) *browser {
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(execPath), chromedp.NoSandbox, chromedp.WindowSize(1200, 900))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelA)
	b := &browser{t: t}
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithListener(func(ev any) {
		b.mu.Lock()
		defer b.mu.Unlock()
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			b.requests = append(b.requests, ev.Request.URL)
		case *page.EventJavascriptDialogOpening:
			b.dialogs = append(b.dialogs, ev.Message)
		}
	}))
	t.Cleanup(cancel)
	b.ctx = ctx
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting %s: %v", execPath, err)
	}
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	return b
}

func (b *browser) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatal(err)
	}
}

func eval[T any](b *browser, js string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Minute)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		b.t.Fatalf("%s: %v", js, err)
	}
	return v
}

// eventually evaluates a boolean expression until it holds or five
// seconds pass: the page reacts to a click in its hashchange handler,
// which the browser runs after the click returns.
func eventually(b *browser, js string) bool {
	b.t.Helper()
	for end := time.Now().Add(5 * time.Second); ; {
		if eval[bool](b, js) {
			return true
		}
		if time.Now().After(end) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// open loads a page (its fragment cleared) and returns how long the
// browser took to its load event: the time on the clock, and the CPU
// time of the page's main thread (parsing, style, layout, script), the
// figure that does not depend on what else the machine runs.
func (b *browser) open(path string) (wall, cpu time.Duration) {
	b.t.Helper()
	b.mu.Lock()
	b.requests, b.dialogs = nil, nil
	b.mu.Unlock()
	b.do(chromedp.Navigate("about:blank"))
	before := b.taskTime()
	start := time.Now()
	b.do(chromedp.Navigate("file://" + path))
	wall = time.Since(start)
	return wall, b.taskTime() - before
}

// taskTime is the page's main-thread CPU time so far (Performance
// metrics in thread ticks).
func (b *browser) taskTime() time.Duration {
	b.t.Helper()
	if _, err := chromedp.Call(b.ctx, performance.Enable, performance.EnableParams{TimeDomain: performance.EnableTimeDomainThreadTicks}); err != nil {
		b.t.Fatal(err)
	}
	m, err := chromedp.Call(b.ctx, performance.GetMetrics, cdp.Empty{})
	if err != nil {
		b.t.Fatal(err)
	}
	for _, x := range m.Metrics {
		if x.Name == "TaskDuration" {
			return time.Duration(x.Value * float64(time.Second))
		}
	}
	b.t.Fatal("no TaskDuration metric")
	return 0
}

// noRequests checks the page asked for nothing but itself.
func (b *browser) noRequests(path string) {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, u := range b.requests {
		if u != "file://"+path && u != "about:blank" {
			b.t.Errorf("the page requested %s", u)
		}
	}
	if len(b.requests) == 0 {
		b.t.Error("no request seen at all: is the listener working?")
	}
}

// tableRows reads the rule rows of every table section.
const tableRowsJS = `(() => { const o = {}; document.querySelectorAll('section.table').forEach(s => { o[s.id] = Array.from(s.querySelectorAll('.r > code'), c => c.textContent) }); return o })()`

func checkRows(t *testing.T, b *browser, file string, tables map[string][]string) {
	t.Helper()
	got := eval[map[string][]string](b, tableRowsJS)
	if len(got) != len(tables) {
		t.Errorf("%s: table sections %d, want %d", file, len(got), len(tables))
	}
	for id, want := range tables {
		if strings.Join(got[id], "\n") != strings.Join(want, "\n") {
			t.Errorf("%s: rows of %s differ from ipsift rules (%d rows, want %d)", file, id, len(got[id]), len(want))
		}
	}
}

// The ten points of issue 12, in headless Chromium, on gateway.rules
// (with sample packets), a dual-stack script, a kube-proxy-shaped
// ruleset of 25,000 rules and 10,000 chains, and a hostile comment.
func TestReportInBrowser(t *testing.T) {
	exe := chromium(t)
	dir := t.TempDir()
	artifacts := os.Getenv("IPSIFT_ARTIFACTS")
	if artifacts == "" {
		artifacts = dir
	}
	gw := writeReport(t, dir, "gateway.html", "../../examples/gateway.rules", "--packets", "../../sim/testdata/gateway-scenarios.jsonl")
	ds := writeReport(t, dir, "dualstack.html", "../../examples/dualstack.sh")
	kubeText, _ := benchsets.Kube(5000, 1, rand.New(rand.NewPCG(12, 12)))
	kubeFile := filepath.Join(dir, "kube.rules")
	if err := os.WriteFile(kubeFile, []byte(kubeText), 0o644); err != nil {
		t.Fatal(err)
	}
	kube := writeReport(t, dir, "kube.html", kubeFile)
	evilFile := filepath.Join(dir, "evil.rules")
	os.WriteFile(evilFile, []byte("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:<img/src=x/onerror=alert(2)> - [0:0]\n"+
		"-A INPUT -p tcp -m comment --comment \"</script><script>alert(1)</script>\" -j ACCEPT\n-A INPUT -j <img/src=x/onerror=alert(2)>\nCOMMIT\n"), 0o644)
	evil := writeReport(t, dir, "evil.html", evilFile)
	for _, p := range []string{gw, kube} {
		st, _ := os.Stat(p)
		t.Logf("%s: %d bytes", filepath.Base(p), st.Size())
	}
	if st, _ := os.Stat(gw); st.Size() > 300<<10 {
		t.Errorf("gateway report %d bytes, over 300 KB", st.Size())
	}
	if st, _ := os.Stat(kube); st.Size() > 15<<20 {
		t.Errorf("kube-proxy report %d bytes, over 15 MB", st.Size())
	}

	b := newBrowser(t, exe)

	// gateway.rules
	b.open(gw + "#filter/INPUT/7")
	// (1) one node per chain after collapsing: nothing to collapse
	// here, so one per chain (10), the five hooks beside
	if n := eval[int](b, `document.querySelectorAll('.graph svg .node.chain').length`); n != 10 {
		t.Errorf("gateway: %d chain nodes, want 10", n)
	}
	if n := eval[int](b, `document.querySelectorAll('.graph svg .node.hook').length`); n != 5 {
		t.Errorf("gateway: %d hook nodes, want 5", n)
	}
	// (2) rows are ipsift rules' lines
	checkRows(t, b, "gateway.rules", map[string][]string{
		"nat":    rulesOutput(t, "../../examples/gateway.rules", "nat", false),
		"filter": rulesOutput(t, "../../examples/gateway.rules", "filter", false),
	})
	// (3) clicking a chain focuses it and sets the anchor
	b.do(chromedp.Click(`.graph svg a.node[data-node="filter/LOGDROP"]`, chromedp.NodeVisible))
	if !eventually(b, `location.hash === "#filter/LOGDROP"`) {
		t.Errorf("after the click the anchor is %q", eval[string](b, `location.hash`))
	}
	if !eventually(b, `document.getElementById('filter/LOGDROP').classList.contains('focus') && document.querySelector('a.node[data-node="filter/LOGDROP"]').classList.contains('focus') && document.getElementById('filter/LOGDROP').matches(':target')`) {
		t.Error("the clicked chain is not focused")
	}
	// sample packets with a trace command, and the anchor of a rule
	if !eval[bool](b, `!!document.getElementById('filter/INPUT/7') && document.querySelectorAll('.sample .cmd code').length > 10 && document.querySelector('.sample .cmd code').textContent.startsWith('ipsift trace ')`) {
		t.Error("no rule anchor filter/INPUT/7 or no sample trace commands")
	}
	// (6) at 390 px wide nothing scrolls sideways
	b.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	if w := eval[int](b, `document.documentElement.scrollWidth`); w > 390 {
		t.Errorf("gateway at 390 px: page is %d px wide", w)
	}
	// (10) screenshots for people: the top of the page at 390 px and
	// at 1000 px wide
	shot := func(name string) string {
		b.do(chromedp.Navigate("about:blank"), chromedp.Navigate("file://"+gw))
		png, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(artifacts, name)
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	narrow := shot("report-gateway-390.png")
	b.do(chromedp.EmulateViewport(1000, 760))
	wide := shot("report-gateway.png")
	t.Logf("screenshots: %s %s", narrow, wide)
	fmt.Printf("report screenshots: %s %s\n", narrow, wide)
	b.do(chromedp.EmulateViewport(1200, 900))
	// (7) printing: the rule table is on paper
	if _, err := chromedp.Call(b.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: "print"}); err != nil {
		t.Fatal(err)
	}
	if n := eval[int](b, `Array.from(document.querySelectorAll('.r')).filter(r => r.getClientRects().length > 0).length`); n != eval[int](b, `document.querySelectorAll('.r').length`) {
		t.Errorf("in print, %d rule rows are shown", n)
	}
	chromedp.Call(b.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{})
	pdf, err := chromedp.Run(b.ctx, chromedp.PrintToPDF())
	if err != nil || !bytes.HasPrefix(pdf, []byte("%PDF")) || len(pdf) < 20000 {
		t.Errorf("print to PDF: %d bytes, %v", len(pdf), err)
	}
	// (8) nothing requested but the file
	b.noRequests(gw)

	// IPv6: a file with both families shows both
	b.open(ds)
	checkRows(t, b, "dualstack.sh", map[string][]string{
		"filter":     rulesOutput(t, "../../examples/dualstack.sh", "filter", false),
		"ip6/filter": rulesOutput(t, "../../examples/dualstack.sh", "filter", true),
	})

	// the kube-proxy-shaped ruleset
	wall, cpu := b.open(kube)
	t.Logf("kube-proxy report (25,000 rules, 10,000 chains): loaded in %v of CPU on the page's main thread (%v on the clock)", cpu, wall)
	if cpu > 3*time.Second {
		t.Errorf("kube-proxy report took %v of CPU to load, over 3 s", cpu)
	}
	// (1) KUBE-SVC-* and KUBE-SEP-* are one node each: 13 for 10,008
	// chains, and the groups list every chain they hold
	if n := eval[int](b, `document.querySelectorAll('.graph svg .node.chain, .graph svg .node.group').length`); n != 13 {
		t.Errorf("kube: %d chain and group nodes, want 13", n)
	}
	if n := eval[int](b, `document.querySelectorAll('.graph svg .node.chain').length + document.querySelectorAll('details.group ul.members li').length`); n != 10011 {
		t.Errorf("kube: nodes and group members hold %d chains, want 10011", n)
	}
	checkRows(t, b, "kube.rules", map[string][]string{
		"nat":    rulesOutput(t, kubeFile, "nat", false),
		"filter": rulesOutput(t, kubeFile, "filter", false),
	})
	// (4) searching a comment leaves exactly the rows that contain it
	const needle = `ns/svc12:http"`
	eval[bool](b, `(q => { q.value = '`+needle+`'; return q.dispatchEvent(new Event('input')) })(document.getElementById('q'))`)
	var want []string
	for _, tb := range []string{"nat", "filter"} {
		for _, l := range rulesOutput(t, kubeFile, tb, false) {
			if strings.Contains(strings.ToLower(l), strings.ToLower(needle)) {
				want = append(want, l)
			}
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	var got []string
	for time.Now().Before(deadline) {
		got = eval[[]string](b, `Array.from(document.querySelectorAll('.r')).filter(r => r.getClientRects().length > 0).map(r => r.querySelector(':scope > code').textContent)`)
		if len(got) == len(want) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") || len(want) < 3 {
		t.Errorf("search %q shows %d rows:\n%s\nwant %d:\n%s", needle, len(got), strings.Join(got, "\n"), len(want), strings.Join(want, "\n"))
	}
	b.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	if w := eval[int](b, `document.documentElement.scrollWidth`); w > 390 {
		t.Errorf("kube at 390 px: page is %d px wide", w)
	}
	b.do(chromedp.EmulateViewport(1200, 900))
	b.noRequests(kube)

	// (9) the hostile comment and chain name run nothing
	b.open(evil)
	time.Sleep(200 * time.Millisecond)
	if n := eval[int](b, `document.scripts.length + document.images.length`); n != 1 {
		t.Errorf("the hostile page has %d scripts and images, want its own script", n)
	}
	if !eval[bool](b, `Array.from(document.querySelectorAll('.r > code')).some(c => c.textContent.includes('</script><script>alert(1)</script>'))`) {
		t.Error("the hostile comment is not shown as text")
	}
	b.mu.Lock()
	if len(b.dialogs) > 0 {
		t.Errorf("the hostile page opened dialogs: %q", b.dialogs)
	}
	b.mu.Unlock()
	b.noRequests(evil)

	// (5) JavaScript off: the graph and every rule row are there
	if _, err := chromedp.Call(b.ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatal(err)
	}
	b.open(gw + "#filter/INPUT/7")
	// the page's script did not run (the test's own evaluations do)
	if eval[bool](b, `document.querySelectorAll('.focus').length > 0`) {
		t.Error("JavaScript off, yet the page's script ran")
	}
	if n := eval[int](b, `document.querySelectorAll('.graph svg .node').length`); n != 15 {
		t.Errorf("JavaScript off: %d graph nodes, want 15", n)
	}
	checkRows(t, b, "gateway.rules (JavaScript off)", map[string][]string{
		"nat":    rulesOutput(t, "../../examples/gateway.rules", "nat", false),
		"filter": rulesOutput(t, "../../examples/gateway.rules", "filter", false),
	})
	if n := eval[int](b, `Array.from(document.querySelectorAll('.r')).filter(r => r.getClientRects().length > 0).length`); n != eval[int](b, `document.querySelectorAll('.r').length`) || n < 30 {
		t.Errorf("JavaScript off: %d rule rows shown", n)
	}
	// the links work without script: a node's link sets the anchor
	b.do(chromedp.Click(`.graph svg a.node[data-node="filter/syn-flood"]`, chromedp.NodeVisible))
	if h := eval[string](b, `location.hash`); h != "#filter/syn-flood" {
		t.Errorf("JavaScript off: after the click the anchor is %q", h)
	}
}
