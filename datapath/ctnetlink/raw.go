package ctnetlink

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The packet path's reads (Get, the destroy events) parse the kernel's
// messages in place, without the netlink package: no allocation per
// message, and the events socket is read a whole buffer at a time.

// attrs calls fn for each attribute in b (type without the nested and
// byte-order bits, value); false from fn stops.
func attrs(b []byte, fn func(typ uint16, v []byte)) bool {
	for len(b) >= 4 {
		l := int(binary.NativeEndian.Uint16(b))
		if l < 4 || l > len(b) {
			return false
		}
		fn(binary.NativeEndian.Uint16(b[2:])&0x3fff, b[4:l])
		b = b[min((l+3)&^3, len(b)):]
	}
	return true
}

func be(v []byte) uint64 {
	var x uint64
	for _, c := range v {
		x = x<<8 | uint64(c)
	}
	return x
}

// parseRaw decodes one ctnetlink message (its netlink header included).
func parseRaw(m []byte) (Event, bool) {
	var ev Event
	if len(m) < 20 || binary.NativeEndian.Uint16(m[4:])>>8 != subsysCT {
		return ev, false
	}
	ev.Destroy = uint8(binary.NativeEndian.Uint16(m[4:])) == msgDelete
	ok := attrs(m[20:], func(typ uint16, v []byte) {
		switch typ {
		case ctaTupleOrig:
			ev.Orig = parseTupleRaw(v)
		case ctaTupleReply:
			ev.Reply = parseTupleRaw(v)
		case ctaMark:
			ev.Mark = uint32(be(v))
		case ctaStatus:
			ev.Status = uint32(be(v))
		case ctaTimeout:
			ev.Timeout = uint32(be(v))
		case ctaProtoinfo:
			attrs(v, func(typ uint16, v []byte) {
				if typ != ctaProtoinfoTCP {
					return
				}
				attrs(v, func(typ uint16, v []byte) {
					switch typ {
					case ctaTCPState:
						if len(v) >= 1 {
							ev.TCPState = v[0]
						}
					case ctaTCPFlagsOrig, ctaTCPFlagsReply:
						if len(v) >= 1 {
							ev.TCPFlags[typ-ctaTCPFlagsOrig] = v[0]
						}
					}
				})
			})
		case ctaCountersOrig, ctaCountersReply:
			d := int(typ - ctaCountersOrig)
			attrs(v, func(typ uint16, v []byte) {
				switch typ {
				case ctaCountersPackets, ctaCountersPackets32:
					ev.Counters.Packets[d] = be(v)
				case ctaCountersBytes, ctaCountersBytes32:
					ev.Counters.Bytes[d] = be(v)
				}
			})
		}
	})
	return ev, ok
}

func parseTupleRaw(b []byte) Tuple {
	var t Tuple
	attrs(b, func(typ uint16, v []byte) {
		switch typ {
		case ctaTupleIP:
			attrs(v, func(typ uint16, v []byte) {
				if len(v) != 4 {
					return
				}
				a := netip.AddrFrom4([4]byte(v))
				switch typ {
				case ctaIPv4Src:
					t.Src = a
				case ctaIPv4Dst:
					t.Dst = a
				}
			})
		case ctaTupleProto:
			attrs(v, func(typ uint16, v []byte) {
				switch typ {
				case ctaProtoNum:
					if len(v) >= 1 {
						t.Proto = v[0]
					}
				case ctaProtoSrc:
					t.SrcPort = uint16(be(v))
				case ctaProtoDst:
					t.DstPort = uint16(be(v))
				}
			})
		}
	})
	return t
}

// Get reads the connection whose original tuple is orig, with its TCP
// state and flags (ErrNotFound when the kernel has none). ctnetlink
// answers inside the request's sendmsg, so the answer waits on the
// socket when the call returns (the kernel answers a GET of one
// connection with one message flagged NLM_F_MULTI and no NLMSG_DONE).
// The caller serializes Client's requests.
func (c *Client) Get(orig Tuple) (Event, error) {
	fd, err := c.fastFD()
	if err != nil {
		return Event{}, err
	}
	c.r.start(msgGet, 0, c.nextSeq())
	c.r.tuple(ctaTupleOrig, orig)
	c.r.finish()
	b := c.r.b
	seq := binary.NativeEndian.Uint32(b[8:])
	if _, _, e := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)), 0,
		uintptr(unsafe.Pointer(&kernelAddr)), unsafe.Sizeof(kernelAddr)); e != 0 {
		return Event{}, fmt.Errorf("ctnetlink get: send: %w", e)
	}
	for range 64 {
		n, _, e := unix.RawSyscall6(unix.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(c.rbuf))), uintptr(len(c.rbuf)), unix.MSG_DONTWAIT, 0, 0)
		if e != 0 {
			return Event{}, fmt.Errorf("ctnetlink get: no answer: %w", e)
		}
		for m := c.rbuf[:n]; len(m) >= 16; {
			l := int(binary.NativeEndian.Uint32(m))
			if l < 16 || l > len(m) {
				break
			}
			typ, mseq := binary.NativeEndian.Uint16(m[4:]), binary.NativeEndian.Uint32(m[8:])
			msg := m[:l]
			m = m[min((l+3)&^3, len(m)):]
			if mseq != seq {
				continue // an answer to an earlier request
			}
			if typ == unix.NLMSG_ERROR {
				if l >= 20 {
					if code := int32(binary.NativeEndian.Uint32(msg[16:])); code != 0 {
						if unix.Errno(-code) == unix.ENOENT {
							return Event{}, ErrNotFound
						}
						return Event{}, fmt.Errorf("ctnetlink get: %w", unix.Errno(-code))
					}
				}
				continue
			}
			if ev, ok := parseRaw(msg); ok {
				return ev, nil
			}
		}
	}
	return Event{}, fmt.Errorf("ctnetlink get: no answer")
}

// Events receives the kernel's destroy events.
type Events struct {
	f   *os.File
	rc  syscall.RawConn
	buf []byte
	// fn and err are the Receive in progress's (read is a method value
	// made once).
	fn     func(Event)
	err    error
	readFn func(fd uintptr) bool
	n      int
}

// ListenDestroy subscribes to destroy events with reliable delivery: the
// kernel keeps a connection whose event it could not deliver and sends
// it again, instead of losing it (NETLINK_BROADCAST_ERROR). A large
// receive buffer keeps that rare.
func ListenDestroy() (*Events, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_NETFILTER)
	if err != nil {
		return nil, fmt.Errorf("ctnetlink events: %w", err)
	}
	fail := func(what string, err error) (*Events, error) {
		unix.Close(fd)
		return nil, fmt.Errorf("ctnetlink events: %s: %w", what, err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: 1 << (groupDestroy - 1)}); err != nil {
		return fail("bind", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_BROADCAST_ERROR, 1); err != nil {
		return fail("NETLINK_BROADCAST_ERROR", err)
	}
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20) != nil {
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 8<<20)
	}
	e := &Events{f: os.NewFile(uintptr(fd), "ctnetlink-events"), buf: make([]byte, 256<<10)}
	if e.rc, err = e.f.SyscallConn(); err != nil {
		e.f.Close()
		return nil, fmt.Errorf("ctnetlink events: %w", err)
	}
	e.readFn = e.read
	return e, nil
}

// Receive waits for events, then hands f every destroy event waiting,
// and returns.
func (e *Events) Receive(f func(Event)) error {
	e.fn, e.err, e.n = f, nil, 0
	err := e.rc.Read(e.readFn)
	e.fn = nil
	if err != nil {
		return err
	}
	return e.err
}

// read takes every message waiting; false (nothing read) waits.
func (e *Events) read(fd uintptr) bool {
	for {
		n, _, errno := unix.RawSyscall6(unix.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(unsafe.SliceData(e.buf))), uintptr(len(e.buf)), unix.MSG_DONTWAIT, 0, 0)
		switch errno {
		case 0:
		case unix.EAGAIN:
			return e.n > 0
		case unix.EINTR:
			continue
		case unix.ENOBUFS:
			// Events lost (with NETLINK_BROADCAST_ERROR the kernel
			// keeps such connections and sends their events again).
			continue
		default:
			e.err = errno
			return true
		}
		e.n++
		for m := e.buf[:n]; len(m) >= 16; {
			l := int(binary.NativeEndian.Uint32(m))
			if l < 16 || l > len(m) {
				break
			}
			if ev, ok := parseRaw(m[:l]); ok && ev.Destroy {
				e.fn(ev)
			}
			m = m[min((l+3)&^3, len(m)):]
		}
	}
}

// Close stops the events: a Receive in progress returns an error that
// says "closed".
func (e *Events) Close() error {
	err := e.f.Close()
	if err != nil && strings.Contains(err.Error(), "closed") {
		return nil
	}
	return err
}
