package conntrack

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/packet"
)

// FuzzTrack drives a small table (Max 16) with packet sequences drawn
// from a few hosts, ports and protocols, with NAT, confirmations,
// discards and time, and checks after every step that nothing panics
// and the table's invariants hold (see checkInvariants). Some inputs are
// raw packets instead, to shake the parsers.
func FuzzTrack(f *testing.F) {
	f.Add([]byte{0x01, 0x02, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60})
	f.Add([]byte("\x00\x12\x34\x56\x78\x9a\xbc\xde\xf0\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\xcc\xdd\xee\xff"))
	// Raw packets of protocols whose headers the decoder does not check
	// (UDP-Lite, DCCP, SCTP, GRE), cut short.
	for _, proto := range []uint8{136, 33, 132, 47} {
		raw := rawIP(client, server, proto, 6)
		f.Add(append([]byte{0xff, byte(len(raw))}, raw...))
	}
	for _, s := range append(append(scenarios, ipv6Scenarios...), scenarios6()...) {
		var seed []byte
		for _, st := range s.steps {
			seed = append(seed, 0xff, byte(len(st.pkt)))
			seed = append(seed, st.pkt...)
		}
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg := DefaultConfig()
		cfg.Max = 16
		cfg.Seed = 7
		tb := New(cfg)
		hosts := []netip.Addr{client, server, fwOut, server2}
		now := int64(1e12)
		next := func() byte {
			if len(data) == 0 {
				return 0
			}
			b := data[0]
			data = data[1:]
			return b
		}
		for steps := 0; len(data) > 0 && steps < 200; steps++ {
			op := next()
			var b []byte
			if op == 0xff {
				// A raw packet of the given length.
				n := int(next())
				if n > len(data) {
					n = len(data)
				}
				b = append([]byte(nil), data[:n]...)
				data = data[n:]
			} else {
				src, dst := hosts[op&3], hosts[op>>2&3]
				sp, dp := uint16(1000+int(next()&3)), uint16(22+int(next()&1))
				seq := uint32(next())<<24 | uint32(next())
				ack := uint32(next())<<24 | uint32(next())
				switch op >> 4 & 7 {
				case 0, 1, 2:
					b = tcpSegment(src, dst, sp, dp, packet.TCPFlags(next()).String(), seq, ack, uint16(next())<<4, nil, int(next()&7))
				case 3:
					b = udpDatagram(src, dst, sp, dp, int(next()&7))
				case 4:
					b = icmpMsg(src, dst, next()%20, 0, sp, 0, nil)
				case 5:
					b = icmpError(src, dst, 3, 3, tcpSegment(dst, src, dp, sp, "A", seq, ack, 1, nil, 0), next()&1 == 0)
				case 6:
					b = rawIP(src, dst, 47, int(next()&15))
				default:
					b = rawIP(src, dst, 200, 0)
				}
			}
			now += int64(next()) * 1e9 / 16
			var p packet.Packet
			if p.Decode(b) != nil {
				continue
			}
			var e *Entry
			var st ext.CTState
			var reply bool
			if op&0x80 != 0 {
				e, st, reply = tb.TrackLocal(&p, now)
			} else {
				e, st, reply = tb.Track(&p, now)
			}
			if e == nil {
				if st != ext.CTInvalid && st != Drop && st != ext.CTUntracked {
					t.Fatalf("nil entry with state %v", st)
				}
				checkInvariants(t, tb)
				continue
			}
			_, _, _, _ = e.Conn(reply).Tuple(1)
			ipOK := p.IPChecksumOK()
			_ = e.String()
			ctl := next()
			if st == ext.CTNew && !e.HasNAT(ext.NATDst) {
				switch ctl & 3 {
				case 1:
					tb.SetupNAT(e, &ext.NATRequest{Kind: ext.NATDst, Range: ext.NATRange{Flags: ext.NATMapIPs | ext.NATProtoSpecified,
						MinAddr: server, MaxAddr: server2, MinPort: 22, MaxPort: 23}}, netip.Addr{})
				case 2:
					tb.SetupNAT(e, &ext.NATRequest{Kind: ext.NATDst, Redirect: true}, fwOut)
				}
				tb.SetupNullNAT(e, ext.NATDst)
			}
			if !tb.Translate(e, reply, ext.NATDst, &p) {
				tb.Discard(e)
				checkInvariants(t, tb)
				continue
			}
			if st == ext.CTNew && !e.HasNAT(ext.NATSrc) {
				switch ctl >> 2 & 3 {
				case 1:
					tb.SetupNAT(e, &ext.NATRequest{Kind: ext.NATSrc, Masquerade: true}, fwOut)
				case 2:
					tb.SetupNAT(e, &ext.NATRequest{Kind: ext.NATSrc, Range: ext.NATRange{Flags: ext.NATMapIPs | ext.NATProtoSpecified | ext.NATProtoRandom,
						MinAddr: fwOut, MaxAddr: fwOut, MinPort: 1000, MaxPort: 1001}}, netip.Addr{})
				}
				tb.SetupNullNAT(e, ext.NATSrc)
			}
			tb.Translate(e, reply, ext.NATSrc, &p)
			if ipOK && !p.IPChecksumOK() {
				t.Fatalf("NAT broke the IP checksum: %x", p.Data)
			}
			if ctl&0x40 != 0 {
				tb.Discard(e)
			} else {
				tb.Confirm(e, now)
			}
			if ctl&0x80 != 0 {
				tb.Expire(now)
			}
			checkInvariants(t, tb)
			if tb.Len() > cfg.Max || tb.Count() > cfg.Max {
				t.Fatalf("len %d count %d over max", tb.Len(), tb.Count())
			}
		}
	})
}

// FuzzTranslateICMP feeds arbitrary ICMP errors related to a NATed
// connection to Translate: it must not panic, and what it passes keeps
// a valid IP header checksum.
func FuzzTranslateICMP(f *testing.F) {
	f.Add(udpDatagram(fwOut, client, 33001, 53, 20)[:28], uint8(3))
	f.Fuzz(func(t *testing.T, quoted []byte, typ uint8) {
		r := newRouter(t, DefaultConfig())
		gatewayNAT(r)
		r.forward("wlan0", udpDatagram(server, client, 33001, 53, 20))
		b := icmpMsg(client, fwOut, typ, 3, 0, 0, quoted)
		binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
		var p packet.Packet
		if p.Decode(b) != nil {
			return
		}
		e, _, reply := r.tb.Track(&p, r.now)
		if e == nil {
			return
		}
		if r.tb.Translate(e, reply, ext.NATDst, &p) && !p.IPChecksumOK() {
			t.Fatalf("bad IP checksum after translation")
		}
	})
}
