package kerneldiff

import (
	"os"

	"github.com/ipsift/ipsift/engine"
	"github.com/ipsift/ipsift/internal/kernel"
	"github.com/ipsift/ipsift/packet"
	"github.com/ipsift/ipsift/sim"
)

// PrepareHost gives a firewall what Run gives its own before the packets
// of a generated ruleset: the host's sysctls and neighbour entries for
// the packets' addresses. For tests that compare two kernel firewalls
// with each other (the nft translation's test).
func PrepareHost(fw *kernel.Firewall, ruleset string, pkts []Packet) error {
	args := append([]string{"sysctl", "-q", "-w"}, hostSettings...)
	if _, err := fw.Run(args...); err != nil {
		return err
	}
	return neighbours(fw, os.TempDir(), ruleset, pkts)
}

// Answerer addresses the answers of a generated sequence (replies and
// ICMP errors) from what a kernel firewall made of the packets they
// answer, as Run does, for tests that drive a firewall themselves. Call
// Desc for packets 0, 1, ... in order and Left after each one sent.
type Answerer struct {
	pkts  []Packet
	descs []packet.Desc
	out   [][]sim.Out
}

// NewAnswerer starts addressing pkts.
func NewAnswerer(pkts []Packet) *Answerer { return &Answerer{pkts: pkts} }

// Desc returns packet i as it is to be sent; ok is false when it answers
// something that never left (nothing to send).
func (a *Answerer) Desc(i int) (d packet.Desc, ok bool) {
	d, ok = resolve(a.pkts[i], a.pkts, a.descs, a.out)
	a.descs = append(a.descs, d)
	a.out = append(a.out, nil)
	return d, ok
}

// Left records the frames the firewall sent after packet i (by
// interface), keeping the packet's own forms (not the host's answers to
// it), which is what later answers are addressed to.
func (a *Answerer) Left(i int, frames map[string][][]byte) {
	var out []engine.OutPacket
	for _, ifname := range sortedIfaces(frames) {
		for _, fr := range frames[ifname] {
			out = append(out, engine.OutPacket{Iface: ifname, Data: fr})
		}
	}
	d := a.descs[i]
	for _, o := range sim.Convert(i, &engine.Result{Out: out}).Out {
		if d.Local || !hostAnswer(o, d) {
			a.out[i] = append(a.out[i], o)
		}
	}
}
