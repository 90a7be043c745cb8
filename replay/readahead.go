package replay

import (
	"io"

	"github.com/ipsift/ipsift/capture"
)

// Reading ahead: a goroutine reads the capture into batches of records
// whose bytes it copies into the batch's own buffer, and hands each
// full batch to Run over a channel; Run hands it back empty once its
// records are in the reordering window. A few batches go round, so
// that, once their buffers have grown to the capture's packets, reading
// allocates nothing.
const (
	readAheadBatches = 4
	batchRecords     = 256
	batchBytes       = 256 << 10
)

type readBatch struct {
	recs []capture.Record
	ends []int   // the end of each record's bytes in buf
	offs []int64 // the capture's bytes read after each record
	buf  []byte
	// ifaces are the capture's interfaces once the batch's last record
	// was read (only appended to as the capture goes on).
	ifaces []capture.Interface
	err    error // after the records: io.EOF at the end, or why reading stopped
}

// readAhead fills the batches free hands it and sends them to full
// until the capture ends or reading fails (the last batch has err set).
func readAhead(rd *capture.Reader, free <-chan *readBatch, full chan<- *readBatch) {
	var rec capture.Record
	var ifaces []capture.Interface
	for b := range free {
		b.recs, b.ends, b.offs, b.buf, b.err = b.recs[:0], b.ends[:0], b.offs[:0], b.buf[:0], nil
		for len(b.recs) < batchRecords && len(b.buf) < batchBytes {
			if b.err = rd.Next(&rec); b.err != nil {
				break
			}
			b.buf = append(b.buf, rec.Data...)
			rec.Data, rec.Comment = nil, nil
			b.recs = append(b.recs, rec)
			b.ends = append(b.ends, len(b.buf))
			b.offs = append(b.offs, rd.Offset())
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
// the error that ended reading (io.EOF at the end).
func (r *Replayer) runReadAhead(rd *capture.Reader) error {
	free := make(chan *readBatch, readAheadBatches)
	full := make(chan *readBatch, readAheadBatches)
	for range readAheadBatches {
		free <- &readBatch{}
	}
	go readAhead(rd, free, full)
	defer close(free)
	for b := range full {
		start := 0
		for i := range b.recs {
			rec := &b.recs[i]
			rec.Data = b.buf[start:b.ends[i]]
			start = b.ends[i]
			r.take(rec, b.ifaces, b.offs[i])
		}
		if b.err != nil {
			return b.err
		}
		free <- b
	}
	return io.ErrUnexpectedEOF // not reached: the last batch has err set
}
