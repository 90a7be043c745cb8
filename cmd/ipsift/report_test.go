package main

import (
	"html"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/ipsift/ipsift/internal/capgen"
)

const scenarios = "../../sim/testdata/gateway-scenarios.jsonl"

func reportPage(t *testing.T, args ...string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "r.html")
	_, stderr, code := runCmd(t, append(append([]string{"report"}, args...), "-o", out)...)
	if code != exitOK {
		t.Fatalf("report %v: exit %d: %s", args, code, stderr)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The page from packets: deterministic, under 300 KB for gateway.rules,
// the funnel counted from the traced packets, samples whose command
// reproduces their trace.
func TestReportPackets(t *testing.T) {
	a := reportPage(t, gateway, "--packets", scenarios)
	if b := reportPage(t, gateway, "--packets", scenarios); a != b {
		t.Error("two reports of the same input differ")
	}
	if len(a) > 300<<10 {
		t.Errorf("gateway report: %d bytes, over 300 KB", len(a))
	}
	// filter INPUT's funnel: what the trace says entered it, and the
	// counters list -v -x shows after the same packets
	stdout, _, _ := runCmd(t, "trace", gateway, "--packets", scenarios, "--counters")
	policy := regexp.MustCompile(`Chain INPUT \(policy DROP (\d+) packets`).FindAllStringSubmatch(stdout, -1)
	entered := strings.Count(stdout, "\nfilter INPUT\n")
	funnel := regexp.MustCompile(`<section class="chain" id="filter/INPUT">.*?<p class="funnel">in (\d+) .* to the policy DROP (\d+) `).FindStringSubmatch(a)
	if funnel == nil || len(policy) == 0 {
		t.Fatalf("no funnel for filter INPUT or no policy counter")
	}
	if funnel[1] != strconv.Itoa(entered) || funnel[2] != policy[len(policy)-1][1] {
		t.Errorf("filter INPUT funnel in %s policy %s; the trace entered it %d times, policy counter %s", funnel[1], funnel[2], entered, policy[len(policy)-1][1])
	}
	// every sample's command, run, gives the sample's trace
	cmds := regexp.MustCompile(`<p class="cmd"><code>ipsift trace \.\./\.\./examples/gateway\.rules '([^<]*)'</code>.*?<pre>([^<]*)</pre>`).FindAllStringSubmatch(a, -1)
	if len(cmds) < 20 {
		t.Fatalf("%d sample commands", len(cmds))
	}
	for _, c := range cmds[:8] {
		pkt := html.UnescapeString(c[1])
		out, _, code := runCmd(t, "trace", gateway, pkt)
		if code != exitOK || out != html.UnescapeString(c[2]) {
			t.Errorf("ipsift trace %s:\n%s\nthe sample shows:\n%s", pkt, out, html.UnescapeString(c[2]))
		}
	}
	// rules no packet matched, apart from those that can never match
	if !strings.Contains(a, `matched nothing in these packets`) {
		t.Error("no rule marked as matched by no packet")
	}
}

// Findings of check stand beside their rules: a shadowed rule can never
// match, which is not "matched nothing".
func TestReportFindings(t *testing.T) {
	f := filepath.Join(t.TempDir(), "shadow.rules")
	os.WriteFile(f, []byte("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -p tcp -j DROP\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n"), 0o644)
	a := reportPage(t, f, "--packets", scenarios)
	row := regexp.MustCompile(`<div class="r never" id="filter/INPUT/2">[^\n]*?can never match: ([^<]*)</span>`).FindStringSubmatch(a)
	if row == nil {
		t.Fatalf("rule 2 not marked as never matching:\n%s", a)
	}
	if strings.Contains(row[0], "matched nothing") {
		t.Error("a rule that can never match is also said to have matched nothing")
	}
	if !strings.Contains(a, `href="#s0-6"`) || !strings.Contains(a, `<span id="s0-6">-A INPUT -p tcp --dport 22 -j ACCEPT</span>`) {
		t.Error("the rule does not link to its source line")
	}
}

// --replay: the counters of ipsift replay, and its samples at the rule
// that decided them.
func TestReportReplay(t *testing.T) {
	capFile := writeCapture(t, capgen.Config{Workload: capgen.Mix, Packets: 2000, Flows: 100, Seed: 7})
	a := reportPage(t, gateway, "--replay", capFile, "--samples", "2")
	out := filepath.Join(t.TempDir(), "after.rules")
	if _, stderr, code := runCmd(t, "replay", gateway, capFile, "-o", out); code != exitOK {
		t.Fatal(stderr)
	}
	rows, _, _ := runCmd(t, "rules", out, "-t", "filter", "-v")
	// -A INPUT ... -c PACKETS BYTES: the page's first rule of INPUT
	m := regexp.MustCompile(`(?m)^-A FORWARD -c (\d+) (\d+) `).FindStringSubmatch(rows)
	if m == nil {
		t.Fatal(rows)
	}
	if !strings.Contains(a, `id="filter/FORWARD/1"><a href="#filter/FORWARD/1">1</a><i>`+m[1]+`</i><i>`+m[2]+`</i>`) {
		t.Errorf("filter/FORWARD/1 does not show the replay's %s packets %s bytes", m[1], m[2])
	}
	// The replay counts the entries into built-in chains: every funnel
	// has its "in", and a chain without jumps took or passed to its
	// policy exactly what entered it.
	if strings.Contains(a, "in: not counted") {
		t.Error("a built-in chain's entries are not counted with --replay")
	}
	funnels := regexp.MustCompile(`<h3>(\w+ \w+) · policy \w+</h3><p class="funnel">in (\d+) · taken (\d+) · to chains 0 · to the policy \w+ (\d+) `).FindAllStringSubmatch(a, -1)
	entered := 0
	for _, f := range funnels {
		in, taken, pol := atoi(f[2]), atoi(f[3]), atoi(f[4])
		if in != taken+pol {
			t.Errorf("%s: in %d, taken %d, to the policy %d", f[1], in, taken, pol)
		}
		entered += in
	}
	if len(funnels) < 5 || entered == 0 {
		t.Errorf("%d built-in chains without jumps, %d packets entered them", len(funnels), entered)
	}
	if !strings.Contains(a, "matched nothing in this capture") || !strings.Contains(a, "replay: 2000 records") {
		t.Error("no \"matched nothing in this capture\" or no replay summary")
	}
	if !strings.Contains(a, `sample packet`) || !strings.Contains(a, "<p class=\"cmd\"><code>ipsift trace ../../examples/gateway.rules '") {
		t.Error("no replay samples")
	}
	// the first packets of connections reproduce alone; the rest say not
	all, notAlone := strings.Count(a, `<p class="cmd">`), strings.Count(a, "# alone; in the capture")
	t.Logf("%d sample commands, %d of them not reproducing alone", all, notAlone)
	if notAlone == 0 || notAlone == all {
		t.Errorf("%d sample commands, %d of them not reproducing alone", all, notAlone)
	}
}

// --replay with what the live host held when the capture began: the
// report's summary says what it preloaded, and a file that is not there
// is a usage error.
func TestReportReplayStartState(t *testing.T) {
	capFile := writeCapture(t, capgen.Config{Workload: capgen.Mix, Packets: 200, Flows: 10, Seed: 3})
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "jiffies"), []byte("jiffies: 4295000000\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "knock"), []byte("src=192.0.2.9 ttl: 64 last_seen: 4294999000 oldest_pkt: 1 4294999000\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	a := reportPage(t, gateway, "--replay", capFile, "--recent", dir)
	if !strings.Contains(a, "recent lists from --recent that no rule uses, left out: knock") {
		t.Error("the report does not say what became of the --recent lists")
	}
	if _, stderr, code := runCmd(t, "report", gateway, "--replay", capFile, "--conntrack", filepath.Join(dir, "none"), "-o", filepath.Join(dir, "r.html")); code != exitUsage || !strings.Contains(stderr, "none") {
		t.Errorf("--conntrack of a missing file: exit %d %s", code, stderr)
	}
}

func TestReportUsage(t *testing.T) {
	stdout, _, code := runCmd(t, "report", "--help")
	if code != exitOK || !strings.Contains(stdout, "Example:\n  ipsift report gateway.rules -o report.html") {
		t.Errorf("report --help:\n%s", stdout)
	}
	if _, stderr, code := runCmd(t, "report", gateway); code != exitUsage || !strings.Contains(stderr, "give -o report.html") {
		t.Errorf("no -o: exit %d %s", code, stderr)
	}
	if _, _, code := runCmd(t, "report", gateway, "--replay", "x", "--packets", "y", "-o", "z"); code != exitUsage {
		t.Errorf("--replay and --packets: exit %d", code)
	}
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		panic(err)
	}
	return n
}

// report --replay reads the capture ahead as replay does when there is
// a second core, and the page is the same byte for byte either way; so
// are replay's summary, --json and --flows.
func TestReplayReadAheadSameOutput(t *testing.T) {
	capFile := writeCapture(t, capgen.Config{Workload: capgen.Mix, Packets: 3000, Flows: 200, Seed: 5})
	saved := readAhead
	defer func() { readAhead = saved }()
	outputs := func(ahead bool) (page, summary, js, flows string) {
		asked := 0
		readAhead = func() bool { asked++; return ahead }
		page = reportPage(t, gateway, "--replay", capFile, "--samples", "2")
		if asked == 0 {
			t.Fatal("report --replay does not ask whether to read ahead")
		}
		summary, _, _ = runCmd(t, "replay", gateway, capFile)
		js, _, _ = runCmd(t, "replay", gateway, capFile, "--json")
		f := filepath.Join(t.TempDir(), "flows.jsonl")
		if _, stderr, code := runCmd(t, "replay", gateway, capFile, "--flows", f); code != exitOK {
			t.Fatal(stderr)
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		return page, summary, js, string(b)
	}
	p1, s1, j1, f1 := outputs(true)
	p0, s0, j0, f0 := outputs(false)
	for _, c := range []struct{ what, a, b string }{{"report page", p1, p0}, {"summary", s1, s0}, {"--json", j1, j0}, {"--flows", f1, f0}} {
		if c.a != c.b {
			t.Errorf("%s differs with reading ahead", c.what)
		}
		if len(c.a) < 100 {
			t.Errorf("%s: %d bytes", c.what, len(c.a))
		}
	}
}
