package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ipsift/ipsift/capture"
	"github.com/ipsift/ipsift/internal/capgen"
	"github.com/ipsift/ipsift/packet"
)

func writeCapture(t *testing.T, c capgen.Config) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), string(c.Workload)+".pcapng")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := capgen.Write(f, c); err != nil {
		t.Fatal(err)
	}
	return path
}

// The counters replay prints are those ipsift list -v -x prints for the
// ruleset it writes with -o: one file every other command reads.
func TestReplayCountersAndOutputFile(t *testing.T) {
	capFile := writeCapture(t, capgen.Config{Workload: capgen.Mix, Packets: 3000, Flows: 200, Seed: 7})
	out := filepath.Join(t.TempDir(), "after.rules")
	annotated := filepath.Join(t.TempDir(), "annotated.pcapng")
	stdout, stderr, code := runCmd(t, "replay", gateway, capFile, "-o", out, "--write", annotated)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, table := range []string{"filter", "nat"} {
		list, _, code := runCmd(t, "list", out, "-t", table, "-v", "-n", "-x")
		if code != exitOK || !strings.Contains(stdout, "# table "+table+"\n"+list) {
			t.Errorf("table %s: list -v -x of the -o file is not what replay printed:\n%s\n---\n%s", table, list, stdout)
		}
	}
	if st, err := os.Stat(annotated); err != nil || st.Size() < 100000 {
		t.Errorf("annotated capture: %v", err)
	}
	for _, want := range []string{
		"replay: 3000 records, 3000 packets replayed",
		"\nverdicts:\n  drop ",
		"  forward ",
		"connections: ",
		"filter/FORWARD rule 1 ",
		"rules no packet hit (",
		"nat/PREROUTING rule 1        -A PREROUTING -i eth0 -p tcp -m tcp --dport 2222 -j DNAT --to-destination 192.0.2.50:22",
		"the host's own traffic was not replayed",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
}

func TestReplayJSONAndFlows(t *testing.T) {
	capFile := writeCapture(t, capgen.Config{Workload: capgen.Established, Packets: 500, Flows: 20, Seed: 1})
	stdout, stderr, code := runCmd(t, "replay", gateway, capFile, "--json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rep struct {
		Replayed struct{ Packets int }
		Verdicts map[string]struct{ Packets, Bytes int }
		Counters []struct {
			Table, Chain, Text string
			Rule, Packets      int
		}
		States      map[string]int
		RuleSamples []struct{ Table, Chain, Packet string } `json:"rule_samples"`
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Replayed.Packets != 500 || rep.Verdicts["forward"].Packets != 500 || rep.States["ESTABLISHED"] != 20 || len(rep.RuleSamples) == 0 || !strings.HasPrefix(rep.RuleSamples[0].Packet, "wlan0 tcp 192.0.2.") {
		t.Errorf("%+v", rep)
	}
	flows := filepath.Join(t.TempDir(), "flows.jsonl")
	if _, stderr, code := runCmd(t, "replay", gateway, capFile, "--flows", flows); code != exitOK {
		t.Fatal(stderr)
	}
	b, _ := os.ReadFile(flows)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 20 {
		t.Fatalf("%d flows", len(lines))
	}
	var f struct {
		Proto   string
		Nat     bool
		Packets [2]int
		State   string
		Reply   struct{ Dst string }
	}
	if err := json.Unmarshal([]byte(lines[0]), &f); err != nil || f.Proto != "tcp" || !f.Nat || f.State != "ESTABLISHED" || f.Reply.Dst != "198.51.100.1" || f.Packets[1] == 0 {
		t.Errorf("%v %+v", err, f)
	}
}

// Two rulesets, one capture: the flows whose fate changes.
func TestReplayOldNew(t *testing.T) {
	capFile := writeCapture(t, capgen.Config{Workload: capgen.Established, Packets: 60, Flows: 20, Seed: 1})
	text, _ := os.ReadFile(gateway)
	newRules := filepath.Join(t.TempDir(), "new.rules")
	os.WriteFile(newRules, []byte(strings.Replace(string(text), "-A FORWARD -i wlan0 -o eth0 -j ACCEPT", "-A FORWARD -i wlan0 -o eth0 -p tcp -d 203.0.113.0/28 -j DROP\n-A FORWARD -i wlan0 -o eth0 -j ACCEPT", 1)), 0o644)
	stdout, stderr, code := runCmd(t, "replay", gateway, newRules, capFile)
	if code != exitProblems {
		t.Fatalf("exit %d: %s\n%s", code, stderr, stdout)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	last := lines[len(lines)-1]
	if !strings.HasSuffix(last, "flows change fate between "+gateway+" and "+newRules) {
		t.Fatalf("%s", stdout)
	}
	for _, l := range lines[:len(lines)-1] {
		if !strings.Contains(l, " > 203.0.113.") || !strings.HasSuffix(l, "accepted -> drop by filter/FORWARD rule 3") {
			t.Errorf("change %q", l)
		}
	}
	if len(lines) < 2 {
		t.Error("no flow changed")
	}
	if _, _, code := runCmd(t, "replay", gateway, gateway, capFile); code != exitOK {
		t.Errorf("the same rules twice: exit %d", code)
	}
	// --json keeps the exit status: 1 when a flow changes.
	if _, stderr, code := runCmd(t, "replay", gateway, newRules, capFile, "--json"); code != exitProblems {
		t.Errorf("--json with changes: exit %d, want %d: %s", code, exitProblems, stderr)
	}
	// A side that does not load gives no answer: 2, never "changes" (1).
	bad := filepath.Join(t.TempDir(), "bad.rules")
	os.WriteFile(bad, []byte("*filter\n-A INPUT -j NOSUCHCHAIN\nCOMMIT\n"), 0o644)
	if _, stderr, code := runCmd(t, "replay", gateway, bad, capFile); code != exitUsage || !strings.Contains(stderr, "no comparison") {
		t.Errorf("NEW does not load: exit %d, want %d: %s", code, exitUsage, stderr)
	}
}

func TestReplayUsage(t *testing.T) {
	_, stderr, code := runCmd(t, "replay", gateway, "x.pcap", "--direction", "out")
	if code != exitUsage || !strings.Contains(stderr, "only \"in\"") {
		t.Errorf("exit %d: %s", code, stderr)
	}
	_, stderr, code = runCmd(t, "replay", gateway, "x.pcap", "--ifindex", "eth0=2")
	if code != exitUsage || !strings.Contains(stderr, "INDEX=NAME") {
		t.Errorf("exit %d: %s", code, stderr)
	}
	_, stderr, code = runCmd(t, "replay", gateway, gateway)
	if code != exitUsage || !strings.Contains(stderr, "not a valid pcap or pcapng file") {
		t.Errorf("exit %d: %s", code, stderr)
	}
	out, _, code := runCmd(t, "replay", "--help")
	if code != exitOK || !strings.Contains(out, "Example:") || !strings.Contains(out, "--direction") {
		t.Errorf("help: %s", out)
	}
}

func TestReplayRules6(t *testing.T) {
	dir := t.TempDir()
	r6 := filepath.Join(dir, "v6.rules")
	os.WriteFile(r6, []byte("*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\nCOMMIT\n"), 0o644)
	capFile := filepath.Join(dir, "v6.pcap")
	f, _ := os.Create(capFile)
	w, _ := capture.NewPcapWriter(f, capture.LinkRaw, 65535)
	for i, l := range []string{"eth0 tcp [2001:db8:113::7]:40000 > [2001:db8:100::1]:22 S", "eth0 tcp [2001:db8:113::7]:40001 > [2001:db8:100::1]:23 S"} {
		d, _ := packet.ParseShort(l)
		b, _ := d.Build(i)
		w.WritePacket(int64(i+1)*1e9, b, 0)
	}
	w.Flush()
	f.Close()
	out6 := filepath.Join(dir, "after6.rules")
	stdout, stderr, code := runCmd(t, "replay", gateway, "--rules6", r6, capFile, "--in", "eth0", "--direction", "in", "-o6", out6)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"# ip6tables table filter\n", `ip6 filter/INPUT rule 1 +1 packets +60 bytes  -A INPUT -p tcp -m tcp --dport 22 -j ACCEPT`, `ip6 filter/INPUT policy +1 packets +60 bytes  -P INPUT DROP`} {
		if !regexp.MustCompile(want).MatchString(stdout) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	if b, _ := os.ReadFile(out6); !strings.Contains(string(b), ":INPUT DROP [1:60]") || !strings.Contains(string(b), "[1:60] -A INPUT -p tcp -m tcp --dport 22 -j ACCEPT") {
		t.Errorf("-o6 file:\n%s", b)
	}
	// Without --rules6 the IPv6 packets are skipped, and the fix said.
	stdout, _, _ = runCmd(t, "replay", gateway, capFile, "--in", "eth0", "--direction", "in")
	if !strings.Contains(stdout, "2  IPv6 (no ip6tables rules given)") || !strings.Contains(stdout, "fix: --rules6 FILE") {
		t.Errorf("%s", stdout)
	}
}

// Rules lint proves can never match are listed apart from those the
// traffic did not hit.
func TestReplayNeverMatching(t *testing.T) {
	dir := t.TempDir()
	rulesFile := filepath.Join(dir, "shadow.rules")
	text, _ := os.ReadFile(gateway)
	os.WriteFile(rulesFile, []byte(strings.Replace(string(text), "-A FORWARD -i wlan0 -o eth0 -j ACCEPT", "-A FORWARD -i wlan0 -o eth0 -j ACCEPT\n-A FORWARD -i wlan0 -o eth0 -p tcp -j ACCEPT", 1)), 0o644)
	capFile := writeCapture(t, capgen.Config{Workload: capgen.Established, Packets: 100, Flows: 5, Seed: 1})
	stdout, stderr, code := runCmd(t, "replay", rulesFile, capFile)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	never := stdout[strings.Index(stdout, "rules that can never match"):]
	if !regexp.MustCompile(`filter/FORWARD rule 4 +-A FORWARD -i wlan0 -o eth0 -p tcp -j ACCEPT\n +never matches anything`).MatchString(never) {
		t.Errorf("%s", never)
	}
	hit := stdout[strings.Index(stdout, "rules no packet hit"):strings.Index(stdout, "rules that can never match")]
	if strings.Contains(hit, "filter/FORWARD rule 4 ") || !strings.Contains(hit, "filter/FORWARD rule 2 ") {
		t.Errorf("%s", hit)
	}
}
