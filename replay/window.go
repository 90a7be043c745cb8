package replay

import (
	"container/heap"

	"github.com/ipsift/ipsift/capture"
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
}

// heldQueue is a min-heap of records by time: captures from several
// interfaces (or a capture's own writer) are not strictly in order, so
// up to its size records wait and the earliest goes first.
type heldQueue struct {
	items []*held
	free  []*held
	size  int
	seq   uint64
	last  *held // the record handed out last, back to free on the next pop
}

func (q *heldQueue) init(size int) { q.size = size }

func (q *heldQueue) Len() int { return len(q.items) }
func (q *heldQueue) Less(i, j int) bool {
	a, b := q.items[i], q.items[j]
	return a.time < b.time || a.time == b.time && a.seq < b.seq
}
func (q *heldQueue) Swap(i, j int) { q.items[i], q.items[j] = q.items[j], q.items[i] }
func (q *heldQueue) Push(x any)    { q.items = append(q.items, x.(*held)) }
func (q *heldQueue) Pop() any {
	h := q.items[len(q.items)-1]
	q.items = q.items[:len(q.items)-1]
	return h
}

func (q *heldQueue) len() int   { return len(q.items) }
func (q *heldQueue) full() bool { return len(q.items) >= q.size }

func (q *heldQueue) push(rec *capture.Record) {
	var h *held
	if n := len(q.free); n > 0 {
		h, q.free = q.free[n-1], q.free[:n-1]
	} else {
		h = &held{}
	}
	q.seq++
	*h = held{time: rec.Time, seq: q.seq, iface: rec.Iface, link: rec.Link, dir: rec.Dir, reception: rec.Reception,
		bigEndian: rec.BigEndian, origLen: rec.OrigLen, data: append(h.data[:0], rec.Data...)}
	heap.Push(q, h)
}

// pop returns the earliest record; it stays valid until the next pop.
func (q *heldQueue) pop() *held {
	if q.last != nil {
		q.free = append(q.free, q.last)
	}
	q.last = heap.Pop(q).(*held)
	return q.last
}
