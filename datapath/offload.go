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
	"time"

	"github.com/ipsift/ipsift/conntrack"
	"github.com/ipsift/ipsift/datapath/ctnetlink"
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
	orig      ctnetlink.Tuple // the kernel's original tuple
	reply     ctnetlink.Tuple
	steps     [2][]engine.PathStep // the proved path of each direction
	returning bool
	// closing: ipsift saw a FIN or RST; the kernel keeps carrying the
	// last segments until closeAt, then ipsift takes the connection back.
	closing bool
	closeAt time.Time
	since   time.Time
	carried [2]uint64 // packets the kernel counted, settled so far
	// fromStart: handed over at its SYN or SYN-ACK (offloadFirst):
	// ipsift's state of it is the handshake's.
	fromStart bool
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
	// last: the steps most recently kept for each direction, shared by
	// the connections whose proved paths are the same (most are).
	last [2][]engine.PathStep

	// mu guards the maps and every use of cl (the workers' hand-overs
	// and take-backs, the events' and Settle's goroutines).
	mu    sync.Mutex
	flows map[ctnetlink.Tuple]*flow // by the tuple its packets arrive with, both directions
	// byOrig: the flows of an original tuple until their destroy events,
	// oldest first (a flow ipsift took back, whose kernel entry it
	// deleted, waits here for its event while a new connection on the
	// same tuple is handed over).
	byOrig map[ctnetlink.Tuple][]*flow
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
	prover *engine.Prover // replaced with the generation
	pgen   uint64         // the generation prover was made for
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
	o := &offloader{r: r, flows: map[ctnetlink.Tuple]*flow{}, byOrig: map[ctnetlink.Tuple][]*flow{},
		cands: map[*conntrack.Entry]*cand{}, oldSysctl: map[string]string{}, carryClose: r.cfg.OffloadClose || r.cfg.OffloadFirst, first: r.cfg.OffloadFirst}
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
			fs := o.byOrig[ev.Orig]
			if len(fs) == 0 {
				return
			}
			f := fs[0]
			if len(fs) == 1 {
				delete(o.byOrig, ev.Orig)
			} else {
				o.byOrig[ev.Orig] = fs[1:]
			}
			ended := false
			if !f.returning {
				// The kernel ended it (timeout, conntrack -D): its next
				// packets come to ipsift, which picks it up again.
				o.returnLocked(f, "the kernel dropped its entry", true)
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
		if fs := o.byOrig[ev.Orig]; len(fs) > 0 {
			f := fs[len(fs)-1]
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

// wireKey is the tuple a queued IPv4 TCP packet arrives with.
func wireKey(b []byte) (ctnetlink.Tuple, uint8, bool) {
	if len(b) < 20 || b[0]>>4 != 4 {
		return ctnetlink.Tuple{}, 0, false
	}
	ihl := int(b[0]&0xf) * 4
	if b[9] != packet.ProtoTCP || len(b) < ihl+14 || binary.BigEndian.Uint16(b[6:8])&0x1fff != 0 {
		return ctnetlink.Tuple{}, 0, false
	}
	return ctnetlink.Tuple{
		Src: netip.AddrFrom4([4]byte(b[12:16])), Dst: netip.AddrFrom4([4]byte(b[16:20])), Proto: packet.ProtoTCP,
		SrcPort: binary.BigEndian.Uint16(b[ihl:]), DstPort: binary.BigEndian.Uint16(b[ihl+2:]),
	}, b[ihl+13], true
}

const tcpSFR = 0x01 | 0x02 | 0x04

// before runs ahead of the engine for every queued IPv4 packet: a packet
// of a connection the kernel carries takes it back, and a TCP segment
// without SYN, FIN and RST has its path recorded for a proof.
func (o *offloader) before(w *worker, data []byte) {
	w.off.note, w.off.synAck, w.off.syn = "", false, false
	k, flags, ok := wireKey(data)
	if !ok {
		w.st.RecordPath(nil)
		return
	}
	if o.nflows.Load() > 0 {
		o.mu.Lock()
		if f := o.flows[k]; f != nil {
			switch {
			case f.fromStart:
				// The kernel carried this connection from its SYN or
				// SYN-ACK on: ipsift's state is the handshake's. Whatever brings
				// a packet here (a SYN, a RST, a segment the kernel
				// found INVALID or ignored, one that came by another
				// interface), ipsift takes the connection back with the
				// kernel's state and decides the packet.
				w.off.addNote(o.takeBackLocked(f, "a segment the kernel did not carry"))
			case o.carryClose && flags&0x02 == 0 && flags&tcpSFR != 0:
				// A FIN or RST the kernel did not carry: queued before
				// it took the connection over, or out of its window.
				// ipsift takes it back with the kernel's state and
				// decides it.
				w.off.addNote(o.takeBackLocked(f, "a FIN or RST the kernel did not carry"))
			case flags&tcpSFR == 0:
				// Queued before the kernel had the connection (the
				// kernel, liberal, carries every later one; if it loses
				// the entry, its destroy event takes the connection
				// back): ipsift decides it as usual.
				w.off.addNote("offload: queued before the kernel took the connection over: decided here")
			case flags&0x02 != 0:
				w.off.addNote(o.takeBackLocked(f, "a SYN"))
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
func (o *offloader) takeBackLocked(f *flow, why string) string {
	return o.returnLocked(f, why, false)
}

// returnLocked is takeBackLocked; gone says the kernel's entry is gone
// already (its destroy event came): nothing to read or delete.
func (o *offloader) returnLocked(f *flow, why string, gone bool) string {
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
		if ev, err := o.cl.Get(f.orig); err == nil {
			o.r.E.CT.SyncTCP(f.e, conntrack.TCPState(ev.TCPState), ev.TCPFlags, tcpFlagBeLiberal, time.Duration(ev.Timeout)*time.Second, time.Now().UnixNano())
			o.r.E.CT.SyncSeen(f.e, ev.Status&ctnetlink.StatusSeenReply != 0, ev.Status&ctnetlink.StatusAssured != 0)
			refresh = false
		} else if err != ctnetlink.ErrNotFound {
			o.r.log.Warn("offload: reading the kernel's entry", "conn", f.orig.String(), "err", err)
		}
	}
	if !gone {
		if err := o.cl.Delete(f.orig); err != nil && err != ctnetlink.ErrNotFound {
			o.r.log.Warn("offload: deleting the kernel's entry", "conn", f.orig.String(), "err", err)
		}
	}
	f.e.ResyncTCP()
	if refresh {
		o.r.E.CT.Refresh(f.e, time.Now().UnixNano())
	}
	return fmt.Sprintf("offload: connection back from the kernel (%s) after %s", why, time.Since(f.since).Round(time.Millisecond))
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
					o.takeBackLocked(f, "closed")
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
		o.takeBackLocked(f, why)
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
func (o *offloader) handOverLocked(w *worker, e *conntrack.Entry, c *cand, note string) {
	if err := o.handLocked(e, c); err != nil {
		if err != errNotYet {
			c.fail = true
			o.r.OStats.Refused.Add(1)
			o.r.log.Debug("offload: the kernel refused the connection", "conn", e.String(), "err", err)
		}
		return
	}
	delete(o.cands, e)
	w.off.addNote(note)
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
	o.mu.Lock()
	if len(o.cands) >= 1<<16 {
		clear(o.cands)
	}
	c := o.cands[e]
	if c == nil {
		c = &cand{}
		o.cands[e] = c
	}
	*c = cand{gen: gen}
	c.steps[0] = o.keepLocked(0, w.off.ppath.Steps)
	c.have[0] = true
	o.mu.Unlock()

	// The reply direction: the SYN's header turned round, its addresses
	// and ports those of the reply tuple.
	var in engine.Input
	if o.r.isLocal(reply.Src) {
		in.Local = true
	} else if rt, ok := h.Lookup(reply.Src); ok && rt.Dev != "lo" {
		in.In = rt.Dev
	} else {
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
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if c2 := o.cands[e]; c2 != c || c.gen != gen {
		return
	}
	c.steps[1] = o.keepLocked(1, w.off.ppath.Steps)
	c.have[1] = true
	o.handOverLocked(w, e, c, "offload: connection handed to the kernel at its SYN: its SYN-ACK and every later segment without SYN or RST are carried by the kernel on this decision, counted by its conntrack accounting")
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
	if !o.r.E.Probe(ps, &w.off.pin, e, reply, w.off.prover.Allow, &w.off.ppath) {
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
func (o *offloader) handLocked(e *conntrack.Entry, c *cand) error {
	orig, reply := tupleOf(e, 0), tupleOf(e, 1)
	if !orig.Src.Is4() {
		return fmt.Errorf("IPv4 only")
	}
	for _, f := range o.byOrig[orig] {
		if !f.returning {
			return errNotYet // the kernel still carries an earlier one
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
	if err := o.cl.Create(&conn); err != nil {
		return err
	}
	if o.first {
		// The engine's entry lives as long as the kernel's: its destroy
		// event ends it (events), whatever the state ipsift last saw.
		o.r.E.CT.SyncTCP(e, state, flags, 0xff, offloadedLife, now)
	}
	f := &flow{e: e, orig: orig, reply: reply, steps: c.steps, since: time.Now(), fromStart: state == conntrack.TCPSynSent || state == conntrack.TCPSynRecv}
	o.flows[orig], o.flows[reply] = f, f
	o.byOrig[orig] = append(o.byOrig[orig], f)
	o.nflows.Add(1)
	o.r.OStats.Active.Add(1)
	o.r.OStats.Offloaded.Add(1)
	return nil
}

// Offloaded reports whether the kernel carries e on ipsift's decision.
func (r *Runner) Offloaded(e *conntrack.Entry) bool {
	o := r.ofl
	if o == nil || o.nflows.Load() == 0 {
		return false
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	f := o.flows[tupleOf(e, 0)]
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
