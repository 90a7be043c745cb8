package ext

import (
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"

	"github.com/ipsift/ipsift/packet"
)

// Packet builders for the target tests: they write real header bytes
// with correct checksums and set the packet.Packet fields directly, so
// the tests do not depend on the decoder.

type ipOpts struct {
	tos   uint8
	ttl   uint8
	id    uint16
	frag  uint16 // flags and offset as on the wire
	opts  []byte // IP options, a multiple of 4 bytes
	proto uint8
}

func mkIPv4(src, dst string, o ipOpts, l4 []byte) *packet.Packet {
	hl := 20 + len(o.opts)
	d := make([]byte, hl+len(l4))
	d[0] = 0x40 | byte(hl/4)
	d[1] = o.tos
	binary.BigEndian.PutUint16(d[2:], uint16(len(d)))
	binary.BigEndian.PutUint16(d[4:], o.id)
	binary.BigEndian.PutUint16(d[6:], o.frag)
	if o.ttl == 0 {
		o.ttl = 64
	}
	d[8] = o.ttl
	d[9] = o.proto
	s, t := netip.MustParseAddr(src), netip.MustParseAddr(dst)
	s4, t4 := s.As4(), t.As4()
	copy(d[12:], s4[:])
	copy(d[16:], t4[:])
	copy(d[20:], o.opts)
	copy(d[hl:], l4)
	SetIPv4HeaderChecksum(d)
	p := &packet.Packet{
		Data: d, Version: 4, HdrLen: hl, TotalLen: len(d), TOS: o.tos, TTL: o.ttl,
		ID: o.id, DF: o.frag&0x4000 != 0, MF: o.frag&0x2000 != 0, FragOff: o.frag & 0x1fff,
		Proto: o.proto, Src: s, Dst: t, L4: d[hl:],
	}
	return p
}

type tcpOpts struct {
	sport, dport uint16
	seq, ack     uint32
	flags        uint8
	win          uint16
	opts         []byte
	payload      []byte
}

func mkTCP(src, dst string, io ipOpts, o tcpOpts) *packet.Packet {
	hl := 20 + len(o.opts)
	t := make([]byte, hl+len(o.payload))
	binary.BigEndian.PutUint16(t[0:], o.sport)
	binary.BigEndian.PutUint16(t[2:], o.dport)
	binary.BigEndian.PutUint32(t[4:], o.seq)
	binary.BigEndian.PutUint32(t[8:], o.ack)
	t[12] = byte(hl/4) << 4
	t[13] = o.flags
	binary.BigEndian.PutUint16(t[14:], o.win)
	copy(t[20:], o.opts)
	copy(t[hl:], o.payload)
	s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
	binary.BigEndian.PutUint16(t[16:], Checksum(t, PseudoSum(s, d, 6, len(t))))
	io.proto = 6
	p := mkIPv4(src, dst, io, t)
	p.L4OK = true
	p.SrcPort, p.DstPort = o.sport, o.dport
	p.TCPFlags, p.TCPDoff, p.Seq, p.Ack, p.Window = o.flags, hl, o.seq, o.ack, o.win
	return p
}

func mkUDP(src, dst string, sport, dport uint16, payload []byte) *packet.Packet {
	u := make([]byte, 8+len(payload))
	binary.BigEndian.PutUint16(u[0:], sport)
	binary.BigEndian.PutUint16(u[2:], dport)
	binary.BigEndian.PutUint16(u[4:], uint16(len(u)))
	copy(u[8:], payload)
	s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
	binary.BigEndian.PutUint16(u[6:], Checksum(u, PseudoSum(s, d, 17, len(u))))
	p := mkIPv4(src, dst, ipOpts{proto: 17}, u)
	p.L4OK = true
	p.SrcPort, p.DstPort = sport, dport
	return p
}

func mkICMP(src, dst string, typ, code uint8, rest []byte) *packet.Packet {
	m := make([]byte, 4+len(rest))
	m[0], m[1] = typ, code
	copy(m[4:], rest)
	binary.BigEndian.PutUint16(m[2:], Checksum(m, 0))
	p := mkIPv4(src, dst, ipOpts{proto: 1}, m)
	p.L4OK = len(m) >= 8
	p.ICMPType, p.ICMPCode = typ, code
	return p
}

// parseTarget parses the words of a target's options for table/chain
// with -p proto and fails the test on error.
func parseTarget(t *testing.T, name, opts, table, chain string, proto uint8) Target {
	t.Helper()
	inst, err := newTarget(name, opts, table, chain, proto)
	if err != nil {
		t.Fatalf("-j %s %s: %v", name, opts, err)
	}
	return inst
}

func newTarget(name, opts, table, chain string, proto uint8) (Target, error) {
	ri := &RuleInfo{Family: IPv4, Table: table, Chain: chain, Proto: proto, Hooks: 1 << chainHooks[chain]}
	if _, err := driveTarget(name, shellWords(opts), ri); err != nil {
		return nil, err
	}
	// driveTarget made its own instance; make ours the same way.
	tt := LookupTarget(name, IPv4)
	inst := tt.New()
	words := shellWords(opts)
	args := &Args{Words: words}
	for args.Next < len(words) {
		w := words[args.Next][2:]
		args.Next++
		var opt *Option
		for i := range tt.Options {
			if tt.Options[i].Name == w {
				opt = &tt.Options[i]
				break
			}
			if opt == nil && strings.HasPrefix(tt.Options[i].Name, w) {
				opt = &tt.Options[i]
			}
		}
		arg := ""
		if opt.Arg == OneArg {
			arg = words[args.Next]
			args.Next++
		}
		if err := inst.Parse(opt.Name, arg, false, args); err != nil {
			return nil, err
		}
	}
	if err := inst.Finish(ri); err != nil {
		return nil, err
	}
	return inst, nil
}

func compileTarget(t *testing.T, tg Target) Action {
	t.Helper()
	a, err := tg.Compile(NewCompiler(nil))
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return a
}

func printTarget(tg Target, numeric bool) string {
	var b strings.Builder
	tg.Print(&b, numeric)
	return b.String()
}

func saveTarget(tg Target) string {
	var b strings.Builder
	tg.Save(&b)
	return b.String()
}
