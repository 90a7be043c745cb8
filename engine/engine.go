package engine

import (
	"io"
	"net/netip"
	"sync/atomic"

	"github.com/ipsift/ipsift/classify"
	"github.com/ipsift/ipsift/conntrack"
	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/host"
	"github.com/ipsift/ipsift/packet"
	"github.com/ipsift/ipsift/rules"
)

// Verdict is what became of a packet, in the words of the packets format
// (../shared/formats/packets.md).
type Verdict uint8

// Verdicts.
const (
	AcceptLocal Verdict = iota // delivered to the host
	Forward                    // sent on
	Sent                       // a local packet left
	Reject                     // a REJECT answered it
	Drop
	Queue // an NFQUEUE or QUEUE target took it
)

var verdictNames = [...]string{"accept-local", "forward", "sent", "reject", "drop", "queue"}

// String returns the verdict's name in the packets format.
func (v Verdict) String() string { return verdictNames[v] }

// Hit is one counter a packet raised: a rule (1-based) or, with Rule 0,
// a built-in chain's policy.
type Hit struct {
	Table, Chain string
	Rule         int
}

// OutPacket is a packet that left an interface.
type OutPacket struct {
	Iface     string
	Data      []byte
	HostReply bool // an answer from the host's own stack
	// Answer is set for every packet the host sent because of this one
	// (a target's answer or its stack's), not the packet itself.
	Answer bool
}

// Result is what happened to one packet. Its slices are reused from one
// packet to the next: copy what must outlive the next Process call. The
// Data of the packet itself in Out (not an answer) may be Input.Data,
// which Process rewrites in place (NAT, TTL): read it before reusing
// Input.Data.
type Result struct {
	Verdict   Verdict
	QueueNum  uint16
	Hits      []Hit // counters raised, in order
	ReplyHits []Hit // counters raised by answers the host sent
	Out       []OutPacket
	OutIface  string // where a forwarded or sent packet left
	// SelfDelivered counts answers the host sent to itself (over lo, or
	// the copy of a broadcast) that passed INPUT: the kernel counts
	// those in its delivery statistics too.
	SelfDelivered int
}

// Engine evaluates packets against the current Program on a host.
type Engine struct {
	prog  atomic.Pointer[Program]
	Host  *host.Host
	store *ext.Store
	cfg   Config
	// CT is the connection tracking table. It belongs to the engine, not
	// to a Program, so connections survive a reload as in the kernel.
	CT     *conntrack.Table
	defrag *defragmenter
	// peers6 are the IPv6 inet_peer entries (Redirect rate limits).
	peers6 peerLimits
	// Log receives the LOG target's lines.
	Log io.Writer
	// flowCache: established packets run on their connection's proven
	// path (Config.FlowCache, flowcache.go).
	flowCache bool
}

// New compiles rs for host h (nil for host.Default()). rs is the
// ruleset of one family (IPv4 or IPv6, as its Family says); the other
// family's tables start empty, passing every packet, until Load gives
// them a ruleset. Config.Rules6 gives both at once.
func New(rs *rules.Ruleset, h *host.Host, cfg Config) (*Engine, error) {
	if h == nil {
		h = host.Default()
	}
	ctcfg := conntrack.DefaultConfig()
	if cfg.HZ != 0 {
		ctcfg.HZ = cfg.HZ
	}
	ctcfg.Seed = cfg.Seed
	if cfg.ConntrackMax != 0 {
		ctcfg.Max = cfg.ConntrackMax
	}
	e := &Engine{Host: h, store: ext.NewStore(), cfg: cfg, Log: io.Discard, CT: conntrack.New(ctcfg), defrag: newDefragmenter(), flowCache: cfg.FlowCache}
	if err := e.LoadPair(rs, cfg.Rules6); err != nil {
		return nil, err
	}
	return e, nil
}

// Load compiles rs and makes it the current ruleset of its family in
// one atomic step, as iptables-restore or ip6tables-restore replace
// their family's tables and leave the other's; on error the old Program
// stays.
func (e *Engine) Load(rs *rules.Ruleset) error {
	return e.LoadPair(rs, nil)
}

// LoadPair loads an IPv4 and an IPv6 ruleset in one atomic step (either
// may be nil to keep that family's current tables; a ruleset's own
// Family decides which tables it replaces). On error nothing changes.
func (e *Engine) LoadPair(rs, rs6 *rules.Ruleset) error {
	old := e.prog.Load()
	var top Program
	if old != nil {
		top = *old
	} else {
		top = *emptyProgram(ext.IPv4, e.cfg.Legacy)
		top.six = emptyProgram(ext.IPv6, e.cfg.Legacy)
	}
	for _, r := range []*rules.Ruleset{rs, rs6} {
		if r == nil {
			continue
		}
		p, err := Compile(r, e.cfg, e.store)
		if err != nil {
			return err
		}
		if p.family == ext.IPv6 {
			top.six = p
		} else {
			six := top.six
			top = *p
			top.six = six
		}
	}
	if e.flowCache && top.prover == nil {
		top.prover = NewProver(top.source)
	}
	e.prog.Store(&top)
	return nil
}

// Program returns the current Program.
func (e *Engine) Program() *Program { return e.prog.Load() }

// Input describes one packet to evaluate.
type Input struct {
	// Data is the IP packet. Process rewrites it in place where the
	// kernel would (NAT, the TTL of forwarded packets).
	Data   []byte
	In     string // interface it arrived on; "" with Local
	Local  bool   // the host sends it
	SrcMAC [6]byte
	// Frame is how the frame was addressed at the link layer (the
	// kernel's skb->pkt_type, which -m pkttype and REJECT look at).
	// FrameGuess infers it from the IP destination: a broadcast or
	// multicast address came in a broadcast or multicast frame.
	Frame FrameType
	Now   int64 // engine clock, nanoseconds since the Unix epoch
	Mark  uint32
	// ChecksumOK says the caller verified the transport checksum (the
	// kernel's CHECKSUM_UNNECESSARY, as after a NIC's check): connection
	// tracking, REJECT and the host's stack do not sum it again. Set it
	// only for a checksum known to be right, or (live enforcement) one
	// the kernel itself would not check: NFQUEUE's skb info without
	// CSUM_NOTVERIFIED, which the kernel passes as right whatever it
	// holds.
	ChecksumOK bool
	// GSO says the packet is a GSO packet handed over whole (live
	// enforcement): its segments, not it, must fit the MTU, as
	// ip6_pkt_too_big checks with skb_gso_validate_network_len, so
	// forwarding does not take it for a packet too big.
	GSO bool
	// Owner is the socket that sends a Local packet (-m owner, LOG
	// --log-uid); nil: none, as for what the kernel sends itself.
	Owner *Owner
}

// Owner is a local socket's owner.
type Owner struct{ UID, GID uint32 }

// FrameType is the link-layer addressing of an arriving frame.
type FrameType uint8

const (
	FrameGuess     FrameType = iota // infer from the IP destination
	FrameHost                       // to the interface's own address
	FrameBroadcast                  // to the link broadcast address
	FrameMulticast                  // to a link multicast address
	FrameOtherHost                  // to another host (promiscuous)
)

// pktTypes maps a known FrameType to the kernel's pkt_type.
var pktTypes = [...]uint8{FrameHost: ext.PktHost, FrameBroadcast: ext.PktBroadcast, FrameMulticast: ext.PktMulticast, FrameOtherHost: ext.PktOtherHost}

// State is the per-packet working memory of one caller: reuse it for
// every packet of a goroutine and evaluation allocates nothing.
type State struct {
	ctx     ext.Ctx
	pkt     packet.Packet
	Result  Result
	tracer  Tracer
	log     io.Writer // LOG lines of this State's packets; nil: the engine's Log
	path    *Path     // RecordPath
	probe   *probe    // Probe's run, nil otherwise
	entered func(six bool, table, chain string)
	replies [][]byte
	nreply  int
	inIf    ext.Iface
	inHost  *host.Host // the host inIf was looked up on (input)
	inName  string     // the Input.In inIf was found for
	outIf   ext.Iface
	stack   [64]frame
	key     classify.Key // what the chain classifiers test (runTable)
	// The packet's connection: entry, direction, and whether it was
	// created by this packet (to confirm or discard at the end).
	entry   *conntrack.Entry
	reply   bool
	tracked bool
	// attached: the packet is an answer the firewall made for a
	// connection (REJECT), attached to it rather than tracked.
	attached bool
	// hostReplying: the packet on its way out is the host stack's own
	// answer (marked host_reply in results).
	hostReplying bool
	hostBuf      []byte
	// outBufs[i] holds the copy of Result.Out[i]'s bytes when they are
	// copied (record).
	outBufs [][]byte
	// hostPending: hostBuf holds an ICMP error the host's stack sends
	// for the packet itself (ip_forward's time exceeded), attached to
	// the packet's connection as icmp_send does.
	hostPending bool
	// origins[i] is the connection answer i was made for (the packet
	// being processed when a target emitted it); sent counts the
	// answers already sent.
	origins []replyOrigin
	sent    int
	// looped: the packet is one the host sent to itself, back in
	// through PREROUTING and INPUT with the connection it had on the
	// way out (nf_conntrack_in ignores it).
	looped    bool
	answering int // sendReply depth: what leaves now is an answer
	// icmpLocked: the packet on its way out is the ICMP stack's own
	// (an echo or timestamp reply, an ICMP error), sent holding the ICMP
	// socket's lock.
	icmpLocked bool
	loopBuf    []byte
	// scopeIf is where an IPv6 answer to a link-local address leaves
	// (replyOrigin.iif); "" otherwise.
	scopeIf string
	// discards are new connections of dropped packets, forgotten at the
	// end of Process unless an answer confirmed them.
	discards []*conntrack.Entry
	legacy   bool // the Program runs with x_tables semantics
	// fragMax is the largest fragment of a datagram this packet was
	// reassembled from (0 when it was not): it leaves in pieces that
	// size again.
	fragMax   int
	fragSizes []int  // the data length of each of those fragments
	fragID    uint32 // an IPv6 datagram's identification, for its fragments again
	// defragThoff: where nf_defrag_ipv6 left the transport header of
	// the datagram it reassembled (where the Fragment header was), 0
	// when it did not (hostStack6).
	defragThoff int
	// summedHdr6 is set when conntrack verified an IPv6 UDP datagram's
	// checksum by summing it at PREROUTING, to the sum of the first 8
	// bytes of its IPv6 header then (see udpSumStale6); 0 when it did not.
	summedHdr6 uint32
	// hopByHop: the IPv6 packet came with a Hop-by-Hop header first,
	// which ip6_rcv_core processed (before nf_defrag_ipv6 could put
	// one there by removing an atomic Fragment header).
	hopByHop bool
	// fc is the State's part of the flow cache (flowcache.go); fcRec:
	// the walk is being recorded for it.
	fc    *flowState
	fcRec bool
	// pktGuess: the packet type is not looked up yet (receiveOn).
	pktGuess bool
	fcHit    bool   // the packet ran on a proven path (FlowCached)
	fcHits   uint64 // how many did (FlowCachedPackets)
}

type frame struct {
	c *chain
	i int
}

// NewState returns a State for one goroutine.
func NewState() *State {
	s := &State{}
	s.ctx.Emit = s.emit
	return s
}

// replyOrigin is the connection an answer is attached to.
type replyOrigin struct {
	entry     *conntrack.Entry
	reply     bool
	untracked bool // the packet answered was untracked (NOTRACK)
	// iif is the interface the packet answered came in on, or in
	// OUTPUT the one it is routed to: an IPv6 answer to a link-local
	// address leaves by it (icmp6_send and tcp_v6_send_response route
	// such an address on the packet's device). For a packet to one of
	// the host's addresses that came in on lo, or is on its way there
	// in OUTPUT, it is the interface that has that address: icmp6_dev
	// takes the idev of the local route for a packet on lo, and
	// ip6_rcv_core records it as the packet's input interface
	// (IP6CB(skb)->iif).
	iif string
	// dev is the device of the answer's own skb when it is not the one
	// it is routed to (ext.Ctx.SkbDev).
	dev string
}

// addrIfacer is the host's interface holding an address (host.Host).
type addrIfacer interface{ AddrIface(netip.Addr) string }

// origin is the replyOrigin of an answer to the packet being processed.
func (s *State) origin() replyOrigin {
	o := replyOrigin{entry: s.entry, reply: s.reply, untracked: s.ctx.CT == ext.CTUntracked}
	switch {
	case s.ctx.In != nil:
		o.iif = s.ctx.In.Name
	case s.ctx.Out != nil:
		// In OUTPUT the packet's device is the one it is routed to
		// (icmp6_dev reads skb->dev), unless the host made it for
		// another link (SkbDev).
		o.iif = s.ctx.Out.Name
		if s.ctx.SkbDev != "" {
			o.iif = s.ctx.SkbDev
		}
	}
	if o.iif == "" || o.iif == "lo" {
		if h, ok := s.ctx.Host.(addrIfacer); ok && s.pkt.Version == 6 {
			if dev := h.AddrIface(s.pkt.Dst); dev != "" {
				o.iif = dev
			}
		}
	}
	return o
}

// maxReplies bounds the answers one packet can cause, answers to
// answers included (a REJECT in OUTPUT refusing the host's own RST
// answers it with an ICMP error; errors are never answered, so chains
// end by themselves, but a bound keeps a mistake from looping).
const maxReplies = 8

func (s *State) emit(b []byte) {
	if s.nreply == maxReplies {
		return
	}
	if s.icmpLocked && isICMPPacket(b) {
		// icmp_send cannot take the ICMP socket icmp_reply holds
		// while its answer goes through OUTPUT (icmp_xmit_lock's
		// trylock fails): the error is not sent.
		return
	}
	if s.nreply == len(s.replies) {
		s.replies = append(s.replies, nil)
		s.origins = append(s.origins, replyOrigin{})
	}
	s.replies[s.nreply] = append(s.replies[s.nreply][:0], b...)
	s.origins[s.nreply] = s.origin()
	if len(b) > 6 && b[0]>>4 == 6 && b[6] == packet.ProtoTCP {
		// nf_send_reset6 routes its RST without the input interface:
		// to a link-local address it leaves by the first link's route.
		s.origins[s.nreply].iif = ""
	}
	s.nreply++
}

// isICMPPacket reports an ICMP packet, or an ICMPv6 one (whose ICMPv6
// header follows the IPv6 header directly, as the stack's errors do).
func isICMPPacket(b []byte) bool {
	if len(b) > 0 && b[0]>>4 == 6 {
		return len(b) > 6 && b[6] == packet.ProtoICMPv6
	}
	return len(b) > 9 && b[9] == packet.ProtoICMP
}

// Conn returns the connection of the packet last processed and whether
// the packet travelled in its reply direction; nil when the packet was
// untracked or invalid. A connection its packet did not get confirmed
// (a dropped first packet) has Status()&conntrack.IPSConfirmed == 0.
// Replay uses it to follow flows.
func (s *State) Conn() (*conntrack.Entry, bool) { return s.entry, s.reply }

// CTState returns the conntrack state the packet last processed had in
// the rules (0 when the Program tracks no connections). Replay writes
// it into annotated captures.
func (s *State) CTState() ext.CTState { return s.ctx.CT }

// SetTracer makes the following Process calls report every step to t
// (nil to stop). Tracing is for people: it allocates.
func (s *State) SetTracer(t Tracer) { s.tracer = t }

// SetLog sends the LOG lines of the following Process calls to w
// instead of the Engine's Log (nil to go back to it): a caller tracing
// its packets sees their lines while other goroutines' packets keep
// writing to the Engine's Log.
func (s *State) SetLog(w io.Writer) { s.log = w }

// OnChainEntry makes the following Process calls call f each time a
// packet (or an answer the host sends) enters a table's built-in chain,
// with its family: the entries iptables does not count, for the
// report's funnel. It costs a call per table walked; nil stops it.
func (s *State) OnChainEntry(f func(six bool, table, chain string)) { s.entered = f }

func (s *State) note(text string) {
	if s.tracer != nil {
		s.tracer.Event(Event{Kind: EvNote, Text: text})
	}
}

// Process runs one packet through the hooks and leaves the outcome in
// s.Result. A packet whose IP header cannot be decoded is dropped before
// any hook, as the kernel's ip_rcv does.
func (e *Engine) Process(s *State, in *Input) {
	p := e.prog.Load()
	s.legacy = p.legacy
	s.fragMax, s.fragSizes, s.defragThoff, s.summedHdr6 = 0, nil, 0, 0
	res := &s.Result
	res.Hits, res.ReplyHits, res.Out = res.Hits[:0], res.ReplyHits[:0], res.Out[:0]
	res.OutIface, res.QueueNum, res.SelfDelivered = "", 0, 0
	s.nreply, s.sent, s.hostPending, s.looped, s.fcHit = 0, 0, false, false, false
	if s.path != nil {
		s.path.Steps = s.path.Steps[:0]
	}
	if err := s.pkt.Decode(in.Data); err != nil {
		res.Verdict = Drop
		s.note("not a valid IP packet: " + err.Error())
		return
	}
	s.pkt.L4Verified = in.ChecksumOK && !s.pkt.IsFragment()
	// One test of the family: the IPv6 work before the hooks in its
	// branch, IPv4's in the other.
	if s.pkt.Version == 6 {
		// ip6tables' tables; answers to the packet are IPv6 too.
		p = p.six
		if !e.cfg.NoHostStack && e.defrag.busy6.Load() {
			// The Time Exceeded messages of datagrams whose reassembly
			// (nf_defrag_ipv6's or the stack's) timed out since the last
			// packet go out first. (busy6 is takeTimeouts6's own first
			// test, made here to spare the call while nothing waits.)
			for _, to := range e.defrag.takeTimeouts6(in.Now) {
				e.fragTimeExceeded(p, s, to, in.Now)
			}
		}
		s.hopByHop = s.pkt.NextHdr == packet.ProtoHopOpts
		if s.hopByHop && !in.Local && e.hopByHop6(s, in) {
			e.sendHostPending(p, s)
			e.finishTrace(s)
			return
		}
		if p.conntrack {
			if done := e.defrag6(p, s, in); done {
				return
			}
		}
	} else if s.hopByHop = false; p.conntrack && s.pkt.IsFragment() {
		// nf_defrag_ipv4 runs before the raw table wherever connection
		// tracking is in use: a fragment waits for the rest and raises
		// nothing; the last one brings the whole datagram.
		user := fragConntrackIn
		if in.Local {
			user = fragConntrackOut
		}
		whole, maxLen, sizes := e.defrag.addFor(user, &s.pkt, in.Now)
		if whole == nil {
			res.Verdict = Drop
			s.note("fragment held for reassembly (connection tracking reassembles before the raw table)")
			e.finishTrace(s)
			return
		}
		s.fragMax, s.fragSizes = maxLen, sizes
		if err := s.pkt.Decode(whole); err != nil {
			res.Verdict = Drop
			return
		}
		s.note("reassembled: " + s.pkt.Summary())
	}
	e.resetCtx(s, in.Now, in.Mark)
	if in.Local && in.Owner != nil {
		s.ctx.UID, s.ctx.GID = int(in.Owner.UID), int(in.Owner.GID)
	}
	if in.Local {
		res.Verdict = e.output(p, s, &res.Hits)
	} else {
		res.Verdict = e.input(p, s, in)
		if s.fcRec {
			e.flowRecorded(s, res.Verdict)
		}
	}
	if res.Verdict == Drop && s.nreply > 0 {
		// An answer left for a packet that was then dropped: the
		// packets format's "reject". A Redirect the forwarding path
		// sent before FORWARD dropped the packet is not such an answer
		// (packets.md: "a REJECT answered it"): the verdict stays drop.
		res.Verdict = Reject
	}
	if s.probe != nil {
		// A probe answers nothing and leaves nothing behind.
		s.nreply, s.hostPending = 0, false
		return
	}
	// Answers the targets created leave through OUTPUT and POSTROUTING.
	// (The tests before the calls spare a packet without answers them.)
	if s.sent < s.nreply {
		e.sendReplies(p, s)
	}
	if s.hostPending {
		e.sendHostPending(p, s)
	}
	if res.Verdict == AcceptLocal && !e.cfg.NoHostStack {
		if s.pkt.Version == 6 {
			e.hostStack6(p, s)
		} else {
			e.hostStack(p, s)
		}
		e.sendReplies(p, s)
	}
	if len(s.discards) > 0 {
		e.dropUnconfirmed(s)
	}
	e.finishTrace(s)
}

// sendHostPending sends the ICMP error the host's stack made for the
// packet itself (hostPending), and what it causes.
func (e *Engine) sendHostPending(p *Program, s *State) {
	if !s.hostPending {
		return
	}
	s.hostReplying, s.icmpLocked = true, true
	e.sendReply(p, s, s.hostBuf, s.origin(), true)
	s.hostReplying, s.icmpLocked = false, false
	e.sendReplies(p, s)
}

// hopByHop6 is ip6_rcv_core's check of a Hop-by-Hop header
// (ipv6_parse_hopopts, before PREROUTING): a header that fails it is
// dropped there, silently or with a Parameter Problem the host sends
// (hostPending). It reports whether the packet was dropped.
func (e *Engine) hopByHop6(s *State, in *Input) bool {
	v, ptr := packet.OptsCheck(s.pkt.Data, 40, true, s.pkt.Dst.IsMulticast())
	if v == packet.OptsOK {
		return false
	}
	s.Result.Verdict = Drop
	s.note("the Hop-by-Hop header fails ip6_rcv_core's check: dropped before PREROUTING")
	if v == packet.OptsDrop || e.cfg.NoHostStack {
		return true
	}
	e.resetCtx(s, in.Now, in.Mark)
	e.receiveOn(s, in, false)
	if b := ext.BuildICMPv6Error(&s.ctx, 4, packet.OptsProblemCode(v), uint32(ptr)); b != nil {
		s.hostBuf = append(s.hostBuf[:0], b...)
		s.hostPending = true
	}
	return true
}

func (e *Engine) finishTrace(s *State) {
	if s.tracer != nil {
		s.tracer.Event(Event{Kind: EvVerdict, Verdict: s.Result.Verdict, Text: s.Result.OutIface})
	}
}

func (e *Engine) resetCtx(s *State, now int64, mark uint32) {
	emit := s.ctx.Emit
	if emit == nil {
		emit = s.emit
	}
	log := e.Log
	if s.log != nil {
		log = s.log
	}
	// Field by field, in place: the same as assigning the literal
	// ext.Ctx{Pkt: &s.pkt, Now: now, Mark: mark, Host: e.Host, Log: log,
	// Emit: emit, UID: -1, GID: -1, Conns: e.CT} (TestResetCtxWhole
	// checks that no field is left out), without building the literal
	// on the stack and copying it, whose mixed-size stores then wide
	// loads stall the copy (about a tenth of a one-rule packet's time).
	c := &s.ctx
	c.Pkt, c.Hook, c.In, c.Out, c.SkbDev = &s.pkt, 0, nil, nil, ""
	c.Now, c.Mark, c.PktType, c.SrcMAC, c.HasMAC = now, mark, 0, [6]byte{}, false
	c.CT, c.Conn, c.Nfct, c.Conns = 0, nil, false, e.CT
	c.UID, c.GID = -1, -1
	c.Host, c.Log, c.Emit, c.NAT = e.Host, log, emit, nil
	s.entry, s.reply, s.tracked, s.attached = nil, false, false, false
}

// runTables runs the tables of one stage of a hook (the Program keeps,
// for each stage, only the tables that have a chain at its hook); done
// is true when the packet's fate was decided (dropped, rejected,
// queued).
func (e *Engine) runTables(p *Program, s *State, st stage, hits *[]Hit) (Verdict, bool) {
	if p.enters(s, st) {
		return e.runStage(p, s, st, hits)
	}
	return 0, false
}

// enters sets the hook of stage st and reports whether the stage has
// any table to run. It is inlined: the arriving packet's path tests
// each stage with it before the call (runTables is not inlined), so that
// a stage without tables costs no call.
func (p *Program) enters(s *State, st stage) bool {
	s.ctx.Hook = st.hook()
	return p.active&(1<<st.index()) != 0
}

func (e *Engine) runStage(p *Program, s *State, st stage, hits *[]Hit) (Verdict, bool) {
	h := st.hook()
	ts := p.stages[st.index()]
	if len(ts) == 1 && ts[0].index != tNAT && ts[0].index != tMangle {
		// One plain table (a filter-only ruleset's FORWARD, INPUT or
		// OUTPUT): no loop, whose state Go reloads after each call.
		t := ts[0]
		if v := e.runTable(s, t, t.hooks[h], hits); !goesOn(v) {
			return verdictOf(s, v)
		}
		return 0, false
	}
	for _, t := range ts {
		switch {
		case t.index == tNAT:
			if v, done := e.natHook(p, s, t, h, hits); done {
				return v, true
			}
		case t.index == tMangle && h == ext.LocalOut && s.pkt.Version == 6:
			if v, done := e.mangleOut6(s, t, hits); done {
				return v, true
			}
		default:
			if v := e.runTable(s, t, t.hooks[h], hits); !goesOn(v) {
				return verdictOf(s, v)
			}
		}
	}
	return 0, false
}

// mangleOut6 runs ip6table_mangle's OUTPUT hook: when the rules changed
// what a route depends on, ip6_route_me_harder routes the packet again.
func (e *Engine) mangleOut6(s *State, t *table, hits *[]Hit) (Verdict, bool) {
	before := mangledOf(s)
	if v, done := verdictOf(s, e.runTable(s, t, t.hooks[ext.LocalOut], hits)); done {
		return v, true
	}
	if mangledOf(s) != before && !e.reroute6(s) {
		s.note("mangle OUTPUT changed the packet and ip6_route_me_harder finds no route: dropped")
		return Drop, true
	}
	return 0, false
}

// mangled6 is what ip6table_mangle's OUTPUT hook compares to decide on
// a new route: the addresses, the mark, the hop limit and the first
// word of the header (traffic class and flow label).
type mangled6 struct {
	src, dst netip.Addr
	mark     uint32
	hlim     uint8
	word     [4]byte
}

func mangledOf(s *State) mangled6 {
	m := mangled6{src: s.pkt.Src, dst: s.pkt.Dst, mark: s.ctx.Mark, hlim: s.pkt.TTL}
	copy(m.word[:], s.pkt.Data)
	return m
}

// reroute6 is ip6_route_me_harder after mangle OUTPUT changed the
// packet: a link-local or multicast destination is looked up strictly
// on the device the packet was routed to, which for one of the host's
// own addresses is lo, where nothing of link scope is (no route: the
// packet is dropped); any other destination is routed again. The model
// has no routing rules, so the mark alone changes nothing else.
func (e *Engine) reroute6(s *State) bool {
	dev := s.Result.OutIface
	if s.pkt.Dst.IsMulticast() || host.IsLinkLocal6(s.pkt.Dst) {
		return dev != "lo"
	}
	dev, ok := e.route(s)
	if ok {
		e.setOut(s, dev)
	}
	return ok
}

// goesOn reports a table's verdict that lets the packet go on to the
// next table (verdictOf's false).
func goesOn(v ext.Verdict) bool {
	k := v.Kind()
	return k == ext.Accept || k == ext.Continue
}

func verdictOf(s *State, v ext.Verdict) (Verdict, bool) {
	switch v.Kind() {
	case ext.Accept, ext.Continue:
		return 0, false
	case ext.Queue:
		s.Result.QueueNum = v.QueueNum()
		return Queue, true
	}
	return Drop, true
}

// track is nf_conntrack_in, after the raw table: it finds or creates the
// packet's connection and sets the state the matches see.
func (e *Engine) track(p *Program, s *State, local bool) (Verdict, bool) {
	if !p.conntrack || s.ctx.CT == ext.CTUntracked || s.attached || s.looped {
		return 0, false
	}
	if s.probe != nil {
		s.probeTrack()
		return 0, false
	}
	var ent *conntrack.Entry
	var st ext.CTState
	var reply bool
	if local {
		ent, st, reply = e.CT.TrackLocal(&s.pkt, s.ctx.Now)
	} else {
		ent, st, reply = e.CT.Track(&s.pkt, s.ctx.Now)
		e.noteSummed6(s)
	}
	if st == conntrack.Drop {
		s.note("conntrack drops it")
		return Drop, true
	}
	s.ctx.CT = st
	s.entry, s.reply, s.tracked = ent, reply, ent != nil
	if ent != nil {
		s.ctx.Conn = ent.Conn(reply)
	}
	if s.tracer != nil {
		s.tracer.Event(Event{Kind: EvNote, Text: "conntrack  " + ctText(st, reply, ent)})
	}
	return 0, false
}

func ctText(st ext.CTState, reply bool, ent *conntrack.Entry) string {
	var w string
	switch {
	case st&ext.CTInvalid != 0:
		w = "INVALID"
	case st&ext.CTNew != 0:
		w = "NEW"
	case st&ext.CTEstablished != 0:
		w = "ESTABLISHED"
	case st&ext.CTRelated != 0:
		w = "RELATED"
	case st&ext.CTUntracked != 0:
		w = "UNTRACKED"
	}
	if reply {
		w += ", reply direction"
	}
	if ent != nil {
		w += ": " + ent.String()
	}
	return w
}

// finish confirms the packet's new connection once it has passed every
// hook, or forgets it when the packet was dropped.
//
// Like __nf_conntrack_confirm, it also confirms for an answer attached
// in the original direction (an ICMP error about a REJECT's RST, say):
// that can put into the table a connection whose own first packet was
// dropped. A dropped packet's new connection is therefore forgotten only
// once every answer to it has gone (the kernel frees the unconfirmed
// conntrack with its last reference): see dropUnconfirmed.
func (e *Engine) finish(s *State, v Verdict) Verdict {
	if s.entry == nil {
		return v
	}
	return e.confirm(s, v)
}

// confirm is finish for a packet conntrack attached an entry to
// (finish, without it, is inlined: a stateless packet makes no call).
func (e *Engine) confirm(s *State, v Verdict) Verdict {
	if !s.tracked && !(s.attached && !s.reply) {
		return v
	}
	switch v {
	case AcceptLocal, Forward, Sent:
		if !e.CT.Confirm(s.entry, s.ctx.Now) {
			s.note("conntrack could not confirm the connection: dropped")
			return Drop
		}
	case Queue:
		// The kernel confirms when the packet is reinjected; the
		// datapath decides. Keep it unconfirmed.
	default:
		if s.tracked {
			s.discards = append(s.discards, s.entry)
		}
	}
	return v
}

// dropUnconfirmed forgets the new connections of dropped packets that
// no answer confirmed.
func (e *Engine) dropUnconfirmed(s *State) {
	for i, ent := range s.discards {
		e.CT.Discard(ent)
		s.discards[i] = nil
	}
	s.discards = s.discards[:0]
}

// natHook is nf_nat_inet_fn for one hook: the nat chain sees only the
// first packet of a connection (for this manipulation); its decision, or
// the null binding, then rewrites every packet of the connection.
func (e *Engine) natHook(p *Program, s *State, t *table, h ext.Hook, hits *[]Hit) (Verdict, bool) {
	if s.entry == nil {
		return 0, false // untracked or invalid: NAT leaves it alone
	}
	kind := ext.NATSrc
	if h == ext.PreRouting || h == ext.LocalOut {
		kind = ext.NATDst
	}
	// nf_nat_inet_fn runs the chain for a new connection's first packet
	// and for a RELATED one (a RST attached to a packet that was dropped
	// before this hook) while the connection has no binding of this kind
	// yet.
	// A RELATED ICMP packet is only translated (nf_nat_ipv4_fn hands
	// it to nf_nat_icmp_reply_translation before any chain).
	icmp := s.pkt.Proto == packet.ProtoICMP
	if s.pkt.Version == 6 {
		icmp = s.pkt.Proto == packet.ProtoICMPv6 // nf_nat_ipv6_fn
	}
	first := s.ctx.CT&ext.CTNew != 0 && !s.reply || s.ctx.CT&ext.CTRelated != 0 && !icmp
	if first && !s.entry.HasNAT(kind) {
		s.ctx.NAT = nil
		if v, done := verdictOf(s, e.runTable(s, t, t.hooks[h], hits)); done {
			return v, true
		}
		if req := s.ctx.NAT; req != nil {
			if err := e.CT.SetupNAT(s.entry, req, e.natAddress(s, h, req)); err != nil {
				s.note("NAT: " + err.Error() + ": dropped")
				return Drop, true
			}
		}
		if !s.entry.HasNAT(kind) {
			e.CT.SetupNullNAT(s.entry, kind)
		}
		s.ctx.NAT = nil
	}
	var before string
	if s.tracer != nil {
		before = s.pkt.Summary()
	}
	if s.fcRec {
		s.flowNote(flowOp{kind: opNAT, hook: h, nat: kind})
	}
	if !e.CT.Translate(s.entry, s.reply, kind, &s.pkt) {
		s.note("NAT cannot rewrite it: dropped")
		return Drop, true
	}
	if s.tracer != nil {
		if after := s.pkt.Summary(); after != before {
			s.tracer.Event(Event{Kind: EvNote, Text: "now  " + after})
		}
	}
	return 0, false
}

// natAddress is the address MASQUERADE (the output interface's) or
// REDIRECT (the input interface's, or loopback for local packets) maps
// to.
func (e *Engine) natAddress(s *State, h ext.Hook, req *ext.NATRequest) netip.Addr {
	if s.pkt.Version == 6 {
		return e.natAddress6(s, h, req)
	}
	switch {
	case req.Masquerade && s.ctx.Out != nil:
		hop := s.pkt.Dst
		if rt, ok := e.Host.Lookup(hop); ok && rt.Gateway.IsValid() {
			hop = rt.Gateway
		}
		a, _ := e.Host.SourceFor(s.ctx.Out.Name, hop)
		return a
	case req.Redirect && h == ext.LocalOut:
		return netip.AddrFrom4([4]byte{127, 0, 0, 1})
	case req.Redirect && s.ctx.In != nil:
		if ifc := e.Host.Iface(s.ctx.In.Name); ifc != nil && len(ifc.Addrs) > 0 {
			return ifc.Addrs[0].Addr()
		}
	}
	return netip.Addr{}
}

// receiveOn sets the packet's context for its arrival on in.In: the
// input interface, the source MAC, the packet type. When it looked the
// destination up in the local table (for the frame's type, when the
// input does not say), it returns that, known, for the routing decision
// after PREROUTING.
//
// With lazy, a frame whose type the input does not say is left as
// PktHost for now (pktGuess): guessPktType looks it up when needed.
func (e *Engine) receiveOn(s *State, in *Input, lazy bool) (d host.Dest, known bool) {
	c := &s.ctx
	s.pktGuess = false
	if s.inHost != e.Host || !ext.SameName(s.inName, in.In) {
		// A State mostly sees one host and few input interfaces:
		// keep the last one found.
		s.inHost, s.inIf, s.inName = e.Host, ext.Iface{Name: in.In}, in.In
		if ifc := e.Host.Iface(in.In); ifc != nil {
			s.inIf = ifc.Iface
		}
	}
	c.In, c.Out = &s.inIf, nil
	c.SrcMAC, c.HasMAC = in.SrcMAC, true
	c.PktType = ext.PktHost
	if in.Frame != FrameGuess && int(in.Frame) < len(pktTypes) {
		c.PktType = pktTypes[in.Frame]
	} else if lazy {
		s.pktGuess = true
	} else {
		return e.guessPktType(s)
	}
	return d, known
}

// guessPktType sets the packet type of a frame the input did not say
// from its destination's type, and returns that lookup.
func (e *Engine) guessPktType(s *State) (d host.Dest, known bool) {
	s.pktGuess = false
	d = e.Host.Dest(s.pkt.Dst)
	switch d.Type {
	case host.RTNBroadcast:
		s.ctx.PktType = ext.PktBroadcast
	case host.RTNMulticast:
		s.ctx.PktType = ext.PktMulticast
	}
	return d, true
}

func (e *Engine) input(p *Program, s *State, in *Input) Verdict {
	res := &s.Result
	dst := s.pkt.Dst
	// With the flow cache, the packet type of a frame the input does
	// not say is looked up only when something reads it: the raw
	// table, the walk after conntrack. A cached path knows it (the
	// type follows from the destination, fixed for the connection's
	// direction: flowPath.frame).
	lazy := e.flowCache && p.conntrack && s.pkt.Version == 4 && p.active&(1<<stPreRaw.index()) == 0
	d, known := e.receiveOn(s, in, lazy)
	if !p.enters(s, stPreRaw) {
		// no table at this stage
	} else if v, done := e.runStage(p, s, stPreRaw, &res.Hits); done {
		return e.finish(s, v)
	}
	if !p.conntrack {
		// No connection tracking: nothing to track or confirm.
	} else if v, done := e.track(p, s, false); done {
		if s.pktGuess {
			e.guessPktType(s)
		}
		return e.finish(s, v)
	} else if e.flowCache && s.entry != nil {
		if v, done := e.flowInput(p, s, in); done {
			return v
		}
	}
	if s.pktGuess {
		d, known = e.guessPktType(s)
	}
	if !p.enters(s, stPreMain) {
		// no table at this stage
	} else if v, done := e.runStage(p, s, stPreMain, &res.Hits); done {
		return e.finish(s, v)
	}
	if !known || s.pkt.Dst != dst {
		d = e.Host.Dest(s.pkt.Dst)
	}
	local := host.LocalType(s.pkt.Dst, d.Type)
	var mcast6, linkDst bool
	if s.pkt.Version == 6 {
		mcast6, linkDst = host.DstKind6(s.pkt.Dst)
	}
	if linkDst {
		// A link-local address is the host's only on its own link:
		// on another it is a neighbour there (the route lookup is
		// strict about the input interface).
		local = e.Host.AddrType(s.pkt.Dst, in.In) == host.RTNLocal
	}
	if mcast6 {
		// ip6_mc_input: a group the host has not joined on the input
		// interface is dropped (the host routes no multicast).
		if !e.Host.Joined(s.pkt.Dst, in.In) {
			if s.tracer != nil {
				s.tracer.Event(Event{Kind: EvRoute, Text: s.pkt.Dst.String() + " is a group this host has not joined on " + in.In + " → dropped"})
			}
			return e.finish(s, Drop)
		}
		local = true
	}
	if local {
		if s.tracer != nil {
			s.tracer.Event(Event{Kind: EvRoute, Text: s.pkt.Dst.String() + " is this host's → INPUT"})
		}
		if s.pkt.IsFragment() && s.pkt.Version == 4 {
			// ip_local_deliver reassembles before the INPUT hook, with
			// or without connection tracking: a fragment waits here.
			whole, _, _ := e.defrag.addFor(fragLocalDeliver, &s.pkt, s.ctx.Now)
			if whole == nil {
				s.note("fragment held for reassembly before INPUT")
				return e.finish(s, Drop)
			}
			if err := s.pkt.Decode(whole); err != nil {
				return e.finish(s, Drop)
			}
			s.note("reassembled: " + s.pkt.Summary())
		}
		if s.fcRec {
			s.flowNoteRoute(true, nil, nil)
		}
		if !p.enters(s, stIn) {
			// no table at this stage
		} else if v, done := e.runStage(p, s, stIn, &res.Hits); done {
			return e.finish(s, v)
		}
		return e.finish(s, AcceptLocal)
	}
	// The route, pointed to (not copied) when Dest found it.
	var rt *host.Route
	if linkDst {
		if linkRt, ok := e.Host.LookupOn(s.pkt.Dst, in.In); ok {
			rt = &linkRt
			e.setOut(s, rt.Dev)
		}
	} else if d.Route != nil {
		rt = d.Route
		e.setOutIface(s, d.Iface, rt.Dev)
		if s.fcRec {
			s.flowNoteRoute(false, rt, d.Iface)
		}
	}
	if rt == nil {
		if s.tracer != nil {
			s.tracer.Event(Event{Kind: EvRoute, Text: "no route to " + s.pkt.Dst.String() + " → dropped"})
		}
		return e.finish(s, Drop)
	}
	if s.tracer != nil {
		s.tracer.Event(Event{Kind: EvRoute, Text: routeText(s.pkt.Dst, *rt) + " → FORWARD, out " + rt.Dev})
	}
	if s.pkt.Version == 6 {
		if v, done := e.forward6(p, s, in, rt); done {
			return e.finish(s, v)
		}
	} else {
		// ip_forward: a packet whose TTL would run out is dropped
		// before the FORWARD hook (the kernel answers with time
		// exceeded); the others go on with their TTL lowered, which
		// FORWARD and POSTROUTING see.
		if s.pkt.TTL <= 1 {
			s.note("TTL exceeded: dropped before FORWARD, answered with ICMP time exceeded")
			s.ctx.Hook = ext.Forward // not for this host: answer from the route back
			if b := ext.BuildICMPError(&s.ctx, 11, 0); b != nil && (!e.cfg.NoHostStack || e.cfg.ForwardErrors) {
				s.hostBuf = append(s.hostBuf[:0], b...)
				s.hostPending = true
			}
			return e.finish(s, Drop)
		}
		s.pkt.DecTTL()
	}
	if !p.enters(s, stForward) {
		// no table at this stage
	} else if v, done := e.runStage(p, s, stForward, &res.Hits); done {
		return e.finish(s, v)
	}
	if !p.enters(s, stPost) {
		// no table at this stage
	} else if v, done := e.runStage(p, s, stPost, &res.Hits); done {
		return e.finish(s, v)
	}
	v := e.finish(s, Forward)
	if v == Forward {
		e.leave(s, rt.Dev, false)
	}
	return v
}

// forward6 is what ip6_forward does before the FORWARD hook: a hop
// limit that would run out draws an ICMPv6 Time Exceeded; a packet that
// leaves by the link it came in on draws a Redirect (redirect6) and
// goes on; otherwise a source that is unspecified, multicast or
// loopback is dropped, and a link-local one draws a Destination
// Unreachable "beyond scope of source"; a packet bigger than the link's
// MTU draws a Packet Too Big. The hop limit of the others is lowered.
func (e *Engine) forward6(p *Program, s *State, in *Input, rt *host.Route) (Verdict, bool) {
	pk := &s.pkt
	s.ctx.Hook = ext.Forward
	if pk.TTL <= 1 {
		return e.forwardError6(s, "hop limit exceeded: dropped before FORWARD, answered with ICMPv6 time exceeded", 3, 0, 0)
	}
	if rt.Dev == in.In {
		e.redirect6(p, s, in, *rt)
	} else {
		never, linkLocal := host.Unroutable6(pk.Src)
		if never {
			s.note("a source of " + pk.Src.String() + " is never forwarded: dropped")
			return Drop, true
		}
		if linkLocal {
			return e.forwardError6(s, "a link-local source is not forwarded off its link: answered with ICMPv6 beyond scope of source", 1, 2, 0)
		}
	}
	// ip6_pkt_too_big: a datagram nf_defrag_ipv6 reassembled is too big
	// only when one of its fragments was (frag_max_size).
	// (A packet no bigger than host.MinMTU fits any route: no lookup.)
	if pk.TotalLen > host.MinMTU && !in.GSO {
		if mtu := e.Host.RouteMTU(pk.Dst); pk.TotalLen > mtu && (s.fragMax == 0 || s.fragMax > mtu) {
			return e.forwardError6(s, "bigger than the MTU of "+rt.Dev+": dropped, answered with ICMPv6 packet too big", 2, 0, uint32(mtu))
		}
	}
	pk.DecTTL()
	return 0, false
}

// forwardError6 drops a packet ip6_forward refuses, with the ICMPv6
// error the host's stack sends for it (hostPending).
func (e *Engine) forwardError6(s *State, why string, typ, code uint8, info uint32) (Verdict, bool) {
	s.note(why)
	if b := ext.BuildICMPv6Error(&s.ctx, typ, code, info); b != nil && (!e.cfg.NoHostStack || e.cfg.ForwardErrors) {
		s.hostBuf = append(s.hostBuf[:0], b...)
		s.hostPending = true
	}
	return Drop, true
}

func routeText(dst netip.Addr, rt host.Route) string {
	if rt.Gateway.IsValid() {
		return dst.String() + " via " + rt.Gateway.String() + " (" + rt.Dst.String() + ")"
	}
	return dst.String() + " is on " + rt.Dev + " (" + rt.Dst.String() + ")"
}

func (e *Engine) setOut(s *State, dev string) {
	e.setOutIface(s, e.Host.Iface(dev), dev)
}

// setOutIface is setOut with dev's interface (nil when the host has
// none of that name) already found.
func (e *Engine) setOutIface(s *State, ifc *host.Iface, dev string) {
	if ifc != nil {
		// The host's own (it does not change once looked up in): no copy.
		s.ctx.Out = &ifc.Iface
	} else {
		s.outIf = ext.Iface{Name: dev}
		s.ctx.Out = &s.outIf
	}
	s.Result.OutIface = dev
}

// leave records the packet as sent out of dev: in fragments again when
// it was reassembled from smaller ones. The packet a caller gave
// (not an answer the host made) that leaves whole by an interface other
// than lo is recorded without a copy: its Out Data is the packet's own
// bytes (Input.Data, rewritten in place), which nothing changes later
// in the Process call. What leaves by lo comes back in (loopIn), where
// the rules may rewrite it again; answers are built in buffers the
// State reuses within the call: those are copied.
func (e *Engine) leave(s *State, dev string, hostReply bool) {
	if s.fragMax > 0 && len(s.pkt.Data) > s.fragMax && !hostReply {
		e.leaveFragments(s, dev)
		return
	}
	e.record(s, dev, s.pkt.Data, hostReply, s.answering == 0 && dev != "lo")
}

// leaveFragments is leave for a reassembled datagram bigger than its
// largest fragment: it leaves as fragments again (leave, without it, is
// inlined).
func (e *Engine) leaveFragments(s *State, dev string) {
	if s.pkt.Version == 6 {
		refragment6(s.pkt.Data, s.fragSizes, s.fragMax, s.fragID, func(f []byte) { e.record(s, dev, f, false, false) })
		return
	}
	refragment(s.pkt.Data, s.fragSizes, s.fragMax, func(f []byte) { e.record(s, dev, f, false, false) })
}

// record adds a packet to Result.Out: data itself when shared, else a
// copy in a buffer of the State's (one per position in Out, reused: an
// Out entry's Data may have been a caller's packet before, which must
// never be written to).
func (e *Engine) record(s *State, dev string, data []byte, hostReply, shared bool) {
	res := &s.Result
	n := len(res.Out)
	if n < cap(res.Out) {
		res.Out = res.Out[:n+1]
	} else {
		res.Out = append(res.Out, OutPacket{})
	}
	o := &res.Out[n]
	o.Iface, o.HostReply, o.Answer = dev, hostReply, s.answering > 0
	if shared {
		o.Data = data
		return
	}
	for len(s.outBufs) <= n {
		s.outBufs = append(s.outBufs, nil)
	}
	s.outBufs[n] = append(s.outBufs[n][:0], data...)
	o.Data = s.outBufs[n]
}

// route decides where a locally generated packet leaves.
func (e *Engine) route(s *State) (string, bool) {
	if s.scopeIf != "" && host.IsLinkLocal6(s.pkt.Dst) {
		// Looked up strictly on scopeIf: one of its own addresses
		// is local there.
		if e.Host.AddrType(s.pkt.Dst, s.scopeIf) == host.RTNLocal {
			return "lo", true
		}
		return s.scopeIf, true
	}
	switch e.Host.AddrType(s.pkt.Dst, "") {
	case host.RTNLocal:
		return "lo", true
	case host.RTNBroadcast:
		// A subnet's broadcast leaves on that subnet's interface (and
		// a copy comes back in: see loopBroadcast).
		if rt, ok := e.Host.Lookup(s.pkt.Dst); ok {
			return rt.Dev, true
		}
		return "lo", true
	}
	rt, ok := e.Host.Lookup(s.pkt.Dst)
	if !ok {
		return "", false
	}
	if s.tracer != nil {
		s.tracer.Event(Event{Kind: EvRoute, Text: routeText(s.pkt.Dst, rt) + " → out " + rt.Dev})
	}
	return rt.Dev, true
}

// output runs a locally generated packet: route, OUTPUT (raw, conntrack,
// mangle, nat, filter, security), a new route if NAT changed the
// destination, POSTROUTING.
func (e *Engine) output(p *Program, s *State, hits *[]Hit) Verdict {
	c := &s.ctx
	c.In, c.HasMAC, c.PktType = nil, false, ext.PktHost
	dev, ok := e.route(s)
	if !ok {
		s.note("no route to " + s.pkt.Dst.String() + ": the send fails")
		return Drop
	}
	e.setOut(s, dev)
	if !p.enters(s, stOutRaw) {
		// no table at this stage
	} else if v, done := e.runStage(p, s, stOutRaw, hits); done {
		return e.finish(s, v)
	}
	if v, done := e.track(p, s, true); done {
		return e.finish(s, v)
	}
	dst := s.pkt.Dst
	if !p.enters(s, stOutMain) {
		// no table at this stage
	} else if v, done := e.runStage(p, s, stOutMain, hits); done {
		return e.finish(s, v)
	}
	if s.pkt.Dst != dst {
		// ip_route_me_harder: NAT in OUTPUT changed the destination.
		// ip6_route_me_harder looks a link-local or multicast one up
		// strictly on the device the packet was routed to.
		if s.pkt.Version != 6 || !s.pkt.Dst.IsMulticast() && !host.IsLinkLocal6(s.pkt.Dst) {
			if dev, ok = e.route(s); !ok {
				return e.finish(s, Drop)
			}
		}
		e.setOut(s, dev)
	}
	if dev != "lo" && e.Host.AddrType(s.pkt.Dst, "") == host.RTNBroadcast {
		// ip_mc_output: a copy of a broadcast goes through POSTROUTING
		// first and comes back in on dev (dev_loopback_xmit).
		e.loopBroadcast(p, s, dev, hits)
	}
	if !p.enters(s, stPost) {
		// no table at this stage
	} else if v, done := e.runStage(p, s, stPost, hits); done {
		return e.finish(s, v)
	}
	v := e.finish(s, Sent)
	if v == Sent {
		if s.pkt.Version == 6 && dev != "lo" && s.answering == 0 && s.pkt.Dst.IsMulticast() && e.Host.Joined(s.pkt.Dst, dev) {
			// ip6_finish_output2: a packet a socket sends to a group
			// the host has joined on dev is copied back to the host
			// (the stack's own messages, ndisc's and answers, do not
			// loop back), after POSTROUTING; the copy passes
			// POSTROUTING again and comes in on dev.
			e.loopBroadcast(p, s, dev, hits)
			if s.pkt.TTL == 0 {
				// ip6_finish_output2: after the copy for the host, a
				// multicast packet with hop limit 0 is discarded
				// (Ip6OutDiscards), not sent; only there: to a group
				// the host has not joined it leaves as it is.
				s.note("multicast with hop limit 0: looped back only, not sent")
				return Drop
			}
		}
		e.leave(s, dev, s.hostReplying)
		if dev == "lo" && !s.looped {
			e.loopIn(p, s, "lo", hits)
		}
	}
	return v
}

// loopBroadcast sends the copy of a broadcast (or of an IPv6 multicast
// packet) the host keeps for itself: POSTROUTING on its own (the copy
// shares the connection), then in again on dev.
func (e *Engine) loopBroadcast(p *Program, s *State, dev string, hits *[]Hit) {
	if s.looped {
		return
	}
	saved, savedCtx := s.pkt, s.ctx
	s.loopBuf = append(s.loopBuf[:0], s.pkt.Data...)
	if s.pkt.Decode(s.loopBuf) == nil {
		if _, done := e.runTables(p, s, stPost, hits); !done {
			e.loopIn(p, s, dev, hits)
		}
	}
	s.pkt, s.ctx = saved, savedCtx
}

// loopIn runs a packet the host sent to itself back in on dev, as
// loopback_xmit and dev_loopback_xmit hand it to ip_rcv: PREROUTING
// (connection tracking ignores it: it keeps the connection it left
// with) and, since its route is already the local one, INPUT, whatever
// PREROUTING did to it. It is an answer (an ICMP error, a RST) or a copy
// of a broadcast: the host's stack answers neither.
func (e *Engine) loopIn(p *Program, s *State, dev string, hits *[]Hit) {
	saved, savedCtx, savedIn := s.pkt, s.ctx, s.inIf
	s.looped = true
	s.inIf = ext.Iface{Name: dev}
	if ifc := e.Host.Iface(dev); ifc != nil {
		s.inIf = ifc.Iface
	}
	c := &s.ctx
	// lo's frames carry its own (all-zero) address: PACKET_HOST; the
	// copy of a broadcast is marked PACKET_LOOPBACK.
	c.In, c.Out, c.PktType = &s.inIf, nil, ext.PktHost
	if dev != "lo" {
		c.PktType = ext.PktLoopback
	}
	// The copy has no socket: loopback_xmit orphans the packet and
	// skb_clone (dev_loopback_xmit's copy) does not take the socket.
	c.UID, c.GID = -1, -1
	s.note("looped back in on " + dev)
	if _, done := e.runTables(p, s, stPreAll, hits); !done {
		if _, done := e.runTables(p, s, stIn, hits); !done {
			s.Result.SelfDelivered++
		}
	}
	s.pkt, s.ctx, s.inIf = saved, savedCtx, savedIn
	s.looped = false
}

// sendReplies sends the answers targets emitted and not yet sent, in
// order; answers they cause in turn join the queue.
func (e *Engine) sendReplies(p *Program, s *State) {
	for ; s.sent < s.nreply; s.sent++ {
		e.sendReply(p, s, s.replies[s.sent], s.origins[s.sent], true)
	}
}

// sendReply runs an answer the host created through OUTPUT and
// POSTROUTING, its counters into ReplyHits. attached answers (a
// REJECT's, icmp_send's errors) belong to the connection of the packet
// they answer (origin) as RELATED, as nf_conntrack_attach makes them;
// the host stack's RSTs and echo replies are tracked like any local
// packet.
func (e *Engine) sendReply(p *Program, s *State, data []byte, origin replyOrigin, attached bool) {
	saved, savedCtx := s.pkt, s.ctx
	savedOut, savedOutIf := s.Result.OutIface, s.outIf
	ent, reply, tracked, att, looped := s.entry, s.reply, s.tracked, s.attached, s.looped
	s.answering++
	scopeIf := s.scopeIf
	s.scopeIf = origin.iif
	defer func() { s.answering--; s.scopeIf = scopeIf }()
	fragMax, fragSizes := s.fragMax, s.fragSizes
	s.fragMax, s.fragSizes = 0, nil // the answer is a packet of its own
	defer func() { s.fragMax, s.fragSizes = fragMax, fragSizes }()
	if err := s.pkt.Decode(data); err == nil {
		e.resetCtx(s, savedCtx.Now, 0)
		s.ctx.SkbDev = origin.dev
		if o := origin.entry; attached && o != nil {
			st, dir := o.Attach(origin.reply)
			s.ctx.CT, s.ctx.Conn = st, o.Conn(dir)
			s.entry, s.reply, s.attached = o, dir, true
		} else if attached && origin.untracked {
			// nf_ct_attach to an untracked packet: RELATED without a
			// connection, which NOTRACK leaves alone and conntrack
			// then tracks like a packet of its own.
			s.ctx.Nfct = true
		}
		s.note("reply " + s.pkt.Summary())
		if s.pkt.Version == 6 && s.pkt.Proto == packet.ProtoICMPv6 && s.pkt.L4OK && s.pkt.ICMPType < 128 && s.pkt.ICMPType != 2 {
			// icmpv6_xrlim_allow for the types of the default
			// net.ipv6.icmp.ratemask: with ratelimit 0 it always
			// allows, emptying the destination's token bucket.
			e.peers6.allowEvery(s.pkt.Dst, s.ctx.Now, 0)
		}
		e.output(p, s, &s.Result.ReplyHits)
	}
	s.pkt, s.ctx = saved, savedCtx
	s.Result.OutIface, s.outIf = savedOut, savedOutIf
	s.entry, s.reply, s.tracked, s.attached, s.looped = ent, reply, tracked, att, looped
}
