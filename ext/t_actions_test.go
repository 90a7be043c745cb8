package ext

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"

	"github.com/ipsift/ipsift/packet"
)

func TestNATActions(t *testing.T) {
	p := mkTCP("198.51.100.7", "192.0.2.1", ipOpts{}, tcpOpts{dport: 80, flags: packet.TCPSyn})
	for _, tc := range []struct {
		name, opts, table, chain string
		proto                    uint8
		want                     NATRequest
		print                    string
	}{
		{"DNAT", "--to-destination 203.0.113.5-203.0.113.9:8080-8090/8000 --random --persistent", "nat", "PREROUTING", 6,
			NATRequest{Kind: NATDst, Range: NATRange{Flags: NATMapIPs | NATProtoSpecified | NATProtoOffset | NATProtoRandom | NATPersistent,
				MinAddr: netip.MustParseAddr("203.0.113.5"), MaxAddr: netip.MustParseAddr("203.0.113.9"), MinPort: 8080, MaxPort: 8090, BasePort: 8000}},
			" to:203.0.113.5-203.0.113.9:8080-8090/8000 random persistent"},
		{"SNAT", "--to-source 203.0.113.5 --random-fully", "nat", "POSTROUTING", 0,
			NATRequest{Kind: NATSrc, Range: NATRange{Flags: NATMapIPs | NATProtoRandomFully,
				MinAddr: netip.MustParseAddr("203.0.113.5"), MaxAddr: netip.MustParseAddr("203.0.113.5")}},
			" to:203.0.113.5 random-fully"},
		{"MASQUERADE", "--to-ports 1024-2047", "nat", "POSTROUTING", 17,
			NATRequest{Kind: NATSrc, Masquerade: true, Range: NATRange{Flags: NATProtoSpecified, MinPort: 1024, MaxPort: 2047}},
			" masq ports: 1024-2047"},
		{"REDIRECT", "--to-ports 3128", "nat", "OUTPUT", 6,
			NATRequest{Kind: NATDst, Redirect: true, Range: NATRange{Flags: NATProtoSpecified, MinPort: 3128, MaxPort: 3128}},
			" redir ports 3128"},
	} {
		tg := parseTarget(t, tc.name, tc.opts, tc.table, tc.chain, tc.proto)
		if got := printTarget(tg, true); got != tc.print {
			t.Errorf("%s: print %q, want %q", tc.name, got, tc.print)
		}
		a := compileTarget(t, tg)
		c := &Ctx{Pkt: p}
		if v := a.Do(c); v != Accept {
			t.Errorf("%s: verdict %v", tc.name, v)
		}
		if c.NAT == nil || *c.NAT != tc.want {
			t.Errorf("%s: request %+v, want %+v", tc.name, c.NAT, tc.want)
		}
		if n := testing.AllocsPerRun(10, func() { a.Do(c) }); n != 0 {
			t.Errorf("%s: %v allocations", tc.name, n)
		}
	}
	// Where the kernel takes each, and the forms it refuses.
	for _, bad := range []struct{ name, opts, chain string }{
		{"DNAT", "--to-destination 1.1.1.1", "POSTROUTING"},
		{"SNAT", "--to-source 1.1.1.1", "PREROUTING"},
		{"MASQUERADE", "", "INPUT"},
		{"DNAT", "--to-destination [2001:db8::1]:80", "PREROUTING"},
		{"DNAT", "--to-destination 1.1.1.1:80:90", "PREROUTING"},
		{"DNAT", "--to-destination 1.1.1.1:90-80", "PREROUTING"},
		{"DNAT", "--to-destination host.example:80", "PREROUTING"},
	} {
		if _, err := newTarget(bad.name, bad.opts, "nat", bad.chain, 6); err == nil {
			t.Errorf("-j %s %s in %s: accepted", bad.name, bad.opts, bad.chain)
		}
	}
	// SNAT keeps the shifted flag but loses the base, like the kernel.
	tg := parseTarget(t, "SNAT", "--to-source 1.1.1.1:1000-2000/100", "nat", "POSTROUTING", 6)
	if got := saveTarget(tg); got != " --to-source 1.1.1.1:1000-2000/0" {
		t.Errorf("SNAT shifted: %q", got)
	}
}

func TestNetmap(t *testing.T) {
	tg := parseTarget(t, "NETMAP", "--to 10.9.0.0/16", "nat", "PREROUTING", 0)
	a := compileTarget(t, tg)
	c := &Ctx{Hook: PreRouting}
	a.Do(c)
	if c.NAT == nil || !c.NAT.Netmap || c.NAT.Kind != NATDst {
		t.Fatalf("request %+v", c.NAT)
	}
	if got := NetmapAddr(c.NAT.Range, netip.MustParseAddr("192.168.3.4")); got != netip.MustParseAddr("10.9.3.4") {
		t.Errorf("mapped to %v", got)
	}
	c.Hook = PostRouting
	a.Do(c)
	if c.NAT.Kind != NATSrc {
		t.Errorf("POSTROUTING maps sources")
	}
	for in, want := range map[string]string{"1.2.3.4": " --to 1.2.3.4/32", "1.2.3.4/255.255.255.0": " --to 1.2.3.0/24", "1.2.3.4/255.0.255.0": " --to 1.2.3.4/32"} {
		if got := saveTarget(parseTarget(t, "NETMAP", "--to "+in, "nat", "POSTROUTING", 0)); got != want {
			t.Errorf("%s: %q, want %q", in, got, want)
		}
	}
}

func TestMarkAction(t *testing.T) {
	for _, tc := range []struct {
		opts         string
		before, want uint32
		print        string
	}{
		{"--set-mark 0x10", 0xff00, 0x10, " MARK set 0x10"},
		{"--set-mark 0x10/0xf0", 0xffff, 0xff1f, " MARK xset 0x10/0xf0"},
		{"--set-xmark 0x1/0x3", 0x7, 0x5, " MARK xset 0x1/0x3"},
		{"--and-mark 0x0f", 0xff, 0x0f, " MARK and 0xf"},
		{"--or-mark 0x100", 0x1, 0x101, " MARK or 0x100"},
		{"--xor-mark 0x3", 0x1, 0x2, " MARK xor 0x3"},
	} {
		tg := parseTarget(t, "MARK", tc.opts, "mangle", "PREROUTING", 0)
		if got := printTarget(tg, true); got != tc.print {
			t.Errorf("%s: print %q, want %q", tc.opts, got, tc.print)
		}
		c := &Ctx{Mark: tc.before}
		if v := compileTarget(t, tg).Do(c); v != Continue || c.Mark != tc.want {
			t.Errorf("%s: mark %#x verdict %v, want %#x", tc.opts, c.Mark, v, tc.want)
		}
	}
	if _, err := newTarget("MARK", "--set-mark 1 --or-mark 2", "mangle", "PREROUTING", 0); err == nil {
		t.Error("two MARK operations accepted")
	}
}

type fakeConn struct {
	Conn
	mark uint32
}

func (f *fakeConn) Mark() uint32     { return f.mark }
func (f *fakeConn) SetMark(m uint32) { f.mark = m }

func TestConnmarkAction(t *testing.T) {
	for _, tc := range []struct {
		opts                 string
		nf, ct, wantNF, want uint32
		print                string
	}{
		{"--set-mark 0x5", 0, 0xf0, 0, 0x5, " CONNMARK set 0x5"},
		{"--save-mark", 0x7, 0xf0, 0x7, 0x7, " CONNMARK save"},
		{"--save-mark --mask 0x0f", 0x37, 0xf0, 0x37, 0xf7, " CONNMARK save mask 0xf"},
		{"--restore-mark --nfmask 0xff --ctmask 0x0f", 0x1ff, 0xab, 0x10b, 0xab, " CONNMARK restore ctmask 0xf nfmask ~0xff"},
		{"--restore-mark --left-shift-mark 4", 0, 0x3, 0x30, 0x3, " CONNMARK restore left-shift-mark 4"},
	} {
		tg := parseTarget(t, "CONNMARK", tc.opts, "mangle", "PREROUTING", 0)
		if got := printTarget(tg, true); got != tc.print {
			t.Errorf("%s: print %q, want %q", tc.opts, got, tc.print)
		}
		conn := &fakeConn{mark: tc.ct}
		c := &Ctx{Mark: tc.nf, Conn: conn}
		compileTarget(t, tg).Do(c)
		if c.Mark != tc.wantNF || conn.mark != tc.want {
			t.Errorf("%s: nfmark %#x ctmark %#x, want %#x %#x", tc.opts, c.Mark, conn.mark, tc.wantNF, tc.want)
		}
	}
	// No connection: nothing happens.
	c := &Ctx{Mark: 1}
	compileTarget(t, parseTarget(t, "CONNMARK", "--restore-mark", "mangle", "PREROUTING", 0)).Do(c)
	if c.Mark != 1 {
		t.Error("changed the mark without a connection")
	}
}

func TestNFQueueAction(t *testing.T) {
	a := compileTarget(t, parseTarget(t, "NFQUEUE", "--queue-num 7 --queue-bypass", "filter", "INPUT", 0))
	if v := a.Do(&Ctx{}); v.Kind() != Queue || v.QueueNum() != 7 {
		t.Errorf("verdict %#x", v)
	}
	if !a.(*NFQueueAction).Bypass() {
		t.Error("bypass lost")
	}
	a = compileTarget(t, parseTarget(t, "NFQUEUE", "--queue-balance 10:13", "filter", "INPUT", 0))
	fwd := mkTCP("198.51.100.7", "192.0.2.1", ipOpts{}, tcpOpts{sport: 1, dport: 2})
	rev := mkTCP("192.0.2.1", "198.51.100.7", ipOpts{}, tcpOpts{sport: 2, dport: 1})
	q1, q2 := a.Do(&Ctx{Pkt: fwd}), a.Do(&Ctx{Pkt: rev})
	if q1 != q2 || q1.QueueNum() < 10 || q1.QueueNum() > 13 {
		t.Errorf("queues %d %d: both directions must share one queue in 10-13", q1.QueueNum(), q2.QueueNum())
	}
	seen := map[uint16]bool{}
	for i := 0; i < 64; i++ {
		p := mkTCP("198.51.100.7", netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}).String(), ipOpts{}, tcpOpts{})
		seen[a.Do(&Ctx{Pkt: p}).QueueNum()] = true
	}
	if len(seen) < 3 {
		t.Errorf("64 flows went to only %d queues", len(seen))
	}
	// IPv6 (hash_v6): both directions share a queue too, and flows
	// spread.
	pkt6 := func(short string) *packet.Packet {
		d, err := packet.ParseShort(short)
		if err != nil {
			t.Fatal(err)
		}
		b, err := d.Build(0)
		if err != nil {
			t.Fatal(err)
		}
		var p packet.Packet
		if err := p.Decode(b); err != nil {
			t.Fatal(err)
		}
		return &p
	}
	q1 = a.Do(&Ctx{Pkt: pkt6("eth0 tcp [2001:db8:113::7]:1 > [2001:db8:100::1]:2 S")})
	q2 = a.Do(&Ctx{Pkt: pkt6("eth0 tcp [2001:db8:100::1]:2 > [2001:db8:113::7]:1 SA")})
	if q1 != q2 || q1.QueueNum() < 10 || q1.QueueNum() > 13 {
		t.Errorf("IPv6 queues %d %d: both directions must share one queue in 10-13", q1.QueueNum(), q2.QueueNum())
	}
	seen = map[uint16]bool{}
	for i := 0; i < 64; i++ {
		seen[a.Do(&Ctx{Pkt: pkt6(fmt.Sprintf("eth0 tcp [2001:db8:113::%x]:1 > [2001:db8:100::1]:2 S", i+1))}).QueueNum()] = true
	}
	if len(seen) < 3 {
		t.Errorf("64 IPv6 flows went to only %d queues", len(seen))
	}
}

func TestCTNotrack(t *testing.T) {
	for _, name := range []string{"NOTRACK", "CT"} {
		opts := ""
		if name == "CT" {
			opts = "--notrack"
		}
		tg := parseTarget(t, name, opts, "raw", "PREROUTING", 0)
		c := &Ctx{}
		if v := compileTarget(t, tg).Do(c); v != Continue || c.CT != CTUntracked {
			t.Errorf("%s: CT %#x verdict %v", name, c.CT, v)
		}
	}
	if got := printTarget(parseTarget(t, "NOTRACK", "", "raw", "OUTPUT", 0), true); got != " NOTRACK" {
		t.Errorf("NOTRACK print %q", got)
	}
	if _, err := newTarget("CT", "--notrack", "mangle", "PREROUTING", 0); err == nil {
		t.Error("CT outside raw accepted")
	}
	if _, err := newTarget("CT", "--helper ftp", "raw", "PREROUTING", 0); err == nil {
		t.Error("CT --helper without -p accepted")
	}
	tg := parseTarget(t, "CT", "--helper ftp --zone-orig mark", "raw", "PREROUTING", 6)
	if got := saveTarget(tg); got != " --helper ftp --zone-orig mark" {
		t.Errorf("save %q", got)
	}
	if _, err := tg.Compile(NewCompiler(nil)); err == nil {
		t.Error("CT --helper compiled; ipsift cannot apply it")
	}
}

func tcpOptMSS(p *packet.Packet) (uint16, bool) {
	th := p.Data[p.HdrLen:p.TotalLen]
	doff := int(th[12]>>4) * 4
	for i := 20; i+4 <= doff; {
		if th[i] == 2 && th[i+1] == 4 {
			return binary.BigEndian.Uint16(th[i+2:]), true
		}
		if th[i] <= 1 {
			i++
		} else {
			i += int(th[i+1])
		}
	}
	return 0, false
}

func checkTCPSums(t *testing.T, p *packet.Packet) {
	t.Helper()
	d := p.Data[:p.TotalLen]
	if Checksum(d[:p.HdrLen], 0) != 0 {
		t.Error("bad IP checksum")
	}
	if int(binary.BigEndian.Uint16(d[2:])) != p.TotalLen {
		t.Error("IP total length out of step")
	}
	if Checksum(d[p.HdrLen:], PseudoSum(p.Src, p.Dst, 6, len(d)-p.HdrLen)) != 0 {
		t.Error("bad TCP checksum")
	}
}

func TestTCPMSSTarget(t *testing.T) {
	set := compileTarget(t, parseTarget(t, "TCPMSS", "--set-mss 1400", "mangle", "FORWARD", 6))
	// Lowered in place.
	p := mkTCP("198.51.100.7", "192.0.2.1", ipOpts{}, tcpOpts{flags: packet.TCPSyn, opts: []byte{1, 1, 4, 2, 2, 4, 0x05, 0xb4}})
	if v := set.Do(&Ctx{Pkt: p}); v != Continue {
		t.Fatalf("verdict %v", v)
	}
	if m, _ := tcpOptMSS(p); m != 1400 {
		t.Errorf("mss %d", m)
	}
	checkTCPSums(t, p)
	// Never raised.
	p = mkTCP("198.51.100.7", "192.0.2.1", ipOpts{}, tcpOpts{flags: packet.TCPSyn, opts: []byte{2, 4, 0x02, 0x00}})
	set.Do(&Ctx{Pkt: p})
	if m, _ := tcpOptMSS(p); m != 512 {
		t.Errorf("raised to %d", m)
	}
	// Added (at most 536) when missing and no data follows.
	p = mkTCP("198.51.100.7", "192.0.2.1", ipOpts{}, tcpOpts{flags: packet.TCPSyn, opts: []byte{4, 2, 1, 1}})
	set.Do(&Ctx{Pkt: p})
	if m, ok := tcpOptMSS(p); !ok || m != 536 || p.TotalLen != 48 || p.TCPDoff != 28 {
		t.Errorf("added mss %d (%v), length %d, doff %d", m, ok, p.TotalLen, p.TCPDoff)
	}
	checkTCPSums(t, p)
	// Not added when data follows.
	p = mkTCP("198.51.100.7", "192.0.2.1", ipOpts{}, tcpOpts{flags: packet.TCPSyn, payload: []byte("x")})
	set.Do(&Ctx{Pkt: p})
	if _, ok := tcpOptMSS(p); ok {
		t.Error("added an MSS before data")
	}
	// Clamp: 1500 - 40 by default.
	clamp := compileTarget(t, parseTarget(t, "TCPMSS", "--clamp-mss-to-pmtu", "mangle", "POSTROUTING", 6))
	p = mkTCP("198.51.100.7", "192.0.2.1", ipOpts{}, tcpOpts{flags: packet.TCPSyn, opts: []byte{2, 4, 0xff, 0xff}})
	clamp.Do(&Ctx{Pkt: p})
	if m, _ := tcpOptMSS(p); m != 1460 {
		t.Errorf("clamped to %d", m)
	}
	if _, err := newTarget("TCPMSS", "--clamp-mss-to-pmtu", "mangle", "PREROUTING", 6); err == nil {
		t.Error("clamp in PREROUTING accepted")
	}
	if _, err := newTarget("TCPMSS", "--set-mss 1400", "mangle", "FORWARD", 17); err == nil {
		t.Error("TCPMSS without -p tcp accepted")
	}
	p = mkTCP("198.51.100.7", "192.0.2.1", ipOpts{}, tcpOpts{flags: packet.TCPSyn, opts: []byte{2, 4, 0x05, 0xb4}})
	c := &Ctx{Pkt: p}
	if n := testing.AllocsPerRun(10, func() { set.Do(c) }); n != 0 {
		t.Errorf("%v allocations", n)
	}
}
