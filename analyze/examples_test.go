package analyze

import (
	"strings"
	"testing"

	"github.com/ipsift/ipsift/examples"
)

// articleRules is article-as-printed.sh's INPUT rules 1, 2, 3, 6 and 9,
// in the order the article prints them, with its typos corrected (--syn
// for "-syn" and "–syn", "--state" for "–state", ...), as an
// iptables-restore file. Each rule sits on the line of the script where
// the article prints it, so that positions read as the script's.
func articleRules() string {
	lines := map[int]string{
		1:  "*filter",
		2:  ":INPUT ACCEPT [0:0]",
		3:  ":FORWARD ACCEPT [0:0]",
		4:  ":OUTPUT ACCEPT [0:0]",
		8:  "-A INPUT -p tcp --syn -j DROP",
		10: "-A INPUT -p tcp --syn --destination-port 22 -j ACCEPT",
		12: "-A INPUT -m state --state ESTABLISHED,RELATED -j ACCEPT",
		20: "-A INPUT -p tcp --syn --dport 25 -j ACCEPT",
		21: "-A INPUT -p tcp --syn -m limit --limit 1/s --limit-burst 4 -j ACCEPT",
		22: "-A INPUT -p tcp --syn -j DROP",
		32: "-A INPUT -i eth0 -p tcp -m state --state NEW -m multiport --dports ssh,smtp,http,https -j ACCEPT",
		33: "COMMIT",
	}
	var b strings.Builder
	for i := 1; i <= 33; i++ {
		if l, ok := lines[i]; ok {
			b.WriteString(l)
		} else {
			b.WriteString("#")
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// TestArticle is the how-to's mistake the analysis exists for: rule 1
// drops every incoming SYN, so the ssh rule (2) and all three rules of the
// SYN flood protection (6) can never match; and within rule 6 the
// unlimited ACCEPT of SYNs to port 25 means the limit never bites for
// mail, the very traffic it was meant to protect (reported although rule
// 6 is shadowed anyway: it is about the rule's intent). The ssh rule (2)
// likewise lets SYNs to port 22 past the limit. Rule 3 (known
// connections) and rule 9 (NEW services on eth0, which also covers non-SYN
// packets that conntrack calls NEW) still match packets.
func TestArticle(t *testing.T) {
	const byRule1 = "never matches anything: every packet it could match is already dropped by INPUT rule 1 (article.sh:8) `-p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -j DROP`"
	ds := Lint(load(t, "article.sh", articleRules()))
	want := []struct {
		line int
		msg  string
	}{
		{10, byRule1},
		{20, byRule1},
		{21, byRule1},
		{21, "the limit never bites for tcp SYN packets to port 22: they are accepted by INPUT rule 2 (article.sh:10) `-p tcp -m tcp --dport 22 --tcp-flags FIN,SYN,RST,ACK SYN -j ACCEPT` before this limit applies"},
		{21, "the limit never bites for tcp SYN packets to port 25: they are accepted by INPUT rule 4 (article.sh:20) `-p tcp -m tcp --dport 25 --tcp-flags FIN,SYN,RST,ACK SYN -j ACCEPT` before this limit applies"},
		{22, byRule1},
	}
	if len(ds) != len(want) {
		t.Fatalf("got %d findings, want %d:\n%v", len(ds), len(want), ds)
	}
	for i, w := range want {
		d := ds[i]
		if d.Pos.File != "article.sh" || d.Pos.Line != w.line || d.Msg != w.msg || d.Word != "ACCEPT" && d.Word != "DROP" {
			t.Errorf("finding %d:\n got %s (word %q)\nwant article.sh:%d: %s", i, d.Error(), d.Word, w.line, w.msg)
		}
	}
	for _, d := range ds {
		t.Log(d.Error())
	}
}

func gatewayText(t *testing.T) string {
	t.Helper()
	if len(examples.GatewayRules) == 0 {
		t.Fatal("examples.GatewayRules is empty")
	}
	return string(examples.GatewayRules)
}

// TestGateway checks that the working ruleset has nothing to report. What
// the analysis sees there, and why none of it is a finding:
//
//   - INPUT: every rule still matches something. The SYNs to port 25 that
//     rule 6 sends to syn-flood (which accepts some under its limit and
//     LOGDROPs the rest) include those from wlan0 that rule 8 would
//     accept, so rule 8 never sees SYNs to port 25 — a partial overlap, by
//     design (the flood limit applies to everyone), not a shadowed rule:
//     rule 8 still takes NEW SYNs to 22, 80 and 443 from wlan0, and NEW
//     non-SYN packets to 25.
//   - The limits bite: the ICMP echo limit's excess meets `-j LOGDROP`,
//     syn-flood's meets its own `-j LOGDROP`, port-scan's RETURN is
//     followed by DROP. The earlier ACCEPTs (lo, ESTABLISHED) merely
//     overlap the echo limit; they are not special cases of it. The limit
//     in LOGDROP is on LOG, which decides nothing.
//   - nat PREROUTING's three statistic rules are opaque, so the last DNAT
//     for port 80 is reachable, as it is (it takes what the others leave).
//   - Every user chain is jumped to.
func TestGateway(t *testing.T) {
	ds := Lint(load(t, "gateway.rules", gatewayText(t)))
	for _, d := range ds {
		t.Errorf("unexpected finding: %s", d.Error())
	}
}
