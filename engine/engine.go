package engine

import (
	"io"
	"net/netip"
	"sync/atomic"

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
}

// Result is what happened to one packet. Its slices are reused from one
// packet to the next: copy what must outlive the next Process call.
type Result struct {
	Verdict   Verdict
	QueueNum  uint16
	Hits      []Hit // counters raised, in order
	ReplyHits []Hit // counters raised by answers the host sent
	Out       []OutPacket
	OutIface  string // where a forwarded or sent packet left
}

// Engine evaluates packets against the current Program on a host.
type Engine struct {
	prog  atomic.Pointer[Program]
	Host  *host.Host
	store *ext.Store
	cfg   Config
	// Log receives the LOG target's lines.
	Log io.Writer
}

// New compiles rs for host h (nil for host.Default()).
func New(rs *rules.Ruleset, h *host.Host, cfg Config) (*Engine, error) {
	if h == nil {
		h = host.Default()
	}
	e := &Engine{Host: h, store: ext.NewStore(), cfg: cfg, Log: io.Discard}
	if err := e.Load(rs); err != nil {
		return nil, err
	}
	return e, nil
}

// Load compiles rs and makes it the current Program in one atomic step;
// on error the old Program stays.
func (e *Engine) Load(rs *rules.Ruleset) error {
	p, err := Compile(rs, e.cfg, e.store)
	if err != nil {
		return err
	}
	e.prog.Store(p)
	return nil
}

// Program returns the current Program.
func (e *Engine) Program() *Program { return e.prog.Load() }

// Input describes one packet to evaluate.
type Input struct {
	Data   []byte // the IP packet
	In     string // interface it arrived on; "" with Local
	Local  bool   // the host sends it
	SrcMAC [6]byte
	Now    int64 // engine clock, nanoseconds
	Mark   uint32
}

// State is the per-packet working memory of one caller: reuse it for
// every packet of a goroutine and evaluation allocates nothing.
type State struct {
	ctx     ext.Ctx
	pkt     packet.Packet
	Result  Result
	tracer  Tracer
	replies [][]byte
	nreply  int
	inIf    ext.Iface
	outIf   ext.Iface
	stack   [64]frame
	outBuf  [][]byte
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

func (s *State) emit(b []byte) {
	if s.nreply == len(s.replies) {
		s.replies = append(s.replies, nil)
	}
	s.replies[s.nreply] = append(s.replies[s.nreply][:0], b...)
	s.nreply++
}

// SetTracer makes the following Process calls report every step to t
// (nil to stop). Tracing is for people: it allocates.
func (s *State) SetTracer(t Tracer) { s.tracer = t }

// Process runs one packet through the hooks and leaves the outcome in
// s.Result. A packet whose IP header cannot be decoded is dropped before
// any hook, as the kernel's ip_rcv does.
func (e *Engine) Process(s *State, in *Input) {
	p := e.prog.Load()
	res := &s.Result
	res.Hits, res.ReplyHits, res.Out = res.Hits[:0], res.ReplyHits[:0], res.Out[:0]
	res.OutIface, res.QueueNum = "", 0
	s.nreply = 0
	if err := s.pkt.Decode(in.Data); err != nil {
		res.Verdict = Drop
		if s.tracer != nil {
			s.tracer.Event(Event{Kind: EvNote, Text: "not a valid IPv4 packet: " + err.Error()})
		}
		return
	}
	c := &s.ctx
	*c = ext.Ctx{Pkt: &s.pkt, Now: in.Now, Mark: in.Mark, Host: e.Host, Log: e.Log, Emit: c.Emit, UID: -1, GID: -1, CT: ext.CTNew}
	if c.Emit == nil {
		c.Emit = s.emit
	}
	if in.Local {
		res.Verdict = e.output(p, s, &res.Hits)
	} else {
		res.Verdict = e.input(p, s, in)
	}
	if res.Verdict == Drop && s.nreply > 0 {
		res.Verdict = Reject
	}
	// Answers the targets created leave through OUTPUT and POSTROUTING.
	for i := 0; i < s.nreply; i++ {
		e.sendReply(p, s, s.replies[i])
	}
	if s.tracer != nil {
		s.tracer.Event(Event{Kind: EvVerdict, Verdict: res.Verdict, Text: res.OutIface})
	}
}

func (e *Engine) input(p *Program, s *State, in *Input) Verdict {
	c := &s.ctx
	res := &s.Result
	ifc := e.Host.Iface(in.In)
	s.inIf = ext.Iface{Name: in.In}
	if ifc != nil {
		s.inIf = ifc.Iface
	}
	c.In, c.Out = &s.inIf, nil
	c.SrcMAC, c.HasMAC = in.SrcMAC, true
	c.PktType = ext.PktHost
	if t := e.Host.AddrType(s.pkt.Dst, ""); t == host.RTNBroadcast {
		c.PktType = ext.PktBroadcast
	} else if t == host.RTNMulticast {
		c.PktType = ext.PktMulticast
	}
	if v, done := e.hook(p, s, ext.PreRouting, &res.Hits); done {
		return v
	}
	if e.Host.IsLocal(s.pkt.Dst) {
		if s.tracer != nil {
			s.tracer.Event(Event{Kind: EvRoute, Text: s.pkt.Dst.String() + " is this host's → INPUT"})
		}
		if v, done := e.hook(p, s, ext.LocalIn, &res.Hits); done {
			return v
		}
		return AcceptLocal
	}
	rt, ok := e.Host.Lookup(s.pkt.Dst)
	if !ok {
		if s.tracer != nil {
			s.tracer.Event(Event{Kind: EvRoute, Text: "no route to " + s.pkt.Dst.String() + " → dropped"})
		}
		return Drop
	}
	e.setOut(s, rt.Dev)
	if s.tracer != nil {
		s.tracer.Event(Event{Kind: EvRoute, Text: routeText(s.pkt.Dst, rt) + " → FORWARD, out " + rt.Dev})
	}
	// ip_forward: a packet whose TTL would run out is dropped before the
	// FORWARD hook (the kernel answers with time exceeded); the others
	// go on with their TTL lowered, which FORWARD and POSTROUTING see.
	if s.pkt.TTL <= 1 {
		if s.tracer != nil {
			s.tracer.Event(Event{Kind: EvNote, Text: "TTL exceeded: dropped before FORWARD"})
		}
		return Drop
	}
	s.pkt.DecTTL()
	if v, done := e.hook(p, s, ext.Forward, &res.Hits); done {
		return v
	}
	if v, done := e.hook(p, s, ext.PostRouting, &res.Hits); done {
		return v
	}
	e.leave(s, rt.Dev, false)
	return Forward
}

func routeText(dst netip.Addr, rt host.Route) string {
	if rt.Gateway.IsValid() {
		return dst.String() + " via " + rt.Gateway.String() + " (" + rt.Dst.String() + ")"
	}
	return dst.String() + " is on " + rt.Dev + " (" + rt.Dst.String() + ")"
}

func (e *Engine) setOut(s *State, dev string) {
	ifc := e.Host.Iface(dev)
	s.outIf = ext.Iface{Name: dev}
	if ifc != nil {
		s.outIf = ifc.Iface
	}
	s.ctx.Out = &s.outIf
	s.Result.OutIface = dev
}

// leave records the packet as sent out of dev.
func (e *Engine) leave(s *State, dev string, hostReply bool) {
	res := &s.Result
	n := len(res.Out)
	if n < cap(res.Out) {
		res.Out = res.Out[:n+1]
	} else {
		res.Out = append(res.Out, OutPacket{})
	}
	o := &res.Out[n]
	o.Iface, o.HostReply = dev, hostReply
	o.Data = append(o.Data[:0], s.pkt.Data...)
}

// output runs a locally generated packet: route, OUTPUT, POSTROUTING.
func (e *Engine) output(p *Program, s *State, hits *[]Hit) Verdict {
	c := &s.ctx
	c.In, c.HasMAC, c.PktType = nil, false, ext.PktHost
	dev := "lo"
	if !e.Host.IsLocal(s.pkt.Dst) {
		rt, ok := e.Host.Lookup(s.pkt.Dst)
		if !ok {
			if s.tracer != nil {
				s.tracer.Event(Event{Kind: EvRoute, Text: "no route to " + s.pkt.Dst.String() + ": the send fails"})
			}
			return Drop
		}
		dev = rt.Dev
		if s.tracer != nil {
			s.tracer.Event(Event{Kind: EvRoute, Text: routeText(s.pkt.Dst, rt) + " → OUTPUT, out " + rt.Dev})
		}
	}
	e.setOut(s, dev)
	if v, done := e.hook(p, s, ext.LocalOut, hits); done {
		return v
	}
	if v, done := e.hook(p, s, ext.PostRouting, hits); done {
		return v
	}
	e.leave(s, dev, false)
	return Sent
}

// sendReply runs an answer the host created (a REJECT's RST or ICMP
// error) through OUTPUT and POSTROUTING.
func (e *Engine) sendReply(p *Program, s *State, data []byte) {
	saved := s.pkt
	savedCtx := s.ctx
	savedOut := s.Result.OutIface
	if err := s.pkt.Decode(data); err == nil {
		s.ctx = ext.Ctx{Pkt: &s.pkt, Now: savedCtx.Now, Host: e.Host, Log: e.Log, Emit: noEmit, UID: -1, GID: -1, CT: ext.CTNew}
		if s.tracer != nil {
			s.tracer.Event(Event{Kind: EvNote, Text: "reply " + s.pkt.Summary()})
		}
		if v := e.output(p, s, &s.Result.ReplyHits); v == Sent {
			// output recorded it in Out already.
			_ = v
		}
	}
	s.pkt, s.ctx = saved, savedCtx
	s.Result.OutIface = savedOut
}

// hookTables lists the tables each hook runs, in priority order.
var hookTables = [ext.NumHooks][]int{
	ext.PreRouting:  {tRaw, tMangle, tNAT},
	ext.LocalIn:     {tMangle, tFilter, tSecurity, tNAT},
	ext.Forward:     {tMangle, tFilter, tSecurity},
	ext.LocalOut:    {tRaw, tMangle, tNAT, tFilter, tSecurity},
	ext.PostRouting: {tMangle, tNAT},
}

// hook runs every table of a hook; done is true when the packet's fate
// was decided (dropped, rejected, queued).
func (e *Engine) hook(p *Program, s *State, h ext.Hook, hits *[]Hit) (Verdict, bool) {
	s.ctx.Hook = h
	for _, ti := range hookTables[h] {
		t := p.tables[ti]
		if t == nil || t.hooks[h] == nil {
			continue
		}
		v := e.runTable(s, t, t.hooks[h], hits)
		switch v.Kind() {
		case ext.Accept:
		case ext.Queue:
			s.Result.QueueNum = v.QueueNum()
			return Queue, true
		case ext.Stolen:
			return Drop, true
		default:
			return Drop, true
		}
	}
	return 0, false
}
