package conntrack

import (
	"net/netip"
	"runtime"
	"testing"

	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/packet"
)

// BenchmarkTrackEstablished: one packet of an established TCP flow
// through Track, both NAT hooks (null binding: nothing to rewrite) and
// Confirm, as the engine runs it. 0 allocs/op.
func BenchmarkTrackEstablished(b *testing.B) {
	tb := New(DefaultConfig())
	for _, s := range handshake(47000) {
		track(b, tb, sec, s.pkt)
	}
	pkt := tcpSegment(client, server, 47000, 22, "A", 1001, 5001, 8192, nil, 0)
	var p packet.Packet
	p.Decode(pkt)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e, st, reply := tb.Track(&p, sec)
		if st != ext.CTEstablished {
			b.Fatal(st)
		}
		_ = e.Conn(reply)
		tb.Translate(e, reply, ext.NATDst, &p)
		tb.Translate(e, reply, ext.NATSrc, &p)
		tb.Confirm(e, sec)
	}
}

// BenchmarkTrackEstablishedUDP: the same for a UDP flow (no window
// tracking, no per-connection lock).
func BenchmarkTrackEstablishedUDP(b *testing.B) {
	tb := New(DefaultConfig())
	track(b, tb, sec, udpDatagram(client, server, 5000, 53, 0))
	track(b, tb, sec, udpDatagram(server, client, 53, 5000, 0))
	var p packet.Packet
	p.Decode(udpDatagram(client, server, 5000, 53, 100))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tb.Track(&p, sec)
	}
}

// BenchmarkTrackEstablishedParallel: established UDP flows from all
// CPUs at once, each goroutine on flows of its own.
func BenchmarkTrackEstablishedParallel(b *testing.B) {
	tb := New(DefaultConfig())
	const flows = 1024
	pkts := make([][]byte, flows)
	for i := range pkts {
		src := netip.AddrFrom4([4]byte{203, 0, 113, byte(i)})
		port := uint16(10000 + i)
		track(b, tb, sec, udpDatagram(src, server, port, 53, 0))
		track(b, tb, sec, udpDatagram(server, src, 53, port, 0))
		pkts[i] = udpDatagram(src, server, port, 53, 100)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var p packet.Packet
		i := 0
		for pb.Next() {
			p.Decode(pkts[i%flows])
			i += 7
			if _, st, _ := tb.Track(&p, sec); st != ext.CTEstablished {
				b.Fatal(st)
			}
		}
	})
}

// flowPacket returns the first packet of the i-th distinct UDP flow.
func flowPacket(i int) []byte {
	src := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
	return udpDatagram(src, server, uint16(1024+i%50000), 53, 0)
}

// BenchmarkNewFlow: creating and confirming a new connection (a UDP
// flow's first packet), in a table large enough never to be full.
func BenchmarkNewFlow(b *testing.B) {
	cfg := DefaultConfig()
	cfg.Max = 1 << 30
	tb := New(cfg)
	pkts := make([]packet.Packet, b.N)
	for i := range pkts {
		pkts[i].Decode(flowPacket(i))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range pkts {
		e, st, _ := tb.Track(&pkts[i], sec)
		if st != ext.CTNew {
			b.Fatal(st)
		}
		tb.Confirm(e, sec)
	}
}

// BenchmarkNewFlowNAT: a new connection with the null binding for both
// manipulations (the nat table loaded, no rule matching), as most new
// connections of a NAT gateway go.
func BenchmarkNewFlowNAT(b *testing.B) {
	cfg := DefaultConfig()
	cfg.Max = 1 << 30
	tb := New(cfg)
	pkts := make([]packet.Packet, b.N)
	for i := range pkts {
		pkts[i].Decode(flowPacket(i))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range pkts {
		p := &pkts[i]
		e, _, reply := tb.Track(p, sec)
		tb.SetupNullNAT(e, ext.NATDst)
		tb.Translate(e, reply, ext.NATDst, p)
		tb.SetupNullNAT(e, ext.NATSrc)
		tb.Translate(e, reply, ext.NATSrc, p)
		tb.Confirm(e, sec)
	}
}

// BenchmarkNewFlowFull: new connections into a full table of unreplied
// ones: each pushes out the oldest (early drop).
func BenchmarkNewFlowFull(b *testing.B) {
	cfg := DefaultConfig()
	cfg.Max = 4096
	tb := New(cfg)
	for i := 0; i < cfg.Max; i++ {
		track(b, tb, sec, flowPacket(1<<22+i))
	}
	pkts := make([]packet.Packet, b.N)
	for i := range pkts {
		pkts[i].Decode(flowPacket(i))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range pkts {
		e, st, _ := tb.Track(&pkts[i], sec)
		if st != ext.CTNew {
			b.Fatal(stateName(st, false))
		}
		tb.Confirm(e, sec)
	}
}

// BenchmarkMemoryPerEntry reports the heap taken per confirmed
// connection (entry, map slots, NAT index) as bytes/conn, for IPv4
// flows and for IPv6 flows in the same table.
func BenchmarkMemoryPerEntry(b *testing.B) {
	b.Run("ipv4", func(b *testing.B) { memoryPerEntry(b, flowPacket) })
	b.Run("ipv6", func(b *testing.B) { memoryPerEntry(b, flowPacket6) })
}

// flowPacket6 returns the first packet of the i-th distinct IPv6 UDP
// flow.
func flowPacket6(i int) []byte {
	src := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0x01, 0x13, 13: byte(i >> 16), 14: byte(i >> 8), 15: byte(i)})
	return udpDatagram(src, server6, uint16(1024+i%50000), 53, 0)
}

func memoryPerEntry(b *testing.B, flow func(int) []byte) {
	const n = 100000
	for r := 0; r < b.N; r++ {
		pkts := make([]packet.Packet, n)
		for i := range pkts {
			pkts[i].Decode(flow(i))
		}
		runtime.GC()
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		cfg := DefaultConfig()
		cfg.Max = 1 << 30
		tb := New(cfg)
		for i := range pkts {
			p := &pkts[i]
			e, _, reply := tb.Track(p, sec)
			tb.SetupNullNAT(e, ext.NATDst)
			tb.Translate(e, reply, ext.NATDst, p)
			tb.SetupNullNAT(e, ext.NATSrc)
			tb.Translate(e, reply, ext.NATSrc, p)
			tb.Confirm(e, sec)
		}
		runtime.GC()
		runtime.ReadMemStats(&m1)
		if tb.Len() != n {
			b.Fatalf("%d connections", tb.Len())
		}
		b.ReportMetric(float64(m1.HeapAlloc-m0.HeapAlloc)/n, "bytes/conn")
		runtime.KeepAlive(tb)
		runtime.KeepAlive(pkts)
	}
}
