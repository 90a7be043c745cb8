package conformance

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/internal/kernel"
)

// ownFiles are ipsift's own vectors (testdata/*.t) for extensions the
// iptables project has no .t file for, in the same format.
func ownFiles(t *testing.T) []string {
	files, err := filepath.Glob(filepath.Join("testdata", "*.t"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata/*.t: %v", err)
	}
	return files
}

// TestOwnVectors runs ipsift's own .t vectors with iptables and
// ip6tables (libxt_ files apply to both): every line must pass.
func TestOwnVectors(t *testing.T) {
	for _, fam := range []ext.Family{ext.IPv4, ext.IPv6} {
		n := 0
		for _, f := range ownFiles(t) {
			res, err := RunFileFamily(f, fam)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range res {
				n++
				if r.Outcome != Pass {
					t.Errorf("family %d: %s:%d %s (%s): %s", fam, r.File, r.Line, r.Rule, r.Want, r.Why)
				}
			}
		}
		if n == 0 {
			t.Fatal("no vector ran")
		}
	}
}

// TestKernelOwnVectors runs ipsift's own vectors with the installed
// iptables and ip6tables, both backends, as iptables-test.py would: each
// line in each of its chains, FAIL lines must be refused, OK lines
// accepted and saved as the line says (then deleted), NOMATCH lines
// accepted and saved otherwise. So the vectors are the kernel's word,
// not ipsift's.
func TestKernelOwnVectors(t *testing.T) {
	kernel.Require(t)
	for _, b := range kernel.Backends {
		for _, fam := range []ext.Family{ext.IPv4, ext.IPv6} {
			tool := "iptables-" + string(b)
			if fam == ext.IPv6 {
				tool = "ip6tables-" + string(b)
			}
			t.Run(tool, func(t *testing.T) {
				fw := kernel.NewFirewall(t, b)
				n := 0
				for _, f := range ownFiles(t) {
					n += kernelOwnFile(t, fw, tool, f)
				}
				if n == 0 {
					t.Fatal("no vector ran")
				}
				t.Logf("%s: %d vector runs agree", tool, n)
			})
		}
	}
}

func kernelOwnFile(t *testing.T, fw *kernel.Firewall, tool, path string) int {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	table, chains, n := "filter", []string{"INPUT"}, 0
	for i, l := range strings.Split(string(data), "\n") {
		switch {
		case l == "" || l[0] == '#':
			continue
		case l[0] == ':':
			chains = strings.Split(l[1:], ",")
			continue
		case l[0] == '*':
			table = l[1:]
			continue
		}
		f := strings.Split(l, ";")
		if len(f) < 3 {
			continue
		}
		saved := f[1]
		if saved == "=" {
			saved = f[0]
		}
		for _, c := range chains {
			n++
			args := append([]string{tool, "-t", table, "-A", c}, ShellSplit(f[0])...)
			_, err := fw.Run(args...)
			where := fmt.Sprintf("%s:%d %s in %s/%s", filepath.Base(path), i+1, f[0], table, c)
			if f[2] == "FAIL" {
				if err == nil {
					t.Errorf("%s: %s accepts it, the vector says FAIL", where, tool)
					fw.Run(append([]string{tool, "-t", table, "-D", c}, ShellSplit(f[0])...)...)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s: %s refuses it: %v", where, tool, err)
				continue
			}
			save, err := fw.Run(tool+"-save", "-t", table)
			if err != nil {
				t.Fatal(err)
			}
			found := strings.Contains("\n"+save, "\n-A "+c+" "+saved+"\n")
			if found != (f[2] == "OK") {
				t.Errorf("%s: saved as %q, the vector says %s %q", where, lastRuleLine(save, c), f[2], saved)
			}
			if _, err := fw.Run(append([]string{tool, "-t", table, "-D", c}, ShellSplit(f[0])...)...); err != nil {
				t.Errorf("%s: deleting it: %v", where, err)
			}
		}
	}
	return n
}
