package ext

import "testing"

func TestPolicy(t *testing.T) {
	for _, tc := range []struct{ rule, save, print string }{
		{"-m policy --dir in --pol ipsec --strict --reqid 1 --spi 0x10 --proto esp --mode tunnel --tunnel-dst 10.0.0.0/8 --tunnel-src 10.1.2.3/8 --next ! --reqid 2",
			" --dir in --pol ipsec --strict --reqid 1 --spi 0x10 --proto esp --mode tunnel --tunnel-dst 10.0.0.0/8 --tunnel-src 10.1.2.3/8 --next ! --reqid 2",
			" policy match dir in pol ipsec strict [0] reqid 1 spi 0x10 proto esp mode tunnel tunnel-dst 10.0.0.0/8 tunnel-src 10.1.2.3/8 [1] ! reqid 2"},
		{"-m policy --dir in --pol none", " --dir in --pol none", " policy match dir in pol none"},
	} {
		m, _ := sfMatch(t, tc.rule, IPv4, "filter", "INPUT", nil)
		save, print, _ := sfSavePrint(m)
		if save != tc.save || print != tc.print {
			t.Errorf("%s:\n %q\n %q\nwant\n %q\n %q", tc.rule, save, print, tc.save, tc.print)
		}
	}
	for _, tc := range []struct{ rule, chain string }{
		{"-m policy --dir out --pol ipsec", "INPUT"},
		{"-m policy --dir in --pol ipsec", "OUTPUT"},
		{"-m policy --dir in --pol none --strict", "INPUT"},
		{"-m policy --dir in --pol ipsec --proto tcp", "INPUT"},
		{"-m policy --dir in --pol ipsec --reqid 1 --reqid 2", "INPUT"},
		{"-m policy --dir in --pol ipsec --next", "INPUT"},
		{"-m policy --pol ipsec", "FORWARD"},
	} {
		if err := sfParseErr(tc.rule, IPv4, "filter", tc.chain); err == nil {
			t.Errorf("%s in %s: parsed", tc.rule, tc.chain)
		}
	}
	p := sfPkt("192.0.2.1", "198.51.100.1", 50, 0, 0, 80)
	_, none := sfMatch(t, "-m policy --dir in --pol none", IPv4, "filter", "INPUT", nil)
	_, ipsec := sfMatch(t, "-m policy --dir in --pol ipsec", IPv4, "filter", "INPUT", nil)
	c := sfCtx(p, LocalIn, 0)
	if !none.Match(c) || ipsec.Match(c) {
		t.Error("without IPsec, --pol none matches and --pol ipsec does not")
	}
}
