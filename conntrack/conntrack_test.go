package conntrack

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/packet"
)

const sec = int64(time.Second)

// track runs one forwarded packet through tb at now and confirms its
// connection; it returns the entry, the state and the direction.
func track(t testing.TB, tb *Table, now int64, b []byte) (*Entry, ext.CTState, bool) {
	t.Helper()
	e, st, reply := tb.Track(decode(t, append([]byte(nil), b...)), now)
	if e != nil && !tb.Confirm(e, now) {
		t.Fatalf("confirm failed")
	}
	return e, st, reply
}

func TestJhash2(t *testing.T) {
	// The addresses the kernel's find_best_ips_proto picked for
	// 192.0.2.10-192.0.2.40 from 203.0.113.1..24 to 198.51.100.1
	// (checked byte for byte by TestKernelNAT).
	want := []byte{18, 25, 28, 31, 38, 34, 26, 11, 18, 38, 23, 20, 27, 24, 17, 26, 33, 34, 31, 23, 37, 36, 27, 29}
	r := natRange{flags: ext.NATMapIPs, minAddr: addr4([4]byte{192, 0, 2, 10}), maxAddr: addr4([4]byte{192, 0, 2, 40})}
	for i, w := range want {
		tu := Tuple{Src: addr4([4]byte{203, 0, 113, byte(i + 1)}), Dst: addr4(fwOut.As4()), Proto: 6}
		bestIP(&tu, &r, manipDst)
		if tu.Dst != addr4([4]byte{192, 0, 2, w}) {
			t.Errorf("from 203.0.113.%d: %v, want 192.0.2.%d", i+1, tu.DstAddr(), w)
		}
	}
	// --persistent hashes without the destination.
	r.flags |= ext.NATPersistent
	a := Tuple{Src: addr4([4]byte{203, 0, 113, 1}), Dst: addr4([4]byte{198, 51, 100, 1}), Proto: 6}
	b := Tuple{Src: addr4([4]byte{203, 0, 113, 1}), Dst: addr4([4]byte{198, 51, 100, 2}), Proto: 6}
	bestIP(&a, &r, manipSrc)
	bestIP(&b, &r, manipSrc)
	if a.Src != b.Src {
		t.Errorf("persistent: %v and %v differ", a.SrcAddr(), b.SrcAddr())
	}
}

func TestTupleInvert(t *testing.T) {
	for _, tc := range []struct {
		in   Tuple
		want Tuple
		ok   bool
	}{
		{Tuple{Src: addr4([4]byte{1, 2, 3, 4}), Dst: addr4([4]byte{5, 6, 7, 8}), SrcPort: 1, DstPort: 2, Proto: 6},
			Tuple{Src: addr4([4]byte{5, 6, 7, 8}), Dst: addr4([4]byte{1, 2, 3, 4}), SrcPort: 2, DstPort: 1, Proto: 6}, true},
		{Tuple{Src: addr4([4]byte{1, 2, 3, 4}), Dst: addr4([4]byte{5, 6, 7, 8}), SrcPort: 9, DstPort: 8 << 8, Proto: 1},
			Tuple{Src: addr4([4]byte{5, 6, 7, 8}), Dst: addr4([4]byte{1, 2, 3, 4}), SrcPort: 9, DstPort: 0, Proto: 1}, true},
		{Tuple{SrcPort: 9, DstPort: 17<<8 | 3, Proto: 1}, Tuple{SrcPort: 9, DstPort: 18<<8 | 3, Proto: 1}, true},
		{Tuple{DstPort: 3 << 8, Proto: 1}, Tuple{}, false},
		{Tuple{DstPort: 200 << 8, Proto: 1}, Tuple{}, false},
		{Tuple{Src: addr4([4]byte{1}), Dst: addr4([4]byte{2}), Proto: 99}, Tuple{Src: addr4([4]byte{2}), Dst: addr4([4]byte{1}), Proto: 99}, true},
	} {
		got, ok := tc.in.Invert()
		if ok != tc.ok || got != tc.want {
			t.Errorf("%v.Invert() = %v %v, want %v %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestEntryString(t *testing.T) {
	tb := New(DefaultConfig())
	now := 5 * sec
	for _, tc := range []struct {
		pkt  []byte
		want string
	}{
		{tcpSegment(client, server, 1, 2, "S", 1, 0, 100, nil, 0),
			"tcp      6 120 SYN_SENT src=203.0.113.7 dst=192.0.2.50 sport=1 dport=2 [UNREPLIED] src=192.0.2.50 dst=203.0.113.7 sport=2 dport=1 mark=0 use=1"},
		{udpDatagram(client, server, 3, 4, 0),
			"udp      17 30 src=203.0.113.7 dst=192.0.2.50 sport=3 dport=4 [UNREPLIED] src=192.0.2.50 dst=203.0.113.7 sport=4 dport=3 mark=0 use=1"},
		{icmpMsg(client, server, 8, 0, 7, 1, nil),
			"icmp     1 30 src=203.0.113.7 dst=192.0.2.50 type=8 code=0 id=7 [UNREPLIED] src=192.0.2.50 dst=203.0.113.7 type=0 code=0 id=7 mark=0 use=1"},
		{rawIP(client, server, 132, 12),
			"sctp     132 600 src=203.0.113.7 dst=192.0.2.50 [UNREPLIED] src=192.0.2.50 dst=203.0.113.7 mark=0 use=1"},
	} {
		e, _, _ := track(t, tb, now, tc.pkt)
		if got := e.String(); got != tc.want {
			t.Errorf("got  %s\nwant %s", got, tc.want)
		}
	}
}

func TestReplyViewAndConn(t *testing.T) {
	tb := New(DefaultConfig())
	e, _, _ := track(t, tb, sec, udpDatagram(client, server, 5000, 53, 0))
	_, st, reply := track(t, tb, sec, udpDatagram(server, client, 53, 5000, 0))
	if st != ext.CTEstablished || !reply {
		t.Fatalf("reply: %v %v", st, reply)
	}
	orig, rep := e.Conn(false), e.Conn(true)
	if orig.Reply() || !rep.Reply() {
		t.Errorf("Reply(): orig %v, reply %v", orig.Reply(), rep.Reply())
	}
	rep.SetMark(42)
	if orig.Mark() != 42 || e.Mark() != 42 {
		t.Errorf("mark not shared")
	}
	if rep.(*ReplyView).Entry() != e {
		t.Errorf("ReplyView.Entry")
	}
	src, dst, sp, dp := rep.Tuple(1)
	if src != server || dst != client || sp != 53 || dp != 5000 {
		t.Errorf("reply tuple %v %v %d %d", src, dst, sp, dp)
	}
	if p, b := rep.(ext.AcctConn).Counters(1); p != 1 || b != 28 {
		t.Errorf("reply counters %d %d", p, b)
	}
	if rep.(ext.TableConn).ConnTable() != ext.ConnTable(tb) {
		t.Errorf("ConnTable")
	}
	if n := testing.AllocsPerRun(100, func() { _ = e.Conn(true) }); n != 0 {
		t.Errorf("Conn allocates %v", n)
	}
	if got := e.Expires(sec); got != 30*sec {
		t.Errorf("Expires = %d", got)
	}
}

func TestExpiry(t *testing.T) {
	tb := New(DefaultConfig())
	t0 := 100 * sec
	e, _, _ := track(t, tb, t0, udpDatagram(client, server, 5001, 53, 0))
	if tb.Len() != 1 || tb.Count() != 1 {
		t.Fatalf("len %d count %d", tb.Len(), tb.Count())
	}
	// Timeouts run in jiffies (HZ 250): 30 s = 7500 jiffies after the
	// jiffy of t0.
	if got, _ := tb.Lookup(e.OrigTuple(), t0+30*sec-4*int64(time.Millisecond)); got != e {
		t.Errorf("gone before its time")
	}
	if got, _ := tb.Lookup(e.OrigTuple(), t0+30*sec); got != nil {
		t.Errorf("still there at its timeout")
	}
	if tb.Count() != 0 || tb.Len() != 0 {
		t.Errorf("after expiry: count %d len %d", tb.Count(), tb.Len())
	}
	// A new packet makes a new connection.
	e2, st, _ := track(t, tb, t0+31*sec, udpDatagram(client, server, 5001, 53, 0))
	if st != ext.CTNew || e2 == e {
		t.Errorf("after expiry: %v", stateName(st, false))
	}
	// Expire removes what has timed out.
	for i := 0; i < 10; i++ {
		track(t, tb, t0+40*sec, udpDatagram(client, server, uint16(6000+i), 53, 0))
	}
	if n := tb.Expire(t0 + 75*sec); n != 11 {
		t.Errorf("Expire removed %d, want 11", n)
	}
	if tb.Count() != 0 {
		t.Errorf("count %d", tb.Count())
	}
}

func TestDiscard(t *testing.T) {
	tb := New(DefaultConfig())
	e, st, _ := tb.Track(decode(t, udpDatagram(client, server, 5002, 53, 0)), sec)
	if st != ext.CTNew || tb.Count() != 1 || tb.Len() != 0 {
		t.Fatalf("new: %v count %d len %d", st, tb.Count(), tb.Len())
	}
	tb.Discard(e)
	tb.Discard(e)
	if tb.Count() != 0 {
		t.Errorf("count %d after Discard", tb.Count())
	}
	if tb.Confirm(e, sec) {
		t.Errorf("Confirm of a discarded entry succeeded")
	}
	// The next packet is NEW again.
	if _, st, _ := tb.Track(decode(t, udpDatagram(client, server, 5002, 53, 0)), sec); st != ext.CTNew {
		t.Errorf("after discard: %v", st)
	}
}

func TestEarlyDrop(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Max = 4
	tb := New(cfg)
	now := 10 * sec
	// Two assured UDP flows (replied, then a packet after 2 s).
	for i := uint16(0); i < 2; i++ {
		track(t, tb, now, udpDatagram(client, server, 7000+i, 53, 0))
		track(t, tb, now, udpDatagram(server, client, 53, 7000+i, 0))
	}
	now += 3 * sec
	for i := uint16(0); i < 2; i++ {
		e, _, _ := track(t, tb, now, udpDatagram(client, server, 7000+i, 53, 0))
		if e.Status()&IPSAssured == 0 {
			t.Fatalf("flow %d not assured", i)
		}
	}
	// Two unreplied ones fill the table.
	u1, _, _ := track(t, tb, now, udpDatagram(client, server, 8000, 53, 0))
	now += sec
	u2, _, _ := track(t, tb, now, udpDatagram(client, server, 8001, 53, 0))
	// More new flows each push out the oldest unreplied one.
	n1, st, _ := track(t, tb, now, udpDatagram(client, server, 8002, 53, 0))
	if st != ext.CTNew || tb.Count() != 4 {
		t.Fatalf("third unreplied: %v, count %d", st, tb.Count())
	}
	if e, _ := tb.Lookup(u1.OrigTuple(), now); e != nil {
		t.Errorf("the oldest unreplied flow survived")
	}
	if e, _ := tb.Lookup(u2.OrigTuple(), now); e == nil {
		t.Errorf("a younger unreplied flow was dropped")
	}
	track(t, tb, now, udpDatagram(client, server, 8003, 53, 0))
	track(t, tb, now, udpDatagram(client, server, 8004, 53, 0))
	if e, _ := tb.Lookup(n1.OrigTuple(), now); e != nil {
		t.Errorf("early drop skipped an older flow")
	}
	// Assured flows survive; when only they are left, new flows are
	// dropped.
	tb2 := New(cfg)
	for i := uint16(0); i < 4; i++ {
		track(t, tb2, now, udpDatagram(client, server, 7000+i, 53, 0))
		track(t, tb2, now, udpDatagram(server, client, 53, 7000+i, 0))
		track(t, tb2, now+3*sec, udpDatagram(client, server, 7000+i, 53, 0))
	}
	if _, st, _ := tb2.Track(decode(t, udpDatagram(client, server, 9000, 53, 0)), now+3*sec); st != Drop {
		t.Errorf("full of assured flows: %v, want Drop", stateName(st, false))
	}
	if tb2.Count() != 4 || tb2.Len() != 4 {
		t.Errorf("count %d len %d", tb2.Count(), tb2.Len())
	}
	// Expired connections make room first.
	if _, st, _ := tb2.Track(decode(t, udpDatagram(client, server, 9000, 53, 0)), now+200*sec); st != ext.CTNew {
		t.Errorf("after the others expired: %v", stateName(st, false))
	}
}

func TestConnAlive(t *testing.T) {
	tb := New(DefaultConfig())
	now := sec
	for _, s := range handshake(44000) {
		track(t, tb, now, s.pkt)
	}
	ct := ext.ConnTuple{Src: client, Dst: server, SrcPort: 44000, DstPort: 22, Proto: 6}
	if !tb.ConnAlive(ct, 0) {
		t.Errorf("established connection not alive")
	}
	if tb.ConnAlive(ct, 1) {
		t.Errorf("alive in zone 1")
	}
	track(t, tb, now, cs(44000, "R", 1001, 0, 0, "").pkt)
	if tb.ConnAlive(ct, 0) {
		t.Errorf("closed connection still counts")
	}
}

func TestAttach(t *testing.T) {
	tb := New(DefaultConfig())
	e, _, reply := tb.Track(decode(t, tcpSegment(client, server, 1, 2, "S", 1, 0, 1, nil, 0)), sec)
	st, r := e.Attach(reply)
	if st != ext.CTRelated || !r {
		t.Errorf("Attach = %v %v", st, r)
	}
}

// TestNATRangePorts: SNAT to one address and three ports; the original
// port is kept when free, then the others are used, deterministically
// for a given seed.
func TestNATRangePorts(t *testing.T) {
	snat := &ext.NATRequest{Kind: ext.NATSrc, Range: ext.NATRange{Flags: ext.NATMapIPs | ext.NATProtoSpecified,
		MinAddr: fwOut, MaxAddr: fwOut, MinPort: 1000, MaxPort: 1002}}
	run := func(seed uint64) []uint16 {
		cfg := DefaultConfig()
		cfg.Seed = seed
		r := newRouter(t, cfg)
		r.pre = func(*packet.Packet) *ext.NATRequest { return nil }
		r.post = func(*packet.Packet, string) *ext.NATRequest { return snat }
		var ports []uint16
		for i, sport := range []uint16{1001, 1001, 1001, 1001} {
			src := netip.AddrFrom4([4]byte{192, 0, 2, byte(60 + i)})
			_, _, out := r.forward("wlan0", tcpSegment(src, client, sport, 80, "S", 1, 0, 100, nil, 0))
			if i == 3 {
				// The range is used up: the tuple clashes at Confirm
				// and the kernel drops the SYN.
				if out != nil {
					t.Errorf("fourth connection passed: %s", show(out))
				}
				if r.tb.Count() != 3 {
					t.Errorf("count %d", r.tb.Count())
				}
				break
			}
			p := decode(t, out)
			if !p.L4ChecksumOK() || !p.IPChecksumOK() || p.Src != fwOut {
				t.Fatalf("bad rewrite %s", show(out))
			}
			ports = append(ports, p.SrcPort)
		}
		return ports
	}
	a := run(1)
	if a[0] != 1001 {
		t.Errorf("first connection moved from a free port: %v", a)
	}
	seen := map[uint16]bool{}
	for _, p := range a[:3] {
		if p < 1000 || p > 1002 || seen[p] {
			t.Errorf("ports %v: want 1000-1002, distinct", a)
		}
		seen[p] = true
	}
	if b := run(1); fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("same seed, different ports: %v %v", a, b)
	}
}

func TestNATRedirectNetmapMasquerade(t *testing.T) {
	tb := New(DefaultConfig())
	now := sec
	// REDIRECT to port 8080 of the input interface's address.
	e, _, reply := tb.Track(decode(t, tcpSegment(client, server, 1234, 80, "S", 1, 0, 100, nil, 0)), now)
	redir := &ext.NATRequest{Kind: ext.NATDst, Redirect: true, Range: ext.NATRange{Flags: ext.NATProtoSpecified, MinPort: 8080, MaxPort: 8080}}
	if err := tb.SetupNAT(e, redir, netip.Addr{}); err != ErrNoAddress {
		t.Errorf("REDIRECT without address: %v", err)
	}
	if err := tb.SetupNAT(e, redir, fwOut); err != nil {
		t.Fatal(err)
	}
	if err := tb.SetupNAT(e, redir, fwOut); err != ErrNATSetUp {
		t.Errorf("second binding: %v", err)
	}
	p := decode(t, tcpSegment(client, server, 1234, 80, "S", 1, 0, 100, nil, 0))
	tb.Translate(e, reply, ext.NATDst, p)
	if p.Dst != fwOut || p.DstPort != 8080 || !p.L4ChecksumOK() || !p.IPChecksumOK() {
		t.Errorf("redirected to %s", show(p.Data))
	}
	if e.Status()&IPSDstNAT == 0 || !e.HasNAT(ext.NATDst) || e.HasNAT(ext.NATSrc) {
		t.Errorf("status %#x", e.Status())
	}
	tb.Confirm(e, now)
	if got := e.ReplyTuple(); got.SrcAddr() != fwOut || got.SrcPort != 8080 {
		t.Errorf("reply tuple %v", got)
	}
	// NETMAP keeps the host part.
	e, _, _ = tb.Track(decode(t, udpDatagram(client, netip.MustParseAddr("198.51.100.77"), 1, 2, 0)), now)
	nm := &ext.NATRequest{Kind: ext.NATDst, Netmap: true, Range: ext.NATRange{Flags: ext.NATMapIPs,
		MinAddr: netip.MustParseAddr("192.0.2.0"), MaxAddr: netip.MustParseAddr("192.0.2.255")}}
	if err := tb.SetupNAT(e, nm, netip.Addr{}); err != nil {
		t.Fatal(err)
	}
	if got := e.ReplyTuple().SrcAddr(); got != netip.MustParseAddr("192.0.2.77") {
		t.Errorf("netmap to %v", got)
	}
	// MASQUERADE of 0.0.0.0 binds nothing.
	e, _, _ = tb.Track(decode(t, udpDatagram(netip.IPv4Unspecified(), client, 68, 67, 0)), now)
	if err := tb.SetupNAT(e, &ext.NATRequest{Kind: ext.NATSrc, Masquerade: true}, fwOut); err != nil || e.HasNAT(ext.NATSrc) {
		t.Errorf("masquerade of 0.0.0.0: %v %v", err, e.HasNAT(ext.NATSrc))
	}
}

// TestNATEvictTimeWait: when every port of an SNAT range is taken by
// connections in TIME_WAIT, a new SYN with a later sequence number takes
// over one of them (nf_nat_used_tuple_harder).
func TestNATEvictTimeWait(t *testing.T) {
	snat := &ext.NATRequest{Kind: ext.NATSrc, Range: ext.NATRange{Flags: ext.NATMapIPs | ext.NATProtoSpecified,
		MinAddr: fwOut, MaxAddr: fwOut, MinPort: 2000, MaxPort: 2001}}
	r := newRouter(t, DefaultConfig())
	r.pre = func(*packet.Packet) *ext.NATRequest { return nil }
	r.post = func(p *packet.Packet, out string) *ext.NATRequest {
		if out == "eth0" {
			return snat
		}
		return nil
	}
	for i := 0; i < 2; i++ {
		src := netip.AddrFrom4([4]byte{192, 0, 2, byte(70 + i)})
		_, _, out := r.forward("wlan0", tcpSegment(src, client, 3000, 80, "S", 1000, 0, 100, nil, 0))
		port := decode(t, out).SrcPort
		r.forward("eth0", tcpSegment(client, fwOut, 80, port, "SA", 5000, 1001, 100, nil, 0))
		r.forward("wlan0", tcpSegment(src, client, 3000, 80, "FA", 1001, 5001, 100, nil, 0))
		r.forward("eth0", tcpSegment(client, fwOut, 80, port, "FA", 5001, 1002, 100, nil, 0))
		r.forward("wlan0", tcpSegment(src, client, 3000, 80, "A", 1002, 5002, 100, nil, 0))
	}
	if r.tb.Len() != 2 {
		t.Fatalf("len %d", r.tb.Len())
	}
	r.tb.Each(func(e *Entry) {
		if e.TCPState() != TCPTimeWait {
			t.Errorf("%s", e)
		}
	})
	_, _, out := r.forward("wlan0", tcpSegment(netip.MustParseAddr("192.0.2.72"), client, 3000, 80, "S", 900000, 0, 100, nil, 0))
	if p := decode(t, out); p.SrcPort != 2000 && p.SrcPort != 2001 {
		t.Errorf("third connection on port %d", p.SrcPort)
	}
	if r.tb.Len() != 2 {
		t.Errorf("len %d after eviction:\n%s", r.tb.Len(), join2(listing(r.tb)))
	}
}

// TestNullBindingClash: the null binding at POSTROUTING moves a
// connection's source port when its reply would collide (checked
// against the kernel by TestKernelNullBindingClash).
func TestNullBindingClash(t *testing.T) {
	r := newRouter(t, DefaultConfig())
	gatewayNAT(r)
	r.forward("wlan0", tcpSegment(server, client, 34000, 80, "S", 1, 0, 100, nil, 0))
	_, _, out := r.local(tcpSegment(fwOut, client, 34000, 80, "S", 1, 0, 100, nil, 0))
	p := decode(t, out)
	if p.SrcPort == 34000 || p.SrcPort < 1024 || !p.L4ChecksumOK() {
		t.Errorf("local SYN left as %s", show(out))
	}
	// Its reply comes back to the local connection, un-NATed.
	e, st, reply := r.tb.Track(decode(t, tcpSegment(client, fwOut, 80, p.SrcPort, "SA", 9, 2, 100, nil, 0)), r.now)
	if st != ext.CTEstablished || !reply || e.OrigTuple().SrcPort != 34000 || e.OrigTuple().SrcAddr() != fwOut {
		t.Errorf("reply found %v %v", e, stateName(st, reply))
	}
}

func TestICMPErrorTranslateDrops(t *testing.T) {
	r := newRouter(t, DefaultConfig())
	gatewayNAT(r)
	r.forward("wlan0", udpDatagram(server, client, 33001, 53, 20))
	bad := icmpError(client, fwOut, 3, 3, udpDatagram(fwOut, client, 33001, 53, 20), false)
	p := decode(t, bad)
	e, st, reply := r.tb.Track(p, r.now)
	if st != ext.CTRelated || !reply {
		t.Fatalf("error: %v", stateName(st, reply))
	}
	p.Data[20+2] ^= 1 // break the ICMP checksum after conntrack saw it
	if r.tb.Translate(e, reply, ext.NATDst, p) {
		t.Errorf("translated an ICMP error with a bad checksum")
	}
}

func TestTrackMalformed(t *testing.T) {
	tb := New(DefaultConfig())
	frag := udpDatagram(client, server, 1, 2, 20)
	frag[6], frag[7] = 0, 10 // fragment offset 80
	frag[10], frag[11] = 0, 0
	cs := packet.Checksum(frag[:20])
	frag[10], frag[11] = byte(cs>>8), byte(cs)
	for name, b := range map[string][]byte{
		"later fragment":  frag,
		"tcp 3 bytes":     rawIP(client, server, 6, 3),
		"udp 6 bytes":     rawIP(client, server, 17, 6),
		"icmp 4 bytes":    rawIP(client, server, 1, 4),
		"udplite 6 bytes": rawIP(client, server, 136, 6),
		"udplite 2 bytes": rawIP(client, server, 136, 2),
		"gre pptp non-ppp": ipPacket(client, server, 47,
			[]byte{0x20, 0x01, 0x08, 0x00, 0, 0, 0, 1}),
	} {
		if e, st, _ := tb.Track(decode(t, b), sec); e != nil || st != ext.CTInvalid {
			t.Errorf("%s: %v", name, stateName(st, false))
		}
	}
	if tb.Count() != 0 {
		t.Errorf("count %d", tb.Count())
	}
	// PPTP GRE is keyed by the call id.
	e, st, _ := tb.Track(decode(t, ipPacket(client, server, 47, []byte{0x20, 0x01, 0x88, 0x0b, 0, 0, 0x12, 0x34})), sec)
	if st != ext.CTNew || e.OrigTuple().DstPort != 0x1234 {
		t.Errorf("pptp gre: %v %v", stateName(st, false), e)
	}
}

// TestTrackLocalSkipsChecksum: packets the host sends are not checked,
// nor those whose checksum the kernel trusts.
func TestTrackLocalSkipsChecksum(t *testing.T) {
	tb := New(DefaultConfig())
	b := badChecksum(tcpSegment(fwOut, client, 1, 2, "S", 1, 0, 1, nil, 0))
	if _, st, _ := tb.TrackLocal(decode(t, b), sec); st != ext.CTNew {
		t.Errorf("local: %v", stateName(st, false))
	}
	if _, st, _ := tb.Track(decode(t, b), sec); st != ext.CTInvalid {
		t.Errorf("incoming: %v", stateName(st, false))
	}
	cfg := DefaultConfig()
	cfg.Checksum = false
	if _, st, _ := New(cfg).Track(decode(t, b), sec); st != ext.CTNew {
		t.Errorf("checksum off: %v", stateName(st, false))
	}
	// A checksum the kernel would not check (CHECKSUM_UNNECESSARY or
	// PARTIAL: L4Verified) is not checked.
	p := decode(t, badChecksum(tcpSegment(client, server, 3, 4, "S", 1, 0, 1, nil, 0)))
	p.L4Verified = true
	if _, st, _ := New(DefaultConfig()).Track(p, sec); st != ext.CTNew {
		t.Errorf("checksum trusted: %v", stateName(st, false))
	}
}

func TestLooseOffAndLiberal(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Loose = false
	states, _, _ := simulate(t, cfg, []step{cs(1, "A", 5, 5, 0, "")})
	if states[0] != "INVALID" {
		t.Errorf("loose off: %s", states[0])
	}
	cfg = DefaultConfig()
	cfg.Liberal = true
	states, _, _ = simulate(t, cfg, join(handshake(2), []step{cs(2, "PA", 1001+100000, 5001, 10, "")}))
	if states[3] != "ESTABLISHED" {
		t.Errorf("liberal: %s", states[3])
	}
}

// TestConcurrent hammers one table from many goroutines (run with
// -race): the same flows from several goroutines, and distinct ones.
func TestConcurrent(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Max = 500
	tb := New(cfg)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 400; i++ {
				now := int64(i) * sec / 10
				port := uint16(10000 + (i*7+g)%300)
				for _, b := range [][]byte{
					udpDatagram(client, server, port, 53, 0),
					udpDatagram(server, client, 53, port, 0),
					tcpSegment(client, server, port, 22, "S", 1000, 0, 100, nil, 0),
					tcpSegment(server, client, 22, port, "SA", 5000, 1001, 100, nil, 0),
					tcpSegment(client, server, port, 22, "A", 1001, 5001, 100, nil, 0),
				} {
					p := new(packet.Packet)
					p.Decode(b)
					e, st, reply := tb.Track(p, now)
					if e == nil {
						continue
					}
					_ = e.Conn(reply).Status()
					if st == ext.CTNew && !e.HasNAT(ext.NATSrc) {
						tb.SetupNullNAT(e, ext.NATSrc)
					}
					tb.Translate(e, reply, ext.NATSrc, p)
					if i%5 == 0 && st == ext.CTNew {
						tb.Discard(e)
					} else {
						tb.Confirm(e, now)
					}
				}
				if i%50 == 0 {
					tb.Len()
					tb.Expire(now)
				}
			}
		}(g)
	}
	wg.Wait()
	checkInvariants(t, tb)
}

// checkInvariants checks, on a quiescent table, that every map slot
// points at a live entry that owns the tuple, that Count is the number
// of confirmed live entries (nothing unconfirmed is outstanding) and
// stays within Max, and that the early-drop lists hold exactly the
// confirmed non-assured entries.
func checkInvariants(t testing.TB, tb *Table) {
	t.Helper()
	entries := map[*Entry]bool{}
	for i := range tb.shards {
		s := &tb.shards[i]
		for k, e := range s.m.all {
			if e.tuple[0] != k && e.tuple[1] != k {
				t.Fatalf("slot %v holds %v", k, e)
			}
			if shardIdx(k) != i {
				t.Fatalf("tuple %v in the wrong shard", k)
			}
			st := e.Status()
			if st&IPSConfirmed == 0 || st&IPSDying != 0 {
				t.Fatalf("slot %v holds a dead or unconfirmed entry %#x", k, st)
			}
			entries[e] = true
		}
	}
	if int(tb.count.Load()) != len(entries) {
		t.Fatalf("count %d, entries %d", tb.count.Load(), len(entries))
	}
	if len(entries) > tb.cfg.Max {
		t.Fatalf("%d entries over max %d", len(entries), tb.cfg.Max)
	}
	listed := 0
	for i := range tb.shards {
		for e := tb.shards[i].head; e != nil; e = e.next {
			if !entries[e] || e.Status()&IPSAssured != 0 || shardIdx(e.tuple[0]) != i {
				t.Fatalf("early-drop list holds %v (%#x)", e, e.Status())
			}
			listed++
		}
	}
	want := 0
	for e := range entries {
		if e.Status()&(IPSAssured|IPSNATClash) == 0 {
			want++
		}
	}
	if listed != want {
		t.Fatalf("early-drop lists hold %d, want %d", listed, want)
	}
}

// TestEstablishedNoAlloc: the established-flow path allocates nothing.
func TestEstablishedNoAlloc(t *testing.T) {
	tb := New(DefaultConfig())
	for _, s := range handshake(47000) {
		track(t, tb, sec, s.pkt)
	}
	b := tcpSegment(client, server, 47000, 22, "A", 1001, 5001, 8192, nil, 0)
	var p packet.Packet
	n := testing.AllocsPerRun(1000, func() {
		p.Decode(b)
		e, _, reply := tb.Track(&p, sec)
		_ = e.Conn(reply)
		tb.Translate(e, reply, ext.NATDst, &p)
		tb.Translate(e, reply, ext.NATSrc, &p)
		tb.Confirm(e, sec)
	})
	if n != 0 {
		t.Errorf("%v allocations per established packet", n)
	}
}

// TestEntrySize logs the memory an entry takes.
func TestEntrySize(t *testing.T) {
	t.Logf("Entry: %d bytes (struct); each confirmed entry also takes two slots of %d bytes in the table (either family)",
		unsafe.Sizeof(Entry{}), unsafe.Sizeof(slot{}))
	if unsafe.Sizeof(slot{}) != 16 {
		t.Errorf("a table slot is %d bytes, want 16 (four to a cache line)", unsafe.Sizeof(slot{}))
	}
	if unsafe.Sizeof(Entry{}) > 256 {
		t.Errorf("Entry grew to %d bytes", unsafe.Sizeof(Entry{}))
	}
}

func TestTCPStateString(t *testing.T) {
	var names []string
	for s := TCPNone; s <= TCPSynSent2; s++ {
		names = append(names, s.String())
	}
	if got := strings.Join(names, " "); got != "NONE SYN_SENT SYN_RECV ESTABLISHED FIN_WAIT CLOSE_WAIT LAST_ACK TIME_WAIT CLOSE SYN_SENT2" {
		t.Errorf("%s", got)
	}
}

// TestSetClosing: a REJECT's RST (nf_ct_set_closing) closes a confirmed
// TCP connection with the CLOSE timeout; an unconfirmed one is left
// alone, as is a UDP one.
func TestSetClosing(t *testing.T) {
	tb := New(Config{})
	now := 100 * sec
	e, _, _ := track(t, tb, now, tcpSegment(client, server, 40000, 80, "S", 1000, 0, 8192, nil, 0))
	track(t, tb, now, tcpSegment(server, client, 80, 40000, "SA", 5000, 1001, 8192, nil, 0))
	if got := e.TCPState(); got != TCPSynRecv {
		t.Fatalf("after SYN-ACK: %v", got)
	}
	e.SetClosing(now)
	if got := e.TCPState(); got != TCPClose {
		t.Errorf("after SetClosing: %v, want CLOSE", got)
	}
	if left := e.Expires(now); left != 10*sec {
		t.Errorf("timeout %d ns, want the CLOSE timeout of 10 s", left)
	}
	// Unconfirmed: nothing happens.
	u, _, _ := tb.Track(decode(t, tcpSegment(client, server, 40001, 80, "S", 1000, 0, 8192, nil, 0)), now)
	u.SetClosing(now)
	if got := u.TCPState(); got != TCPSynSent {
		t.Errorf("unconfirmed after SetClosing: %v, want SYN_SENT", got)
	}
}

// TestSyncTCP: a connection whose close the kernel carried takes the
// kernel's state back (TIME_WAIT, the CLOSE_INIT flag), so a SYN on its
// ports reopens it as the kernel would; without the sync the stale
// ESTABLISHED entry would not take the SYN as new.
func TestSyncTCP(t *testing.T) {
	tb := New(DefaultConfig())
	e, _, _ := track(t, tb, sec, tcpSegment(client, server, 40000, 80, "S", 1000, 0, 100, nil, 0))
	track(t, tb, sec, tcpSegment(server, client, 80, 40000, "SA", 5000, 1001, 100, nil, 0))
	track(t, tb, sec, tcpSegment(client, server, 40000, 80, "A", 1001, 5001, 100, nil, 0))
	if e.TCPState() != TCPEstablished {
		t.Fatalf("state %v", e.TCPState())
	}
	tb.SyncTCP(e, TCPTimeWait, [2]uint8{tcpFlagCloseInit | tcpFlagBeLiberal, 0}, tcpFlagBeLiberal, 100*time.Second, 2*sec)
	_, flags, _, _ := e.TCPInfo()
	if e.TCPState() != TCPTimeWait || flags[0] != tcpFlagCloseInit {
		t.Fatalf("after the sync: %v flags %#x (BE_LIBERAL is the kernel's, not ipsift's)", e.TCPState(), flags)
	}
	if left := e.Expires(2 * sec); left < 99*sec || left > 100*sec {
		t.Errorf("expires in %v, want the kernel's 100 s", time.Duration(left))
	}
	if _, st, _ := track(t, tb, 3*sec, tcpSegment(client, server, 40000, 80, "S", 9000, 0, 100, nil, 0)); st != ext.CTNew {
		t.Errorf("a SYN after TIME_WAIT: %v, want NEW (reopened)", stateName(st, false))
	}
}
