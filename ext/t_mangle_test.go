package ext

import (
	"encoding/binary"
	"testing"

	"github.com/ipsift/ipsift/packet"
)

func TestTTLAction(t *testing.T) {
	for _, tc := range []struct {
		opts      string
		in, want  uint8
		printWant string
	}{
		{"--ttl-set 42", 64, 42, " TTL set to 42"},
		{"--ttl-inc 10", 250, 255, " TTL increment by 10"},
		{"--ttl-dec 5", 3, 0, " TTL decrement by 5"},
		{"--ttl-dec 1", 64, 63, " TTL decrement by 1"},
	} {
		tg := parseTarget(t, "TTL", tc.opts, "mangle", "PREROUTING", 0)
		if got := printTarget(tg, false); got != tc.printWant {
			t.Errorf("%s: print %q", tc.opts, got)
		}
		p := mkUDP("198.51.100.7", "192.0.2.1", 1, 2, nil)
		p.Data[8] = tc.in
		SetIPv4HeaderChecksum(p.Data)
		compileTarget(t, tg).Do(&Ctx{Pkt: p})
		if p.Data[8] != tc.want || p.TTL != tc.want || Checksum(p.Data[:20], 0) != 0 {
			t.Errorf("%s: ttl %d (field %d), want %d; checksum ok %v", tc.opts, p.Data[8], p.TTL, tc.want, Checksum(p.Data[:20], 0) == 0)
		}
	}
}

func TestTOSDSCPECNActions(t *testing.T) {
	p := mkTCP("198.51.100.7", "192.0.2.1", ipOpts{tos: 0x03}, tcpOpts{flags: packet.TCPSyn | packet.TCPEce | packet.TCPCwr})
	compileTarget(t, parseTarget(t, "DSCP", "--set-dscp-class EF", "mangle", "POSTROUTING", 0)).Do(&Ctx{Pkt: p})
	if p.Data[1] != 0x2e<<2|3 || Checksum(p.Data[:20], 0) != 0 {
		t.Errorf("DSCP: tos %#x", p.Data[1])
	}
	compileTarget(t, parseTarget(t, "TOS", "--set-tos Minimize-Delay", "mangle", "POSTROUTING", 0)).Do(&Ctx{Pkt: p})
	if want := uint8(0xbb&^0x3f | 0x10); p.Data[1] != want || p.TOS != want {
		t.Errorf("TOS: %#x, want %#x", p.Data[1], want)
	}
	compileTarget(t, parseTarget(t, "ECN", "--ecn-tcp-remove --ecn-ip-ect 0", "mangle", "POSTROUTING", 6)).Do(&Ctx{Pkt: p})
	if p.Data[1]&3 != 0 || p.Data[33]&0xc0 != 0 || p.TCPFlags != packet.TCPSyn {
		t.Errorf("ECN: tos %#x flags %#x", p.Data[1], p.Data[33])
	}
	checkTCPSums(t, p)
	for in, want := range map[string]string{
		"--set-tos 0x1f":           " --set-tos 0x1f/0xff",
		"--and-tos 0x12":           " --set-tos 0x00/0xed",
		"--set-tos normal-service": " --set-tos 0x00/0x3f",
	} {
		if got := saveTarget(parseTarget(t, "TOS", in, "mangle", "OUTPUT", 0)); got != want {
			t.Errorf("%s: %q, want %q", in, got, want)
		}
	}
	if _, err := newTarget("ECN", "--ecn-tcp-cwr 1", "mangle", "OUTPUT", 17); err == nil {
		t.Error("ECN TCP operation on a udp rule accepted")
	}
}

func TestTCPOptStrip(t *testing.T) {
	opts := []byte{2, 4, 5, 0xb4, 4, 2, 8, 10, 1, 2, 3, 4, 5, 6, 7, 8, 1, 1, 1, 1}
	p := mkTCP("198.51.100.7", "192.0.2.1", ipOpts{}, tcpOpts{flags: packet.TCPSyn, opts: opts})
	tg := parseTarget(t, "TCPOPTSTRIP", "--strip-options timestamp,sack-permitted", "mangle", "FORWARD", 6)
	if got := printTarget(tg, false); got != " TCPOPTSTRIP options sack-permitted,timestamp" {
		t.Errorf("print %q", got)
	}
	compileTarget(t, tg).Do(&Ctx{Pkt: p})
	got := p.Data[40:60]
	want := []byte{2, 4, 5, 0xb4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}
	if string(got) != string(want) {
		t.Errorf("options % x", got)
	}
	checkTCPSums(t, p)
}

func TestHMARK(t *testing.T) {
	tg := parseTarget(t, "HMARK", "--hmark-tuple src,dst,sport,dport,proto --hmark-rnd 0xcafe --hmark-mod 16 --hmark-offset 100", "mangle", "PREROUTING", 0)
	a := compileTarget(t, tg)
	fwd := mkTCP("198.51.100.7", "192.0.2.1", ipOpts{}, tcpOpts{sport: 1234, dport: 80})
	rev := mkTCP("192.0.2.1", "198.51.100.7", ipOpts{}, tcpOpts{sport: 80, dport: 1234})
	c1, c2 := &Ctx{Pkt: fwd}, &Ctx{Pkt: rev}
	a.Do(c1)
	a.Do(c2)
	if c1.Mark != c2.Mark || c1.Mark < 100 || c1.Mark >= 116 {
		t.Errorf("marks %d %d: want the same mark in 100-115 both ways", c1.Mark, c2.Mark)
	}
	// An ICMP error is hashed as the packet it quotes.
	inner := mkUDP("192.0.2.1", "198.51.100.7", 53, 5353, nil)
	e := mkICMP("203.0.113.1", "192.0.2.1", 3, 3, append([]byte{0, 0, 0, 0}, inner.Data...))
	u := mkUDP("192.0.2.1", "198.51.100.7", 53, 5353, nil)
	ce, cu := &Ctx{Pkt: e}, &Ctx{Pkt: u}
	a.Do(ce)
	a.Do(cu)
	if ce.Mark != cu.Mark {
		t.Errorf("ICMP error mark %d, quoted packet's %d", ce.Mark, cu.Mark)
	}
	if got := printTarget(tg, true); got != " HMARK mod 16 + 0x64 src-prefix 32 dst-prefix 32 sport-mask 0xffff dport-mask 0xffff proto-mask 0xffff rnd 0xcafe " {
		t.Errorf("print %q", got)
	}
	_ = binary.BigEndian
}
