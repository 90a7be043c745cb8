package ext

import "testing"

func TestConnbytes(t *testing.T) {
	for _, tc := range []struct{ rule, save, print string }{
		{"-m connbytes --connbytes 10: --connbytes-dir both --connbytes-mode bytes",
			" --connbytes 10 --connbytes-mode bytes --connbytes-dir both", " connbytes 10 connbytes mode bytes connbytes direction both"},
		{"-m connbytes ! --connbytes 100:200 --connbytes-dir reply --connbytes-mode avgpkt",
			" ! --connbytes 100:200 --connbytes-mode avgpkt --connbytes-dir reply", " ! connbytes 100:200 connbytes mode avgpkt connbytes direction reply"},
	} {
		m, _ := sfMatch(t, tc.rule, IPv4, "filter", "INPUT", nil)
		save, print, _ := sfSavePrint(m)
		if save != tc.save || print != tc.print {
			t.Errorf("%s: %q %q, want %q %q", tc.rule, save, print, tc.save, tc.print)
		}
	}
	conn := newConn("192.0.2.1", "198.51.100.1", 1, 2)
	conn.pkts = [2]uint64{10, 5}
	conn.bytes = [2]uint64{1000, 7500}
	p := sfPkt("192.0.2.1", "198.51.100.1", 6, 1, 2, 40)
	c := sfCtx(p, LocalIn, 0)
	c.Conn = conn
	for _, tc := range []struct {
		rule string
		want bool
	}{
		{"-m connbytes --connbytes 10 --connbytes-dir original --connbytes-mode packets", true},
		{"-m connbytes --connbytes 16: --connbytes-dir both --connbytes-mode packets", false},
		{"-m connbytes --connbytes 500:600 --connbytes-dir both --connbytes-mode avgpkt", true},
		{"-m connbytes ! --connbytes 500:600 --connbytes-dir both --connbytes-mode avgpkt", false},
		{"-m connbytes ! --connbytes 0:7000 --connbytes-dir reply --connbytes-mode bytes", true},
	} {
		_, mt := sfMatch(t, tc.rule, IPv4, "filter", "INPUT", nil)
		if got := mt.Match(c); got != tc.want {
			t.Errorf("%s: %v (%s)", tc.rule, got, mt.(Explainer).Explain(c, got))
		}
	}
}
