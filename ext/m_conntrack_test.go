package ext

import (
	"strings"
	"testing"
)

func TestConntrackSavePrint(t *testing.T) {
	for _, tc := range []struct {
		rule, save, print string
	}{
		{"-m conntrack --ctstate new,est", " --ctstate NEW,ESTABLISHED", " ctstate NEW,ESTABLISHED"},
		{"-m conntrack ! --ctstate ESTABLISHED,RELATED,NEW,DNAT", " ! --ctstate NEW,RELATED,ESTABLISHED,DNAT", " ! ctstate NEW,RELATED,ESTABLISHED,DNAT"},
		{"-m conntrack --ctorigsrc 10.1.2.3/8 --ctrepldst 1.2.3.4/255.0.255.0", " --ctorigsrc 10.1.2.3/8 --ctrepldst 1.2.3.4/255.0.255.0", " ctorigsrc 10.1.2.3/8 ctrepldst 1.2.3.4/255.0.255.0"},
		{"-m conntrack --ctorigdst 0.0.0.0/0", " --ctorigdst 0.0.0.0/0", " ctorigdst anywhere"},
		{"-m conntrack --ctproto udp ! --ctorigdstport 53", " --ctproto 17 ! --ctorigdstport 53", " ctproto 17 ! ctorigdstport 53"},
		{"-m conntrack --ctstatus ASSURED,seen_reply --ctexpire 10:20 --ctdir reply", " --ctstatus SEEN_REPLY,ASSURED --ctexpire 10:20 --ctdir REPLY", " ctstatus SEEN_REPLY,ASSURED ctexpire 10:20 ctdir REPLY"},
		{"-m state ! --state NEW,related", " ! --state NEW,RELATED", " ! state NEW,RELATED"},
	} {
		m, _ := sfMatch(t, tc.rule, IPv4, "filter", "INPUT", nil)
		save, print, _ := sfSavePrint(m)
		if save != tc.save || print != tc.print {
			t.Errorf("%s: save %q print %q, want %q %q", tc.rule, save, print, tc.save, tc.print)
		}
	}
}

func TestConntrackParseErrors(t *testing.T) {
	for _, rule := range []string{
		"-m conntrack --ctstate NEW,",
		"-m conntrack --ctstate ,NEW",
		"-m conntrack --ctstate NEWX",
		"-m state --state SNAT",
		"-m conntrack --ctdir sideways",
		"-m conntrack --ctexpire 1:2:3",
		"-m conntrack --ctorigsrc host.example",
		"-m conntrack --ctorigsrc 2001:db8::1",
		"-m conntrack ! --ctdir REPLY",
	} {
		if err := sfParseErr(rule, IPv4, "filter", "INPUT"); err == nil {
			t.Errorf("%s: parsed, want an error", rule)
		}
	}
}

func TestConntrackMatch(t *testing.T) {
	conn := newConn("192.0.2.1", "198.51.100.7", 40000, 22)
	conn.expires = 100e9
	p := sfPkt("192.0.2.1", "198.51.100.7", 6, 40000, 22, 60)
	est := func() *Ctx { c := sfCtx(p, LocalIn, 5e9); c.CT, c.Conn = CTEstablished, conn; return c }
	for _, tc := range []struct {
		rule string
		ctx  func() *Ctx
		want bool
	}{
		{"-m conntrack --ctstate ESTABLISHED,RELATED", est, true},
		{"-m conntrack --ctstate NEW", est, false},
		{"-m conntrack ! --ctstate NEW", est, true},
		{"-m conntrack --ctstate INVALID", func() *Ctx { return sfCtx(p, LocalIn, 0) }, true},
		{"-m conntrack --ctstate UNTRACKED", func() *Ctx { c := sfCtx(p, LocalIn, 0); c.CT = CTUntracked; return c }, true},
		{"-m conntrack --ctstate UNTRACKED --ctproto tcp", func() *Ctx { c := sfCtx(p, LocalIn, 0); c.CT = CTUntracked; return c }, true},
		{"-m conntrack --ctproto tcp", func() *Ctx { c := sfCtx(p, LocalIn, 0); c.CT = CTUntracked; return c }, false},
		{"-m conntrack --ctorigsrc 192.0.2.0/24 --ctorigdstport 22", est, true},
		{"-m conntrack --ctreplsrc 198.51.100.7 --ctrepldstport 40000:40010", est, true},
		{"-m conntrack ! --ctorigdst 198.51.100.0/24", est, false},
		{"-m conntrack --ctproto udp", est, false},
		{"-m conntrack --ctstatus ASSURED", est, true},
		{"-m conntrack --ctstatus EXPECTED", est, false},
		{"-m conntrack --ctstatus NONE", est, false},
		{"-m conntrack --ctexpire 95", est, true},
		{"-m conntrack --ctexpire 96:200", est, false},
		{"-m conntrack --ctdir ORIGINAL", est, true},
		{"-m conntrack --ctdir REPLY", est, false},
		{"-m conntrack --ctstate DNAT", func() *Ctx { c := est(); cc := *conn; cc.status |= IPSDstNAT; c.Conn = &cc; return c }, true},
		{"-m state --state ESTABLISHED", est, true},
	} {
		_, mt := sfMatch(t, tc.rule, IPv4, "filter", "INPUT", nil)
		c := tc.ctx()
		if got := mt.Match(c); got != tc.want {
			t.Errorf("%s: got %v, want %v (%s)", tc.rule, got, tc.want, mt.(Explainer).Explain(c, got))
		}
	}
	_, mt := sfMatch(t, "-m conntrack --ctstate NEW --ctorigsrc 192.0.2.0/24 --ctexpire 1:1000", IPv4, "filter", "INPUT", nil)
	c := est()
	sfNoAlloc(t, "conntrack", func() { mt.Match(c) })
	if s := mt.(Explainer).Explain(c, false); !strings.Contains(s, "ESTABLISHED") {
		t.Errorf("explain: %q", s)
	}
}
