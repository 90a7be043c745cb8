package ext

import "testing"

func TestBPF(t *testing.T) {
	const tcpOnly = `-m bpf --bytecode "4,48 0 0 9,21 0 1 6,6 0 0 1,6 0 0 0"`
	m, mt := sfMatch(t, tcpOnly, IPv4, "filter", "INPUT", nil)
	save, print, _ := sfSavePrint(m)
	if save != ` --bytecode "4,48 0 0 9,21 0 1 6,6 0 0 1,6 0 0 0"` || print != "match bpf 48 0 0 9,21 0 1 6,6 0 0 1,6 0 0 0" {
		t.Errorf("%q %q", save, print)
	}
	ip := func(proto byte, n int) *Ctx {
		p := sfPkt("192.0.2.1", "198.51.100.1", proto, 1, 2, n)
		p.Data = make([]byte, n)
		p.Data[0], p.Data[9] = 0x45, proto
		return sfCtx(p, LocalIn, 0)
	}
	if !mt.Match(ip(6, 40)) || mt.Match(ip(17, 28)) {
		t.Error("tcp only")
	}
	// A load beyond the packet ends the program with 0.
	_, far := sfMatch(t, `-m bpf --bytecode "2,32 0 0 1000,6 0 0 1"`, IPv4, "filter", "INPUT", nil)
	if far.Match(ip(6, 40)) {
		t.Error("out-of-bounds load matched")
	}
	// ldx 4*([0]&0xf); ld [x+2] (the destination port); port 22?
	_, ssh := sfMatch(t, `-m bpf --bytecode "5,177 0 0 0,72 0 0 2,21 0 1 22,6 0 0 65535,6 0 0 0"`, IPv4, "filter", "INPUT", nil)
	c := ip(6, 40)
	c.Pkt.Data[22], c.Pkt.Data[23] = 0, 22
	if !ssh.Match(c) {
		t.Error("msh/ind load of the port")
	}
	sfNoAlloc(t, "bpf", func() { ssh.Match(c) })
	for _, rule := range []string{
		`-m bpf --bytecode "0,"`, `-m bpf --bytecode "2,6 0 0 1"`, `-m bpf --bytecode "1,48 0 0 9"`,
		`-m bpf --bytecode "2,21 5 0 1,6 0 0 0"`, `-m bpf --bytecode "2,52 0 0 0,6 0 0 0"`, `-m bpf --bytecode "2,96 0 0 16,6 0 0 0"`,
		`-m bpf`,
	} {
		if err := sfParseErr(rule, IPv4, "filter", "INPUT"); err == nil {
			t.Errorf("%s: parsed", rule)
		}
	}
}
