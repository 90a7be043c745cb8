package replay

import (
	"fmt"
	"net/netip"
	"sort"

	"github.com/ipsift/ipsift/engine"
	"github.com/ipsift/ipsift/packet"
)

// A capture on the firewall records what left it too: the packets the
// engine predicts leaving each interface (forwarded, NATed, the host's
// and the firewall's answers) must be those. departKey is what is
// compared: the headers after NAT, not the bytes (checksums are often
// left to offload in captures, and the IP ID of the host's own answers
// is the kernel's choice).
type departKey struct {
	iface        string
	src, dst     netip.Addr
	proto        uint8
	sport, dport uint16 // ports; ICMP's id and type<<8|code
	flags        uint8
	seq, ack     uint32
	length       int
}

func (k departKey) String() string {
	return fmt.Sprintf("%s %s %s > %s ports %d > %d flags %#x seq %d ack %d length %d", k.iface, packet.Proto(k.proto), k.src, k.dst, k.sport, k.dport, k.flags, k.seq, k.ack, k.length)
}

func departKeyOf(iface string, p *packet.Packet) departKey {
	k := departKey{iface: iface, src: p.Src, dst: p.Dst, proto: p.Proto, length: p.TotalLen}
	if p.L4OK && !p.IsLaterFragment() {
		switch p.Proto {
		case packet.ProtoTCP:
			k.sport, k.dport, k.flags = p.SrcPort, p.DstPort, p.TCPFlags
			k.seq, k.ack = p.Seq, p.Ack
		case packet.ProtoUDP:
			k.sport, k.dport = p.SrcPort, p.DstPort
		case packet.ProtoICMP, packet.ProtoICMPv6:
			k.dport = uint16(p.ICMPType)<<8 | uint16(p.ICMPCode)
		}
	}
	return k
}

// departures counts predicted departures up and observed ones down.
type departures struct {
	m                   map[departKey]int
	predicted, observed uint64
	overflow            bool
	pkt                 packet.Packet
}

// maxPending bounds the predictions waiting for their departure;
// noDepartures is how many predictions are made before a capture that
// showed no departure is taken to hold arrivals only.
const (
	maxPending   = 100000
	noDepartures = 1000
)

func (d *departures) add(k departKey, n int) {
	if d.m == nil {
		d.m = map[departKey]int{}
	}
	if v := d.m[k] + n; v == 0 {
		delete(d.m, k)
	} else {
		if len(d.m) >= maxPending && !d.overflow {
			d.overflow = true
		}
		if !d.overflow {
			d.m[k] = v
		}
	}
}

func (d *departures) predict(res *engine.Result) {
	if d.overflow {
		return
	}
	if d.observed == 0 && d.predicted >= noDepartures {
		// A capture of arrivals only: nothing to compare, and no
		// reason to keep predictions.
		d.overflow, d.m = true, nil
		return
	}
	for _, o := range res.Out {
		if d.pkt.Decode(o.Data) == nil {
			d.predicted++
			d.add(departKeyOf(o.Iface, &d.pkt), 1)
		}
	}
}

func (d *departures) observe(iface string, p *packet.Packet) {
	d.observed++
	d.add(departKeyOf(iface, p), -1)
}

// Departures compares the packets the engine predicted leaving with the
// departures the capture recorded.
type Departures struct {
	Predicted  uint64   `json:"predicted"`
	Observed   uint64   `json:"observed"`
	Missing    uint64   `json:"missing"`    // predicted, never seen leaving
	Unexpected uint64   `json:"unexpected"` // seen leaving, not predicted
	Samples    []string `json:"samples,omitempty"`
}

func (d *departures) report() *Departures {
	if d.observed == 0 || d.overflow {
		return nil
	}
	out := &Departures{Predicted: d.predicted, Observed: d.observed}
	var samples []string
	for k, n := range d.m {
		if n > 0 {
			out.Missing += uint64(n)
			samples = append(samples, fmt.Sprintf("predicted, not seen (%d): %s", n, k))
		} else {
			out.Unexpected += uint64(-n)
			samples = append(samples, fmt.Sprintf("seen, not predicted (%d): %s", -n, k))
		}
	}
	sort.Strings(samples)
	out.Samples = samples[:min(len(samples), 20)]
	return out
}
