package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

func runCmd(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(append([]string{"ipsift"}, args...), &out, &errb)
	return out.String(), errb.String(), code
}

const article = "../../examples/article-as-printed.sh"
const gateway = "../../examples/gateway.rules"

// TestCheckArticle checks that every defect of the how-to's rules is
// reported on its own line with its position.
func TestCheckArticle(t *testing.T) {
	out, _, code := runCmd(t, "check", article)
	if code != exitProblems {
		t.Errorf("exit %d, want %d", code, exitProblems)
	}
	want := []string{
		`:8:26: error: "-syn" is read as -s yn`,
		`:10:26: error: "–syn" starts with a typographic dash`,
		`:10:31: error: "–destination-port" starts with a typographic dash`,
		`write instead: iptables -A INPUT -p tcp --syn --destination-port 22 -j ACCEPT`,
		`:12:34: error: "–state" starts with a typographic dash`,
		`:15:13: error: chain "logdrop" does not exist in table filter (did you mean LOGDROP?)`,
		`:15:21: error: unknown option "-J": options are case-sensitive; write -j`,
		`:18:34: warning: "WLAN_INTERFACE" looks like a placeholder`,
		`:18:56: error: "–dportPORTNUMBERS" starts with a typographic dash`,
		`"PORTNUMBERS" is a placeholder glued to the option: write --dport VALUE`,
		`:18:98: error: "DESTINATION_IP" looks like a placeholder`,
		`:24:36: error: "MALICIOUS_ADDRESS" looks like a placeholder`,
		`:29:13: error: chain "specific-rule-set" does not exist`,
		`:29:47: error: -j syn-flood: no such target, and no chain of that name`,
		`:34:69: warning: -m nth was removed from Linux`,
		`:35:111: error: -j DNAT is only valid in the nat table, not filter: add -t nat`,
		`write instead: iptables -t nat -A PREROUTING -i eth0 -p tcp --dport 80 -m state --state NEW -m statistic --mode nth --every 4 --packet 1 -j DNAT --to-destination 192.168.1.20:80`,
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("check output lacks %q", w)
		}
	}
	// Every problem line starts with FILE:LINE:COL.
	re := regexp.MustCompile(`^\S+:\d+:\d+: (error|warning|note): `)
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.HasPrefix(l, "    ") || strings.HasSuffix(l, "warnings") || strings.HasSuffix(l, "warning") {
			continue
		}
		if !re.MatchString(l) {
			t.Errorf("line without a position: %q", l)
		}
	}
	if t.Failed() {
		t.Log(out)
	}
}

func TestCheckCleanFile(t *testing.T) {
	out, _, code := runCmd(t, "check", gateway)
	if code != exitOK || !strings.Contains(out, "no problems found") {
		t.Errorf("check gateway.rules: exit %d\n%s", code, out)
	}
}

func TestSaveGateway(t *testing.T) {
	out, _, code := runCmd(t, "save", gateway)
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	for _, w := range []string{"*nat\n", "-A PREROUTING -i eth0 -p tcp -m tcp --dport 2222 -j DNAT --to-destination 192.0.2.50:22\n", ":LOGDROP - [0:0]\n", "-A LOGDROP -m limit --limit 5/min -j LOG --log-prefix \"LOGDROP: \"\n"} {
		if !strings.Contains(out, w) {
			t.Errorf("save lacks %q\n%s", w, out)
		}
	}
	if strings.Index(out, "*filter") > strings.Index(out, "*nat") {
		t.Errorf("tables out of iptables-nft-save's order")
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{}, {"nosuch"}, {"save"}, {"trace", gateway}, {"list", gateway, "a", "b"}, {"save", "/nonexistent/file"}} {
		if _, _, code := runCmd(t, args...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, exitUsage)
		}
	}
}

func TestHelpEveryCommand(t *testing.T) {
	for _, c := range commands {
		out, _, code := runCmd(t, c.name, "--help")
		if code != exitOK || !strings.Contains(out, "Usage: ipsift "+c.name) || !strings.Contains(out, "Example:") {
			t.Errorf("%s --help: exit %d\n%s", c.name, code, out)
		}
	}
}

// TestHelpFrontEnds checks that the front ends' --help shows an example
// before IPSIFT_RULES is set, as every other command's does.
func TestHelpFrontEnds(t *testing.T) {
	t.Setenv("IPSIFT_RULES", "")
	for _, tool := range []string{"iptables", "iptables-save", "iptables-restore", "ip6tables", "ip6tables-save", "ip6tables-restore", "ipset"} {
		out, errs, code := runCmd(t, tool, "--help")
		if code != exitOK || !strings.Contains(out, "Usage: IPSIFT_RULES=FILE ipsift "+tool) || !strings.Contains(out, "Example:") {
			t.Errorf("%s --help without IPSIFT_RULES: exit %d\n%s%s", tool, code, out, errs)
		}
		if _, errs, code := runCmd(t, tool, "-L"); code != exitUsage || !strings.Contains(errs, "set IPSIFT_RULES") {
			t.Errorf("%s -L without IPSIFT_RULES: exit %d, want %d and how to set it: %s", tool, code, exitUsage, errs)
		}
	}
}

// traceJSON runs trace --json on gateway.rules with packets in the
// packets format and returns its output lines, one per packet.
func traceJSON(t *testing.T, packets string) []string {
	t.Helper()
	pk := filepath.Join(t.TempDir(), "p.jsonl")
	os.WriteFile(pk, []byte(packets), 0o644)
	out, errs, code := runCmd(t, "trace", gateway, "--packets", pk, "--json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if n := strings.Count(packets, "\n"); len(lines) != n {
		t.Fatalf("want %d lines, one per packet:\n%s", n, out)
	}
	return lines
}

func TestTraceJSON(t *testing.T) {
	lines := traceJSON(t, `{"in":"eth0","src":"203.0.113.7","dst":"198.51.100.1","proto":"tcp","sport":40000,"dport":22,"flags":"S"}
{"in":"wlan0","src":"192.0.2.10","dst":"198.51.100.9","proto":"udp","sport":53000,"dport":53,"len":40}
`)
	if !strings.Contains(lines[0], `{"table":"filter","chain":"INPUT","rule":7}`) || !strings.Contains(lines[0], `"verdict":"accept-local"`) {
		t.Errorf("line 0: %s", lines[0])
	}
	if !strings.Contains(lines[1], `{"table":"filter","chain":"FORWARD","rule":3}`) || !strings.Contains(lines[1], `"verdict":"forward"`) {
		t.Errorf("line 1: %s", lines[1])
	}
}

func TestTraceText(t *testing.T) {
	out, _, code := runCmd(t, "trace", gateway, "eth0 tcp 198.51.100.9:40001 > 198.51.100.1:22 S")
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	for _, w := range []string{"filter INPUT", "✗", "-s 203.0.113.0/24: the packet's is 198.51.100.9", "LOGDROP", "verdict  dropped (LOGDROP rule 2, reached from filter INPUT rule 10)"} {
		if !strings.Contains(out, w) {
			t.Errorf("trace lacks %q\n%s", w, out)
		}
	}
}

func TestFrontEnd(t *testing.T) {
	f := filepath.Join(t.TempDir(), "fw.rules")
	t.Setenv("IPSIFT_RULES", f)
	steps := [][]string{
		{"iptables", "-N", "LOGDROP"},
		{"iptables", "-A", "LOGDROP", "-j", "LOG", "--log-prefix", "LOGDROP: "},
		{"iptables", "-t", "nat", "-A", "POSTROUTING", "-o", "eth0", "-j", "MASQUERADE"},
		{"iptables", "-A", "INPUT", "-p", "tcp", "--dport", "22", "-j", "ACCEPT"},
	}
	for _, s := range steps {
		if _, errs, code := runCmd(t, s...); code != exitOK {
			t.Fatalf("%v: exit %d: %s", s, code, errs)
		}
	}
	before, _ := os.ReadFile(f)
	if _, _, code := runCmd(t, "iptables", "-A", "nosuch", "-j", "ACCEPT"); code == exitOK {
		t.Error("appending to a missing chain succeeded")
	}
	after, _ := os.ReadFile(f)
	if !bytes.Equal(before, after) {
		t.Error("a failed command changed the rules file")
	}
	out, _, _ := runCmd(t, "iptables", "-S")
	if !strings.Contains(out, "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT") {
		t.Errorf("-S:\n%s", out)
	}
	save, _, _ := runCmd(t, "iptables-save")
	// Called as iptables-restore through a symlink's name.
	f2 := filepath.Join(t.TempDir(), "copy.rules")
	t.Setenv("IPSIFT_RULES", f2)
	r, w, _ := os.Pipe()
	w.WriteString(save)
	w.Close()
	oldStdin := os.Stdin
	os.Stdin = r
	var o, e bytes.Buffer
	code := run([]string{"/usr/local/bin/iptables-restore"}, &o, &e)
	os.Stdin = oldStdin
	if code != exitOK {
		t.Fatalf("iptables-restore: %d %s", code, e.String())
	}
	copySave, _, _ := runCmd(t, "iptables-save")
	if copySave != save {
		t.Errorf("restore of a save differs:\n%s\n---\n%s", save, copySave)
	}
}

func TestDemo(t *testing.T) {
	out, errs, code := runCmd(t, "demo")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if strings.Count(out, "verdict") != len(demoSteps)+len(demoSteps6) {
		t.Errorf("demo shows %d verdicts for %d steps", strings.Count(out, "verdict"), len(demoSteps)+len(demoSteps6))
	}
	// The IPv6 part: the neighbour advertisement the host answers with,
	// the RST, nft's stop at AH (REJECT's ICMPv6 error), forwarding.
	for _, want := range []string{"neighbor advertisement", "9 ✓ -j REJECT --reject-with icmp6-adm-prohibited", "verdict  forwarded out eth0"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo lacks %q", want)
		}
	}
}

// TestTracePacketsMdExamples runs the five example packets of
// ../shared/formats/packets.md through gateway.rules and compares the
// result with what the kernel harness recorded there, byte for byte.
func TestTracePacketsMdExamples(t *testing.T) {
	out, errs, code := runCmd(t, "trace", gateway, "--packets", "testdata/packets-md-examples.jsonl", "--json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	want, err := os.ReadFile("testdata/packets-md-examples.kernel.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if out != string(want) {
		t.Errorf("got:\n%s\nthe kernel recorded:\n%s", out, want)
	}
}

// TestCheckExitStatus: errors and warnings about rules that can never
// matter fail check; informational warnings pass it, unless --strict.
func TestCheckExitStatus(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	info := write("info.sh", "#!/bin/sh\nIF=$1\niptables -A INPUT -i $IF -j ACCEPT\n")
	dead := write("dead.rules", "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp -j ACCEPT\n-A INPUT -p tcp --dport 22 -j DROP\nCOMMIT\n")
	bad := write("bad.rules", "*filter\n-A INPUT -j NOPE\nCOMMIT\n")
	cross := write("cross.rules", "*mangle\n-A PREROUTING -p icmp -j DROP\nCOMMIT\n*filter\n-A INPUT -p icmp -j ACCEPT\nCOMMIT\n")
	for _, c := range []struct {
		args []string
		want int
		out  string
	}{
		{[]string{"check", info}, exitOK, "1 warning (for information"},
		{[]string{"check", "--strict", info}, exitProblems, "1 warning"},
		{[]string{"check", dead}, exitProblems, "never matches"},
		{[]string{"check", bad}, exitProblems, "1 error"},
		{[]string{"check", cross}, exitProblems, "dropped earlier on its way"},
		{[]string{"check", gateway}, exitOK, "no problems found"},
		{[]string{"check", "--strict", gateway}, exitOK, "no problems found"},
	} {
		out, _, code := runCmd(t, c.args...)
		if code != c.want || !strings.Contains(out, c.out) {
			t.Errorf("%v: exit %d, want %d with %q\n%s", c.args, code, c.want, c.out, out)
		}
	}
}

// TestCheckUnevaluable: a rule that loads but that the engine cannot
// compile draws a warning at that rule, with the engine's reason, one
// per rule; the file still passes check.
func TestCheckUnevaluable(t *testing.T) {
	p := filepath.Join(t.TempDir(), "cg.rules")
	src := "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp -j ACCEPT\n-A INPUT -m cgroup --cgroup 1 -j DROP\n-A INPUT -m cgroup --path user.slice -j DROP\nCOMMIT\n"
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, code := runCmd(t, "check", p)
	for _, w := range []string{"cg.rules:4:1: warning: trace and run cannot evaluate this rule", "cg.rules:5:1: warning: trace and run cannot evaluate this rule", "-m cgroup: ipsift cannot know a packet's cgroup"} {
		if !strings.Contains(out, w) {
			t.Errorf("check lacks %q\n%s", w, out)
		}
	}
	if strings.Contains(out, "-m cgroup: -m cgroup") {
		t.Errorf("the match is named twice\n%s", out)
	}
	if code != exitOK {
		t.Errorf("exit %d, want %d", code, exitOK)
	}
}

// TestNoflush: check, save, rules, list and trace read a restore file as
// iptables-restore --noflush does when told so; by default a repeated
// table section replaces the earlier one, and check warns.
func TestNoflush(t *testing.T) {
	p := filepath.Join(t.TempDir(), "two.rules")
	src := "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n*filter\n:INPUT DROP [0:0]\n-A INPUT -p udp -j ACCEPT\nCOMMIT\n"
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, code := runCmd(t, "check", p)
	if code != exitProblems || !strings.Contains(out, "two.rules:5:1: warning: *filter again: iptables-restore replaces the filter table loaded at line 1, and its 1 rules are lost") {
		t.Errorf("check: exit %d\n%s", code, out)
	}
	out, _, code = runCmd(t, "check", "--noflush", p)
	if code != exitOK || !strings.Contains(out, "no problems found") {
		t.Errorf("check --noflush: exit %d\n%s", code, out)
	}
	ssh := "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT"
	for _, args := range [][]string{{"save"}, {"rules"}} {
		out, _, _ = runCmd(t, append(args, p)...)
		if strings.Contains(out, ssh) {
			t.Errorf("%s keeps the replaced section:\n%s", args[0], out)
		}
		out, _, _ = runCmd(t, append(args, "--noflush", p)...)
		if !strings.Contains(out, ssh) {
			t.Errorf("%s --noflush loses the first section:\n%s", args[0], out)
		}
	}
	pkt := "eth0 tcp 203.0.113.7:40000 > 198.51.100.1:22 S"
	if out, _, _ = runCmd(t, "trace", p, pkt); strings.Contains(out, "delivered to this host") {
		t.Errorf("trace delivers by a replaced rule:\n%s", out)
	}
	if out, _, _ = runCmd(t, "trace", "--noflush", p, pkt); !strings.Contains(out, "delivered to this host") {
		t.Errorf("trace --noflush:\n%s", out)
	}
}

// TestSaveWithErrors: save prints what a host holds after a file with
// errors (a script's failing commands fail alone; a restore file keeps
// the tables committed before its first error), reports the errors on
// stderr and exits 1.
func TestSaveWithErrors(t *testing.T) {
	dir := t.TempDir()
	sh := filepath.Join(dir, "fw.sh")
	os.WriteFile(sh, []byte("#!/bin/sh\niptables -A INPUT -p tcp --dport 22 -j ACCEPT\niptables -A INPUT -j nosuchchain\niptables -A OUTPUT -j ACCEPT\n"), 0o644)
	rf := filepath.Join(dir, "fw.rules")
	os.WriteFile(rf, []byte("*filter\n-A INPUT -j ACCEPT\nCOMMIT\n*nat\n-A PREROUTING -p tcp --dport 99999 -j ACCEPT\nCOMMIT\n"), 0o644)
	for _, c := range []struct {
		path      string
		out, errs []string
	}{
		{sh, []string{"-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\n-A OUTPUT -j ACCEPT\n"}, []string{"fw.sh:3:22: error:", "the script went on"}},
		{rf, []string{"*filter\n", "-A INPUT -j ACCEPT\n"}, []string{"fw.rules:5:", "table nat and the rest of the file are not loaded; filter, committed before, stays loaded"}},
	} {
		out, errs, code := runCmd(t, "save", c.path)
		if code != exitProblems {
			t.Errorf("%s: exit %d, want %d", c.path, code, exitProblems)
		}
		for _, w := range c.out {
			if !strings.Contains(out, w) {
				t.Errorf("%s: stdout lacks %q\n%s", c.path, w, out)
			}
		}
		for _, w := range c.errs {
			if !strings.Contains(errs, w) {
				t.Errorf("%s: stderr lacks %q\n%s", c.path, w, errs)
			}
		}
		if strings.Contains(out, "*nat") {
			t.Errorf("%s: the failed nat table is printed\n%s", c.path, out)
		}
	}
}

// TestScriptArgs: what follows -- is the script's $1 ..., as with
// bash SCRIPT ARG...; without -- the arguments stay unknown.
func TestScriptArgs(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/fw.sh"
	src := "#!/bin/sh\ncase \"$1\" in\n  start) iptables -A INPUT -p tcp --dport \"$2\" -j ACCEPT ;;\n  stop) iptables -F INPUT ;;\nesac\n[ $# -eq 2 ] && iptables -A INPUT -j DROP\n"
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errs, code := runCmd(t, "save", path, "--", "start", "22")
	want := "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\n-A INPUT -j DROP\nCOMMIT\n"
	if code != exitOK || out != want {
		t.Errorf("save -- start 22: exit %d, stderr %q, got\n%s\nwant\n%s", code, errs, out, want)
	}
	out, errs, code = runCmd(t, "check", path, "--", "stop")
	if code != exitOK || strings.Contains(out+errs, "argument") {
		t.Errorf("check -- stop: exit %d:\n%s%s", code, out, errs)
	}
	out, errs, _ = runCmd(t, "check", path)
	if !strings.Contains(out+errs, "argument") {
		t.Errorf("check without --: the arguments should be unknown:\n%s%s", out, errs)
	}
}

// TestTraceJSONWithLog: in JSON mode a LOG rule's lines go into the
// packet's result (its "log" array), never onto stdout between results.
func TestTraceJSONWithLog(t *testing.T) {
	lines := traceJSON(t, `{"in":"eth0","src":"198.51.100.9","dst":"198.51.100.1","proto":"tcp","sport":40001,"dport":22,"flags":"S"}
{"in":"wlan0","src":"192.0.2.10","dst":"198.51.100.9","proto":"udp","sport":53000,"dport":53,"len":40}
`)
	type result struct {
		I   int      `json:"i"`
		Log []string `json:"log"`
	}
	var results []result
	for _, l := range lines {
		var r result
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("stdout line is not JSON: %q: %v", l, err)
		}
		results = append(results, r)
	}
	if len(results[0].Log) != 1 || !strings.HasPrefix(results[0].Log[0], "LOGDROP: IN=eth0 OUT= ") || strings.Contains(results[0].Log[0], "\n") {
		t.Errorf("packet 0's log: %q, want the one LOGDROP line", results[0].Log)
	}
	if results[1].Log != nil || strings.Contains(lines[1], `"log"`) {
		t.Errorf("packet 1 logged nothing, yet: %s", lines[1])
	}
}

// TestFrontEndKeepsMode: the rules file a command rewrites keeps its mode
// and owner (issue 16: a 0644 file came back 0600).
func TestFrontEndKeepsMode(t *testing.T) {
	dir := t.TempDir()
	for _, mode := range []os.FileMode{0o644, 0o640, 0o664} {
		f := filepath.Join(dir, "fw.rules")
		os.Remove(f)
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		os.Chmod(f, mode)
		owner := os.Getuid() == 0
		if owner {
			os.Chown(f, 12345, 23456)
		}
		t.Setenv("IPSIFT_RULES", f)
		if _, errs, code := runCmd(t, "iptables", "-A", "INPUT", "-j", "ACCEPT"); code != exitOK {
			t.Fatalf("exit %d: %s", code, errs)
		}
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("mode %v after the command, want %v", fi.Mode().Perm(), mode)
		}
		if st := fi.Sys().(*syscall.Stat_t); owner && (st.Uid != 12345 || st.Gid != 23456) {
			t.Errorf("owner %d:%d after the command, want 12345:23456", st.Uid, st.Gid)
		}
	}
	// Through a symbolic link, the file it names is rewritten.
	target := filepath.Join(dir, "real.rules")
	os.WriteFile(target, nil, 0o644)
	link := filepath.Join(dir, "link.rules")
	os.Symlink(target, link)
	t.Setenv("IPSIFT_RULES", link)
	if _, errs, code := runCmd(t, "iptables", "-A", "INPUT", "-j", "ACCEPT"); code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link was replaced by a file")
	}
	if data, _ := os.ReadFile(target); !strings.Contains(string(data), "-A INPUT -j ACCEPT") {
		t.Errorf("the link's target was not rewritten:\n%s", data)
	}
	// A new file gets 0666 less the umask, as "> FILE" would.
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	fresh := filepath.Join(dir, "new.rules")
	t.Setenv("IPSIFT_RULES", fresh)
	if _, errs, code := runCmd(t, "iptables", "-N", "x"); code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if fi, err := os.Stat(fresh); err != nil {
		t.Error(err)
	} else if fi.Mode().Perm() != 0o644 {
		t.Errorf("new file: mode %v, want 0644", fi.Mode())
	}
}
