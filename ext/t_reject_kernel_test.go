package ext

import (
	"encoding/binary"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/ipsift/ipsift/packet"
)

// Replies captured from Linux 6.18 (filter INPUT, REJECT) for the same
// packets sent over a veth pair in network namespaces. The kernel's ICMP
// errors carry a hashed IP ID; the comparison zeroes it (and the header
// checksum that covers it). The kernel's RST leaves the TCP checksum to
// the device (CHECKSUM_PARTIAL: the field holds the pseudo-header sum,
// 0x5485 here) and veth hands it on unfinished, so the captured field is
// not the wire value; ipsift writes the finished checksum, which the
// comparison checks separately.
const (
	kernelRSTForSYN   = "45000028000040004006e665c6336402c633640100179c4000000000000003ec5014000054850000"
	kernelRSTForACK   = "45000028000040004006e665c6336402c633640100179c4100000063000000005004000054850000"
	kernelAdminProhib = "45cc0240809a00004001a2ecc6336402c6336401030dae8d00000000452d02d8030940003211ee74c6336401c63364021388003502c4dd8978787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878"
)

func TestRejectMatchesKernel(t *testing.T) {
	const a, b = "198.51.100.1", "198.51.100.2"
	syn := mkTCP(a, b, ipOpts{tos: 0x10, ttl: 50, id: 777, frag: 0x4000},
		tcpOpts{sport: 40000, dport: 23, seq: 1000, flags: packet.TCPSyn, win: 1000, payload: []byte("abc")})
	ack := mkTCP(a, b, ipOpts{tos: 0x10, ttl: 50, id: 777, frag: 0x4000},
		tcpOpts{sport: 40001, dport: 23, seq: 5, ack: 99, flags: packet.TCPAck | packet.TCPFin, win: 1000})
	for _, tc := range []struct {
		p    *packet.Packet
		want string
	}{{syn, kernelRSTForSYN}, {ack, kernelRSTForACK}} {
		got := BuildReset(&Ctx{Pkt: tc.p, Hook: LocalIn})
		if Checksum(got[20:], PseudoSum(tc.p.Dst, tc.p.Src, 6, 20)) != 0 {
			t.Errorf("RST TCP checksum wrong")
		}
		got[36], got[37] = 0x54, 0x85 // the kernel's unfinished checksum
		if hex.EncodeToString(got) != tc.want {
			t.Errorf("RST\n got  %x\n want %s", got, tc.want)
		}
	}

	u := make([]byte, 8+700)
	binary.BigEndian.PutUint16(u[0:], 5000)
	binary.BigEndian.PutUint16(u[2:], 53)
	binary.BigEndian.PutUint16(u[4:], uint16(len(u)))
	copy(u[8:], strings.Repeat("x", 700))
	udp := mkIPv4(a, b, ipOpts{tos: 0x2d, ttl: 50, id: 777, frag: 0x4000, proto: 17}, u)
	binary.BigEndian.PutUint16(u[6:], Checksum(u, PseudoSum(udp.Src, udp.Dst, 17, len(u))))
	copy(udp.Data[20:], u)
	got := BuildUnreach(&Ctx{Pkt: udp, Hook: LocalIn}, 13)
	want, _ := hex.DecodeString(kernelAdminProhib)
	if len(got) != len(want) {
		t.Fatalf("ICMP length %d, kernel's %d", len(got), len(want))
	}
	for _, b := range [][]byte{got, want} {
		b[4], b[5], b[10], b[11] = 0, 0, 0, 0 // IP ID and header checksum
	}
	if string(got) != string(want) {
		t.Errorf("ICMP error differs from the kernel's\n got  %x\n want %x", got[:64], want[:64])
	}
}
