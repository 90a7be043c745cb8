package replay

import (
	"bytes"
	"encoding/binary"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/ipsift/ipsift/capture"
	"github.com/ipsift/ipsift/engine"
	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/load"
	"github.com/ipsift/ipsift/packet"
	"github.com/ipsift/ipsift/rules"
	"github.com/ipsift/ipsift/sim"
)

func gateway(t testing.TB) *rules.Ruleset {
	t.Helper()
	res, err := load.File("../examples/gateway.rules", load.Options{})
	if err != nil || res.Diags.HasErrors() {
		t.Fatal(err, res.Diags)
	}
	return res.Rules
}

func newEngine(t testing.TB, rs *rules.Ruleset) *engine.Engine {
	t.Helper()
	e, err := engine.New(rs.Clone(), nil, engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// traffic is a forwarded connection (handshake, data both ways, a
// retransmitted data segment), a dropped SYN to the host twice, an echo
// request, a connection first seen mid-stream, and an ICMP error.
var traffic = []string{
	"wlan0 tcp 192.0.2.10:40000 > 203.0.113.5:80 S seq=1000",
	"eth0 tcp 203.0.113.5:80 > 198.51.100.1:40000 SA seq=5000 ack=1001",
	"wlan0 tcp 192.0.2.10:40000 > 203.0.113.5:80 A seq=1001 ack=5001",
	"wlan0 tcp 192.0.2.10:40000 > 203.0.113.5:80 PA seq=1001 ack=5001 len=100",
	"eth0 tcp 203.0.113.5:80 > 198.51.100.1:40000 PA seq=5001 ack=1101 len=1000",
	"eth0 tcp 198.51.100.9:5555 > 198.51.100.1:23 S seq=1",
	"eth0 tcp 198.51.100.9:5555 > 198.51.100.1:23 S seq=1",
	"eth0 icmp 203.0.113.9 > 198.51.100.1 type=8",
	"eth0 tcp 203.0.113.6:443 > 198.51.100.1:41000 A seq=7 ack=9",
	"wlan0 udp 192.0.2.11:5353 > 203.0.113.53:53 len=30",
	"eth0 udp 203.0.113.53:53 > 198.51.100.1:5353 len=80",
}

type pkt struct {
	in   string
	data []byte
	t    int64
}

func build(t testing.TB, lines []string) []pkt {
	var out []pkt
	for i, l := range lines {
		d, err := packet.ParseShort(l)
		if err != nil {
			t.Fatal(err)
		}
		b, err := d.Build(i)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, pkt{d.In, b, 1_700_000_000_000_000_000 + int64(i)*10_000_000})
	}
	return out
}

// simCounters runs the packets straight through the engine, as sim does.
func simCounters(t testing.TB, rs *rules.Ruleset, lines []string) []engine.Counter {
	e := newEngine(t, rs)
	s := sim.New(e)
	for i, l := range lines {
		d, _ := packet.ParseShort(l)
		d.DelayMS = 10
		if _, err := s.Run(i, d); err != nil {
			t.Fatal(err)
		}
	}
	return e.Program().Counters()
}

func ethFrame(dst, src [6]byte, vlan int, ip []byte) []byte {
	b := append(dst[:], src[:]...)
	if vlan >= 0 {
		b = append(b, 0x81, 0, byte(vlan>>8), byte(vlan))
	}
	return append(append(b, 8, 0), ip...)
}

var (
	macEth0  = [6]byte{2, 0, 0, 0, 0, 1}
	macWlan0 = [6]byte{2, 0, 0, 0, 0, 2}
	peerEth0 = [6]byte{2, 0, 0, 0, 1, 1}
	peerWlan = [6]byte{2, 0, 0, 0, 2, 1}
)

func sll2Frame(ifindex uint32, pktType uint8, src [6]byte, ip []byte) []byte {
	b := []byte{8, 0, 0, 0}
	b = binary.BigEndian.AppendUint32(b, ifindex)
	b = append(b, 0, 1, pktType, 6)
	b = append(b, src[:]...)
	b = append(b, 0, 0)
	return append(b, ip...)
}

func runReplay(t testing.TB, rs *rules.Ruleset, file []byte, o Options) (*Report, *engine.Engine) {
	t.Helper()
	if o.Write == nil && !o.NoFlowCache {
		// Every test's capture runs with the flow cache on and off too:
		// the same report, flows, annotated packets, counters and
		// conntrack table (flowcache_test.go).
		sameWithoutFlowCache(t, rs, file, o)
	}
	return runReplayOnce(t, rs, file, o)
}

func runReplayOnce(t testing.TB, rs *rules.Ruleset, file []byte, o Options) (*Report, *engine.Engine) {
	t.Helper()
	e := newEngine(t, rs)
	rd, err := capture.NewReader(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	r := New(e, o)
	if err := r.Run(rd); err != nil {
		t.Fatal(err)
	}
	return r.Report(), e
}

func sameCounters(t *testing.T, gotAll []RuleCount, want []engine.Counter) {
	t.Helper()
	var got []engine.Counter
	for _, c := range gotAll {
		if !c.IPv6 {
			got = append(got, engine.Counter{Table: c.Table, Chain: c.Chain, Rule: c.Rule, Packets: c.Packets, Bytes: c.Bytes})
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%d counters, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("counter %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}

// Replaying a capture gives the counters of running its arriving packets
// through the engine directly, whatever the capture's format, and
// departing packets, other hosts' frames and ARP change nothing.
func TestReplayEqualsSimulation(t *testing.T) {
	rs := gateway(t)
	want := simCounters(t, rs, traffic)
	pkts := build(t, traffic)

	t.Run("pcapng Ethernet, direction from flags, interfaces by name", func(t *testing.T) {
		var buf bytes.Buffer
		w, _ := capture.NewNGWriter(&buf)
		eth0, _ := w.AddInterface("eth0", capture.LinkEthernet, 65535)
		wlan0, _ := w.AddInterface("wlan0", capture.LinkEthernet, 65535)
		for _, p := range pkts {
			ifc, peer, mac := eth0, peerEth0, macEth0
			if p.in == "wlan0" {
				ifc, peer, mac = wlan0, peerWlan, macWlan0
			}
			w.WritePacket(ifc, p.t, ethFrame(mac, peer, -1, p.data), 0, capture.DirIn, "")
			// what left: an observation, never an input
			w.WritePacket(ifc, p.t+1, ethFrame(peer, mac, -1, p.data), 0, capture.DirOut, "")
		}
		w.WritePacket(eth0, pkts[len(pkts)-1].t+2, ethFrame(macEth0, peerEth0, -1, []byte{0, 1, 8, 0})[:14], 0, capture.DirIn, "")
		w.Flush()
		rep, _ := runReplay(t, rs, fixEther(buf.Bytes()), Options{})
		sameCounters(t, rep.Counters, want)
		if rep.Replayed.Packets != uint64(len(pkts)) || skipCount(rep, "departing") != uint64(len(pkts)) {
			t.Errorf("replayed %d, skipped %+v", rep.Replayed.Packets, rep.Skipped)
		}
	})

	t.Run("pcap SLL2 with --ifindex", func(t *testing.T) {
		var buf bytes.Buffer
		w, _ := capture.NewPcapWriter(&buf, capture.LinkSLL2, 65535)
		for _, p := range pkts {
			idx := uint32(2)
			if p.in == "wlan0" {
				idx = 3
			}
			w.WritePacket(p.t, sll2Frame(idx, capture.PktHost, peerEth0, p.data), 0)
			w.WritePacket(p.t, sll2Frame(idx, capture.PktOutgoing, macEth0, p.data), 0)
		}
		w.Flush()
		rep, _ := runReplay(t, rs, buf.Bytes(), Options{})
		if skipCount(rep, "index 2 has no name") != uint64(countIn(pkts, "eth0")) {
			t.Fatalf("without --ifindex: %+v", rep.Skipped)
		}
		if s := findSkip(rep, "index 2"); s == nil || s.Fix != "--ifindex 2=NAME" {
			t.Errorf("skip %+v", s)
		}
		rep, _ = runReplay(t, rs, buf.Bytes(), Options{IfIndex: map[uint32]string{2: "eth0", 3: "wlan0"}})
		sameCounters(t, rep.Counters, want)
	})

	t.Run("raw IP needs --direction and --in", func(t *testing.T) {
		var buf bytes.Buffer
		w, _ := capture.NewPcapWriter(&buf, capture.LinkRaw, 65535)
		for _, p := range pkts {
			if p.in == "eth0" {
				w.WritePacket(p.t, p.data, 0)
			}
		}
		w.Flush()
		rep, _ := runReplay(t, rs, buf.Bytes(), Options{})
		s := findSkip(rep, "direction unknown")
		if rep.Replayed.Packets != 0 || s == nil || s.Packets != uint64(countIn(pkts, "eth0")) || !strings.Contains(s.Fix, "--direction in") {
			t.Fatalf("%+v", rep.Skipped)
		}
		rep, _ = runReplay(t, rs, buf.Bytes(), Options{AssumeIn: true})
		if s := findSkip(rep, "interface unknown"); s == nil || !strings.Contains(s.Fix, "--in IFACE") {
			t.Fatalf("%+v", rep.Skipped)
		}
		rep, _ = runReplay(t, rs, buf.Bytes(), Options{AssumeIn: true, In: "eth0"})
		var eth0 []string
		for _, l := range traffic {
			if strings.HasPrefix(l, "eth0") {
				eth0 = append(eth0, l)
			}
		}
		sameCounters(t, rep.Counters, simCounters(t, rs, eth0))
	})
}

// fixEther sets the EtherType of the ARP frame written last (the test
// builds it from an IP frame).
func fixEther(b []byte) []byte {
	i := bytes.LastIndex(b, []byte{0, 1, 8, 0})
	if i >= 0 {
		b[i-2], b[i-1] = 8, 6
	}
	return b
}

func countIn(ps []pkt, in string) int {
	n := 0
	for _, p := range ps {
		if p.in == in {
			n++
		}
	}
	return n
}

func findSkip(rep *Report, substr string) *Skip {
	for i := range rep.Skipped {
		if strings.Contains(rep.Skipped[i].Reason, substr) {
			return &rep.Skipped[i]
		}
	}
	return nil
}

func skipCount(rep *Report, substr string) uint64 {
	if s := findSkip(rep, substr); s != nil {
		return s.Packets
	}
	return 0
}

func TestReplayReport(t *testing.T) {
	rs := gateway(t)
	pkts := build(t, traffic)
	var buf bytes.Buffer
	w, _ := capture.NewNGWriter(&buf)
	eth0, _ := w.AddInterface("eth0", capture.LinkEthernet, 65535)
	wlan0, _ := w.AddInterface("wlan0", capture.LinkRaw, 60) // snaplen 60
	for i, p := range pkts {
		if p.in == "wlan0" {
			w.WritePacket(wlan0, p.t, p.data[:min(60, len(p.data))], len(p.data), capture.DirIn, "")
			continue
		}
		// interfaces' clocks disagree by a little: the window sorts it
		ts := p.t
		if i == 5 {
			ts = pkts[3].t - 1
		}
		w.WritePacket(eth0, ts, ethFrame(macEth0, peerEth0, -1, p.data), 0, capture.DirUnknown, "")
	}
	// a VLAN the host does not have, a promiscuous frame, a GRE packet
	w.WritePacket(eth0, pkts[len(pkts)-1].t+1, ethFrame(macEth0, peerEth0, 100, pkts[7].data), 0, capture.DirIn, "")
	w.WritePacket(eth0, pkts[len(pkts)-1].t+2, ethFrame([6]byte{2, 9, 9, 9, 9, 9}, peerEth0, -1, pkts[7].data), 0, capture.DirUnknown, "")
	gre := append([]byte(nil), pkts[7].data...)
	gre[9] = 47
	w.WritePacket(eth0, pkts[len(pkts)-1].t+3, ethFrame(macEth0, peerEth0, -1, gre), 0, capture.DirIn, "")
	// a packet from long before: run at the latest time
	w.WritePacket(eth0, 5, ethFrame(macEth0, peerEth0, -1, pkts[7].data), 0, capture.DirIn, "")
	w.Flush()

	rep, _ := runReplay(t, rs, buf.Bytes(), Options{Flows: true, Why: 1, Window: 4})
	if rep.Verdicts["drop"] == nil || rep.Verdicts["forward"] == nil {
		t.Fatalf("verdicts %+v", rep.Verdicts)
	}
	if skipCount(rep, "eth0.100") != 1 || skipCount(rep, "other hosts") != 1 || rep.Tunnels["GRE"] != 1 || rep.Clamped != 1 {
		t.Errorf("skipped %+v tunnels %v clamped %d", rep.Skipped, rep.Tunnels, rep.Clamped)
	}
	if s := findSkip(rep, "eth0.100"); !strings.Contains(s.Fix, "iface eth0.100") {
		t.Errorf("fix %q", s.Fix)
	}
	// The data segment of 140 bytes was cut at 60 (inside no header):
	// replayed with its bytes counted in full.
	if rep.Replayed.Packets != uint64(len(pkts))+2 {
		t.Errorf("replayed %d", rep.Replayed.Packets)
	}
	var pre, refused, fwd *Flow
	for _, f := range rep.Flows {
		switch {
		case f.PreCapture:
			pre = f
		case f.State == "NOT_CONFIRMED" && f.Orig.DstPort == 23:
			refused = f
		case f.Orig.DstPort == 80:
			fwd = f
		}
	}
	if pre == nil || rep.PreCaptureFlows != 1 || rep.PreCapture["drop"] == nil {
		t.Errorf("pre-capture flow %+v, report %d %v", pre, rep.PreCaptureFlows, rep.PreCapture)
	}
	if refused == nil || refused.Packets[0] != 2 || refused.Decided == nil || refused.Decided.String() != "filter/LOGDROP rule 2" {
		t.Errorf("refused flow %+v", refused)
	}
	if fwd == nil || !fwd.NAT || fwd.State != "ESTABLISHED" || fwd.Packets != [2]uint64{3, 2} || fwd.Bytes[1] != 40+40+1000 {
		t.Errorf("forwarded flow %+v", fwd)
	}
	if len(rep.Samples) != 1 || rep.Samples[0].Verdict != "drop" || !strings.Contains(rep.Samples[0].Trace, "LOGDROP") {
		t.Errorf("samples %+v", rep.Samples)
	}
}

func TestReplayTruncatedHeaders(t *testing.T) {
	rs := gateway(t)
	pkts := build(t, traffic[:1])
	var buf bytes.Buffer
	w, _ := capture.NewPcapWriter(&buf, capture.LinkRaw, 30)
	w.WritePacket(pkts[0].t, pkts[0].data[:30], len(pkts[0].data))
	w.Flush()
	rep, _ := runReplay(t, rs, buf.Bytes(), Options{AssumeIn: true, In: "wlan0"})
	if rep.Replayed.Packets != 0 || skipCount(rep, "inside its headers") != 1 {
		t.Fatalf("%+v", rep.Skipped)
	}
}

func TestReplayNFLOG(t *testing.T) {
	rs := gateway(t)
	lines := []string{
		"eth0 icmp 203.0.113.9 > 198.51.100.1 type=8",
		"local tcp 198.51.100.1:33000 > 203.0.113.80:443 S seq=1",
		"eth0 tcp 203.0.113.80:443 > 198.51.100.1:33000 SA seq=9 ack=2",
	}
	want := simCounters(t, rs, lines)
	pkts := build(t, lines)
	var buf bytes.Buffer
	w, _ := capture.NewPcapWriter(&buf, capture.LinkNFLOG, 65535)
	for _, p := range pkts {
		hook, dev := uint8(capture.HookPrerouting), uint32(2)
		if p.in == "" {
			hook, dev = capture.HookLocalOut, 0
		}
		w.WritePacket(p.t, nflog(hook, dev, p.data), 0)
		// the same packet logged at postrouting too: not an input
		w.WritePacket(p.t, nflog(capture.HookPostrouting, 0, p.data), 0)
	}
	w.Flush()
	rep, _ := runReplay(t, rs, buf.Bytes(), Options{IfIndex: map[uint32]string{2: "eth0"}})
	sameCounters(t, rep.Counters, want)
	if !rep.LocalReplayed || skipCount(rep, "postrouting") != 3 {
		t.Errorf("%+v", rep.Skipped)
	}
}

func nflog(hook uint8, indev uint32, ip []byte) []byte {
	b := []byte{2, 0, 0, 1}
	tlv := func(typ uint16, v []byte) {
		b = binary.LittleEndian.AppendUint16(b, uint16(4+len(v)))
		b = binary.LittleEndian.AppendUint16(b, typ)
		b = append(b, v...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
	}
	tlv(1, []byte{8, 0, hook, 0})
	if indev != 0 {
		tlv(4, binary.BigEndian.AppendUint32(nil, indev))
	}
	tlv(9, ip)
	return b
}

// Packets of established connections cost no allocation.
func TestReplayAllocations(t *testing.T) {
	allocs, rep := replayAllocs(t, 20000, Options{})
	if rep.Replayed.Packets != 20000 || rep.Verdicts["forward"].Packets != 20000 {
		t.Fatalf("%+v", rep.Verdicts)
	}
	per := float64(allocs) / 20000
	// the reader's buffer, the window, the flows: a few hundred in all
	if per > 0.05 {
		t.Errorf("%.3f allocations per packet", per)
	}
}

// replayAllocs replays n packets of established flows through
// gateway.rules with options o and returns the allocations Run made.
func replayAllocs(t *testing.T, n int, o Options) (uint64, *Report) {
	t.Helper()
	file := established(t, 4, n)
	e := newEngine(t, gateway(t))
	rd, _ := capture.NewReader(bytes.NewReader(file))
	r := New(e, o)
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	if err := r.Run(rd); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&ms1)
	return ms1.Mallocs - ms0.Mallocs, r.Report()
}

// established writes a capture of n packets of flows forwarded
// connections, handshakes first.
func established(t testing.TB, flows, n int) []byte {
	var buf bytes.Buffer
	w, _ := capture.NewNGWriter(&buf)
	eth0, _ := w.AddInterface("eth0", capture.LinkRaw, 65535)
	wlan0, _ := w.AddInterface("wlan0", capture.LinkRaw, 65535)
	now := int64(1_700_000_000_000_000_000)
	write := func(l string, ifc int) {
		d, err := packet.ParseShort(l)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := d.Build(0)
		now += 1000
		w.WritePacket(ifc, now, b, 0, capture.DirIn, "")
	}
	port := func(i int) string { return itoa(40000 + i) }
	for i := range flows {
		write("wlan0 tcp 192.0.2.10:"+port(i)+" > 203.0.113.5:80 S seq=1000", wlan0)
		write("eth0 tcp 203.0.113.5:80 > 198.51.100.1:"+port(i)+" SA seq=5000 ack=1001", eth0)
	}
	for i := range n - 2*flows {
		write("wlan0 tcp 192.0.2.10:"+port(i%flows)+" > 203.0.113.5:80 A seq=1001 ack=5001", wlan0)
	}
	w.Flush()
	return buf.Bytes()
}

func itoa(i int) string { return strconv.Itoa(i) }

// The annotated capture holds every record as captured, each with what
// became of it.
func TestReplayWriteAnnotated(t *testing.T) {
	rs := gateway(t)
	pkts := build(t, traffic)
	in := rawCapture(pkts, func(w *capture.NGWriter) {
		w.WritePacket(0, pkts[len(pkts)-1].t+1, pkts[0].data, 0, capture.DirOut, "")
	})

	var out bytes.Buffer
	aw, _ := capture.NewNGWriter(&out)
	runReplay(t, rs, in, Options{Write: aw})
	rd, err := capture.NewReader(bytes.NewReader(out.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	var rec capture.Record
	var comments []string
	for i := 0; rd.Next(&rec) == nil; i++ {
		if i < len(pkts) && !bytes.Equal(rec.Data, pkts[i].data) {
			t.Errorf("record %d: not the bytes captured", i)
		}
		comments = append(comments, string(rec.Comment))
	}
	if len(comments) != len(pkts)+1 || rd.Interfaces()[0].Name != "eth0" {
		t.Fatalf("%d records, interfaces %+v", len(comments), rd.Interfaces())
	}
	for i, want := range map[int]string{
		0:  "FORWARD out eth0; ct NEW",
		1:  "FORWARD out wlan0; ct ESTABLISHED",
		5:  "DROP filter/LOGDROP rule 2; ct NEW",
		11: "not replayed: departing packets",
	} {
		if !strings.HasPrefix(comments[i], want) {
			t.Errorf("record %d: comment %q, want %q", i, comments[i], want)
		}
	}
}

// The buckets of --interval add up to the whole.
func TestReplayIntervals(t *testing.T) {
	rs := gateway(t)
	pkts := build(t, traffic) // 10 ms apart
	var in bytes.Buffer
	w, _ := capture.NewPcapWriter(&in, capture.LinkRaw, 65535)
	for i, p := range pkts {
		if i == 9 {
			p.t += 1e9 // a second with nothing
		}
		w.WritePacket(p.t, p.data, 0)
	}
	w.Flush()
	rep, _ := runReplay(t, rs, in.Bytes(), Options{AssumeIn: true, In: "eth0", Interval: 30e6})
	if len(rep.Intervals) != 5 {
		t.Fatalf("%d intervals: %+v", len(rep.Intervals), rep.Intervals)
	}
	var packets uint64
	sums := map[RuleRef]uint64{}
	for i, iv := range rep.Intervals {
		if i > 0 && (iv.Start-rep.Intervals[0].Start)%30e6 != 0 {
			t.Errorf("interval %d starts at %d, off the 30 ms grid", i, iv.Start)
		}
		for _, c := range iv.Verdicts {
			packets += c.Packets
		}
		for _, c := range iv.Counters {
			sums[c.RuleRef] += c.Packets
		}
	}
	if packets != rep.Replayed.Packets {
		t.Errorf("intervals hold %d packets, the replay %d", packets, rep.Replayed.Packets)
	}
	for _, c := range rep.Counters {
		if sums[c.RuleRef] != c.Packets {
			t.Errorf("%s: intervals %d, total %d", c.RuleRef, sums[c.RuleRef], c.Packets)
		}
	}
}

const rules6 = `*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT
-A INPUT -p ipv6-icmp -j ACCEPT
-A FORWARD -i wlan0 -o eth0 -j ACCEPT
COMMIT
`

// IPv6 packets run through the ip6tables rules, IPv4 ones through the
// iptables rules, as the engine runs them directly.
func TestReplayIPv6(t *testing.T) {
	rs := gateway(t)
	rs6 := rules.New()
	rs6.Family = ext.IPv6
	if _, err := rs6.Restore(strings.NewReader(rules6), rules.RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	lines := []string{
		"eth0 tcp [2001:db8:113::7]:40000 > [2001:db8:100::1]:22 S",
		"eth0 tcp [2001:db8:113::7]:40001 > [2001:db8:100::1]:23 S",
		"wlan0 udp [2001:db8:2::10]:5000 > [2001:db8:113::9]:53 len=20",
		"eth0 icmpv6 2001:db8:113::7 > 2001:db8:100::1 type=128",
		"wlan0 tcp 192.0.2.10:40000 > 203.0.113.5:80 S seq=1000",
	}
	e, err := engine.New(rs.Clone(), nil, engine.Config{Rules6: rs6})
	if err != nil {
		t.Fatal(err)
	}
	s := sim.New(e)
	for i, l := range lines {
		d, _ := packet.ParseShort(l)
		d.DelayMS = 10
		if _, err := s.Run(i, d); err != nil {
			t.Fatal(err)
		}
	}
	want4, want6 := e.Program().Counters(), e.Program().IPv6().Counters()

	pkts := build(t, lines)
	in := rawCapture(pkts, nil)
	e2, _ := engine.New(rs.Clone(), nil, engine.Config{Rules6: rs6})
	rd, _ := capture.NewReader(bytes.NewReader(in))
	r := New(e2, Options{})
	if err := r.Run(rd); err != nil {
		t.Fatal(err)
	}
	rep := r.Report()
	if !rep.IPv6 || rep.Replayed.Packets != 5 {
		t.Fatalf("%+v", rep)
	}
	var got6 []RuleCount
	for _, c := range rep.Counters {
		if c.IPv6 {
			got6 = append(got6, c)
		}
	}
	sameCounters(t, rep.Counters, want4)
	if len(got6) != len(want6) {
		t.Fatalf("%d IPv6 counters, want %d", len(got6), len(want6))
	}
	for i, c := range want6 {
		if g := got6[i]; g.Table != c.Table || g.Chain != c.Chain || g.Rule != c.Rule || g.Packets != c.Packets || g.Bytes != c.Bytes {
			t.Errorf("IPv6 counter %d: %+v, want %+v", i, g, c)
		}
	}
	moved := map[string]uint64{}
	for _, c := range got6 {
		moved[c.RuleRef.String()] = c.Packets
	}
	if moved["ip6 filter/INPUT rule 1"] != 1 || moved["ip6 filter/INPUT policy"] != 1 || moved["ip6 filter/INPUT rule 2"] < 1 || moved["ip6 filter/FORWARD rule 1"] != 1 {
		t.Errorf("IPv6 counters %v", moved)
	}

	// Without ip6tables rules, IPv6 packets are skipped and counted.
	e3, _ := engine.New(rs.Clone(), nil, engine.Config{})
	rd, _ = capture.NewReader(bytes.NewReader(in))
	r = New(e3, Options{NoIPv6: true})
	r.Run(rd)
	if rep := r.Report(); rep.IPv6 || skipCount(rep, "IPv6") != 4 || !strings.Contains(findSkip(rep, "IPv6").Fix, "--rules6") {
		t.Errorf("%+v", rep.Skipped)
	}
}

// Departures the capture saw are checked against the engine's
// predictions: a forwarded packet must leave masqueraded.
func TestReplayDepartures(t *testing.T) {
	rs := gateway(t)
	syn := build(t, []string{"wlan0 tcp 192.0.2.10:40000 > 203.0.113.5:80 S seq=1000"})[0]
	masq := append([]byte(nil), syn.data...)
	copy(masq[12:16], []byte{198, 51, 100, 1})
	masq[8]-- // forwarded: one hop less
	var p packet.Packet
	p.Decode(masq)
	p.FixChecksums()
	for _, tc := range []struct {
		name      string
		departed  []byte
		iface     uint32
		miss, unx uint64
	}{
		{"as predicted", masq, 2, 0, 0},
		{"not masqueraded", syn.data, 2, 1, 1},
		{"wrong interface", masq, 3, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var in bytes.Buffer
			w, _ := capture.NewPcapWriter(&in, capture.LinkSLL2, 65535)
			w.WritePacket(syn.t, sll2Frame(3, capture.PktHost, peerWlan, syn.data), 0)
			w.WritePacket(syn.t+1000, sll2Frame(tc.iface, capture.PktOutgoing, macEth0, tc.departed), 0)
			w.Flush()
			rep, _ := runReplay(t, rs, in.Bytes(), Options{IfIndex: map[uint32]string{2: "eth0", 3: "wlan0"}})
			d := rep.Departures
			if d == nil || d.Predicted != 1 || d.Observed != 1 || d.Missing != tc.miss || d.Unexpected != tc.unx {
				t.Fatalf("%+v", d)
			}
		})
	}
}

// rawCapture writes pkts as a pcapng of raw IP on interfaces eth0 (0)
// and wlan0 (1), each packet flagged inbound on its own; more, when set,
// writes further records before the file is flushed.
func rawCapture(pkts []pkt, more func(w *capture.NGWriter)) []byte {
	var in bytes.Buffer
	w, _ := capture.NewNGWriter(&in)
	eth0, _ := w.AddInterface("eth0", capture.LinkRaw, 65535)
	wlan0, _ := w.AddInterface("wlan0", capture.LinkRaw, 65535)
	for _, p := range pkts {
		ifc := eth0
		if p.in == "wlan0" {
			ifc = wlan0
		}
		w.WritePacket(ifc, p.t, p.data, 0, capture.DirIn, "")
	}
	if more != nil {
		more(w)
	}
	w.Flush()
	return in.Bytes()
}

// Every rule keeps its first packets as `ipsift trace` lines that build
// the packets as they arrived.
func TestReplayRuleSamples(t *testing.T) {
	rs := gateway(t)
	pkts := build(t, traffic)
	rep, _ := runReplay(t, rs, rawCapture(pkts, nil), Options{RuleSamples: 1})
	byRule := map[string]RuleSample{}
	for _, s := range rep.RuleSamples {
		if _, dup := byRule[s.RuleRef.String()]; dup {
			t.Errorf("two samples of %s", s.RuleRef)
		}
		byRule[s.RuleRef.String()] = s
	}
	for _, c := range rep.Counters {
		if _, ok := byRule[c.RuleRef.String()]; (c.Packets > 0) != ok {
			t.Errorf("%s: %d packets, sample %v", c.RuleRef, c.Packets, ok)
		}
	}
	s, ok := byRule["filter/LOGDROP rule 2"]
	if !ok || s.Verdict != "drop" || s.Index != 6 {
		t.Fatalf("%+v", s)
	}
	// The line builds the packet that arrived, header for header.
	for _, s := range rep.RuleSamples {
		d, err := packet.ParseShort(s.Packet)
		if err != nil {
			t.Errorf("%q: %v", s.Packet, err)
			continue
		}
		b, err := d.Build(0)
		if err != nil {
			t.Errorf("%q: %v", s.Packet, err)
			continue
		}
		orig := pkts[s.Index-1].data
		var p, q packet.Packet
		p.Decode(b)
		q.Decode(orig)
		if p.Src != q.Src || p.Dst != q.Dst || p.SrcPort != q.SrcPort || p.DstPort != q.DstPort || p.TCPFlags != q.TCPFlags || p.Seq != q.Seq || p.TotalLen != q.TotalLen || p.TTL != q.TTL || p.ICMPType != q.ICMPType || d.In != pkts[s.Index-1].in {
			t.Errorf("%q builds %s, the capture had %s", s.Packet, p.Summary(), q.Summary())
		}
	}
}

// --why with --select traces the packets the filter picks, whatever
// their verdict.
func TestReplaySelect(t *testing.T) {
	rs := gateway(t)
	pkts := build(t, traffic)
	rep, _ := runReplay(t, rs, rawCapture(pkts, nil), Options{Why: 5, Select: func(p *packet.Packet, in string, local bool) bool {
		return p.Proto == packet.ProtoUDP
	}})
	var udp int
	for _, s := range rep.Samples {
		if strings.Contains(s.Summary, "UDP") {
			udp++
			if !strings.Contains(s.Trace, "filter FORWARD") {
				t.Errorf("trace of %s:\n%s", s.Summary, s.Trace)
			}
		}
	}
	if udp != 2 {
		t.Errorf("%d UDP samples, want the 2 UDP packets: %+v", udp, rep.Samples)
	}
}

// With ChainEntries the replay counts the packets entering each
// built-in chain, which iptables does not count: they must equal the
// table walks a traced run of the same packets reports (answers the
// host sends included), and each chain's entries must account for its
// policy's counter.
func TestReplayChainEntries(t *testing.T) {
	rs := gateway(t)
	pkts := build(t, traffic)
	rep, _ := runReplay(t, rs, rawCapture(pkts, nil), Options{ChainEntries: true})

	e := newEngine(t, rs)
	s := sim.New(e)
	want := map[RuleRef]uint64{}
	s.State.SetTracer(engine.TracerFunc(func(ev engine.Event) {
		if ev.Kind == engine.EvTable {
			want[RuleRef{Table: ev.Table, Chain: ev.Chain}]++
		}
	}))
	for i, l := range traffic {
		d, _ := packet.ParseShort(l)
		d.DelayMS = 10
		if _, err := s.Run(i, d); err != nil {
			t.Fatal(err)
		}
	}
	if len(rep.ChainEntries) == 0 {
		t.Fatal("no chain entries")
	}
	policy := map[RuleRef]uint64{}
	for _, c := range rep.Counters {
		if c.Rule == 0 {
			policy[c.RuleRef] = c.Packets
		}
	}
	total := uint64(0)
	for _, ce := range rep.ChainEntries {
		total += ce.Packets
		if ce.Packets != want[ce.RuleRef] {
			t.Errorf("%s: replay counts %d entries, the traced run %d", ce.RuleRef, ce.Packets, want[ce.RuleRef])
		}
		if ce.Packets < policy[ce.RuleRef] {
			t.Errorf("%s: %d entries but %d to the policy", ce.RuleRef, ce.Packets, policy[ce.RuleRef])
		}
		delete(want, ce.RuleRef)
	}
	if len(want) > 0 || total == 0 {
		t.Errorf("chains entered but not listed: %v (total %d)", want, total)
	}
	plain, _ := runReplay(t, rs, rawCapture(pkts, nil), Options{})
	if plain.ChainEntries != nil {
		t.Error("chain entries counted without the option")
	}
}
