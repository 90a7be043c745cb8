package datapath

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// rawSender sends the answers ipsift makes itself (REJECT's RST or ICMP
// error) as whole IP packets. They carry the mark markOwn so that ipsift's
// output rule lets them pass without queueing them again: the engine has
// already run them through OUTPUT and POSTROUTING. IPv6 answers go out
// of their own socket (IPPROTO_RAW implies IPV6_HDRINCL), opened with
// the first one.
type rawSender struct{ fd, fd6 int }

func newRawSender() (*rawSender, error) {
	fd, err := rawSocket(unix.AF_INET)
	if err != nil {
		return nil, err
	}
	return &rawSender{fd: fd, fd6: -1}, nil
}

func rawSocket(family int) (int, error) {
	fd, err := unix.Socket(family, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
	if err != nil {
		return -1, fmt.Errorf("raw socket: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_MARK, markOwn); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("raw socket mark: %w", err)
	}
	return fd, nil
}

// send sends an IP packet of either family; ifindex (0: none) is the
// interface the engine sent it out of, which an IPv6 destination of
// link-local or multicast scope needs to leave by.
func (s *rawSender) send(b []byte, ifindex int) error {
	if len(b) >= 40 && b[0]>>4 == 6 {
		if s.fd6 < 0 {
			fd, err := rawSocket(unix.AF_INET6)
			if err != nil {
				return err
			}
			s.fd6 = fd
		}
		var sa unix.SockaddrInet6
		copy(sa.Addr[:], b[24:40])
		if sa.Addr[0] == 0xff || sa.Addr[0] == 0xfe && sa.Addr[1]&0xc0 == 0x80 {
			sa.ZoneId = uint32(ifindex)
		}
		return unix.Sendto(s.fd6, b, 0, &sa)
	}
	if len(b) < 20 {
		return nil
	}
	var sa unix.SockaddrInet4
	copy(sa.Addr[:], b[16:20])
	return unix.Sendto(s.fd, b, 0, &sa)
}

func (s *rawSender) Close() error {
	if s.fd6 >= 0 {
		unix.Close(s.fd6)
	}
	return unix.Close(s.fd)
}
