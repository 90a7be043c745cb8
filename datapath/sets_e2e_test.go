package datapath_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// setRules is a ruleset whose filter decisions come from sets: a
// blocklist, and scanners caught by -j SET when they knock on port 23.
const setRules = `create blocklist hash:net family inet hashsize 64 maxelem 1024 initval 0x00000001
add blocklist 198.51.100.66
create scanners hash:ip family inet hashsize 64 maxelem 1024 timeout 600 initval 0x00000002
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -m set --match-set blocklist src -j DROP
-A INPUT -p tcp -m tcp --dport 23 -j SET --add-set scanners src
-A INPUT -m set --match-set scanners src -j DROP
COMMIT
`

// TestSetsEndToEnd: ipsift run enforces rules using sets; ipsift ctl
// ipset edits and lists the running sets as ipset does on a host; a
// reload keeps the sets' contents (the file's elements do not come
// back, a set the new file adds is created) and moves the references.
func TestSetsEndToEnd(t *testing.T) {
	tp := newTopology(t)
	dir := t.TempDir()
	rules := filepath.Join(dir, "sets.rules")
	os.WriteFile(rules, []byte(setRules), 0o644)
	p := tp.runIpsift(t, rules)

	reaches := func(src string) bool {
		b, c, err := tp.banner(tp.wan, src, "198.51.100.1:22")
		if err == nil {
			c.Close()
		}
		return err == nil && b == "ssh-fw"
	}
	ctl := func(args ...string) string {
		t.Helper()
		out, err := p.ctlCmd(t, args...)
		if err != nil {
			t.Fatalf("ipsift ctl %s: %v\n%s\nlog:\n%s", strings.Join(args, " "), err, out, p.log.String())
		}
		return out
	}

	if reaches("198.51.100.66") {
		t.Fatal("198.51.100.66 is in blocklist but reached ssh")
	}
	if !reaches("198.51.100.77") {
		t.Fatalf("198.51.100.77 is not blocked but did not reach ssh\n%s", p.log.String())
	}

	// ipset add/del on the running daemon
	ctl("ipset", "add", "blocklist", "198.51.100.64/30")
	ctl("ipset", "add", "blocklist", "198.51.100.77", "-exist")
	ctl("ipset", "del", "blocklist", "198.51.100.66")
	if reaches("198.51.100.77") {
		t.Fatal("198.51.100.77 reached ssh after ipsift ctl ipset add")
	}
	// 198.51.100.66 is still in the /30: the most specific entry is gone,
	// the network holds it
	if reaches("198.51.100.66") {
		t.Fatal("198.51.100.66 reached ssh though 198.51.100.64/30 holds it")
	}
	ctl("ipset", "del", "blocklist", "198.51.100.64/30")
	if !reaches("198.51.100.66") {
		t.Fatal("198.51.100.66 was deleted from blocklist but did not reach ssh")
	}
	if out, err := p.ctlCmd(t, "ipset", "add", "blocklist", "198.51.100.77"); err == nil || !strings.Contains(out, "already added") {
		t.Fatalf("a second add without -exist: %v %s", err, out)
	}
	if out, err := p.ctlCmd(t, "ipset", "destroy", "blocklist"); err == nil || !strings.Contains(out, "in use by a kernel component") {
		t.Fatalf("destroying a set the rules use: %v %s", err, out)
	}

	// -j SET: a knock on port 23 puts the source in scanners
	if !reaches("203.0.113.7") {
		t.Fatal("203.0.113.7 did not reach ssh before knocking")
	}
	tp.banner(tp.wan, "203.0.113.7", "198.51.100.1:23")
	if reaches("203.0.113.7") {
		t.Fatal("203.0.113.7 knocked on 23 but still reached ssh")
	}
	if out := ctl("ipset", "list", "scanners"); !strings.Contains(out, "203.0.113.7 timeout ") || !strings.Contains(out, "References: 2") {
		t.Fatalf("ipset list scanners:\n%s", out)
	}

	// reload: the sets keep what they hold now, a new set is created,
	// the references follow the new rules
	os.WriteFile(rules, []byte("create extra hash:ip family inet hashsize 64 maxelem 8 initval 0x00000003\nadd extra 198.51.100.254\n"+
		strings.Replace(setRules, "-A INPUT -m set --match-set scanners src -j DROP\n", "-A INPUT -m set --match-set extra src -j DROP\n", 1)), 0o644)
	ctl("reload")
	save := ctl("ipset", "save")
	for _, want := range []string{"add blocklist 198.51.100.77\n", "add scanners 203.0.113.7 timeout ", "add extra 198.51.100.254\n"} {
		if !strings.Contains(save, want) {
			t.Fatalf("after reload, ipset save lacks %q:\n%s", want, save)
		}
	}
	if strings.Contains(save, "add blocklist 198.51.100.66") {
		t.Fatalf("reload put back the file's element the daemon had deleted:\n%s", save)
	}
	if reaches("198.51.100.77") || !reaches("203.0.113.7") || !reaches("198.51.100.66") {
		t.Fatal("after reload: 198.51.100.77 must stay blocked, 203.0.113.7 (scanners no longer used) and 198.51.100.66 must pass")
	}
	terse := ctl("ipset", "list", "-t")
	for _, want := range []string{"Name: blocklist", "Name: scanners", "Name: extra"} {
		if !strings.Contains(terse, want) {
			t.Fatalf("ipset list -t lacks %q:\n%s", want, terse)
		}
	}
	refs := map[string]string{}
	var name string
	for _, l := range strings.Split(terse, "\n") {
		if v, ok := strings.CutPrefix(l, "Name: "); ok {
			name = v
		}
		if v, ok := strings.CutPrefix(l, "References: "); ok {
			refs[name] = v
		}
	}
	if refs["blocklist"] != "1" || refs["scanners"] != "1" || refs["extra"] != "1" {
		t.Fatalf("references after reload %v, want blocklist 1, scanners 1 (the -j SET rule), extra 1", refs)
	}
	// a reload naming a set that exists nowhere is refused, the old rules stay
	os.WriteFile(rules, []byte("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m set --match-set nosuch src -j DROP\nCOMMIT\n"), 0o644)
	if out, err := p.ctlCmd(t, "reload"); err == nil || !strings.Contains(out, "Set nosuch doesn't exist.") {
		t.Fatalf("reload naming a missing set: %v %s", err, out)
	}
	if reaches("198.51.100.77") {
		t.Fatal("a refused reload changed the rules")
	}
}
