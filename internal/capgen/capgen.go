// Package capgen writes seeded synthetic captures for replay's
// benchmarks and examples: the same seed gives the same bytes, so the
// repository holds the generator, not binary files. The traffic fits
// the default host (gateway.rules): clients on wlan0 (192.0.2.0/24)
// reach servers beyond eth0 (203.0.113.0/24) through MASQUERADE, and
// the answers come back to 198.51.100.1.
package capgen

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"

	"github.com/ipsift/ipsift/capture"
	"github.com/ipsift/ipsift/packet"
)

// Workload names a traffic shape.
type Workload string

// The workloads of BENCHMARKS.md.
const (
	// Established: Flows connections opened first, then only their
	// packets (data one way, acknowledgements the other).
	Established Workload = "established"
	// Mix: Flows concurrent connections; 5% of packets open a new one
	// (which replaces an old one), 1% are refused by the host.
	Mix Workload = "mix"
	// Flood: every packet is the SYN of a new connection.
	Flood Workload = "flood"
)

// Config says what to write.
type Config struct {
	Workload Workload
	Packets  int // packets in all
	Flows    int // concurrent connections (Established, Mix)
	Seed     uint64
}

type flow struct {
	client [4]byte
	sport  uint16
	server [4]byte
	seq    uint32 // client's next sequence number
	ack    uint32 // server's next sequence number
}

type gen struct {
	w            *capture.NGWriter
	eth0, wlan0  int
	now          int64
	buf          []byte
	rng          *rand.Rand
	nextPort     uint32
	written, max int
}

// Write writes the capture as pcapng (raw IP, interfaces eth0 and
// wlan0, every packet flagged inbound). Packets counts every packet,
// the handshakes that open the first Flows connections included.
func Write(w io.Writer, c Config) error {
	return write(nil, w, c)
}

// WriteWarm writes the handshakes that open the first Flows connections
// of the Established and Mix workloads to warm and the rest (Packets
// packets) to w, the clock running on: replaying warm and then w through
// one engine (and one replay.Replayer) measures the workload's steady
// state alone, every connection open from its first packet. For the
// Flood workload warm stays empty.
func WriteWarm(warm, w io.Writer, c Config) error {
	return write(warm, w, c)
}

func write(warm, w io.Writer, c Config) error {
	g := &gen{now: 1_700_000_000_000_000_000, rng: rand.New(rand.NewPCG(c.Seed, c.Seed^0x9e3779b97f4a7c15)), max: c.Packets}
	switch c.Workload {
	case Established, Mix:
		first := w
		if warm != nil {
			first, g.max = warm, -1 // the handshakes, however many
		}
		if err := g.start(first); err != nil {
			return err
		}
		flows := make([]flow, max(c.Flows, 1))
		for i := range flows {
			flows[i] = g.open()
		}
		if warm != nil {
			if err := g.next(w, c.Packets); err != nil {
				return err
			}
		}
		for g.written < g.max {
			switch r := g.rng.IntN(100); {
			case c.Workload == Mix && r < 5:
				flows[g.rng.IntN(len(flows))] = g.open()
			case c.Workload == Mix && r < 6:
				g.refused()
			default:
				g.data(&flows[g.rng.IntN(len(flows))])
			}
		}
	case Flood:
		if warm != nil {
			if err := g.start(warm); err != nil { // no packet: nothing opens first
				return err
			}
			if err := g.next(w, c.Packets); err != nil {
				return err
			}
		} else if err := g.start(w); err != nil {
			return err
		}
		for g.written < g.max {
			f := g.newFlow()
			g.tcp(g.wlan0, f.client, f.sport, f.server, 80, f.seq-1, 0, packet.TCPSyn, 0)
		}
	default:
		return fmt.Errorf("capgen: unknown workload %q (established, mix, flood)", c.Workload)
	}
	return g.w.Flush()
}

// next finishes the warm-up capture and sends the next n packets to w.
func (g *gen) next(w io.Writer, n int) error {
	if err := g.w.Flush(); err != nil {
		return err
	}
	g.written, g.max = 0, n
	return g.start(w)
}

// start makes w the capture the next packets go to: a pcapng with the
// two interfaces.
func (g *gen) start(w io.Writer) error {
	nw, err := capture.NewNGWriter(w)
	if err != nil {
		return err
	}
	g.w = nw
	g.eth0, _ = nw.AddInterface("eth0", capture.LinkRaw, 65535)
	g.wlan0, _ = nw.AddInterface("wlan0", capture.LinkRaw, 65535)
	return nil
}

var masq = [4]byte{198, 51, 100, 1}

func (g *gen) newFlow() flow {
	g.nextPort++
	n := g.nextPort
	return flow{
		// (source port, server) is unique for 15 million flows, so
		// that MASQUERADE keeps every source port.
		client: [4]byte{192, 0, 2, byte(10 + g.rng.IntN(200))},
		sport:  uint16(1024 + n%60000),
		server: [4]byte{203, 0, 113, byte(1 + (n/60000)%250)},
		seq:    g.rng.Uint32(), ack: g.rng.Uint32(),
	}
}

// open writes a handshake (SYN, SYN-ACK, ACK) and returns the flow.
func (g *gen) open() flow {
	f := g.newFlow()
	g.tcp(g.wlan0, f.client, f.sport, f.server, 80, f.seq, 0, packet.TCPSyn, 0)
	f.seq++
	g.tcp(g.eth0, f.server, 80, masq, f.sport, f.ack, f.seq, packet.TCPSyn|packet.TCPAck, 0)
	f.ack++
	g.tcp(g.wlan0, f.client, f.sport, f.server, 80, f.seq, f.ack, packet.TCPAck, 0)
	return f
}

// data writes a request from the client or an answer from the server.
func (g *gen) data(f *flow) {
	if g.rng.IntN(2) == 0 {
		n := 100 + g.rng.IntN(400)
		g.tcp(g.wlan0, f.client, f.sport, f.server, 80, f.seq, f.ack, packet.TCPAck|packet.TCPPsh, n)
		f.seq += uint32(n)
		return
	}
	n := 1000 + g.rng.IntN(448)
	g.tcp(g.eth0, f.server, 80, masq, f.sport, f.ack, f.seq, packet.TCPAck, n)
	f.ack += uint32(n)
}

// refused writes a SYN to the host's port 23, which gateway.rules drops.
func (g *gen) refused() {
	g.tcp(g.eth0, [4]byte{203, 0, 113, byte(1 + g.rng.IntN(250))}, uint16(1024+g.rng.IntN(60000)), masq, 23, g.rng.Uint32(), 0, packet.TCPSyn, 0)
}

func (g *gen) tcp(ifc int, src [4]byte, sport uint16, dst [4]byte, dport uint16, seq, ack uint32, flags uint8, payload int) {
	if g.max >= 0 && g.written >= g.max {
		return
	}
	total := 40 + payload
	b := append(g.buf[:0], make([]byte, total)...)
	b[0], b[8], b[9] = 0x45, 64, packet.ProtoTCP
	binary.BigEndian.PutUint16(b[2:], uint16(total))
	copy(b[12:], src[:])
	copy(b[16:], dst[:])
	t := b[20:]
	binary.BigEndian.PutUint16(t, sport)
	binary.BigEndian.PutUint16(t[2:], dport)
	binary.BigEndian.PutUint32(t[4:], seq)
	binary.BigEndian.PutUint32(t[8:], ack)
	t[12], t[13] = 5<<4, flags
	binary.BigEndian.PutUint16(t[14:], 65535)
	var p packet.Packet
	if p.Decode(b) == nil {
		p.FixChecksums()
	}
	g.now += 50_000 + int64(g.rng.IntN(100_000)) // about 10,000 packets a second
	g.w.WritePacket(ifc, g.now, b, 0, capture.DirIn, "")
	g.buf = b
	g.written++
}
