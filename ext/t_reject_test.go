package ext

import (
	"encoding/binary"
	"testing"

	"github.com/ipsift/ipsift/packet"
)

func rejectRun(t *testing.T, opts string, proto uint8, c *Ctx) [][]byte {
	t.Helper()
	a := compileTarget(t, parseTarget(t, "REJECT", opts, "filter", "INPUT", proto))
	var sent [][]byte
	c.Emit = func(b []byte) { sent = append(sent, b) }
	if v := a.Do(c); v != Drop {
		t.Fatalf("verdict %v, want Drop", v)
	}
	return sent
}

func TestRejectParse(t *testing.T) {
	for _, tc := range []struct{ in, save, print string }{
		{"", " --reject-with icmp-port-unreachable", " reject-with icmp-port-unreachable"},
		{"--reject-with host-unreach", " --reject-with icmp-host-unreachable", " reject-with icmp-host-unreachable"},
		{"--reject-with icmp-h", " --reject-with icmp-host-unreachable", ""},
		{"--reject-with ICMP-ADMIN", " --reject-with icmp-admin-prohibited", ""},
		{"--reject-with icmp-", " --reject-with icmp-net-unreachable", ""},
		{"--reject-with tcp-rst", " --reject-with tcp-reset", " reject-with tcp-reset"},
	} {
		tg, err := newTarget("REJECT", tc.in, "filter", "INPUT", 6)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if got := saveTarget(tg); got != tc.save {
			t.Errorf("%q: save %q, want %q", tc.in, got, tc.save)
		}
		if got := printTarget(tg, true); tc.print != "" && got != tc.print {
			t.Errorf("%q: print %q, want %q", tc.in, got, tc.print)
		}
	}
	for _, bad := range []struct {
		opts  string
		proto uint8
		chain string
	}{
		{"--reject-with tcp-reset", 17, "INPUT"},
		{"--reject-with tcp-reset", 0, "INPUT"},
		{"--reject-with echo-reply", 1, "INPUT"},
		{"--reject-with bogus", 6, "INPUT"},
		{"", 6, "PREROUTING"},
	} {
		if _, err := newTarget("REJECT", bad.opts, "filter", bad.chain, bad.proto); err == nil {
			t.Errorf("%q -p %d in %s: accepted", bad.opts, bad.proto, bad.chain)
		}
	}
}

func TestRejectTCPReset(t *testing.T) {
	// A SYN without ACK: RST+ACK with ack = seq + 1 (SYN) + payload.
	p := mkTCP("198.51.100.7", "192.0.2.1", ipOpts{tos: 0x10, ttl: 50, id: 77, frag: 0x4000},
		tcpOpts{sport: 40000, dport: 23, seq: 1000, flags: packet.TCPSyn, win: 500, payload: []byte("abc")})
	sent := rejectRun(t, "--reject-with tcp-reset", 6, &Ctx{Pkt: p, Hook: LocalIn})
	if len(sent) != 1 {
		t.Fatalf("sent %d packets, want 1", len(sent))
	}
	r := sent[0]
	want := []byte{0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6}
	for i, w := range want {
		if r[i] != w {
			t.Fatalf("IP header byte %d = %#x, want %#x (% x)", i, r[i], w, r[:20])
		}
	}
	if Checksum(r[:20], 0) != 0 {
		t.Error("bad IP checksum")
	}
	if got := [4]byte(r[12:16]); got != [4]byte{192, 0, 2, 1} {
		t.Errorf("src %v", got)
	}
	tcp := r[20:]
	if binary.BigEndian.Uint16(tcp[0:]) != 23 || binary.BigEndian.Uint16(tcp[2:]) != 40000 {
		t.Errorf("ports %d %d", binary.BigEndian.Uint16(tcp[0:]), binary.BigEndian.Uint16(tcp[2:]))
	}
	if seq, ack := binary.BigEndian.Uint32(tcp[4:]), binary.BigEndian.Uint32(tcp[8:]); seq != 0 || ack != 1004 {
		t.Errorf("seq %d ack %d, want 0 1004", seq, ack)
	}
	if tcp[12] != 0x50 || tcp[13] != packet.TCPRst|packet.TCPAck || tcp[14] != 0 || tcp[15] != 0 {
		t.Errorf("doff/flags/window % x", tcp[12:16])
	}
	src, dst := p.Dst, p.Src
	if Checksum(tcp, PseudoSum(src, dst, 6, 20)) != 0 {
		t.Error("bad TCP checksum")
	}

	// With ACK: seq = its ack, only RST.
	p = mkTCP("198.51.100.7", "192.0.2.1", ipOpts{}, tcpOpts{sport: 1, dport: 2, seq: 5, ack: 99, flags: packet.TCPAck | packet.TCPFin})
	sent = rejectRun(t, "--reject-with tcp-reset", 6, &Ctx{Pkt: p, Hook: Forward})
	if len(sent) != 1 {
		t.Fatalf("sent %d", len(sent))
	}
	tcp = sent[0][20:]
	if seq, ack := binary.BigEndian.Uint32(tcp[4:]), binary.BigEndian.Uint32(tcp[8:]); seq != 99 || ack != 0 || tcp[13] != packet.TCPRst {
		t.Errorf("seq %d ack %d flags %#x", seq, ack, tcp[13])
	}

	// Nothing for a RST, a bad checksum, a later fragment, a multicast.
	rst := mkTCP("198.51.100.7", "192.0.2.1", ipOpts{}, tcpOpts{flags: packet.TCPRst})
	bad := mkTCP("198.51.100.7", "192.0.2.1", ipOpts{}, tcpOpts{flags: packet.TCPSyn})
	bad.Data[36] ^= 0xff
	frag := mkTCP("198.51.100.7", "192.0.2.1", ipOpts{frag: 10}, tcpOpts{flags: packet.TCPSyn})
	mc := mkTCP("198.51.100.7", "224.0.0.9", ipOpts{}, tcpOpts{flags: packet.TCPSyn})
	for name, p := range map[string]*packet.Packet{"rst": rst, "bad checksum": bad, "fragment": frag, "multicast": mc} {
		if sent := rejectRun(t, "--reject-with tcp-reset", 6, &Ctx{Pkt: p, Hook: LocalIn}); len(sent) != 0 {
			t.Errorf("%s: sent %d", name, len(sent))
		}
	}
	// In OUTPUT too (a raw packet with a wrong checksum; the kernel
	// found by the differential test).
	if sent := rejectRun(t, "--reject-with tcp-reset", 6, &Ctx{Pkt: bad, Hook: LocalOut}); len(sent) != 0 {
		t.Errorf("OUTPUT bad checksum: sent %d, want 0", len(sent))
	}
	// A checksum the kernel trusts (CHECKSUM_UNNECESSARY) is not checked:
	// the same packet draws its RST.
	trusted := *bad
	trusted.L4Verified = true
	if sent := rejectRun(t, "--reject-with tcp-reset", 6, &Ctx{Pkt: &trusted, Hook: LocalIn}); len(sent) != 1 {
		t.Errorf("trusted bad checksum: sent %d, want 1", len(sent))
	}
}

func TestRejectICMP(t *testing.T) {
	payload := make([]byte, 1000)
	p := mkUDP("198.51.100.7", "192.0.2.1", 5000, 53, payload)
	p.TOS = 0x2d
	sent := rejectRun(t, "--reject-with icmp-admin-prohibited", 17, &Ctx{Pkt: p, Hook: LocalIn})
	if len(sent) != 1 {
		t.Fatalf("sent %d", len(sent))
	}
	r := sent[0]
	if len(r) != 576 {
		t.Errorf("length %d, want 576", len(r))
	}
	if r[1] != 0xcc {
		t.Errorf("tos %#x, want 0xcc", r[1])
	}
	if r[6] != 0 || r[8] != 64 || r[9] != 1 {
		t.Errorf("frag %#x ttl %d proto %d", r[6], r[8], r[9])
	}
	if [4]byte(r[12:16]) != [4]byte{192, 0, 2, 1} || [4]byte(r[16:20]) != [4]byte{198, 51, 100, 7} {
		t.Errorf("addresses % x", r[12:20])
	}
	if r[20] != 3 || r[21] != 13 || Checksum(r[20:], 0) != 0 || Checksum(r[:20], 0) != 0 {
		t.Errorf("icmp type %d code %d or checksum wrong", r[20], r[21])
	}
	if string(r[28:48]) != string(p.Data[:20]) {
		t.Error("quoted header differs")
	}

	// No error about an ICMP error, about a broadcast frame, or in
	// FORWARD without a route source: from 192.0.0.8.
	errPkt := mkICMP("198.51.100.7", "192.0.2.1", 11, 0, make([]byte, 32))
	if sent := rejectRun(t, "", 1, &Ctx{Pkt: errPkt, Hook: LocalIn}); len(sent) != 0 {
		t.Errorf("answered an ICMP error")
	}
	echo := mkICMP("198.51.100.7", "192.0.2.1", 8, 0, make([]byte, 4))
	if sent := rejectRun(t, "", 1, &Ctx{Pkt: echo, Hook: LocalIn}); len(sent) != 1 || sent[0][21] != 3 {
		t.Errorf("echo: sent %d", len(sent))
	}
	if sent := rejectRun(t, "", 1, &Ctx{Pkt: echo, Hook: LocalIn, PktType: PktBroadcast}); len(sent) != 0 {
		t.Errorf("answered a broadcast frame")
	}
	a := compileTarget(t, parseTarget(t, "REJECT", "", "filter", "FORWARD", 0))
	var got []byte
	a.Do(&Ctx{Pkt: echo, Hook: Forward, Emit: func(b []byte) { got = b }})
	if got == nil || [4]byte(got[12:16]) != [4]byte{192, 0, 0, 8} {
		t.Errorf("forward source % x", got[12:16])
	}
}

func TestRejectNoAlloc(t *testing.T) {
	p := mkTCP("198.51.100.7", "192.0.2.1", ipOpts{}, tcpOpts{flags: packet.TCPRst})
	a := compileTarget(t, parseTarget(t, "REJECT", "--reject-with tcp-reset", "filter", "INPUT", 6))
	c := &Ctx{Pkt: p, Hook: LocalIn, Emit: func([]byte) {}}
	if n := testing.AllocsPerRun(100, func() { a.Do(c) }); n != 0 {
		t.Errorf("%v allocations for a packet that gets no reply", n)
	}
}
