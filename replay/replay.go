// Package replay drives an engine over a packet capture: it reads each
// record (package capture), decides whether the packet is an input
// (only arriving packets are: a capture sees them before netfilter,
// while departing ones were captured after POSTROUTING), on which
// interface it arrived, and runs it at the capture's time, which is the
// engine's clock. What it cannot decide it never guesses: a packet of
// unknown direction or interface, or one whose missing bytes (snaplen)
// a rule would read, is skipped and counted with the reason and the
// option that fixes it.
//
// The Report it returns holds what a person or a later tool (an HTML
// report) needs: packets and bytes per verdict, the per-rule counters,
// rules never hit, per-verdict sample traces, the flows and what was
// skipped.
//
//	r := replay.New(eng, replay.Options{AssumeIn: true})
//	if err := r.Run(capReader); err != nil { ... }
//	rep := r.Report()
package replay

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"github.com/ipsift/ipsift/conntrack"
	"io"
	"sort"
	"strconv"

	"github.com/ipsift/ipsift/capture"
	"github.com/ipsift/ipsift/engine"
	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/host"
	"github.com/ipsift/ipsift/packet"
	"github.com/ipsift/ipsift/sim"
)

// Options say what the capture cannot.
type Options struct {
	// AssumeIn declares that every packet whose direction the capture
	// does not record arrived (--direction in: a capture made with
	// tcpdump -Q in, or the filter "inbound").
	AssumeIn bool
	// In names the interface of a capture of one link (--in); it
	// overrides the capture's own interface names.
	In string
	// IfIndex maps interface indexes (SLL2, NFLOG) to names (--ifindex).
	IfIndex map[uint32]string
	// VerifyChecksums keeps transport checksums as captured (a bad one
	// makes conntrack call the packet INVALID, as the kernel does) and
	// counts the bad ones. Without it they are made correct before the
	// packet is run: captures are full of checksums left to offload.
	VerifyChecksums bool
	// Window is how many packets are held to put timestamps from
	// several interfaces in order (default 64).
	Window int
	// Why keeps the full trace of up to Why packets per verdict other
	// than an acceptance (drop, reject, queue), and of up to Why packets
	// Select picks.
	Why    int
	Select func(p *packet.Packet, in string, local bool) bool
	// OwnAnswers says the engine runs without its model of the host's
	// stack (engine.Config.NoHostStack) because the capture holds the
	// host's own packets (NFLOG at the output hook): the firewall's
	// answers the engine makes all the same (REJECT) are then matched
	// with the captured ones, which do not run twice.
	OwnAnswers bool
	// Write, when set, receives every record with a comment saying what
	// became of it (--write annotated.pcapng). Replay flushes it at the
	// end of Run.
	Write *capture.NGWriter
	// Interval, in nanoseconds, cuts the report into time buckets of
	// that length (Report.Intervals; --interval).
	Interval int64
	// Preload are the connections open when the capture began
	// (ReadConntrackList, --conntrack): they go into the engine's table
	// at the first packet's time, so that their packets are not judged
	// as new or invalid mid-stream.
	Preload []conntrack.Preload
	// Recent are the recent lists when the capture began
	// (ReadRecentDir, --recent): they go into the engine's lists at the
	// first packet's time, which stands for the moment they were copied.
	Recent *RecentLists
	// ChainEntries counts the packets entering each built-in chain
	// (Report.ChainEntries), which iptables does not count: for the
	// report's funnel. It costs a call per table a packet walks.
	ChainEntries bool
	// NoIPv6 skips IPv6 packets (counted): no ip6tables rules were
	// given. Otherwise they run through the engine's IPv6 tables.
	NoIPv6 bool
	// RuleSamples keeps up to that many packets per rule and policy
	// they raised (Report.RuleSamples), each as an `ipsift trace` line.
	RuleSamples int
	// Flows keeps every connection for Report.Flows.
	Flows bool
	// Start, when set, is called with the first packet's time before it
	// runs (to start the timeouts of sets read at clock 0).
	Start func(now int64)
	// Progress, when set, is called about every 64k packets with the
	// packets and bytes of the capture read so far.
	Progress func(packets int, bytes int64)
	// NoFlowCache turns the engine's flow cache off (--no-flow-cache):
	// every packet walks the tables. The cache runs the packets of
	// established flows on their connection's proven path with the
	// same outcome (engine.Config.FlowCache); replay turns it on.
	NoFlowCache bool
	// ReadAhead reads the capture, puts its records in time order (the
	// window), decodes them and sums their checksums in a goroutine of
	// its own, beside the one that runs the packets: worth it with a
	// second core, as that is about a quarter of the work (BENCHMARKS.md,
	// "Replay: reading and checksums"). The report is the same.
	ReadAhead bool
}

// Count is packets and bytes (bytes as the kernel counts them: the IP
// total length).
type Count struct {
	Packets uint64 `json:"packets"`
	Bytes   uint64 `json:"bytes"`
}

func (c *Count) add(n int) { c.Packets++; c.Bytes += uint64(n) }

// Skip is one reason packets were not run, with the option or recipe
// that lets them be.
type Skip struct {
	Reason  string `json:"reason"`
	Packets uint64 `json:"packets"`
	Fix     string `json:"fix,omitempty"`
	// Input is false for packets that were never inputs (departures,
	// non-IP frames): not a loss of exactness.
	Input bool `json:"input"`
}

// Sample is one packet's full trace.
type Sample struct {
	Index   int    `json:"index"` // the packet's number in the capture, from 1
	Time    int64  `json:"time_ns"`
	Verdict string `json:"verdict"`
	Summary string `json:"packet"`
	Trace   string `json:"trace"`
}

// RuleRef names a rule (Rule from 1) or, with Rule 0, a chain's policy,
// of the IPv4 (iptables) or IPv6 (ip6tables) rules.
type RuleRef struct {
	IPv6  bool   `json:"ipv6,omitempty"`
	Table string `json:"table"`
	Chain string `json:"chain"`
	Rule  int    `json:"rule,omitempty"`
}

func (r RuleRef) String() string {
	s := r.Table + "/" + r.Chain
	if r.IPv6 {
		s = "ip6 " + s
	}
	if r.Rule == 0 {
		return s + " policy"
	}
	return s + " rule " + strconv.Itoa(r.Rule)
}

// RuleCount is one rule's or policy's counters.
type RuleCount struct {
	RuleRef
	Packets uint64 `json:"packets"`
	Bytes   uint64 `json:"bytes"`
}

// counters returns the engine's counters, IPv4 then (when IPv6 runs)
// IPv6.
func (r *Replayer) counters() []RuleCount {
	var out []RuleCount
	add := func(p *engine.Program, six bool) {
		for _, c := range p.Counters() {
			out = append(out, RuleCount{RuleRef{six, c.Table, c.Chain, c.Rule}, c.Packets, c.Bytes})
		}
	}
	add(r.e.Program(), false)
	if !r.o.NoIPv6 && r.e.Program().IPv6() != nil {
		add(r.e.Program().IPv6(), true)
	}
	return out
}

// Report is what a replay found.
type Report struct {
	Records  uint64            `json:"records"` // capture records read
	Replayed Count             `json:"replayed"`
	Verdicts map[string]*Count `json:"verdicts"` // by engine verdict name
	// PreCapture counts the packets of connections that began before
	// the capture (a TCP connection first seen without its SYN); they
	// are in Verdicts too, and apart here so that drop figures can
	// leave them out.
	PreCapture      map[string]*Count `json:"pre_capture"`
	PreCaptureFlows int               `json:"pre_capture_flows"`
	// Preloaded connections went into the table from --conntrack;
	// PreloadRefused could not (a tuple listed twice).
	Preloaded      int               `json:"preloaded,omitempty"`
	PreloadRefused int               `json:"preload_refused,omitempty"`
	Skipped        []Skip            `json:"skipped"`
	NonIP          map[string]uint64 `json:"non_ip"`  // by EtherType
	Tunnels        map[string]uint64 `json:"tunnels"` // by protocol: the outer packet was run
	Clamped        uint64            `json:"clamped"` // timestamps that went back, run at the latest time
	BadChecksums   uint64            `json:"bad_checksums"`
	LocalReplayed  bool              `json:"local_replayed"` // the host's own packets were inputs (NFLOG at output)
	IPv6           bool              `json:"ipv6"`           // IPv6 packets ran through ip6tables rules (Counters holds them)
	Counters       []RuleCount       `json:"counters"`       // IPv4, then IPv6 when it ran
	States         map[string]int    `json:"states"`         // connections by final state
	Samples        []Sample          `json:"samples"`
	Flows          []*Flow           `json:"-"`
	Intervals      []Interval        `json:"intervals,omitempty"`
	RuleSamples    []RuleSample      `json:"rule_samples,omitempty"`
	// Departures compares the packets the engine predicted leaving with
	// those the capture saw leave (nil when it saw none).
	Departures          *Departures `json:"departures,omitempty"`
	FirstTime, LastTime int64       `json:"-"`

	// RecentLoaded is, per recent list read from --recent, how many
	// addresses it held when the first packet ran; RecentUnused lists
	// the lists no rule of the replayed rules uses (left out).
	RecentLoaded map[string]int `json:"recent_loaded,omitempty"`
	RecentUnused []string       `json:"recent_unused,omitempty"`
	// ChainEntries are, with Options.ChainEntries, the packets that
	// entered each built-in chain (answers the host sent included), in
	// the order of the families, tables and chains of the rules.
	ChainEntries []ChainEntry `json:"chain_entries,omitempty"`
}

// ChainEntry is how many packets entered a built-in chain.
type ChainEntry struct {
	RuleRef
	Packets uint64 `json:"packets"`
}

// Replayer runs one capture through one engine.
type Replayer struct {
	e    *engine.Engine
	s    *engine.State
	o    Options
	rep  Report
	skip map[string]*Skip
	// skipOrder keeps the skip reasons in the order first met.
	skipOrder []string
	hold      heldQueue
	lastTime  int64
	n         int // packets taken from the window
	fr        capture.Frame
	pkt       packet.Packet
	pad       []byte
	flows     flowTable
	answers   pendingAnswers
	trace     bytes.Buffer
	tracer    *sim.TextTracer
	samples   map[string]int
	payload   bool // the ruleset has a match that reads payload bytes
	macs      map[[6]byte]string
	ifnames   []string
	ifaces    []capture.Interface
	// lastSkip is why the record being run was skipped ("" when it ran
	// or was not IP: see ran).
	lastSkip string
	ran      bool
	annot    *annotator
	writeErr error
	iv       intervals
	depart   departures
	rsamp    ruleSamples
	lastIfc  *host.Iface // hostIface's
	// verdicts are rep.Verdicts' counts by engine verdict, found once
	// (a map of strings looked up per packet cost more than the count).
	verdicts [engine.Queue + 1]*Count
	entries  map[RuleRef]uint64 // Options.ChainEntries
}

// observeDeparture counts a departing packet against the predictions.
func (r *Replayer) observeDeparture(fr *capture.Frame, iface string) {
	if iface == "" {
		return
	}
	for i := range fr.NVLAN {
		iface += "." + strconv.Itoa(int(fr.VLANs[i]))
	}
	if r.depart.pkt.Decode(fr.IP) != nil {
		return
	}
	r.depart.observe(iface, &r.depart.pkt)
}

// New returns a Replayer for e with options o.
func New(e *engine.Engine, o Options) *Replayer {
	if o.Window <= 0 {
		o.Window = 64
	}
	r := &Replayer{e: e, s: engine.NewState(), o: o, skip: map[string]*Skip{}, samples: map[string]int{}}
	r.rep.Verdicts = map[string]*Count{}
	r.rep.PreCapture = map[string]*Count{}
	r.rep.NonIP = map[string]uint64{}
	r.rep.Tunnels = map[string]uint64{}
	r.rep.States = map[string]int{}
	r.flows.init()
	r.payload = readsPayload(e)
	e.SetFlowCache(!o.NoFlowCache)
	r.macs = map[[6]byte]string{}
	for _, ifc := range e.Host.Ifaces {
		if ifc.MAC != ([6]byte{}) {
			r.macs[ifc.MAC] = ifc.Name
		}
	}
	if o.Why > 0 {
		r.tracer = &sim.TextTracer{W: &r.trace}
		r.s.SetTracer(r.tracer)
		e.Log = r.tracer.LogWriter()
	}
	if o.ChainEntries {
		r.entries = map[RuleRef]uint64{}
		r.s.OnChainEntry(func(six bool, table, chain string) {
			r.entries[RuleRef{IPv6: six, Table: table, Chain: chain}]++
		})
	}
	r.hold.init(o.Window)
	r.iv.length = o.Interval
	r.rsamp = ruleSamples{n: o.RuleSamples, seen: map[RuleRef]int{}}
	if o.Write != nil {
		r.annot = &annotator{w: o.Write}
	}
	return r
}

// loopbackIndex is the loopback device's interface index: always 1.
const loopbackIndex = 1

// payloadMatches read bytes past the transport header: a packet cut by
// the snaplen cannot be decided by a ruleset that uses them.
var payloadMatches = map[string]bool{"string": true, "u32": true, "bpf": true}

func readsPayload(e *engine.Engine) bool {
	for _, t := range e.Program().Ruleset().Tables {
		for _, c := range t.Chains {
			for _, r := range c.Rules {
				for _, m := range r.Matches {
					if payloadMatches[m.Type.Name] {
						return true
					}
				}
			}
		}
	}
	return false
}

func (r *Replayer) skipped(reason, fix string, input bool) {
	s := r.skip[reason]
	if s == nil {
		s = &Skip{Reason: reason, Fix: fix, Input: input}
		r.skip[reason] = s
		r.skipOrder = append(r.skipOrder, reason)
	}
	s.Packets++
	r.lastSkip = reason
}

// Run reads every record of rd and runs the inputs among them. With
// Options.ReadAhead a goroutine of its own reads the capture while the
// records already read run. Run reads rd with Keep (the records wait
// uncopied): rd is Run's alone.
func (r *Replayer) Run(rd *capture.Reader) error {
	r.ifnames, r.ifaces = r.ifnames[:0], r.ifaces[:0]
	var err error
	if r.o.ReadAhead {
		err = r.runReadAhead(rd)
	} else {
		// The records wait in the window without being copied.
		r.hold.rd = rd
		rd.Keep()
		var rec capture.Record
		for {
			if err = rd.Next(&rec); err != nil {
				break
			}
			r.take(&rec, rd.Interfaces(), rd.Offset())
		}
	}
	r.drain()
	if h := r.hold.last; h != nil {
		// its buffer goes back to this Run's reader
		r.hold.last = nil
		r.hold.release(h)
	}
	if err != io.EOF {
		return err
	}
	if r.o.Write != nil {
		if r.writeErr != nil {
			return r.writeErr
		}
		return r.o.Write.Flush()
	}
	return nil
}

// take is one record read: it goes into the reordering window, and the
// earliest record runs when the window is full. ifaces are the
// capture's interfaces as read so far (at least up to rec's), off the
// bytes of the capture read.
func (r *Replayer) take(rec *capture.Record, ifaces []capture.Interface, off int64) {
	r.rep.Records++
	if r.o.Progress != nil && r.rep.Records&0xffff == 0 {
		r.o.Progress(int(r.rep.Records), off)
	}
	if len(r.ifnames) < len(ifaces) {
		r.internIfaces(ifaces)
	}
	if r.hold.full() {
		r.runHeld(r.hold.pop())
	}
	r.hold.push(rec)
}

// internIfaces takes the capture's interfaces read since the last
// call (the capture only ever adds some).
func (r *Replayer) internIfaces(ifaces []capture.Interface) {
	for _, ifc := range ifaces[min(len(r.ifnames), len(ifaces)):] {
		// Interned: compared with the host's names per packet.
		r.ifnames = append(r.ifnames, ext.Intern(ifc.Name))
		r.ifaces = append(r.ifaces, ifc)
	}
}

func (r *Replayer) drain() {
	for r.hold.len() > 0 {
		r.runHeld(r.hold.pop())
	}
}

// runHeld runs one record taken from the reordering window.
func (r *Replayer) runHeld(h *held) {
	r.n++
	t := h.time
	if t < r.lastTime {
		t = r.lastTime
		r.rep.Clamped++
	}
	r.lastTime = t
	if r.n == 1 {
		r.rep.FirstTime = t
		if r.o.Start != nil {
			r.o.Start(t)
		}
		r.preload(t)
	}
	r.rep.LastTime = t
	r.iv.advance(r, t)
	r.lastSkip, r.ran = "", false
	if r.annot != nil {
		// the engine rewrites the packet in place (NAT, checksums):
		// the annotated capture keeps it as captured
		r.annot.orig = append(r.annot.orig[:0], h.data...)
	}
	r.one(h, t)
	if r.annot != nil && r.writeErr == nil {
		skip := r.lastSkip
		if !r.ran && skip == "" {
			skip = "not IP (" + etherName(r.fr.EtherType) + ")"
		}
		r.writeErr = r.annot.write(r, h, t, r.ran, skip)
	}
}

func (r *Replayer) one(h *held, now int64) {
	fr := &r.fr
	if h.frOK {
		*fr = h.fr // the read-ahead goroutine decoded it
	} else if err := fr.Decode(h.link, h.data, h.bigEndian); err != nil {
		r.skipped("undecodable link layer ("+h.link.String()+"): "+err.Error(), "", true)
		return
	}
	if fr.IP == nil {
		r.rep.NonIP[etherName(fr.EtherType)]++
		return
	}
	dir := h.dir
	if fr.Dir != capture.DirUnknown {
		dir = fr.Dir
	}
	local := false
	if fr.HasHook {
		switch fr.Hook {
		case capture.HookPrerouting:
		case capture.HookLocalOut:
			local = true
			r.rep.LocalReplayed = true
		default:
			r.skipped("NFLOG at the "+hookName(fr.Hook)+" hook (after the firewall's first decisions)", "log at prerouting and output before raw (priority -450): see README, \"The exact capture point\"", true)
			return
		}
	}
	iface := r.o.In
	if iface == "" && !local {
		iface = r.ifaceOf(h, fr)
	}
	if dir == capture.DirUnknown && fr.HasMAC && len(r.macs) > 0 {
		dir = r.dirByMAC(fr, iface)
		if dir == capture.DirUnknown {
			r.skipped("frames addressed to other hosts (promiscuous capture), which the kernel drops before netfilter", "", false)
			return
		}
	}
	if dir == capture.DirUnknown && r.o.AssumeIn {
		dir = capture.DirIn
	}
	switch {
	case dir == capture.DirUnknown:
		r.skipped("direction unknown (the capture does not record it)", "--direction in if the capture holds only arriving packets (tcpdump -Q in); or capture with tcpdump -i any (SLL2), pcapng packet flags, or NFLOG", true)
		return
	case dir == capture.DirOut && !local:
		r.observeDeparture(fr, iface)
		r.skipped("departing packets (captured after POSTROUTING: observations, not inputs; the host's own traffic is not replayed from an interface capture)", "the NFLOG capture recipe replays the host's own traffic too", false)
		return
	}
	if !local && iface == "" && fr.IfIndex == loopbackIndex {
		iface = "lo" // the loopback device is interface 1 in every namespace
	}
	if !local && iface == "lo" && r.o.OwnAnswers {
		// A packet the host sent itself comes back in through lo; the
		// engine runs that way back with the packet the host sent.
		r.skipped("the host's packets to itself arriving on lo (run with the packet it sent)", "", false)
		return
	}
	if !local {
		if iface == "" {
			if fr.IfIndex != 0 {
				r.skipped("arriving interface index "+strconv.Itoa(int(fr.IfIndex))+" has no name", "--ifindex "+strconv.Itoa(int(fr.IfIndex))+"=NAME", true)
			} else if h.link == capture.LinkSLL {
				r.skipped("arriving interface unknown (Linux SLL records none)", "capture with tcpdump -i any -y LINUX_SLL2, or --in IFACE for a capture of one link", true)
			} else {
				r.skipped("arriving interface unknown", "--in IFACE for a capture of one link", true)
			}
			return
		}
		for i := range fr.NVLAN {
			iface += "." + strconv.Itoa(int(fr.VLANs[i]))
		}
		if r.hostIface(iface) == nil {
			r.skipped("arriving on "+iface+", which the host file does not declare", "declare it in the host file (--host): iface "+iface+" ADDR/LEN", true)
			return
		}
	}
	ip := fr.IP
	if len(ip) >= 1 && ip[0]>>4 == 6 && r.o.NoIPv6 {
		r.skipped("IPv6 (no ip6tables rules given)", "--rules6 FILE with the ip6tables rules (an empty file if the host has none)", true)
		return
	}
	ip, ok := r.complete(ip, h.origLen-(len(h.data)-len(fr.IP)))
	if !ok {
		return
	}
	if h.decoded(ip) {
		r.pkt = h.pkt
	} else if err := r.pkt.Decode(ip); err != nil {
		// ip_rcv drops it before any hook: so does the engine.
		r.skipped("not a valid IP packet ("+err.Error()+"), dropped by the kernel before netfilter", "", false)
		return
	}
	// The transport checksum is summed once: when replay's check of it
	// is the one connection tracking makes, a checksum it found (or
	// made) right is handed to the engine as verified.
	//
	// Without --verify-checksums the whole packet is still summed: the
	// output depends on it. The summary counts the wrong checksums
	// (offload leaves them wrong in captures: the kernel had the packet
	// as CHECKSUM_PARTIAL or CHECKSUM_UNNECESSARY, and conntrack did not
	// sum it), and a wrong checksum (transport or IPv4 header) is made
	// right before the packet runs, so that rules that read those bytes
	// (u32, string, bpf), NAT's incremental updates and the predicted
	// departures see what the kernel would have sent. Handing every
	// packet to the engine as verified without summing would give the
	// same verdicts for packets whose checksums are right, but not that
	// count nor the others' bytes: so the sum stays, at its cheapest
	// (packet.ChecksumAdd's ADC loop; on the reading goroutine when
	// reading ahead).
	csumOK := false
	if r.o.VerifyChecksums {
		l4ok, ipok := h.sumsFor(ip, &r.pkt)
		if !l4ok || !ipok {
			r.rep.BadChecksums++
		}
		csumOK = l4ok && sameChecksumCheck(&r.pkt)
	} else if !r.pkt.IsFragment() {
		if l4ok, ipok := h.sumsFor(ip, &r.pkt); !l4ok || !ipok {
			r.rep.BadChecksums++
			r.pkt.FixChecksums()
		}
		csumOK = sameChecksumCheck(&r.pkt)
	}
	if local && r.o.OwnAnswers && r.answers.seen(&r.pkt, now) {
		r.skipped("the firewall's own answers (REJECT, ICMP errors), which the engine makes itself", "", false)
		return
	}
	switch r.pkt.Proto {
	case 4, 41, 47, 50, 115:
		r.rep.Tunnels[tunnelName(r.pkt.Proto)]++
	case packet.ProtoUDP:
		if r.pkt.L4OK && (r.pkt.DstPort == 4789 || r.pkt.DstPort == 51820 || r.pkt.DstPort == 4500 || r.pkt.DstPort == 6081) {
			r.rep.Tunnels["UDP "+strconv.Itoa(int(r.pkt.DstPort))]++
		}
	}
	in := engine.Input{Data: ip, In: iface, Local: local, Now: now, ChecksumOK: csumOK && passVerified}
	if !local {
		in.Frame = frameType(h, fr)
		if fr.HasSrcMAC {
			in.SrcMAC = fr.SrcMAC
		} else if ifc := r.hostIface(iface); ifc != nil {
			in.SrcMAC = ifc.Peer
		}
	}
	size := r.pkt.TotalLen
	tracing := r.tracer != nil
	if tracing {
		r.trace.Reset()
		where := "in " + iface
		if local {
			where = "local"
		}
		r.tracer.Begin(where, r.pkt.Summary())
	}
	sel := r.o.Select != nil && r.o.Select(&r.pkt, iface, local)
	r.e.Process(r.s, &in)
	r.ran = true
	res := &r.s.Result
	r.depart.predict(res)
	if r.o.OwnAnswers {
		r.answers.made(ip, res, now)
	}
	v := res.Verdict.String()
	r.rep.Replayed.add(size)
	vc := r.verdicts[res.Verdict]
	if vc == nil {
		if vc = r.rep.Verdicts[v]; vc == nil {
			vc = &Count{}
			r.rep.Verdicts[v] = vc
		}
		r.verdicts[res.Verdict] = vc
	}
	vc.add(size)
	ent, reply := r.s.Conn()
	if f := r.flows.see(ent, reply, r.pkt.Proto, r.pkt.TCPFlags, now, size, res); f != nil && f.PreCapture {
		pc := r.rep.PreCapture[v]
		if pc == nil {
			pc = &Count{}
			r.rep.PreCapture[v] = pc
		}
		pc.add(size)
	}
	if r.rsamp.n > 0 {
		trace := ""
		if tracing {
			trace = r.trace.String()
		}
		r.rsamp.add(res, r.pkt.Version == 6, &r.pkt, iface, local, r.n, now, trace)
	}
	if tracing {
		r.tracer.End()
		key := v
		if sel {
			key = "selected"
		}
		keep := sel || res.Verdict == engine.Drop || res.Verdict == engine.Reject || res.Verdict == engine.Queue
		if keep && r.samples[key] < r.o.Why {
			r.samples[key]++
			r.rep.Samples = append(r.rep.Samples, Sample{Index: r.n, Time: now, Verdict: v, Summary: summaryOf(ip, &r.pkt), Trace: r.trace.String()})
		}
	}
}

// passVerified hands checksums replay verified to the engine (a test
// turns it off to show the outcome does not change).
var passVerified = true

// sameChecksumCheck reports whether packet.L4ChecksumOK sums p's
// transport checksum as conntrack's nf_ip_checksum and the host's stack
// do (over every byte after the header, with the header's addresses):
// TCP and ICMP; UDP with a checksum and a length field that covers the
// whole datagram; not a fragment, and for IPv6 no extension header.
func sameChecksumCheck(p *packet.Packet) bool {
	if p.IsFragment() || p.Version == 6 && (p.ExtErr != packet.ExtOK || p.NextHdr != p.Proto) {
		return false
	}
	switch l4 := p.L4; p.Proto {
	case packet.ProtoTCP:
		return len(l4) >= 20
	case packet.ProtoUDP:
		return len(l4) >= 8 && binary.BigEndian.Uint16(l4[4:]) == uint16(len(l4)) && binary.BigEndian.Uint16(l4[6:]) != 0
	case packet.ProtoICMP:
		return p.Version == 4 && len(l4) >= 4
	}
	return false
}

// hostIface is e.Host.Iface(name), remembering the last interface
// found (a capture's packets come in on few interfaces).
func (r *Replayer) hostIface(name string) *host.Iface {
	if r.lastIfc == nil || !ext.SameName(r.lastIfc.Name, name) {
		r.lastIfc = r.e.Host.Iface(name)
	}
	return r.lastIfc
}

func summaryOf(ip []byte, p *packet.Packet) string {
	var q packet.Packet
	if q.Decode(ip) == nil {
		return q.Summary()
	}
	return p.Summary()
}

// complete returns the IP packet whole: as captured, or, when the
// snaplen cut it after its transport header and no rule reads payload,
// padded with zeros to its total length (the bytes no match reads).
// origIP is the packet's length on the wire from the IP header on.
func (r *Replayer) complete(ip []byte, origIP int) ([]byte, bool) {
	var total int
	switch {
	case len(ip) >= 20 && ip[0]>>4 == 4:
		total = int(binary.BigEndian.Uint16(ip[2:]))
	case len(ip) >= 40 && ip[0]>>4 == 6:
		total = 40 + int(binary.BigEndian.Uint16(ip[4:]))
	default:
		return ip, true
	}
	if total <= len(ip) || origIP <= len(ip) {
		// whole, or shorter on the wire too (a malformed packet the
		// engine refuses as the kernel does)
		return ip, true
	}
	r.pad = append(append(r.pad[:0], ip...), make([]byte, total-len(ip))...)
	var p packet.Packet
	if p.Decode(r.pad) != nil || headersLen(&p, len(ip)) > len(ip) {
		r.skipped("cut by the snaplen inside its headers: undecidable", "capture with a larger snaplen (tcpdump -s 0)", true)
		return nil, false
	}
	if r.payload {
		r.skipped("cut by the snaplen, and rules read payload (string, u32, bpf): undecidable", "capture with tcpdump -s 0", true)
		return nil, false
	}
	if r.o.VerifyChecksums {
		r.skipped("cut by the snaplen: its checksum cannot be verified", "capture with tcpdump -s 0, or replay without --verify-checksums", true)
		return nil, false
	}
	return r.pad, true
}

// headersLen is how many bytes of p (of which the first captured were
// captured) the rules and conntrack read: the
// IP header (with IPv6's extension headers), the transport header and,
// for an ICMP error, the header it quotes. A packet whose walk to the
// transport header failed reads all of its headers' bytes.
func headersLen(p *packet.Packet, captured int) int {
	n := p.HdrLen
	if p.IsLaterFragment() || p.Version == 6 && p.ExtErr != packet.ExtOK {
		return n
	}
	// The bytes that give a header's length are read only when they
	// were captured (the rest of p is padding): headersLen first asks
	// for them.
	l4 := p.L4[:max(0, min(len(p.L4), captured-n))]
	switch p.Proto {
	case packet.ProtoTCP:
		if len(l4) < 20 {
			return n + 20
		}
		return n + max(20, int(l4[12]>>4)*4)
	case packet.ProtoUDP:
		return n + 8
	case packet.ProtoICMP:
		if len(l4) < 9 {
			return n + 9
		}
		if isICMPError(l4[0]) {
			return n + 8 + max(20, int(l4[8]&0x0f)*4) + 8
		}
		return n + 8
	case packet.ProtoICMPv6:
		if len(l4) < 1 {
			return n + 1
		}
		if l4[0] < 128 {
			return n + 8 + 40 + 8
		}
		return n + 8
	}
	return n
}

func (r *Replayer) ifaceOf(h *held, fr *capture.Frame) string {
	if h.iface < len(r.ifnames) {
		if n := r.ifnames[h.iface]; n != "" && n != "any" && !isNFLOGName(n) {
			return n
		}
	}
	if fr.IfIndex != 0 {
		return r.o.IfIndex[fr.IfIndex]
	}
	return ""
}

func isNFLOGName(n string) bool { return len(n) >= 5 && n[:5] == "nflog" }

// dirByMAC tells the direction from the Ethernet addresses and the
// host's interfaces' MACs: sent by one of them is departing; addressed
// to one, or broadcast or multicast from another host, is arriving.
func (r *Replayer) dirByMAC(fr *capture.Frame, iface string) capture.Direction {
	if _, ok := r.macs[fr.SrcMAC]; ok {
		return capture.DirOut
	}
	if _, ok := r.macs[fr.DstMAC]; ok || fr.DstMAC[0]&1 != 0 {
		return capture.DirIn
	}
	return capture.DirUnknown
}

func frameType(h *held, fr *capture.Frame) engine.FrameType {
	if fr.HasPktType {
		switch fr.PktType {
		case capture.PktHost:
			return engine.FrameHost
		case capture.PktBroadcast:
			return engine.FrameBroadcast
		case capture.PktMulticast:
			return engine.FrameMulticast
		case capture.PktOtherHost:
			return engine.FrameOtherHost
		}
	}
	if fr.HasMAC {
		switch {
		case fr.DstMAC == [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}:
			return engine.FrameBroadcast
		case fr.DstMAC[0]&1 != 0:
			return engine.FrameMulticast
		}
		return engine.FrameHost
	}
	switch h.reception {
	case 1:
		return engine.FrameHost
	case 2:
		return engine.FrameMulticast
	case 3:
		return engine.FrameBroadcast
	case 4:
		return engine.FrameOtherHost
	}
	return engine.FrameGuess
}

func hookName(h uint8) string {
	switch h {
	case capture.HookPrerouting:
		return "prerouting"
	case capture.HookLocalIn:
		return "input"
	case capture.HookForward:
		return "forward"
	case capture.HookLocalOut:
		return "output"
	case capture.HookPostrouting:
		return "postrouting"
	}
	return "hook " + strconv.Itoa(int(h))
}

var etherNames = map[uint16]string{0x0806: "ARP", 0x8035: "RARP", 0x88cc: "LLDP", 0x888e: "EAPOL", 0x8847: "MPLS", 0x8863: "PPPoE discovery", 0x8864: "PPPoE session", 0x86dd: "IPv6", 0x0800: "IPv4"}

func etherName(t uint16) string {
	if t < 0x0600 {
		return "802.3 LLC (length " + strconv.Itoa(int(t)) + ")"
	}
	n := fmt.Sprintf("0x%04x", t)
	if s, ok := etherNames[t]; ok {
		return s + " (" + n + ")"
	}
	return n
}

func tunnelName(p uint8) string {
	switch p {
	case 4:
		return "IPIP"
	case 41:
		return "IPv6 in IPv4"
	case 47:
		return "GRE"
	case 50:
		return "ESP"
	case 115:
		return "L2TP"
	}
	return strconv.Itoa(int(p))
}

// preload puts Options.Preload into the engine's table at time now.
func (r *Replayer) preload(now int64) {
	for _, p := range r.o.Preload {
		e, err := r.e.CT.Insert(p, now)
		if err != nil {
			r.rep.PreloadRefused++
			continue
		}
		r.rep.Preloaded++
		r.flows.preloaded[e] = true
	}
	if rl := r.o.Recent; rl != nil {
		for _, name := range rl.Names {
			n, err := r.e.LoadRecent(name, rl.Lists[name], rl.Jiffies, now)
			if err != nil {
				r.rep.RecentUnused = append(r.rep.RecentUnused, name)
				continue
			}
			if r.rep.RecentLoaded == nil {
				r.rep.RecentLoaded = map[string]int{}
			}
			r.rep.RecentLoaded[name] = n
		}
	}
}

// Report returns what the replay found so far, with the engine's
// counters and the connections' final states.
func (r *Replayer) Report() *Report {
	rep := r.rep
	rep.Counters = r.counters()
	rep.Departures = r.depart.report()
	rep.RuleSamples = r.rsamp.out
	if r.entries != nil {
		rep.ChainEntries = r.chainEntries()
	}
	rep.IPv6 = !r.o.NoIPv6
	if r.iv.length > 0 && r.iv.start != 0 {
		iv := r.iv
		iv.done = append([]Interval(nil), iv.done...)
		iv.close(r)
		rep.Intervals = iv.done
	}
	rep.Skipped = nil
	for _, k := range r.skipOrder {
		rep.Skipped = append(rep.Skipped, *r.skip[k])
	}
	sort.SliceStable(rep.Skipped, func(i, j int) bool { return rep.Skipped[i].Packets > rep.Skipped[j].Packets })
	rep.States = map[string]int{}
	rep.PreCaptureFlows = 0
	rep.Flows = r.flows.finish(r.e.CT, r.lastTime)
	for _, f := range rep.Flows {
		rep.States[f.State]++
		if f.PreCapture {
			rep.PreCaptureFlows++
		}
	}
	if !r.o.Flows {
		rep.Flows = nil
	}
	return &rep
}

// Top returns the n rules (and policies) that counted the most packets,
// most first.
func (rep *Report) Top(n int) []RuleCount {
	var cs []RuleCount
	for _, c := range rep.Counters {
		if c.Packets > 0 {
			cs = append(cs, c)
		}
	}
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].Packets > cs[j].Packets })
	if len(cs) > n {
		cs = cs[:n]
	}
	return cs
}

// NeverHit returns the rules no packet raised (policies aside).
func (rep *Report) NeverHit() []RuleRef {
	var out []RuleRef
	for _, c := range rep.Counters {
		if c.Rule > 0 && c.Packets == 0 {
			out = append(out, c.RuleRef)
		}
	}
	return out
}

// chainEntries lists the entries into every built-in chain of the rules
// (0 for those no packet entered).
func (r *Replayer) chainEntries() []ChainEntry {
	var out []ChainEntry
	add := func(p *engine.Program, six bool) {
		for _, t := range p.Ruleset().Tables {
			for _, c := range t.Chains {
				if c.Builtin {
					k := RuleRef{IPv6: six, Table: t.Name, Chain: c.Name}
					out = append(out, ChainEntry{RuleRef: k, Packets: r.entries[k]})
				}
			}
		}
	}
	add(r.e.Program(), false)
	if !r.o.NoIPv6 && r.e.Program().IPv6() != nil {
		add(r.e.Program().IPv6(), true)
	}
	return out
}
