package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFrontEnd6: ipsift ip6tables / ip6tables-save keep an IPv6 ruleset
// in $IPSIFT_RULES; an IPv4 word or -f is refused as ip6tables refuses it.
func TestFrontEnd6(t *testing.T) {
	f := filepath.Join(t.TempDir(), "fw6.rules")
	t.Setenv("IPSIFT_RULES", f)
	if _, errs, code := runCmd(t, "ip6tables", "-A", "INPUT", "-s", "2001:db8::1", "-p", "ipv6-icmp", "--icmpv6-type", "echo-request", "-j", "ACCEPT"); code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, bad := range [][]string{{"ip6tables", "-A", "INPUT", "-f"}, {"ip6tables", "-A", "INPUT", "-s", "10/8"}, {"ip6tables", "-A", "INPUT", "-4"}} {
		if _, _, code := runCmd(t, bad...); code == exitOK {
			t.Errorf("%v accepted", bad)
		}
	}
	out, _, _ := runCmd(t, "ip6tables-save")
	if !strings.Contains(out, "-A INPUT -s 2001:db8::1/128 -p ipv6-icmp -m icmp6 --icmpv6-type 128 -j ACCEPT\n") {
		t.Errorf("ip6tables-save:\n%s", out)
	}
	out, _, _ = runCmd(t, "ip6tables", "-L", "INPUT", "-n")
	if !strings.Contains(out, "ACCEPT     ipv6-icmp --  2001:db8::1          ::/0                 ipv6-icmptype 128\n") {
		t.Errorf("ip6tables -L -n:\n%s", out)
	}
}

// TestSave6: save/rules/list of a script with both families show IPv4,
// or IPv6 with -6, and say which; an ip6tables-save file shows without -6.
func TestSave6(t *testing.T) {
	dir := t.TempDir()
	sh := filepath.Join(dir, "fw.sh")
	os.WriteFile(sh, []byte("#!/bin/sh\niptables -A INPUT -s 192.0.2.1 -j DROP\nip6tables -A INPUT -s 2001:db8::1 -j DROP\n"), 0o644)
	out, errs, _ := runCmd(t, "rules", sh)
	if !strings.Contains(out, "192.0.2.1/32") || !strings.Contains(errs, "showing IPv4 (-6 shows IPv6)") {
		t.Errorf("rules: %s / %s", out, errs)
	}
	out, _, _ = runCmd(t, "save", "-6", sh)
	if !strings.Contains(out, "-A INPUT -s 2001:db8::1/128 -j DROP") || strings.Contains(out, "192.0.2.1") {
		t.Errorf("save -6:\n%s", out)
	}
	v6 := filepath.Join(dir, "v6.rules")
	os.WriteFile(v6, []byte("*filter\n-A INPUT -s 2001:db8::/32 -m hl --hl-lt 2 -j DROP\nCOMMIT\n"), 0o644)
	out, errs, _ = runCmd(t, "list", "-n", v6)
	if !strings.Contains(out, "DROP       all  --  2001:db8::/32        ::/0                 HL match HL < 2\n") || strings.Contains(errs, "showing") {
		t.Errorf("list:\n%s%s", out, errs)
	}
	v4 := filepath.Join(dir, "v4.rules")
	os.WriteFile(v4, []byte("*filter\n-A INPUT -s 192.0.2.0/24 -j DROP\nCOMMIT\n"), 0o644)
	out, _, code := runCmd(t, "save", v4, v6, "-6")
	if code != exitOK || !strings.Contains(out, "-m hl --hl-lt 2") {
		t.Errorf("save of a pair, -6: %d\n%s", code, out)
	}
}
