// Package capture reads packet captures: pcap (micro- and nanosecond
// timestamps, either byte order) and pcapng (several sections and
// interfaces, each with its own link type, timestamp resolution and
// offset, and the packet flags that say a packet's direction), and
// decodes the link layers a Linux capture has (Ethernet with VLAN tags,
// Linux cooked SLL and SLL2, raw IP, NFLOG) down to the IP packet.
//
// A Reader hands out one Record at a time; its Data aliases the
// Reader's buffer until the next call, so reading allocates nothing per
// packet:
//
//	r, err := capture.NewReader(f)
//	var rec capture.Record
//	var fr capture.Frame
//	for r.Next(&rec) == nil {
//		if fr.Decode(rec.Link, rec.Data, rec.BigEndian) == nil && fr.IP != nil { ... }
//	}
//
// The package knows nothing of rules or engines: ../replay drives the
// engine with what it reads.
package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// LinkType is a capture's link-layer header type (tcpdump.org's
// LINKTYPE_* values, the same numbers in pcap and pcapng).
type LinkType uint16

// The link types this package decodes.
const (
	LinkEthernet LinkType = 1   // LINKTYPE_ETHERNET
	LinkRaw      LinkType = 101 // LINKTYPE_RAW: an IPv4 or IPv6 header first
	LinkSLL      LinkType = 113 // LINKTYPE_LINUX_SLL (tcpdump -i any)
	LinkIPv4     LinkType = 228 // LINKTYPE_IPV4
	LinkIPv6     LinkType = 229 // LINKTYPE_IPV6
	LinkNFLOG    LinkType = 239 // LINKTYPE_NFLOG (tcpdump -i nflog:N)
	LinkSLL2     LinkType = 276 // LINKTYPE_LINUX_SLL2 (tcpdump -i any, libpcap >= 1.10)
)

var linkNames = map[LinkType]string{
	LinkEthernet: "Ethernet", LinkRaw: "raw IP", LinkSLL: "Linux SLL", LinkIPv4: "raw IPv4",
	LinkIPv6: "raw IPv6", LinkNFLOG: "NFLOG", LinkSLL2: "Linux SLL2",
}

// String names the link type, or gives its number.
func (l LinkType) String() string {
	if n, ok := linkNames[l]; ok {
		return n
	}
	return fmt.Sprintf("link type %d", uint16(l))
}

// Direction is what a capture says of a packet's way through the
// interface. Unknown means the capture does not say.
type Direction uint8

// Directions.
const (
	DirUnknown Direction = iota
	DirIn                // the packet arrived
	DirOut               // the packet left
)

var dirNames = [...]string{"unknown", "in", "out"}

func (d Direction) String() string { return dirNames[d] }

// Interface is one capture interface: pcap has one, pcapng one per
// Interface Description Block.
type Interface struct {
	Name    string // pcapng if_name; "" when the capture does not say
	Link    LinkType
	Snaplen int // the largest number of bytes kept of a packet (0: no limit)
	// One timestamp tick is tsMul/tsDiv nanoseconds (see nanos).
	tsMul, tsDiv uint64
	tsOffset     int64 // if_tsoffset in seconds
	section      int   // the pcapng section it belongs to
	bigEndian    bool
}

// Record is one captured packet. Data aliases the Reader's buffer and is
// valid until the next call to Next.
type Record struct {
	Time    int64 // nanoseconds since the Unix epoch
	Iface   int   // index into Reader.Interfaces()
	Link    LinkType
	Data    []byte // the captured bytes, starting at the link-layer header
	OrigLen int    // the packet's length on the wire (Data may be shorter: snaplen)
	// Dir is the direction pcapng's epb_flags give (DirUnknown in pcap,
	// and in pcapng without the flag). The link layer may tell it too:
	// see Frame.Dir.
	Dir Direction
	// Reception is pcapng's reception type (epb_flags bits 2-4): 0 not
	// given, 1 unicast, 2 multicast, 3 broadcast, 4 promiscuous.
	Reception uint8
	// BigEndian is the byte order of the file (or pcapng section) the
	// packet came from; NFLOG's TLV headers are written in it.
	BigEndian bool
	// Comment is pcapng's opt_comment (the first one), aliasing the
	// buffer as Data does.
	Comment []byte
	// Buf is, after Reader.Keep, the buffer Data and Comment lie in:
	// they stay valid until it is given back with Reader.Release.
	Buf *Buffer
}

// Buffer is one of a Reader's buffers, which records' data alias after
// Reader.Keep.
type Buffer struct {
	b       []byte
	refs    int  // records handed out in it and not released
	retired bool // the Reader reads into another one now
}

// Limits on what a Reader accepts, so that a damaged file cannot make
// it allocate without bound.
const (
	// MaxPacket is the largest captured packet (libpcap's
	// MAXIMUM_SNAPLEN).
	MaxPacket = 262144
	// maxBlock is the largest pcapng block: a packet and its options.
	maxBlock = MaxPacket + 65536
)

// ErrFormat is wrapped by every error about a file's contents (a bad
// magic number, a block that does not add up); io.ErrUnexpectedEOF is
// returned for a file cut short.
var ErrFormat = errors.New("capture: not a valid pcap or pcapng file")

func formatErr(off int64, format string, a ...any) error {
	return fmt.Errorf("%w: at byte %d: %s", ErrFormat, off, fmt.Sprintf(format, a...))
}

// Reader reads a pcap or pcapng stream.
type Reader struct {
	src io.Reader
	// buf[pos:end] are the bytes read from src and not yet consumed;
	// a block is handed out as a slice of buf, valid until the next
	// read (which may move the bytes after it to the front).
	buf      []byte
	pos, end int
	// With keep, buf is cur's, and a buffer that records still alias is
	// never read over: fill moves to another (from pool when one is
	// free).
	keep   bool
	cur    *Buffer
	pool   []*Buffer
	srcErr error // what src returned once it stopped giving bytes
	base   int64 // the stream's offset of buf[0] (see Offset)
	ng     bool
	ifaces []Interface
	// pcap
	order  binary.ByteOrder
	pcapIf Interface
	// pcapng: the current section's first interface index.
	section   int
	secBase   int
	secBig    bool // the section's byte order (see u16, u32, u64)
	secIfaces int
}

// NewReader reads the file header (pcap) or first Section Header Block
// (pcapng) from r.
func NewReader(r io.Reader) (*Reader, error) {
	rd := &Reader{src: r, buf: make([]byte, readBuf)}
	if err := rd.fill(4); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil, formatErr(0, "the file is shorter than a header")
		}
		return nil, err
	}
	magic := rd.buf[rd.pos : rd.pos+4]
	switch {
	case binary.LittleEndian.Uint32(magic) == 0x0A0D0D0A:
		rd.ng = true
		if err := rd.readSHB(); err != nil {
			return nil, err
		}
		return rd, nil
	default:
		return rd, rd.readPcapHeader()
	}
}

// Offset returns how many bytes of the stream have been read, for
// progress reports.
func (r *Reader) Offset() int64 { return r.base + int64(r.pos) }

// Interfaces returns the interfaces seen so far (pcapng declares them
// as it goes; after the whole file is read it holds them all).
func (r *Reader) Interfaces() []Interface { return r.ifaces }

// readBuf is the Reader's buffer: larger than any block it accepts
// (maxBlock), so that a block is always one slice of it.
const readBuf = 1 << 20

// read returns the next n bytes of the stream (n <= readBuf). They
// alias the Reader's buffer (no copy) and are valid until the next
// read. At the end of the stream it returns io.EOF when no byte was
// left, io.ErrUnexpectedEOF when fewer than n were.
func (r *Reader) read(n int) ([]byte, error) {
	if e := r.pos + n; e <= r.end {
		b := r.buf[r.pos:e:e]
		r.pos = e
		return b, nil
	}
	return r.readSlow(n)
}

// readSlow is read when the buffer holds fewer than n bytes.
func (r *Reader) readSlow(n int) ([]byte, error) {
	if err := r.fill(n); err != nil {
		return nil, err
	}
	b := r.buf[:n:n] // fill moved the unread bytes to the front
	r.pos = n
	return b, nil
}

// fill reads from the source until n bytes are buffered, moving the
// unread ones to the front of the buffer first.
func (r *Reader) fill(n int) error {
	if n > len(r.buf) {
		return formatErr(r.Offset(), "a block of %d bytes", n)
	}
	if r.keep && r.cur.refs > 0 {
		// Records still alias this buffer: the unread bytes go to
		// another.
		r.cur.retired = true
		if n := len(r.pool); n > 0 {
			r.cur, r.pool = r.pool[n-1], r.pool[:n-1]
		} else {
			r.cur = &Buffer{b: make([]byte, readBuf)}
		}
		r.end = copy(r.cur.b, r.buf[r.pos:r.end])
		r.buf = r.cur.b
		r.base += int64(r.pos)
		r.pos = 0
	}
	if r.pos > 0 {
		r.end = copy(r.buf, r.buf[r.pos:r.end])
		r.base += int64(r.pos)
		r.pos = 0
	}
	for empty := 0; r.end < n && r.srcErr == nil; {
		k, err := r.src.Read(r.buf[r.end:])
		r.end += k
		switch {
		case err != nil:
			r.srcErr = err
		case k > 0:
			empty = 0
		default:
			if empty++; empty == 100 {
				r.srcErr = io.ErrNoProgress // as bufio gives up on a reader that returns nothing
			}
		}
	}
	switch {
	case r.end >= n:
		return nil
	case r.srcErr != io.EOF:
		return r.srcErr
	case r.end == 0:
		return io.EOF
	}
	return io.ErrUnexpectedEOF
}

func (r *Reader) readPcapHeader() error {
	h, err := r.read(24)
	if err != nil {
		return formatErr(0, "the file is shorter than a pcap header")
	}
	le := binary.LittleEndian.Uint32(h)
	be := binary.BigEndian.Uint32(h)
	var nano bool
	switch {
	case le == 0xa1b2c3d4:
		r.order = binary.LittleEndian
	case le == 0xa1b23c4d:
		r.order, nano = binary.LittleEndian, true
	case be == 0xa1b2c3d4:
		r.order = binary.BigEndian
	case be == 0xa1b23c4d:
		r.order, nano = binary.BigEndian, true
	default:
		return formatErr(0, "unknown magic number %#08x (neither pcap nor pcapng)", be)
	}
	snap := r.order.Uint32(h[16:])
	link := r.order.Uint32(h[20:]) & 0x03FFFFFF // LT_LINKTYPE: the upper bits hold FCS information
	if link > math.MaxUint16 {
		return formatErr(20, "link type %d out of range", link)
	}
	ifc := Interface{Link: LinkType(link), Snaplen: int(min(snap, MaxPacket)), tsMul: 1000, tsDiv: 1, bigEndian: r.order == binary.BigEndian}
	if nano {
		ifc.tsMul = 1
	}
	r.pcapIf = ifc
	r.ifaces = []Interface{ifc}
	return nil
}

// Keep makes every record's data stay valid after the next call to
// Next, until its buffer (Record.Buf) is given back with Release: the
// Reader then reads on into another buffer rather than over bytes a
// record still holds. A caller that holds records a while (a
// reordering window) keeps them without copying them. Keep, Next and
// Release are called from one goroutine.
func (r *Reader) Keep() {
	if !r.keep {
		r.keep, r.cur = true, &Buffer{b: r.buf}
	}
}

// Release gives back a record's buffer (Record.Buf, after Keep): its
// data may be read over once every record in it is given back.
func (r *Reader) Release(b *Buffer) {
	if b.refs--; b.refs == 0 && b.retired {
		b.retired = false
		r.pool = append(r.pool, b)
	}
}

// Next reads the next packet into rec; io.EOF at the end of the file.
func (r *Reader) Next(rec *Record) error {
	err := r.next(rec)
	if r.keep && err == nil {
		rec.Buf = r.cur
		r.cur.refs++
	}
	return err
}

func (r *Reader) next(rec *Record) error {
	if r.ng {
		return r.nextNG(rec)
	}
	h, err := r.read(16)
	if err != nil {
		return err
	}
	sec := r.order.Uint32(h)
	frac := r.order.Uint32(h[4:])
	incl := r.order.Uint32(h[8:])
	orig := r.order.Uint32(h[12:])
	if incl > MaxPacket {
		return formatErr(r.Offset()-16, "a packet record of %d bytes (more than %d)", incl, MaxPacket)
	}
	data, err := r.read(int(incl))
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	*rec = Record{
		Time:      int64(sec)*1e9 + int64(frac)*int64(r.pcapIf.tsMul),
		Link:      r.pcapIf.Link,
		Data:      data,
		OrigLen:   int(max(orig, incl)),
		BigEndian: r.pcapIf.bigEndian,
	}
	return nil
}

// cutShort is the error for a block whose header was read and whose
// body could not be: the file ends inside it, or the source failed.
func cutShort(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// pcapng block types.
const (
	blockIDB = 1
	blockPB  = 2 // the obsolete Packet Block
	blockSPB = 3
	blockEPB = 6
	blockSHB = 0x0A0D0D0A
)

func (r *Reader) readSHB() error {
	h, err := r.read(8)
	if err != nil {
		return formatErr(0, "a section header cut short")
	}
	return r.readSHBAfter(h)
}

// nextNG reads blocks until a packet block.
func (r *Reader) nextNG(rec *Record) error {
	for {
		start := r.Offset()
		h, err := r.read(8)
		if err != nil {
			return err
		}
		typ := r.u32(h)
		if typ == blockSHB {
			// A new section: it may change the byte order, so its
			// header is read again from the start of the block.
			if err := r.readSHBAfter(h); err != nil {
				return err
			}
			continue
		}
		n := r.u32(h[4:])
		if n < 12 || n%4 != 0 || n > maxBlock {
			return formatErr(start+4, "a block of length %d", n)
		}
		body, err := r.read(int(n) - 8)
		if err != nil {
			return cutShort(err)
		}
		if r.u32(body[len(body)-4:]) != n {
			return formatErr(start, "a block (type %d) whose two lengths differ", typ)
		}
		body = body[:len(body)-4]
		switch typ {
		case blockIDB:
			if err := r.readIDB(start, body); err != nil {
				return err
			}
		case blockEPB, blockPB:
			return r.packetBlock(start, typ, body, rec)
		case blockSPB:
			return r.simpleBlock(start, body, rec)
		}
		// Other blocks (name resolution, statistics, custom) say
		// nothing replay needs.
	}
}

// readSHBAfter reads a section header whose first 8 bytes (type and
// length, in an order not yet known) are h.
func (r *Reader) readSHBAfter(h []byte) error {
	start := r.Offset() - 8
	var lenBytes [4]byte
	copy(lenBytes[:], h[4:8])
	m, err := r.read(4)
	if err != nil {
		return formatErr(start, "a section header cut short")
	}
	switch binary.LittleEndian.Uint32(m) {
	case 0x1A2B3C4D:
		r.secBig = false
	case 0x4D3C2B1A:
		r.secBig = true
	default:
		return formatErr(start+8, "a section header with an unknown byte-order magic")
	}
	n := r.u32(lenBytes[:])
	if n < 28 || n%4 != 0 || n > maxBlock {
		return formatErr(start+4, "a section header of length %d", n)
	}
	body, err := r.read(int(n) - 12)
	if err != nil {
		return cutShort(err)
	}
	if r.u32(body[len(body)-4:]) != n {
		return formatErr(start, "a section header whose two lengths differ")
	}
	if major := r.u16(body); major != 1 {
		return formatErr(start+12, "pcapng version %d (only 1 is defined)", major)
	}
	r.section++
	r.secBase = len(r.ifaces)
	r.secIfaces = 0
	return nil
}

// options calls f for each option in b (code, value) until opt_endofopt.
func (r *Reader) options(start int64, b []byte, f func(code uint16, v []byte)) error {
	for {
		code, v, rest, err := r.option(start, b)
		if code == 0 || err != nil {
			return err
		}
		f(code, v)
		b = rest
	}
}

// option splits the first option off b: its code and value, and the
// options after it. Code 0 is the end (opt_endofopt, or no room for
// another).
func (r *Reader) option(start int64, b []byte) (code uint16, v, rest []byte, err error) {
	if len(b) < 4 {
		return 0, nil, nil, nil
	}
	code = r.u16(b)
	n := int(r.u16(b[2:]))
	if code == 0 {
		return 0, nil, nil, nil
	}
	padded := (n + 3) &^ 3
	if 4+padded > len(b) {
		return 0, nil, nil, optionErr(start, code)
	}
	return code, b[4 : 4+n], b[4+padded:], nil
}

// optionErr is option's error, in a function of its own (not inlined)
// to keep option small.
//
//go:noinline
func optionErr(start int64, code uint16) error {
	return formatErr(start, "an option (code %d) longer than its block", code)
}

func (r *Reader) readIDB(start int64, body []byte) error {
	if len(body) < 8 {
		return formatErr(start, "an interface description block cut short")
	}
	link := r.u16(body)
	snap := r.u32(body[4:])
	ifc := Interface{Link: LinkType(link), Snaplen: int(min(snap, MaxPacket)), tsMul: 1000, tsDiv: 1, section: r.section, bigEndian: r.secBig}
	var bad error
	err := r.options(start, body[8:], func(code uint16, v []byte) {
		switch code {
		case 2: // if_name
			ifc.Name = string(v) // once per interface, not per packet
		case 9: // if_tsresol
			if len(v) < 1 {
				return
			}
			if bad = ifc.setResolution(v[0]); bad != nil {
				bad = formatErr(start, "%v", bad)
			}
		case 14: // if_tsoffset
			if len(v) >= 8 {
				ifc.tsOffset = int64(r.u64(v))
			}
		}
	})
	if err != nil {
		return err
	}
	if bad != nil {
		return bad
	}
	r.ifaces = append(r.ifaces, ifc)
	r.secIfaces++
	return nil
}

// setResolution sets the tick from if_tsresol: 10^-n seconds, or 2^-n
// with the top bit set.
func (ifc *Interface) setResolution(v byte) error {
	if v&0x80 == 0 {
		e := int(v)
		switch {
		case e <= 9:
			ifc.tsMul, ifc.tsDiv = pow10(9-e), 1
		case e <= 18:
			ifc.tsMul, ifc.tsDiv = 1, pow10(e-9)
		default:
			return fmt.Errorf("timestamp resolution 10^-%d (finer than 10^-18 is not supported)", e)
		}
		return nil
	}
	e := int(v & 0x7f)
	if e > 62 {
		return fmt.Errorf("timestamp resolution 2^-%d (finer than 2^-62 is not supported)", e)
	}
	// 2^-e seconds: 1e9 / 2^e ns per tick, as a fraction.
	ifc.tsMul, ifc.tsDiv = 1e9, 1<<e
	return nil
}

func pow10(n int) uint64 {
	p := uint64(1)
	for range n {
		p *= 10
	}
	return p
}

// nanos turns a timestamp in ticks into nanoseconds since the epoch.
func (ifc *Interface) nanos(ticks uint64) int64 {
	var ns uint64
	switch {
	case ifc.tsDiv == 1:
		ns = ticks * ifc.tsMul
	case ifc.tsMul == 1:
		ns = ticks / ifc.tsDiv
	default:
		// 2^-e resolution: whole seconds, then the fraction, so that
		// the product does not overflow.
		sec := ticks / ifc.tsDiv
		frac := ticks % ifc.tsDiv
		ns = sec*1e9 + frac*ifc.tsMul/ifc.tsDiv
	}
	return int64(ns) + ifc.tsOffset*1e9
}

func (r *Reader) iface(start int64, id uint32) (int, error) {
	if int64(id) >= int64(r.secIfaces) {
		return 0, formatErr(start, "a packet of interface %d, which its section has not described", id)
	}
	return r.secBase + int(id), nil
}

func (r *Reader) packetBlock(start int64, typ uint32, body []byte, rec *Record) error {
	if len(body) < 20 {
		return formatErr(start, "a packet block cut short")
	}
	var id uint32
	if typ == blockEPB {
		id = r.u32(body)
	} else {
		id = uint32(r.u16(body))
	}
	ix, err := r.iface(start, id)
	if err != nil {
		return err
	}
	ifc := &r.ifaces[ix]
	ticks := uint64(r.u32(body[4:]))<<32 | uint64(r.u32(body[8:]))
	capLen := r.u32(body[12:])
	orig := r.u32(body[16:])
	if capLen > MaxPacket || 20+int(capLen) > len(body) {
		return formatErr(start, "a packet of %d captured bytes in a block of %d", capLen, len(body)+12)
	}
	// Field by field rather than *rec = Record{...}, which builds the
	// record aside and copies it (this runs for every packet).
	rec.Time, rec.Iface, rec.Link, rec.Data = ifc.nanos(ticks), ix, ifc.Link, body[20:20+capLen]
	rec.OrigLen, rec.BigEndian, rec.Dir, rec.Reception = int(max(orig, capLen)), ifc.bigEndian, DirUnknown, 0
	rec.Comment, rec.Buf = nil, nil
	opts := body[20+(capLen+3)&^3:]
	if int(20+(capLen+3)&^3) > len(body) {
		opts = nil
	}
	// The options, as options walks them, without its callback (this
	// runs for every packet).
	for {
		code, v, rest, err := r.option(start, opts)
		if code == 0 || err != nil {
			return err
		}
		if code == 1 && rec.Comment == nil {
			rec.Comment = v
		}
		if code == 2 && len(v) >= 4 { // epb_flags
			fl := r.u32(v)
			switch fl & 3 {
			case 1:
				rec.Dir = DirIn
			case 2:
				rec.Dir = DirOut
			}
			rec.Reception = uint8(fl>>2) & 7
		}
		opts = rest
	}
}

// u16, u32 and u64 read a number in the section's byte order (a
// binary.ByteOrder in a field would cost an interface call each).
func (r *Reader) u16(b []byte) uint16 {
	if r.secBig {
		return binary.BigEndian.Uint16(b)
	}
	return binary.LittleEndian.Uint16(b)
}

func (r *Reader) u32(b []byte) uint32 {
	if r.secBig {
		return binary.BigEndian.Uint32(b)
	}
	return binary.LittleEndian.Uint32(b)
}

func (r *Reader) u64(b []byte) uint64 {
	if r.secBig {
		return binary.BigEndian.Uint64(b)
	}
	return binary.LittleEndian.Uint64(b)
}

func (r *Reader) simpleBlock(start int64, body []byte, rec *Record) error {
	if len(body) < 4 {
		return formatErr(start, "a simple packet block cut short")
	}
	ix, err := r.iface(start, 0)
	if err != nil {
		return err
	}
	ifc := &r.ifaces[ix]
	orig := r.u32(body)
	capLen := min(orig, uint32(len(body)-4))
	if ifc.Snaplen > 0 {
		capLen = min(capLen, uint32(ifc.Snaplen))
	}
	*rec = Record{Iface: ix, Link: ifc.Link, Data: body[4 : 4+capLen], OrigLen: int(max(orig, capLen)), BigEndian: ifc.bigEndian}
	return nil
}
