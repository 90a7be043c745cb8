// Package nfqueue is a small client for the kernel's NFQUEUE
// (nfnetlink_queue): it binds one queue, configures it (copy mode, queue
// length, fail-open, GSO) and reads queued packets and answers them with
// verdicts, single (optionally with a rewritten payload and a mark) or
// batched.
//
// Setup and configuration go through github.com/mdlayher/netlink, which
// checks the kernel's acknowledgements. The hot path (receive, verdict)
// uses the same socket through its syscall.RawConn with buffers owned by
// the Queue, so that reading a packet and answering it allocates nothing:
// a Packet's Payload points into the receive buffer and is valid only
// until the callback returns.
package nfqueue

import (
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"
	"unsafe"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// nfnetlink constants (linux/netfilter/nfnetlink.h, nfnetlink_queue.h).
const (
	subsysQueue = 3 // NFNL_SUBSYS_QUEUE

	msgPacket       = 0 // NFQNL_MSG_PACKET
	msgVerdict      = 1 // NFQNL_MSG_VERDICT
	msgConfig       = 2 // NFQNL_MSG_CONFIG
	msgVerdictBatch = 3 // NFQNL_MSG_VERDICT_BATCH

	cfgCmd      = 1 // NFQA_CFG_CMD
	cfgParams   = 2 // NFQA_CFG_PARAMS
	cfgQueueMax = 3 // NFQA_CFG_QUEUE_MAXLEN
	cfgMask     = 4 // NFQA_CFG_MASK
	cfgFlags    = 5 // NFQA_CFG_FLAGS

	cmdBind   = 1 // NFQNL_CFG_CMD_BIND
	cmdUnbind = 2 // NFQNL_CFG_CMD_UNBIND

	copyPacket = 2 // NFQNL_COPY_PACKET

	attrPacketHdr  = 1  // NFQA_PACKET_HDR
	attrVerdictHdr = 2  // NFQA_VERDICT_HDR
	attrMark       = 3  // NFQA_MARK
	attrInDev      = 5  // NFQA_IFINDEX_INDEV
	attrOutDev     = 6  // NFQA_IFINDEX_OUTDEV
	attrPayload    = 10 // NFQA_PAYLOAD
	attrCapLen     = 13 // NFQA_CAP_LEN
	attrSkbInfo    = 14 // NFQA_SKB_INFO

	nlmsgHdrLen = 16
	nfgenHdrLen = 4
)

// Queue configuration flags (NFQA_CFG_F_*).
const (
	FlagFailOpen = 1 << 0 // accept packets instead of dropping them when the queue is full
	FlagGSO      = 1 << 2 // hand over GSO packets whole, checksums possibly not yet computed
)

// SkbInfo bits (NFQA_SKB_*).
const (
	SkbCsumNotReady = 1 << 0 // the transport checksum holds only the pseudo-header sum (CHECKSUM_PARTIAL)
	SkbGSO          = 1 << 1 // a GSO packet, possibly larger than the MTU
	// SkbCsumNotVerified: the kernel has not verified the transport
	// checksum (nor would it skip the check: not CHECKSUM_UNNECESSARY).
	SkbCsumNotVerified = 1 << 2
)

// Verdicts (linux/netfilter.h).
const (
	Drop   uint32 = 0 // NF_DROP
	Accept uint32 = 1 // NF_ACCEPT
)

// Netfilter hooks, as Packet.Hook reports them.
const (
	HookPreRouting  = 0
	HookLocalIn     = 1
	HookForward     = 2
	HookLocalOut    = 3
	HookPostRouting = 4
)

// Config is how a queue is bound.
type Config struct {
	Num    uint16 // the queue number the nft/iptables rule names
	MaxLen uint32 // packets the kernel holds for this queue (0: the kernel's 1024)
	// CopyRange is how many bytes of each packet to copy (0: 0xffff, all).
	CopyRange uint32
	Flags     uint32 // FlagFailOpen, FlagGSO
	// ReadBuffer sets the socket's receive buffer (0: leave the default).
	ReadBuffer int
	// OnAck receives the acknowledgements and errors of the requests
	// sent with Append whose sequence number has SeqTag set: with their
	// sequence number and the error (0 for an acknowledgement). Other
	// error messages end Receive with an error.
	OnAck func(seq uint32, errno syscall.Errno)
	// Defer makes Verdict and BatchVerdict collect their messages, to be
	// sent together, in order, by Flush: one system call for a whole
	// batch of packets instead of one per rewritten packet. The kernel
	// takes the messages of one send one after another, so a batch
	// verdict flushed after single ones leaves those alone.
	Defer bool
}

// maxDeferred bounds the verdicts collected before they are sent
// anyway: a netlink send must fit the socket's send buffer (the
// default, 208 KiB, less what a message of a 64 KiB packet needs).
const maxDeferred = 128 << 10

// Packet is one queued packet. Payload points into the Queue's receive
// buffer: it is valid only until the callback given to Receive returns,
// and may be rewritten in place.
type Packet struct {
	ID      uint32
	HWProto uint16
	Hook    uint8
	Mark    uint32
	InDev   uint32 // ifindex, 0 when none
	OutDev  uint32
	SkbInfo uint32 // SkbCsumNotReady, SkbGSO, SkbCsumNotVerified
	CapLen  uint32 // the packet's real length when Payload was cut short
	Payload []byte
}

// recvBatch is how many netlink messages one receive system call
// (recvmmsg) takes at most: a batch of a few packets costs one call, and
// the call that finds the queue empty is spared when fewer came.
const recvBatch = 8

// recvBufLen holds one message: a 64 KiB GSO packet and its attributes.
const recvBufLen = 0x10000 + 4096

// Queue is a bound NFQUEUE.
type Queue struct {
	c   *netlink.Conn
	rc  syscall.RawConn
	num uint16
	// rbuf holds recvBatch receive buffers of recvBufLen, one per
	// message of msgs (with its iovec in iov): recvmmsg fills them
	// without allocating (unix.Recvfrom allocates the sender's address
	// on every call).
	rbuf []byte
	msgs [recvBatch]unix.Mmsghdr
	iov  [recvBatch]unix.Iovec
	wbuf []byte
	// deferred: Verdict and BatchVerdict append to wbuf, Flush sends.
	deferred bool
	pkt      Packet
	fn       func(*Packet)
	// readFn and writeFn are method values made once, so the hot path
	// does not allocate a closure per call.
	readFn  func(fd uintptr) bool
	writeFn func(fd uintptr) bool
	// kernel is the verdicts' destination (the kernel's port 0).
	kernel unix.RawSockaddrNetlink
	max    int
	n      int
	err    error
	onAck  func(seq uint32, errno syscall.Errno)
}

// SeqTag marks the sequence number of a request sent with Append whose
// answer goes to Config.OnAck.
const SeqTag = 1 << 31

// Open binds queue cfg.Num and configures it. It needs CAP_NET_ADMIN.
func Open(cfg Config) (*Queue, error) {
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, nil)
	if err != nil {
		return nil, fmt.Errorf("nfqueue: netlink: %w", err)
	}
	q := newQueue(cfg)
	q.c = c
	fail := func(err error) (*Queue, error) {
		c.Close()
		return nil, err
	}
	// A full socket buffer makes the kernel drop (or, fail-open, accept)
	// the packet it could not deliver; ENOBUFS on our side would only
	// report that, so turn it off and keep reading.
	_ = c.SetOption(netlink.NoENOBUFS, true)
	if cfg.ReadBuffer > 0 {
		_ = c.SetReadBuffer(cfg.ReadBuffer)
	}
	if q.rc, err = c.SyscallConn(); err != nil {
		return fail(err)
	}
	if err := q.config(EncodeConfigCmd(cmdBind)); err != nil {
		return fail(fmt.Errorf("nfqueue: bind queue %d: %w", cfg.Num, err))
	}
	if err := q.config(EncodeConfigParams(cfg.CopyRange, cfg.MaxLen, cfg.Flags)); err != nil {
		q.config(EncodeConfigCmd(cmdUnbind))
		return fail(fmt.Errorf("nfqueue: configure queue %d: %w", cfg.Num, err))
	}
	return q, nil
}

// newQueue makes a Queue's buffers, without its socket.
func newQueue(cfg Config) *Queue {
	q := &Queue{num: cfg.Num, rbuf: make([]byte, recvBatch*recvBufLen), max: 64, deferred: cfg.Defer, onAck: cfg.OnAck}
	for i := range q.msgs {
		q.iov[i].Base = &q.rbuf[i*recvBufLen]
		q.iov[i].SetLen(recvBufLen)
		q.msgs[i].Hdr.Iov = &q.iov[i]
		q.msgs[i].Hdr.SetIovlen(1)
	}
	q.readFn, q.writeFn = q.read, q.write
	return q
}

func (q *Queue) config(attrs []byte) error {
	_, err := q.c.Execute(netlink.Message{
		Header: netlink.Header{
			Type:  netlink.HeaderType(subsysQueue<<8 | msgConfig),
			Flags: netlink.Request | netlink.Acknowledge,
		},
		Data: append(nfgen(unix.AF_UNSPEC, q.num), attrs...),
	})
	return err
}

// Close closes the socket, which unbinds the queue (the kernel drops a
// socket's queues when it is released); a Receive in progress returns an
// error. It sends no unbind command first: that waits for the kernel's
// acknowledgement, which a Receive in progress on another goroutine may
// read and skip, leaving Close waiting for ever.
func (q *Queue) Close() error {
	return q.c.Close()
}

func nfgen(family uint8, num uint16) []byte {
	return []byte{family, 0, byte(num >> 8), byte(num)}
}

// EncodeConfigCmd returns the attributes of a config message carrying a
// command (bind, unbind).
func EncodeConfigCmd(cmd uint8) []byte {
	ae := netlink.NewAttributeEncoder()
	ae.ByteOrder = binary.BigEndian
	// struct nfqnl_msg_config_cmd { u8 command; u8 pad; be16 pf; }
	ae.Bytes(cfgCmd, []byte{cmd, 0, 0, unix.AF_INET})
	b, _ := ae.Encode()
	return b
}

// EncodeConfigParams returns the attributes that set the copy mode
// (whole packets, up to copyRange bytes), the queue length and the
// flags.
func EncodeConfigParams(copyRange, maxLen, flags uint32) []byte {
	if copyRange == 0 {
		copyRange = 0xffff
	}
	ae := netlink.NewAttributeEncoder()
	ae.ByteOrder = binary.BigEndian
	// struct nfqnl_msg_config_params { be32 copy_range; u8 copy_mode; } packed
	p := []byte{0, 0, 0, 0, copyPacket}
	binary.BigEndian.PutUint32(p, copyRange)
	ae.Bytes(cfgParams, p)
	if maxLen != 0 {
		ae.Uint32(cfgQueueMax, maxLen)
	}
	// The mask says which flags this message sets; the rest keep their
	// value. Set both we know, so a flag left off is cleared.
	ae.Uint32(cfgFlags, flags)
	ae.Uint32(cfgMask, FlagFailOpen|FlagGSO)
	b, _ := ae.Encode()
	return b
}

// Receive waits for at least one packet, then hands fn every packet
// already waiting (up to 64), one at a time, and returns. A caller that
// batches verdicts flushes them when Receive returns: that is when the
// queue has nothing more to read right now.
func (q *Queue) Receive(fn func(*Packet)) error {
	q.fn, q.n, q.err = fn, 0, nil
	err := q.rc.Read(q.readFn)
	q.fn = nil
	if err != nil {
		return err
	}
	return q.err
}

// read runs with the socket's fd; false means "wait until readable".
// One recvmmsg takes up to recvBatch messages; fewer means the queue
// was empty after them (the call does not wait: MSG_DONTWAIT), so the
// batch ends without another call to find that out.
func (q *Queue) read(fd uintptr) bool {
	for q.n < q.max {
		// A raw system call: with MSG_DONTWAIT it never blocks, so the
		// scheduler need not be told (as Syscall6 would).
		r, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&q.msgs[0])), recvBatch, unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case 0:
		case unix.EAGAIN:
			return q.n > 0
		case unix.EINTR, unix.ENOBUFS:
			// (ENOBUFS: messages lost; the kernel already decided
			// those packets)
			continue
		default:
			q.err = e
			return true
		}
		got := int(r)
		for i := 0; i < got; i++ {
			q.n++
			if err := parseMessages(q.rbuf[i*recvBufLen:i*recvBufLen+min(int(q.msgs[i].Len), recvBufLen)], &q.pkt, q.fn, q.onAck); err != nil {
				q.err = err
				return true
			}
		}
		if got < recvBatch {
			return true
		}
	}
	return true
}

// ParseMessages decodes the netlink messages in b and calls fn for each
// queued packet, reusing p. An error message from the kernel is returned
// as an error; other messages are skipped.
func ParseMessages(b []byte, p *Packet, fn func(*Packet)) error {
	return parseMessages(b, p, fn, nil)
}

func parseMessages(b []byte, p *Packet, fn func(*Packet), ack func(uint32, syscall.Errno)) error {
	for len(b) >= nlmsgHdrLen {
		l := int(binary.NativeEndian.Uint32(b[0:4]))
		typ := binary.NativeEndian.Uint16(b[4:6])
		if l < nlmsgHdrLen || l > len(b) {
			return errors.New("nfqueue: truncated netlink message")
		}
		msg := b[nlmsgHdrLen:l]
		switch {
		case typ == unix.NLMSG_ERROR:
			if seq := binary.NativeEndian.Uint32(b[8:12]); ack != nil && seq&SeqTag != 0 && len(msg) >= 4 {
				ack(seq, syscall.Errno(-int32(binary.NativeEndian.Uint32(msg))))
			} else if len(msg) >= 4 {
				if code := int32(binary.NativeEndian.Uint32(msg)); code != 0 {
					return fmt.Errorf("nfqueue: kernel: %w", syscall.Errno(-code))
				}
			}
		case typ == subsysQueue<<8|msgPacket:
			if err := DecodePacket(msg, p); err != nil {
				return err
			}
			fn(p)
		}
		b = b[min(nlAlign(l), len(b)):]
	}
	return nil
}

func nlAlign(n int) int { return (n + 3) &^ 3 }

// DecodePacket decodes the body of an NFQNL_MSG_PACKET message (the
// nfgenmsg header and the attributes) into p. Payload aliases b.
func DecodePacket(b []byte, p *Packet) error {
	if len(b) < nfgenHdrLen {
		return errors.New("nfqueue: short packet message")
	}
	*p = Packet{}
	b = b[nfgenHdrLen:]
	seen := false
	for len(b) >= 4 {
		l := int(binary.NativeEndian.Uint16(b[0:2]))
		typ := binary.NativeEndian.Uint16(b[2:4]) & 0x3fff // without NLA_F_NESTED, NLA_F_NET_BYTEORDER
		if l < 4 || l > len(b) {
			return errors.New("nfqueue: bad attribute length")
		}
		v := b[4:l]
		switch typ {
		case attrPacketHdr:
			if len(v) < 7 {
				return errors.New("nfqueue: short packet header")
			}
			p.ID = binary.BigEndian.Uint32(v[0:4])
			p.HWProto = binary.BigEndian.Uint16(v[4:6])
			p.Hook = v[6]
			seen = true
		case attrMark:
			p.Mark = be32(v)
		case attrInDev:
			p.InDev = be32(v)
		case attrOutDev:
			p.OutDev = be32(v)
		case attrSkbInfo:
			p.SkbInfo = be32(v)
		case attrCapLen:
			p.CapLen = be32(v)
		case attrPayload:
			p.Payload = v
		}
		b = b[min(nlAlign(l), len(b)):]
	}
	if !seen {
		return errors.New("nfqueue: packet message without a packet header")
	}
	return nil
}

func be32(v []byte) uint32 {
	if len(v) < 4 {
		return 0
	}
	return binary.BigEndian.Uint32(v)
}

// Verdict answers one packet. A non-nil payload replaces the packet's
// contents (a NAT rewrite); setMark sets the packet's mark to mark.
// With Config.Defer it is sent by Flush (or sooner, when the verdicts
// collected would not fit one send), and the payload may be reused at
// once.
func (q *Queue) Verdict(id, verdict uint32, payload []byte, setMark bool, mark uint32) error {
	if !q.deferred {
		q.wbuf = AppendVerdict(q.wbuf[:0], q.num, id, verdict, payload, setMark, mark)
		return q.send()
	}
	var err error
	if len(q.wbuf) > 0 && len(q.wbuf)+len(payload)+64 > maxDeferred {
		err = q.Flush()
	}
	q.wbuf = AppendVerdict(q.wbuf, q.num, id, verdict, payload, setMark, mark)
	return err
}

// Append adds a netlink request of another netfilter subsystem (a
// ctnetlink create or delete) to the messages collected for Flush
// (Config.Defer): the kernel handles it in the same send, before the
// verdicts appended after it. Its answer, if it asks for one, comes
// back in the queue's messages (Config.OnAck). msg is copied.
func (q *Queue) Append(msg []byte) error {
	if !q.deferred {
		q.wbuf = append(q.wbuf[:0], msg...)
		return q.send()
	}
	var err error
	if len(q.wbuf) > 0 && len(q.wbuf)+len(msg) > maxDeferred {
		err = q.Flush()
	}
	q.wbuf = append(q.wbuf, msg...)
	return err
}

// BatchVerdict answers every packet still queued whose id is at most id.
// With Config.Defer it is sent by Flush, after the verdicts collected
// before it.
func (q *Queue) BatchVerdict(id, verdict uint32) error {
	if q.deferred {
		q.wbuf = AppendBatchVerdict(q.wbuf, q.num, id, verdict)
		return nil
	}
	q.wbuf = AppendBatchVerdict(q.wbuf[:0], q.num, id, verdict)
	return q.send()
}

// Flush sends the verdicts collected (Config.Defer) in one message
// buffer; without Defer there is nothing to send.
func (q *Queue) Flush() error {
	if !q.deferred || len(q.wbuf) == 0 {
		return nil
	}
	err := q.send()
	q.wbuf = q.wbuf[:0]
	return err
}

func (q *Queue) send() error {
	q.err = nil
	if err := q.rc.Write(q.writeFn); err != nil {
		return err
	}
	return q.err
}

// write sends wbuf with a raw system call. A verdict's send carries on
// the packets it accepts through the rest of the kernel's path (their
// forwarding, and often the receiver's TCP), tens of microseconds that
// a plain syscall.Syscall6 spends marked as in a system call: the Go
// runtime's monitor then hands the worker's P to another thread, which
// wakes, polls the network for work and sleeps again, and the worker
// must take a P back when the call returns. That was a few percent of
// ipsift's CPU on the load test (profile in BENCHMARKS.md). The send
// never waits for the socket (netlink delivers to the kernel
// synchronously), so the worker keeps its P: the other goroutines have
// the remaining ones.
func (q *Queue) write(fd uintptr) bool {
	q.kernel.Family = unix.AF_NETLINK
	for {
		_, _, e := unix.RawSyscall6(unix.SYS_SENDTO, fd, uintptr(unsafe.Pointer(unsafe.SliceData(q.wbuf))), uintptr(len(q.wbuf)), 0,
			uintptr(unsafe.Pointer(&q.kernel)), unix.SizeofSockaddrNetlink)
		switch e {
		case 0:
			q.err = nil
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		}
		q.err = e
		return true
	}
}

// AppendVerdict appends an NFQNL_MSG_VERDICT message to b.
func AppendVerdict(b []byte, num uint16, id, verdict uint32, payload []byte, setMark bool, mark uint32) []byte {
	start := len(b)
	b = appendHeader(b, msgVerdict, num)
	b = appendAttrHeader(b, attrVerdictHdr, 8)
	b = binary.BigEndian.AppendUint32(b, verdict)
	b = binary.BigEndian.AppendUint32(b, id)
	if setMark {
		b = appendAttrHeader(b, attrMark, 4)
		b = binary.BigEndian.AppendUint32(b, mark)
	}
	if payload != nil {
		b = appendAttrHeader(b, attrPayload, len(payload))
		b = append(b, payload...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
	}
	binary.NativeEndian.PutUint32(b[start:], uint32(len(b)-start))
	return b
}

// AppendBatchVerdict appends an NFQNL_MSG_VERDICT_BATCH message to b.
func AppendBatchVerdict(b []byte, num uint16, id, verdict uint32) []byte {
	start := len(b)
	b = appendHeader(b, msgVerdictBatch, num)
	b = appendAttrHeader(b, attrVerdictHdr, 8)
	b = binary.BigEndian.AppendUint32(b, verdict)
	b = binary.BigEndian.AppendUint32(b, id)
	binary.NativeEndian.PutUint32(b[start:], uint32(len(b)-start))
	return b
}

func appendHeader(b []byte, msg uint16, num uint16) []byte {
	b = binary.NativeEndian.AppendUint32(b, 0) // length, set at the end
	b = binary.NativeEndian.AppendUint16(b, subsysQueue<<8|msg)
	b = binary.NativeEndian.AppendUint16(b, unix.NLM_F_REQUEST)
	b = binary.NativeEndian.AppendUint32(b, 0) // seq
	b = binary.NativeEndian.AppendUint32(b, 0) // port id: the kernel
	return append(b, unix.AF_UNSPEC, 0, byte(num>>8), byte(num))
}

func appendAttrHeader(b []byte, typ uint16, n int) []byte {
	b = binary.NativeEndian.AppendUint16(b, uint16(4+n))
	return binary.NativeEndian.AppendUint16(b, typ)
}
