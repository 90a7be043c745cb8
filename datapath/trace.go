package datapath

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/ipsift/ipsift/engine"
	"github.com/ipsift/ipsift/packet"
	"github.com/ipsift/ipsift/sim"
)

// Live tracing (ipsift ctl trace): a subscriber names the packets it
// wants with a Filter and receives, for each live packet that matches,
// the trace `ipsift trace` would print for it, rendered by
// sim.TextTracer.
//
// Each worker (one per queue) owns its engine State, so it renders the
// trace itself: for a matching packet it sets the State's
// tracer for that one Process call, then hands the text to each
// matching subscriber through a bounded channel, never waiting (a slow
// subscriber loses packets and is told how many). The set of
// subscribers is an immutable value behind an atomic pointer, replaced
// whole when one comes or goes: when nobody traces, a packet costs one
// atomic load.

// Filter selects live packets by their header as queued (before ipsift
// rewrites them), in the words of the offline packet form. Its text is
// a list of terms that must all hold; no terms match every packet:
//
//	IFACE               arrived on this interface
//	local               sent by this host
//	tcp | udp | icmp | icmpv6   the protocol (proto N for a number)
//	host ADDR[/LEN]     source or destination
//	src ADDR[/LEN]      source
//	dst ADDR[/LEN]      destination
//	port N              TCP or UDP source or destination port
//	sport N | dport N   TCP or UDP source, destination port
//
// Each kind of term may be given once.
type Filter struct {
	Iface          string // "" for any; see Local
	Local          bool   // the host's own packets
	Proto          uint8  // 0 for any
	Host, Src, Dst netip.Prefix
	// Port, SrcPort and DstPort are -1 for any.
	Port, SrcPort, DstPort int
}

// ParseFilter reads a Filter from its words (see Filter).
func ParseFilter(s string) (Filter, error) {
	f := Filter{Port: -1, SrcPort: -1, DstPort: -1}
	ws := strings.Fields(s)
	seen := map[string]bool{}
	once := func(kind string) error {
		if seen[kind] {
			return fmt.Errorf("trace filter: %s given twice", kind)
		}
		seen[kind] = true
		return nil
	}
	for i := 0; i < len(ws); i++ {
		w := ws[i]
		arg := func() (string, error) {
			if i+1 >= len(ws) {
				return "", fmt.Errorf("trace filter: %s needs a value", w)
			}
			i++
			return ws[i], nil
		}
		switch w {
		case "tcp", "udp", "icmp", "icmpv6", "proto":
			if err := once("protocol"); err != nil {
				return f, err
			}
			v := w
			if w == "proto" {
				var err error
				if v, err = arg(); err != nil {
					return f, err
				}
			}
			p, err := packet.ParseProto(v)
			if err != nil || p == 0 {
				return f, fmt.Errorf("trace filter: protocol %q: want tcp, udp, icmp, icmpv6 or proto 1-255", v)
			}
			f.Proto = uint8(p)
		case "host", "src", "dst":
			if err := once(w); err != nil {
				return f, err
			}
			v, err := arg()
			if err != nil {
				return f, err
			}
			pfx, err := parsePrefix(v)
			if err != nil {
				return f, fmt.Errorf("trace filter: %s %s: %v", w, v, err)
			}
			switch w {
			case "host":
				f.Host = pfx
			case "src":
				f.Src = pfx
			default:
				f.Dst = pfx
			}
		case "port", "sport", "dport":
			if err := once(w); err != nil {
				return f, err
			}
			v, err := arg()
			if err != nil {
				return f, err
			}
			n, err := strconv.ParseUint(v, 10, 16)
			if err != nil {
				return f, fmt.Errorf("trace filter: %s %q: want a number 0-65535", w, v)
			}
			switch w {
			case "port":
				f.Port = int(n)
			case "sport":
				f.SrcPort = int(n)
			default:
				f.DstPort = int(n)
			}
		default:
			if _, err := netip.ParsePrefix(w); err == nil || looksLikeAddr(w) {
				return f, fmt.Errorf("trace filter: %q: an address needs host, src or dst before it", w)
			}
			if err := once("interface"); err != nil {
				return f, err
			}
			if w == "local" {
				f.Local = true
			} else if len(w) > 15 || strings.ContainsAny(w, "/:") {
				return f, fmt.Errorf("trace filter: %q is not an interface name (or tcp, udp, icmp, proto, host, src, dst, port, sport, dport, local)", w)
			} else {
				f.Iface = w
			}
		}
	}
	return f, nil
}

func looksLikeAddr(s string) bool {
	_, err := netip.ParseAddr(s)
	return err == nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	const want = "want an IPv4 or IPv6 address or ADDR/LEN (192.0.2.0/24, 2001:db8::/32)"
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil || p.Addr().Zone() != "" || p.Addr().Is4In6() {
			return netip.Prefix{}, errors.New(want)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" || a.Is4In6() {
		return netip.Prefix{}, errors.New(want)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// String gives the filter back in its words ("all" when empty).
func (f Filter) String() string {
	var ws []string
	if f.Local {
		ws = append(ws, "local")
	}
	if f.Iface != "" {
		ws = append(ws, f.Iface)
	}
	if f.Proto != 0 {
		if n := map[uint8]string{packet.ProtoTCP: "tcp", packet.ProtoUDP: "udp", packet.ProtoICMP: "icmp", packet.ProtoICMPv6: "icmpv6"}[f.Proto]; n != "" {
			ws = append(ws, n)
		} else {
			ws = append(ws, "proto", strconv.Itoa(int(f.Proto)))
		}
	}
	pfx := func(kw string, p netip.Prefix) {
		if !p.IsValid() {
			return
		}
		s := p.String()
		if p.IsSingleIP() {
			s = p.Addr().String()
		}
		ws = append(ws, kw, s)
	}
	pfx("host", f.Host)
	pfx("src", f.Src)
	pfx("dst", f.Dst)
	for _, pt := range []struct {
		kw string
		n  int
	}{{"port", f.Port}, {"sport", f.SrcPort}, {"dport", f.DstPort}} {
		if pt.n >= 0 {
			ws = append(ws, pt.kw, strconv.Itoa(pt.n))
		}
	}
	if len(ws) == 0 {
		return "all"
	}
	return strings.Join(ws, " ")
}

// Match reports whether a packet, decoded as queued, that arrived on in
// (or was sent by the host, local) is one the filter selects.
func (f *Filter) Match(p *packet.Packet, in string, local bool) bool {
	if f.Local && !local || f.Iface != "" && (local || in != f.Iface) {
		return false
	}
	if f.Proto != 0 && p.Proto != f.Proto {
		return false
	}
	if f.Host.IsValid() && !f.Host.Contains(p.Src) && !f.Host.Contains(p.Dst) {
		return false
	}
	if f.Src.IsValid() && !f.Src.Contains(p.Src) || f.Dst.IsValid() && !f.Dst.Contains(p.Dst) {
		return false
	}
	if f.Port < 0 && f.SrcPort < 0 && f.DstPort < 0 {
		return true
	}
	if !p.L4Fixed || p.Proto != packet.ProtoTCP && p.Proto != packet.ProtoUDP {
		return false
	}
	sp, dp := int(p.SrcPort), int(p.DstPort)
	return (f.Port < 0 || sp == f.Port || dp == f.Port) &&
		(f.SrcPort < 0 || sp == f.SrcPort) && (f.DstPort < 0 || dp == f.DstPort)
}

// TraceSub is one subscriber to live traces (Runner.Trace).
type TraceSub struct {
	filter   Filter
	quiet    bool
	ch       chan string
	mu       sync.Mutex // workers send one at a time
	notShown atomic.Uint64
	r        *Runner
}

// C delivers the trace of each matching packet, in the order the
// packets came, as `ipsift trace` prints it (without the blank line
// between packets). A text that follows packets the subscriber was too
// slow to take starts with "(N packets not shown)" and a blank line.
// The channel is never closed.
func (s *TraceSub) C() <-chan string { return s.ch }

// NotShown returns how many matching packets were lost since the last
// text delivered; read it after Close for a final count.
func (s *TraceSub) NotShown() uint64 { return s.notShown.Load() }

// Close ends the subscription; the packet loop stops tracing for it at
// its next packet.
func (s *TraceSub) Close() { s.r.tr.remove(s) }

// send hands text to the subscriber without waiting; it runs on a
// worker.
func (s *TraceSub) send(text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.notShown.Load()
	if n > 0 {
		text = NotShownLine(n) + "\n\n" + text
	}
	select {
	case s.ch <- text:
		if n > 0 {
			s.notShown.Add(-n)
		}
	default:
		s.notShown.Add(1)
	}
}

// NotShownLine says that n matching packets were lost.
func NotShownLine(n uint64) string {
	if n == 1 {
		return "(1 packet not shown)"
	}
	return fmt.Sprintf("(%d packets not shown)", n)
}

// traceState is the Runner's set of trace subscribers.
type traceState struct {
	mu  sync.Mutex
	set atomic.Pointer[[]*TraceSub] // nil when nobody traces
}

func (t *traceState) add(s *TraceSub) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var subs []*TraceSub
	if old := t.set.Load(); old != nil {
		subs = append(subs, *old...)
	}
	subs = append(subs, s)
	t.set.Store(&subs)
}

func (t *traceState) remove(s *TraceSub) {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := t.set.Load()
	if old == nil {
		return
	}
	var subs []*TraceSub
	for _, x := range *old {
		if x != s {
			subs = append(subs, x)
		}
	}
	if len(subs) == 0 {
		t.set.Store(nil)
	} else {
		t.set.Store(&subs)
	}
}

// Trace subscribes to the traces of live packets matching f; buf bounds
// the texts waiting for the subscriber (0: 64), quiet leaves out the
// rules that did not match. Close the subscription when done.
func (r *Runner) Trace(f Filter, buf int, quiet bool) *TraceSub {
	if buf <= 0 {
		buf = 64
	}
	s := &TraceSub{filter: f, quiet: quiet, ch: make(chan string, buf), r: r}
	r.tr.add(s)
	return s
}

// Tracing returns the number of trace subscribers.
func (r *Runner) Tracing() int {
	if subs := r.tr.set.Load(); subs != nil {
		return len(*subs)
	}
	return 0
}

// process runs the engine on r.in, traced for the subscribers whose
// filter matches.
func (r *worker) process() {
	if subs := r.tr.set.Load(); subs != nil {
		r.processTraced(*subs)
		return
	}
	r.E.Process(r.st, &r.in)
	r.afterEngine()
}

// afterEngine runs what must follow the engine's decision before the
// verdict: offload's proof and hand-over.
func (r *worker) afterEngine() {
	if r.ofl != nil {
		r.ofl.after(r, r.in.Mark)
	}
}

type multiTracer []*sim.TextTracer

func (m multiTracer) Event(e engine.Event) {
	for _, t := range m {
		t.Event(e)
	}
}

func (r *worker) processTraced(subs []*TraceSub) {
	var p packet.Packet
	in := &r.in
	if p.Decode(in.Data) != nil {
		r.E.Process(r.st, in)
		r.afterEngine()
		return
	}
	var match []*TraceSub
	for _, s := range subs {
		if s.filter.Match(&p, in.In, in.Local) {
			match = append(match, s)
		}
	}
	if len(match) == 0 {
		r.E.Process(r.st, in)
		r.afterEngine()
		return
	}
	where := "in " + in.In
	if in.Local {
		where = "local"
	}
	bufs := make([]bytes.Buffer, len(match))
	tts := make(multiTracer, len(match))
	logs := make([]io.Writer, 0, len(match)+1)
	if r.E.Log != nil {
		logs = append(logs, r.E.Log)
	}
	for i, s := range match {
		tts[i] = &sim.TextTracer{W: &bufs[i], Quiet: s.quiet}
		tts[i].Begin(where, p.Summary())
		logs = append(logs, tts[i].LogWriter())
	}
	// The worker is the only user of its State: its tracer and LOG
	// writer are set for this one packet (other workers' packets keep
	// logging to the engine's writer).
	r.st.SetLog(io.MultiWriter(logs...))
	r.st.SetTracer(tts)
	r.E.Process(r.st, in)
	r.st.SetTracer(nil)
	r.st.SetLog(nil)
	r.afterEngine()
	for i, s := range match {
		// The packets that left, then the verdict, as ipsift trace.
		for _, o := range r.st.Result.Out {
			var op packet.Packet
			if op.Decode(o.Data) == nil {
				kind := "out"
				if o.HostReply {
					kind = "reply"
				}
				fmt.Fprintf(&bufs[i], "%s %s  %s\n", kind, o.Iface, op.Summary())
			}
		}
		if r.off.note != "" {
			fmt.Fprintf(&bufs[i], "%s\n", r.off.note)
		}
		tts[i].End()
		s.send(bufs[i].String())
	}
}
