package load

import (
	"fmt"
	"os"
	"os/exec"
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

// runScript runs a shell script in the firewall's namespace with the
// backend's iptables first on PATH (as "iptables"), each iptables line
// followed by "|| echo fail LINE", and returns the lines that failed.
func runScript(t *testing.T, fw *kernel.Firewall, script string) map[int]bool {
	t.Helper()
	dir := t.TempDir()
	tool, err := exec.LookPath("iptables-" + string(fw.Backend))
	if err != nil {
		for _, d := range []string{"/usr/sbin", "/sbin"} {
			if _, err := os.Stat(d + "/iptables-" + string(fw.Backend)); err == nil {
				tool = d + "/iptables-" + string(fw.Backend)
			}
		}
	}
	if tool == "" {
		t.Fatalf("no iptables-%s", fw.Backend)
	}
	if err := os.Symlink(tool, filepath.Join(dir, "iptables")); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	errexit := strings.Contains(script, "set -e")
	for i, l := range strings.Split(script, "\n") {
		if strings.HasPrefix(l, "iptables ") && !errexit {
			l += fmt.Sprintf(" 2>/dev/null || echo fail %d", i+1)
		}
		b.WriteString(l + "\n")
	}
	p := filepath.Join(dir, "fw.sh")
	if err := os.WriteFile(p, []byte(b.String()), 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := fw.Run("env", "PATH="+dir+":/usr/sbin:/usr/bin:/sbin:/bin", "sh", p)
	if err != nil && !errexit {
		t.Fatalf("running the script: %v\n%s", err, out)
	}
	failed := map[int]bool{}
	for _, l := range strings.Split(out, "\n") {
		var n int
		if _, err := fmt.Sscanf(l, "fail %d", &n); err == nil {
			failed[n] = true
		}
	}
	return failed
}

// errorLines returns the lines of the errors in ds.
func errorLines(ds rules.Diags) map[int]bool {
	out := map[int]bool{}
	for _, d := range ds {
		if d.Severity == rules.SevError {
			out[d.Pos.Line] = true
		}
	}
	return out
}

func sameLines(a, b map[int]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

// TestKernelScriptFailures: a script's failing iptables commands fail
// alone and the script goes on; ipsift's model is the kernel's after
// the script, on both backends, and the failing lines are the same.
// Which commands create a table differs between the backends (nf_tables:
// only one naming a chain to change or creating one; legacy: any use).
func TestKernelScriptFailures(t *testing.T) {
	scripts := map[string]string{
		"failures": "#!/bin/sh\niptables -A INPUT -p tcp --dport 22 -j ACCEPT\niptables -A INPUT -j nosuchchain\niptables -N web\niptables -A web -p tcp --dport 80 -j ACCEPT\niptables -A INPUT -j web\niptables -N web\niptables -A INPUT -p tcp --dport 99999 -j DROP\niptables -A OUTPUT -j ACCEPT\n",
		"no table": "#!/bin/sh\niptables -t mangle -F\niptables -t mangle -X\niptables -t mangle -Z\niptables -F\niptables -t raw -L -n\niptables -t raw -S\niptables -t nat -L INPUT -n\n",
		"creating": "#!/bin/sh\niptables -t mangle -F INPUT\niptables -t raw -P OUTPUT ACCEPT\niptables -t nat -N foo\niptables -t security -I INPUT -j ACCEPT\n",
		"zero":     "#!/bin/sh\niptables -t mangle -Z INPUT\n",
		"set -e":   "#!/bin/sh\nset -e\niptables -A INPUT -p tcp --dport 22 -j ACCEPT\niptables -A INPUT -j nosuchchain\niptables -A OUTPUT -j ACCEPT\n",
		"failing":  "#!/bin/sh\niptables -t raw -D PREROUTING -j ACCEPT\niptables -t mangle -R INPUT 1 -j ACCEPT\niptables -t nat -D OUTPUT 1\niptables -t security -X foo\n",
	}
	for name, src := range scripts {
		for _, be := range kernel.Backends {
			t.Run(name+"/"+string(be), func(t *testing.T) {
				res := Bytes("fw.sh", []byte(src), Options{Legacy: be == kernel.Legacy})
				fw := kernel.NewFirewall(t, be)
				failed := runScript(t, fw, src)
				theirs, err := fw.Save()
				if err != nil {
					t.Fatal(err)
				}
				ours := saveOf(res.Rules)
				if withoutComments(theirs) != withoutComments(ours) {
					t.Errorf("kernel:\n%s\nipsift:\n%s", theirs, ours)
				}
				if got := errorLines(res.Diags); !sameLines(got, failed) && !strings.Contains(src, "set -e") {
					t.Errorf("failing lines: kernel %v, ipsift %v\n%v", failed, got, res.Diags)
				}
			})
		}
	}
}

// TestKernelRestoreFailure: iptables-restore commits table by table and
// stops at the first error: the tables committed before it stay, the
// failing one and those after it are not loaded (legacy has created the
// failing table, empty, at its header). Empty sections create no table
// with nf_tables, and without --noflush delete the one there was.
func TestKernelRestoreFailure(t *testing.T) {
	files := map[string]string{
		"parse error": "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -p tcp --dport 99999 -j ACCEPT\nCOMMIT\n*mangle\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -p tcp --dport 25 -j ACCEPT\nCOMMIT\n",
		"loop":        "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n*nat\n:PREROUTING ACCEPT [0:0]\n:a - [0:0]\n:b - [0:0]\n-A PREROUTING -j a\n-A a -j b\n-A b -j a\nCOMMIT\n*mangle\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n",
		"empty":       "*mangle\nCOMMIT\n*raw\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n*nat\n:foo - [0:0]\nCOMMIT\n*security\n-A INPUT -j ACCEPT\nCOMMIT\n",
		"flushed":     "*filter\nCOMMIT\n",
	}
	before := "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j ACCEPT\nCOMMIT\n"
	for name, src := range files {
		for _, be := range kernel.Backends {
			for _, noflush := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/%s/noflush=%v", name, be, noflush), func(t *testing.T) {
					fw := kernel.NewFirewall(t, be)
					rs := rules.New()
					rs.Legacy = be == kernel.Legacy
					if name == "flushed" {
						if err := fw.Restore(before); err != nil {
							t.Fatal(err)
						}
						if _, err := rs.Restore(strings.NewReader(before), rules.RestoreOptions{}); err != nil {
							t.Fatal(err)
						}
					}
					var args []string
					if noflush {
						args = []string{"--noflush"}
					}
					kerr := restoreFile(t, fw, src, args...)
					_, err := rs.Restore(strings.NewReader(src), rules.RestoreOptions{NoFlush: noflush})
					if (kerr == nil) != (err == nil) {
						t.Errorf("kernel error %v, ipsift error %v", kerr, err)
					}
					theirs, err := fw.Save()
					if err != nil {
						t.Fatal(err)
					}
					if ours := saveOf(rs); withoutComments(theirs) != withoutComments(ours) {
						t.Errorf("kernel:\n%s\nipsift:\n%s", theirs, ours)
					}
				})
			}
		}
	}
}
