package kernel

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestRunScript runs a script that calls iptables by name and by its
// absolute path, and two other commands, on each backend: every iptables
// command must land in the firewall through the backend's iptables (the
// backend's iptables-save shows them), and the other commands are stubs
// that succeed.
func TestRunScript(t *testing.T) {
	Require(t)
	script := filepath.Join(t.TempDir(), "fw.sh")
	text := `#!/bin/sh
set -e
modprobe ip_conntrack_ftp
iptables -N web
/sbin/iptables -A INPUT -p tcp --dport 80 -j web
/usr/sbin/iptables -t nat -A POSTROUTING -o eth0 -j MASQUERADE
iptables -A web -j ACCEPT
logger "firewall up: $1"
iptables -A INPUT -m nosuchmatch -j DROP || echo "refused as it should be"
`
	if err := os.WriteFile(script, []byte(text), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, b := range Backends {
		t.Run(string(b), func(t *testing.T) {
			fw := NewFirewall(t, b)
			run, err := fw.RunScript(script, "now")
			if err != nil {
				t.Fatal(err)
			}
			if run.ExitCode != 0 {
				t.Fatalf("exit %d\nstdout: %s\nstderr: %s", run.ExitCode, run.Stdout, run.Stderr)
			}
			if want := []string{"modprobe", "logger"}; !slices.Equal(run.Stubbed, want) {
				t.Errorf("stubbed %v, want %v", run.Stubbed, want)
			}
			if !strings.Contains(run.Stdout, "refused as it should be") {
				t.Errorf("the bad rule was not refused: %q %q", run.Stdout, run.Stderr)
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
		})
	}
}
