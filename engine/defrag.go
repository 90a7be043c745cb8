package engine

import (
	"sort"
	"sync"

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
	// before the INPUT hook.
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
	header  []byte // the IP header of the fragment at offset 0

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
	return &defragmenter{q: map[fragKey]*fragQueue{}, peers: map[[4]byte]*fragPeer{}}
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
