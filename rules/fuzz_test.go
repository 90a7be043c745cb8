package rules

import (
	"strings"
	"testing"

	_ "github.com/ipsift/ipsift/ext"
)

var fuzzSeeds = []string{
	"*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\nCOMMIT\n",
	"*nat\n-A PREROUTING -i eth0 -p tcp --dport 80 -m conntrack --ctstate NEW -m statistic --mode nth --every 4 --packet 0 -j DNAT --to-destination 192.0.2.10:80\nCOMMIT\n",
	"*filter\n:x - [0:0]\n-A INPUT -s 1.2.3.4,5.6.7.8 ! -d 10.0.0.0/255.0.255.0 -g x\n[1:2] -A x -m limit --limit 5/min -j LOG --log-prefix \"a \\\" b\"\nCOMMIT\n",
	"*mangle\n-A FORWARD -m comment --comment \"x\" -j MARK --set-xmark 0x1/0xff\n-D FORWARD 1\nCOMMIT\n",
	"*filter\n-A INPUT -m multiport --dports 1:2,3 -p udp -m recent --set --name a\n-N y\n-E y z\n-X z\nCOMMIT\n",
}

// FuzzRestore feeds arbitrary restore files to the parser: it must never
// panic, and whatever it accepts must save to a text that restores to the
// same save (the printer and the parser agree).
func FuzzRestore(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		rs := New()
		if _, err := rs.Restore(strings.NewReader(text), RestoreOptions{Counters: true}); err != nil {
			return
		}
		if blankInterface(rs) {
			// iptables-save prints interface names raw, so a name with a
			// blank (loaded with a warning) does not read back, from the
			// kernel's save or from ipsift's (testdata/fuzz/FuzzRestore).
			return
		}
		var a strings.Builder
		rs.Save(&a, SaveOptions{Counters: true})
		again := New()
		if _, err := again.Restore(strings.NewReader(a.String()), RestoreOptions{Counters: true}); err != nil {
			t.Fatalf("the save of an accepted input does not restore: %v\ninput:\n%s\nsave:\n%s", err, text, a.String())
		}
		var b strings.Builder
		again.Save(&b, SaveOptions{Counters: true})
		if a.String() != b.String() {
			t.Fatalf("save is not stable:\n%s\n---\n%s", a.String(), b.String())
		}
	})
}

// FuzzParseCommand feeds arbitrary command lines to the parser and to
// Apply: no panics, and a failed command leaves the ruleset unchanged.
func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{
		"-A INPUT -p tcp --syn -j DROP", "-t nat -A PREROUTING -j DNAT --to 1.2.3.4", "-I INPUT 1 ! -i eth+ -j LOG",
		"-A INPUT -m tcp --tcp-flags SYN,ACK SYN", "-P FORWARD DROP", "-D INPUT 1", "-N x", "-A INPUT –syn", "-A INPUT -syn",
		"-A INPUT -m nth --counter 0 --every 4 --packet 0", "-R INPUT 1 -s 1.1.1.1 -j ACCEPT", "-A INPUT --sour 1.2.3.4",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		rs := New()
		base := "*filter\n:x - [0:0]\n-A INPUT -j x\n-A x -j ACCEPT\nCOMMIT\n"
		rs.Restore(strings.NewReader(base), RestoreOptions{})
		var before strings.Builder
		rs.Save(&before, SaveOptions{Counters: true})
		cmd, err := ParseCommand(SplitLine("f", 1, line), ParseOptions{})
		if err != nil {
			return
		}
		if err := rs.Apply(cmd); err != nil {
			var after strings.Builder
			rs.Save(&after, SaveOptions{Counters: true})
			if before.String() != after.String() {
				t.Fatalf("a failed command changed the ruleset: %q: %v", line, err)
			}
		}
	})
}

// blankInterface reports a rule whose -i or -o name holds a blank.
func blankInterface(rs *Ruleset) bool {
	for _, t := range rs.Tables {
		for _, c := range t.Chains {
			for _, r := range c.Rules {
				if strings.ContainsAny(r.In+r.Out, " \t\n\v\f\r") {
					return true
				}
			}
		}
	}
	return false
}
