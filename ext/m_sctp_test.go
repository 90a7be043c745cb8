package ext

import (
	"encoding/binary"
	"testing"

	"github.com/ipsift/ipsift/packet"
)

// sctpChunk is one chunk for sctpPkt: type, flags and body length.
type sctpChunk struct {
	typ, flags uint8
	body       int
}

// sctpPkt builds an SCTP packet with the given ports and chunks (each
// padded to 4 bytes).
func sctpPkt(sport, dport uint16, chunks ...sctpChunk) *packet.Packet {
	b := make([]byte, 12)
	binary.BigEndian.PutUint16(b, sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	for _, c := range chunks {
		l := 4 + c.body
		h := []byte{c.typ, c.flags, byte(l >> 8), byte(l)}
		b = append(b, h...)
		b = append(b, make([]byte, max(0, (l+3)&^3-4))...)
	}
	return ipPkt(sctpProto, b)
}

func TestSCTPParseSave(t *testing.T) {
	saves(t,
		"-p sctp --dport 5000", "-p sctp -m sctp --dport 5000",
		"-p sctp -m sctp --sport :", "-p sctp -m sctp --sport 0:65535",
		"-p sctp -m sctp --chunk-types any data,init", "-p sctp -m sctp --chunk-types any DATA,INIT",
		"-p sctp -m sctp --chunk-types ANY DATA:Be,ABORT:t", "-p sctp -m sctp --chunk-types any DATA:Be,ABORT:t",
		"-p sctp -m sctp --chunk-types all DATA:B,DATA:e", "-p sctp -m sctp --chunk-types all DATA:Be",
		"-p sctp -m sctp ! --chunk-types only all", "-p sctp -m sctp ! --chunk-types only ALL",
		"-p sctp -m sctp --chunk-types all NONE", "-p sctp -m sctp --chunk-types all NONE",
		// Flags of I_DATA are kept under the wrong chunk, so never printed.
		"-p sctp -m sctp --chunk-types any I_DATA:I,ASCONF", "-p sctp -m sctp --chunk-types any I_DATA,ASCONF",
		"-p sctp -m sctp --dport 1 --chunk-types any INIT ! --sport 2", "-p sctp -m sctp ! --sport 2 --dport 1 --chunk-types any INIT",
	)
	parseFails(t,
		"-p sctp -m sctp --chunk-types any",
		"-p sctp -m sctp --chunk-types any --dport 2",
		"-p sctp -m sctp --chunk-types some INIT",
		"-p sctp -m sctp --chunk-types any FOO",
		"-p sctp -m sctp --chunk-types any INIT:B",
		"-p sctp -m sctp --chunk-types any DATA:I,ABORT:T,SHUTDOWN_COMPLETE:T,INIT_ACK:-,SACK:-",
		"-p sctp -m sctp --sport 2 --source-port 3",
		"-p sctp -m sctp --dport 3:2",
		"-p tcp -m sctp --dport 2",
		"-p sctp -m sctp --dport ssh", // ssh is a tcp service
	)
}

func TestSCTPPrint(t *testing.T) {
	runPrintCases(t, []printCase{
		{"-p sctp -m sctp --dport 22 --chunk-types any DATA:Be,INIT", "sctp", " sctp dpt:22 any 0x0000:Be,0x0001", " sctp dpt:22 any DATA:Be,INIT"},
		{"-p sctp -m sctp --sport : ! --chunk-types all NONE", "sctp", " sctp ! all NONE", " sctp ! all NONE"},
	})
}

func TestSCTPMatch(t *testing.T) {
	initPkt := sctpPkt(5000, 22, sctpChunk{typ: 1, body: 16})
	dataPkt := sctpPkt(5000, 22, sctpChunk{typ: 0, flags: 0x03, body: 13}, sctpChunk{typ: 3, body: 12})
	runMatchCases(t, []matchCase{
		{rule: "-p sctp --dport 22", name: "sctp", pkt: initPkt, want: true},
		{rule: "-p sctp ! --dport 22", name: "sctp", pkt: initPkt},
		{rule: "-p sctp --sport 4000:5000", name: "sctp", pkt: initPkt, want: true},
		{rule: "-p sctp --chunk-types any INIT", name: "sctp", pkt: initPkt, want: true},
		{rule: "-p sctp --chunk-types any DATA,SACK", name: "sctp", pkt: initPkt},
		{rule: "-p sctp ! --chunk-types any DATA,SACK", name: "sctp", pkt: initPkt, want: true},
		{rule: "-p sctp --chunk-types all DATA,SACK", name: "sctp", pkt: dataPkt, want: true},
		{rule: "-p sctp --chunk-types all DATA,SACK,INIT", name: "sctp", pkt: dataPkt},
		{rule: "-p sctp --chunk-types only DATA,SACK,INIT", name: "sctp", pkt: dataPkt, want: true},
		{rule: "-p sctp --chunk-types only DATA", name: "sctp", pkt: dataPkt},
		{rule: "-p sctp --chunk-types any DATA:BE", name: "sctp", pkt: dataPkt, want: true},
		{rule: "-p sctp --chunk-types any DATA:bE", name: "sctp", pkt: dataPkt},
		{rule: "-p sctp --chunk-types all DATA:bE,SACK", name: "sctp", pkt: dataPkt},
		{rule: "-p sctp --chunk-types only DATA:bE,SACK", name: "sctp", pkt: dataPkt},
		{rule: "-p sctp --chunk-types any ALL", name: "sctp", pkt: dataPkt, want: true},
		{rule: "-p sctp --chunk-types only ALL", name: "sctp", pkt: dataPkt, want: true},
		// "all ALL" never matches: the kernel's map has 2048 bits.
		{rule: "-p sctp --chunk-types all ALL", name: "sctp", pkt: dataPkt},
		{rule: "-p sctp --chunk-types all NONE", name: "sctp", pkt: dataPkt, want: true},
		{rule: "-p sctp --chunk-types any NONE", name: "sctp", pkt: dataPkt},
		// Hotdrops: no chunk, a chunk of length 0, a header cut short.
		{rule: "-p sctp --chunk-types any INIT", name: "sctp", pkt: sctpPkt(1, 2), hotdrop: true},
		{rule: "-p sctp --dport 2", name: "sctp", pkt: sctpPkt(1, 2), want: true},
		{rule: "-p sctp --dport 3 --chunk-types any INIT", name: "sctp", pkt: sctpPkt(1, 2)},
		{rule: "-p sctp --chunk-types all SACK", name: "sctp", pkt: sctpPkt(1, 2, sctpChunk{typ: 3, body: -4}), hotdrop: true},
		{rule: "-p sctp ! --chunk-types all SACK", name: "sctp", pkt: sctpPkt(1, 2, sctpChunk{typ: 3, body: -4}), hotdrop: true},
		// "any" stops at the first hit, before the broken chunk.
		{rule: "-p sctp --chunk-types any INIT", name: "sctp", pkt: sctpPkt(1, 2, sctpChunk{typ: 1}, sctpChunk{typ: 3, body: -4}), want: true},
		{rule: "-p sctp -m sctp", name: "sctp", pkt: truncated(sctpPkt(1, 2, sctpChunk{typ: 1}), 11), hotdrop: true},
		{rule: "-p sctp -m sctp", name: "sctp", pkt: laterFragment(sctpPkt(1, 2, sctpChunk{typ: 1}), 2)},
	})
}
