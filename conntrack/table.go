package conntrack

import (
	"sync"
	"sync/atomic"

	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/packet"
)

// Drop is the state Track returns, with a nil entry, for a packet the
// kernel's conntrack drops (NF_DROP) rather than passing it on as
// INVALID: when the table is full and no connection can be dropped
// early, or when a TCP connection that is being reopened cannot be
// removed. The engine must drop such a packet without running any rule.
const Drop ext.CTState = 1 << 15

const numShards = 64

// shard is a part of the table: the tuples (of either direction) whose
// hash falls here, and the early-drop candidates whose original tuple
// does.
type shard struct {
	mu         sync.RWMutex
	m          tupleMap
	head, tail *Entry // confirmed, not ASSURED, oldest first
	inserts    int    // since the last sample of expired entries
	cursor     int    // the slot of m where the last sample stopped
	_          [24]byte
}

// Table is the connection tracking table: the kernel's conntrack hash,
// its bound (nf_conntrack_max) and its garbage collection, with the
// protocol trackers and NAT. It is safe for concurrent use.
//
// Time is the engine clock in nanoseconds, passed to every call and
// counted in jiffies of Config.HZ as the kernel counts timeouts; the
// table never reads the wall clock. A connection whose timeout has
// passed is gone: lookups treat it as absent and remove it. Expired
// connections are also removed as the table is used (a few are sampled
// at every insertion), when the table is full, and by Expire.
//
// Bound and early drop: like the kernel, the table counts every
// connection it has created, confirmed or not, and when a new one would
// exceed Max it first drops a connection that is not ASSURED. The
// kernel looks for one in the 8 hash buckets after the new tuple's,
// which depends on its boot-time random hash key; ipsift instead first
// removes every expired connection (at most once per jiffy), then drops
// the oldest confirmed, non-ASSURED connection of the first shard, from
// the new tuple's shard on, that has one. Only when there is none at all
// is the packet dropped (Track returns Drop). So, as in the kernel,
// ASSURED connections survive a flood of new ones and the table never
// holds more than Max connections; which non-assured connection goes is
// ipsift's own deterministic choice.
type Table struct {
	cfg Config
	hz  int
	max int64

	tcpTimeouts      [tcpTimeoutMax]int64 // jiffies
	udpTimeout       int64
	udpStreamTimeout int64
	icmpTimeout      int64
	icmpv6Timeout    int64
	greTimeout       int64
	greStreamTimeout int64
	genericTimeout   int64

	shards [numShards]shard

	count atomic.Int64 // connections alive: unconfirmed and confirmed (nf_conntrack_count)
	lastJ atomic.Int64 // the latest clock seen, in jiffies

	reapMu    sync.Mutex
	lastReapJ int64
	reaped    bool

	natMu sync.Mutex
	bysrc map[srcKey]*Entry // source-NAT bindings by original source, newest first
	rng   atomic.Uint64     // the seeded stream NAT draws "random" ports from
}

// New returns an empty table configured by cfg (zero Max, HZ and
// timeouts take the kernel's defaults; see Config).
func New(cfg Config) *Table {
	cfg = cfg.fill()
	t := &Table{cfg: cfg, hz: cfg.HZ, max: int64(cfg.Max), bysrc: map[srcKey]*Entry{}}
	t.rng.Store(cfg.Seed)
	to := cfg.Timeouts
	hz := cfg.HZ
	t.tcpTimeouts[sSS] = jiffiesOf(to.TCPSynSent, hz)
	t.tcpTimeouts[sSR] = jiffiesOf(to.TCPSynRecv, hz)
	t.tcpTimeouts[sES] = jiffiesOf(to.TCPEstablished, hz)
	t.tcpTimeouts[sFW] = jiffiesOf(to.TCPFinWait, hz)
	t.tcpTimeouts[sCW] = jiffiesOf(to.TCPCloseWait, hz)
	t.tcpTimeouts[sLA] = jiffiesOf(to.TCPLastAck, hz)
	t.tcpTimeouts[sTW] = jiffiesOf(to.TCPTimeWait, hz)
	t.tcpTimeouts[sCL] = jiffiesOf(to.TCPClose, hz)
	t.tcpTimeouts[sS2] = jiffiesOf(to.TCPSynSent2, hz)
	t.tcpTimeouts[tcpRetrans] = jiffiesOf(to.TCPMaxRetrans, hz)
	t.tcpTimeouts[tcpUnack] = jiffiesOf(to.TCPUnack, hz)
	t.udpTimeout = jiffiesOf(to.UDP, hz)
	t.udpStreamTimeout = jiffiesOf(to.UDPStream, hz)
	t.icmpTimeout = jiffiesOf(to.ICMP, hz)
	t.icmpv6Timeout = jiffiesOf(to.ICMPv6, hz)
	t.greTimeout = jiffiesOf(to.GRE, hz)
	t.greStreamTimeout = jiffiesOf(to.GREStream, hz)
	t.genericTimeout = jiffiesOf(to.Generic, hz)
	for i := range t.shards {
		t.shards[i].m = newTupleMap()
	}
	return t
}

// Config returns the table's configuration, defaults filled in.
func (t *Table) Config() Config { return t.cfg }

// jiffies converts the engine clock to jiffies: floor(now*hz/1e9).
func jiffies(now int64, hz int) int64 {
	q, r := now/1e9, now%1e9
	if r < 0 {
		q--
		r += 1e9
	}
	return q*int64(hz) + r*int64(hz)/1e9
}

// clock converts now to jiffies and remembers the latest value, which
// String, Len and Each count time left from.
func (t *Table) clock(now int64) int64 {
	j := jiffies(now, t.hz)
	for {
		l := t.lastJ.Load()
		if j <= l || t.lastJ.CompareAndSwap(l, j) {
			return j
		}
	}
}

func (t *Table) shardOf(k Tuple) *shard { return &t.shards[k.hash()%numShards] }

func shardIdx(k Tuple) int { return int(k.hash() % numShards) }

// lookup finds the confirmed connection one of whose tuples is k, and
// the direction of that tuple (1 when k is the reply tuple; when both
// tuples are k, as for a packet from a socket to itself, the reply
// direction wins as it does in the kernel's hash chains). An expired
// connection is removed and not returned.
func (t *Table) lookup(k Tuple, nowJ int64) (*Entry, int) {
	h := k.hash()
	sh := &t.shards[h%numShards]
	sh.mu.RLock()
	e, dir := sh.m.get(&k, h)
	sh.mu.RUnlock()
	if e == nil {
		return nil, 0
	}
	if e.expired(nowJ) {
		t.kill(e)
		return nil, 0
	}
	return e, dir
}

// Track is the kernel's nf_conntrack_in at PREROUTING, for a packet that
// came in on an interface: it finds or creates the connection of p and
// returns it with the packet's state and direction. Call it after the
// raw table (not for packets the raw table made untracked) with the
// engine clock now.
//
//   - A packet conntrack calls INVALID returns (nil, ext.CTInvalid,
//     false); one the kernel would drop returns (nil, Drop, false).
//   - A packet of a known connection returns it with ext.CTEstablished
//     (or ext.CTNew while the connection has not seen a reply, for
//     packets in the original direction), reply true for the reply
//     direction. An ICMP error about a known connection returns that
//     connection with ext.CTRelated.
//   - The first packet of a new connection returns a new, unconfirmed
//     entry with ext.CTNew. It becomes part of the table only with
//     Confirm, once the packet has passed every hook; if the packet is
//     dropped, call Discard.
//
// Give Ctx.Conn e.Conn(reply), so that the matches see the direction.
// Track checks TCP, UDP and ICMP checksums (nf_conntrack_checksum);
// use TrackLocal for packets the host sends.
func (t *Table) Track(p *packet.Packet, now int64) (e *Entry, state ext.CTState, reply bool) {
	return t.track(p, now, true)
}

// TrackLocal is Track at OUTPUT, for a packet the host itself sends: the
// same, except that checksums are taken as correct, as the kernel does
// on the output path.
func (t *Table) TrackLocal(p *packet.Packet, now int64) (e *Entry, state ext.CTState, reply bool) {
	return t.track(p, now, false)
}

func (t *Table) track(p *packet.Packet, now int64, pre bool) (*Entry, ext.CTState, bool) {
	nowJ := t.clock(now)
	var k Tuple
	var ok bool
	switch p.Version {
	case 4:
		if len(p.Data) < 20 || p.FragOff != 0 {
			// A later fragment (the kernel reassembles before
			// conntrack; a fragment that gets here has no header to
			// track).
			return nil, ext.CTInvalid, false
		}
		if p.Proto == protoICMP {
			switch kind, e, dir := t.icmpError(p, pre, nowJ); kind {
			case icmpInvalid:
				return nil, ext.CTInvalid, false
			case icmpRelated:
				return e, ext.CTRelated, dir == 1
			}
		}
		ok = tupleOf(p, &k)
	case 6:
		// ipv6_get_l4proto: ipv6_skip_exthdr from the IPv6 header; no
		// protocol (No Next Header, a header cut short) or a later
		// fragment is no connection at all.
		w := p.ConntrackProto()
		if w.Err != packet.ExtOK || w.FragOff != 0 {
			return nil, ext.CTInvalid, false
		}
		var l4 []byte
		if w.Off <= len(p.Data) {
			l4 = p.Data[w.Off:]
		}
		if w.Proto == protoICMPv6 {
			switch kind, e, dir := t.icmpv6Error(p, l4, pre, nowJ); kind {
			case icmpInvalid:
				return nil, ext.CTInvalid, false
			case icmpRelated:
				return e, ext.CTRelated, dir == 1
			case icmpUntracked:
				return nil, ext.CTUntracked, false
			}
		}
		k = Tuple{Src: p.Src.As16(), Dst: p.Dst.As16(), Proto: w.Proto, V6: true}
		ok = l4Tuple(&k, l4)
	}
	if !ok {
		return nil, ext.CTInvalid, false
	}
	for attempt := 0; ; attempt++ {
		e, dir := t.lookup(k, nowJ)
		if e == nil {
			var st ext.CTState
			if e, st = t.newEntry(k, nowJ); e == nil {
				return nil, st, false
			}
		}
		var state ext.CTState
		st := e.status.Load()
		switch {
		case dir == 1 || st&IPSSeenReply != 0:
			state = ext.CTEstablished
		case st&IPSExpected != 0:
			state = ext.CTRelated
		default:
			state = ext.CTNew
		}
		switch t.handlePacket(e, p, dir, pre, nowJ) {
		case vAccept:
			if dir == 1 && st&IPSSeenReply == 0 {
				e.setStatus(IPSSeenReply)
			}
			return e, state, dir == 1
		case vRepeat:
			if attempt < 2 {
				continue
			}
			fallthrough
		case vDrop:
			t.Discard(e)
			return nil, Drop, false
		default:
			t.Discard(e) // a new entry goes; a confirmed one stays
			return nil, ext.CTInvalid, false
		}
	}
}

// newEntry is the kernel's init_conntrack: a new, unconfirmed
// connection for the original tuple k, or nil with ext.CTInvalid when k
// has no reply (an ICMP type that is not a query) or with Drop when the
// table is full.
func (t *Table) newEntry(k Tuple, nowJ int64) (*Entry, ext.CTState) {
	r, ok := k.Invert()
	if !ok {
		return nil, ext.CTInvalid
	}
	if t.count.Add(1) > t.max && !t.makeRoom(k, nowJ) {
		t.count.Add(-1)
		return nil, Drop
	}
	e := &Entry{}
	e.t = t
	e.tuple = [2]Tuple{k, r}
	return e, ext.CTNew
}

// Confirm is the kernel's __nf_conntrack_confirm: it inserts the new
// connection e (returned by Track with ext.CTNew) into the table once
// its first packet has passed the last hook (POSTROUTING for forwarded
// and local packets, INPUT for packets to the host). The timeout starts
// from now. It reports whether the packet may pass: false means the
// kernel drops it (e was discarded in the meantime, or another
// connection with the same tuples won a race to the table and the
// protocol allows no clash). Calling it for a confirmed connection does
// nothing and reports true.
//
// When a UDP, UDP-Lite, GRE or other clash-tolerant connection loses
// that race, the packet passes as the kernel lets it: if the winner has
// the same tuples, e is forgotten and later packets find the winner;
// otherwise e is kept for its reply tuple only, with a fixed 1 s timeout
// (IPS_NAT_CLASH).
func (t *Table) Confirm(e *Entry, now int64) bool {
	st := e.status.Load()
	if st&IPSConfirmed != 0 {
		return true
	}
	if st&IPSDying != 0 {
		return false
	}
	nowJ := t.clock(now)
	k0, k1 := e.tuple[0], e.tuple[1]
	// Expired connections in the way are gone.
	t.lookup(k0, nowJ)
	t.lookup(k1, nowJ)

	s0, s1, h0, h1 := t.lock2(k0, k1)
	c0, _ := s0.m.get(&k0, h0)
	c1, _ := s1.m.get(&k1, h1)
	if c0 != nil || c1 != nil {
		ok, keep := t.resolveClashLocked(e, c0, c1, s1, h1, nowJ)
		unlock2(s0, s1)
		if !keep {
			t.Discard(e)
		}
		return ok
	}
	e.timeout.Add(nowJ)
	s0.m.set(&k0, h0, e, 0)
	s1.m.set(&k1, h1, e, 1)
	e.setStatus(IPSConfirmed)
	if e.status.Load()&IPSAssured == 0 {
		s0.link(e)
	}
	s0.inserts++
	sample := s0.inserts >= 8
	if sample {
		s0.inserts = 0
	}
	unlock2(s0, s1)
	if sample {
		t.sampleExpired(s0, nowJ)
	}
	return true
}

// resolveClashLocked is the kernel's nf_ct_resolve_clash, for e whose
// original tuple is taken by c0 or reply tuple by c1. Both shards are
// locked. It reports whether the packet passes and whether e stays.
func (t *Table) resolveClashLocked(e, c0, c1 *Entry, s1 *shard, h1 uint64, nowJ int64) (pass, keep bool) {
	if !allowClash(e.tuple[0].Proto) {
		return false, false
	}
	h := c0
	if h == nil {
		h = c1
	}
	if canMerge(h, e) {
		return true, false // the packet goes on with the winner; e is forgotten
	}
	if c1 != nil {
		// The reply direction must never clash.
		return canMerge(c1, e), false
	}
	// Keep e for its reply tuple only, briefly.
	e.timeout.Store(nowJ + int64(t.hz))
	e.setStatus(IPSFixedTimeout | IPSNATClash | IPSConfirmed)
	s1.m.set(&e.tuple[1], h1, e, 1)
	return true, true
}

func allowClash(proto uint8) bool { return proto != protoTCP && proto != protoICMP }

func canMerge(a, b *Entry) bool {
	return a.tuple == b.tuple || (a.tuple[0] == b.tuple[1] && a.tuple[1] == b.tuple[0])
}

// lock2 write-locks the shards of k0 and k1, in index order, and
// returns them with the tuples' hashes.
func (t *Table) lock2(k0, k1 Tuple) (s0, s1 *shard, h0, h1 uint64) {
	h0, h1 = k0.hash(), k1.hash()
	i0, i1 := h0%numShards, h1%numShards
	s0, s1 = &t.shards[i0], &t.shards[i1]
	switch {
	case i0 == i1:
		s0.mu.Lock()
	case i0 < i1:
		s0.mu.Lock()
		s1.mu.Lock()
	default:
		s1.mu.Lock()
		s0.mu.Lock()
	}
	return s0, s1, h0, h1
}

func unlock2(a, b *shard) {
	a.mu.Unlock()
	if a != b {
		b.mu.Unlock()
	}
}

// Discard forgets a connection whose first packet was dropped before
// Confirm (the kernel frees the unconfirmed conntrack with the packet).
// It does nothing to a confirmed connection.
func (t *Table) Discard(e *Entry) {
	if e == nil || e.status.Load()&IPSConfirmed != 0 {
		return
	}
	if e.testAndSet(IPSDying) {
		return
	}
	t.natForget(e)
	t.count.Add(-1)
}

// kill is the kernel's nf_ct_delete (nf_ct_kill): remove e from the
// table now. It reports false if e was already on its way out.
func (t *Table) kill(e *Entry) bool {
	if e.testAndSet(IPSDying) {
		return false
	}
	if e.status.Load()&IPSConfirmed != 0 {
		k0, k1 := e.tuple[0], e.tuple[1]
		s0, s1, h0, h1 := t.lock2(k0, k1)
		if c, _ := s0.m.get(&k0, h0); c == e {
			s0.m.del(&k0, h0)
		}
		if c, _ := s1.m.get(&k1, h1); c == e {
			s1.m.del(&k1, h1)
		}
		s0.unlink(e)
		unlock2(s0, s1)
	}
	t.natForget(e)
	t.count.Add(-1)
	return true
}

// setAssured sets IPS_ASSURED and takes e off the early-drop list.
func (t *Table) setAssured(e *Entry) {
	if e.status.Load()&IPSAssured != 0 {
		return
	}
	s := t.shardOf(e.tuple[0])
	s.mu.Lock()
	e.setStatus(IPSAssured)
	s.unlink(e)
	s.mu.Unlock()
}

func (s *shard) link(e *Entry) {
	e.prev, e.next = s.tail, nil
	if s.tail != nil {
		s.tail.next = e
	} else {
		s.head = e
	}
	s.tail = e
}

func (s *shard) unlink(e *Entry) {
	if e.prev == nil && s.head != e {
		return // not on the list
	}
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		s.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		s.tail = e.prev
	}
	e.prev, e.next = nil, nil
}

// sampleExpired removes expired connections among the next 16 slots
// of the shard's map from where the last sample stopped, the amortised
// counterpart of the kernel's gc worker.
func (t *Table) sampleExpired(s *shard, nowJ int64) {
	var victims [8]*Entry
	n := 0
	s.mu.Lock()
	m := &s.m
	mask := len(m.slots) - 1
	for range 16 {
		s.cursor = (s.cursor + 1) & mask
		if e := m.slots[s.cursor].e; e != nil && e.expired(nowJ) && n < len(victims) {
			victims[n] = e
			n++
		}
	}
	s.mu.Unlock()
	for _, e := range victims[:n] {
		t.kill(e)
	}
}

// makeRoom is called when a new connection would exceed Max: it removes
// every expired connection (once per jiffy) and, if that is not enough,
// drops one confirmed connection that is not ASSURED (see Table). It
// reports whether there is room now.
func (t *Table) makeRoom(k Tuple, nowJ int64) bool {
	t.reapMu.Lock()
	if !t.reaped || t.lastReapJ != nowJ {
		t.reaped, t.lastReapJ = true, nowJ
		t.reapMu.Unlock()
		t.expireJ(nowJ)
		if t.count.Load() <= t.max {
			return true
		}
	} else {
		t.reapMu.Unlock()
	}
	start := int(k.hash() % numShards)
	for i := 0; i < numShards; i++ {
		s := &t.shards[(start+i)%numShards]
		for {
			s.mu.RLock()
			v := s.head
			for v != nil && v.status.Load()&IPSDying != 0 {
				v = v.next
			}
			s.mu.RUnlock()
			if v == nil {
				break
			}
			if t.kill(v) {
				return true
			}
		}
	}
	return false
}

// Expire removes every connection whose timeout has passed at now and
// returns how many it removed.
func (t *Table) Expire(now int64) int {
	return t.expireJ(t.clock(now))
}

func (t *Table) expireJ(nowJ int64) int {
	var victims []*Entry
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.RLock()
		for k, e := range s.m.all {
			if e.tuple[0] == k || e.status.Load()&IPSNATClash != 0 {
				if e.expired(nowJ) {
					victims = append(victims, e)
				}
			}
		}
		s.mu.RUnlock()
	}
	n := 0
	for _, e := range victims {
		if t.kill(e) {
			n++
		}
	}
	return n
}

// Count returns the number of connections the table holds against its
// bound, as nf_conntrack_count: confirmed and unconfirmed, including
// expired ones not yet removed.
func (t *Table) Count() int { return int(t.count.Load()) }

// Len returns the number of confirmed connections that have not expired
// at the latest clock the table has seen: what conntrack -L would list.
func (t *Table) Len() int {
	n := 0
	t.Each(func(*Entry) { n++ })
	return n
}

// Each calls f for every confirmed connection that has not expired at
// the latest clock the table has seen, in no particular order, as
// conntrack -L lists them. f must not call back into the table's
// methods that modify it.
func (t *Table) Each(f func(*Entry)) {
	nowJ := t.lastJ.Load()
	var list []*Entry
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.RLock()
		for k, e := range s.m.all {
			// Each connection once: by its original tuple (a clash
			// entry has only its reply tuple in the table and, as in
			// the kernel, is not listed).
			if e.tuple[0] == k && e.status.Load()&IPSNATClash == 0 && !e.expired(nowJ) {
				list = append(list, e)
			}
		}
		s.mu.RUnlock()
	}
	for _, e := range list {
		f(e)
	}
}

// Lookup returns the confirmed connection one of whose tuples is k and
// whether k is its reply tuple, or nil.
func (t *Table) Lookup(k Tuple, now int64) (e *Entry, reply bool) {
	e, dir := t.lookup(k, t.clock(now))
	return e, dir == 1
}

// ConnAlive implements ext.ConnTable for connlimit (the kernel's
// nf_conncount): a connection with tuple t (either direction) exists,
// in zone 0, and, for TCP, is not in TIME_WAIT or CLOSE.
func (t *Table) ConnAlive(c ext.ConnTuple, zone uint16) bool {
	k, ok := TupleOf(c)
	if !ok || zone != 0 {
		return false
	}
	e, _ := t.lookup(k, t.lastJ.Load())
	if e == nil {
		return false
	}
	if k.Proto == protoTCP {
		s := e.TCPState()
		return s != TCPTimeWait && s != TCPClose
	}
	return true
}

// FindConn implements ext.ConnFinder for connlimit: nf_conncount looks a
// counted tuple up with nf_conntrack_find_get and tells "gone" (evict)
// from "still there" (already counted, even when closing) from "closing"
// (TIME_WAIT or CLOSE: evict unless it is the packet's own), which
// ConnAlive cannot; it also needs the status of the connection a packet
// without an entry belongs to. Zone 0 only, as the table.
func (t *Table) FindConn(c ext.ConnTuple, zone uint16, now int64) (ext.Conn, bool) {
	k, ok := TupleOf(c)
	if !ok || zone != 0 {
		return nil, false
	}
	e, dir := t.lookup(k, t.clock(now))
	if e == nil {
		return nil, false
	}
	closed := false
	if k.Proto == protoTCP {
		s := e.TCPState()
		closed = s == TCPTimeWait || s == TCPClose
	}
	return e.Conn(dir == 1), closed
}

var _ ext.ConnFinder = (*Table)(nil)
