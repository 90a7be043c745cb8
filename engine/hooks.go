package engine

import "github.com/ipsift/ipsift/ext"

// What live datapaths (datapath/) read back after Process: a real kernel
// stack sits behind the firewall there, so they also set
// Config.NoHostStack.

// PacketData returns the packet as the last Process call
// left it: rewritten by NAT and TTL, and for the last fragment of a
// datagram the whole reassembled datagram. It is valid until the next
// call.
func (s *State) PacketData() []byte { return s.pkt.Data }

// Mark returns the packet mark as the rules left it (MARK).
func (s *State) Mark() uint32 { return s.ctx.Mark }

// stage is one run of a hook's tables between two points of the
// kernel's path: the raw table before connection tracking, the rest
// after it, and so on. The tables run in the order of their priority at
// that hook (nat after filter in INPUT, before it in OUTPUT).
type stage uint8

const (
	stPreRaw  stage = iota // PREROUTING raw, before conntrack
	stPreMain              // PREROUTING mangle, nat
	stPreAll               // PREROUTING of a looped packet (conntrack leaves it alone)
	stIn                   // INPUT
	stForward              // FORWARD
	stPost                 // POSTROUTING
	stOutRaw               // OUTPUT raw, before conntrack
	stOutMain              // OUTPUT mangle, nat, filter, security
	numStages
)

var stages = [numStages]struct {
	hook   ext.Hook
	tables []int
}{
	stPreRaw:  {ext.PreRouting, []int{tRaw}},
	stPreMain: {ext.PreRouting, []int{tMangle, tNAT}},
	stPreAll:  {ext.PreRouting, []int{tRaw, tMangle, tNAT}},
	stIn:      {ext.LocalIn, []int{tMangle, tFilter, tSecurity, tNAT}},
	stForward: {ext.Forward, []int{tMangle, tFilter, tSecurity}},
	stPost:    {ext.PostRouting, []int{tMangle, tNAT}},
	stOutRaw:  {ext.LocalOut, []int{tRaw}},
	stOutMain: {ext.LocalOut, []int{tMangle, tNAT, tFilter, tSecurity}},
}

// prepareStages lists, for each stage, the Program's tables that have
// a chain at its hook: a packet meets no table that is not loaded or
// has no chain there. (A loaded table's chain runs even when empty: its
// policy counts the packet.)
func (p *Program) prepareStages() {
	for st := range p.stages {
		p.stages[st] = nil
		for _, ti := range stages[st].tables {
			if t := p.tables[ti]; t != nil && t.hooks[stages[st].hook] != nil {
				p.stages[st] = append(p.stages[st], t)
			}
		}
	}
}
