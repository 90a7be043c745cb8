package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipsift/ipsift/internal/kernel"
	"github.com/ipsift/ipsift/ipset"
)

// TestKernelSetFacts runs one sequence of ipset and iptables commands
// in a namespace and through ipsift's front ends (IPSIFT_RULES), and
// compares every command's success and then the sets and rules: the
// kernel facts of issue 11 about sets and the rules naming them. A set
// in use cannot be renamed or destroyed but can be swapped (same type
// and family only); --set is read as --match-set; at most six
// directions; a set of the other family is refused, bitmap:port and
// list:set have none and a list:set takes members of both; hash:net
// holds no /0 and splits a range into networks; --map-set is for mangle
// only; a missing set fails the rule.
func TestKernelSetFacts(t *testing.T) {
	kernel.Require(t)
	if _, err := exec.LookPath("ipset"); err != nil {
		kernel.Lacking(t, "needs ipset: %v", err)
	}
	ns := fmt.Sprintf("ipsift-t-%d-facts", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	inNS := func(args ...string) (string, error) {
		c := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...)
		var o, e bytes.Buffer
		c.Stdout, c.Stderr = &o, &e
		err := c.Run()
		return o.String() + e.String(), err
	}
	t.Setenv("IPSIFT_RULES", filepath.Join(t.TempDir(), "fw.rules"))
	steps := []string{
		"ipset create a hash:ip initval 0x1",
		"ipset create b hash:ip initval 0x2",
		"ipset create n hash:net initval 0x3",
		"ipset create six hash:ip family inet6 initval 0x4",
		"ipset create p bitmap:port range 0-1024",
		"ipset create l list:set",
		"ipset add l six",
		"ipset add l a",
		"ipset add n 0.0.0.0/0",
		"ipset add n 192.0.2.1-192.0.2.6",
		"ipset add a 192.0.2.9",
		"iptables -A INPUT -m set --set a src -j DROP",
		"iptables -A INPUT -m set --match-set a src,dst,src,dst,src,dst,src -j DROP",
		"iptables -A INPUT -m set --match-set a src,dst,src,dst,src,dst -j DROP",
		"iptables -A INPUT -m set --match-set six src -j DROP",
		"iptables -A INPUT -m set --match-set p src -j ACCEPT",
		"iptables -A INPUT -m set --match-set l src -j ACCEPT",
		"iptables -A INPUT -m set --match-set nosuch src -j DROP",
		"iptables -A INPUT -j SET --map-set a src --map-mark",
		"iptables -t mangle -A PREROUTING -j SET --map-set a src --map-mark",
		"ipset rename a c",
		"ipset destroy a",
		"ipset swap a b",
		"ipset swap a six",
		"ipset swap a n",
		"ipset rename p q",
	}
	for _, s := range steps {
		args := strings.Fields(s)
		_, kerr := inNS(args...)
		_, errs, code := runCmd(t, args...)
		if (kerr == nil) != (code == exitOK) {
			t.Errorf("%s: the kernel's %v, ipsift's exit %d %s", s, kerr, code, errs)
		}
	}
	// the sets, and the rules (the --set rule saved as --match-set; the
	// swapped a and b: the rule naming a now sees b's contents)
	want, _ := inNS("ipset", "save")
	got, _, _ := runCmd(t, "ipset", "save")
	if got != want {
		t.Errorf("ipset save:\n--- ipsift\n%s--- kernel\n%s", got, want)
	}
	rulesOf := func(s string) string {
		var out []string
		for _, l := range strings.Split(s, "\n") {
			if strings.HasPrefix(l, "-A ") {
				out = append(out, l)
			}
		}
		return strings.Join(out, "\n")
	}
	ks, _ := inNS("iptables-save")
	is, _, _ := runCmd(t, "iptables-save")
	if rulesOf(is) != rulesOf(ks) {
		t.Errorf("rules:\n--- ipsift\n%s\n--- kernel\n%s", rulesOf(is), rulesOf(ks))
	}
	// the five types this kernel lacks: refused here, kept by ipsift
	// (checked against ipset's own vectors only)
	for _, typ := range []string{"hash:mac", "hash:ip,mac", "hash:net,net", "hash:ip,mark", "hash:net,port,net"} {
		out, err := inNS("ipset", "create", "x", typ)
		if err == nil || !strings.Contains(out, "set type not supported") {
			t.Errorf("%s: the kernel here has it now (%v %s): TypeMissingHere and the conformance count are stale", typ, err, out)
		}
		if !ipset.TypeMissingHere(typ) {
			t.Errorf("%s: TypeMissingHere says the kernel has it", typ)
		}
	}
}
