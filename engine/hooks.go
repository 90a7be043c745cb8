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
// that hook (nat after filter in INPUT, before it in OUTPUT). A stage
// holds its hook in its low 4 bits and its index above them, so that a
// constant stage gives both without a memory access.
type stage uint8

const (
	stPreRaw  = stage(0<<4) | stage(ext.PreRouting)  // PREROUTING raw, before conntrack
	stPreMain = stage(1<<4) | stage(ext.PreRouting)  // PREROUTING mangle, nat
	stPreAll  = stage(2<<4) | stage(ext.PreRouting)  // PREROUTING of a looped packet (conntrack leaves it alone)
	stIn      = stage(3<<4) | stage(ext.LocalIn)     // INPUT
	stForward = stage(4<<4) | stage(ext.Forward)     // FORWARD
	stPost    = stage(5<<4) | stage(ext.PostRouting) // POSTROUTING
	stOutRaw  = stage(6<<4) | stage(ext.LocalOut)    // OUTPUT raw, before conntrack
	stOutMain = stage(7<<4) | stage(ext.LocalOut)    // OUTPUT mangle, nat, filter, security
	numStages = 8
)

func (st stage) hook() ext.Hook { return ext.Hook(st & 15) }
func (st stage) index() int     { return int(st >> 4) }

// stageTables are the tables of each stage, in the order they run.
var stageTables = [numStages]struct {
	st     stage
	tables []int
}{
	{stPreRaw, []int{tRaw}},
	{stPreMain, []int{tMangle, tNAT}},
	{stPreAll, []int{tRaw, tMangle, tNAT}},
	{stIn, []int{tMangle, tFilter, tSecurity, tNAT}},
	{stForward, []int{tMangle, tFilter, tSecurity}},
	{stPost, []int{tMangle, tNAT}},
	{stOutRaw, []int{tRaw}},
	{stOutMain, []int{tMangle, tNAT, tFilter, tSecurity}},
}

// prepareStages lists, for each stage, the Program's tables that have
// a chain at its hook, and marks the stages that have any in active: a
// packet meets no table that is not loaded or has no chain there. (A
// loaded table's chain runs even when empty: its policy counts the
// packet.)
func (p *Program) prepareStages() {
	p.active = 0
	for i, def := range stageTables {
		if def.st.index() != i {
			panic("engine: stage table out of order")
		}
		h := def.st.hook()
		p.stages[i] = nil
		for _, ti := range def.tables {
			if t := p.tables[ti]; t != nil && t.hooks[h] != nil {
				p.stages[i] = append(p.stages[i], t)
			}
		}
		if len(p.stages[i]) > 0 {
			p.active |= 1 << i
		}
	}
}
