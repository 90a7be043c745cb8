package main

import (
	"encoding/json"
	"fmt"
	"html"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeDiffInput(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDiffCommand(t *testing.T) {
	old := writeDiffInput(t, "old.rules", "*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n")
	// The same effect, written differently.
	same := writeDiffInput(t, "same.sh", "iptables -P INPUT DROP\niptables -N SSH\niptables -A INPUT -p tcp -j SSH\niptables -A SSH -p tcp -m multiport --dports 22 -j ACCEPT\n")
	narrower := writeDiffInput(t, "new.rules", "*filter\n:INPUT DROP [0:0]\n-A INPUT -s 203.0.113.0/24 -p tcp --dport 22 -j ACCEPT\nCOMMIT\n")

	out, errOut, code := runCmd(t, "diff", old, same)
	if code != exitOK || !strings.Contains(out, "IPv4: equivalent") {
		t.Fatalf("same effect: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = runCmd(t, "diff", old, narrower)
	if code != exitProblems {
		t.Fatalf("narrower: exit %d\n%s%s", code, out, errOut)
	}
	for _, w := range []string{"OLD accept-local (filter INPUT rule 1), NEW drop (filter INPUT policy)", "from ! 203.0.113.0/24", "witness: eth0 tcp", "in eth0   host    tcp/22     OLD all  NEW from 203.0.113.0/24"} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	// Two regions: ssh from outside, and the host's own ssh packets
	// to itself, which come back in through INPUT.
	out, _, code = runCmd(t, "diff", old, narrower, "--brief")
	if code != exitProblems || out != "IPv4: 2 regions differ\n" {
		t.Errorf("--brief: exit %d %q", code, out)
	}
	out, _, code = runCmd(t, "diff", old, narrower, "--json")
	var j struct {
		Equivalent bool `json:"equivalent"`
		Regions    []struct {
			Witness struct {
				Packet     string `json:"packet"`
				Old        string `json:"old"`
				New        string `json:"new"`
				Reproduced bool   `json:"reproduced"`
			} `json:"witness"`
		} `json:"regions"`
	}
	if err := json.Unmarshal([]byte(out), &j); err != nil || code != exitProblems {
		t.Fatalf("--json: exit %d, %v\n%s", code, err, out)
	}
	if j.Equivalent || len(j.Regions) != 2 || !j.Regions[0].Witness.Reproduced || !j.Regions[1].Witness.Reproduced || j.Regions[0].Witness.Old == "" || j.Regions[0].Witness.New == "" {
		t.Errorf("--json: %+v", j)
	}
	// The difference is ssh only: focused elsewhere, equivalent.
	if out, _, code := runCmd(t, "diff", old, narrower, "--focus", "udp"); code != exitOK {
		t.Errorf("--focus udp: exit %d\n%s", code, out)
	}
	// Gave up: exit 2, never 0.
	out, _, code = runCmd(t, "diff", old, narrower, "--budget", "300")
	if code != exitUsage || !strings.Contains(out, "gave up") {
		t.Errorf("--budget 300: exit %d\n%s", code, out)
	}
	// Usage errors.
	for _, args := range [][]string{{"diff", old}, {"diff", old, narrower, "--ignore", "colour"}, {"diff", old, "/nonexistent"}} {
		if _, _, code := runCmd(t, args...); code != exitUsage && code != exitProblems {
			t.Errorf("%v: exit %d", args, code)
		}
	}
	if _, errOut, code := runCmd(t, "diff", old, narrower, "--max", "0"); code != exitUsage || !strings.Contains(errOut, "--max must be at least 1") {
		t.Errorf("--max 0: exit %d %q", code, errOut)
	}
	both := writeDiffInput(t, "both.rules", "*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp --dport 22 -j ACCEPT\n-A INPUT -p udp --dport 53 -j ACCEPT\nCOMMIT\n")
	out, _, code = runCmd(t, "diff", both, narrower, "--max", "1")
	if code != exitProblems || !strings.Contains(out, "and 2 smaller regions, neither described nor checked") {
		t.Errorf("--max 1: exit %d\n%s", code, out)
	}
	if out, _, code := runCmd(t, "diff", both, narrower, "--max", "1", "--brief"); code != exitProblems || out != "IPv4: 3 regions differ (2 past --max not checked)\n" {
		t.Errorf("--max 1 --brief: exit %d %q", code, out)
	}
	if _, _, code := runCmd(t, "diff", old); code != exitUsage {
		t.Errorf("one file: exit %d, want %d", code, exitUsage)
	}
	if out, _, code := runCmd(t, "diff", "--help"); code != exitOK || !strings.Contains(out, "ipsift diff gateway.rules") {
		t.Errorf("--help: exit %d\n%s", code, out)
	}
}

func TestDiffGateway(t *testing.T) {
	out, errOut, code := runCmd(t, "diff", gateway, gateway)
	if code != exitOK || !strings.HasPrefix(out, "IPv4: equivalent") {
		t.Fatalf("gateway.rules against itself: exit %d\n%s%s", code, out, errOut)
	}
}

// TestDiffBothFamilies: a script with iptables and ip6tables is
// compared per family, each with its own answer; the exit status is the
// worst of them. A changed limit's region names the rule.
func TestDiffBothFamilies(t *testing.T) {
	old := writeDiffInput(t, "old.sh", "iptables -P INPUT DROP\niptables -A INPUT -p tcp --dport 22 -j ACCEPT\n"+
		"ip6tables -P INPUT DROP\nip6tables -A INPUT -p ipv6-icmp -j ACCEPT\nip6tables -A INPUT -p tcp --dport 22 -j ACCEPT\n")
	new := writeDiffInput(t, "new.sh", "iptables -P INPUT DROP\niptables -N SSH\niptables -A INPUT -p tcp -j SSH\niptables -A SSH -p tcp --dport 22 -j ACCEPT\n"+
		"ip6tables -P INPUT DROP\nip6tables -A INPUT -p ipv6-icmp -j ACCEPT\nip6tables -A INPUT -s 2001:db8:3::/48 -p tcp --dport 22 -j ACCEPT\n")
	out, errOut, code := runCmd(t, "diff", old, new, "--brief")
	if code != exitProblems || out != "IPv4: equivalent\nIPv6: 2 regions differ\n" {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	out, _, _ = runCmd(t, "diff", old, new)
	for _, w := range []string{"IPv4: equivalent\n", "IPv6: ", "from ! 2001:db8:3::/48", "in eth0   host    tcp/22     OLD all  NEW from 2001:db8:3::/48"} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	out, _, code = runCmd(t, "diff", old, new, "--json")
	var fams []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var j struct {
			Family     string `json:"family"`
			Equivalent bool   `json:"equivalent"`
		}
		if err := json.Unmarshal([]byte(line), &j); err != nil {
			t.Fatalf("--json line %q: %v", line, err)
		}
		fams = append(fams, fmt.Sprintf("%s %v", j.Family, j.Equivalent))
	}
	if code != exitProblems || strings.Join(fams, ", ") != "ipv4 true, ipv6 false" {
		t.Errorf("--json: exit %d, %v", code, fams)
	}
	if _, _, code := runCmd(t, "diff", old, old); code != exitOK {
		t.Errorf("a script against itself: exit %d", code)
	}

	l1 := writeDiffInput(t, "l1.rules", "*filter\n:INPUT DROP [0:0]\n-A INPUT -p icmp -m limit --limit 1/s -j ACCEPT\nCOMMIT\n")
	l2 := writeDiffInput(t, "l2.rules", "*filter\n:INPUT DROP [0:0]\n-A INPUT -s 192.0.2.0/24 -j DROP\n-A INPUT -p icmp -m limit --limit 1/s -j ACCEPT\nCOMMIT\n")
	out, _, code = runCmd(t, "diff", l1, l2)
	if code != exitProblems || !strings.Contains(out, "may differ (because of -m limit --limit 1/sec (NEW's filter INPUT rule 2); -m limit --limit 1/sec (OLD's filter INPUT rule 1))") {
		t.Errorf("limit: exit %d\n%s", code, out)
	}
}

// TestDiffHTML: --html writes the answer as a page beside the text
// (same exit status), with every region the text lists and the trace
// command lines of each witness, which reproduce it.
func TestDiffHTML(t *testing.T) {
	old := writeDiffInput(t, "old.rules", "*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n")
	narrower := writeDiffInput(t, "new.rules", "*filter\n:INPUT DROP [0:0]\n-A INPUT -s 203.0.113.0/24 -p tcp --dport 22 -j ACCEPT\nCOMMIT\n")
	file := filepath.Join(t.TempDir(), "d.html")
	out, errOut, code := runCmd(t, "diff", old, narrower, "--html", file)
	if code != exitProblems || !strings.Contains(errOut, "ipsift diff: wrote "+file) {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	regions := strings.Count(out, "\n   witness: ")
	if regions == 0 || strings.Count(string(b), `<section class="region"`) != regions {
		t.Errorf("%d regions in the text, %d in the page", regions, strings.Count(string(b), `<section class="region"`))
	}
	// The region of packets from outside (the first is the host's own
	// packets, looped back).
	i := strings.Index(string(b), "<p class=\"cmd\"><code>ipsift trace "+old+" 'eth0 ")
	if i < 0 {
		t.Fatalf("no trace command for OLD:\n%s", b)
	}
	line := page[i+len(`<p class="cmd"><code>`):]
	line = html.UnescapeString(line[:strings.Index(line, "</code>")])
	pk := line[strings.Index(line, "'")+1 : strings.LastIndex(line, "'")]
	tr, _, _ := runCmd(t, "trace", old, pk)
	trNew, _, _ := runCmd(t, "trace", narrower, pk)
	if !strings.Contains(tr, "verdict  delivered") || !strings.Contains(trNew, "verdict  dropped") {
		t.Errorf("the witness %q does not reproduce:\n%s\n%s", pk, tr, trNew)
	}
	if _, errOut, code := runCmd(t, "diff", old, narrower, "--html", filepath.Join(t.TempDir(), "no", "d.html")); code != exitUsage || !strings.Contains(errOut, "no such file") {
		t.Errorf("unwritable page: exit %d %s", code, errOut)
	}
}

// TestDiffRulesDoNotLoad: a side whose rules do not load leaves no
// answer: exit 2, never 1 ("they differ").
func TestDiffRulesDoNotLoad(t *testing.T) {
	good := writeDiffInput(t, "good.rules", "*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n")
	bad := writeDiffInput(t, "bad.rules", "*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp --dport 22 -j NOSUCHCHAIN\nCOMMIT\n")
	for _, args := range [][]string{{"diff", good, bad}, {"diff", bad, good}, {"diff", good, bad, "--json"}} {
		_, errOut, code := runCmd(t, args...)
		if code != exitUsage || !strings.Contains(errOut, "does not load: no comparison") {
			t.Errorf("%v: exit %d\n%s", args, code, errOut)
		}
	}
}
