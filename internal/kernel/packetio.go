package kernel

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Ethernet types the harness sends and recognises.
const (
	etherTypeIPv4 = 0x0800
	etherTypeARP  = 0x0806
	etherTypeIPv6 = 0x86dd
	etherHdrLen   = 14
)

// maxFramesPerCapture bounds one Capture call's reading: the firewall
// answers each packet with a handful of frames at most, so reaching it
// means something floods the link, and the caller should hear of it
// rather than wait forever.
const maxFramesPerCapture = 1 << 16

// captureBufBytes is the receive buffer of each capture socket. Frames
// wait there between Capture calls; 8 MiB holds thousands of them.
const captureBufBytes = 8 << 20

// htons converts a 16-bit value to network byte order, as the AF_PACKET
// protocol fields want.
func htons(v uint16) uint16 { return v<<8 | v>>8 }

// openSockets opens, inside the peer namespace, the socket Inject sends
// from and the socket Capture reads from. Sockets stay in the namespace
// they were made in, so after this no namespace switching is needed to
// inject or capture.
func (l *link) openSockets() error {
	return inNamespace(l.peerNS, func() error {
		// Protocol 0: a send-only socket, which receives nothing.
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("opening the AF_PACKET send socket in %s: %w", l.peerNS, err)
		}
		l.sendFD = fd
		ifr, err := unix.NewIfreq(l.Name)
		if err != nil {
			return fmt.Errorf("interface name %q: %w", l.Name, err)
		}
		if err := unix.IoctlIfreq(fd, unix.SIOCGIFINDEX, ifr); err != nil {
			return fmt.Errorf("finding interface %s in %s: %w", l.Name, l.peerNS, err)
		}
		l.ifindex = int(ifr.Uint32())

		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return fmt.Errorf("opening the AF_PACKET capture socket in %s: %w", l.peerNS, err)
		}
		l.capFD = fd
		// The frames Inject sends would otherwise come back to this
		// socket as outgoing; Capture also checks the packet type, for
		// kernels without this option (before 4.20).
		_ = unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1)
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, captureBufBytes); err != nil {
			return fmt.Errorf("sizing the capture socket's buffer in %s: %w", l.peerNS, err)
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: l.ifindex}); err != nil {
			return fmt.Errorf("binding the capture socket to %s in %s: %w", l.Name, l.peerNS, err)
		}
		return nil
	})
}

// closeSockets closes both peer sockets; each holds a reference to its
// namespace, which would otherwise outlive `ip netns del`.
func (l *link) closeSockets() error {
	var errs []error
	for _, fd := range []*int{&l.sendFD, &l.capFD} {
		if *fd >= 0 {
			if err := unix.Close(*fd); err != nil {
				errs = append(errs, fmt.Errorf("closing socket in %s: %w", l.peerNS, err))
			}
			*fd = -1
		}
	}
	return errors.Join(errs...)
}

// etherTypeOf picks the Ethernet type for an IP packet from its version
// nibble.
func etherTypeOf(ipPacket []byte) (uint16, error) {
	if len(ipPacket) == 0 {
		return 0, errors.New("empty packet")
	}
	switch ipPacket[0] >> 4 {
	case 4:
		return etherTypeIPv4, nil
	case 6:
		return etherTypeIPv6, nil
	}
	return 0, fmt.Errorf("not an IP packet: version %d", ipPacket[0]>>4)
}

// Inject sends ipPacket into the firewall through interface ifname, as
// the peer on that link would: an Ethernet frame from the peer's address
// to the firewall interface's, of type IPv4 (or IPv6 by the packet's
// version nibble), sent from an AF_PACKET socket on the peer's end of the
// veth. The packet is sent exactly as given, checksums included: a wrong
// IP header checksum gets it dropped before netfilter sees it. Inject
// returns once the firewall's IP stack has taken the packet in
// (awaitReceived); what the packet made the firewall send may come a
// moment later (Capture waits for it).
func (f *Firewall) Inject(ifname string, ipPacket []byte) error {
	return f.InjectFrom(ifname, nil, ipPacket)
}

// InjectFrom is Inject with another Ethernet source address (the
// packets.md field src_mac, for the mac match); nil means the peer's.
func (f *Firewall) InjectFrom(ifname string, srcMAC net.HardwareAddr, ipPacket []byte) error {
	l, err := f.link(ifname)
	if err != nil {
		return err
	}
	if srcMAC == nil {
		srcMAC = l.PeerMAC
	}
	if len(srcMAC) != 6 {
		return fmt.Errorf("injecting on %s: source address %v is not an Ethernet address", ifname, srcMAC)
	}
	et, err := etherTypeOf(ipPacket)
	if err != nil {
		return fmt.Errorf("injecting on %s: %w", ifname, err)
	}
	if l.sendFD < 0 {
		return fmt.Errorf("injecting on %s: firewall %s is closed", ifname, f.NS)
	}
	frame := make([]byte, 0, etherHdrLen+len(ipPacket))
	frame = append(frame, l.MAC...)
	frame = append(frame, srcMAC...)
	frame = append(frame, byte(et>>8), byte(et))
	frame = append(frame, ipPacket...)
	to := &unix.SockaddrLinklayer{Ifindex: l.ifindex, Protocol: htons(et), Halen: 6}
	copy(to.Addr[:], l.MAC)
	read := f.Delivered
	if et == etherTypeIPv6 {
		read = f.Delivered6
	}
	before, err := read()
	if err != nil {
		return fmt.Errorf("injecting on %s: %w", ifname, err)
	}
	if err := unix.Sendto(l.sendFD, frame, 0, to); err != nil {
		return fmt.Errorf("injecting a %d-byte frame on %s (from %s): %w", len(frame), ifname, l.peerNS, err)
	}
	return f.awaitReceived(read, before.InReceives, ifname)
}

// receiveWait bounds Inject's wait for the firewall's IP stack to take
// the packet in.
const receiveWait = 2 * time.Second

// awaitReceived returns once the firewall's IP stack has counted a
// packet more than before (InReceives, which ip_rcv and ipv6_rcv raise
// before the first netfilter hook), so that what the caller reads next
// (rule counters, conntrack, captures) follows the packet. The frame
// sent on the peer's end of the veth is normally handled before the
// send returns, in the receive softirq run on the way out of the send;
// but when that CPU's backlog holds more than one softirq run may take
// (netdev_budget, other tests' traffic through other veths), the rest
// is left to ksoftirqd, which a loaded machine may run milliseconds
// later, after the counters were read. A packet the stack never counts
// (a frame longer than the link's MTU, which the veth drops) makes it
// an error after receiveWait.
func (f *Firewall) awaitReceived(read func() (IPCounters, error), before uint64, ifname string) error {
	deadline := time.Now().Add(receiveWait)
	for pause := 10 * time.Microsecond; ; pause = min(2*pause, time.Millisecond) {
		c, err := read()
		if err != nil {
			return fmt.Errorf("injecting on %s: %w", ifname, err)
		}
		if c.InReceives != before {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("injecting on %s: the firewall's IP stack did not take the packet in within %v (InReceives stayed %d): dropped before IP", ifname, receiveWait, before)
		}
		time.Sleep(pause)
	}
}

// SendLocal sends ipPacket from the firewall host itself, for packets.md's
// `local` packets: through a raw socket with the header included (IPv4:
// IP_HDRINCL; IPv6: IPPROTO_RAW, which implies IPV6_HDRINCL) in the
// firewall namespace, so it takes the OUTPUT and POSTROUTING path and is
// routed by its destination. An IPv6 packet to a link-local or multicast
// destination leaves by eth0 (packets.md). For IPv4 the kernel fills in
// the total length and the header checksum, and an identification of 0
// is replaced by one of its own choosing; the rest goes out as given.
// An IPv6 ICMPv6 error with no extension header goes out, byte for byte
// as given, on an ICMPv6 socket instead (sendICMPv6Error).
//
// The socket lives only for this call: a raw socket left open would take
// delivery of incoming packets of its protocol, and the host would then
// no longer answer them with protocol unreachable.
func (f *Firewall) SendLocal(ipPacket []byte) error {
	if len(ipPacket) >= 40 && ipPacket[0]>>4 == 6 {
		return f.sendLocal6(ipPacket)
	}
	if len(ipPacket) < 20 || ipPacket[0]>>4 != 4 {
		return errors.New("sending a local packet: need an IPv4 packet of at least 20 bytes or an IPv6 one of at least 40")
	}
	dst := [4]byte(ipPacket[16:20])
	return inNamespace(f.NS, func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
		if err != nil {
			return fmt.Errorf("opening a raw socket in %s: %w", f.NS, err)
		}
		defer unix.Close(fd)
		if err := unix.Sendto(fd, ipPacket, 0, &unix.SockaddrInet4{Addr: dst}); err != nil {
			return fmt.Errorf("sending a local packet to %s from %s: %w", netip.AddrFrom4(dst), f.NS, err)
		}
		return nil
	})
}

func (f *Firewall) sendLocal6(ipPacket []byte) error {
	dst := netip.AddrFrom16([16]byte(ipPacket[24:40]))
	to := &unix.SockaddrInet6{Addr: dst.As16()}
	if dst.IsLinkLocalUnicast() || dst.IsMulticast() {
		l, err := f.link("eth0")
		if err != nil {
			return err
		}
		// The zone is eth0's index in the firewall namespace, which is
		// looked up from in there.
		if err := inNamespace(f.NS, func() error {
			ifc, err := net.InterfaceByName(l.Name)
			if err != nil {
				return err
			}
			to.ZoneId = uint32(ifc.Index)
			return nil
		}); err != nil {
			return fmt.Errorf("sending a local packet to %s: %w", dst, err)
		}
	}
	if icmpv6ErrorAlone(ipPacket) {
		return f.sendICMPv6Error(ipPacket, to)
	}
	return inNamespace(f.NS, func() error {
		fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
		if err != nil {
			return fmt.Errorf("opening a raw IPv6 socket in %s: %w", f.NS, err)
		}
		defer unix.Close(fd)
		if err := unix.Sendto(fd, ipPacket, 0, to); err != nil {
			return fmt.Errorf("sending a local packet to %s from %s: %w", dst, f.NS, err)
		}
		return nil
	})
}

// icmpv6ErrorAlone reports whether the IPv6 packet p is an ICMPv6 error
// (type below 128) right after the IPv6 header, with flow label 0, a
// payload length that covers the rest, and a right checksum: what an
// ICMPv6 socket sends as given, header fields and all (sendICMPv6Error).
func icmpv6ErrorAlone(p []byte) bool {
	if len(p) < 48 || p[6] != 58 || p[40] >= 128 || p[1]&0x0f != 0 || p[2] != 0 || p[3] != 0 ||
		int(p[4])<<8|int(p[5]) != len(p)-40 {
		return false
	}
	// The ICMPv6 checksum over the pseudo header and the message.
	var sum uint32
	add := func(b []byte) {
		for i := 0; i+1 < len(b); i += 2 {
			sum += uint32(b[i])<<8 | uint32(b[i+1])
		}
		if len(b)%2 == 1 {
			sum += uint32(b[len(b)-1]) << 8
		}
	}
	add(p[8:40])
	n := len(p) - 40
	sum += uint32(n>>16) + uint32(n&0xffff) + 58
	add(p[40:])
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return sum == 0xffff
}

// sendICMPv6Error sends the ICMPv6 error p (icmpv6ErrorAlone) from the
// firewall host on an ICMPv6 socket, its source, hop limit and traffic
// class given as ancillary data and automatic flow labels off, so that
// what leaves is p byte for byte. A raw socket with the header
// included would send the same bytes, but rawv6_send_hdrinc leaves the
// transport header at the IPv6 header, and ip6t_NPT, which finds the
// error it translates the quote of there (icmpv6_bounced_ipv6hdr), would
// then leave the quoted packet alone; the kernel's own errors
// (icmp6_send) and any socket's have it at the ICMPv6 header, as packets.md's
// local packets do.
func (f *Firewall) sendICMPv6Error(p []byte, to *unix.SockaddrInet6) error {
	return inNamespace(f.NS, func() error {
		fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMPV6)
		if err != nil {
			return fmt.Errorf("opening an ICMPv6 socket in %s: %w", f.NS, err)
		}
		defer unix.Close(fd)
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_AUTOFLOWLABEL, 0); err != nil {
			return fmt.Errorf("switching automatic flow labels off: %w", err)
		}
		// Any source, as with the header included: a link-local one of
		// another link than the one the packet leaves by too.
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_FREEBIND, 1); err != nil {
			return fmt.Errorf("setting IPV6_FREEBIND: %w", err)
		}
		src := netip.AddrFrom16([16]byte(p[8:24]))
		info := unix.Inet6Pktinfo{Addr: src.As16(), Ifindex: to.ZoneId}
		if info.Ifindex == 0 && src.IsLinkLocalUnicast() {
			// The kernel takes a link-local source only with an
			// interface (ip6_datagram_send_ctl): the one that has it.
			// With a source given, the interface does not bind the
			// route, which still follows the destination.
			ifc, err := interfaceWith(src)
			if err != nil {
				return err
			}
			info.Ifindex = uint32(ifc)
		}
		oob := unix.PktInfo6(&info)
		for _, c := range []struct{ typ, v int }{{unix.IPV6_HOPLIMIT, int(p[7])}, {unix.IPV6_TCLASS, int(p[0]&0x0f)<<4 | int(p[1]>>4)}} {
			b := make([]byte, unix.CmsgSpace(4))
			h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
			h.Level, h.Type = unix.IPPROTO_IPV6, int32(c.typ)
			h.SetLen(unix.CmsgLen(4))
			*(*int32)(unsafe.Pointer(&b[unix.CmsgLen(0)])) = int32(c.v)
			oob = append(oob, b...)
		}
		if err := unix.Sendmsg(fd, p[40:], oob, to, 0); err != nil {
			return fmt.Errorf("sending a local ICMPv6 error to %s from %s: %w", netip.AddrFrom16(to.Addr), f.NS, err)
		}
		return nil
	})
}

// interfaceWith returns the index of the interface that has the
// address a, in the calling thread's namespace.
func interfaceWith(a netip.Addr) (int, error) {
	ifcs, err := net.Interfaces()
	if err != nil {
		return 0, err
	}
	for _, ifc := range ifcs {
		addrs, err := ifc.Addrs()
		if err != nil {
			return 0, err
		}
		for _, ad := range addrs {
			if n, ok := ad.(*net.IPNet); ok {
				if b, ok := netip.AddrFromSlice(n.IP); ok && b.Unmap() == a {
					return ifc.Index, nil
				}
			}
		}
	}
	return 0, fmt.Errorf("no interface has %s", a)
}

// Capture returns the IP packets (without their Ethernet header) that left
// the firewall through interface ifname since the previous Capture of it,
// or since the firewall was built, oldest first. It waits CaptureWait
// after the last frame for stragglers. An ARP request or an IPv6
// neighbour solicitation from the firewall is reported as an error
// alongside the packets: it means a packet went to an address with no
// neighbour entry and waits for an answer that never comes (see
// AddNeighbour).
func (f *Firewall) Capture(ifname string) ([][]byte, error) {
	l, err := f.link(ifname)
	if err != nil {
		return nil, err
	}
	got, err := f.capture([]*link{l}, f.captureWait())
	return got[ifname], err
}

// CaptureN is Capture for a test that knows how many packets must
// leave by ifname: it keeps capturing until n have arrived or max has
// passed, then waits CaptureWait for stragglers. On a loaded machine
// the kernel may forward an injected packet from ksoftirqd many
// milliseconds later, after Capture's quiet wait has ended; a count
// known in advance waits for it instead of missing it.
func (f *Firewall) CaptureN(ifname string, n int, max time.Duration) ([][]byte, error) {
	l, err := f.link(ifname)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(max)
	var all [][]byte
	for {
		got, err := f.capture([]*link{l}, f.captureWait())
		all = append(all, got[ifname]...)
		if err != nil || len(all) >= n || time.Now().After(deadline) {
			return all, err
		}
	}
}

// CaptureAll is Capture for every interface at once, with a single wait:
// the result maps each interface name to the packets that left through
// it (an interface with none maps to nil).
func (f *Firewall) CaptureAll() (map[string][][]byte, error) {
	return f.capture(f.links, f.captureWait())
}

func (f *Firewall) captureWait() time.Duration {
	if f.CaptureWait <= 0 {
		return DefaultCaptureWait
	}
	return f.CaptureWait
}

// capture reads what the links' capture sockets hold, then waits up to
// wait for more, until a wait passes with nothing new.
func (f *Firewall) capture(links []*link, wait time.Duration) (map[string][][]byte, error) {
	got := make(map[string][][]byte, len(links))
	var errs []error
	buf := make([]byte, 1<<16+etherHdrLen)
	pfds := make([]unix.PollFd, len(links))
	for i, l := range links {
		if l.capFD < 0 {
			return nil, fmt.Errorf("capturing on %s: firewall %s is closed", l.Name, f.NS)
		}
		pfds[i] = unix.PollFd{Fd: int32(l.capFD), Events: unix.POLLIN}
	}
	frames := 0
	for {
		// Drain every socket, then wait once for anything more.
		for _, l := range links {
			for {
				if frames++; frames > maxFramesPerCapture {
					return got, fmt.Errorf("capturing: more than %d frames in one call; something floods the links", maxFramesPerCapture)
				}
				n, from, err := unix.Recvfrom(l.capFD, buf, unix.MSG_DONTWAIT|unix.MSG_TRUNC)
				if errors.Is(err, unix.EAGAIN) {
					break
				}
				if errors.Is(err, unix.EINTR) {
					continue
				}
				if err != nil {
					return got, fmt.Errorf("capturing on %s: %w", l.Name, err)
				}
				if sll, ok := from.(*unix.SockaddrLinklayer); ok && sll.Pkttype == unix.PACKET_OUTGOING {
					continue // our own injected frame
				}
				if n > len(buf) {
					errs = append(errs, fmt.Errorf("capturing on %s: a %d-byte frame was cut to %d", l.Name, n, len(buf)))
					n = len(buf)
				}
				if n < etherHdrLen {
					continue
				}
				switch et := uint16(buf[12])<<8 | uint16(buf[13]); et {
				case etherTypeIPv6:
					if t, ok := solicitationTarget(buf[etherHdrLen:n]); ok {
						errs = append(errs, &MissingNeighbourError{Iface: l.Name, Addr: t})
						continue
					}
					got[l.Name] = append(got[l.Name], bytes.Clone(buf[etherHdrLen:n]))
				case etherTypeIPv4:
					got[l.Name] = append(got[l.Name], bytes.Clone(buf[etherHdrLen:n]))
				case etherTypeARP:
					errs = append(errs, fmt.Errorf("the firewall sent ARP on %s%s: a packet waits for a neighbour entry (AddNeighbour)", l.Name, arpTarget(buf[etherHdrLen:n])))
				default:
					errs = append(errs, fmt.Errorf("the firewall sent a frame of Ethernet type %#04x on %s", et, l.Name))
				}
			}
		}
		ts := unix.NsecToTimespec(wait.Nanoseconds())
		n, err := unix.Ppoll(pfds, &ts, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return got, fmt.Errorf("waiting for frames: %w", err)
		}
		if n == 0 {
			return got, errors.Join(errs...)
		}
	}
}

// arpTarget describes the address an ARP request asks for, for the error
// message, or returns "" if the frame is not an IPv4 ARP request.
func arpTarget(arp []byte) string {
	if len(arp) < 28 || arp[7] != 1 {
		return ""
	}
	return " asking for " + netip.AddrFrom4([4]byte(arp[24:28])).String()
}

// MissingNeighbourError says the firewall asked for a neighbour by IPv6
// neighbour discovery: a packet to Addr waits on Iface for a neighbour
// entry (AddNeighbour adds it, and the packet then leaves).
type MissingNeighbourError struct {
	Iface string
	Addr  netip.Addr
}

func (e *MissingNeighbourError) Error() string {
	return fmt.Sprintf("the firewall sent a neighbour solicitation on %s asking for %s: a packet waits for a neighbour entry (AddNeighbour)", e.Iface, e.Addr)
}

// MissingNeighbours splits what Capture returned into the neighbours the
// firewall asked for and the other errors (joined, nil when none).
func MissingNeighbours(err error) (missing []MissingNeighbourError, rest error) {
	if err == nil {
		return nil, nil
	}
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	var others []error
	for _, e := range errs {
		if m, ok := e.(*MissingNeighbourError); ok {
			missing = append(missing, *m)
			continue
		}
		others = append(others, e)
	}
	return missing, errors.Join(others...)
}

// solicitationTarget returns the target of an IPv6 neighbour
// solicitation (ICMPv6 135 right after the IPv6 header, as the kernel
// sends it), ok false for any other packet.
func solicitationTarget(p []byte) (netip.Addr, bool) {
	if len(p) < 64 || p[0]>>4 != 6 || p[6] != 58 || p[40] != 135 {
		return netip.Addr{}, false
	}
	return netip.AddrFrom16([16]byte(p[48:64])), true
}

// IPCounters are counters of the firewall namespace's IPv4 stack, from
// the Ip lines of /proc/net/snmp. A packet delivered to the host raises
// InDelivers; one for a protocol the host does not speak raises
// InUnknownProtos instead (and draws a protocol unreachable); a forwarded
// one raises ForwDatagrams.
type IPCounters struct {
	InReceives      uint64
	InDelivers      uint64
	InUnknownProtos uint64
	ForwDatagrams   uint64
	OutRequests     uint64
}

// Delivered reads the firewall namespace's IP counters. It reads
// /proc/thread-self/net/snmp from a thread inside the namespace, which
// shows the same file as `ip netns exec NS cat /proc/net/snmp` without
// starting a process.
func (f *Firewall) Delivered() (IPCounters, error) {
	return f.readSNMP("snmp", parseSNMP)
}

// Delivered6 reads the namespace's IPv6 counters (Ip6InReceives,
// Ip6InDelivers, Ip6InUnknownProtos, Ip6OutForwDatagrams and
// Ip6OutRequests of /proc/net/snmp6), as Delivered does for IPv4.
func (f *Firewall) Delivered6() (IPCounters, error) {
	return f.readSNMP("snmp6", parseSNMP6)
}

func (f *Firewall) readSNMP(file string, parse func([]byte) (IPCounters, error)) (IPCounters, error) {
	var data []byte
	err := inNamespace(f.NS, func() error {
		var err error
		data, err = os.ReadFile("/proc/thread-self/net/" + file)
		return err
	})
	if err != nil {
		return IPCounters{}, fmt.Errorf("reading IP counters of %s: %w", f.NS, err)
	}
	c, err := parse(data)
	if err != nil {
		return IPCounters{}, fmt.Errorf("reading IP counters of %s: %w", f.NS, err)
	}
	return c, nil
}

// parseSNMP6 reads /proc/net/snmp6, one "Name value" per line.
func parseSNMP6(data []byte) (IPCounters, error) {
	var c IPCounters
	want := map[string]*uint64{
		"Ip6InReceives": &c.InReceives, "Ip6InDelivers": &c.InDelivers,
		"Ip6InUnknownProtos": &c.InUnknownProtos, "Ip6OutForwDatagrams": &c.ForwDatagrams,
		"Ip6OutRequests": &c.OutRequests,
	}
	for line := range strings.Lines(string(data)) {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		p, ok := want[f[0]]
		if !ok {
			continue
		}
		v, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			return IPCounters{}, fmt.Errorf("/proc/net/snmp6: %s: %w", f[0], err)
		}
		*p = v
		delete(want, f[0])
	}
	if len(want) > 0 {
		var missing []string
		for name := range want {
			missing = append(missing, name)
		}
		sort.Strings(missing)
		return IPCounters{}, fmt.Errorf("/proc/net/snmp6: no %s", strings.Join(missing, ", "))
	}
	return c, nil
}

// parseSNMP reads the two Ip: lines of /proc/net/snmp (names, then
// values).
func parseSNMP(data []byte) (IPCounters, error) {
	var names []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || fields[0] != "Ip:" {
			continue
		}
		if names == nil {
			names = fields[1:]
			continue
		}
		vals := fields[1:]
		if len(vals) != len(names) {
			return IPCounters{}, fmt.Errorf("/proc/net/snmp: %d Ip names but %d values", len(names), len(vals))
		}
		var c IPCounters
		want := map[string]*uint64{
			"InReceives": &c.InReceives, "InDelivers": &c.InDelivers,
			"InUnknownProtos": &c.InUnknownProtos, "ForwDatagrams": &c.ForwDatagrams,
			"OutRequests": &c.OutRequests,
		}
		for i, name := range names {
			p, ok := want[name]
			if !ok {
				continue
			}
			v, err := strconv.ParseUint(vals[i], 10, 64)
			if err != nil {
				return IPCounters{}, fmt.Errorf("/proc/net/snmp: Ip %s: %w", name, err)
			}
			*p = v
			delete(want, name)
		}
		if len(want) > 0 {
			var missing []string
			for name := range want {
				missing = append(missing, name)
			}
			sort.Strings(missing)
			return IPCounters{}, fmt.Errorf("/proc/net/snmp: no Ip %s", strings.Join(missing, ", "))
		}
		return c, nil
	}
	return IPCounters{}, errors.New("/proc/net/snmp: no Ip lines")
}

// drain discards whatever the capture sockets hold, without waiting.
func (f *Firewall) drain() {
	_, _ = f.capture(f.links, time.Nanosecond)
}
