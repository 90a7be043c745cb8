// Package datapath enforces a ruleset on live traffic: the kernel queues
// packets to ipsift over NFQUEUE, the engine decides each one with its
// own connection tracking and NAT, and the verdict goes back to the
// kernel with the rewritten packet.
//
// The design (README, "Live enforcement"): every IP packet is queued
// once where it enters, at PREROUTING or OUTPUT before the kernel's own
// defragmentation and conntrack, and marked untracked so that the
// kernel's conntrack and NAT never touch it. The engine runs the
// packet's whole path at once (PREROUTING, routing, INPUT or FORWARD,
// POSTROUTING). Its destination rewrite (DNAT, or undoing SNAT on a
// reply) is handed back at once, so the kernel routes the packet where
// ipsift decided. A source rewrite of a forwarded packet (MASQUERADE,
// SNAT, or undoing DNAT on a reply) cannot be: the kernel would see a
// packet from its own address arrive on an interface and drop it as a
// martian. Such a packet goes back with only its destination rewritten
// and a mark naming a slot where ipsift keeps the finished packet; a
// second queue rule at the end of POSTROUTING catches the mark, and
// ipsift answers with the finished packet. IPv6 takes the same way
// (install6.go) when the rules have an IPv6 part: one engine and one
// connection table decide both families.
package datapath

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipsift/ipsift/conntrack"
	"github.com/ipsift/ipsift/datapath/nfqueue"
	"github.com/ipsift/ipsift/engine"
	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/ipset"
	"github.com/ipsift/ipsift/load"
	"github.com/ipsift/ipsift/packet"
	"github.com/ipsift/ipsift/rules"
)

// Config is how Run enforces a ruleset.
type Config struct {
	RulesPath string
	// Rules6Path is an IPv6 ruleset (ip6tables-restore input, or a
	// script) read beside RulesPath (optional: RulesPath itself may hold
	// both families).
	Rules6Path string
	// QueueND queues neighbour discovery too (install6.go: by default
	// it goes straight to the kernel, so a stalled ipsift cannot stop
	// it).
	QueueND bool
	Queue   uint16
	// Queues is how many queues ipsift reads, Queue to Queue+Queues-1
	// (0 or 1: one), each by a worker of its own on one shared engine and
	// conntrack table. With several, the kernel spreads packets over them
	// by address (NFQUEUE --queue-balance: a hash of the source and
	// destination addresses, never the ports) or, with CPUFanout, by the
	// CPU that handles the packet (--queue-cpu-fanout).
	Queues    uint16
	CPUFanout bool
	// QueueLen bounds the packets the kernel holds for ipsift (0: 4096).
	// A full queue drops, or with FailOpen accepts.
	QueueLen uint32
	// FailOpen lets packets pass when ipsift is not reading (the queue
	// rules' bypass flag) or the queue is full (the queue's fail-open
	// flag). Otherwise both drop: fail-closed.
	FailOpen bool
	// ExemptPort is a TCP port of the host left to the kernel (0: none).
	ExemptPort uint16
	// ChainPrefix names ipsift's iptables chains (default "IPSIFT":
	// IPSIFT-PRE, IPSIFT-OUT in raw, IPSIFT-POST in mangle).
	ChainPrefix string
	Logger      *slog.Logger
	// LogOut receives the LOG target's lines (kernel format).
	LogOut io.Writer
	Engine engine.Config
	// NoFlush reads RulesPath (and every reload) as iptables-restore
	// --noflush would: a repeated table section adds to the first.
	NoFlush bool
	// OnePass finishes IPv4 forwarded packets that need a source
	// rewrite in their first verdict where the kernel allows it
	// (onepass.go), setting net.ipv4.conf.all.accept_local while it
	// runs.
	OnePass bool
	// Offload hands connections proved invariant to the kernel's
	// conntrack (offload.go).
	Offload bool
	// OffloadClose (with Offload) hands a connection over as soon as its
	// handshake is done and both directions are proved, and lets the
	// kernel carry its close too (FIN and RST segments; offload.go).
	OffloadClose bool
	// OffloadFirst (with Offload) hands a TCP connection over at its
	// SYN, proving both directions with probes (engine.Probe), and lets
	// the kernel carry the rest, SYN-ACK and close included (offload.go).
	OffloadFirst bool
}

// Stats are the runner's counters.
type Stats struct {
	Packets, Accepted, Dropped, Rejected, Rewritten, SecondPass, Batches, Errors atomic.Uint64
	EngineNanos                                                                  atomic.Uint64
	// EngineRuns counts the packets the engine decided (EngineNanos is
	// their total time); Reloads and ReloadsFailed count reloads.
	EngineRuns, Reloads, ReloadsFailed atomic.Uint64
	// ICMPLimited counts answers (ICMP errors) not sent because of the
	// ICMP rate limit (icmplimit.go).
	ICMPLimited atomic.Uint64
}

// MaxQueues bounds Config.Queues: the second-pass mark names the worker
// in 4 bits.
const MaxQueues = 16

// ParseQueues reads the queues of `ipsift run`: spec is a queue number N
// or a range FIRST:LAST; count, when not 0, asks for that many queues
// from N. It returns the first queue and how many.
func ParseQueues(spec string, count uint) (first, n uint16, err error) {
	lo, hi, isRange := strings.Cut(spec, ":")
	a, err1 := strconv.ParseUint(lo, 10, 16)
	b := a
	var err2 error
	if isRange {
		b, err2 = strconv.ParseUint(hi, 10, 16)
	}
	switch {
	case err1 != nil || err2 != nil:
		return 0, 0, fmt.Errorf("queue %q: want a number 0-65535 or FIRST:LAST", spec)
	case b < a:
		return 0, 0, fmt.Errorf("queue %q: the last queue is below the first", spec)
	case isRange && count != 0:
		return 0, 0, fmt.Errorf("queue %s and --queues %d: give the range or the count, not both", spec, count)
	case count != 0:
		b = a + uint64(count) - 1
	}
	if b-a+1 > MaxQueues || b > 65535 {
		return 0, 0, fmt.Errorf("queues %d-%d: at most %d queues, numbered up to 65535", a, b, MaxQueues)
	}
	return uint16(a), uint16(b - a + 1), nil
}

// Runner is one enforcing process.
type Runner struct {
	cfg   Config
	log   *slog.Logger
	E     *engine.Engine
	Stats Stats
	// Sets are the ipsets the rules use: created from RULES, then kept
	// across reloads, as the kernel keeps its sets apart from the rules
	// (Ipset edits them while packets are matched against them).
	Sets *ipset.Registry

	// hostMu guards the host model (lh and E.Host): a worker holds it
	// for reading from its first packet of a batch to the batch's
	// flush, watchHost for writing while it swaps the model.
	hostMu    sync.RWMutex
	lh        *liveHost
	workers   []*worker
	closeOnce sync.Once
	raw       *rawSender
	icmp      *icmpLimit
	onePass   *onePass // nil without --one-pass
	reloadMu  sync.Mutex
	ofl       *offloader   // nil without Config.Offload
	OStats    OffloadStats // offload.go
	// six says whether IPv6 is queued: from the start when the rules
	// have an IPv6 part, else from the reload that gives them one.
	six struct {
		sync.Mutex
		running, installed, wanted bool
	}
	tr traceState // ipsift ctl trace subscribers (trace.go)
}

// worker reads one queue. Its methods keep the receiver name r: through
// the embedded Runner, r.E, r.Stats and the rest are the shared ones,
// and r.q, r.st and the buffers its own.
type worker struct {
	*Runner
	idx      uint32 // which queue: Queue+idx; named in second-pass marks
	q        *nfqueue.Queue
	st       *engine.State
	in       engine.Input
	pkt      packet.Packet
	orig     []byte
	first    []byte
	slots    [4096]pending
	next     uint32
	handleFn func(*nfqueue.Packet)
	held     bool     // holds hostMu for reading (the batch in progress)
	off      offState // the worker's part of offload (offload.go)
	batch    struct {
		id uint32
		n  int
	}
}

func newWorker(r *Runner, idx uint32) *worker {
	w := &worker{Runner: r, idx: idx, st: engine.NewState()}
	w.handleFn = w.handle
	return w
}

// pending is a forwarded packet waiting for its source rewrite at
// POSTROUTING.
type pending struct {
	gen  uint32
	used bool
	mark uint32
	data []byte
}

// New loads the rules and reads the live host; it changes nothing yet.
func New(cfg Config) (*Runner, error) {
	if cfg.ChainPrefix == "" {
		cfg.ChainPrefix = "IPSIFT"
	}
	if cfg.QueueLen == 0 {
		cfg.QueueLen = 4096
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Queues == 0 {
		cfg.Queues = 1
	}
	if cfg.Queues > MaxQueues || int(cfg.Queue)+int(cfg.Queues)-1 > 65535 {
		return nil, fmt.Errorf("queues %d-%d: at most %d queues, numbers up to 65535", cfg.Queue, int(cfg.Queue)+int(cfg.Queues)-1, MaxQueues)
	}
	if cfg.CPUFanout && cfg.Queues < 2 {
		return nil, fmt.Errorf("--queue-cpu-fanout spreads packets over several queues: give --queues N or --queue FIRST:LAST")
	}
	res, err := cfg.loadRules("", load.Options{NoFlush: cfg.NoFlush})
	if err != nil {
		return nil, err
	}
	lh, err := readLiveHost()
	if err != nil {
		return nil, err
	}
	sets := res.Sets
	sets.Shift(time.Now().UnixNano()) // the file's timeouts start now
	sets.Concurrent()
	ecfg := cfg.Engine
	ecfg.NoHostStack = true // the real stack answers (engine.Config)
	// The forwarding path's errors (time exceeded, packet too big):
	// the engine drops those packets before FORWARD, so the kernel never
	// sees them to answer; ipsift sends the engine's answer.
	ecfg.ForwardErrors = true
	ecfg.Sets = sets
	ecfg.Rules6 = res.Rules6
	e, err := engine.New(res.Rules, lh.h, ecfg)
	if err != nil {
		return nil, err
	}
	if cfg.LogOut != nil {
		e.Log = cfg.LogOut
	}
	r := &Runner{cfg: cfg, log: cfg.Logger, E: e, Sets: sets, lh: lh}
	r.six.wanted = res.Rules6 != nil
	return r, nil
}

// loadRules reads path (RulesPath when empty) and, when path is empty
// and Rules6Path is set, the IPv6 rules of Rules6Path beside it.
func (c *Config) loadRules(path string, o load.Options) (*load.Result, error) {
	six := path == "" && c.Rules6Path != ""
	if path == "" {
		path = c.RulesPath
	}
	res, err := loadFile(path, o)
	if err != nil || !six {
		return res, err
	}
	o.Family = ext.IPv6
	r6, err := loadFile(c.Rules6Path, o)
	if err != nil {
		return nil, err
	}
	switch {
	case r6.Rules6 == nil:
		return nil, fmt.Errorf("%s holds no IPv6 rules (--rules6 wants ip6tables-restore input or a script calling ip6tables)", c.Rules6Path)
	case res.Rules6 != nil:
		return nil, fmt.Errorf("%s holds IPv6 rules already: give --rules6 with a RULES that holds only IPv4 rules", path)
	}
	res.Rules6 = r6.Rules6
	res.Sets.Merge(r6.Sets)
	return res, nil
}

// LoadRules reads and checks a ruleset file; any error in it refuses the
// whole file.
func LoadRules(path string) (*rules.Ruleset, error) {
	return loadRules(path, load.Options{})
}

func loadRules(path string, o load.Options) (*rules.Ruleset, error) {
	res, err := loadFile(path, o)
	if err != nil {
		return nil, err
	}
	return res.Rules, nil
}

func loadFile(path string, o load.Options) (*load.Result, error) {
	res, err := load.File(path, o)
	if err != nil {
		return nil, err
	}
	if err := res.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return res, nil
}

// Reload replaces the ruleset with the one in path (the configured file
// when empty) in one atomic step; on any error the old rules stay.
// Connections survive, and so do the sets with their contents, as the
// kernel's do when its rules are replaced: the file's sets that do not
// exist yet are created, the others stay as they are; the new rules may
// name any set that exists.
func (r *Runner) Reload(path string) error {
	r.reloadMu.Lock()
	defer r.reloadMu.Unlock()
	res, err := r.cfg.loadRules(path, load.Options{NoFlush: r.cfg.NoFlush, LiveSets: true})
	if path == "" {
		path = r.cfg.RulesPath
	}
	fresh6 := false
	if err == nil && res.Rules6 != nil {
		// IPv6 rules where there were none: queue IPv6 from now on
		// (until the swap, the old, empty IPv6 rules pass it).
		fresh6, err = r.queue6()
	}
	if err == nil {
		err = r.swapRules(res)
		if err != nil && fresh6 {
			r.unqueue6()
		}
	}
	if err != nil {
		r.Stats.ReloadsFailed.Add(1)
		r.log.Error("reload refused, old rules stay", "file", path, "err", err)
		return err
	}
	r.Stats.Reloads.Add(1)
	if r.ofl != nil {
		r.ofl.takeBackAll("reload")
	}
	r.log.Info("reloaded", "file", path)
	return nil
}

// swapRules loads res's rules with the running sets, adding res's sets
// that do not exist yet, and moves the rules' set references from the
// old rules to the new.
func (r *Runner) swapRules(res *load.Result) error {
	r.Sets.Lock()
	defer r.Sets.Unlock()
	res.Sets.Shift(time.Now().UnixNano())
	added := r.Sets.Merge(res.Sets)
	// Each family's rules replace that family's, as iptables-restore
	// and ip6tables-restore do: a file with no IPv6 part leaves the
	// IPv6 rules, one with only IPv6 rules leaves the IPv4 rules.
	rs, rs6 := res.Rules, res.Rules6
	if rs6 != nil && len(rs.Tables) == 0 {
		rs = nil
	}
	prog := r.E.Program()
	if err := r.E.LoadPair(rs, rs6); err != nil {
		r.Sets.Remove(added)
		return err
	}
	if rs != nil {
		load.RefSets(prog.Ruleset(), r.Sets, -1)
		load.RefSets(rs, r.Sets, 1)
	}
	if rs6 != nil {
		load.RefSets(prog.IPv6().Ruleset(), r.Sets, -1)
		load.RefSets(rs6, r.Sets, 1)
	}
	return nil
}

// Ipset runs an ipset command (ipset's arguments: list, add, del, test,
// create, flush, save, restore with stdin, ...) on the running sets, as
// ipset does on a host while its kernel matches packets: exit status,
// output and messages as ipset's. The engine's clock is the wall clock.
func (r *Runner) Ipset(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	r.reloadMu.Lock() // a reload's references and merge see a whole command
	defer r.reloadMu.Unlock()
	r.Sets.Lock()
	defer r.Sets.Unlock()
	c := &ipset.Cmd{R: r.Sets, Now: func() int64 { return time.Now().UnixNano() }, Stdin: stdin, Stdout: stdout, Stderr: stderr}
	return c.Run(args)
}

// Run binds the queues, installs the kernel rules and enforces until
// ctx is done, one worker per queue; then it removes the rules and
// unbinds. It returns the first error that stopped it.
func (r *Runner) Run(ctx context.Context) error {
	flags := uint32(nfqueue.FlagGSO)
	if r.cfg.FailOpen {
		flags |= nfqueue.FlagFailOpen
	}
	r.workers = r.workers[:0]
	for i := uint32(0); i < uint32(r.cfg.Queues); i++ {
		w := newWorker(r, i)
		var err error
		// Verdicts are deferred to the end of each batch: one send for
		// the batch's rewritten packets and its batch verdict.
		w.q, err = nfqueue.Open(nfqueue.Config{Num: r.cfg.Queue + uint16(i), MaxLen: r.cfg.QueueLen, Flags: flags, ReadBuffer: 8 << 20, Defer: true, OnAck: w.offAck})
		if err != nil {
			r.closeQueues()
			return err
		}
		r.workers = append(r.workers, w)
	}
	settings, err := readICMPSettings("/proc/sys")
	if err != nil {
		r.closeQueues()
		return fmt.Errorf("ICMP rate limits: %w", err)
	}
	hz := r.cfg.Engine.HZ
	if hz == 0 {
		hz = conntrack.DefaultHZ
	}
	if r.icmp, err = newICMPLimit(settings, hz, r.isLocal); err != nil {
		r.closeQueues()
		return err
	}
	r.log.Info("answers' ICMP errors limited as the kernel's", "icmp_ratelimit_ms", settings.RateLimit4, "icmp_ratemask", settings.RateMask4, "icmp6_ratelimit_ms", settings.RateLimit6, "icmp6_ratemask", settings.RateMask6)
	if r.raw, err = newRawSender(); err != nil {
		r.closeQueues()
		return err
	}
	defer r.raw.Close()
	if r.cfg.OnePass {
		if r.onePass, err = startOnePass("/proc/sys/net/ipv4/conf", checkRouting); err != nil {
			r.closeQueues()
			return err
		}
		// Restored after the queue rules are gone: Run returns once
		// the workers have stopped, after the rules were removed.
		defer r.onePass.stop()
		r.log.Info("one pass for source NAT: net.ipv4.conf.all.accept_local=1 while running", "was", r.onePass.restore)
	}
	if r.cfg.Offload {
		if r.ofl, err = newOffloader(r); err != nil {
			r.closeQueues()
			return err
		}
		defer r.ofl.close()
		if n, err := r.ofl.adopt(); err != nil {
			r.log.Warn("offload: taking over the connections an earlier run left to the kernel", "err", err)
		} else if n > 0 {
			r.log.Info("offload: took over connections an earlier run left to the kernel", "connections", n)
		}
		go r.ofl.events()
		go r.ofl.settleEvery(ctx, time.Minute)
		if !r.ofl.carryClose {
			// (carrying the close, the kernel ends its connections
			// itself: nothing is ever closing on ipsift's side)
			go r.ofl.reap(ctx)
		}
	}
	script := kernelRules(r.cfg.ChainPrefix, r.queueSpec(), r.cfg.FailOpen, r.cfg.ExemptPort, r.onePass != nil, r.offloadMode())
	if r.ofl != nil {
		script += offloadRules(r.cfg.ChainPrefix, queueTarget(r.queueSpec(), r.cfg.FailOpen), r.offloadMode())
	}
	if err := installRules(r.cfg.ChainPrefix, script); err != nil {
		r.closeQueues()
		return err
	}
	r.log.Info("installed kernel rules", "chains", r.cfg.ChainPrefix+"-PRE,-OUT (raw) -POST (mangle)", "queue", r.cfg.Queue, "queues", r.cfg.Queues, "fail_open", r.cfg.FailOpen, "rules", script)
	if err := r.startQueue6(); err != nil {
		removeRules(r.cfg.ChainPrefix)
		removeOffloadRules(r.cfg.ChainPrefix)
		r.closeQueues()
		return err
	}
	go r.watchHost(ctx)
	removed := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(removed)
		// Remove the queue rules first, so that from now on the kernel
		// passes packets by its own (empty or not) rules; then closing
		// the sockets ends Receive.
		r.stopQueue6()
		removeRules(r.cfg.ChainPrefix)
		removeOffloadRules(r.cfg.ChainPrefix)
		r.log.Info("removed kernel rules", "chains", r.cfg.ChainPrefix+"-*")
		r.closeQueues()
	})
	// Run returns only once the rules are out: the workers may end
	// on the cancelled context before the removal has finished, and a
	// process that exits then leaves queue rules nobody reads.
	defer func() {
		if !stop() {
			<-removed
		}
	}()
	var wg sync.WaitGroup
	var failed sync.Once
	var ferr error
	for _, w := range r.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.loop(ctx); err != nil {
				// One worker failing stops them all: a queue nobody
				// reads would drop (or pass) its share unseen.
				failed.Do(func() {
					ferr = err
					r.stopQueue6()
					removeRules(r.cfg.ChainPrefix)
					removeOffloadRules(r.cfg.ChainPrefix)
					r.closeQueues()
				})
			}
		}()
	}
	wg.Wait()
	return ferr
}

// queueSpec is what the kernel rules name: one queue, or the range the
// kernel balances over.
func (r *Runner) queueSpec() queueSpec {
	return queueSpec{first: r.cfg.Queue, n: r.cfg.Queues, cpuFanout: r.cfg.CPUFanout}
}

func (r *Runner) closeQueues() {
	r.closeOnce.Do(func() {
		for _, w := range r.workers {
			w.q.Close()
		}
	})
}

// loop reads the worker's queue until ctx is done (nil) or the queue
// fails.
func (r *worker) loop(ctx context.Context) error {
	for {
		err := r.q.Receive(r.handleFn)
		r.flush()
		r.release()
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("nfqueue %d: %w", r.cfg.Queue+uint16(r.idx), err)
		}
	}
}

// release lets go of the host model at the end of a batch.
func (r *worker) release() {
	if r.held {
		r.held = false
		r.hostMu.RUnlock()
	}
}

// flush answers the batch's unchanged packets with one batch verdict
// and sends every verdict of the batch.
func (r *worker) flush() {
	if r.batch.n > 0 {
		if err := r.q.BatchVerdict(r.batch.id, nfqueue.Accept); err != nil {
			r.Stats.Errors.Add(1)
		}
		r.Stats.Batches.Add(1)
		r.batch.n = 0
	}
	if err := r.q.Flush(); err != nil {
		r.Stats.Errors.Add(1)
	}
}

func (r *worker) verdict(id, v uint32, payload []byte, setMark bool, mark uint32) {
	if err := r.q.Verdict(id, v, payload, setMark, mark); err != nil {
		r.Stats.Errors.Add(1)
	}
}

// handle decides one queued packet.
func (r *worker) handle(p *nfqueue.Packet) {
	r.Stats.Packets.Add(1)
	if !r.held {
		// The host model stays the same for the whole batch.
		r.hostMu.RLock()
		r.held = true
	}
	if p.Mark&markPending == markPending {
		r.secondPass(p)
		return
	}
	data := p.Payload
	if n := minHeader(data); n == 0 || len(data) < n || (p.CapLen != 0 && int(p.CapLen) != len(data)) {
		// Not IP, or cut short: nothing ipsift can decide exactly.
		r.Stats.Dropped.Add(1)
		r.verdict(p.ID, nfqueue.Drop, nil, false, 0)
		return
	}
	partial := p.SkbInfo&nfqueue.SkbCsumNotReady != 0
	if partial && r.pkt.Decode(data) == nil {
		// The transport checksum holds only the pseudo-header sum (the
		// sender's NIC would finish it). Finish it, so conntrack's
		// checksum check and NAT's incremental updates see a real one;
		// and a rewritten payload must carry a finished checksum anyway,
		// because the kernel marks a mangled packet CHECKSUM_NONE
		// (nfqnl_mangle) and the receiver verifies it.
		r.pkt.FixChecksums()
	}
	r.orig = append(r.orig[:0], data...)
	// A checksum the kernel took as verified, or one not computed yet
	// (finished just above), is one its conntrack would not check
	// (nf_checksum): nor does the engine's, which spares bulk GSO
	// packets a second pass over 64 KB.
	trusted := partial || p.SkbInfo&nfqueue.SkbCsumNotVerified == 0
	r.in = engine.Input{Data: data, Mark: p.Mark, Local: p.Hook == nfqueue.HookLocalOut, GSO: p.SkbInfo&nfqueue.SkbGSO != 0, ChecksumOK: trusted}
	if r.ofl != nil {
		r.ofl.before(r, data)
	}
	if !r.in.Local {
		r.in.In = r.lh.name(p.InDev)
	}
	t0 := time.Now()
	r.in.Now = t0.UnixNano()
	r.process() // r.E.Process, or traced for ipsift ctl trace
	r.Stats.EngineNanos.Add(uint64(time.Since(t0)))
	r.Stats.EngineRuns.Add(1)
	res := &r.st.Result
	// The answers the packet drew, REJECT's and the forwarding path's
	// ICMP errors (Config.ForwardErrors), leave first, as the kernel
	// sends them before the packet goes on or is dropped.
	// They are limited as the kernel's icmp_send and icmp6_send limit
	// them (icmplimit.go).
	for i := range res.Out {
		o := &res.Out[i]
		if !o.Answer {
			continue
		}
		if !r.icmp.allow(o.Data, r.in.Now) {
			r.Stats.ICMPLimited.Add(1)
			continue
		}
		if err := r.raw.send(o.Data, r.lh.index(o.Iface)); err != nil {
			r.Stats.Errors.Add(1)
		}
	}
	switch res.Verdict {
	case engine.AcceptLocal, engine.Forward, engine.Sent:
		if r.onePass != nil && !r.in.Local && !isIPv6(r.orig) && r.martian(netip.AddrFrom4([4]byte(r.orig[12:16])), r.in.In) {
			// What the kernel's routing did before accept_local.
			r.Stats.Dropped.Add(1)
			r.verdict(p.ID, nfqueue.Drop, nil, false, 0)
			return
		}
		r.Stats.Accepted.Add(1)
		r.accept(p, r.st.PacketData(), res.Verdict == engine.Forward, partial)
	case engine.Reject:
		r.Stats.Rejected.Add(1)
		r.verdict(p.ID, nfqueue.Drop, nil, false, 0)
	default:
		// Drop, and the ruleset's own NFQUEUE targets (ipsift is the
		// queue reader; there is no second one to hand over to).
		r.Stats.Dropped.Add(1)
		r.verdict(p.ID, nfqueue.Drop, nil, false, 0)
	}
}

// accept hands an accepted packet back: unchanged ones in the next
// batch verdict, rewritten ones at once with their payload.
// isLocal reports an address of the host (its answers go over loopback,
// never limited); the caller holds hostMu.
func (r *Runner) isLocal(a netip.Addr) bool { return r.lh.h.IsLocal(a) }

func (r *worker) accept(p *nfqueue.Packet, out []byte, forwarded, partial bool) {
	mark := r.st.Mark()
	if n := minHeader(out); n == 0 || len(out) < n || out[0]>>4 != r.orig[0]>>4 {
		r.verdict(p.ID, nfqueue.Drop, nil, false, 0)
		return
	}
	if forwarded {
		if (!bytes.Equal(srcAddr(out), srcAddr(r.orig)) || srcPort(out) != srcPort(r.orig)) && !r.onePassOK(p, out, r.st.Result.OutIface) {
			r.twoPass(p, out, mark, partial)
			return
		}
		// The kernel's forwarding lowers the TTL or hop limit itself:
		// hand back the one the engine saw, so the packet loses one,
		// not two.
		restoreHop(out)
	}
	if mark == p.Mark && bytes.Equal(out, r.orig) {
		r.batch.id, r.batch.n = p.ID, r.batch.n+1
		return
	}
	r.Stats.Rewritten.Add(1)
	r.verdict(p.ID, nfqueue.Accept, out, mark != p.Mark, mark)
}

// twoPass sends a forwarded packet that needs a source rewrite through
// the kernel's routing with only its destination rewritten, and keeps
// the finished packet for the second pass at POSTROUTING.
func (r *worker) twoPass(p *nfqueue.Packet, out []byte, mark uint32, partial bool) {
	n := r.next
	r.next++
	slot, gen := n&0xfff, (n>>12)&genMask
	s := &r.slots[slot]
	s.gen, s.used, s.mark = gen, true, mark
	s.data = append(s.data[:0], out...)
	// What the kernel routes: the original with the new destination.
	r.first = append(r.first[:0], r.orig...)
	var payload []byte
	if !bytes.Equal(dstAddr(r.first), dstAddr(out)) || dstPort(r.first) != dstPort(out) {
		if r.pkt.Decode(r.first) == nil {
			r.pkt.SetDst(addrFrom(dstAddr(out)))
			if dp := dstPort(out); dp < 1<<16 {
				r.pkt.SetDstPort(uint16(dp))
			}
		}
		payload = r.first
	}
	r.Stats.SecondPass.Add(1)
	r.verdict(p.ID, nfqueue.Accept, payload, true, markPending|r.idx<<workerShift|gen<<12|slot)
}

// secondPass answers a packet back from POSTROUTING with the finished
// packet kept for it. A slot that no longer holds it (reused after the
// kernel lost the packet) drops it: a NAT packet never leaves
// unrewritten.
func (r *worker) secondPass(p *nfqueue.Packet) {
	slot, gen := p.Mark&0xfff, (p.Mark>>12)&genMask
	s := &r.slots[slot]
	if (p.Mark>>workerShift)&0xf != r.idx || !s.used || s.gen != gen || len(s.data) != len(p.Payload) {
		r.Stats.Dropped.Add(1)
		r.verdict(p.ID, nfqueue.Drop, nil, false, 0)
		return
	}
	s.used = false
	r.Stats.Rewritten.Add(1)
	r.verdict(p.ID, nfqueue.Accept, s.data, true, s.mark)
}

func portsOf(b []byte) ([]byte, bool) {
	if isIPv6(b) {
		return ports6(b)
	}
	ihl := int(b[0]&0xf) * 4
	if (b[9] != packet.ProtoTCP && b[9] != packet.ProtoUDP) || binary.BigEndian.Uint16(b[6:8])&0x1fff != 0 || len(b) < ihl+4 {
		return nil, false
	}
	return b[ihl : ihl+4], true
}

// srcPort and dstPort return a TCP or UDP port, or 1<<16 for a packet
// without ports (another protocol, a later fragment).
func srcPort(b []byte) uint32 {
	p, ok := portsOf(b)
	if !ok {
		return 1 << 16
	}
	return uint32(binary.BigEndian.Uint16(p))
}

func dstPort(b []byte) uint32 {
	p, ok := portsOf(b)
	if !ok {
		return 1 << 16
	}
	return uint32(binary.BigEndian.Uint16(p[2:]))
}

func setTTL(b []byte, ttl uint8) {
	b[8] = ttl
	b[10], b[11] = 0, 0
	binary.BigEndian.PutUint16(b[10:12], packet.Checksum(b[:int(b[0]&0xf)*4]))
}
