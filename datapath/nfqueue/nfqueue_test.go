package nfqueue

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// packetMsg builds an NFQNL_MSG_PACKET netlink message as the kernel sends it.
func packetMsg(id uint32, hook uint8, mark, indev, skbinfo uint32, payload []byte) []byte {
	var attrs []byte
	attr := func(typ uint16, v []byte) {
		attrs = binary.NativeEndian.AppendUint16(attrs, uint16(4+len(v)))
		attrs = binary.NativeEndian.AppendUint16(attrs, typ)
		attrs = append(attrs, v...)
		for len(attrs)%4 != 0 {
			attrs = append(attrs, 0)
		}
	}
	hdr := binary.BigEndian.AppendUint32(nil, id)
	hdr = append(hdr, 0x08, 0x00, hook)
	attr(attrPacketHdr, hdr)
	attr(attrMark, binary.BigEndian.AppendUint32(nil, mark))
	attr(attrInDev, binary.BigEndian.AppendUint32(nil, indev))
	attr(attrSkbInfo, binary.BigEndian.AppendUint32(nil, skbinfo))
	attr(attrPayload, payload)
	b := binary.NativeEndian.AppendUint32(nil, uint32(nlmsgHdrLen+nfgenHdrLen+len(attrs)))
	b = binary.NativeEndian.AppendUint16(b, subsysQueue<<8|msgPacket)
	b = append(b, make([]byte, 10)...)
	b = append(b, 2, 0, 0, 7) // AF_INET, version 0, queue 7
	return append(b, attrs...)
}

func TestParseMessages(t *testing.T) {
	payload := []byte{0x45, 0, 0, 21, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17}
	buf := append(packetMsg(42, HookPreRouting, 0xc0001003, 3, SkbCsumNotReady|SkbGSO, payload),
		packetMsg(43, HookLocalOut, 0, 0, 0, payload[:20])...)
	var got []Packet
	var p Packet
	if err := ParseMessages(buf, &p, func(p *Packet) {
		c := *p
		c.Payload = append([]byte(nil), p.Payload...)
		got = append(got, c)
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("got %d packets", len(got))
	}
	g := got[0]
	if g.ID != 42 || g.Hook != HookPreRouting || g.Mark != 0xc0001003 || g.InDev != 3 || g.HWProto != 0x0800 ||
		g.SkbInfo != SkbCsumNotReady|SkbGSO || !bytes.Equal(g.Payload, payload) {
		t.Fatalf("first packet: %+v", g)
	}
	if got[1].ID != 43 || got[1].Hook != HookLocalOut || len(got[1].Payload) != 20 {
		t.Fatalf("second packet: %+v", got[1])
	}
}

func TestParseKernelError(t *testing.T) {
	b := binary.NativeEndian.AppendUint32(nil, 16+4+16)
	b = binary.NativeEndian.AppendUint16(b, 2) // NLMSG_ERROR
	b = append(b, make([]byte, 10)...)
	b = binary.NativeEndian.AppendUint32(b, 0xfffffffe) // -2: ENOENT
	b = append(b, make([]byte, 16)...)
	var p Packet
	if err := ParseMessages(b, &p, func(*Packet) {}); err == nil {
		t.Fatal("a kernel error was not reported")
	}
}

// errMsg builds an NLMSG_ERROR message answering the request with
// sequence number seq (code 0: an acknowledgement).
func errMsg(seq uint32, code int32) []byte {
	b := binary.NativeEndian.AppendUint32(nil, 16+4+16)
	b = binary.NativeEndian.AppendUint16(b, unix.NLMSG_ERROR)
	b = binary.NativeEndian.AppendUint16(b, 0)
	b = binary.NativeEndian.AppendUint32(b, seq)
	b = binary.NativeEndian.AppendUint32(b, 0)
	b = binary.NativeEndian.AppendUint32(b, uint32(code))
	return append(b, make([]byte, 16)...)
}

// The answers to requests sent with Append (their sequence numbers
// tagged with SeqTag) go to OnAck, in order with the packets around
// them; an untagged error still ends the parse.
func TestParseAcks(t *testing.T) {
	payload := make([]byte, 20)
	payload[0] = 0x45
	buf := append(packetMsg(1, HookPreRouting, 0, 0, 0, payload), errMsg(SeqTag|7, 0)...)
	buf = append(buf, errMsg(SeqTag|8, -int32(unix.EEXIST))...)
	buf = append(buf, packetMsg(2, HookPreRouting, 0, 0, 0, payload)...)
	var order []string
	var p Packet
	err := parseMessages(buf, &p, func(p *Packet) { order = append(order, "packet") }, func(seq uint32, e syscall.Errno) {
		order = append(order, fmt.Sprintf("%#x %v", seq, e))
	})
	want := []string{"packet", "0x80000007 errno 0", "0x80000008 file exists", "packet"}
	if err != nil || fmt.Sprint(order) != fmt.Sprint(want) {
		t.Fatalf("%v %v, want %v", order, err, want)
	}
	if err := parseMessages(errMsg(9, -int32(unix.ENOENT)), &p, func(*Packet) {}, func(uint32, syscall.Errno) { t.Error("an untagged error went to OnAck") }); err == nil {
		t.Fatal("an untagged kernel error was not reported")
	}
}

func TestAppendVerdict(t *testing.T) {
	payload := []byte{1, 2, 3, 4, 5}
	b := AppendVerdict(nil, 7, 42, Accept, payload, true, 0xc0000001)
	if int(binary.NativeEndian.Uint32(b)) != len(b) || len(b)%4 != 0 {
		t.Fatalf("length %d in a %d-byte message", binary.NativeEndian.Uint32(b), len(b))
	}
	if typ := binary.NativeEndian.Uint16(b[4:]); typ != subsysQueue<<8|msgVerdict {
		t.Fatalf("type %#x", typ)
	}
	if !bytes.Equal(b[16:20], []byte{0, 0, 0, 7}) {
		t.Fatalf("nfgenmsg % x", b[16:20])
	}
	want := []byte{12, 0, 2, 0, 0, 0, 0, 1, 0, 0, 0, 42, 8, 0, 3, 0, 0xc0, 0, 0, 1, 9, 0, 10, 0, 1, 2, 3, 4, 5, 0, 0, 0}
	if binary.NativeEndian.Uint16([]byte{12, 0}) != 12 {
		t.Skip("big-endian host: the literal below is little-endian")
	}
	if !bytes.Equal(b[20:], want) {
		t.Fatalf("attributes\n got % x\nwant % x", b[20:], want)
	}
	bb := AppendBatchVerdict(nil, 7, 99, Accept)
	if typ := binary.NativeEndian.Uint16(bb[4:]); typ != subsysQueue<<8|msgVerdictBatch || binary.BigEndian.Uint32(bb[28:]) != 99 {
		t.Fatalf("batch verdict % x", bb)
	}
}

func TestAppendVerdictAllocatesNothing(t *testing.T) {
	buf := make([]byte, 0, 256)
	payload := make([]byte, 100)
	if n := testing.AllocsPerRun(100, func() { buf = AppendVerdict(buf[:0], 0, 1, Accept, payload, true, 1) }); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}

func TestConfigEncoding(t *testing.T) {
	b := EncodeConfigParams(0, 4096, FlagGSO|FlagFailOpen)
	// params: len 9, type 2, be32 0xffff, copy mode 2, padding.
	if binary.NativeEndian.Uint16(b) != 9 || binary.NativeEndian.Uint16(b[2:]) != cfgParams ||
		binary.BigEndian.Uint32(b[4:]) != 0xffff || b[8] != copyPacket {
		t.Fatalf("params % x", b[:12])
	}
	if !bytes.Contains(b, []byte{0, 0, 0x10, 0}) {
		t.Fatalf("queue length missing: % x", b)
	}
}

// TestReadWriteSocket runs the hot path's system calls (recvmmsg into
// the preset buffers, the raw send) over a datagram socket pair: every
// message arrives, in order, in batches of at most recvBatch, the last
// read finds the socket empty, a flush sends the verdicts as one
// datagram, and neither direction allocates.
func TestReadWriteSocket(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	q := newQueue(Config{Num: 7, Defer: true})
	payload := []byte{0x45, 0, 0, 20, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	const n = recvBatch*2 + 3
	for i := range n {
		if _, err := unix.Write(fds[1], packetMsg(uint32(100+i), HookPreRouting, 0, 1, 0, payload)); err != nil {
			t.Fatal(err)
		}
	}
	var ids []uint32
	q.fn = func(p *Packet) { ids = append(ids, p.ID) }
	if !q.read(uintptr(fds[0])) || q.err != nil || q.n != n {
		t.Fatalf("read: err %v, %d messages", q.err, q.n)
	}
	for i, id := range ids {
		if id != uint32(100+i) {
			t.Fatalf("ids %v", ids)
		}
	}
	if len(ids) != n {
		t.Fatalf("%d packets, want %d", len(ids), n)
	}
	q.n = 0
	if q.read(uintptr(fds[0])) || q.n != 0 {
		t.Fatalf("an empty socket read %d messages", q.n)
	}
	msg := packetMsg(1, HookPreRouting, 0, 1, 0, payload)
	seen := 0
	q.fn = func(p *Packet) { seen++ }
	if a := testing.AllocsPerRun(100, func() {
		unix.Write(fds[1], msg)
		q.n = 0
		q.read(uintptr(fds[0]))
	}); a != 0 || seen == 0 {
		t.Fatalf("read: %v allocations, %d packets", a, seen)
	}
	// The send: AF_UNIX refuses the netlink address, so only check that
	// the call is made and its error reported, without allocating.
	q.wbuf = AppendBatchVerdict(q.wbuf[:0], 7, 5, Accept)
	if q.write(uintptr(fds[0])); q.err == nil {
		t.Fatal("a send to a netlink address over AF_UNIX succeeded")
	}
	if a := testing.AllocsPerRun(100, func() { q.write(uintptr(fds[0])) }); a != 0 {
		t.Fatalf("write: %v allocations", a)
	}
}
