package ext

import (
	"encoding/binary"
	"testing"

	"github.com/ipsift/ipsift/packet"
)

// dccpPkt builds a DCCP packet of type typ (X set: 48-bit sequence
// numbers) with the given options after the type's header part.
func dccpPkt(sport, dport uint16, typ uint8, opts []byte) *packet.Packet {
	h := make([]byte, 16)
	binary.BigEndian.PutUint16(h, sport)
	binary.BigEndian.PutUint16(h[2:], dport)
	h[8] = typ<<1 | 1
	h = append(h, make([]byte, dccpHdrLen(h)-16)...)
	for len(opts)%4 != 0 {
		opts = append(opts, 0)
	}
	h = append(h, opts...)
	h[4] = byte(len(h) / 4)
	return ipPkt(dccpProto, h)
}

func TestDCCPParseSave(t *testing.T) {
	saves(t,
		"-p dccp --dport 5000", "-p dccp -m dccp --dport 5000",
		"-p dccp -m dccp --dccp-types request,Invalid", "-p dccp -m dccp --dccp-types REQUEST,INVALID",
		"-p dccp -m dccp --dccp-option 0x20", "-p dccp -m dccp --dccp-option 32",
		"-p dccp -m dccp ! --dccp-option 32 --sport 1", "-p dccp -m dccp --sport 1 ! --dccp-option 32",
	)
	parseFails(t,
		"-p dccp -m dccp --dccp-types FOO",
		"-p dccp -m dccp --dccp-option 0",
		"-p dccp -m dccp --sport 1 --source-port 2",
		"-p dccp -m dccp --dport 5:4",
	)
}

func TestDCCPPrint(t *testing.T) {
	runPrintCases(t, []printCase{
		{"-p dccp -m dccp ! --dccp-types INVALID,REQUEST --dccp-option 4", "dccp", " dccp ! 0,10,11,12,13,14,15 option=4", " dccp ! REQUEST,INVALID option=4"},
		{"-p dccp -m dccp --sport :", "dccp", " dccp", " dccp"},
		// No service is defined for dccp: numbers even without -n.
		{"-p dccp -m dccp --dport 22", "dccp", " dccp dpt:22", " dccp dpt:22"},
	})
}

func TestDCCPMatch(t *testing.T) {
	req := dccpPkt(1000, 5000, 0, []byte{32, 3, 1})
	ack := dccpPkt(1000, 5000, 3, nil)
	bad := dccpPkt(1000, 5000, 3, []byte{32, 3, 1})
	bad.L4[4] = 4 // data offset 16, below the 24 bytes of an ACK header
	inval := dccpPkt(1, 2, 13, nil)
	runMatchCases(t, []matchCase{
		{rule: "-p dccp --dport 5000", name: "dccp", pkt: req, want: true},
		{rule: "-p dccp --dccp-types REQUEST", name: "dccp", pkt: req, want: true},
		{rule: "-p dccp --dccp-types REQUEST", name: "dccp", pkt: ack},
		{rule: "-p dccp ! --dccp-types REQUEST", name: "dccp", pkt: ack, want: true},
		{rule: "-p dccp --dccp-types INVALID", name: "dccp", pkt: inval, want: true},
		{rule: "-p dccp --dccp-option 32", name: "dccp", pkt: req, want: true},
		{rule: "-p dccp --dccp-option 3", name: "dccp", pkt: req},
		// The 1 is inside option 32's body (length 3): not an option.
		{rule: "-p dccp --dccp-option 1", name: "dccp", pkt: req},
		{rule: "-p dccp --dccp-option 32", name: "dccp", pkt: ack},
		{rule: "-p dccp ! --dccp-option 32", name: "dccp", pkt: ack, want: true},
		{rule: "-p dccp --dccp-option 32", name: "dccp", pkt: bad, hotdrop: true},
		{rule: "-p dccp --dccp-option 32", name: "dccp", pkt: truncated(dccpPkt(1, 2, 0, []byte{32, 3, 1}), 20), hotdrop: true},
		{rule: "-p dccp --dport 2", name: "dccp", pkt: truncated(dccpPkt(1, 2, 0, nil), 11), hotdrop: true},
		{rule: "-p dccp --dport 2", name: "dccp", pkt: laterFragment(dccpPkt(1, 2, 0, nil), 3)},
	})
}
