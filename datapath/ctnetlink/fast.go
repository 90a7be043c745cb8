package ctnetlink

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The requests of the packet path (Create, Delete) go through a socket
// of their own with raw system calls and a buffer kept between calls:
// no allocation, no netpoller round trip. ctnetlink handles a request
// inside the sender's sendmsg, so its acknowledgement is queued on the
// socket when the call returns, and the receive that follows never
// waits (MSG_DONTWAIT).

const nlaNested = 0x8000 // NLA_F_NESTED

// req builds one netlink request in place.
type req struct{ b []byte }

func (r *req) start(msg uint8, flags uint16, seq uint32) {
	r.b = append(r.b[:0], make([]byte, 20)...)
	binary.NativeEndian.PutUint16(r.b[4:], subsysCT<<8|uint16(msg))
	binary.NativeEndian.PutUint16(r.b[6:], unix.NLM_F_REQUEST|flags)
	binary.NativeEndian.PutUint32(r.b[8:], seq)
	r.b[16] = unix.AF_INET // nfgenmsg: family, version 0, res_id 0
}

func (r *req) attr(typ uint16, v []byte) {
	n := len(r.b)
	r.b = append(r.b, 0, 0, 0, 0)
	r.b = append(r.b, v...)
	binary.NativeEndian.PutUint16(r.b[n:], uint16(4+len(v)))
	binary.NativeEndian.PutUint16(r.b[n+2:], typ)
	for len(r.b)%4 != 0 {
		r.b = append(r.b, 0)
	}
}

func (r *req) u8(typ uint16, v uint8) { r.attr(typ, []byte{v}) }

func (r *req) be16(typ uint16, v uint16) {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	r.attr(typ, b[:])
}

func (r *req) be32(typ uint16, v uint32) {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	r.attr(typ, b[:])
}

// nest opens a nested attribute; end closes it.
func (r *req) nest(typ uint16) int {
	n := len(r.b)
	r.b = append(r.b, 0, 0, 0, 0)
	binary.NativeEndian.PutUint16(r.b[n+2:], typ|nlaNested)
	return n
}

func (r *req) end(n int) { binary.NativeEndian.PutUint16(r.b[n:], uint16(len(r.b)-n)) }

func (r *req) addr(typ uint16, a netip.Addr) {
	b := a.As4()
	r.attr(typ, b[:])
}

func (r *req) tuple(typ uint16, t Tuple) {
	n := r.nest(typ)
	ip := r.nest(ctaTupleIP)
	r.addr(ctaIPv4Src, t.Src)
	r.addr(ctaIPv4Dst, t.Dst)
	r.end(ip)
	pr := r.nest(ctaTupleProto)
	r.u8(ctaProtoNum, t.Proto)
	r.be16(ctaProtoSrc, t.SrcPort)
	r.be16(ctaProtoDst, t.DstPort)
	r.end(pr)
	r.end(n)
}

func (r *req) nat(typ uint16, a netip.Addr, port uint16) {
	n := r.nest(typ)
	r.addr(ctaNATMinIP, a)
	r.addr(ctaNATMaxIP, a)
	p := r.nest(ctaNATProto)
	r.be16(ctaPNATPortMin, port)
	r.be16(ctaPNATPortMax, port)
	r.end(p)
	r.end(n)
}

func (r *req) finish() { binary.NativeEndian.PutUint32(r.b[0:], uint32(len(r.b))) }

// fastFD opens the socket of the packet path's requests on first use.
func (c *Client) fastFD() (int, error) {
	if c.fd != 0 {
		return c.fd, nil
	}
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_NETFILTER)
	if err != nil {
		return 0, fmt.Errorf("ctnetlink: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return 0, fmt.Errorf("ctnetlink: %w", err)
	}
	// Only errors come back (and acknowledgements, read at once): a
	// small buffer is enough.
	c.fd = fd
	c.rbuf = make([]byte, 4096)
	return fd, nil
}

var kernelAddr = unix.RawSockaddrNetlink{Family: unix.AF_NETLINK}

// exec sends the request in c.r and reads its acknowledgement.
func (c *Client) exec() error {
	fd, err := c.fastFD()
	if err != nil {
		return err
	}
	c.r.finish()
	b := c.r.b
	seq := binary.NativeEndian.Uint32(b[8:])
	_, _, e := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)), 0,
		uintptr(unsafe.Pointer(&kernelAddr)), unsafe.Sizeof(kernelAddr))
	if e != 0 {
		return fmt.Errorf("ctnetlink: send: %w", e)
	}
	for range 64 {
		n, _, e := unix.RawSyscall6(unix.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(c.rbuf))), uintptr(len(c.rbuf)), unix.MSG_DONTWAIT, 0, 0)
		if e != 0 {
			return fmt.Errorf("ctnetlink: no answer: %w", e)
		}
		for m := c.rbuf[:n]; len(m) >= 16; {
			l := int(binary.NativeEndian.Uint32(m))
			if l < 16 || l > len(m) {
				break
			}
			typ, mseq := binary.NativeEndian.Uint16(m[4:]), binary.NativeEndian.Uint32(m[8:])
			if typ == unix.NLMSG_ERROR && mseq == seq && l >= 20 {
				if code := int32(binary.NativeEndian.Uint32(m[16:])); code != 0 {
					if unix.Errno(-code) == unix.ENOENT {
						return ErrNotFound
					}
					return fmt.Errorf("ctnetlink: %w", unix.Errno(-code))
				}
				return nil
			}
			m = m[(l+3)&^3:]
		}
	}
	return fmt.Errorf("ctnetlink: no acknowledgement")
}

func (c *Client) nextSeq() uint32 {
	c.seq++
	return c.seq
}
