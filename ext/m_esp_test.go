package ext

import "testing"

// ipsecPkt builds an ESP, AH or IPComp packet whose 32-bit number at off
// is spi, padded to n bytes.
func ipsecPkt(proto uint8, off int, spi uint32, n int) *Ctx {
	b := make([]byte, max(n, off+4))
	b[off], b[off+1], b[off+2], b[off+3] = byte(spi>>24), byte(spi>>16), byte(spi>>8), byte(spi)
	return &Ctx{Pkt: truncated(ipPkt(proto, b), n)}
}

func TestESPAHIPcomp(t *testing.T) {
	saves(t,
		"-p esp --espspi 0x10", "-p esp -m esp --espspi 16",
		"-p esp -m esp ! --espspi 5:", "-p esp -m esp ! --espspi 5:4294967295",
		"-p ah --ahspi 7", "-p ah -m ah --ahspi 7",
		"-p ipcomp -m ipcomp", "-p ipcomp -m ipcomp --ipcompspi 0",
		"-p ipcomp -m ipcomp --compres --ipcompspi 9", "-p ipcomp -m ipcomp --ipcompspi 9 --compres",
	)
	parseFails(t,
		"-p esp -m esp --espspi 1:2:3",
		"-p esp -m esp --espspi 1x",
		"-p esp -m esp --espspi 4294967296",
		"-p ah -m ah --ahspi 5:4",
		"-p esp -m ah --ahspi 5",
		"-p ipcomp -m ipcomp ! --compres",
	)
	runPrintCases(t, []printCase{
		{"-p esp -m esp", "esp", " esp", " esp"},
		{"-p esp -m esp ! --espspi 1:2", "esp", " esp spis:!1:2", " esp spis:!1:2"},
		{"-p ah -m ah", "ah", " ah ", " ah "},
		{"-p ah -m ah --ahspi 5", "ah", " ah spi:5", " ah spi:5"},
		{"-p ipcomp -m ipcomp --compres", "ipcomp", " comp spi:0 reserved", " comp spi:0 reserved"},
	})
	for _, tc := range []struct {
		rule, name string
		c          *Ctx
		want, drop bool
	}{
		{"-p esp --espspi 256", "esp", ipsecPkt(espProto, 0, 256, 8), true, false},
		{"-p esp --espspi 255", "esp", ipsecPkt(espProto, 0, 256, 8), false, false},
		{"-p esp ! --espspi 255", "esp", ipsecPkt(espProto, 0, 256, 8), true, false},
		{"-p esp -m esp", "esp", ipsecPkt(espProto, 0, 256, 7), false, true},
		{"-p ah --ahspi 256", "ah", ipsecPkt(ahProto, 4, 256, 12), true, false},
		{"-p ah --ahspi 256", "ah", ipsecPkt(ahProto, 0, 256, 12), false, false},
		{"-p ah -m ah", "ah", ipsecPkt(ahProto, 4, 256, 11), false, true},
		{"-p ipcomp --ipcompspi 256", "ipcomp", ipsecPkt(ipcompProto, 0, 256, 4), true, false},
		{"-p ipcomp -m ipcomp", "ipcomp", ipsecPkt(ipcompProto, 0, 0x10000, 4), true, false},
		{"-p ipcomp --ipcompspi 1", "ipcomp", ipsecPkt(ipcompProto, 0, 1, 3), false, true},
	} {
		runMatchCases(t, []matchCase{{rule: tc.rule, name: tc.name, pkt: tc.c.Pkt, want: tc.want, hotdrop: tc.drop}})
	}
	// A later fragment never matches and is not dropped.
	runMatchCases(t, []matchCase{
		{rule: "-p esp ! --espspi 1", name: "esp", pkt: laterFragment(ipsecPkt(espProto, 0, 2, 8).Pkt, 1)},
		{rule: "-p ah ! --ahspi 1", name: "ah", pkt: laterFragment(ipsecPkt(ahProto, 0, 2, 12).Pkt, 1)},
		{rule: "-p ipcomp ! --ipcompspi 1", name: "ipcomp", pkt: laterFragment(ipsecPkt(ipcompProto, 0, 2, 4).Pkt, 1)},
	})
}
