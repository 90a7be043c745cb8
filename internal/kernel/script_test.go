package kernel

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestRunScript runs a script that calls iptables by name and by its
// absolute paths, two stubbed commands, a refused rule, and stops at a
// failing command by its #! option: every iptables command must land in
// the firewall through the backend's iptables (the backend's
// iptables-save shows them), the other commands are stubs that succeed,
// the refused rule is in Failed, and nothing after the failure runs.
func TestRunScript(t *testing.T) {
	Require(t)
	dir := t.TempDir()
	script := filepath.Join(dir, "fw.sh")
	text := `#!/bin/bash -e
. ./fw.conf
modprobe ip_conntrack_ftp
iptables -N web
/sbin/iptables -A INPUT -p tcp --dport "$WEB" -j web
/usr/sbin/iptables -t nat -A POSTROUTING -o eth0 -j MASQUERADE
iptables -A web -j ACCEPT
logger "firewall up: $1"
iptables -A INPUT -m nosuchmatch -j DROP || echo "refused as it should be"
false
iptables -A INPUT -s 192.0.2.9 -j DROP
`
	if err := os.WriteFile(script, []byte(text), 0o755); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(t.TempDir(), "fw.conf")
	if err := os.WriteFile(conf, []byte("WEB=80\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, b := range Backends {
		t.Run(string(b), func(t *testing.T) {
			fw := NewFirewall(t, b)
			run, err := fw.RunScript(Script{Path: script, Args: []string{"now"}, Files: []string{conf}})
			if err != nil {
				t.Fatal(err)
			}
			if run.ExitCode != 1 {
				t.Errorf("exit %d, want 1 (the #! -e stops at false)\nstdout: %s\nstderr: %s", run.ExitCode, run.Stdout, run.Stderr)
			}
			if want := []string{"modprobe", "logger"}; !slices.Equal(run.Stubbed, want) {
				t.Errorf("stubbed %v, want %v", run.Stubbed, want)
			}
			if !strings.Contains(run.Stdout, "refused as it should be") {
				t.Errorf("the bad rule was not refused: %q %q", run.Stdout, run.Stderr)
			}
			if len(run.Failed) != 1 || !strings.Contains(run.Failed[0].Command, "iptables -A INPUT -m nosuchmatch -j DROP") || run.Failed[0].Status == 0 {
				t.Errorf("failed %v, want the nosuchmatch rule alone", run.Failed)
			}
			save, err := fw.Save()
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"-A INPUT -p tcp -m tcp --dport 80 -j web", "-A POSTROUTING -o eth0 -j MASQUERADE", "-A web -j ACCEPT"} {
				if !strings.Contains(save, want+"\n") {
					t.Errorf("the %s backend's save lacks %q:\n%s", b, want, save)
				}
			}
			if strings.Contains(save, "192.0.2.9") {
				t.Errorf("the rule after the failing command ran: #! -e was not honoured:\n%s", save)
			}
		})
	}
}

// TestSandbox runs a script that tries to write outside its namespace and
// to resolve a name, and calls the tools by name and by absolute path:
// nothing may reach the host, the real iptables must run (by every path),
// a failing iptables command must be reported and a -C or an ip6tables
// command that succeeds must not be; the commands the sandbox has no
// real tool for are stubbed.
func TestSandbox(t *testing.T) {
	Require(t)
	probes := []string{"/tmp/ipsift-sandbox-probe", "/run/netns/ipsift-sandbox-probe", "/dev/shm/ipsift-sandbox-probe", "/var/tmp/ipsift-sandbox-probe"}
	for _, p := range probes {
		os.Remove(p)
	}
	for _, b := range Backends {
		t.Run(string(b), func(t *testing.T) {
			fw := NewFirewall(t, b)
			run, err := fw.RunScript(Script{Path: filepath.Join("testdata", "sandbox-probe.sh")})
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range probes {
				if _, err := os.Stat(p); err == nil {
					os.Remove(p)
					t.Errorf("the script wrote %s outside its sandbox", p)
				}
			}
			if len(run.Failed) != 1 || !strings.Contains(run.Failed[0].Command, "NOSUCHCHAIN") {
				t.Errorf("want exactly the failing -A NOSUCHCHAIN reported, got %v", run.Failed)
			}
			if want := []string{"touch", "modprobe", "no-such-command", "getent"}; !slices.Equal(run.Stubbed, want) {
				t.Errorf("stubbed %v, want %v", run.Stubbed, want)
			}
			save, err := fw.Save()
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"-A INPUT -s 192.0.2.1/32 -j ACCEPT", "-A INPUT -s 192.0.2.2/32 -j ACCEPT", "-A POSTROUTING -o eth0 -j MASQUERADE"} {
				if !strings.Contains(save, want) {
					t.Errorf("missing %q: the real iptables did not run by every path:\n%s", want, save)
				}
			}
			if strings.Contains(save, "name resolved") {
				t.Errorf("a name was resolved inside the sandbox")
			}
			fwd, err := fw.Run("cat", "/proc/sys/net/ipv4/ip_forward")
			if err != nil || strings.TrimSpace(fwd) != "0" {
				t.Errorf("the script's write to its namespace's ip_forward did not land: %q %v", fwd, err)
			}
		})
	}
}

// isQuery tells the commands whose failure changes nothing.
func TestIsQuery(t *testing.T) {
	for cmd, want := range map[string]bool{
		"iptables -C INPUT -j ACCEPT":       true,
		"iptables -t nat -nL FOO":           true,
		"iptables --list-rules":             true,
		"iptables -S INPUT":                 true,
		"iptables-save":                     true,
		"ip6tables -A INPUT -j DROP":        false,
		"iptables -A INPUT -s 10/8 -j DROP": false,
		"iptables -D INPUT -j foo":          false,
		"iptables -t nat -F":                false,
		"iptables-restore":                  false,
	} {
		if got := isQuery(cmd); got != want {
			t.Errorf("isQuery(%q) = %v, want %v", cmd, got, want)
		}
	}
}
