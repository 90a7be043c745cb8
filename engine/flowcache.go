package engine

// The flow cache: proven paths for the packets of established flows.
//
// What the kernel's flowtable and Open vSwitch's megaflows do, made
// exact by proof. When an established packet of a connection has walked
// the tables after connection tracking, the prover (prove.go) checks its
// path: every match that ran has an outcome fixed for the connection in
// its conntrack state and direction, and every rule that matched only
// counted and accepted, returned or jumped. Then, by induction over the
// rules in the order the kernel tries them, every later packet of the
// connection in the same direction that meets the same conditions takes
// the same path: it raises the same counters, is translated by the same
// NAT binding, takes the same route and gets the same verdict. The path
// is kept on the connection (conntrack.Entry.SetFlowCache), one per
// direction, with everything the proof assumed (flowPath's key):
//
//   - the Program (a reload starts over) and the Host (its routes and
//     addresses: addrtype, rpfilter and the routing decision read them);
//   - the input interface, the frame's type as the input gave it (with
//     the destination, fixed for the direction, it gives the packet type
//     -m pkttype reads) and the packet mark after the raw table;
//   - the conntrack state the rules see (ESTABLISHED, with its reply and
//     NAT bits), the connection's status bits (--ctstatus) and its mark
//     (-m connmark, fixed only when no rule sets it);
//   - the packet: IPv4 without options, not a fragment, a whole
//     transport header, and for TCP none of SYN, FIN and RST (the flags
//     a --tcp-flags test the prover accepts may read); a forwarded
//     packet's TTL above 1.
//
// Each later packet still runs what is not fixed, in the kernel's order:
// the raw table (before connection tracking: walked normally, so the
// cache needs no proof that raw is independent of conntrack), connection
// tracking itself (TCP window tracking, timeouts, accounting), and then,
// when the state comes out as the path assumed, the path: the counters
// of every rule and policy it counted (packets and the packet's length),
// the NAT binding's rewrite at each nat hook, the route and the TTL, and
// the verdict. Otherwise (another state, an INVALID segment, a SYN, a
// changed status) the packet walks the tables as usual, and a path for
// the new conditions is recorded and proven in its turn. A path that
// does not prove (a LOG, a limit, a mark, a match that reads the
// packet's contents or history: see MatchFixed) is remembered as such,
// so that later packets under the same conditions walk the tables
// without recording again.
//
// Only a packet that was forwarded or delivered, with nothing answered
// and the packet leaving whole, makes a path. Recording walks the chains
// without their classifiers (the proof needs every rule tried), once per
// connection, direction and conditions, and only once the connection has
// had flowRecordAfter eligible packets either way: a short connection
// walks the tables each time, as without the cache. Paths are interned
// per State (connections of one service share one), so that a
// connection costs no allocation; a path never changes once made, and a
// connection's slot is read and written atomically, so States on several
// goroutines may share connections. Tracing, path recording and probes
// bypass the cache; so do IPv6 packets, for now.

import (
	"encoding/binary"
	"sync/atomic"
	"unsafe"

	"github.com/ipsift/ipsift/conntrack"
	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/host"
	"github.com/ipsift/ipsift/packet"
)

// flowOp kinds.
const (
	opCount = iota // raise a rule's or policy's counters; a Hit
	opEnter        // a table's built-in chain entered (OnChainEntry)
	opNAT          // the NAT binding's rewrite at a nat hook
	opRoute        // the routing decision (forward: out interface, TTL)
)

// flowOp is one step of a cached path.
type flowOp struct {
	kind           uint8
	hook           ext.Hook
	nat            int // opNAT: ext.NATSrc or ext.NATDst
	packets, bytes *atomic.Uint64
	table, chain   string
	rule           int
	id             uintptr // what the op acts on, for interning
}

// flowPath is the proven path of a connection's packets in one
// direction under one set of conditions (the key), or, with ok false,
// the record that the path under them did not prove.
type flowPath struct {
	// The key: what the proof assumed.
	prog     *Program
	host     *host.Host
	in       string
	frame    FrameType // Input.Frame: with the destination, it gives pktType
	pktType  uint8
	mark     uint32
	ct       ext.CTState
	status   uint32
	connmark uint32

	ok    bool
	local bool        // delivered to the host (INPUT), else forwarded
	rt    *host.Route // forwarded: the route
	ifc   *host.Iface // and its interface (nil when the host has none)
	ops   []flowOp
	seen  int // a mark of seenPairs: prog is nil

	// The ops compiled for runFlow (compile): the counters and their
	// hits in order, the NAT rewrites (each before counters[at]), and
	// how many of those come before the route.
	counters   []flowCounter
	hits       []Hit
	nats       []flowNAT
	routeAfter int
}

type flowCounter struct{ packets, bytes *atomic.Uint64 }

type flowNAT struct {
	at   int
	hook ext.Hook
	kind int
}

// compile fills the compiled form of fp.ops.
func (fp *flowPath) compile() {
	for i := range fp.ops {
		op := &fp.ops[i]
		switch op.kind {
		case opCount:
			fp.counters = append(fp.counters, flowCounter{op.packets, op.bytes})
			fp.hits = append(fp.hits, Hit{Table: op.table, Chain: op.chain, Rule: op.rule})
		case opNAT:
			fp.nats = append(fp.nats, flowNAT{at: len(fp.counters), hook: op.hook, kind: op.nat})
		case opRoute:
			fp.routeAfter = len(fp.nats)
		}
	}
}

// flowPair is what an entry's FlowCache points to: the paths of both
// directions (interned: connections with the same paths share one).
type flowPair [2]*flowPath

// flowMark is an op noted while recording, placed before the path step
// at index at.
type flowMark struct {
	at int
	op flowOp
}

// flowState is a State's part of the flow cache.
type flowState struct {
	prog   *Program
	prover *Prover
	path   Path
	marks  []flowMark
	key    flowPath // the conditions at the start of the recording
	reply  bool     // and the packet's direction
	cand   flowPath // the path being proven, and its ops
	opsBuf []flowOp
	paths  map[string]*flowPath
	pairs  map[flowPair]*flowPair
	buf    []byte
	// The last paths and pairs interned (round robin), compared before
	// the maps.
	lastPaths [4]*flowPath
	lastPairs [4]*flowPair
	lastPath  int
	lastPair  int
}

// maxInterned bounds a State's interned paths and pairs: past it they
// start over (the paths connections hold stay valid).
const maxInterned = 1 << 14

// SetFlowCache turns the flow cache on or off (Config.FlowCache) for
// the following Process calls. Call it before packets are processed,
// not while other goroutines process them.
func (e *Engine) SetFlowCache(on bool) {
	e.flowCache = on
	if old := e.prog.Load(); on && old != nil && old.prover == nil {
		// The prover is made with the Program, outside the packets'
		// time (a 10,000-rule set takes about 25 M instructions).
		top := *old
		top.prover = NewProver(top.source)
		e.prog.Store(&top)
	}
}

// FlowCache reports whether the flow cache is on.
func (e *Engine) FlowCache() bool { return e.flowCache }

// FlowCached reports whether the last packet Process ran went its way
// on a proven path of the flow cache.
func (s *State) FlowCached() bool { return s.fcHit }

// FlowCachedPackets is how many packets of this State ran on proven
// paths.
func (s *State) FlowCachedPackets() uint64 { return s.fcHits }

// flowRecordAfter is how many eligible packets a connection must have
// had (either way) before a path of it is recorded: recording costs a
// few walks, so a connection with a packet or two each way (common in a
// mix) records nothing, and a longer one records once per direction and
// runs cached after. The count is kept in the entry's flow cache slot
// as a pair of marks (seenPairs), which need no interning.
const flowRecordAfter = 5

// seenPairs[k] marks a connection k of whose eligible packets walked
// the tables (k from 1); its paths have prog nil.
var seenPairs = func() (ps [flowRecordAfter]*flowPair) {
	for k := 1; k < flowRecordAfter; k++ {
		m := &flowPath{seen: k}
		ps[k] = &flowPair{m, m}
	}
	return ps
}()

// What flowFind says to do with a packet it found no path for.
const (
	flowWalk   = iota // walk the tables
	flowRecord        // walk them and record the path
)

// flowInput is the flow cache's part of input, after connection
// tracking: an eligible packet with a proven path runs it (done); one
// without may start the recording of the walk that follows, which
// Process ends (flowRecorded).
func (e *Engine) flowInput(p *Program, s *State, in *Input) (Verdict, bool) {
	// Eligible: established, no tracing, path recording or probe;
	// IPv4 without options, not a fragment, a whole transport header;
	// TCP without SYN, FIN and RST, or UDP.
	pk := &s.pkt
	if s.ctx.CT&ext.CTEstablished == 0 || pk.Version != 4 || pk.HdrLen != 20 || !pk.L4OK || s.fragMax != 0 ||
		pk.IsFragment() || s.tracer != nil || s.path != nil || s.probe != nil {
		return 0, false
	}
	switch pk.Proto {
	case packet.ProtoTCP:
		if pk.TCPFlags&(packet.TCPSyn|packet.TCPFin|packet.TCPRst) != 0 {
			return 0, false
		}
	case packet.ProtoUDP:
	default:
		return 0, false
	}
	fp, do := e.flowFind(p, s, in)
	if fp != nil {
		if s.pktGuess {
			s.ctx.PktType, s.pktGuess = fp.pktType, false
		}
		return e.runFlow(s, fp), true
	}
	if do == flowRecord {
		if s.pktGuess {
			e.guessPktType(s)
		}
		s.flowRecord(p, e, in)
	}
	return 0, false
}

// flowFind returns the proven path for the packet when its conditions
// are those the path was proven under; otherwise what to do.
func (e *Engine) flowFind(p *Program, s *State, in *Input) (fp *flowPath, do int) {
	dir := 0
	if s.reply {
		dir = 1
	}
	pr := (*flowPair)(s.entry.FlowCache())
	if pr != nil && pr[dir] != nil {
		fp = pr[dir]
		c := &s.ctx
		if fp.prog == p && p != nil && fp.host == e.Host && fp.ct == c.CT && fp.frame == in.Frame && fp.mark == c.Mark &&
			fp.status == s.entry.Status() && fp.connmark == s.entry.Mark() && fp.in == in.In {
			if !fp.ok || s.pkt.TTL <= 1 {
				return nil, flowWalk
			}
			return fp, flowWalk
		}
	}
	// No path under these conditions. TTL 1: not forwarded, nothing to
	// record (nor to keep as not proven when it is delivered).
	if s.pkt.TTL <= 1 {
		return nil, flowWalk
	}
	k := 0
	switch {
	case pr == nil:
	case pr[0] != nil && pr[0].prog == nil:
		k = pr[0].seen
	default:
		return nil, flowRecord // a path of this connection is (or was) known
	}
	if k+1 < flowRecordAfter {
		s.entry.SetFlowCache(unsafe.Pointer(seenPairs[k+1]))
		return nil, flowWalk
	}
	return nil, flowRecord
}

// runFlow runs the rest of an arriving packet's way (after connection
// tracking) on its proven path: what inputMain would do, without the
// walk. In order: the counters up to each NAT rewrite, the rewrite, the
// route after as many rewrites as came before it, the rest of the
// counters, the verdict.
func (e *Engine) runFlow(s *State, fp *flowPath) Verdict {
	s.fcHit = true
	s.fcHits++
	if s.entered != nil {
		return e.runFlowOps(s, fp)
	}
	res := &s.Result
	length := uint64(s.pkt.TotalLen)
	k := 0
	for i := range fp.nats {
		if i == fp.routeAfter && !fp.local {
			e.setOutIface(s, fp.ifc, fp.rt.Dev)
			s.pkt.DecTTL()
		}
		n := &fp.nats[i]
		for ; k < n.at; k++ {
			c := &fp.counters[k]
			c.packets.Add(1)
			c.bytes.Add(length)
		}
		s.ctx.Hook = n.hook
		if !e.CT.Translate(s.entry, s.reply, n.kind, &s.pkt) {
			for i := range fp.hits[:k] {
				h := &fp.hits[i]
				addHit(&res.Hits, h.Table, h.Chain, h.Rule)
			}
			return e.finish(s, Drop)
		}
	}
	if fp.routeAfter == len(fp.nats) && !fp.local {
		e.setOutIface(s, fp.ifc, fp.rt.Dev)
		s.pkt.DecTTL()
	}
	for ; k < len(fp.counters); k++ {
		c := &fp.counters[k]
		c.packets.Add(1)
		c.bytes.Add(length)
	}
	for i := range fp.hits {
		h := &fp.hits[i]
		addHit(&res.Hits, h.Table, h.Chain, h.Rule)
	}
	return e.flowVerdict(s, fp)
}

// flowVerdict ends a packet run on its path: delivered, or forwarded
// and recorded as leaving.
func (e *Engine) flowVerdict(s *State, fp *flowPath) Verdict {
	if fp.local {
		s.ctx.Hook = ext.LocalIn
		return e.finish(s, AcceptLocal)
	}
	s.ctx.Hook = ext.PostRouting
	v := e.finish(s, Forward)
	if v == Forward {
		e.leave(s, fp.rt.Dev, false)
	}
	return v
}

// runFlowOps is runFlow op by op, for a State that reports the chains
// entered (OnChainEntry).
func (e *Engine) runFlowOps(s *State, fp *flowPath) Verdict {
	res := &s.Result
	length := uint64(s.pkt.TotalLen)
	for i := range fp.ops {
		op := &fp.ops[i]
		switch op.kind {
		case opCount:
			op.packets.Add(1)
			op.bytes.Add(length)
			addHit(&res.Hits, op.table, op.chain, op.rule)
		case opEnter:
			s.ctx.Hook = op.hook
			if s.entered != nil {
				s.entered(false, op.table, op.chain)
			}
		case opNAT:
			s.ctx.Hook = op.hook
			if !e.CT.Translate(s.entry, s.reply, op.nat, &s.pkt) {
				return e.finish(s, Drop)
			}
		case opRoute:
			if !fp.local {
				e.setOutIface(s, fp.ifc, fp.rt.Dev)
				s.pkt.DecTTL()
			}
		}
	}
	return e.flowVerdict(s, fp)
}

// flowRecord starts recording the walk of the packet's way after
// connection tracking, with the conditions it starts under.
func (s *State) flowRecord(p *Program, e *Engine, in *Input) {
	f := s.flowState()
	if f.prog != p {
		f.prog, f.prover = p, p.prover
		if f.prover == nil {
			f.prover = NewProver(p.source)
		}
		f.paths, f.pairs = nil, nil
		f.lastPaths, f.lastPairs = [4]*flowPath{}, [4]*flowPair{}
	}
	c := &s.ctx
	f.key = flowPath{prog: p, host: e.Host, in: in.In, frame: in.Frame, pktType: c.PktType, mark: c.Mark, ct: c.CT,
		status: s.entry.Status(), connmark: s.entry.Mark()}
	f.reply = s.reply
	f.path.Steps = f.path.Steps[:0]
	f.marks = f.marks[:0]
	s.path = &f.path
	s.fcRec = true
}

// flowNote notes an op of the walk being recorded.
func (s *State) flowNote(op flowOp) {
	f := s.fc
	f.marks = append(f.marks, flowMark{at: len(f.path.Steps), op: op})
}

// flowNoteRoute notes the routing decision of the walk being recorded.
func (s *State) flowNoteRoute(local bool, rt *host.Route, ifc *host.Iface) {
	f := s.fc
	f.key.local, f.key.rt, f.key.ifc = local, rt, ifc
	s.flowNote(flowOp{kind: opRoute})
}

// flowRecorded ends the recording: when the walk ended as a path can
// (forwarded or delivered, nothing answered, the packet left whole),
// its path is proven and kept on the connection for this direction,
// or kept as not proven.
func (e *Engine) flowRecorded(s *State, v Verdict) {
	s.path, s.fcRec = nil, false
	f := s.fc
	res := &s.Result
	ok := s.nreply == 0 && !s.hostPending && s.fragMax == 0
	switch {
	case v == Forward && len(res.Out) == 1 && !f.key.local && f.key.rt != nil:
	case v == AcceptLocal && len(res.Out) == 0 && f.key.local:
	default:
		ok = false
	}
	nroute := 0
	for _, m := range f.marks {
		if m.op.kind == opRoute {
			nroute++
		}
	}
	fp := &f.cand
	*fp = f.key
	if ok && nroute == 1 {
		fp.ok, _ = f.prover.Prove(f.path.Steps)
	}
	if fp.ok {
		f.opsBuf = f.ops(f.opsBuf[:0])
		fp.ops = f.opsBuf
	} else {
		// Kept as not proven: the packets under these conditions walk
		// the tables without recording again.
		fp.local, fp.rt, fp.ifc = false, nil, nil
	}
	e.flowKeep(s, f.intern(fp))
}

// ops appends the recorded path's counting steps, merged with the
// noted ops, to ops.
func (f *flowState) ops(ops []flowOp) []flowOp {
	mi := 0
	for i := range f.path.Steps {
		for ; mi < len(f.marks) && f.marks[mi].at <= i; mi++ {
			ops = f.appendOp(ops, f.marks[mi].op)
		}
		st := &f.path.Steps[i]
		if !st.Matched || st.packets == nil {
			continue
		}
		ops = append(ops, flowOp{kind: opCount, packets: st.packets, bytes: st.bytes, table: st.Table, chain: st.Chain, rule: st.Number, id: uintptr(unsafe.Pointer(st.packets))})
	}
	for ; mi < len(f.marks); mi++ {
		ops = f.appendOp(ops, f.marks[mi].op)
	}
	return ops
}

// appendOp appends a noted op, leaving out a NAT rewrite that does
// nothing under the path's status (Translate returns at once: the
// connection has no binding of that kind in that direction).
func (f *flowState) appendOp(ops []flowOp, op flowOp) []flowOp {
	if op.kind == opNAT && !conntrack.Rewrites(f.key.status, f.reply, op.nat) {
		return ops
	}
	return append(ops, op)
}

// intern returns the State's path equal to fp, adding fp when there is
// none. Looking one up allocates nothing: the last paths interned are
// compared first (the connections of one service record the same path
// one after the other), then a map.
func (f *flowState) intern(fp *flowPath) *flowPath {
	for _, x := range f.lastPaths {
		if x != nil && samePath(x, fp) {
			return x
		}
	}
	x := f.internMap(fp)
	f.lastPaths[f.lastPath] = x
	f.lastPath = (f.lastPath + 1) % len(f.lastPaths)
	return x
}

// samePath reports whether a and b are the same path under the same
// conditions.
func samePath(a, b *flowPath) bool {
	if a.prog != b.prog || a.host != b.host || a.in != b.in || a.frame != b.frame || a.pktType != b.pktType ||
		a.mark != b.mark || a.ct != b.ct || a.status != b.status || a.connmark != b.connmark ||
		a.ok != b.ok || a.local != b.local || a.rt != b.rt || a.ifc != b.ifc || len(a.ops) != len(b.ops) {
		return false
	}
	for i := range a.ops {
		x, y := &a.ops[i], &b.ops[i]
		if x.kind != y.kind || x.hook != y.hook || x.nat != y.nat || x.id != y.id {
			return false
		}
	}
	return true
}

func (f *flowState) internMap(fp *flowPath) *flowPath {
	b := f.buf[:0]
	put := func(v uint64) { b = binary.LittleEndian.AppendUint64(b, v) }
	put(uint64(uintptr(unsafe.Pointer(fp.prog))))
	put(uint64(uintptr(unsafe.Pointer(fp.host))))
	put(uint64(fp.pktType) | uint64(fp.ct)<<8 | uint64(fp.frame)<<24 | uint64(fp.mark)<<32)
	put(uint64(fp.status) | uint64(fp.connmark)<<32)
	var flags uint64
	if fp.ok {
		flags |= 1
	}
	if fp.local {
		flags |= 2
	}
	put(flags)
	put(uint64(uintptr(unsafe.Pointer(fp.rt))))
	put(uint64(uintptr(unsafe.Pointer(fp.ifc))))
	for i := range fp.ops {
		op := &fp.ops[i]
		put(uint64(op.kind) | uint64(op.hook)<<8 | uint64(op.nat)<<16)
		put(uint64(op.id))
	}
	b = append(b, fp.in...)
	f.buf = b
	if x := f.paths[string(b)]; x != nil {
		return x
	}
	if f.paths == nil || len(f.paths) >= maxInterned {
		f.paths = map[string]*flowPath{}
	}
	x := new(flowPath)
	*x = *fp
	x.ops = append([]flowOp(nil), fp.ops...)
	x.compile()
	f.paths[string(b)] = x
	return x
}

// flowKeep keeps fp on the packet's connection for its direction.
func (e *Engine) flowKeep(s *State, fp *flowPath) {
	var pr flowPair
	if old := (*flowPair)(s.entry.FlowCache()); old != nil && old[0] != nil && old[0].prog != nil || old != nil && old[1] != nil && old[1].prog != nil {
		pr = *old
		for i := range pr {
			if pr[i] != nil && pr[i].prog == nil {
				pr[i] = nil // a count: the connection records now
			}
		}
	}
	dir := 0
	if s.reply {
		dir = 1
	}
	pr[dir] = fp
	x := s.flowState().internPair(pr)
	s.entry.SetFlowCache(unsafe.Pointer(x))
}

// internPair returns the State's pair equal to pr, adding it when there
// is none: the last pairs first, then a map.
func (f *flowState) internPair(pr flowPair) *flowPair {
	for _, x := range f.lastPairs {
		if x != nil && *x == pr {
			return x
		}
	}
	x := f.pairs[pr]
	if x == nil {
		if f.pairs == nil || len(f.pairs) >= maxInterned {
			f.pairs = map[flowPair]*flowPair{}
		}
		x = new(flowPair)
		*x = pr
		f.pairs[pr] = x
	}
	f.lastPairs[f.lastPair] = x
	f.lastPair = (f.lastPair + 1) % len(f.lastPairs)
	return x
}

// flowState returns the State's part of the flow cache, made on first
// use.
func (s *State) flowState() *flowState {
	if s.fc == nil {
		s.fc = &flowState{}
	}
	return s.fc
}
