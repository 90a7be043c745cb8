package engine_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/ipsift/ipsift/conntrack"
	"github.com/ipsift/ipsift/engine"
	"github.com/ipsift/ipsift/packet"
	"github.com/ipsift/ipsift/rules"
)

// The flow cache must not change anything but the work done: these
// tests run the same packets through two engines, the cache on in one
// and off in the other, and compare every packet's result (verdict,
// counters raised, packets out with their bytes, the packet as left,
// its mark, conntrack state and connection), then every counter and the
// conntrack tables.

// fcPacket is one packet of generated traffic.
type fcPacket struct {
	in    string
	data  []byte
	now   int64
	mark  uint32
	frame engine.FrameType
}

// fcPair is the two engines and their States.
type fcPair struct {
	on, off   *engine.Engine
	son, soff *engine.State
	cached    int // packets the cache served
	n         int
	// entries are the chains each State reported entered
	// (OnChainEntry), when watchEntries set it.
	entries [2][]string
}

// watchEntries makes both States report the chains they enter.
func (f *fcPair) watchEntries() {
	for i, s := range []*engine.State{f.son, f.soff} {
		s.OnChainEntry(func(six bool, table, chain string) {
			f.entries[i] = append(f.entries[i], table+"/"+chain)
		})
	}
}

func newFCPair(t testing.TB, text string) *fcPair {
	t.Helper()
	mk := func(on bool) *engine.Engine {
		rs := rules.New()
		if _, err := rs.Restore(strings.NewReader(text), rules.RestoreOptions{}); err != nil {
			t.Fatalf("rules: %v\n%s", err, text)
		}
		e, err := engine.New(rs, nil, engine.Config{FlowCache: on})
		if err != nil {
			t.Fatalf("compile: %v\n%s", err, text)
		}
		var log bytes.Buffer
		e.Log = &log
		return e
	}
	return &fcPair{on: mk(true), off: mk(false), son: engine.NewState(), soff: engine.NewState()}
}

// run processes p through both engines and fails at the first
// difference. It returns the connection the cache-less engine gave the
// packet (nil when none) and its direction.
func (f *fcPair) run(t testing.TB, p fcPacket) (*conntrack.Entry, bool) {
	t.Helper()
	a, b := bytes.Clone(p.data), bytes.Clone(p.data)
	f.on.Process(f.son, &engine.Input{Data: a, In: p.in, Now: p.now, Mark: p.mark, Frame: p.frame})
	f.off.Process(f.soff, &engine.Input{Data: b, In: p.in, Now: p.now, Mark: p.mark, Frame: p.frame})
	f.n++
	if f.son.FlowCached() {
		f.cached++
	}
	if f.soff.FlowCached() {
		t.Fatal("the engine without the flow cache used it")
	}
	d := resultDiff(f.son, f.soff)
	if d == "" && !slices.Equal(f.entries[0], f.entries[1]) {
		d = fmt.Sprintf("chains entered %v, want %v", f.entries[0], f.entries[1])
	}
	f.entries[0], f.entries[1] = f.entries[0][:0], f.entries[1][:0]
	if d != "" {
		var q packet.Packet
		q.Decode(p.data)
		t.Fatalf("packet %d (%s in %s, cached %v): %s", f.n, q.Summary(), p.in, f.son.FlowCached(), d)
	}
	return f.soff.Conn()
}

func resultDiff(a, b *engine.State) string {
	ra, rb := &a.Result, &b.Result
	switch {
	case ra.Verdict != rb.Verdict || ra.QueueNum != rb.QueueNum:
		return fmt.Sprintf("verdict %v/%d, want %v/%d", ra.Verdict, ra.QueueNum, rb.Verdict, rb.QueueNum)
	case !slices.Equal(ra.Hits, rb.Hits):
		return fmt.Sprintf("hits %v, want %v", ra.Hits, rb.Hits)
	case !slices.Equal(ra.ReplyHits, rb.ReplyHits):
		return fmt.Sprintf("reply hits %v, want %v", ra.ReplyHits, rb.ReplyHits)
	case ra.OutIface != rb.OutIface || ra.SelfDelivered != rb.SelfDelivered:
		return fmt.Sprintf("out %q/%d, want %q/%d", ra.OutIface, ra.SelfDelivered, rb.OutIface, rb.SelfDelivered)
	case len(ra.Out) != len(rb.Out):
		return fmt.Sprintf("%d packets out, want %d", len(ra.Out), len(rb.Out))
	case !bytes.Equal(a.PacketData(), b.PacketData()):
		return fmt.Sprintf("packet left as %x, want %x", a.PacketData(), b.PacketData())
	case a.Mark() != b.Mark() || a.CTState() != b.CTState():
		return fmt.Sprintf("mark %d ct %v, want %d %v", a.Mark(), a.CTState(), b.Mark(), b.CTState())
	}
	for i := range ra.Out {
		oa, ob := ra.Out[i], rb.Out[i]
		if oa.Iface != ob.Iface || oa.HostReply != ob.HostReply || oa.Answer != ob.Answer || !bytes.Equal(oa.Data, ob.Data) {
			return fmt.Sprintf("out %d: %s %x, want %s %x", i, oa.Iface, oa.Data, ob.Iface, ob.Data)
		}
	}
	ea, da := a.Conn()
	eb, db := b.Conn()
	if (ea == nil) != (eb == nil) || da != db || ea != nil && ea.String() != eb.String() {
		return fmt.Sprintf("connection %v %v, want %v %v", ea, da, eb, db)
	}
	return ""
}

// finalDiff compares the engines' counters and conntrack tables.
func (f *fcPair) finalDiff(t testing.TB, now int64) {
	t.Helper()
	if a, b := f.on.Program().Counters(), f.off.Program().Counters(); !slices.Equal(a, b) {
		t.Fatalf("counters differ:\n%v\nwant\n%v", a, b)
	}
	if a, b := ctDump(f.on, now), ctDump(f.off, now); !slices.Equal(a, b) {
		t.Fatalf("conntrack tables differ:\n%s\nwant\n%s", strings.Join(a, "\n"), strings.Join(b, "\n"))
	}
}

func ctDump(e *engine.Engine, now int64) []string {
	var out []string
	e.CT.Each(func(c *conntrack.Entry) {
		p0, b0 := c.Counters(0)
		p1, b1 := c.Counters(1)
		st, fl, sc, _ := c.TCPInfo()
		out = append(out, fmt.Sprintf("%s status=%#x mark=%d expires=%d tcp=%v/%v/%v acct=%d/%d,%d/%d",
			c.String(), c.Status(), c.Mark(), c.Expires(now), st, fl, sc, p0, b0, p1, b1))
	})
	slices.Sort(out)
	return out
}

// fcConn is one generated connection: TCP with consistent sequence
// numbers, or UDP.
type fcConn struct {
	udp            bool
	in             string // the original direction's interface
	src, dst       netip.AddrPort
	cseq, sseq     uint32
	replyIn        string
	rsrc, rdst     netip.AddrPort
	opened, closed bool
}

// fcTraffic makes n packets of conns connections between the inside
// (wlan0, 192.0.2.0/24) and the outside (eth0), some to port 2222 (the
// DNAT of gateway.rules) and some to the host, with data both ways,
// retransmissions, segments out of the window, closes and resets, TTL 1,
// other marks and frame types, and runs them through f.
func fcTraffic(t testing.TB, f *fcPair, rng *rand.Rand, conns, n int) {
	t.Helper()
	now := int64(1_700_000_000_000_000_000)
	var cs []*fcConn
	for i := range conns {
		c := &fcConn{udp: rng.IntN(5) == 0, cseq: rng.Uint32(), sseq: rng.Uint32()}
		port := uint16(1024 + i)
		switch rng.IntN(4) {
		case 0, 1: // inside out
			c.in = "wlan0"
			c.src = netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(10 + rng.IntN(5))}), port)
			c.dst = netip.AddrPortFrom(netip.AddrFrom4([4]byte{203, 0, 113, byte(1 + rng.IntN(3))}), []uint16{80, 443, 53, 25}[rng.IntN(4)])
		case 2: // outside in, through the DNAT
			c.in = "eth0"
			c.src = netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, 100, byte(7 + rng.IntN(3))}), port)
			c.dst = netip.AddrPortFrom(netip.MustParseAddr("198.51.100.1"), []uint16{2222, 80}[rng.IntN(2)])
		case 3: // to the host from the inside
			c.in = "wlan0"
			c.src = netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(10 + rng.IntN(5))}), port)
			c.dst = netip.AddrPortFrom(netip.MustParseAddr("192.0.2.1"), []uint16{22, 80}[rng.IntN(2)])
		}
		cs = append(cs, c)
	}
	proto := func(c *fcConn) string {
		if c.udp {
			return "udp"
		}
		return "tcp"
	}
	send := func(c *fcConn, reply bool, flags string, seq, ack uint32, length int, extra string) {
		in, src, dst := c.in, c.src, c.dst
		if reply {
			in, src, dst = c.replyIn, c.rsrc, c.rdst
		}
		line := fmt.Sprintf("%s %s %s > %s len=%d", in, proto(c), src, dst, length)
		if !c.udp {
			line += fmt.Sprintf(" %s seq=%d ack=%d", flags, seq, ack)
		}
		if extra != "" {
			line += " " + extra
		}
		d, err := packet.ParseShort(line)
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		data, err := d.Build(0)
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		now += int64(rng.IntN(3_000_000))
		p := fcPacket{in: in, data: data, now: now}
		if rng.IntN(40) == 0 {
			p.mark = 1
		}
		if rng.IntN(40) == 0 {
			p.frame = engine.FrameOtherHost
		}
		ent, _ := f.run(t, p)
		if fcTrafficHook != nil {
			fcTrafficHook(p)
		}
		if !c.opened && ent != nil && !reply {
			c.opened = true
			rt := ent.ReplyTuple()
			r0, r1, rp0, rp1 := tupleAddrs(rt)
			c.rsrc, c.rdst = netip.AddrPortFrom(r0, rp0), netip.AddrPortFrom(r1, rp1)
			c.replyIn = "eth0"
			if r0.As4()[0] == 192 {
				c.replyIn = "wlan0"
			}
		}
	}
	for range n {
		c := cs[rng.IntN(len(cs))]
		if c.closed {
			continue
		}
		if !c.opened {
			send(c, false, "S", c.cseq, 0, 0, "")
			c.cseq++
			continue
		}
		r := rng.IntN(100)
		switch {
		case r < 4 && !c.udp: // the answer to the SYN (again)
			send(c, true, "SA", c.sseq, c.cseq, 0, "")
			if r < 2 {
				c.sseq++
			}
		case r < 45:
			l := rng.IntN(1200)
			send(c, false, "A", c.cseq, c.sseq, l, "")
			c.cseq += uint32(l)
		case r < 85:
			l := rng.IntN(1200)
			send(c, true, "PA", c.sseq, c.cseq, l, "")
			c.sseq += uint32(l)
		case r < 88: // retransmitted
			send(c, false, "A", c.cseq-100, c.sseq, 100, "")
		case r < 91: // far out of the window
			send(c, rng.IntN(2) == 0, "A", c.cseq+1<<30, c.sseq+1<<30, 10, "")
		case r < 93:
			send(c, false, "A", c.cseq, c.sseq, 10, "ttl=1")
			c.cseq += 10
		case r < 95:
			send(c, rng.IntN(2) == 0, "U", c.cseq, c.sseq, 0, "")
		case r < 97 && !c.udp:
			send(c, false, "FA", c.cseq, c.sseq, 0, "")
			c.cseq++
		case r < 98 && !c.udp:
			send(c, true, "R", c.sseq, 0, 0, "")
			c.closed = rng.IntN(2) == 0
		default:
			send(c, false, "A", c.cseq, c.sseq, 0, "")
		}
	}
	f.finalDiff(t, now)
}

var fcTrafficHook func(fcPacket)

func tupleAddrs(t conntrack.Tuple) (src, dst netip.Addr, sport, dport uint16) {
	return netip.AddrFrom4([4]byte(t.Src[:4])), netip.AddrFrom4([4]byte(t.Dst[:4])), t.SrcPort, t.DstPort
}

// gatewayText is examples/gateway.rules.
func gatewayText(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile("../examples/gateway.rules")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestFlowCacheGateway: gateway.rules, generated traffic, the cache on
// and off give the same; most of its established packets run cached.
func TestFlowCacheGateway(t *testing.T) {
	for seed := range uint64(4) {
		f := newFCPair(t, gatewayText(t))
		fcTraffic(t, f, rand.New(rand.NewPCG(seed, 1)), 15, 4000)
		if f.cached < f.n/10 {
			t.Errorf("seed %d: %d of %d packets ran cached, want a tenth at least", seed, f.cached, f.n)
		}
	}
}

// fcSingle runs one forwarded connection (handshake, then data both
// ways) through rules and reports how many of its packets ran cached.
func fcSingle(t *testing.T, text string, extra string) int {
	t.Helper()
	f := newFCPair(t, text)
	now := int64(1_700_000_000_000_000_000)
	lines := []string{
		"wlan0 tcp 192.0.2.10:40000 > 203.0.113.5:80 S seq=1000",
		"eth0 tcp 203.0.113.5:80 > 198.51.100.1:40000 SA seq=5000 ack=1001",
	}
	seq, ack := uint32(1001), uint32(5001)
	for i := range 20 {
		lines = append(lines, fmt.Sprintf("wlan0 tcp 192.0.2.10:40000 > 203.0.113.5:80 A seq=%d ack=%d len=%d %s", seq, ack, 100+i, extra))
		seq += uint32(100 + i)
		lines = append(lines, fmt.Sprintf("eth0 tcp 203.0.113.5:80 > 198.51.100.1:40000 PA seq=%d ack=%d len=%d %s", ack, seq, 50+i, extra))
		ack += uint32(50 + i)
	}
	for i, l := range lines {
		d, err := packet.ParseShort(l)
		if err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		data, err := d.Build(i)
		if err != nil {
			t.Fatal(err)
		}
		f.run(t, fcPacket{in: d.In, data: data, now: now + int64(i)*50_000_000})
	}
	f.finalDiff(t, now+int64(len(lines))*50_000_000)
	return f.cached
}

const fcNAT = `*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A POSTROUTING -o eth0 -j MASQUERADE
COMMIT
`

// TestFlowCacheFallsBack: a rule on the established path whose outcome
// or effect is not fixed for the connection keeps its packets off the
// cache (each walks the tables); the same path without it is cached.
func TestFlowCacheFallsBack(t *testing.T) {
	filter := func(before string) string {
		return fcNAT + "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n:side - [0:0]\n" +
			before + "-A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\n" +
			"-A FORWARD -i wlan0 -o eth0 -m conntrack --ctstate NEW -j ACCEPT\nCOMMIT\n"
	}
	mangle := func(rule string) string {
		return "*mangle\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n" + rule + "COMMIT\n"
	}
	for _, c := range []struct {
		name, rules string
		cached      bool
	}{
		{"the established rule alone", filter(""), true},
		{"a user chain that returns", filter("-A FORWARD -s 192.0.2.0/24 -j side\n-A side -p tcp --dport 80 -j RETURN\n"), true},
		{"ports and interfaces", filter("-A FORWARD -i eth0 -p tcp -m multiport --sports 1:79 -j DROP\n"), true},
		{"ctstatus", filter("-A FORWARD -m conntrack --ctstatus ASSURED -j ACCEPT\n"), true},
		{"a flags test on SYN alone", filter("-A FORWARD -p tcp --tcp-flags SYN SYN -j DROP\n"), true},
		{"raw table walked before", "*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A PREROUTING -m length --length 0:60 -j ACCEPT\nCOMMIT\n" + filter(""), true},
		{"packet length", filter("-A FORWARD -m length --length 0:120 -j ACCEPT\n"), false},
		{"flags that vary", filter("-A FORWARD -p tcp --tcp-flags PSH PSH -j ACCEPT\n"), false},
		{"limit", filter("-A FORWARD -m limit --limit 1000/sec -j ACCEPT\n"), false},
		{"LOG", filter("-A FORWARD -j LOG --log-prefix x\n"), false},
		{"packet mark", filter("-A FORWARD -m mark --mark 1 -j DROP\n"), false},
		{"MARK in mangle", mangle("-A FORWARD -j MARK --set-mark 3\n") + filter(""), false},
		{"connmark with CONNMARK", mangle("-A PREROUTING -j CONNMARK --set-mark 3\n") + filter("-A FORWARD -m connmark --mark 3 -j ACCEPT\n"), false},
		{"connmark", filter("-A FORWARD -m connmark --mark 3 -j DROP\n"), true},
		{"recent", filter("-A FORWARD -m recent --name r --set\n"), false},
		{"recent check", filter("-A FORWARD -m recent --name r --rcheck --seconds 60 -j DROP\n"), false},
		{"ttl", filter("-A FORWARD -m ttl --ttl-gt 10 -j ACCEPT\n"), false},
		{"nth", filter("-A FORWARD -m statistic --mode nth --every 3 --packet 0 -j ACCEPT\n"), false},
		{"random", filter("-A FORWARD -m statistic --mode random --probability 0.5 -j ACCEPT\n"), false},
		{"ctexpire", filter("-A FORWARD -m conntrack --ctexpire 0:100 -j ACCEPT\n"), false},
		{"connbytes", filter("-A FORWARD -m connbytes --connbytes 0:2000 --connbytes-dir both --connbytes-mode bytes -j ACCEPT\n"), false},
		{"tos", filter("-A FORWARD -m tos --tos 0x10 -j DROP\n"), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			n := fcSingle(t, c.rules, "")
			if c.cached && n < 30 || !c.cached && n != 0 {
				t.Errorf("%d packets ran cached, want cached %v", n, c.cached)
			}
		})
	}
}

// fcVocabulary are rules the random rulesets draw from: fixed matches,
// matches that read the packet or history, targets with effects,
// jumps, NAT. {C} is a user chain's name.
var fcVocabulary = []string{
	"-m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
	"-m state --state ESTABLISHED -j ACCEPT",
	"-m conntrack --ctstate NEW -j ACCEPT",
	"-m conntrack --ctstate INVALID -j DROP",
	"-m conntrack --ctstatus ASSURED -j ACCEPT",
	"-m conntrack --ctstatus SEEN_REPLY -j RETURN",
	"-m conntrack --ctdir REPLY -j ACCEPT",
	"-m conntrack --ctstate DNAT -j ACCEPT",
	"-m conntrack --ctorigdstport 2222 -j ACCEPT",
	"-m conntrack --ctexpire 0:300 -j ACCEPT",
	"-i eth0 -o wlan0 -j ACCEPT",
	"-i wlan0 -j {C}",
	"-o eth0 -g {C}",
	"-s 192.0.2.0/28 -j {C}",
	"-d 203.0.113.2 -j DROP",
	"-p tcp --dport 443 -j REJECT",
	"-p tcp --dport 25 -j REJECT --reject-with tcp-reset",
	"-p udp --dport 53 -j ACCEPT",
	"-p udp -j RETURN",
	"-p tcp -m multiport --ports 80,443,22 -j ACCEPT",
	"-p tcp --tcp-flags SYN,RST,FIN SYN -j ACCEPT",
	"-p tcp --tcp-flags ACK,PSH PSH -j ACCEPT",
	"-p tcp --tcp-flags SYN SYN -j {C}",
	"-p tcp --tcp-flags FIN FIN -j DROP",
	"-m limit --limit 200/sec -j ACCEPT",
	"-m limit --limit 2/sec --limit-burst 3 -j RETURN",
	"-j LOG --log-prefix fc",
	"-m length --length 0:200 -j ACCEPT",
	"-m length --length 1000:1500 -j DROP",
	"-m mark --mark 1 -j DROP",
	"-m connmark --mark 5 -j ACCEPT",
	"-m recent --name fc --set",
	"-m recent --name fc --rcheck --seconds 1 --hitcount 5 -j DROP",
	"-m statistic --mode nth --every 7 --packet 0 -j DROP",
	"-m ttl --ttl-lt 5 -j DROP",
	"-m addrtype --dst-type LOCAL -j ACCEPT",
	"-m pkttype --pkt-type unicast -j RETURN",
	"-m comment --comment fc -j ACCEPT",
	"-m iprange --src-range 192.0.2.10-192.0.2.12 -j ACCEPT",
	"-m connbytes --connbytes 0:3000 --connbytes-dir both --connbytes-mode bytes -j ACCEPT",
	"",
	"-j RETURN",
	"-j ACCEPT",
	"-j DROP",
}

var fcMangle = []string{
	"-j MARK --set-mark 5",
	"-m mark --mark 1 -j ACCEPT",
	"-j CONNMARK --set-mark 5",
	"-j CONNMARK --restore-mark",
	"-p tcp -m tcp --dport 80 -j ACCEPT",
	"-m conntrack --ctstate ESTABLISHED -j RETURN",
	"-j TTL --ttl-inc 1",
	"",
}

var fcRaw = []string{
	"-p udp --dport 53 -j NOTRACK",
	"-m length --length 0:40 -j ACCEPT",
	"-i eth0 -p tcp --dport 25 -j DROP",
	"-m mark --mark 1 -j ACCEPT",
	"",
}

// randomFCRules makes a ruleset: raw, mangle, nat (gateway's DNAT and
// MASQUERADE, sometimes more) and filter tables with random rules.
func randomFCRules(rng *rand.Rand) string {
	var b strings.Builder
	pick := func(v []string) string { return v[rng.IntN(len(v))] }
	policy := func() string {
		if rng.IntN(3) == 0 {
			return "DROP"
		}
		return "ACCEPT"
	}
	if rng.IntN(2) == 0 {
		b.WriteString("*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n")
		for range rng.IntN(3) {
			b.WriteString("-A PREROUTING " + pick(fcRaw) + "\n")
		}
		b.WriteString("COMMIT\n")
	}
	if rng.IntN(2) == 0 {
		b.WriteString("*mangle\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n")
		for _, c := range []string{"PREROUTING", "FORWARD", "POSTROUTING", "INPUT"} {
			for range rng.IntN(3) {
				b.WriteString("-A " + c + " " + pick(fcMangle) + "\n")
			}
		}
		b.WriteString("COMMIT\n")
	}
	b.WriteString(`*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -i eth0 -p tcp -m tcp --dport 2222 -j DNAT --to-destination 192.0.2.50:22
-A PREROUTING -i eth0 -p tcp -m tcp --dport 80 -j DNAT --to-destination 192.0.2.10
-A POSTROUTING -o eth0 -j MASQUERADE
`)
	if rng.IntN(3) == 0 {
		b.WriteString("-A INPUT -p tcp --dport 22 -j SNAT --to-source 192.0.2.1\n")
	}
	b.WriteString("COMMIT\n*filter\n:INPUT " + policy() + " [0:0]\n:FORWARD " + policy() + " [0:0]\n:OUTPUT ACCEPT [0:0]\n:fc - [0:0]\n")
	for _, c := range []string{"INPUT", "FORWARD", "fc"} {
		for range rng.IntN(6) {
			r := pick(fcVocabulary)
			for c != "FORWARD" && strings.Contains(r, "-o ") {
				r = pick(fcVocabulary)
			}
			if c == "fc" {
				r = strings.ReplaceAll(strings.ReplaceAll(r, "-g {C}", "-j ACCEPT"), "{C}", "ACCEPT")
			}
			b.WriteString(strings.TrimSpace("-A "+c+" "+strings.ReplaceAll(r, "{C}", "fc")) + "\n")
		}
	}
	b.WriteString("COMMIT\n")
	return b.String()
}

// TestFlowCacheRandomRules: random rulesets and traffic, the cache on
// and off give the same.
func TestFlowCacheRandomRules(t *testing.T) {
	n := 150
	if testing.Short() {
		n = 30
	}
	cached, total := 0, 0
	for seed := range uint64(n) {
		rng := rand.New(rand.NewPCG(seed, 7))
		text := randomFCRules(rng)
		f := newFCPair(t, text)
		if seed%2 == 1 {
			f.watchEntries()
		}
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			defer func() {
				if t.Failed() {
					t.Log(text)
				}
			}()
			fcTraffic(t, f, rng, 1+rng.IntN(30), 1500)
		})
		cached, total = cached+f.cached, total+f.n
	}
	t.Logf("%d of %d packets ran cached", cached, total)
	if cached < total/20 {
		t.Errorf("only %d of %d packets ran cached", cached, total)
	}
}

// FuzzFlowCache: a ruleset and traffic from the fuzzer's seed.
func FuzzFlowCache(f *testing.F) {
	f.Add(uint64(1), uint64(2))
	f.Fuzz(func(t *testing.T, a, b uint64) {
		rng := rand.New(rand.NewPCG(a, b))
		text := randomFCRules(rng)
		p := newFCPair(t, text)
		fcTraffic(t, p, rng, 1+rng.IntN(20), 600)
	})
}
