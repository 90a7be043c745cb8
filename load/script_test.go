package load

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipsift/ipsift/rules"
)

func saved(t *testing.T, rs *rules.Ruleset) string {
	t.Helper()
	var b strings.Builder
	if err := rs.Save(&b, rules.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestScriptUnknownsOnce: a gateway script of 25 rules whose tool, WAN
// interface and admin address come from the environment draws exactly
// one note per unknown, no error, and a rule that needs the unknown
// address is not put in the ruleset with a made-up one.
func TestScriptUnknownsOnce(t *testing.T) {
	res, err := File("testdata/environment.sh", Options{KeepGoing: true})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"testdata/environment.sh:4:1 note $IPTABLES is never set in the script",
		"testdata/environment.sh:12:23 note $WAN_IF is never set in the script",
		"testdata/environment.sh:15:23 note $ADMIN_IP is never set in the script",
	}
	if len(res.Diags) != len(want) {
		t.Errorf("%d findings, want %d:\n%v", len(res.Diags), len(want), res.Diags)
	}
	for i, d := range res.Diags {
		got := d.Pos.String() + " " + d.Severity.String() + " " + d.Msg
		if i < len(want) && !strings.HasPrefix(got, want[i]) {
			t.Errorf("finding %d:\n got %s\nwant %s...", i, got, want[i])
		}
	}
	out := saved(t, res.Rules)
	if !strings.Contains(out, "-A FORWARD -i eth1 -o $WAN_IF -j ACCEPT\n") || strings.Contains(out, "192.0.2.1") || strings.Count(out, "\n-A ") != 14 {
		t.Errorf("saved:\n%s", out)
	}
}

// TestScriptSourceAndSet: a script that sources its configuration next
// to it and sets its parameters with set loads without a finding, and a
// problem in the sourced file is reported at that file's own line.
func TestScriptSourceAndSet(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"fw.conf":  "WAN=eth0\nSSH_PORT=2222\nallow() {\n  iptables -A INPUT -i $WAN -p tcp --dport $1 -j ACCEPT\n}\n",
		"fw.sh":    "#!/bin/sh\n. ./fw.conf\nset $SSH_PORT 80 443\nfor p; do allow $p; done\nL=10.0.0.1,10.0.0.2\nIFS=,; set $L; IFS=' '\niptables -A INPUT -s $1 -j DROP\niptables -A INPUT -s \"$2\" -j DROP\n. ./bad.conf\n",
		"bad.conf": "iptables -A INPUT -p tcp --dport 22 -j ACCPET\n",
	}
	for n, text := range files {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	res, err := File(filepath.Join(dir, "fw.sh"), Options{KeepGoing: true})
	if err != nil {
		t.Fatal(err)
	}
	out := saved(t, res.Rules)
	for _, r := range []string{"-i eth0 -p tcp -m tcp --dport 2222", "--dport 80", "--dport 443", "-s 10.0.0.1/32", "-s 10.0.0.2/32"} {
		if !strings.Contains(out, r) {
			t.Errorf("no %q in\n%s", r, out)
		}
	}
	if len(res.Diags) != 1 || res.Diags[0].Pos.File != filepath.Join(dir, "bad.conf") || res.Diags[0].Pos.Line != 1 || res.Diags[0].Severity != rules.SevError {
		t.Errorf("findings: %v", res.Diags)
	}
}

// TestScriptDispatch: an init-style script is read as `fw.sh start`
// would run it, says so, and takes bash's certain answers (an undefined
// function, a variable the script never sets) instead of guessing.
func TestScriptDispatch(t *testing.T) {
	src := "#!/bin/bash\n" +
		"start() {\n  iptables -P INPUT DROP\n  iptables -A INPUT -p tcp --dport 22 -j ACCEPT\n" +
		"  if declare -f site_rules >/dev/null; then site_rules; else iptables -A INPUT -p tcp --dport 80 -j ACCEPT; fi\n" +
		"  if [ \"x$DEBUG\" == \"xyes\" ]; then iptables -A INPUT -j LOG; fi\n}\n" +
		"stop() {\n  iptables -P INPUT ACCEPT\n  iptables -F\n}\n" +
		"\"$@\"\n"
	res := Bytes("fw.sh", []byte(src), Options{KeepGoing: true})
	want := []string{
		"fw.sh:6:10 note $DEBUG is never set in the script, so its value would come from the environment: in a condition it is taken as empty",
		"fw.sh:12:2 warning cannot know the command $@: it is the script's argument; following function start, as for `fw.sh start`",
	}
	if len(res.Diags) != len(want) {
		t.Errorf("%d findings, want %d:\n%v", len(res.Diags), len(want), res.Diags)
	}
	for i, d := range res.Diags {
		got := d.Pos.String() + " " + d.Severity.String() + " " + d.Msg
		if i < len(want) && !strings.HasPrefix(got, want[i]) {
			t.Errorf("finding %d:\n got %s\nwant %s...", i, got, want[i])
		}
	}
	out := saved(t, res.Rules)
	if !strings.Contains(out, ":INPUT DROP") || !strings.Contains(out, "--dport 80 -j ACCEPT") || strings.Contains(out, "LOG") {
		t.Errorf("saved:\n%s", out)
	}
}

// TestScriptUnknownPort: an unknown value refused where a port is wanted
// draws no error: the error names the option's place, not the value's.
func TestScriptUnknownPort(t *testing.T) {
	res := Bytes("fw.sh", []byte("iptables -A INPUT -p tcp --dport $SSH_PORT -j ACCEPT\niptables -A INPUT -p tcp --sport $SSH_PORT -j ACCEPT\n"), Options{KeepGoing: true})
	if len(res.Diags) != 1 || res.Diags[0].Severity != rules.SevNote {
		t.Errorf("findings: %v", res.Diags)
	}
}
