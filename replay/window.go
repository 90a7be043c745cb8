package replay

import (
	"github.com/ipsift/ipsift/capture"
	"github.com/ipsift/ipsift/packet"
)

// held is one record waiting in the reordering window, its bytes copied
// into a buffer the window reuses.
type held struct {
	time      int64
	seq       uint64 // arrival order, to keep equal times in file order
	iface     int
	link      capture.LinkType
	dir       capture.Direction
	reception uint8
	bigEndian bool
	origLen   int
	data      []byte
	// buf is the reader's buffer data lies in when the reader keeps
	// its buffers (capture.Reader.Keep): data was not copied, and buf
	// goes back to the reader (heldQueue.release) when the record is
	// done with. Else data is the record's own copy.
	buf *capture.Buffer
	// sums, set by the read-ahead goroutine, says that l4ok and ipok
	// are packet.L4ChecksumOK and IPChecksumOK of the IP packet
	// data[ipOff:ipOff+ipLen], and pkt that packet decoded (see
	// decoded).
	sums         bool
	l4ok, ipok   bool
	ipOff, ipLen int
	// frOK, set by the read-ahead goroutine, says that fr is data's
	// link layer decoded.
	frOK bool
	fr   capture.Frame
	pkt  packet.Packet
}

func (a *held) before(b *held) bool {
	return a.time < b.time || a.time == b.time && a.seq < b.seq
}

// heldQueue holds up to size records sorted by time, the earliest
// first: captures from several interfaces (or a capture's own writer)
// are not strictly in order, so records wait and the earliest goes
// first. It is a ring: a record in order (the common case) is put at
// the end and taken from the front without moving any other; one out
// of order moves back past the later ones.
type heldQueue struct {
	ring []*held // a power of two at least size long once init ran
	size int     // the records it holds when full
	head int     // index of the earliest record
	n    int     // records held
	seq  uint64
	last *held // the record handed out last, reused by the next push
	free []*held
	rd   *capture.Reader // whose buffers records hold (see held.buf)
}

// init makes room for size records: a ring of the next power of two,
// so that positions wrap with a mask, not a division.
func (q *heldQueue) init(size int) {
	n := 1
	for n < size {
		n <<= 1
	}
	q.ring, q.size = make([]*held, n), size
}

func (q *heldQueue) len() int   { return q.n }
func (q *heldQueue) full() bool { return q.n >= q.size }

func (q *heldQueue) at(i int) int { return (q.head + i) & (len(q.ring) - 1) }

func (q *heldQueue) push(rec *capture.Record) {
	var h *held
	if n := len(q.free); n > 0 {
		h, q.free = q.free[n-1], q.free[:n-1]
	} else {
		h = &held{}
	}
	q.seq++
	// Field by field: fr and pkt are only read when frOK and sums say
	// (zeroing them would cost more than the rest).
	h.time, h.seq, h.iface, h.link, h.dir, h.reception = rec.Time, q.seq, rec.Iface, rec.Link, rec.Dir, rec.Reception
	h.bigEndian, h.origLen = rec.BigEndian, rec.OrigLen
	if h.buf = rec.Buf; h.buf != nil {
		h.data = rec.Data // the reader keeps it until release
	} else {
		h.data = append(h.data[:0], rec.Data...)
	}
	h.sums, h.l4ok, h.ipok, h.ipOff, h.ipLen, h.frOK = false, false, false, 0, 0, false
	i := q.n
	q.n++
	for i > 0 && h.before(q.ring[q.at(i-1)]) {
		q.ring[q.at(i)] = q.ring[q.at(i-1)]
		i--
	}
	q.ring[q.at(i)] = h
}

// release puts h, done with, on the free list, and gives its data's
// buffer back to the reader.
func (q *heldQueue) release(h *held) {
	if h.buf != nil {
		q.rd.Release(h.buf)
		h.buf, h.data = nil, nil // never appended to: the reader's bytes
	}
	q.free = append(q.free, h)
}

// pop returns the earliest record; it stays valid until the next pop.
func (q *heldQueue) pop() *held {
	if q.last != nil {
		q.release(q.last)
		q.last = nil
	}
	h := q.take()
	q.last = h
	return h
}

// take returns the earliest record, which stays valid until it is given
// back to the queue's free list.
func (q *heldQueue) take() *held {
	h := q.ring[q.head]
	q.ring[q.head] = nil
	q.head = q.at(1)
	q.n--
	return h
}
