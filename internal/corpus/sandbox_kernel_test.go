package corpus

import (
	"os"
	"strings"
	"testing"

	"github.com/ipsift/ipsift/internal/kernel"
)

// TestSandbox runs a script that tries to write outside its namespace and
// to resolve a name, and calls the tools by name and by absolute path:
// nothing may reach the host, the real iptables must run (by every path),
// a failing iptables command must be reported and a -C, an ip6tables
// command or a stubbed one must not be.
func TestSandbox(t *testing.T) {
	kernel.Require(t)
	probes := []string{"/tmp/ipsift-sandbox-probe", "/run/netns/ipsift-sandbox-probe", "/dev/shm/ipsift-sandbox-probe", "/var/tmp/ipsift-sandbox-probe"}
	for _, p := range probes {
		os.Remove(p)
	}
	for _, b := range kernel.Backends {
		t.Run(string(b), func(t *testing.T) {
			fw := kernel.NewFirewall(t, b)
			whole, failed := runScript(t, fw, Entry{File: "sandbox/probe.sh"})
			for _, p := range probes {
				if _, err := os.Stat(p); err == nil {
					os.Remove(p)
					t.Errorf("the script wrote %s outside its sandbox", p)
				}
			}
			if whole || !strings.Contains(failed, "NOSUCHCHAIN") || strings.Count(failed, "\n") != 0 {
				t.Errorf("want exactly the failing -A NOSUCHCHAIN reported, got whole=%v failed=%q", whole, failed)
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
