package load

import (
	"strings"
	"testing"

	"github.com/ipsift/ipsift/rules"
)

// iptables -C answers "is this rule there?" with its exit status: a rule
// that is not there is the answer no (iptables exits 1 and changes
// nothing), the usual guard before adding a rule once. Reading a script,
// that answer is not an error; a -C that iptables cannot even ask (a
// chain that does not exist, a bad option) still is.
func TestCheckCommandIsAQuestion(t *testing.T) {
	script := "#!/bin/sh\n" +
		"if ! iptables -C INPUT -p tcp --dport 22 -j ACCEPT 2>/dev/null; then\n" +
		"  iptables -A INPUT -p tcp --dport 22 -j ACCEPT\n" +
		"fi\n" +
		"iptables -C INPUT -j DROP || iptables -A INPUT -j DROP\n"
	for _, keepGoing := range []bool{false, true} {
		res := Bytes("guard.sh", []byte(script), Options{KeepGoing: keepGoing})
		for _, d := range res.Diags {
			if d.Severity == rules.SevError {
				t.Errorf("KeepGoing=%v: %v", keepGoing, d)
			}
		}
		var b strings.Builder
		res.Rules.Save(&b, rules.SaveOptions{})
		if !strings.Contains(b.String(), "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\n-A INPUT -j DROP\n") {
			t.Errorf("KeepGoing=%v: the guarded rules are missing:\n%s", keepGoing, b.String())
		}
	}
	bad := Bytes("bad.sh", []byte("#!/bin/sh\niptables -C NOSUCH -j ACCEPT || true\n"), Options{KeepGoing: true})
	if !bad.Diags.HasErrors() {
		t.Errorf("-C on a chain that does not exist: want an error, got %v", bad.Diags)
	}
}

// TestStatusFromModel: an iptables command's exit status, as the model
// so far answers it, decides if, while, && || ! and a function's status,
// as bash would. Expected: what `sh SCRIPT; iptables-save` printed in a
// fresh namespace (iptables 1.8.9, nft).
func TestStatusFromModel(t *testing.T) {
	script := "#!/bin/sh\n" +
		"chain_exists(){ iptables -n -L \"$1\" >/dev/null 2>&1; }\n" +
		"if chain_exists foo; then iptables -D INPUT -j foo; iptables -F foo; iptables -X foo; fi\n" +
		"iptables -N foo\n" +
		"iptables -A INPUT -j foo\n" +
		"if chain_exists foo; then iptables -A foo -j ACCEPT; fi\n" +
		"iptables -S nosuch >/dev/null 2>&1 && iptables -A foo -j DROP\n" +
		"iptables -N bar 2>/dev/null && iptables -A bar -j DROP\n" +
		"! iptables -C foo -j ACCEPT 2>/dev/null || iptables -A foo -s 192.0.2.1 -j DROP\n" +
		"while ! iptables -C INPUT -j bar 2>/dev/null; do iptables -A INPUT -j bar; done\n"
	want := "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:bar - [0:0]\n:foo - [0:0]\n" +
		"-A INPUT -j foo\n-A INPUT -j bar\n-A bar -j DROP\n-A foo -j ACCEPT\n-A foo -s 192.0.2.1/32 -j DROP\nCOMMIT\n"
	for _, keepGoing := range []bool{false, true} {
		res := Bytes("status.sh", []byte(script), Options{KeepGoing: keepGoing})
		for _, d := range res.Diags {
			if d.Severity == rules.SevError || strings.Contains(d.Msg, "cannot decide") {
				t.Errorf("KeepGoing=%v: %v", keepGoing, d)
			}
		}
		var b strings.Builder
		res.Rules.Save(&b, rules.SaveOptions{})
		if got := b.String(); got != want {
			t.Errorf("KeepGoing=%v: got\n%s\nwant\n%s", keepGoing, got, want)
		}
	}
}
