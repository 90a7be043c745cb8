package replay

import (
	"io"

	"github.com/ipsift/ipsift/capture"
	"github.com/ipsift/ipsift/packet"
)

// Reading ahead: a goroutine reads the capture and puts its records in
// time order through a reordering window of its own, and hands them to
// Run in batches over a channel; Run runs them and hands the batch back
// with the records, whose buffers the reader then reuses. A few batches
// go round, so that once the records' buffers have grown to the
// capture's packets reading allocates nothing. Reading, the window and
// its copy of each packet are then off the engine's goroutine.
const (
	readAheadBatches = 4
	batchRecords     = 256
)

type readBatch struct {
	held  []*held // records out of the window, earliest first
	nread int     // records read from the capture meanwhile
	// marks are the Progress calls due meanwhile: records read so far
	// and the capture's bytes read then.
	marks []readMark
	// ifaces are the capture's interfaces as read so far (only ever
	// appended to as the capture goes on).
	ifaces []capture.Interface
	err    error // after the records: io.EOF at the end, or why reading stopped
}

type readMark struct {
	records int
	off     int64
}

// decoded reports whether the read-ahead goroutine decoded ip, the
// IP packet of h that Run is about to decode: then h.pkt is that
// decoding (packet.Decode is a function of the bytes alone) and l4ok
// and ipok its checksum checks.
func (h *held) decoded(ip []byte) bool {
	return h.sums && len(ip) == h.ipLen && len(ip) > 0 && &ip[0] == &h.data[h.ipOff]
}

// sumsFor returns p's transport and IP checksum checks
// (packet.L4ChecksumOK, IPChecksumOK), p being ip decoded: as the
// read-ahead goroutine found them when ip is the packet it summed,
// else summed now.
func (h *held) sumsFor(ip []byte, p *packet.Packet) (l4ok, ipok bool) {
	if h.decoded(ip) {
		return h.l4ok, h.ipok
	}
	l4ok = p.L4ChecksumOK()
	return l4ok, !l4ok || p.IPChecksumOK()
}

// presum decodes h's link layer and IP packet and sums its checksums
// ahead of Run (decoded, sumsFor), when the packet is whole: not cut by
// the snaplen, so that Run decodes these very bytes (see complete).
func presum(h *held) {
	if h.fr.Decode(h.link, h.data, h.bigEndian) != nil {
		return
	}
	h.frOK = true
	ip, p := h.fr.IP, &h.pkt
	if len(ip) == 0 || p.Decode(ip) != nil || p.TotalLen > len(ip) {
		return
	}
	h.l4ok = p.L4ChecksumOK()
	h.ipok = !h.l4ok || p.IPChecksumOK()
	h.ipOff, h.ipLen, h.sums = len(h.data)-len(ip), len(ip), true
}

// readAhead fills the batches free hands it and sends them to full
// until the capture ends or reading fails; then the window's last
// records and the error go in the last batch.
func readAhead(rd *capture.Reader, q *heldQueue, progress bool, free <-chan *readBatch, full chan<- *readBatch) {
	var rec capture.Record
	var ifaces []capture.Interface
	total := 0
	for b := range free {
		for _, h := range b.held {
			q.release(h) // Run is done with them
		}
		b.held, b.nread, b.marks, b.err = b.held[:0], 0, b.marks[:0], nil
		for len(b.held) < batchRecords {
			if b.err = rd.Next(&rec); b.err != nil {
				for q.len() > 0 {
					h := q.take()
					presum(h)
					b.held = append(b.held, h)
				}
				break
			}
			b.nread++
			if total++; progress && total&0xffff == 0 {
				b.marks = append(b.marks, readMark{total, rd.Offset()})
			}
			if q.full() {
				h := q.take()
				presum(h)
				b.held = append(b.held, h)
			}
			q.push(&rec)
		}
		if n := len(rd.Interfaces()); n != len(ifaces) {
			// The reader's own slice is appended to as it reads: the
			// other goroutine gets a copy.
			ifaces = append([]capture.Interface(nil), rd.Interfaces()...)
		}
		b.ifaces = ifaces
		full <- b
		if b.err != nil {
			close(full)
			return
		}
	}
}

// runReadAhead is Run's loop with reading in a goroutine; it returns
// the error that ended reading (io.EOF at the end) once every record
// read has run.
func (r *Replayer) runReadAhead(rd *capture.Reader) error {
	free := make(chan *readBatch, readAheadBatches)
	full := make(chan *readBatch, readAheadBatches)
	for range readAheadBatches {
		free <- &readBatch{}
	}
	q := &heldQueue{rd: rd}
	q.init(r.o.Window)
	rd.Keep() // the records wait in the window and the batches uncopied
	go readAhead(rd, q, r.o.Progress != nil, free, full)
	defer close(free)
	for b := range full {
		r.internIfaces(b.ifaces)
		for _, m := range b.marks {
			r.o.Progress(m.records, m.off)
		}
		r.rep.Records += uint64(b.nread)
		for _, h := range b.held {
			r.runHeld(h)
		}
		if b.err != nil {
			return b.err
		}
		free <- b
	}
	return io.ErrUnexpectedEOF // not reached: the last batch has err set
}
