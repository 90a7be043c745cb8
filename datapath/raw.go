package datapath

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// rawSender sends the answers ipsift makes itself (REJECT's RST or ICMP
// error) as whole IP packets. They carry the mark markOwn so that ipsift's
// output rule lets them pass without queueing them again: the engine has
// already run them through OUTPUT and POSTROUTING.
type rawSender struct{ fd int }

func newRawSender() (*rawSender, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
	if err != nil {
		return nil, fmt.Errorf("raw socket: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_MARK, markOwn); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("raw socket mark: %w", err)
	}
	return &rawSender{fd: fd}, nil
}

func (s *rawSender) send(b []byte) error {
	if len(b) < 20 {
		return nil
	}
	var sa unix.SockaddrInet4
	copy(sa.Addr[:], b[16:20])
	return unix.Sendto(s.fd, b, 0, &sa)
}

func (s *rawSender) Close() error { return unix.Close(s.fd) }
