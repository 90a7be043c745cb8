package engine

import (
	"sort"
	"sync"

	"github.com/ipsift/ipsift/packet"
)

// defragmenter is nf_defrag_ipv4 / ip_defrag, as far as a firewall sees
// it: fragments of one datagram (same source, destination, protocol and
// IP ID) are held until all have come, then the whole datagram goes on.
// Fragments wait at most 30 s (net.ipv4.ipfrag_time), by the engine
// clock. Fragmented traffic is rare on the hot path, so this allocates.
type defragmenter struct {
	mu sync.Mutex
	q  map[fragKey]*fragQueue
}

type fragKey struct {
	src, dst [4]byte
	proto    uint8
	id       uint16
}

type fragQueue struct {
	first  int64 // clock when the first fragment came
	pieces []fragPiece
	total  int // payload length, once the last fragment came; else -1
	header []byte
	// maxLen is the largest fragment received (IP total length): the
	// kernel's IPCB(skb)->frag_max_size, the size it fragments the
	// datagram to again on output.
	maxLen int
}

type fragPiece struct {
	off  int
	data []byte
}

const fragTimeout = 30 * 1_000_000_000

func newDefragmenter() *defragmenter { return &defragmenter{q: map[fragKey]*fragQueue{}} }

// add takes a fragment and returns the whole datagram when it completes
// one, or nil while pieces are missing, with the size of the largest
// fragment received.
func (d *defragmenter) add(p *packet.Packet, now int64) ([]byte, int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for k, q := range d.q {
		if now-q.first > fragTimeout {
			delete(d.q, k)
		}
	}
	k := fragKey{src: p.Src.As4(), dst: p.Dst.As4(), proto: p.Proto, id: p.ID}
	q := d.q[k]
	if q == nil {
		q = &fragQueue{first: now, total: -1}
		d.q[k] = q
	}
	payload := p.Data[p.HdrLen:p.TotalLen]
	off := int(p.FragOff) * 8
	q.maxLen = max(q.maxLen, p.TotalLen)
	q.pieces = append(q.pieces, fragPiece{off: off, data: append([]byte(nil), payload...)})
	if off == 0 {
		q.header = append([]byte(nil), p.Data[:p.HdrLen]...)
	}
	if !p.MF {
		q.total = off + len(payload)
	}
	if q.total < 0 || q.header == nil || q.total+len(q.header) > 65535 {
		return nil, 0
	}
	sort.Slice(q.pieces, func(i, j int) bool { return q.pieces[i].off < q.pieces[j].off })
	covered := 0
	for _, pc := range q.pieces {
		if pc.off > covered {
			return nil, 0 // a hole
		}
		covered = max(covered, pc.off+len(pc.data))
	}
	if covered < q.total {
		return nil, 0
	}
	whole := make([]byte, len(q.header)+q.total)
	copy(whole, q.header)
	for _, pc := range q.pieces {
		copy(whole[len(q.header)+pc.off:], pc.data)
	}
	delete(d.q, k)
	// The reassembled datagram: total length, no fragment bits, and a
	// header checksum to match.
	n := len(whole)
	whole[2], whole[3] = byte(n>>8), byte(n)
	whole[6] &= 0x40 // keep DF
	whole[7] = 0
	whole[10], whole[11] = 0, 0
	var sum uint32
	for i := 0; i+1 < len(q.header); i += 2 {
		sum += uint32(whole[i])<<8 | uint32(whole[i+1])
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	cs := ^uint16(sum)
	whole[10], whole[11] = byte(cs>>8), byte(cs)
	return whole, q.maxLen
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
		n := len(f)
		f[2], f[3] = byte(n>>8), byte(n)
		fo := (baseOff + off) / 8
		flags := data[6] & 0x40 // keep DF
		if end < len(payload) || lastMF {
			flags |= 0x20
		}
		f[6], f[7] = flags|byte(fo>>8)&0x1f, byte(fo)
		f[10], f[11] = 0, 0
		var sum uint32
		for i := 0; i+1 < hl; i += 2 {
			sum += uint32(f[i])<<8 | uint32(f[i+1])
		}
		for sum > 0xffff {
			sum = sum&0xffff + sum>>16
		}
		cs := ^uint16(sum)
		f[10], f[11] = byte(cs>>8), byte(cs)
		each(f)
	}
}
