package engine

import (
	"encoding/binary"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/ipsift/ipsift/host"
	"github.com/ipsift/ipsift/packet"
)

// defragmenter is the kernel's IPv4 reassembly (net/ipv4/ip_fragment.c
// ip_defrag, with inet_fragment.c's queue of "runs"), as nf_defrag_ipv4
// and ip_local_deliver use it. Fragments of one datagram wait in a queue
// keyed by source, destination, protocol, IP ID and the defrag user; the
// fragment that completes the datagram brings it whole. As the kernel
// does since RFC 5722 (amended by erratum 3089), a fragment that overlaps
// another discards the whole queue, while an exact duplicate of data
// already held is dropped alone. A queue lives 30 s (net.ipv4.ipfrag_time)
// by the engine clock, from its first fragment. Fragmented traffic is
// rare, so this allocates.
//
// Not modelled: the ICMP "fragment reassembly time exceeded" ip_expire
// sends when a queue that had its first fragment times out (a timer, not
// a packet), and the memory limits (ipfrag_high_thresh) that make the
// kernel refuse or evict queues.
type defragmenter struct {
	mu    sync.Mutex
	q     map[fragKey]*fragQueue
	peers map[[4]byte]*fragPeer

	// IPv6 (nf_defrag_ipv6; see add6).
	q6       map[fragKey6]*fragQueue
	timedOut []fragTimeout6
	// busy6 is false only while q6 and timedOut are both empty, so that
	// takeTimeouts6, called for every IPv6 packet, costs one load and no
	// lock when no IPv6 datagram is being reassembled.
	busy6 atomic.Bool
}

// fragUser is the kernel's enum ip_defrag_users: who asks for
// reassembly. Each user has its own queues, even for the same datagram.
type fragUser uint8

const (
	// fragConntrackIn is IP_DEFRAG_CONNTRACK_IN: nf_defrag_ipv4 at
	// PREROUTING, for packets that come in (conntrack zone 0).
	fragConntrackIn fragUser = iota
	// fragConntrackOut is IP_DEFRAG_CONNTRACK_OUT: nf_defrag_ipv4 at
	// LOCAL_OUT, for packets the host sends.
	fragConntrackOut
	// fragLocalDeliver is IP_DEFRAG_LOCAL_DELIVER: ip_local_deliver,
	// before the INPUT hook; for IPv6 (IP6_DEFRAG_LOCAL_DELIVER) the
	// stack's ipv6_frag_rcv, after it.
	fragLocalDeliver
)

// fragKey is struct frag_v4_compare_key (vif, the l3mdev master, is
// always 0 here: the host model has no VRF).
type fragKey struct {
	src, dst [4]byte
	proto    uint8
	id       uint16
	user     fragUser
}

// fragPeer is the part of the kernel's inet_peer (one per source
// address, shared by all users) that reassembly uses: rid counts the
// fragments that came from the source. A queue holds its peer, so the
// entry lives as long as some queue from that source does; the kernel
// keeps it longer, but a new queue's first fragment never compares rids.
type fragPeer struct {
	rid  uint32
	refs int
}

// fragMaxDist is net.ipv4.ipfrag_max_dist: when more than this many
// fragments came from the same source since a queue's previous one, the
// queue is stale and starts again (ip_frag_too_far, ip_frag_reinit).
const fragMaxDist = 64

// fragTimeout is net.ipv4.ipfrag_time (IP_FRAG_TIME), in ns.
const fragTimeout = 30 * 1_000_000_000

type fragQueue struct {
	expires int64 // engine clock when the queue times out
	peer    *fragPeer
	rid     uint32 // peer.rid when the queue's last fragment came

	// runs hold the data received, in order of offset, never
	// overlapping: a run is fragments that came one right after the
	// other at the end of the queue (inet_frag_queue_insert). Runs that
	// touch stay separate runs, as in the kernel's tree.
	runs []fragRun

	len     int  // q.len: the datagram's payload length, or the largest end seen so far
	meat    int  // q.meat: the bytes held
	firstIn bool // INET_FRAG_FIRST_IN: the fragment at offset 0 came
	lastIn  bool // INET_FRAG_LAST_IN: the fragment without MF came
	ecn     uint8
	header  []byte // the IP header of the fragment at offset 0 (IPv6: all before its Fragment header)

	// IPv6 only: where the Next Header pointing at the first
	// fragment's Fragment header is, that Fragment header's own Next
	// Header, the first fragment as it came (quoted by the Time
	// Exceeded its queue's timeout draws) and the interface of the
	// last fragment (fq->iif).
	nhoff    int
	fragNext uint8
	first    []byte
	iif      string

	// maxSize and maxDFSize are the largest fragments received (IP
	// header and the data kept), of all and of those with DF: the
	// kernel's q.max_size and max_df_size. The larger becomes
	// IPCB(skb)->frag_max_size, the size the datagram is fragmented to
	// again on output; DF stays on the datagram only when a DF fragment
	// was the largest.
	maxSize, maxDFSize int
}

type fragRun struct {
	off  int
	data []byte
	// sizes are the data lengths of the run's fragments, in order.
	sizes []int
}

func (r *fragRun) end() int { return r.off + len(r.data) }

// ECN codepoints as ip4_frag_ecn records them, one bit each
// (IPFRAG_ECN_*), and ip_frag_ecn_table: what the reassembled header's
// TOS gets ORed with, or 0xff when the mix is invalid (RFC 3168 5.3: a
// Not-ECT fragment with ECT or CE ones) and the datagram is dropped.
const (
	fragECNNotECT = 1 << 0
	fragECNECT1   = 1 << 1
	fragECNECT0   = 1 << 2
	fragECNCE     = 1 << 3
)

var fragECNTable = func() (t [16]uint8) {
	t[fragECNCE|fragECNECT0] = 3 // INET_ECN_CE
	t[fragECNCE|fragECNECT1] = 3
	t[fragECNCE|fragECNECT0|fragECNECT1] = 3
	for v := range t {
		if v&fragECNNotECT != 0 && v&^fragECNNotECT != 0 {
			t[v] = 0xff
		}
	}
	return t
}()

func newDefragmenter() *defragmenter {
	return &defragmenter{q: map[fragKey]*fragQueue{}, peers: map[[4]byte]*fragPeer{}, q6: map[fragKey6]*fragQueue{}}
}

// add is addFor(fragConntrackIn, p, now).
func (d *defragmenter) add(p *packet.Packet, now int64) ([]byte, int, []int) {
	return d.addFor(fragConntrackIn, p, now)
}

// addFor is ip_defrag(skb, user): it takes fragment p and returns the
// whole datagram when p completes one, with the largest fragment's size
// (IPCB(skb)->frag_max_size) and the data length of every fragment kept,
// in order of offset (the frag_list ip_do_fragment sends out again);
// otherwise nil: the fragment waits, or was a
// duplicate and is dropped, or it or the datagram was found bad and the
// whole queue is discarded.
func (d *defragmenter) addFor(user fragUser, p *packet.Packet, now int64) ([]byte, int, []int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for k, q := range d.q {
		if now >= q.expires {
			d.kill(k, q) // ip_expire
		}
	}
	k := fragKey{src: p.Src.As4(), dst: p.Dst.As4(), proto: p.Proto, id: p.ID, user: user}
	q := d.q[k]
	if q == nil {
		q = &fragQueue{expires: now + fragTimeout, peer: d.peer(k.src)}
		d.q[k] = q
	}

	// ip_frag_too_far: too many fragments from this source since this
	// queue's last one; ip_frag_reinit empties the queue (keeping the
	// largest sizes seen) and gives it a new timeout.
	q.peer.rid++
	if len(q.runs) > 0 && q.peer.rid-q.rid > fragMaxDist {
		*q = fragQueue{expires: now + fragTimeout, peer: q.peer, maxSize: q.maxSize, maxDFSize: q.maxDFSize}
	}
	q.rid = q.peer.rid

	// ip_frag_queue: where the fragment's data lies.
	payload := p.Data[p.HdrLen:p.TotalLen]
	off := int(p.FragOff) * 8
	end := off + len(payload)
	if !p.MF {
		// The last fragment: nothing may lie beyond it, and a second
		// last fragment must agree.
		if end < q.len || q.lastIn && end != q.len {
			d.kill(k, q)
			return nil, 0, nil
		}
		q.lastIn = true
		q.len = end
	} else {
		// Others carry a multiple of 8 bytes; the rest is trimmed.
		end &^= 7
		if end > q.len {
			if q.lastIn {
				d.kill(k, q) // data beyond the end
				return nil, 0, nil
			}
			q.len = end
		}
	}
	if end == off {
		d.kill(k, q) // no data
		return nil, 0, nil
	}
	data := payload[:end-off]

	switch q.insert(off, data) {
	case fragDup:
		return nil, 0, nil // dropped; the queue stays
	case fragOverlap:
		d.kill(k, q)
		return nil, 0, nil
	}
	q.meat += len(data)
	q.ecn |= 1 << (p.TOS & 3)
	if off == 0 {
		q.firstIn = true
		q.header = append([]byte(nil), p.Data[:p.HdrLen]...)
	}
	size := p.HdrLen + len(data)
	q.maxSize = max(q.maxSize, size)
	if p.DF {
		q.maxDFSize = max(q.maxDFSize, size)
	}
	if !q.firstIn || !q.lastIn || q.meat != q.len {
		return nil, 0, nil
	}
	d.kill(k, q)
	return q.reassemble()
}

// peer returns the source's fragPeer, taking a reference for a queue.
func (d *defragmenter) peer(src [4]byte) *fragPeer {
	pr := d.peers[src]
	if pr == nil {
		pr = &fragPeer{}
		d.peers[src] = pr
	}
	pr.refs++
	return pr
}

// kill is inet_frag_kill and the queue's end: it leaves the table, and
// the fragments it held are gone. A later fragment with the same key
// starts a new queue.
func (d *defragmenter) kill(k fragKey, q *fragQueue) {
	delete(d.q, k)
	if q.peer.refs--; q.peer.refs == 0 {
		delete(d.peers, k.src)
	}
}

type fragInsert uint8

const (
	fragOK fragInsert = iota
	fragDup
	fragOverlap
)

// insert is inet_frag_queue_insert: data at [off, off+len(data)) goes
// onto the end of the last run when it starts where the last fragment
// ended, into a run of its own when it starts beyond, and overlaps when
// it starts before the end and ends after it. A fragment wholly before
// the end is looked up among the runs: wholly inside one, it is a
// duplicate; touching any otherwise (even exactly two adjacent runs'
// data), it overlaps; touching none, it becomes a run of its own.
func (q *fragQueue) insert(off int, data []byte) fragInsert {
	end := off + len(data)
	n := len(q.runs)
	if n > 0 {
		last := &q.runs[n-1]
		if lastEnd := last.end(); lastEnd < end {
			if off < lastEnd {
				return fragOverlap
			}
			if off == lastEnd {
				last.data = append(last.data, data...)
				last.sizes = append(last.sizes, len(data))
				return fragOK
			}
		} else {
			i := sort.Search(n, func(i int) bool { return q.runs[i].end() > off })
			if r := &q.runs[i]; r.off < end {
				if off >= r.off && end <= r.end() {
					return fragDup
				}
				return fragOverlap
			}
			q.runs = append(q.runs, fragRun{})
			copy(q.runs[i+1:], q.runs[i:])
			q.runs[i] = fragRun{off: off, data: append([]byte(nil), data...), sizes: []int{len(data)}}
			return fragOK
		}
	}
	q.runs = append(q.runs, fragRun{off: off, data: append([]byte(nil), data...), sizes: []int{len(data)}})
	return fragOK
}

// reassemble is ip_frag_reasm for a complete queue: the header of the
// fragment at offset 0, then the data. The ECN codepoints must go
// together, and the datagram must fit in 65535 bytes; otherwise it is
// dropped (nil). The header gets its new total length, the combined ECN,
// DF alone or no fragment bits at all, and a new checksum.
func (q *fragQueue) reassemble() ([]byte, int, []int) {
	ecn := fragECNTable[q.ecn]
	if ecn == 0xff {
		return nil, 0, nil
	}
	hl := len(q.header)
	n := hl + q.len
	if n > 65535 {
		return nil, 0, nil
	}
	var sizes []int
	for _, r := range q.runs {
		sizes = append(sizes, r.sizes...)
	}
	whole := make([]byte, n)
	copy(whole, q.header)
	for _, r := range q.runs {
		copy(whole[hl+r.off:], r.data)
	}
	whole[1] |= ecn
	whole[2], whole[3] = byte(n>>8), byte(n)
	whole[6], whole[7] = 0, 0
	if q.maxDFSize == q.maxSize {
		whole[6] = 0x40 // DF
	}
	whole[10], whole[11] = 0, 0
	cs := packet.Checksum(whole[:hl])
	whole[10], whole[11] = byte(cs>>8), byte(cs)
	return whole, max(q.maxSize, q.maxDFSize), sizes
}

// refragment sends a reassembled datagram out in fragments, as
// ip_do_fragment does: along the geometry it came in (sizes, the data
// length of each fragment kept) when every piece fits in size bytes with
// its header and all but the last carry a multiple of 8 bytes (the fast
// path over the frag_list); cut evenly at size otherwise.
func refragment(data []byte, sizes []int, size int, each func([]byte)) {
	hl := int(data[0]&0x0f) * 4
	total := 0
	for i, n := range sizes {
		if hl+n > size || n%8 != 0 && i < len(sizes)-1 {
			total = -1
			break
		}
		total += n
	}
	if hl < 20 || total != len(data)-hl || len(sizes) < 2 {
		fragment(data, size, each)
		return
	}
	off := 0
	for _, n := range sizes {
		piece := make([]byte, hl+n)
		copy(piece, data[:hl])
		copy(piece[hl:], data[hl+off:hl+off+n])
		setFragment(piece, off, off+n < len(data)-hl || data[6]&0x20 != 0, data[6]&0x40)
		each(piece)
		off += n
	}
}

// setFragment gives piece (a copy of the datagram's header and its data
// from offset off) its length, fragment offset, MF and DF bits and
// header checksum.
func setFragment(f []byte, off int, mf bool, df byte) {
	hl := int(f[0]&0x0f) * 4
	n := len(f)
	f[2], f[3] = byte(n>>8), byte(n)
	fo := off / 8
	flags := df
	if mf {
		flags |= 0x20
	}
	f[6], f[7] = flags|byte(fo>>8)&0x1f, byte(fo)
	f[10], f[11] = 0, 0
	cs := packet.Checksum(f[:hl])
	f[10], f[11] = byte(cs>>8), byte(cs)
}

// fragment splits a datagram into fragments of at most size bytes (IP
// header included), as ip_do_fragment does when it sends out again a
// datagram conntrack reassembled: each piece's data a multiple of 8
// bytes but the last, the header copied, MF on all but the last.
func fragment(data []byte, size int, each func([]byte)) {
	hl := int(data[0]&0x0f) * 4
	chunk := (size - hl) &^ 7
	if hl < 20 || len(data) <= size || chunk <= 0 {
		each(data)
		return
	}
	baseOff := int(uint16(data[6]&0x1f)<<8|uint16(data[7])) * 8
	lastMF := data[6]&0x20 != 0
	payload := data[hl:]
	for off := 0; off < len(payload); off += chunk {
		end := min(off+chunk, len(payload))
		f := make([]byte, hl+end-off)
		copy(f, data[:hl])
		copy(f[hl:], payload[off:end])
		setFragment(f, baseOff+off, end < len(payload) || lastMF, data[6]&0x40)
		each(f)
	}
}

// IPv6 reassembly: nf_defrag_ipv6 (net/ipv6/netfilter/nf_conntrack_reasm.c),
// which runs at priority -400 (before the raw table) at PREROUTING and
// OUTPUT wherever IPv6 connection tracking is in use, that is when some
// IPv6 rule uses conntrack (the IPv4 rules' conntrack does not count:
// the families register their hooks apart). Without it IPv6 INPUT sees
// every fragment, the stack reassembling after INPUT.

// fragKey6 is struct frag_v6_compare_key: nf_defrag_ipv6 keys its queues
// by the input interface too (skb->dev), whatever the addresses' scope.
type fragKey6 struct {
	src, dst [16]byte
	id       uint32
	user     fragUser
	iif      string
}

// fragTime6 is nf_conntrack_frag6_timeout (IPV6_FRAG_TIMEOUT), in ns.
const fragTime6 = 60 * 1_000_000_000

// ipv6MaxPayload is IPV6_MAXPLEN.
const ipv6MaxPayload = 65535

// fragTimeout6 entries are the ICMPv6 Time Exceeded messages (type 3,
// code 1, "fragment reassembly time exceeded") the kernel sends when a
// queue whose first fragment arrived times out (ip6frag_expire_frag_queue):
// First is that fragment as it came (the error quotes it), In the
// interface the queue's last fragment came in on. The message goes
// through OUTPUT like any the host sends.
type fragTimeout6 struct {
	First []byte
	In    string
	At    int64 // when the queue timed out (engine clock)
}

// defrag6 is what nf_defrag_ipv6 did with a packet.
type defrag6 uint8

const (
	// defrag6Pass: not a fragment to reassemble; the packet goes on
	// unchanged (no Fragment header, a jumbogram, a first fragment cut
	// inside its upper-layer header, or a fragment not a multiple of 8
	// bytes long before the last one, whose queue is dropped). An
	// atomic fragment (offset 0, no MF) is not among them: on this
	// kernel it is "reassembled" like any other, losing its Fragment
	// header (TestKernelDefrag6).
	defrag6Pass defrag6 = iota
	// defrag6Held: the fragment waits in its queue (or was a duplicate
	// of data held, and is gone); nothing further happens to it.
	defrag6Held
	// defrag6Drop: the kernel drops the fragment (NF_DROP): beyond the
	// 65535 bytes of a datagram, a second last fragment that disagrees,
	// data beyond the end, no data, a Fragment header cut short, or an
	// overlap (which also discards the queue).
	defrag6Drop
	// defrag6Done: the fragment completed its datagram, returned whole.
	defrag6Done
)

// add6 is nf_ct_frag6_gather(skb, user) for the IPv6 packet p that came
// in on iif (or is sent, user fragConntrackOut): for defrag6Done it
// returns the datagram with the Fragment header removed (the Next Header
// before it takes the Fragment header's, the payload length the whole
// datagram's, the traffic class the fragments' ECN as for IPv4), the
// largest fragment's size (IP6CB(skb)->frag_max_size: the IPv6 header
// plus the largest payload length), and the data length of every
// fragment kept in order of offset, for refragment6.
//
// Queues time out 60 s after their first fragment; call takeTimeouts6
// to collect the Time Exceeded messages due (add6 also retires expired
// queues it meets, keeping their messages for takeTimeouts6).
func (d *defragmenter) add6(user fragUser, iif string, p *packet.Packet, now int64) (defrag6, []byte, int, []int) {
	v, whole, maxLen, sizes, _ := d.add6At(user, iif, p, now)
	return v, whole, maxLen, sizes
}

// reasm6 says where a reassembled IPv6 datagram's headers end: nhoff is
// the offset of the Next Header byte that named the Fragment header
// (it names what followed it now), thoff where the Fragment header was
// (where the data of the fragments starts).
type reasm6 struct{ nhoff, thoff int }

// add6At is add6 that also says, for defrag6Done, where the datagram's
// headers end.
func (d *defragmenter) add6At(user fragUser, iif string, p *packet.Packet, now int64) (defrag6, []byte, int, []int, reasm6) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.expire6(now)
	b := p.Data
	if p.Version != 6 || len(b) < 40 || b[4] == 0 && b[5] == 0 {
		return defrag6Pass, nil, 0, nil, reasm6{} // jumbo payload inhibits the frag. header
	}
	nhoff, fhoff, ok := findPrevFhdr(b)
	if !ok {
		return defrag6Pass, nil, 0, nil, reasm6{}
	}
	if fragThdrTruncated(b, fhoff, packet.ProtoFragment) {
		return defrag6Pass, nil, 0, nil, reasm6{} // RFC 8200 4.5: the kernel leaves it alone
	}
	if fhoff+8 > len(b) {
		return defrag6Drop, nil, 0, nil, reasm6{}
	}
	fh := b[fhoff : fhoff+8]
	fo := binary.BigEndian.Uint16(fh[2:])
	mf := fo&1 != 0
	k := fragKey6{src: [16]byte(b[8:24]), dst: [16]byte(b[24:40]), id: binary.BigEndian.Uint32(fh[4:]), user: user, iif: iif}
	if user == fragLocalDeliver && !p.Dst.IsMulticast() && !host.IsLinkLocal6(p.Dst) {
		// The stack's fq_find keys by the input interface only for
		// link-local and multicast destinations.
		k.iif = ""
	}
	q := d.q6[k]
	if q == nil {
		q = &fragQueue{expires: now + fragTime6}
		d.q6[k] = q
		d.busy6.Store(true)
	}

	// nf_ct_frag6_queue.
	payloadLen := int(binary.BigEndian.Uint16(b[4:]))
	off := int(fo &^ 7)
	end := off + payloadLen - (fhoff + 8 - 40)
	if end > ipv6MaxPayload {
		return defrag6Drop, nil, 0, nil, reasm6{}
	}
	if !mf {
		if end < q.len || q.lastIn && end != q.len {
			return defrag6Drop, nil, 0, nil, reasm6{}
		}
		q.lastIn = true
		q.len = end
	} else {
		if end&7 != 0 {
			// "RFC2460 says always send parameter problem": the
			// queue goes and the fragment passes on for the stack
			// to answer.
			delete(d.q6, k)
			return defrag6Pass, nil, 0, nil, reasm6{}
		}
		if end > q.len {
			if q.lastIn {
				return defrag6Drop, nil, 0, nil, reasm6{}
			}
			q.len = end
		}
	}
	if end == off || fhoff+8+end-off > len(b) {
		return defrag6Drop, nil, 0, nil, reasm6{}
	}
	data := b[fhoff+8 : fhoff+8+end-off]
	switch q.insert(off, data) {
	case fragDup:
		return defrag6Held, nil, 0, nil, reasm6{}
	case fragOverlap:
		delete(d.q6, k)
		return defrag6Drop, nil, 0, nil, reasm6{}
	}
	q.iif = iif
	q.meat += len(data)
	q.ecn |= 1 << (p.TOS & 3)
	q.maxSize = max(q.maxSize, payloadLen)
	if off == 0 {
		q.firstIn = true
		q.nhoff, q.fragNext = nhoff, fh[0]
		q.header = append([]byte(nil), b[:fhoff]...)
		q.first = append([]byte(nil), b...)
	}
	if !q.firstIn || !q.lastIn || q.meat != q.len {
		return defrag6Held, nil, 0, nil, reasm6{}
	}
	delete(d.q6, k)
	whole, sizes := q.reassemble6()
	if whole == nil {
		return defrag6Held, nil, 0, nil, reasm6{} // nf_ct_frag6_reasm failed: the fragments are gone
	}
	return defrag6Done, whole, 40 + q.maxSize, sizes, reasm6{nhoff: q.nhoff, thoff: len(q.header)}
}

// findPrevFhdr is find_prev_fhdr: the walk over the extension headers
// up to the first Fragment header; nhoff is the offset of the Next
// Header byte that names it, fhoff where it starts. ok is false when
// the chain reaches an upper-layer protocol or No Next Header first, or
// a header is cut short.
func findPrevFhdr(b []byte) (nhoff, fhoff int, ok bool) {
	next := b[6]
	nhoff, start := 6, 40
	left := len(b) - 40
	for next != packet.ProtoFragment {
		if !packet.IsExtHdr(next) || next == packet.ProtoNoNext || left < 2 {
			return 0, 0, false
		}
		hl := (int(b[start+1]) + 1) << 3
		if next == packet.ProtoAH {
			hl = (int(b[start+1]) + 2) << 2
		}
		nhoff = start
		next = b[start]
		left -= hl
		start += hl
	}
	if left < 0 {
		return 0, 0, false
	}
	return nhoff, start, true
}

// fragThdrTruncated is ipv6frag_thdr_truncated: a first fragment whose
// upper-layer header (TCP 20 bytes, UDP and ICMPv6 8, anything else 1)
// does not fit in it, walking from the header of type next at start
// (nf_ct_frag6_gather starts at the Fragment header, ipv6_frag_rcv at
// the end of the IPv6 header).
func fragThdrTruncated(b []byte, start int, next uint8) bool {
	w := packet.SkipExthdr(b, start, next)
	if w.Err != packet.ExtOK || w.FragOff != 0 {
		return false
	}
	need := 1
	switch w.Proto {
	case packet.ProtoTCP:
		need = 20
	case packet.ProtoUDP, packet.ProtoICMPv6:
		need = 8
	}
	return w.Off+need > len(b)
}

// reassemble6 is nf_ct_frag6_reasm: the first fragment's headers before
// its Fragment header (the one that named it now naming what the
// Fragment header did), then the data, with the payload length of the
// whole and the ECN of the fragments. nil when the ECN codepoints do not
// go together or the datagram is too long.
func (q *fragQueue) reassemble6() ([]byte, []int) {
	ecn := fragECNTable[q.ecn]
	if ecn == 0xff {
		return nil, nil
	}
	hl := len(q.header)
	payload := hl - 40 + q.len
	if payload > ipv6MaxPayload {
		return nil, nil
	}
	var sizes []int
	for _, r := range q.runs {
		sizes = append(sizes, r.sizes...)
	}
	whole := make([]byte, hl+q.len)
	copy(whole, q.header)
	for _, r := range q.runs {
		copy(whole[hl+r.off:], r.data)
	}
	whole[q.nhoff] = q.fragNext
	binary.BigEndian.PutUint16(whole[4:], uint16(payload))
	// ipv6_change_dsfield(hdr, 0xff, ecn): the traffic class ORed.
	whole[1] |= ecn << 4
	return whole, sizes
}

// expire6 retires the queues whose time is up at now, keeping the Time
// Exceeded messages due for those whose first fragment came. d.mu is
// held.
func (d *defragmenter) expire6(now int64) {
	for k, q := range d.q6 {
		if now >= q.expires {
			delete(d.q6, k)
			if q.firstIn {
				d.timedOut = append(d.timedOut, fragTimeout6{First: q.first, In: q.iif, At: q.expires})
			}
		}
	}
}

// takeTimeouts6 retires the queues expired at now and returns every
// Time Exceeded message due since the last call, oldest first.
func (d *defragmenter) takeTimeouts6(now int64) []fragTimeout6 {
	if !d.busy6.Load() {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.expire6(now)
	out := d.timedOut
	d.timedOut = nil
	if len(d.q6) == 0 {
		d.busy6.Store(false)
	}
	if len(out) > 1 {
		sort.SliceStable(out, func(i, j int) bool { return out[i].At < out[j].At })
	}
	return out
}

// unfragLen6 is ip6_find_1stfragopt: the length of the part of an IPv6
// datagram that every fragment repeats (the IPv6 header, Hop-by-Hop and
// Routing headers, and Destination Options before a Routing header),
// and the offset of the Next Header byte the Fragment header goes
// after; ok is false for a chain cut short.
func unfragLen6(b []byte) (hlen, nhoff int, ok bool) {
	off, nhoff := 40, 6
	foundRH := false
	for off <= len(b) {
		switch b[nhoff] {
		case packet.ProtoHopOpts:
		case packet.ProtoRouting:
			foundRH = true
		case packet.ProtoDstOpts:
			if foundRH {
				return off, nhoff, true
			}
		default:
			return off, nhoff, true
		}
		if off+2 > len(b) {
			return 0, 0, false
		}
		nhoff = off
		off += (int(b[off+1]) + 1) << 3
	}
	return 0, 0, false
}

// refragment6 sends a reassembled IPv6 datagram out in fragments, as
// ip6_fragment does for one nf_defrag_ipv6 reassembled
// (IP6CB(skb)->frag_max_size set: never larger than the largest
// fragment that came, nor below the IPv6 minimum MTU of 1280): along the
// geometry it came in (sizes) when every piece fits and all but the
// last carry a multiple of 8 bytes, else cut evenly. Each fragment
// repeats the unfragmentable part, then a Fragment header with
// identification id (the kernel picks a new one at random), then its
// data. size is the datagram's frag_max_size; when that exceeds the
// route's MTU the kernel sends a Packet Too Big instead, which is the
// caller's to do. A datagram no larger than size leaves whole.
func refragment6(data []byte, sizes []int, size int, id uint32, each func([]byte)) {
	hlen, nhoff, ok := unfragLen6(data)
	if !ok || len(data) <= size {
		each(data)
		return
	}
	size = max(size, 1280)
	mtu := size - hlen - 8
	payload := data[hlen:]
	fast := len(sizes) > 1
	if sum := intSum(sizes); fast && sum < len(payload) {
		// The first fragment's skb also holds the headers that came
		// before its Fragment header but that ip6_find_1stfragopt
		// leaves in the fragmentable part (an AH, say): the fast path
		// sends them with the first piece of data.
		sizes = append([]int{sizes[0] + len(payload) - sum}, sizes[1:]...)
	}
	total := 0
	for i, n := range sizes {
		if n > mtu || n%8 != 0 && i < len(sizes)-1 {
			fast = false
		}
		total += n
	}
	if total != len(payload) {
		fast = false
	}
	emit := func(off, n int) {
		f := make([]byte, hlen+8+n)
		copy(f, data[:hlen])
		f[nhoff] = packet.ProtoFragment
		fh := f[hlen : hlen+8]
		fh[0] = data[nhoff]
		fo := uint16(off)
		if off+n < len(payload) {
			fo |= 1
		}
		binary.BigEndian.PutUint16(fh[2:], fo)
		binary.BigEndian.PutUint32(fh[4:], id)
		copy(f[hlen+8:], payload[off:off+n])
		binary.BigEndian.PutUint16(f[4:], uint16(len(f)-40))
		each(f)
	}
	off := 0
	if fast {
		for _, n := range sizes {
			emit(off, n)
			off += n
		}
		return
	}
	for off < len(payload) {
		n := len(payload) - off
		if n > mtu {
			n = mtu &^ 7
		}
		emit(off, n)
		off += n
	}
}

func intSum(v []int) int {
	n := 0
	for _, x := range v {
		n += x
	}
	return n
}
