package capture

import (
	"bufio"
	"encoding/binary"
	"io"
)

// PcapWriter writes a little-endian pcap file with nanosecond
// timestamps.
type PcapWriter struct {
	w   *bufio.Writer
	hdr [16]byte
}

// NewPcapWriter writes the file header for link type lt.
func NewPcapWriter(w io.Writer, lt LinkType, snaplen int) (*PcapWriter, error) {
	pw := &PcapWriter{w: bufio.NewWriterSize(w, 1<<16)}
	var h [24]byte
	binary.LittleEndian.PutUint32(h[0:], 0xa1b23c4d)
	binary.LittleEndian.PutUint16(h[4:], 2)
	binary.LittleEndian.PutUint16(h[6:], 4)
	binary.LittleEndian.PutUint32(h[16:], uint32(snaplen))
	binary.LittleEndian.PutUint32(h[20:], uint32(lt))
	_, err := pw.w.Write(h[:])
	return pw, err
}

// WritePacket writes one record; origLen below len(data) counts as
// len(data).
func (pw *PcapWriter) WritePacket(t int64, data []byte, origLen int) error {
	binary.LittleEndian.PutUint32(pw.hdr[0:], uint32(t/1e9))
	binary.LittleEndian.PutUint32(pw.hdr[4:], uint32(t%1e9))
	binary.LittleEndian.PutUint32(pw.hdr[8:], uint32(len(data)))
	binary.LittleEndian.PutUint32(pw.hdr[12:], uint32(max(origLen, len(data))))
	pw.w.Write(pw.hdr[:])
	_, err := pw.w.Write(data)
	return err
}

// Flush writes what is buffered.
func (pw *PcapWriter) Flush() error { return pw.w.Flush() }

// NGWriter writes a little-endian pcapng file with nanosecond
// timestamps, several interfaces, packet flags and comments.
type NGWriter struct {
	w   *bufio.Writer
	n   int
	buf []byte
}

// NewNGWriter writes a Section Header Block.
func NewNGWriter(w io.Writer) (*NGWriter, error) {
	nw := &NGWriter{w: bufio.NewWriterSize(w, 1<<16)}
	b := nw.begin(blockSHB)
	b = binary.LittleEndian.AppendUint32(b, 0x1A2B3C4D)
	b = binary.LittleEndian.AppendUint16(b, 1)
	b = binary.LittleEndian.AppendUint16(b, 0)
	b = binary.LittleEndian.AppendUint64(b, ^uint64(0)) // section length not given
	return nw, nw.end(b)
}

func (nw *NGWriter) begin(typ uint32) []byte {
	b := binary.LittleEndian.AppendUint32(nw.buf[:0], typ)
	return append(b, 0, 0, 0, 0) // length, set by end
}

func (nw *NGWriter) end(b []byte) error {
	n := uint32(len(b) + 4)
	binary.LittleEndian.PutUint32(b[4:], n)
	b = binary.LittleEndian.AppendUint32(b, n)
	nw.buf = b
	_, err := nw.w.Write(b)
	return err
}

func appendOption(b []byte, code uint16, v []byte) []byte {
	b = binary.LittleEndian.AppendUint16(b, code)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(v)))
	b = append(b, v...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// AddInterface writes an Interface Description Block and returns the
// interface's number for WritePacket.
func (nw *NGWriter) AddInterface(name string, lt LinkType, snaplen int) (int, error) {
	b := nw.begin(blockIDB)
	b = binary.LittleEndian.AppendUint16(b, uint16(lt))
	b = binary.LittleEndian.AppendUint16(b, 0)
	b = binary.LittleEndian.AppendUint32(b, uint32(snaplen))
	if name != "" {
		b = appendOption(b, 2, []byte(name))
	}
	b = appendOption(b, 9, []byte{9}) // if_tsresol: nanoseconds
	b = appendOption(b, 0, nil)
	nw.n++
	return nw.n - 1, nw.end(b)
}

// WritePacket writes an Enhanced Packet Block: dir sets the direction
// bits of epb_flags (DirUnknown leaves the option out), comment an
// opt_comment when not empty.
func (nw *NGWriter) WritePacket(iface int, t int64, data []byte, origLen int, dir Direction, comment string) error {
	b := nw.begin(blockEPB)
	b = binary.LittleEndian.AppendUint32(b, uint32(iface))
	b = binary.LittleEndian.AppendUint32(b, uint32(uint64(t)>>32))
	b = binary.LittleEndian.AppendUint32(b, uint32(t))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(data)))
	b = binary.LittleEndian.AppendUint32(b, uint32(max(origLen, len(data))))
	b = append(b, data...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	opts := false
	if dir != DirUnknown {
		b = binary.LittleEndian.AppendUint16(b, 2)
		b = binary.LittleEndian.AppendUint16(b, 4)
		b = binary.LittleEndian.AppendUint32(b, uint32(dir))
		opts = true
	}
	if comment != "" {
		b = binary.LittleEndian.AppendUint16(b, 1)
		b = binary.LittleEndian.AppendUint16(b, uint16(len(comment)))
		b = append(b, comment...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
		opts = true
	}
	if opts {
		b = append(b, 0, 0, 0, 0)
	}
	return nw.end(b)
}

// Flush writes what is buffered.
func (nw *NGWriter) Flush() error { return nw.w.Flush() }
