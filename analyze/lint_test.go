package analyze

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ipsift/ipsift/rules"
)

// load reads an iptables-restore text with the real parser; tables that
// the text does not declare get their built-in chains from the parser.
func load(t *testing.T, file, text string) *rules.Ruleset {
	t.Helper()
	rs := rules.New()
	if ds, err := rs.Restore(strings.NewReader(text), rules.RestoreOptions{File: file}); err != nil {
		t.Fatalf("restore: %v", ds)
	}
	return rs
}

// filter wraps rule lines in a filter table whose INPUT policy is given:
// lines 1-4 are the table and its built-in chains, user chains are
// declared from line 5 on, and the rules follow.
func filter(policy string, chains []string, lines ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "*filter\n:INPUT %s [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n", policy)
	for _, c := range chains {
		fmt.Fprintf(&b, ":%s - [0:0]\n", c)
	}
	for _, l := range lines {
		b.WriteString(l + "\n")
	}
	b.WriteString("COMMIT\n")
	return b.String()
}

// finding is an expected diagnostic: its line, severity and a part of its
// message.
type finding struct {
	line int
	sev  rules.Severity
	msg  string
}

func warn(line int, msg string) finding { return finding{line, rules.SevWarning, msg} }
func note(line int, msg string) finding { return finding{line, rules.SevNote, msg} }

// checkFindings asserts that ds is exactly want, in order.
func checkFindings(t *testing.T, ds rules.Diags, want []finding) {
	t.Helper()
	ok := len(ds) == len(want)
	for i := 0; ok && i < len(ds); i++ {
		ok = ds[i].Pos.Line == want[i].line && ds[i].Severity == want[i].sev && strings.Contains(ds[i].Msg, want[i].msg)
	}
	if !ok {
		var got []string
		for _, d := range ds {
			got = append(got, d.Error())
		}
		t.Errorf("findings:\n  %s\nwant %d: %+v", strings.Join(got, "\n  "), len(want), want)
	}
}

func TestLint(t *testing.T) {
	for _, tc := range []struct {
		name string
		text string
		want []finding
	}{
		{
			name: "a chain that drops everything shadows what follows the jump",
			text: filter("ACCEPT", []string{"LOGDROP"},
				"-A INPUT -p tcp -j LOGDROP",
				"-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT",
				"-A LOGDROP -m limit --limit 5/min -j LOG",
				"-A LOGDROP -j DROP"),
			want: []finding{warn(7, "decided in chain LOGDROP, where INPUT rule 1 (t:6) `-p tcp -j LOGDROP` sends them")},
		},
		{
			name: "what a chain RETURNs goes on after the jump",
			text: filter("ACCEPT", []string{"X"},
				"-A INPUT -j X",
				"-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT",
				"-A INPUT -p tcp -m tcp --dport 23 -j ACCEPT",
				"-A X -p tcp -m tcp --dport 22 -j RETURN",
				"-A X -j DROP"),
			want: []finding{warn(8, "decided in chain X, where INPUT rule 1 (t:6) `-j X` sends them")},
		},
		{
			name: "a goto from a built-in chain ends at its policy",
			text: filter("ACCEPT", []string{"X"},
				"-A INPUT -p tcp -g X",
				"-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT",
				"-A X -p tcp -m tcp --dport 22 -j RETURN"),
			want: []finding{warn(7, "sent for good to chain X by INPUT rule 1 (t:6) `-p tcp -g X`")},
		},
		{
			name: "a goto from a user chain returns to the caller's caller",
			text: filter("ACCEPT", []string{"A", "B"},
				"-A INPUT -j A",
				"-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT",
				"-A INPUT -p tcp -m tcp --dport 23 -j ACCEPT",
				"-A A -p tcp -g B",
				"-A A -p tcp -j DROP",
				"-A B -p tcp -m tcp --dport 22 -j RETURN",
				"-A B -p tcp -j DROP"),
			want: []finding{
				warn(9, "decided in chain A, where INPUT rule 1 (t:7) `-j A` sends them"),
				warn(11, "sent for good to chain B by A rule 1 (t:10) `-p tcp -g B`"),
			},
		},
		{
			name: "RETURN in a built-in chain hands the packet to the policy",
			text: filter("ACCEPT", nil,
				"-A INPUT -p udp -j RETURN",
				"-A INPUT -p udp -m udp --dport 53 -j DROP"),
			want: []finding{warn(6, "handed to the INPUT policy (ACCEPT) by INPUT rule 1 (t:5) `-p udp -j RETURN`")},
		},
		{
			name: "a rate-limited rule never shadows another",
			text: filter("ACCEPT", nil,
				"-A INPUT -p tcp -m limit --limit 1/sec -j DROP",
				"-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT"),
		},
		{
			name: "but can itself be shadowed",
			text: filter("ACCEPT", nil,
				"-A INPUT -p tcp -j DROP",
				"-A INPUT -p tcp -m recent --rcheck --name ssh -j ACCEPT"),
			want: []finding{warn(6, "already dropped by INPUT rule 1 (t:5) `-p tcp -j DROP`")},
		},
		{
			name: "LOG, NFLOG, TRACE decide nothing",
			text: filter("ACCEPT", nil,
				"-A INPUT -p tcp -j LOG",
				"-A INPUT -p tcp -j NFLOG",
				"-A INPUT -p tcp -j ACCEPT"),
		},
		{
			name: "a MARK rewrites the mark that later rules test",
			text: filter("ACCEPT", nil,
				"-A INPUT -m mark --mark 0x1 -j ACCEPT",
				"-A INPUT -j MARK --set-mark 1",
				"-A INPUT -m mark --mark 0x1 -j DROP",
				"-A INPUT -m mark --mark 0x2 -j DROP"),
			want: []finding{warn(8, "given mark 0x1 by INPUT rule 2 (t:6) `-j MARK --set-xmark 0x1/0xffffffff`")},
		},
		{
			name: "CT --notrack makes later rules see UNTRACKED",
			text: "*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n" +
				"-A PREROUTING -m conntrack --ctstate UNTRACKED -j ACCEPT\n" +
				"-A PREROUTING -j CT --notrack\n" +
				"-A PREROUTING -m conntrack --ctstate UNTRACKED -j DROP\nCOMMIT\n",
		},
		{
			name: "a rule whose own conditions exclude each other",
			text: filter("ACCEPT", nil, "-A INPUT -p tcp -m tcp ! --dport 0:65535 -j ACCEPT"),
			want: []finding{warn(5, "never matches anything: its own conditions exclude each other")},
		},
		{
			name: "chains nothing jumps to",
			text: filter("ACCEPT", []string{"X", "Y"},
				"-A X -j Y",
				"-A Y -j DROP"),
			want: []finding{
				note(5, "chain X is never used: no rule jumps to it"),
				note(6, "chain Y is never used: only rules of X jump to it, and no built-in chain leads there"),
			},
		},
		{
			name: "a chain whose only jump is shadowed",
			text: filter("ACCEPT", []string{"X"},
				"-A INPUT -j ACCEPT",
				"-A INPUT -j X",
				"-A X -j DROP"),
			want: []finding{
				note(5, "no packet ever enters chain X: every rule that jumps to it never matches"),
				warn(7, "already accepted by INPUT rule 1 (t:6) `-j ACCEPT`"),
			},
		},
		{
			name: "a rule that nothing entering its chain can match",
			text: filter("ACCEPT", []string{"X"},
				"-A INPUT -p tcp -j X",
				"-A X -p udp -j ACCEPT"),
			want: []finding{warn(7, "no packet it could match enters X by INPUT rule 1 (t:6) `-p tcp -j X`")},
		},
		{
			name: "the caller's earlier rules explain a shadowed rule in a user chain",
			text: filter("ACCEPT", []string{"X"},
				"-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT",
				"-A INPUT -p tcp -j X",
				"-A X -p tcp -m tcp --dport 22 -j DROP"),
			want: []finding{warn(8, "already accepted by INPUT rule 1 (t:6) `-p tcp -m tcp --dport 22 -j ACCEPT`")},
		},
		{
			name: "a user chain rule reachable from one of its callers is not shadowed",
			text: filter("ACCEPT", []string{"X"},
				"-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT",
				"-A INPUT -j X",
				"-A FORWARD -j X",
				"-A X -p tcp -m tcp --dport 22 -j DROP"),
		},
		{
			name: "NFQUEUE ends the packet's way, bypass or not",
			text: filter("ACCEPT", nil,
				"-A INPUT -p tcp -j NFQUEUE --queue-num 1 --queue-bypass",
				"-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT"),
			want: []finding{warn(6, "already queued by INPUT rule 1")},
		},
		{
			name: "other tables are named in messages",
			text: "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n" +
				"-A PREROUTING -p tcp -j DNAT --to-destination 192.0.2.1\n" +
				"-A PREROUTING -p tcp -m tcp --dport 80 -j DNAT --to-destination 192.0.2.2\nCOMMIT\n",
			want: []finding{warn(7, "already translated by nat PREROUTING rule 1 (t:6)")},
		},
		{
			name: "several rules together shadow one",
			text: filter("ACCEPT", nil,
				"-A INPUT -s 10.0.0.0/9 -j DROP",
				"-A INPUT -s 10.128.0.0/9 -j REJECT",
				"-A INPUT -s 10.0.0.0/8 -p tcp -j ACCEPT"),
			want: []finding{warn(7, "handled before it: dropped by INPUT rule 1 (t:5) `-s 10.0.0.0/9 -j DROP`; rejected by INPUT rule 2")},
		},
		{
			name: "interfaces with wildcards",
			text: filter("ACCEPT", nil,
				"-A INPUT -i eth+ -j DROP",
				"-A INPUT -i eth0 -j ACCEPT",
				"-A INPUT ! -i eth+ -j ACCEPT",
				"-A INPUT -i wlan0 -j DROP",
				"-A INPUT -j DROP"),
			want: []finding{
				warn(6, "already dropped by INPUT rule 1"),
				warn(8, "already accepted by INPUT rule 3"),
				warn(9, "handled before it: dropped by INPUT rule 1 (t:5) `-i eth+ -j DROP`; accepted by INPUT rule 3"),
			},
		},
		{
			name: "ICMP codes listed as ranges are read back from the -L form",
			text: filter("ACCEPT", nil,
				"-A INPUT -p icmp -m icmp --icmp-type 3/1:4 -j ACCEPT",
				"-A INPUT -p icmp -m icmp --icmp-type 3/2 -j DROP",
				"-A INPUT -p icmp -m icmp --icmp-type port-unreachable -j ACCEPT",
				"-A INPUT -p icmp -m icmp --icmp-type 3/3 -j DROP"),
			want: []finding{
				warn(6, "already accepted by INPUT rule 1"),
				warn(7, "already accepted by INPUT rule 1"),
				warn(8, "already accepted by INPUT rule 1"),
			},
		},
		{
			name: "fragments are not ports",
			text: filter("ACCEPT", nil,
				"-A INPUT -p tcp -m tcp -j ACCEPT",
				"-A INPUT -p tcp -j DROP",
				"-A INPUT -p tcp -f -j DROP"),
			want: []finding{warn(7, "already dropped by INPUT rule 2 (t:6) `-p tcp -j DROP`")},
		},
		{
			name: "multiport --ports is either port",
			text: filter("ACCEPT", nil,
				"-A INPUT -p tcp -m multiport --ports 22,25 -j ACCEPT",
				"-A INPUT -p tcp -m tcp --sport 25 -j DROP",
				"-A INPUT -p tcp -m tcp --sport 80 --dport 22 -j DROP",
				"-A INPUT -p tcp -m tcp --sport 80 --dport 23 -j DROP"),
			want: []finding{warn(6, "accepted by INPUT rule 1"), warn(7, "accepted by INPUT rule 1")},
		},
		{
			name: "conntrack states, and what the other conntrack options leave open",
			text: filter("ACCEPT", nil,
				"-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
				"-A INPUT -m state --state ESTABLISHED -j DROP",
				"-A INPUT -m conntrack --ctstate NEW --ctorigdst 192.0.2.1 -j ACCEPT",
				"-A INPUT -m conntrack --ctstate NEW -j DROP",
				"-A INPUT -m conntrack ! --ctstate INVALID,NEW,RELATED,ESTABLISHED -j DROP",
				"-A INPUT -m conntrack --ctstate UNTRACKED -j ACCEPT"),
			want: []finding{
				warn(6, "already accepted by INPUT rule 1"),
				warn(10, "already dropped by INPUT rule 5"),
			},
		},
		{
			name: "addresses, ranges, lengths and TTLs",
			text: filter("ACCEPT", nil,
				"-A INPUT -m iprange --src-range 192.0.2.0-192.0.2.127 -j ACCEPT",
				"-A INPUT -s 192.0.2.64/26 -j DROP",
				"-A INPUT -m length --length 0:99 -j DROP",
				"-A INPUT -m length --length 50:60 -m ttl --ttl-lt 10 -j ACCEPT",
				"-A INPUT -m ttl --ttl-gt 63 -j ACCEPT",
				"-A INPUT -m ttl --ttl-eq 64 -j DROP",
				"-A INPUT ! -d 198.51.100.0/24 -j DROP",
				"-A INPUT -d 198.51.100.7/32 -m length --length 100:200 -m ttl --ttl-lt 64 -j LOG"),
			want: []finding{
				warn(6, "already accepted by INPUT rule 1"),
				// One rule takes them all; others took some first.
				warn(8, "already dropped by INPUT rule 3 (t:7) `-m length --length 0:99 -j DROP`; some of them earlier: accepted by INPUT rule 1 (t:5) `-m iprange --src-range 192.0.2.0-192.0.2.127 -j ACCEPT`"),
				warn(10, "already accepted by INPUT rule 5 (t:9) `-m ttl --ttl-gt 63 -j ACCEPT`; some of them earlier: accepted by INPUT rule 1 (t:5) `-m iprange --src-range 192.0.2.0-192.0.2.127 -j ACCEPT`; dropped by INPUT rule 3"),
			},
		},
		{
			name: "a limit bypassed by an earlier special case (the article's rule 6)",
			text: filter("DROP", nil,
				"-A INPUT -p tcp -m tcp --dport 25 --tcp-flags FIN,SYN,RST,ACK SYN -j ACCEPT",
				"-A INPUT -p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -m limit --limit 1/sec --limit-burst 4 -j ACCEPT",
				"-A INPUT -p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -j DROP"),
			want: []finding{warn(6, "the limit never bites for tcp SYN packets to port 25: they are accepted by INPUT rule 1 (t:5) `-p tcp -m tcp --dport 25 --tcp-flags FIN,SYN,RST,ACK SYN -j ACCEPT` before this limit applies")},
		},
		{
			name: "a limit after rules that merely overlap it is fine",
			text: filter("DROP", nil,
				"-A INPUT -i lo -j ACCEPT",
				"-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
				"-A INPUT -p icmp -m icmp --icmp-type 8 -m limit --limit 5/sec -j ACCEPT"),
		},
		{
			name: "a limit whose excess meets the policy it tries to enforce",
			text: filter("ACCEPT", nil,
				"-A INPUT -p icmp -m icmp --icmp-type 8 -m limit --limit 5/sec -j ACCEPT"),
			want: []finding{warn(5, "the limit never bites: packets over the limit are accepted anyway by the INPUT policy ACCEPT")},
		},
		{
			name: "a limit whose excess a later rule accepts",
			text: filter("DROP", nil,
				"-A INPUT -p icmp -m icmp --icmp-type 8 -m limit --limit 5/sec -j ACCEPT",
				"-A INPUT -p tcp -j DROP",
				"-A INPUT -p icmp -j ACCEPT"),
			want: []finding{warn(5, "packets over the limit are accepted anyway by INPUT rule 3 (t:7) `-p icmp -j ACCEPT`")},
		},
		{
			name: "a limit whose excess is dropped bites",
			text: filter("ACCEPT", nil,
				"-A INPUT -p icmp -m icmp --icmp-type 8 -m hashlimit --hashlimit-upto 5/sec --hashlimit-name ping -j ACCEPT",
				"-A INPUT -p icmp -j DROP"),
		},
		{
			name: "unknown matches are opaque",
			text: filter("ACCEPT", nil,
				"-A INPUT -m addrtype --dst-type LOCAL -j DROP",
				"-A INPUT -m pkttype --pkt-type broadcast -j DROP",
				"-A INPUT -m mark --mark 0x1/0xff -j DROP",
				"-A INPUT -m comment --comment \"everything\" -j ACCEPT",
				"-A INPUT -j DROP"),
			want: []finding{warn(9, "already accepted by INPUT rule 4")},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkFindings(t, Lint(load(t, "t", tc.text)), tc.want)
		})
	}
}

// TestLintDoesNotModify checks that Lint leaves the ruleset as it was.
func TestLintDoesNotModify(t *testing.T) {
	rs := load(t, "gateway.rules", gatewayText(t))
	before := dump(rs)
	Lint(rs)
	if after := dump(rs); after != before {
		t.Errorf("Lint changed the ruleset:\n%s", after)
	}
}

// TestLintFallbacks forces each of the analysis' limits on a dense
// generated table and checks what it then says: fewer or shorter
// findings, each still one of the full analysis', and a note saying so.
func TestLintFallbacks(t *testing.T) {
	text := bigRules(400, 3, false)
	shadowedLines := func(ds rules.Diags) map[int]bool {
		m := map[int]bool{}
		for _, d := range ds {
			if d.Severity == rules.SevWarning {
				m[d.Pos.Line] = true
			}
		}
		return m
	}
	full := shadowedLines(Lint(load(t, "big", text)))
	if len(full) < 20 {
		t.Fatalf("only %d shadowed rules in the dense table", len(full))
	}
	for _, tc := range []struct {
		name    string
		set     func()
		note    string // a note that must appear, if any
		same    bool   // the same rules must be reported
		message string // every warning must contain this
	}{
		{"short explanations", func() { explainWork = 10 }, "", true, ", or by an earlier rule"},
		{"no explanation budget left", func() { totalExplainWork = 0 }, "", true, ", or by an earlier rule"},
		{"hull past 16 boxes", func() { maxBoxes = 16 }, "simplified at FORWARD rule", false, "never matches anything"},
		{"no work budget", func() { tableWork = 10 }, "table filter is too complex", false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func(a, b, c, d int) { explainWork, totalExplainWork, maxBoxes, tableWork = a, b, c, d }(explainWork, totalExplainWork, maxBoxes, tableWork)
			tc.set()
			ds := Lint(load(t, "big", text))
			got := shadowedLines(ds)
			for l := range got {
				if !full[l] {
					t.Errorf("line %d reported only under the limit", l)
				}
			}
			if tc.same && len(got) != len(full) {
				t.Errorf("%d shadowed rules, want %d", len(got), len(full))
			}
			noted := tc.note == ""
			for _, d := range ds {
				if d.Severity == rules.SevNote && strings.Contains(d.Msg, tc.note) {
					noted = true
				}
				if d.Severity == rules.SevWarning && !strings.Contains(d.Msg, tc.message) {
					t.Errorf("%s", d.Error())
				}
			}
			if !noted {
				t.Errorf("no note %q in %v", tc.note, ds)
			}
			t.Logf("%d of %d shadowed rules reported", len(got), len(full))
		})
	}
}
