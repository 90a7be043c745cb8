package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeSpec(t *testing.T, text string) string {
	t.Helper()
	dir := t.TempDir()
	rules, _ := filepath.Abs("../../examples/gateway.rules")
	p := filepath.Join(dir, "t.spec")
	if err := os.WriteFile(p, []byte("rules "+rules+"\n"+text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTestCommandExitCodes(t *testing.T) {
	pass := writeSpec(t, "case ssh\n  packet eth0 tcp 203.0.113.7:40000 > 198.51.100.1:22 S\n  verdict accept-local\n")
	fail := writeSpec(t, "case ssh\n  packet eth0 tcp 203.0.113.7:40000 > 198.51.100.1:22 S\n  verdict drop\n")
	bad := writeSpec(t, "case ssh\n  packet eth0 tcp 203.0.113.7:40000 > 198.51.100.1:22 S\n  verdict nope\n")

	out, _, code := runCmd(t, "test", pass)
	if code != 0 || !strings.HasPrefix(out, "ok  \t") {
		t.Errorf("passing spec: exit %d\n%s", code, out)
	}
	out, _, code = runCmd(t, "test", pass, fail)
	if code != 1 || !strings.Contains(out, "--- FAIL: ssh") || !strings.Contains(out, "want verdict drop") || !strings.Contains(out, "got  verdict accept-local") || !strings.Contains(out, "trace of the failing packet") {
		t.Errorf("failing spec: exit %d\n%s", code, out)
	}
	_, errOut, code := runCmd(t, "test", bad)
	if code != 2 || !strings.Contains(errOut, bad+":4:11: verdict \"nope\"") {
		t.Errorf("bad spec: exit %d\n%s", code, errOut)
	}
	if _, _, code = runCmd(t, "test"); code != 2 {
		t.Errorf("no spec: exit %d", code)
	}
	out, _, code = runCmd(t, "test", "--json", fail)
	if code != 1 || !strings.Contains(out, `"pass":false`) {
		t.Errorf("--json: exit %d\n%s", code, out)
	}
	junit := filepath.Join(t.TempDir(), "r.xml")
	if _, _, code = runCmd(t, "test", "--junit", junit, pass, fail); code != 1 {
		t.Errorf("--junit: exit %d", code)
	}
	if b, err := os.ReadFile(junit); err != nil || !strings.Contains(string(b), `<testsuite name="`+fail+`" tests="1" failures="1"`) {
		t.Errorf("junit file: %v\n%s", err, b)
	}
}

func TestTestRecord(t *testing.T) {
	pk := filepath.Join(t.TempDir(), "p.txt")
	os.WriteFile(pk, []byte("# packets\neth0 tcp 203.0.113.7:40000 > 198.51.100.1:22 S\nwlan0 udp 192.0.2.10:53000 > 198.51.100.9:53\n"), 0o644)
	rules, _ := filepath.Abs("../../examples/gateway.rules")
	out, errOut, code := runCmd(t, "test", "--record", pk, rules)
	if code != 0 || !strings.Contains(out, "verdict accept-local") || !strings.Contains(out, "out eth0 udp 198.51.100.1:53000 > 198.51.100.9:53") {
		t.Fatalf("record: exit %d\n%s%s", code, out, errOut)
	}
	spec := filepath.Join(t.TempDir(), "r.spec")
	os.WriteFile(spec, []byte(out), 0o644)
	if out, _, code := runCmd(t, "test", spec); code != 0 {
		t.Errorf("the record fails on its rules: exit %d\n%s", code, out)
	}
	out, _, code = runCmd(t, "test", "--record", pk, "--counters", rules)
	if code != 0 || !strings.Contains(out, "    decided filter INPUT 7\n    rule nat PREROUTING policy\n    rule filter INPUT 7\n") {
		t.Errorf("record --counters: exit %d\n%s", code, out)
	}
	if _, _, code := runCmd(t, "test", "--counters", spec); code != 2 {
		t.Errorf("--counters without --record: exit %d", code)
	}
	os.WriteFile(pk, []byte("eth0 tcp 203.0.113.7 > 198.51.100.1:22 S\n"), 0o644)
	if _, errOut, code := runCmd(t, "test", "--record", pk, rules); code != 2 || !strings.Contains(errOut, pk+":1:") {
		t.Errorf("bad packet: exit %d\n%s", code, errOut)
	}
}

// TestTestCommandProperty: a property that fails prints the confirmed
// counterexample, every packet that breaks it and the trace, in the
// text, the JSON and the JUnit file alike; exit 1.
func TestTestCommandProperty(t *testing.T) {
	spec := writeSpec(t, "never: accept tcp dport 22 from !203.0.113.0/24 in eth0 first\nalways: forward from wlan0 to eth0 state NEW\n")
	junit := filepath.Join(t.TempDir(), "r.xml")
	out, errOut, code := runCmd(t, "test", "-v", "--junit", junit, spec)
	if code != 1 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		"--- PASS: never: accept tcp dport 22 from !203.0.113.0/24 in eth0 first (" + spec + ":2)\n",
		"--- FAIL: always: forward from wlan0 to eth0 state NEW (" + spec + ":3)\n",
		"\n        want always: forward from wlan0 to eth0 state NEW\n        got  drop; no rule decided: the host did (a counterexample: the engine confirms it)\n        every packet that breaks it:\n            in wlan0 ",
		"ttl 0-1",
		"    trace of the failing packet:\n        in wlan0  IP ",
		"TTL exceeded",
		"verdict  dropped (by the host, after the rules let it through)\n",
		"FAIL\t" + spec + "\t1 of 2 cases failed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	b, err := os.ReadFile(junit)
	if err != nil || !strings.Contains(string(b), `tests="2" failures="1"`) || !strings.Contains(string(b), "every packet that breaks it:") || !strings.Contains(string(b), "TTL exceeded") {
		t.Errorf("junit: %v\n%s", err, b)
	}
	out, _, code = runCmd(t, "test", "--json", spec)
	if code != 1 || !strings.Contains(out, `"got":"drop; no rule decided: the host did (a counterexample: the engine confirms it)","classes":["in wlan0 `) || !strings.Contains(out, `"pass":true`) {
		t.Errorf("--json: exit %d\n%s", code, out)
	}
}

// TestTestRun: -run keeps the cases whose name matches, as go test -run.
func TestTestRun(t *testing.T) {
	spec := writeSpec(t, "case ssh\n  packet eth0 tcp 203.0.113.7:40000 > 198.51.100.1:22 S\n  verdict accept-local\n"+
		"case telnet\n  packet eth0 tcp 203.0.113.7:40000 > 198.51.100.1:23 S\n  verdict accept-local\n"+
		"never: accept tcp dport 22 from !203.0.113.0/24 in eth0 first\n")
	out, _, code := runCmd(t, "test", "-v", "-run", "ssh|never:", spec)
	if code != 0 || !strings.Contains(out, "--- PASS: ssh (") || !strings.Contains(out, "--- PASS: never: ") || strings.Contains(out, "telnet") || !strings.Contains(out, "\t2 cases") {
		t.Errorf("-run: exit %d\n%s", code, out)
	}
	if out, _, code := runCmd(t, "test", "-run", "tel", spec); code != 1 || !strings.Contains(out, "--- FAIL: telnet") {
		t.Errorf("-run tel: exit %d\n%s", code, out)
	}
	if _, errOut, code := runCmd(t, "test", "-run", "(", spec); code != 2 || !strings.Contains(errOut, "-run: ") {
		t.Errorf("bad -run: exit %d %s", code, errOut)
	}
	if out, errOut, code := runCmd(t, "test", "-run", "nosuch", spec); code != 0 || !strings.Contains(out, "\t0 cases") || !strings.Contains(errOut, "matches no case of "+spec) {
		t.Errorf("-run matching nothing: exit %d, want 0 with a warning\n%s%s", code, out, errOut)
	}
}
