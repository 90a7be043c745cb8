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
