package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestIpsetFrontEnd: ipsift ipset edits the sets kept before the rules
// in $IPSIFT_RULES, and iptables edits keep them.
func TestIpsetFrontEnd(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fw.rules")
	t.Setenv("IPSIFT_RULES", path)
	for _, args := range [][]string{
		{"ipset", "create", "bl", "hash:net", "initval", "0x1"},
		{"ipset", "add", "bl", "203.0.113.0/24"},
		{"iptables", "-A", "INPUT", "-s", "192.0.2.9", "-j", "DROP"},
		{"ipset", "add", "bl", "198.51.100.1-198.51.100.2"},
	} {
		if _, errs, code := runCmd(t, args...); code != exitOK {
			t.Fatalf("%v: exit %d: %s", args, code, errs)
		}
	}
	// members in the kernel's hash order for initval 1 (the kernel's
	// ipset save of the same commands, checked on this machine)
	want := "create bl hash:net family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0x00000001\n" +
		"add bl 203.0.113.0/24\nadd bl 198.51.100.1\nadd bl 198.51.100.2\n"
	out, _, _ := runCmd(t, "ipset", "save")
	if out != want {
		t.Errorf("ipset save:\n%s\nwant\n%s", out, want)
	}
	data, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(data), want) || !strings.Contains(string(data), "-A INPUT -s 192.0.2.9/32 -j DROP") {
		t.Errorf("file:\n%s", data)
	}
	// a failing command leaves the file as it was, with ipset's status
	if _, errs, code := runCmd(t, "ipset", "add", "bl", "1.2.3.x"); code != 1 || !strings.Contains(errs, "cannot parse 1.2.3.x") {
		t.Errorf("bad add: exit %d: %s", code, errs)
	}
	if d2, _ := os.ReadFile(path); string(d2) != string(data) {
		t.Error("a failing ipset command changed the file")
	}
	// a rule naming a missing set is refused; a set in use cannot be
	// destroyed
	if _, errs, code := runCmd(t, "iptables", "-A", "INPUT", "-m", "set", "--match-set", "nosuch", "src", "-j", "DROP"); code != exitProblems || !strings.Contains(errs, "Set nosuch doesn't exist.") {
		t.Errorf("rule naming a missing set: exit %d: %s", code, errs)
	}
	if _, errs, code := runCmd(t, "iptables", "-A", "INPUT", "-m", "set", "--match-set", "bl", "src", "-j", "DROP"); code != exitOK {
		t.Fatalf("rule naming bl: %s", errs)
	}
	if _, errs, code := runCmd(t, "ipset", "destroy", "bl"); code != 1 || !strings.Contains(errs, "in use by a kernel component") {
		t.Errorf("destroying a set in use: exit %d: %s", code, errs)
	}
	if out, _, _ := runCmd(t, "save", "--sets", path); out != want {
		t.Errorf("save --sets:\n%s", out)
	}
}

// TestScriptIpset: a script's ipset commands and ipset restore heredoc
// create the sets; a command that fails is reported at its line.
func TestScriptIpset(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fw.sh")
	os.WriteFile(path, []byte(`#!/bin/sh
ipset create bl hash:net initval 0x2
ipset add bl 203.0.113.0/24
ipset restore <<EOT
create sc hash:ip timeout 60 initval 0x3
add sc 198.51.100.7
EOT
ipset add nosuch 192.0.2.1
iptables -A INPUT -s 192.0.2.1 -j DROP
`), 0o644)
	out, _, code := runCmd(t, "check", path)
	if code != exitProblems || !strings.Contains(out, "fw.sh:8:1: error: ipset add: The set with the given name does not exist") {
		t.Errorf("check: exit %d:\n%s", code, out)
	}
	os.WriteFile(path+"2", []byte("create bl hash:ip initval 0x4\nadd bl 192.0.2.1\nadd bl 192.0.2.x\n*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j DROPX\nCOMMIT\n"), 0o644)
	out, _, _ = runCmd(t, "check", path+"2")
	if !strings.Contains(out, "fw.sh2:3:1: error: ipset restore:") || !strings.Contains(out, "fw.sh2:6:") {
		t.Errorf("positions of set and rule errors:\n%s", out)
	}
}

// TestTraceSetTarget: trace says what -j SET did to the set: the
// element it added, that the next packet found it there, what it
// deleted, and a set that has no element for the packet.
func TestTraceSetTarget(t *testing.T) {
	path := filepath.Join(t.TempDir(), "knock.sh")
	os.WriteFile(path, []byte(`#!/bin/sh
ipset create scanners hash:ip timeout 600
ipset create knocked hash:ip,port
iptables -A INPUT -p tcp --dport 23 -j SET --add-set scanners src
iptables -A INPUT -p tcp --dport 24 -j SET --del-set scanners src
iptables -A INPUT -p icmp -j SET --add-set knocked src
iptables -A INPUT -m set --match-set scanners src -j DROP
`), 0o644)
	out, errs, code := runCmd(t, "trace", path,
		"eth0 tcp 203.0.113.7:40000 > 198.51.100.1:23 S",
		"eth0 tcp 203.0.113.7:40001 > 198.51.100.1:23 S",
		"eth0 tcp 203.0.113.7:40002 > 198.51.100.1:24 S",
		"eth0 tcp 203.0.113.7:40003 > 198.51.100.1:24 S",
		"eth0 icmp 203.0.113.7 > 198.51.100.1 echo-request")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{
		"--add-set scanners: added 203.0.113.7 to scanners",
		"--add-set scanners: 203.0.113.7 is in scanners already: unchanged (no --exist)",
		"--del-set scanners: deleted 203.0.113.7 from scanners",
		"--del-set scanners: 203.0.113.7 is not in scanners: nothing deleted",
		"--add-set knocked: the packet gives no element of knocked",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("trace lacks %q:\n%s", want, out)
		}
	}
}
