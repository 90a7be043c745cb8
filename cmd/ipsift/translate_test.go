package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// ipsift translate: 0 for a ruleset nft can say exactly, 1 with the
// left-out rule named at its line, 2 for bad usage.
func TestTranslateExitCodes(t *testing.T) {
	out, errs, code := runCmd(t, "translate", gateway)
	if code != exitOK || !strings.Contains(out, "type filter hook input priority 0; policy drop;") || errs != "" {
		t.Errorf("gateway.rules: exit %d, stderr %q, script:\n%s", code, errs, out)
	}
	f := filepath.Join(t.TempDir(), "fw.sh")
	os.WriteFile(f, []byte("iptables -A INPUT -p tcp --dport 22 -j ACCEPT\niptables -A INPUT -m recent --set\n"), 0o644)
	out, errs, code = runCmd(t, "translate", f)
	if code != exitProblems || !strings.Contains(errs, "fw.sh:2:") || !strings.Contains(errs, "-m recent") || !strings.Contains(out, "tcp dport 22 counter accept") {
		t.Errorf("script with -m recent: exit %d, stderr %q, script:\n%s", code, errs, out)
	}
	if _, _, code = runCmd(t, "translate"); code != exitUsage {
		t.Errorf("no FILE: exit %d, want %d", code, exitUsage)
	}
	if out, _, code = runCmd(t, "translate", "--help"); code != exitOK || !strings.Contains(out, "Example") {
		t.Errorf("--help: exit %d:\n%s", code, out)
	}
}

// iptables-translate by name (the symlink) and as a command, with
// 1.8.11's exit statuses.
func TestIptablesTranslate(t *testing.T) {
	for _, argv0 := range [][]string{{"iptables-translate"}, {"ipsift", "iptables-translate"}} {
		var out, errb strings.Builder
		code := run(append(argv0, "-A", "INPUT", "-p", "tcp", "--dport", "22", "-j", "ACCEPT"), &out, &errb)
		if code != exitOK || out.String() != "nft 'add rule ip filter INPUT tcp dport 22 counter accept'\n" {
			t.Errorf("%v: exit %d, %q", argv0, code, out.String())
		}
	}
	if out, errs, code := runCmd(t, "iptables-translate", "-D", "INPUT", "1"); code != exitProblems || out != "nft " || !strings.Contains(errs, "Translation not implemented") {
		t.Errorf("-D: exit %d, %q, %q", code, out, errs)
	}
	if _, _, code := runCmd(t, "ip6tables-translate", "-A", "INPUT", "--bogus"); code != exitUsage {
		t.Errorf("bad option: exit %d, want %d", code, exitUsage)
	}
}
