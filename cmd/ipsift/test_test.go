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
	os.WriteFile(pk, []byte("eth0 tcp 203.0.113.7 > 198.51.100.1:22 S\n"), 0o644)
	if _, errOut, code := runCmd(t, "test", "--record", pk, rules); code != 2 || !strings.Contains(errOut, pk+":1:") {
		t.Errorf("bad packet: exit %d\n%s", code, errOut)
	}
}
