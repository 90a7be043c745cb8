package datapath

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ipsift/ipsift/conntrack"
	"github.com/ipsift/ipsift/datapath/ctnetlink"
	"github.com/ipsift/ipsift/datapath/nfqueue"
	"github.com/ipsift/ipsift/engine"
	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/packet"
)

// Connection offload (README, "Connection offload"): once the engine
// has proved (package offload) that every later packet of an
// established TCP connection would take, in each direction, the way its
// last packet took, ipsift creates the connection in the kernel's
// conntrack with its NAT binding, TCP state and the mark markOffload
// (ctnetlink), and the kernel carries its segments without SYN, FIN and
// RST from then on:
//
//   - raw PREROUTING/OUTPUT (before conntrack): such segments are not
//     made untracked and not queued there; they go to the kernel's
//     conntrack lookup. With nf_conntrack_tcp_loose=0 a segment without
//     SYN finds a connection or none, and never makes one.
//   - mangle PREROUTING/OUTPUT (after conntrack): a segment of a
//     connection with markOffload goes on (the kernel applies the NAT
//     binding at its nat hooks); one without a connection (state
//     INVALID: none found, or out of window) is queued to ipsift there.
//
// Everything else crosses to ipsift as before. A packet of an offloaded
// connection that still reaches ipsift (a SYN, FIN or RST; a segment
// the kernel found out of window; a connection the kernel lost) brings
// it back first: ipsift deletes the kernel's entry, whose destroy event
// brings the packets and bytes the kernel counted; those are added to
// every counter the proved path raises. A reload or a change of the
// host takes every connection back.
const markOffload = 0x40000000 // on the kernel's connection (ct mark)

// offloadMode is what the kernel is given: nothing, the segments of an
// established connection without SYN, FIN and RST (Config.Offload), or
// every segment without SYN from the end of the handshake on, the close
// included (Config.OffloadClose: --offload=early).
type offloadMode uint8

const (
	offloadOff offloadMode = iota
	offloadOn
	offloadClose
	// offloadFirst: offloadClose, and connections handed over at their
	// SYN: the kernel carries SYN-ACKs too (without RST), from the
	// interface their source is routed to (Config.OffloadFirst:
	// --offload=first).
	offloadFirst
)

func (r *Runner) offloadMode() offloadMode {
	switch {
	case r.ofl == nil:
		return offloadOff
	case r.ofl.first:
		return offloadFirst
	case r.ofl.carryClose:
		return offloadClose
	}
	return offloadOn
}

const tcpFlagBeLiberal = 0x08 // IP_CT_TCP_FLAG_BE_LIBERAL

// flow is a connection the kernel carries, or carried until its destroy
// event arrives.
type flow struct {
	e         *conntrack.Entry
	orig      ckey // the kernel's original tuple
	reply     ckey
	steps     [2][]engine.PathStep // the proved path of each direction
	returning bool
	// closing: ipsift saw a FIN or RST; the kernel keeps carrying the
	// last segments until closeAt, then ipsift takes the connection back.
	closing bool
	closeAt time.Time
	since   int64     // when it was handed over (Unix nanoseconds)
	carried [2]uint64 // packets the kernel counted, settled so far
	// fromStart: handed over at its SYN or SYN-ACK (offloadFirst):
	// ipsift's state of it is the handshake's.
	fromStart bool
	// ackSeq: the create went out with the verdicts of its worker's
	// batch (offloader.piggy) and its acknowledgement has not been read
	// yet (offAck); 0 otherwise.
	ackSeq uint32
	// delSent: its take-back's delete went out with a worker's verdicts
	// (after its create, when that went the same way).
	delSent bool
	// newer: the next flow on the same original tuple in byOrig;
	// inOrig: f is in byOrig (its destroy event has not come).
	newer  *flow
	inOrig bool
}

// cand is a connection with a proved path in at least one direction.
type cand struct {
	gen   uint64
	steps [2][]engine.PathStep
	have  [2]bool
	fail  bool // the kernel refused it: no new attempt in this generation
}

var errNotYet = errors.New("not yet")

type offloader struct {
	r  *Runner
	cl *ctnetlink.Client
	ev *ctnetlink.Events
	// carryClose: the kernel carries FIN and RST segments too, and a
	// connection is handed over as soon as it is proved (offloadClose).
	carryClose bool
	// first: a TCP connection is handed over at its SYN, both
	// directions proved by probes (probeSyn), or at its SYN-ACK when
	// only the original one proved (--offload=first; implies
	// carryClose).
	first bool
	// piggy: the creates and deletes of the packet path go out in the
	// worker's verdict message (nfqueue.Queue.Append), ahead of the
	// verdict of the packet that caused them, instead of a ctnetlink
	// round trip of their own: one queue, --offload=first (see offAck).
	piggy bool
	// last: the steps most recently kept for each direction, shared by
	// the connections whose proved paths are the same (most are).
	last [2][]engine.PathStep

	// mu guards the maps and every use of cl (the workers' hand-overs
	// and take-backs, the events' and Settle's goroutines).
	mu    sync.Mutex
	flows map[ckey]*flow // by the tuple its packets arrive with, both directions
	// byOrig: the flows of an original tuple until their destroy events,
	// the oldest here, each newer one in its predecessor's newer (a
	// flow ipsift took back, whose kernel entry it deleted, waits here
	// for its event while a new connection on the same tuple is handed
	// over). A chain rather than a slice: no allocation per hand-over,
	// a smaller map entry, and no map write when the successor of a
	// taken-back connection joins it (the common case of wrk's reused
	// client ports).
	byOrig map[ckey]*flow
	// cands: a connection's two directions may come through different
	// workers (queues), so the proofs wait here for each other.
	cands  map[*conntrack.Entry]*cand
	nflows atomic.Int64
	gen    atomic.Uint64 // rules or host generation

	oldSysctl map[string]string
}

// offState is a worker's part of offload: the path its packet took, its
// prover, and what ctl trace says offload did with the packet.
type offState struct {
	path   engine.Path
	prover *engine.Prover    // replaced with the generation
	allow  engine.ProbeAllow // prover.Allow, made once (a method value allocates)
	pgen   uint64            // the generation prover was made for
	note   string
	// synAck: the path is a SYN-ACK's (offloadClose), proved for its
	// direction's later segments with ProveSynAck.
	synAck bool
	// syn: the packet is a SYN without ACK (offloadFirst probes its
	// connection's original direction after it).
	syn bool
	// The probe's own engine state, path and packet (offloadFirst).
	pst   *engine.State
	ppath engine.Path
	pbuf  []byte
	pin   engine.Input
	// acks: the flows whose creates went out with this worker's
	// verdicts and wait for their acknowledgement, by sequence number
	// (offloader.piggy); seq numbers them.
	acks []*flow
	seq  uint32
	// synKey: the wire tuple of the packet when it is a SYN (syn).
	synKey ckey
	// synPrev: the flow the packet found on its tuple as the original
	// one, if any (a SYN reusing a taken-back connection's ports): the
	// hand-over joins its chain in byOrig without looking the tuple up
	// again (pushOrig).
	synPrev *flow
	// The probe at the SYN's own: the original direction's steps, and
	// the candidate of a connection proved in both directions at once.
	steps0 []engine.PathStep
	cand   cand
}

// OffloadStats are offload's counters.
type OffloadStats struct {
	Offloaded, Returned, Refused, KernelPackets, KernelBytes atomic.Uint64
	// Active is the number of connections the kernel carries now.
	Active atomic.Int64
}

const (
	sysctlAcct  = "/proc/sys/net/netfilter/nf_conntrack_acct"
	sysctlLoose = "/proc/sys/net/netfilter/nf_conntrack_tcp_loose"
)

// newOffloader sets the namespace's conntrack up for offload (accounting
// on, TCP pickup off: both before any traffic meets the rules) and opens
// the ctnetlink sockets.
func newOffloader(r *Runner) (*offloader, error) {
	if _, err := os.Stat(sysctlLoose); err != nil {
		exec.Command("modprobe", "nf_conntrack").Run()
	}
	o := &offloader{r: r, flows: make(map[ckey]*flow, 1<<15), byOrig: make(map[ckey]*flow, 1<<14),
		cands: map[*conntrack.Entry]*cand{}, oldSysctl: map[string]string{}, carryClose: r.cfg.OffloadClose || r.cfg.OffloadFirst, first: r.cfg.OffloadFirst,
		piggy: r.cfg.OffloadFirst && r.cfg.Queues <= 1}
	for path, v := range map[string]string{sysctlAcct: "1", sysctlLoose: "0"} {
		old, err := os.ReadFile(path)
		if err != nil {
			o.restore()
			return nil, fmt.Errorf("offload needs the kernel's conntrack (%v); run without it: --offload=off", err)
		}
		o.oldSysctl[path] = strings.TrimSpace(string(old))
		if err := os.WriteFile(path, []byte(v), 0o644); err != nil {
			o.restore()
			return nil, fmt.Errorf("offload: %s: %w", path, err)
		}
	}
	var err error
	if o.cl, err = ctnetlink.Dial(); err != nil {
		o.restore()
		return nil, err
	}
	if o.ev, err = ctnetlink.ListenDestroy(); err != nil {
		o.cl.Close()
		o.restore()
		return nil, err
	}
	o.gen.Store(1)
	return o, nil
}

func (o *offloader) restore() {
	for path, v := range o.oldSysctl {
		os.WriteFile(path, []byte(v), 0o644)
	}
}

// queueTarget is the NFQUEUE target every queue rule uses: qs's
// queues, with --queue-bypass when failing open.
func queueTarget(qs queueSpec, failOpen bool) string {
	q := qs.target()
	if failOpen {
		q += " --queue-bypass"
	}
	return q
}

// adopt takes over the connections an earlier ipsift left to the kernel
// (it was killed): each goes into the engine's table as the kernel has
// it (its NAT binding and TCP state; its windows are picked up in the
// middle, as conntrack -I's are), and its kernel entry goes, so that its
// packets cross to ipsift until they prove it again. What the kernel
// counted for it belonged to the earlier run's counters, gone with it.
func (o *offloader) adopt() (int, error) {
	var evs []ctnetlink.Event
	if err := o.cl.Dump(markOffload, markOffload, func(ev ctnetlink.Event) { evs = append(evs, ev) }); err != nil {
		return 0, err
	}
	n := 0
	now := time.Now().UnixNano()
	for _, ev := range evs {
		orig, ok1 := conntrack.MakeTuple(ev.Orig.Src, ev.Orig.Dst, ev.Orig.SrcPort, ev.Orig.DstPort, ev.Orig.Proto)
		reply, ok2 := conntrack.MakeTuple(ev.Reply.Src, ev.Reply.Dst, ev.Reply.SrcPort, ev.Reply.DstPort, ev.Reply.Proto)
		if ok1 && ok2 {
			_, err := o.r.E.CT.Insert(conntrack.Preload{
				Orig: orig, Reply: reply, TCPState: conntrack.TCPState(ev.TCPState),
				Assured: ev.Status&ctnetlink.StatusAssured != 0, SeenReply: ev.Status&ctnetlink.StatusSeenReply != 0,
				Timeout: time.Duration(ev.Timeout) * time.Second,
			}, now)
			if err == nil {
				n++
			}
		}
		if err := o.cl.Delete(ev.Orig); err != nil && err != ctnetlink.ErrNotFound {
			return n, err
		}
	}
	return n, nil
}

// offloadRules is the kernel side of offload after conntrack, installed
// after kernelRules' script (which lets the segments through raw) in
// the same transaction: q is the NFQUEUE target with its options.
func offloadRules(prefix, q string, mode offloadMode) string {
	var b strings.Builder
	fmt.Fprintf(&b, "*mangle\n:%[1]s-CPRE - [0:0]\n:%[1]s-COUT - [0:0]\n-I PREROUTING 1 -j %[1]s-CPRE\n-I OUTPUT 1 -j %[1]s-COUT\n", prefix)
	for _, c := range []string{"CPRE", "COUT"} {
		if mode == offloadFirst {
			// First, what most packets of a connection the kernel
			// carries are: no SYN, ESTABLISHED, the connection ASSURED
			// (its handshake done). None of the four rules below can
			// match such a segment (an ASSURED connection's replies were
			// counted, and with no SYN reaching the kernel's conntrack it
			// never goes back to SYN_SENT, where alone a segment without
			// SYN is ignored), so they go on at once: one rule of three
			// matches per packet instead of eleven matches in five rules
			// (the kernel runs them for every packet it carries).
			fmt.Fprintf(&b, "-A %s-%s -p tcp -m connmark --mark 0x%08x/0x%08x -m conntrack --ctstate ESTABLISHED --ctstatus ASSURED -m tcp --tcp-flags SYN NONE -j RETURN\n", prefix, c, markOffload, markOffload)
			// Segments the kernel's conntrack ignored (TCP_CONNTRACK_IGNORE:
			// let through, but neither counted nor refreshed) go to
			// ipsift, which decides them with the kernel's state: a
			// reply without SYN while no reply was counted (an ACK in
			// SYN_SENT), and a SYN-ACK once the handshake is over (the
			// original direction counted a packet, or ASSURED).
			// Everything else the kernel tracked it carries, counted.
			fmt.Fprintf(&b, "-A %s-%s -m connmark --mark 0x%08x/0x%08x -p tcp -m tcp --tcp-flags SYN NONE -m conntrack --ctdir REPLY -m connbytes --connbytes 0:0 --connbytes-dir reply --connbytes-mode packets %s\n", prefix, c, markOffload, markOffload, q)
			fmt.Fprintf(&b, "-A %s-%s -m connmark --mark 0x%08x/0x%08x -p tcp -m tcp --tcp-flags SYN SYN -m connbytes --connbytes 1 --connbytes-dir original --connbytes-mode packets %s\n", prefix, c, markOffload, markOffload, q)
			fmt.Fprintf(&b, "-A %s-%s -m connmark --mark 0x%08x/0x%08x -p tcp -m tcp --tcp-flags SYN SYN -m conntrack --ctstatus ASSURED %s\n", prefix, c, markOffload, markOffload, q)
			// The state the probes proved: ESTABLISHED. (With SYNs and
			// RSTs kept from the kernel's conntrack, no other state
			// reaches here: a segment of the original direction before
			// the SYN-ACK is INVALID. Should one, ipsift decides it.)
			fmt.Fprintf(&b, "-A %s-%s -m connmark --mark 0x%08x/0x%08x -m conntrack ! --ctstate ESTABLISHED %s\n", prefix, c, markOffload, markOffload, q)
		}
		fmt.Fprintf(&b, "-A %s-%s -m connmark --mark 0x%08x/0x%08x -j RETURN\n", prefix, c, markOffload, markOffload)
		fmt.Fprintf(&b, "-A %s-%s -m conntrack --ctstate INVALID %s\n", prefix, c, q)
	}
	// A nat base chain, so that the kernel applies the bindings of the
	// connections it carries (the nat hooks exist only with one).
	fmt.Fprintf(&b, "COMMIT\n*nat\n:%[1]s-NAT - [0:0]\n-I PREROUTING 1 -j %[1]s-NAT\n-I POSTROUTING 1 -j %[1]s-NAT\nCOMMIT\n", prefix)
	return b.String()
}

// removeOffloadRules takes offloadRules' chains out (the raw rules go
// with their chains in removeRules).
func removeOffloadRules(prefix string) {
	for _, c := range [][3]string{{"mangle", "PREROUTING", "CPRE"}, {"mangle", "OUTPUT", "COUT"}, {"nat", "PREROUTING", "NAT"}, {"nat", "POSTROUTING", "NAT"}} {
		chain := prefix + "-" + c[2]
		for i := 0; i < 16; i++ {
			if exec.Command("iptables", "--wait", "-t", c[0], "-D", c[1], "-j", chain).Run() != nil {
				break
			}
		}
		exec.Command("iptables", "--wait", "-t", c[0], "-F", chain).Run()
		exec.Command("iptables", "--wait", "-t", c[0], "-X", chain).Run()
	}
}

// events settles the counters of connections the kernel destroyed, until
// the socket closes.
func (o *offloader) events() {
	for {
		err := o.ev.Receive(func(ev ctnetlink.Event) {
			o.mu.Lock()
			defer o.mu.Unlock()
			f := o.eventFlow(keyOf(ev.Orig), keyOf(ev.Reply))
			if f == nil {
				return
			}
			ended := false
			if !f.returning {
				// The kernel ended it (timeout, conntrack -D): its next
				// packets come to ipsift, which picks it up again.
				o.returnLocked(nil, f, "the kernel dropped its entry", true)
				// Carrying the close too, the kernel timed out the
				// connection as ipsift would have (TIME_WAIT, CLOSE, or
				// idle): it ends in ipsift's table as well.
				ended = o.carryClose
			}
			o.settleLocked(f, ev.Counters)
			if ended {
				o.r.E.CT.Remove(f.e)
			}
		})
		if err != nil {
			if strings.Contains(err.Error(), "closed") {
				return
			}
			o.r.log.Warn("offload: conntrack events", "err", err)
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// settleLocked adds what the kernel counted for f to the counters of
// f's proved paths and to the connection's own accounting.
func (o *offloader) settleLocked(f *flow, c ctnetlink.Counters) {
	for d := range 2 {
		if c.Packets[d] == 0 {
			continue
		}
		for i := range f.steps[d] {
			f.steps[d][i].AddCounters(c.Packets[d], c.Bytes[d])
		}
		f.e.AddCounters(d, c.Packets[d], c.Bytes[d])
		f.carried[d] += c.Packets[d]
		o.r.OStats.KernelPackets.Add(c.Packets[d])
		o.r.OStats.KernelBytes.Add(c.Bytes[d])
	}
}

// Settle reads and zeroes the kernel's counters of every connection it
// carries and adds them where the engine would have counted them (ipsift
// ctl list and the metrics call it first; the packet loop every minute).
func (r *Runner) Settle() {
	o := r.ofl
	if o == nil {
		return
	}
	now := time.Now().UnixNano()
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.byOrig) == 0 {
		return
	}
	err := o.cl.DumpZero(markOffload, markOffload, func(ev ctnetlink.Event) {
		// A dump lists the kernel's entries: the tuple's newest flow.
		if f := o.newestOrig(keyOf(ev.Orig)); f != nil {
			o.settleLocked(f, ev.Counters)
			if o.carryClose && !f.returning {
				// The kernel's state, for ctl conntrack: it carries the
				// close as well.
				r.E.CT.SyncTCP(f.e, conntrack.TCPState(ev.TCPState), ev.TCPFlags, tcpFlagBeLiberal, time.Duration(ev.Timeout)*time.Second, now)
				r.E.CT.SyncSeen(f.e, ev.Status&ctnetlink.StatusSeenReply != 0, ev.Status&ctnetlink.StatusAssured != 0)
			} else if ev.Counters.Packets != [2]uint64{} {
				r.E.CT.Refresh(f.e, now)
			}
		}
	})
	if err != nil {
		r.log.Warn("offload: reading the kernel's counters", "err", err)
	}
}

// ckey is an IPv4 connection tuple as the offloader's maps key it:
// without pointers (netip.Addr has one), so that maps of hundreds of
// thousands of connections (the kernel keeps a closed one for its
// TIME_WAIT) hash a few bytes and give the garbage collector nothing
// to follow in their keys.
type ckey struct {
	src, dst     [4]byte
	sport, dport uint16
	proto        uint8
}

func keyOf(t ctnetlink.Tuple) ckey {
	if !t.Src.Is4() || !t.Dst.Is4() {
		return ckey{} // (IPv6, never offloaded: a key no flow has)
	}
	return ckey{src: t.Src.As4(), dst: t.Dst.As4(), sport: t.SrcPort, dport: t.DstPort, proto: t.Proto}
}

func (k ckey) tuple() ctnetlink.Tuple {
	return ctnetlink.Tuple{Src: netip.AddrFrom4(k.src), Dst: netip.AddrFrom4(k.dst), Proto: k.proto, SrcPort: k.sport, DstPort: k.dport}
}

// wireKey is the tuple a queued IPv4 TCP packet arrives with.
func wireKey(b []byte) (ckey, uint8, bool) {
	if len(b) < 20 || b[0]>>4 != 4 {
		return ckey{}, 0, false
	}
	ihl := int(b[0]&0xf) * 4
	if b[9] != packet.ProtoTCP || len(b) < ihl+14 || binary.BigEndian.Uint16(b[6:8])&0x1fff != 0 {
		return ckey{}, 0, false
	}
	return ckey{
		src: [4]byte(b[12:16]), dst: [4]byte(b[16:20]), proto: packet.ProtoTCP,
		sport: binary.BigEndian.Uint16(b[ihl:]), dport: binary.BigEndian.Uint16(b[ihl+2:]),
	}, b[ihl+13], true
}

const tcpSFR = 0x01 | 0x02 | 0x04

// before runs ahead of the engine for every queued IPv4 packet: a packet
// of a connection the kernel carries takes it back, and a TCP segment
// without SYN, FIN and RST has its path recorded for a proof.
func (o *offloader) before(w *worker, data []byte) {
	w.off.note, w.off.synAck, w.off.syn, w.off.synPrev = "", false, false, nil
	k, flags, ok := wireKey(data)
	if !ok {
		w.st.RecordPath(nil)
		return
	}
	if o.nflows.Load() > 0 {
		o.mu.Lock()
		if f := o.flows[k]; f != nil {
			if f.orig == k {
				w.off.synPrev = f
			}
			switch {
			case f.fromStart:
				// The kernel carried this connection from its SYN or
				// SYN-ACK on: ipsift's state is the handshake's. Whatever brings
				// a packet here (a SYN, a RST, a segment the kernel
				// found INVALID or ignored, one that came by another
				// interface), ipsift takes the connection back with the
				// kernel's state and decides the packet.
				w.off.addNote(o.takeBackLocked(w, f, "a segment the kernel did not carry"))
			case o.carryClose && flags&0x02 == 0 && flags&tcpSFR != 0:
				// A FIN or RST the kernel did not carry: queued before
				// it took the connection over, or out of its window.
				// ipsift takes it back with the kernel's state and
				// decides it.
				w.off.addNote(o.takeBackLocked(w, f, "a FIN or RST the kernel did not carry"))
			case flags&tcpSFR == 0:
				// Queued before the kernel had the connection (the
				// kernel, liberal, carries every later one; if it loses
				// the entry, its destroy event takes the connection
				// back): ipsift decides it as usual.
				w.off.addNote("offload: queued before the kernel took the connection over: decided here")
			case flags&0x02 != 0:
				w.off.addNote(o.takeBackLocked(w, f, "a SYN"))
			case !f.closing:
				// A FIN or RST: ipsift decides it and what follows it
				// with SYN, FIN or RST; the kernel carries the last
				// ACKs for closeGrace more, so that none is in flight
				// when its entry and counters go.
				f.closing, f.closeAt = true, time.Now().Add(closeGrace)
				f.e.ResyncTCP()
				w.off.addNote("offload: a FIN or RST: ipsift decides it; the kernel's entry goes in " + closeGrace.String())
			}
		}
		o.mu.Unlock()
	}
	w.off.synAck = o.carryClose && flags&(tcpSFR|0x10) == 0x12
	w.off.syn = o.first && flags&(tcpSFR|0x10) == 0x02
	// A SYN took back whatever connection the kernel carried on its
	// tuple (above): none is left there for handLocked to wait for.
	w.off.synKey = k
	if flags&tcpSFR == 0 || o.carryClose && flags&0x02 == 0 || w.off.synAck {
		w.st.RecordPath(&w.off.path)
	} else {
		w.st.RecordPath(nil)
	}
}

// takeBackLocked ends f's offload: the kernel's entry goes (its destroy
// event settles the counters), and the engine restarts the connection's
// windows as for a connection picked up in the middle (its own are as
// old as the offload), as the kernel's flowtable does.
//
// Called by a worker (w not nil) with offloader.piggy, the kernel's
// entry is deleted by a request in the worker's verdict message, ahead
// of the verdict of the packet that brought the connection back (and
// of the create that may hand its successor over): until then the
// kernel may carry a last segment of the old connection, counted in
// the entry and settled by its destroy event, as if it had come just
// before.
func (o *offloader) takeBackLocked(w *worker, f *flow, why string) string {
	return o.returnLocked(w, f, why, false)
}

// returnLocked is takeBackLocked; gone says the kernel's entry is gone
// already (its destroy event came): nothing to read or delete.
func (o *offloader) returnLocked(w *worker, f *flow, why string, gone bool) string {
	if f.returning {
		return ""
	}
	f.returning = true
	delete(o.flows, f.orig)
	delete(o.flows, f.reply)
	o.nflows.Add(-1)
	o.r.OStats.Active.Add(-1)
	o.r.OStats.Returned.Add(1)
	refresh := !(gone && o.carryClose) // such an entry ends now (events)
	if o.carryClose && !gone {
		// The kernel carried the close too: its state, flags and timeout
		// are the connection's now (a SYN that reuses the ports of a
		// connection in TIME_WAIT reopens it, as in the kernel).
		ev, err := o.cl.Get(f.orig.tuple())
		switch {
		case err == nil:
			o.r.E.CT.SyncTCP(f.e, conntrack.TCPState(ev.TCPState), ev.TCPFlags, tcpFlagBeLiberal, time.Duration(ev.Timeout)*time.Second, time.Now().UnixNano())
			o.r.E.CT.SyncSeen(f.e, ev.Status&ctnetlink.StatusSeenReply != 0, ev.Status&ctnetlink.StatusAssured != 0)
			refresh = false
		case err == ctnetlink.ErrNotFound && f.ackSeq == 0:
			// The kernel ended the connection (timed out) and its
			// destroy event is still on its way: it ends in ipsift's
			// table now, as the event would end it (events), so that
			// the packet that brought it back meets no stale entry.
			o.r.E.CT.Remove(f.e)
			gone, refresh = true, false
		case err != ctnetlink.ErrNotFound:
			o.r.log.Warn("offload: reading the kernel's entry", "conn", f.orig.tuple().String(), "err", err)
		}
	}
	if !gone {
		if w != nil && o.piggy {
			// (no acknowledgement: an error comes back to offAck)
			w.off.seq++
			f.delSent = true
			if err := w.q.Append(o.cl.DeleteMsg(f.orig.tuple(), nfqueue.SeqTag|seqDelete|w.off.seq&^(nfqueue.SeqTag|seqDelete), false)); err != nil {
				o.r.Stats.Errors.Add(1)
			}
		} else if err := o.cl.Delete(f.orig.tuple()); err != nil && err != ctnetlink.ErrNotFound {
			o.r.log.Warn("offload: deleting the kernel's entry", "conn", f.orig.tuple().String(), "err", err)
		}
	}
	f.e.ResyncTCP()
	if refresh {
		o.r.E.CT.Refresh(f.e, time.Now().UnixNano())
	}
	if o.r.Tracing() == 0 {
		return "" // (the note is for ctl trace)
	}
	return fmt.Sprintf("offload: connection back from the kernel (%s) after %s", why, time.Duration(time.Now().UnixNano()-f.since).Round(time.Millisecond))
}

func (w *offState) addNote(s string) {
	if s == "" {
		return
	}
	if w.note != "" {
		w.note += "\n"
	}
	w.note += s
}

// offloadMinPackets is how many packets a connection must have had
// (half in each direction) before it is handed over: a ctnetlink request
// to create the kernel's entry and one to delete it cost more than the
// few packets of a short connection (one HTTP request) would.
const offloadMinPackets = 16

// offloadedLife is the timeout the engine's entry of a connection the
// kernel carries from its handshake on is given (offloadFirst): longer
// than any the kernel's can have, which ends it first.
const offloadedLife = 5 * 24 * time.Hour

// closeGrace is how long the kernel keeps carrying a connection's
// segments without SYN, FIN or RST after ipsift saw its FIN or RST.
const closeGrace = 500 * time.Millisecond

// reap takes back the closing connections whose grace has passed, until
// ctx is done.
func (o *offloader) reap(ctx context.Context) {
	t := time.NewTicker(closeGrace / 5)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			o.mu.Lock()
			for _, f := range o.flows {
				if f.closing && now.After(f.closeAt) {
					o.takeBackLocked(nil, f, "closed")
				}
			}
			o.mu.Unlock()
		}
	}
}

// takeBackAll ends every offload (a reload, a host change, the end).
func (o *offloader) takeBackAll(why string) {
	o.gen.Add(1)
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, f := range o.flows {
		o.takeBackLocked(nil, f, why)
	}
	// The candidates' proofs are of the old generation: after() drops
	// them.
}

// after runs behind the engine: for an accepted segment whose path was
// recorded, it proves the path and, with both directions proved, hands
// the connection to the kernel.
func (o *offloader) after(w *worker, origMark uint32) {
	st := w.st
	if st.RecordPathOn() == nil && !w.off.syn {
		return
	}
	st.RecordPath(nil)
	res := &st.Result
	switch res.Verdict {
	case engine.Forward, engine.AcceptLocal, engine.Sent:
	default:
		return
	}
	e, reply := st.Conn()
	if e == nil || st.Mark() != origMark {
		return
	}
	for i := range res.Out {
		if res.Out[i].Answer {
			return
		}
	}
	if w.off.syn {
		if !reply && st.CTState() == ext.CTNew && e.TCPState() == conntrack.TCPSynSent {
			o.probeSyn(w, e)
		}
		return
	}
	if st.CTState() != ext.CTEstablished {
		return
	}
	const want = conntrack.IPSConfirmed | conntrack.IPSSeenReply | conntrack.IPSAssured
	ready := e.Status()&want == want && e.TCPState() == conntrack.TCPEstablished
	if o.first && reply && w.off.synAck {
		// The handshake's SYN-ACK: the kernel takes over from here,
		// its original direction proved by the probe at the SYN.
		const seen = conntrack.IPSConfirmed | conntrack.IPSSeenReply
		ready = e.Status()&seen == seen && e.TCPState() == conntrack.TCPSynRecv
	}
	if !ready && (!w.off.synAck || !reply) {
		// With offloadClose, a SYN-ACK's path is proved for the reply
		// direction before the handshake ends; the hand-over waits for
		// the handshake's last ACK.
		return
	}
	if !o.carryClose {
		if p0, _ := e.Counters(0); p0 < offloadMinPackets/2 {
			return // short connections cost more to hand over than they save
		}
		if p1, _ := e.Counters(1); p1 < offloadMinPackets/2 {
			return
		}
	}
	gen := o.prover(w)
	dir := 0
	if reply {
		dir = 1
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	c := o.cands[e]
	if c != nil && c.gen != gen {
		*c = cand{}
	}
	if c != nil && c.fail {
		return // refused
	}
	if c == nil || !c.have[dir] {
		prove := w.off.prover.Prove
		if w.off.synAck {
			prove = w.off.prover.ProveSynAck
		}
		if ok, f := prove(w.off.path.Steps); !ok {
			if o.r.Tracing() > 0 {
				w.off.addNote("offload: not handed to the kernel: " + f.String())
			}
			return
		}
		if c == nil {
			if len(o.cands) >= 1<<16 {
				clear(o.cands)
			}
			c = &cand{gen: gen}
			o.cands[e] = c
		}
		c.gen = gen
		c.steps[dir] = o.keepLocked(dir, w.off.path.Steps)
		c.have[dir] = true
	}
	// Proved in this direction (by this packet or an earlier one: then
	// a hand-over that had to wait, errNotYet, is tried again now).
	if !c.have[1-dir] || !ready {
		return
	}
	// (errNotYet: the next packet tries again.)
	o.handOverLocked(w, e, c, "offload: connection handed to the kernel: its segments without SYN, FIN or RST are carried by the kernel on this decision, counted by its conntrack accounting")
}

// handOverLocked hands e to the kernel (handLocked) and says so in w's
// trace note; a refusal other than errNotYet marks c failed for this
// generation. The caller holds o.mu.
func (o *offloader) handOverLocked(w *worker, e *conntrack.Entry, c *cand, note string) bool {
	if err := o.handLocked(w, e, c); err != nil {
		if err != errNotYet {
			c.fail = true
			o.r.OStats.Refused.Add(1)
			o.r.log.Debug("offload: the kernel refused the connection", "conn", e.String(), "err", err)
		}
		return false
	}
	if len(o.cands) > 0 {
		delete(o.cands, e)
	}
	w.off.addNote(note)
	return true
}

// prover returns the worker's prover for the current generation, and
// the generation.
func (o *offloader) prover(w *worker) uint64 {
	gen := o.gen.Load()
	if w.off.prover == nil || w.off.pgen != gen {
		if o.carryClose {
			w.off.prover = engine.NewProverClose(o.r.E.Program().Ruleset())
		} else {
			w.off.prover = engine.NewProver(o.r.E.Program().Ruleset())
		}
		w.off.allow = w.off.prover.Allow
		w.off.pgen = gen
	}
	return gen
}

// keepLocked returns a copy of steps to keep with a connection: the
// last one kept for dir when it is the same (the connections of one
// service share it), else a new one. The caller holds o.mu.
func (o *offloader) keepLocked(dir int, steps []engine.PathStep) []engine.PathStep {
	if l := o.last[dir]; len(l) == len(steps) {
		same := true
		for i := range l {
			if l[i] != steps[i] {
				same = false
				break
			}
		}
		if same {
			return l
		}
	}
	k := append([]engine.PathStep(nil), steps...)
	o.last[dir] = k
	return k
}

// probeSyn runs after the engine accepted a connection's SYN
// (offloadFirst). It proves the way every later segment of each
// direction will take: the engine runs a segment like the SYN, with
// ACK alone, through the rules in state ESTABLISHED without changing
// anything (engine.Probe), once for the original direction (arriving
// where the SYN arrived) and once for the reply direction (from the
// reply's source, arriving by the interface the host routes that
// source to), and package offload proves each recorded path. With both
// proved, the connection is handed to the kernel now, before the SYN's
// verdict, in state SYN_SENT: the kernel carries its SYN-ACK and
// everything after it. With the original direction alone proved (the
// reply probe failed), the proof waits in cands for the SYN-ACK, which
// proves the reply direction by its own path and hands the connection
// over then.
//
// The raw rules (kernelRules) let a segment reach the kernel's
// conntrack only when it arrives by the interface its source is routed
// to (-m rpfilter): the interfaces the probes assumed. So the SYN's own
// interface must be that one too.
func (o *offloader) probeSyn(w *worker, e *conntrack.Entry) {
	orig, reply := tupleOf(e, 0), tupleOf(e, 1)
	if w.in.In == "lo" || w.st.Result.OutIface == "lo" || !orig.Src.Is4() || !reply.Src.Is4() {
		return // loopback packets pass the hooks twice: not handed over
	}
	h := o.r.E.Host
	if !w.in.Local {
		if rt, ok := h.Lookup(orig.Src); !ok || rt.Dev != w.in.In {
			return // the SYN did not come by the route to its source
		}
	}
	gen := o.prover(w)
	if w.off.pst == nil {
		w.off.pst = engine.NewState()
	}
	b := append(w.off.pbuf[:0], w.orig...)
	w.off.pbuf = b
	ihl := int(b[0]&0xf) * 4
	if len(b) < ihl+20 {
		return
	}
	b[ihl+13] = 0x10 // ACK alone
	if !o.probe(w, e, false, engine.Input{Data: b, In: w.in.In, Local: w.in.Local, Now: w.in.Now, Mark: w.in.Mark, ChecksumOK: true}) {
		return
	}
	// (kept until the lock is taken, once, after the second probe)
	w.off.steps0 = append(w.off.steps0[:0], w.off.ppath.Steps...)

	// The reply direction: the SYN's header turned round, its addresses
	// and ports those of the reply tuple.
	var in engine.Input
	if o.r.isLocal(reply.Src) {
		in.Local = true
	} else if rt, ok := h.Lookup(reply.Src); ok && rt.Dev != "lo" {
		in.In = rt.Dev
	} else {
		o.waitSynAck(w, e, gen)
		return
	}
	b = append(w.off.pbuf[:0], w.orig...)
	w.off.pbuf = b
	s4, d4 := reply.Src.As4(), reply.Dst.As4()
	copy(b[12:16], s4[:])
	copy(b[16:20], d4[:])
	binary.BigEndian.PutUint16(b[ihl:], reply.SrcPort)
	binary.BigEndian.PutUint16(b[ihl+2:], reply.DstPort)
	b[10], b[11] = 0, 0
	binary.BigEndian.PutUint16(b[10:12], packet.Checksum(b[:ihl]))
	in.Data, in.Now, in.ChecksumOK = b, w.in.Now, true
	if !o.probe(w, e, true, in) {
		o.waitSynAck(w, e, gen)
		return
	}
	// Both proved: the connection goes to the kernel now. Its proof
	// lives in the worker's own cand unless the kernel refuses it
	// (then in cands, failed, so that nothing tries again).
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.gen.Load() != gen {
		return // a reload or host change came between
	}
	c := &w.off.cand
	*c = cand{gen: gen, have: [2]bool{true, true}}
	c.steps[0] = o.keepLocked(0, w.off.steps0)
	c.steps[1] = o.keepLocked(1, w.off.ppath.Steps)
	if !o.handOverLocked(w, e, c, "offload: connection handed to the kernel at its SYN: its SYN-ACK and every later segment without SYN or RST are carried by the kernel on this decision, counted by its conntrack accounting") {
		// Refused (failed), or not yet (the kernel still carries an
		// earlier connection on the tuple): its SYN-ACK tries again.
		o.putCandLocked(e, c)
	}
}

// waitSynAck keeps the original direction's proof of e (in
// w.off.steps0) for its SYN-ACK, which proves the reply direction by
// its own path (after) when the probe at the SYN could not.
func (o *offloader) waitSynAck(w *worker, e *conntrack.Entry, gen uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.gen.Load() != gen {
		return
	}
	c := cand{gen: gen}
	c.steps[0] = o.keepLocked(0, w.off.steps0)
	c.have[0] = true
	o.putCandLocked(e, &c)
}

// putCandLocked stores a copy of c as e's candidate.
func (o *offloader) putCandLocked(e *conntrack.Entry, c *cand) {
	if len(o.cands) >= 1<<16 {
		clear(o.cands)
	}
	nc := new(cand)
	*nc = *c
	o.cands[e] = nc
}

// probe runs one probe of e's direction reply with in and proves its
// path (left in w.off.ppath).
func (o *offloader) probe(w *worker, e *conntrack.Entry, reply bool, in engine.Input) bool {
	w.off.pin = in
	ps := w.off.pst
	dir := "original"
	if reply {
		dir = "reply"
	}
	if !o.r.E.Probe(ps, &w.off.pin, e, reply, w.off.allow, &w.off.ppath) {
		if o.r.Tracing() > 0 {
			w.off.addNote("offload: not handed to the kernel at the SYN: on the " + dir + " direction's established path, a rule acts or reads more than the connection")
		}
		return false
	}
	switch ps.Result.Verdict {
	case engine.Forward, engine.AcceptLocal, engine.Sent:
	default:
		return false
	}
	if ok, f := w.off.prover.Prove(w.off.ppath.Steps); !ok {
		if o.r.Tracing() > 0 {
			w.off.addNote("offload: not handed to the kernel at the SYN (" + dir + " direction): " + f.String())
		}
		return false
	}
	return true
}

func tupleOf(e *conntrack.Entry, dir int) ctnetlink.Tuple {
	src, dst, sp, dp := e.Tuple(dir)
	return ctnetlink.Tuple{Src: src, Dst: dst, Proto: e.Proto(), SrcPort: sp, DstPort: dp}
}

// handLocked creates the connection in the kernel, before the verdict
// of the packet that completed its proof; the caller holds o.mu.
//
// With piggy (w not nil), the create goes out in w's verdict message,
// ahead of the verdict of the packet that proved it; the connection is
// the kernel's from then on, as if the create had succeeded, until its
// acknowledgement says otherwise (offAck).
func (o *offloader) handLocked(w *worker, e *conntrack.Entry, c *cand) error {
	orig, reply := tupleOf(e, 0), tupleOf(e, 1)
	if !orig.Src.Is4() {
		return fmt.Errorf("IPv4 only")
	}
	ok, rk := keyOf(orig), keyOf(reply)
	if w == nil || !o.piggy || !w.off.syn || w.off.synKey != ok {
		// (with piggy one worker hands over, and the SYN's before took
		// back any earlier connection on the tuple)
		for f := o.byOrig[ok]; f != nil; f = f.newer {
			if !f.returning {
				return errNotYet // the kernel still carries an earlier one
			}
		}
	}
	state, flags, scale, _ := e.TCPInfo()
	// Liberal windows (IP_CT_TCP_FLAG_BE_LIBERAL): the kernel picks the
	// connection up in the middle and knows less of its windows than
	// the engine; strict, it would let some in-window segments through
	// uncounted (NFCT_TCP_IGNORE) and send others back as INVALID.
	// DIFFERENCES.md says what this changes.
	flags[0] |= tcpFlagBeLiberal
	flags[1] |= tcpFlagBeLiberal
	conn := ctnetlink.Conn{
		Orig: orig, Reply: reply, Timeout: 432000, Mark: markOffload,
		Status: ctnetlink.StatusSeenReply | ctnetlink.StatusAssured,
		TCP:    &ctnetlink.TCPInfo{State: uint8(state), Flags: flags, Scale: scale},
	}
	now := time.Now().UnixNano()
	switch state {
	case conntrack.TCPSynSent, conntrack.TCPSynRecv:
		// Handed over at the SYN or the SYN-ACK (offloadFirst): with no
		// reply seen yet (SYN_SENT), not ASSURED yet (the kernel sets it
		// at the handshake's last ACK), and the timeout the engine gave
		// the state.
		conn.Status = 0
		if state == conntrack.TCPSynRecv {
			conn.Status = ctnetlink.StatusSeenReply
		}
		conn.Timeout = uint32((e.Expires(now) + int64(time.Second) - 1) / int64(time.Second))
	}
	var ackSeq uint32
	if w != nil && o.piggy {
		w.off.seq++
		ackSeq = nfqueue.SeqTag | w.off.seq&^(nfqueue.SeqTag|seqDelete)
		if err := w.q.Append(o.cl.CreateMsg(&conn, ackSeq, true)); err != nil {
			o.r.Stats.Errors.Add(1) // (the flush before it failed)
		}
	} else {
		if err := o.cl.Create(&conn); err != nil {
			return err
		}
		if o.first {
			// The engine's entry lives as long as the kernel's: its
			// destroy event ends it (events), whatever the state ipsift
			// last saw.
			o.r.E.CT.SyncTCP(e, state, flags, 0xff, offloadedLife, now)
		}
	}
	f := &flow{e: e, orig: ok, reply: rk, steps: c.steps, since: now, fromStart: state == conntrack.TCPSynSent || state == conntrack.TCPSynRecv, ackSeq: ackSeq}
	if ackSeq != 0 {
		if len(w.off.acks) == 0 {
			w.off.acks = make([]*flow, ackRing)
		}
		w.off.acks[ackSeq%ackRing] = f
	}
	o.flows[ok], o.flows[rk] = f, f
	var hint *flow
	if w != nil {
		hint = w.off.synPrev
	}
	o.pushOrig(f, hint)
	o.nflows.Add(1)
	o.r.OStats.Active.Add(1)
	o.r.OStats.Offloaded.Add(1)
	return nil
}

// pushOrig adds f to byOrig as the newest flow of its original tuple.
// The tuple's older flows are taken back ones waiting for their
// destroy events: a chain of one or two. hint, if not nil, is a flow
// that was on f's tuple: still in byOrig, f joins the chain from it
// without a map lookup (a cache miss among the tens of thousands of
// connections the kernel keeps in TIME_WAIT).
func (o *offloader) pushOrig(f *flow, hint *flow) {
	f.inOrig = true
	h := hint
	if h == nil || !h.inOrig || h.orig != f.orig {
		h = o.byOrig[f.orig]
		if h == nil {
			o.byOrig[f.orig] = f
			return
		}
	}
	for h.newer != nil {
		h = h.newer
	}
	h.newer = f
}

// eventFlow takes out of byOrig the flow a destroy event for the
// kernel's entry with tuples orig and reply is for: the oldest flow of
// orig whose reply tuple (after NAT) is reply. Not simply the oldest of
// orig: an event for an entry ipsift has no flow of (a stale one that a
// refused create deleted, say) would otherwise end a live connection's
// flow, whose kernel entry then stays unknown to ipsift and refuses the
// next create on the tuple in turn. Connections of one tuple NATed alike
// are not told apart (the kernel's entry id would), nor need they be
// for the cascade: the oldest of them is the one whose entry ends first.
// nil when no flow matches: the event is for no connection ipsift knows.
func (o *offloader) eventFlow(orig, reply ckey) *flow {
	f := o.byOrig[orig]
	for f != nil && f.reply != reply {
		f = f.newer
	}
	if f == nil {
		return nil
	}
	o.dropOrig(f)
	return f
}

// newestOrig returns the newest flow of tuple k in byOrig, or nil.
func (o *offloader) newestOrig(k ckey) *flow {
	f := o.byOrig[k]
	for f != nil && f.newer != nil {
		f = f.newer
	}
	return f
}

// dropOrig takes f out of byOrig wherever it is in its tuple's chain
// (a refused create: no destroy event will come for it).
func (o *offloader) dropOrig(f *flow) {
	h := o.byOrig[f.orig]
	switch {
	case h == f && f.newer == nil:
		delete(o.byOrig, f.orig)
	case h == f:
		o.byOrig[f.orig] = f.newer
	default:
		for ; h != nil; h = h.newer {
			if h.newer == f {
				h.newer = f.newer
				break
			}
		}
	}
	f.newer, f.inOrig = nil, false
}

// seqDelete marks the sequence numbers of the deletes a worker sends
// with its verdicts (below nfqueue.SeqTag).
const seqDelete = 1 << 30

// ackRing is how many creates a worker's acks remembers. A create's
// answer is queued on the worker's socket inside the send that carries
// it, behind at most the messages already waiting there (the queue's
// packets, each of which can cause one create): the ring is larger
// than any queue length (at most 65536 packets, --queue-maxlen).
const ackRing = 1 << 17

// offAck handles the answer to a create or delete a worker sent with
// its verdicts (offloader.piggy), in the order of the worker's
// messages: before any packet the kernel queued after that send.
//
// An acknowledged create: the engine's entry lives as long as the
// kernel's (its destroy event ends it). A refused one (the kernel
// already had an entry on the tuple, which is then deleted, or was out
// of memory): the packet whose verdict went with it was decided by
// ipsift as usual, and the kernel has no entry for the connection, so
// its later segments meet
// none and cross to ipsift (INVALID); the connection was never the
// kernel's: it is taken out of the offloaded connections, uncounted,
// and not handed over again in this generation. A delete's error other
// than ENOENT (the connection ended meanwhile) is logged.
func (r *worker) offAck(seq uint32, errno syscall.Errno) {
	o := r.ofl
	if o == nil {
		return
	}
	if seq&seqDelete != 0 {
		if errno != 0 && errno != syscall.ENOENT {
			r.Stats.Errors.Add(1)
			o.r.log.Warn("offload: deleting the kernel's entry", "err", errno)
		}
		return
	}
	if len(r.off.acks) == 0 {
		return
	}
	f := r.off.acks[seq%ackRing]
	if f == nil || f.ackSeq != seq {
		return
	}
	r.off.acks[seq%ackRing] = nil
	o.mu.Lock()
	defer o.mu.Unlock()
	f.ackSeq = 0
	if errno == 0 {
		if !f.returning {
			state, flags, _, _ := f.e.TCPInfo()
			o.r.E.CT.SyncTCP(f.e, state, flags, 0xff, offloadedLife, time.Now().UnixNano())
		} else if f.delSent {
			// (taken back by a worker: its delete followed the create)
		} else if err := o.cl.Delete(f.orig.tuple()); err != nil && err != ctnetlink.ErrNotFound {
			// Taken back before the create went out (a reload, or the
			// end: their deletes found nothing): the entry goes now.
			o.r.log.Warn("offload: deleting the kernel's entry", "conn", f.orig.tuple().String(), "err", err)
		}
		return
	}
	o.r.OStats.Refused.Add(1)
	o.r.log.Debug("offload: the kernel refused the connection", "conn", f.e.String(), "err", errno)
	if errno == syscall.EEXIST {
		// The kernel holds an entry on the tuple that ipsift has no
		// record of (a connection whose destroy event was matched to
		// another one): left there, it would carry this connection's
		// later segments on its own NAT binding and state, a decision
		// ipsift never made. It goes, so that they meet no entry and
		// cross to ipsift (INVALID).
		if err := o.cl.Delete(f.orig.tuple()); err != nil && err != ctnetlink.ErrNotFound {
			r.Stats.Errors.Add(1)
			o.r.log.Warn("offload: deleting the kernel's stale entry", "conn", f.orig.tuple().String(), "err", err)
		}
	}
	// No destroy event will come for it: it leaves byOrig now.
	o.dropOrig(f)
	if f.returning {
		return // (taken back already, by a packet queued before the create)
	}
	f.returning = true
	if o.flows[f.orig] == f {
		delete(o.flows, f.orig)
	}
	if o.flows[f.reply] == f {
		delete(o.flows, f.reply)
	}
	o.nflows.Add(-1)
	o.r.OStats.Active.Add(-1)
	o.r.OStats.Offloaded.Add(^uint64(0))
	if len(o.cands) >= 1<<16 {
		clear(o.cands)
	}
	o.cands[f.e] = &cand{gen: o.gen.Load(), fail: true}
}

// Offloaded reports whether the kernel carries e on ipsift's decision.
func (r *Runner) Offloaded(e *conntrack.Entry) bool {
	o := r.ofl
	if o == nil || o.nflows.Load() == 0 {
		return false
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	f := o.flows[keyOf(tupleOf(e, 0))]
	return f != nil && f.e == e
}

// close takes every connection back and restores the sysctls.
func (o *offloader) close() {
	o.takeBackAll("ipsift stops")
	o.ev.Close()
	o.cl.Close()
	o.restore()
}

// settleEvery settles the kernel's counters periodically, so that the
// engine's connections stay alive (refreshed) while the kernel carries
// them and the counters never wait long.
func (o *offloader) settleEvery(ctx context.Context, d time.Duration) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			o.r.Settle()
		}
	}
}
