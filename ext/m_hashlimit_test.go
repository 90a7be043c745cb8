package ext

import (
	"testing"

	"github.com/ipsift/ipsift/packet"
)

func TestHashlimitSavePrint(t *testing.T) {
	// Expected texts as iptables 1.8 prints them for the same rules.
	for _, tc := range []struct{ rule, save, print string }{
		{"-m hashlimit --hashlimit-upto 40/min --hashlimit-name a --hashlimit-rate-match",
			" --hashlimit-upto 40/sec --hashlimit-burst 5 --hashlimit-name a --hashlimit-htable-expire 60000 --hashlimit-rate-match --hashlimit-rate-interval 60",
			" limit: up to 40/min burst 5 rate-match rate-interval 60"},
		{"-m hashlimit --hashlimit-upto 120/min --hashlimit-name b --hashlimit-mode srcip,dstport --hashlimit-srcmask 24",
			" --hashlimit-upto 2/sec --hashlimit-burst 5 --hashlimit-mode srcip,dstport --hashlimit-name b --hashlimit-htable-expire 60000 --hashlimit-srcmask 24",
			" limit: up to 2/sec burst 5 mode srcip-dstport htable-expire 60000 srcmask 24"},
		{"-m hashlimit ! --hashlimit-above 123456b/s --hashlimit-burst 1mb --hashlimit-name c",
			" --hashlimit-upto 123456b/s --hashlimit-burst 1mb --hashlimit-name c",
			" limit: up to 123456b/s burst 1mb"},
		{"-m hashlimit --hashlimit 5/s --hashlimit-burst 5k --hashlimit-name d --hashlimit-htable-size 2000000 --hashlimit-htable-max 10",
			" --hashlimit-upto 5/sec --hashlimit-burst 5120 --hashlimit-name d --hashlimit-htable-size 1048576 --hashlimit-htable-max 10",
			" limit: up to 5/sec burst 5120 htable-size 1048576 htable-max 10"},
		{"-m hashlimit --hashlimit-above 1kb/s --hashlimit-name e --hashlimit-rate-match --hashlimit-dstmask 255.255.0.0",
			" --hashlimit-above 1kb/s --hashlimit-name e --hashlimit-dstmask 16 --hashlimit-rate-match",
			" limit: above 1kb/s dstmask 16 rate-match"},
	} {
		m, _ := sfMatch(t, tc.rule, IPv4, "filter", "INPUT", nil)
		save, print, _ := sfSavePrint(m)
		if save != tc.save || print != tc.print {
			t.Errorf("%s:\n save  %q\n print %q\nwant   %q\n       %q", tc.rule, save, print, tc.save, tc.print)
		}
	}
	for _, rule := range []string{
		"-m hashlimit --hashlimit 5/s --hashlimit-burst 2m --hashlimit-name d",
		"-m hashlimit --hashlimit-upto 5/s --hashlimit-name a/b",
		"-m hashlimit --hashlimit-upto 5/s --hashlimit-name x --hashlimit-srcmask 33",
		"-m hashlimit --hashlimit-upto 5/s --hashlimit-name x --hashlimit-htable-expire 0",
		"-m hashlimit --hashlimit-upto 5/s --hashlimit-name x --hashlimit-mode srcip,foo",
		"-m hashlimit --hashlimit-upto 4kb/s --hashlimit-burst 1000 --hashlimit-name x",
		"-m hashlimit --hashlimit-upto 5/s --hashlimit 6/s --hashlimit-name x",
	} {
		if err := sfParseErr(rule, IPv4, "filter", "INPUT"); err == nil {
			t.Errorf("%s: parsed, want an error", rule)
		}
	}
}

func TestHashlimitPerSource(t *testing.T) {
	cc := NewCompiler(nil)
	_, mt := sfMatch(t, "-m hashlimit --hashlimit-above 1/sec --hashlimit-burst 2 --hashlimit-mode srcip --hashlimit-name guard --hashlimit-htable-expire 3000", IPv4, "filter", "INPUT", cc)
	a := sfPkt("192.0.2.1", "198.51.100.1", 6, 1000, 22, 60)
	b := sfPkt("192.0.2.2", "198.51.100.1", 6, 1000, 22, 60)
	over := func(p *packet.Packet, ns int64) bool { return mt.Match(sfCtx(p, LocalIn, ns)) }
	pa, pb := a, b
	if over(pa, 0) || over(pa, 1e6) || !over(pa, 2e6) {
		t.Error("source a: burst 2 then above")
	}
	if over(pb, 3e6) {
		t.Error("source b has its own bucket")
	}
	if over(pa, 1010e6) || !over(pa, 1020e6) {
		t.Error("one more packet a second later")
	}
	// The table survives a reload and keeps the bucket.
	cc2 := NewCompiler(nil)
	cc2.store = cc.store
	_, mt2 := sfMatch(t, "-m hashlimit --hashlimit-above 1/sec --hashlimit-burst 2 --hashlimit-mode srcip --hashlimit-name guard --hashlimit-htable-expire 3000", IPv4, "filter", "INPUT", cc2)
	if !mt2.Match(sfCtx(a, LocalIn, 1030e6)) {
		t.Error("reloaded rule forgot the bucket")
	}
	// After the entry expires (3 s) and the gc ran, a fresh full bucket.
	first, second := mt2.Match(sfCtx(a, LocalIn, 5e9)), mt2.Match(sfCtx(a, LocalIn, 5e9))
	if first || second {
		t.Error("a fresh bucket allows the burst again")
	}
	c := sfCtx(b, LocalIn, 6e9)
	sfNoAlloc(t, "hashlimit", func() { mt2.Match(c) })
}

func TestHashlimitBytesAndRateMatch(t *testing.T) {
	// 1kb/s = 1024 bytes per second; no burst: one second of bytes.
	_, mt := sfMatch(t, "-m hashlimit --hashlimit-upto 1kb/s --hashlimit-name bytes", IPv4, "filter", "INPUT", nil)
	p := sfPkt("192.0.2.1", "198.51.100.1", 17, 1, 2, 500)
	n := 0
	for i := 0; i < 10; i++ {
		if mt.Match(sfCtx(p, LocalIn, int64(i)*1e6)) {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d packets of 500 bytes within 1kb/s, want 2", n)
	}
	// rate-match: up to 2/sec measured per second.
	_, rm := sfMatch(t, "-m hashlimit --hashlimit-upto 2/sec --hashlimit-burst 1 --hashlimit-name rm --hashlimit-rate-match", IPv4, "filter", "INPUT", nil)
	got := ""
	for i := 0; i < 5; i++ {
		if rm.Match(sfCtx(p, LocalIn, int64(i)*1e6)) {
			got += "1"
		} else {
			got += "0"
		}
	}
	if got != "11100" {
		t.Errorf("rate-match within the first second: %s, want 11100 (rate 2 + burst 1)", got)
	}
}

// As with limit, the kernel's credit arithmetic wraps for slow rates with
// big bursts: a namespace on Linux 6.18 let 25 of 200 packets through
// "--hashlimit-upto 1/hour --hashlimit-burst 100", and so does ipsift.
func TestHashlimitKernelWrap(t *testing.T) {
	_, mt := sfMatch(t, "-m hashlimit --hashlimit-upto 1/hour --hashlimit-burst 100 --hashlimit-name w", IPv4, "filter", "OUTPUT", nil)
	c := sfCtx(sfPkt("127.0.0.1", "127.0.0.1", 17, 1, 10, 30), LocalOut, 0)
	n := 0
	for i := 0; i < 200; i++ {
		if mt.Match(c) {
			n++
		}
	}
	if n != 25 {
		t.Errorf("%d packets, the kernel lets 25 through", n)
	}
}

// TestHashlimitHotdrop: hashlimit_mt_common drops at once a packet whose
// ports a port mode needs but cannot read (the kernel test found ipsift
// only not matching it); a packet with ports is not dropped.
func TestHashlimitHotdrop(t *testing.T) {
	rule := "-p udp -m hashlimit --hashlimit-upto 1/sec --hashlimit-mode srcip,dstport --hashlimit-name hd"
	runMatchCases(t, []matchCase{
		{rule: rule, name: "hashlimit", pkt: udpPkt(1, 2), want: true},
		{rule: rule, name: "hashlimit", pkt: truncated(udpPkt(1, 2), 2), hotdrop: true},
	})
}
