package load

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipsift/ipsift/internal/kernel"
	"github.com/ipsift/ipsift/rules"
)

// saveOf is ipsift's iptables-save output for a ruleset.
func saveOf(rs *rules.Ruleset) string {
	var b strings.Builder
	rs.Save(&b, rules.SaveOptions{})
	return b.String()
}

// sameSave compares the kernel's iptables-save output with ipsift's,
// table by table (the legacy backend orders tables differently).
func sameSave(t *testing.T, theirs, ours string) {
	t.Helper()
	k, o := tableBlocks(theirs), tableBlocks(ours)
	for name, block := range k {
		if strings.TrimSpace(o[name]) != strings.TrimSpace(block) {
			t.Errorf("table %s: kernel:\n%s\nipsift:\n%s", name, block, o[name])
		}
	}
	for name, block := range o {
		if _, ok := k[name]; !ok {
			t.Errorf("ipsift has a table the kernel has not:\n%s", block)
		}
	}
}

// restoreFile runs the backend's iptables-restore with args on a file in
// the firewall's namespace.
func restoreFile(t *testing.T, fw *kernel.Firewall, data string, args ...string) error {
	t.Helper()
	p := filepath.Join(t.TempDir(), "rules")
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := fw.Run(append(append([]string{"iptables-" + string(fw.Backend) + "-restore", "-w", "10"}, args...), p)...)
	return err
}

// TestKernelRepeatedSection: a second "*filter" section replaces the
// first under iptables-restore and adds to it under --noflush; ipsift
// saves what the kernel has either way and warns, without --noflush, at
// the second header.
func TestKernelRepeatedSection(t *testing.T) {
	src := "*filter\n:INPUT ACCEPT [0:0]\n:keep - [0:0]\n-A INPUT -p tcp --dport 22 -j ACCEPT\n-A INPUT -p tcp --dport 80 -j keep\nCOMMIT\n" +
		"*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n" +
		"*filter\n:INPUT DROP [0:0]\n-A INPUT -p udp -j ACCEPT\nCOMMIT\n"
	for _, noflush := range []bool{false, true} {
		res := Bytes("two.rules", []byte(src), Options{NoFlush: noflush, KeepGoing: true})
		if res.Diags.HasErrors() {
			t.Fatal(res.Diags)
		}
		warned := false
		for _, d := range res.Diags {
			if d.Pos.Line == 10 && strings.Contains(d.Msg, "2 rules are lost") && strings.Contains(d.Msg, "line 4: -A INPUT -p tcp -m tcp --dport 22 -j ACCEPT") {
				warned = true
			}
		}
		if warned == noflush {
			t.Errorf("noflush %v: warning at the second *filter: %v\n%v", noflush, warned, res.Diags)
		}
		for _, be := range kernel.Backends {
			t.Run(string(be), func(t *testing.T) {
				fw := kernel.NewFirewall(t, be)
				var args []string
				if noflush {
					args = []string{"--noflush"}
				}
				if err := restoreFile(t, fw, src, args...); err != nil {
					t.Fatal(err)
				}
				theirs, err := fw.Save()
				if err != nil {
					t.Fatal(err)
				}
				sameSave(t, theirs, saveOf(res.Rules))
			})
		}
	}
}
