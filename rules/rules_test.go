package rules

import (
	"fmt"
	"strings"
	"testing"
)

func restore(t *testing.T, text string) *Ruleset {
	t.Helper()
	rs := New()
	if _, err := rs.Restore(strings.NewReader(text), RestoreOptions{File: "t.rules"}); err != nil {
		t.Fatalf("restore: %v", err)
	}
	return rs
}

func saved(t *testing.T, rs *Ruleset) string {
	t.Helper()
	var b strings.Builder
	if err := rs.Save(&b, SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestRestoreCoreRules(t *testing.T) {
	rs := restore(t, `*filter
:INPUT DROP [3:4]
:zeta - [0:0]
:Alpha - [0:0]
-A INPUT -i lo -j ACCEPT
-A INPUT --source 198.51.100.66 ! --dst 192.0.2.7/24 -p TCP -j zeta
-A FORWARD -i eth+ ! -o wlan0 -f -j Alpha
-A INPUT -i + -g zeta
-A zeta -p 47 -j RETURN
COMMIT
`)
	want := `*filter
:INPUT DROP [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:Alpha - [0:0]
:zeta - [0:0]
-A INPUT -i lo -j ACCEPT
-A INPUT -s 198.51.100.66/32 ! -d 192.0.2.0/24 -p tcp -j zeta
-A INPUT -g zeta
-A FORWARD -i eth+ ! -o wlan0 -f -j Alpha
-A zeta -p 47 -j RETURN
COMMIT
`
	if got := saved(t, rs); got != want {
		t.Errorf("save:\n%s\nwant:\n%s", got, want)
	}
}

func TestRestoreErrorsChangeNothing(t *testing.T) {
	rs := restore(t, "*filter\n-A INPUT -j ACCEPT\nCOMMIT\n")
	before := saved(t, rs)
	diags, err := rs.Restore(strings.NewReader("*filter\n-A INPUT -j DROP\n-A nosuch -j ACCEPT\nCOMMIT\n"), RestoreOptions{File: "bad.rules"})
	if err == nil {
		t.Fatal("restore of a bad file succeeded")
	}
	if len(diags) != 1 || diags[0].Pos.Line != 3 {
		t.Fatalf("diags = %v, want one at line 3", diags)
	}
	if after := saved(t, rs); after != before {
		t.Errorf("a failed restore changed the ruleset:\n%s", after)
	}
}

func TestCommandErrors(t *testing.T) {
	cases := []struct {
		line, want string
	}{
		{"-A INPUT -syn -j DROP", "yn"},
		{"-A INPUT -J DROP", "write -j"},
		{"-A INPUT –syn", "typographic dash"},
		{"-A INPUT -s MALICIOUS_ADDRESS -j DROP", "placeholder"},
		{"-A logdrop -j DROP", "did you mean"},
		{"-A PREROUTING -j ACCEPT", "add -t nat"},
		{"-t nat -A PREROUTING -j DROP", "not intended for filtering"},
		{"-A INPUT ! ! -s 192.0.2.1", "multiple consecutive"},
		{"-A INPUT -p tcp -p udp", "multiple --protocol"},
		{"-A INPUT -o eth0", "can't use -o"},
		{"-A INPUT -j nosuchchain", "no such target"},
		{"-N ACCEPT", "clash"},
		{"-P INPUT REJECT", "bad policy"},
		{"-A INPUT --sour 192.0.2.1 --s 1.2.3.4", "ambiguous"},
		// rpfilter checks its tables after the core checks its hooks, so
		// the kernel refuses it in filter INPUT for the hook ("used from
		// hooks INPUT, but only valid from PREROUTING") and in nat
		// PREROUTING for the table ("only valid in 'raw' or 'mangle'
		// table, not 'nat'"); both probed on the kernel.
		{"-A INPUT -m rpfilter", "cannot be used from INPUT: only from PREROUTING"},
		{"-t raw -A OUTPUT -m rpfilter", "cannot be used from OUTPUT: only from PREROUTING"},
		{"-t mangle -A POSTROUTING -m rpfilter", "cannot be used from POSTROUTING: only from PREROUTING"},
		{"-t nat -A PREROUTING -m rpfilter", "only valid in the raw/mangle table, not nat"},
	}
	for _, c := range cases {
		rs := restore(t, "*filter\n:LOGDROP - [0:0]\nCOMMIT\n")
		cmd, err := ParseCommand(SplitLine("f", 1, c.line), ParseOptions{})
		if err == nil {
			err = rs.Apply(cmd)
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want one containing %q", c.line, err, c.want)
		}
	}
}

func TestCommands(t *testing.T) {
	rs := New()
	for _, line := range []string{
		"-N web", "-A INPUT -s 192.0.2.1,192.0.2.2 -j web", "-I INPUT 2 -s 192.0.2.9 -j DROP",
		"-A web -j ACCEPT", "-R web 1 -j DROP", "-D INPUT -s 192.0.2.1/32 -j web", "-E web www",
		"-P FORWARD DROP", "-A OUTPUT -j ACCEPT", "-D OUTPUT 1",
	} {
		cmd, err := ParseCommand(SplitLine("f", 1, line), ParseOptions{})
		if err == nil {
			err = rs.Apply(cmd)
		}
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
	}
	var b strings.Builder
	rs.ListRules(&b, "filter", "", false)
	want := `-P INPUT ACCEPT
-P FORWARD DROP
-P OUTPUT ACCEPT
-N www
-A INPUT -s 192.0.2.9/32 -j DROP
-A INPUT -s 192.0.2.2/32 -j www
-A www -j DROP
`
	if b.String() != want {
		t.Errorf("-S:\n%s\nwant:\n%s", b.String(), want)
	}
}

// TestGetoptLikeIptables checks option reading as iptables' getopt_long
// does it: --protocol inside -m policy is the core -p (an exact name
// wins over policy's --proto), abbreviations that are unique work, and
// the newest extension's option wins.
func TestGetoptLikeIptables(t *testing.T) {
	cases := []struct{ line, want string }{
		{"-A INPUT -m policy --dir in --pol ipsec --protocol TCP -j ACCEPT", "-p tcp -m policy --dir in --pol ipsec -j ACCEPT"},
		{"-A INPUT -m policy --dir in --pol ipsec --proto esp -j ACCEPT", "-m policy --dir in --pol ipsec --proto esp -j ACCEPT"},
		{"-A INPUT --protocol udp --destination-port 53 -j ACCEPT", "-p udp -m udp --dport 53 -j ACCEPT"},
		{"-A INPUT -p tcp --dpo 22 --jump ACCEPT", "-p tcp -m tcp --dport 22 -j ACCEPT"},
		{"-A INPUT -m comment --comment a -m comment --comment b", "-m comment --comment a -m comment --comment b"},
		{"-A INPUT -ptcp --syn -jDROP", "-p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -j DROP"},
		{"-A INPUT --src=192.0.2.1 -j ACCEPT", "-s 192.0.2.1/32 -j ACCEPT"},
	}
	for _, c := range cases {
		cmd, err := ParseCommand(SplitLine("f", 1, c.line), ParseOptions{})
		if err != nil {
			t.Errorf("%q: %v", c.line, err)
			continue
		}
		if got := cmd.Rules[0].Spec(); got != c.want {
			t.Errorf("%q: saved as %q, want %q", c.line, got, c.want)
		}
	}
}

// TestTableCreation: with the nf_tables backend only a command that
// names a chain to change, or creates one, creates its table; -Z of a
// chain of a missing table fails. iptables-legacy creates a table on any
// use, even by a failing command (kernel tests in package load).
func TestTableCreation(t *testing.T) {
	for _, c := range []struct {
		cmd    string
		legacy bool
		tables int
		fails  bool
	}{
		{"-t mangle -F", false, 0, false},
		{"-t mangle -X", false, 0, false},
		{"-t mangle -Z", false, 0, false},
		{"-t mangle -L", false, 0, false},
		{"-t mangle -F INPUT", false, 1, false},
		{"-t mangle -P INPUT DROP", false, 1, false},
		{"-t mangle -N foo", false, 1, false},
		{"-t mangle -Z INPUT", false, 0, true},
		{"-t mangle -D INPUT 1", false, 0, true},
		{"-t mangle -F", true, 1, false},
		{"-t mangle -Z INPUT", true, 1, false},
		{"-t mangle -D INPUT 1", true, 1, true},
	} {
		rs := New()
		rs.Legacy = c.legacy
		cmd, err := ParseCommand(Words(strings.Fields(c.cmd)), ParseOptions{})
		if err != nil {
			t.Fatal(err)
		}
		err = rs.Apply(cmd)
		if (err != nil) != c.fails || len(rs.Tables) != c.tables {
			t.Errorf("%s (legacy %v): error %v, %d tables; want failure %v, %d tables", c.cmd, c.legacy, err, len(rs.Tables), c.fails, c.tables)
		}
	}
}

// TestWeirdInterfaceWarning: iptables loads an interface name with a
// blank or '/' with a warning; ipsift warns too (fuzz crasher 5996dac9).
func TestWeirdInterfaceWarning(t *testing.T) {
	cmd, err := ParseCommand(SplitLine("f", 1, `-A FORWARD -i "a b" -o x/y -j ACCEPT`), ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(cmd.Warnings) != 2 || !strings.Contains(cmd.Warnings[0].Msg, "never matches") {
		t.Errorf("warnings: %v", cmd.Warnings)
	}
}

// TestChainIndex checks chain lookup in a table large enough to be
// indexed, through creation, renaming, deletion and a clone, against
// a linear search.
func TestChainIndex(t *testing.T) {
	rs := New()
	run := func(line string) {
		t.Helper()
		cmd, err := ParseCommand(SplitLine("f", 1, line), ParseOptions{})
		if err == nil {
			err = rs.Apply(cmd)
		}
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
	}
	for i := range 100 {
		run(fmt.Sprintf("-N c%d", i))
	}
	run("-E c7 renamed")
	run("-N c7") // the old name, free again
	run("-X c50")
	run("-A c8 -j renamed")
	check := func(tb *Table) {
		t.Helper()
		if tb.index == nil {
			t.Fatalf("a table of %d chains has no index", len(tb.Chains))
		}
		for _, name := range []string{"INPUT", "c0", "c7", "renamed", "c50", "c99", "c100", "nope"} {
			var want *Chain
			for _, c := range tb.Chains {
				if c.Name == name {
					want = c
					break
				}
			}
			if got := tb.Chain(name); got != want {
				t.Errorf("Chain(%q) = %v, want %v", name, got, want)
			}
		}
	}
	check(rs.Table("filter"))
	check(rs.Clone().Table("filter"))
	if rs.Table("filter").Chain("c7") == rs.Table("filter").Chain("renamed") {
		t.Errorf("the new c7 is the renamed chain")
	}
	// Code outside the package may change Chains itself: lookups stay right.
	tb := rs.Table("filter")
	tb.Chains = append(tb.Chains[:0:0], tb.Chains[:10]...)
	if tb.Chain("c99") != nil || tb.Chain("c0") == nil {
		t.Errorf("lookups after Chains was replaced use a stale index")
	}
}
