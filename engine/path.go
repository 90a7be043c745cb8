package engine

import (
	"sync/atomic"

	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/rules"
)

// PathStep is one rule a recorded packet was tried against, or the
// built-in chain policy that decided it (Rule nil). The live datapath
// reads a packet's steps to prove that the connection's later packets
// would take the same way (Prover).
type PathStep struct {
	Table, Chain string
	Hook         ext.Hook
	Rule         *rules.Rule // the model rule; nil for a policy
	Number       int         // the rule's 1-based position in its chain
	// CoreFailed: a core match (address, interface, protocol, fragment)
	// did not match; no extension match ran.
	CoreFailed bool
	// Tried is how many extension matches ran, in order: all of them
	// when Matched, else up to and including the one that failed.
	Tried   int
	Matched bool // the rule matched and counted (a policy always does)

	packets, bytes *atomic.Uint64
}

// AddCounters raises the step's counters (the rule's or the policy's)
// as if packets more packets of bytes bytes in all had met it; it does
// nothing for a step that did not count.
func (s *PathStep) AddCounters(packets, bytes uint64) {
	if !s.Matched || s.packets == nil {
		return
	}
	s.packets.Add(packets)
	s.bytes.Add(bytes)
}

// Path receives the steps of the packets Process runs while it is set
// (State.RecordPath). Steps is emptied at the start of each packet and
// reused: copy what must outlive it.
type Path struct {
	Steps []PathStep
}

// RecordPath makes the following Process calls record every rule tried
// into p (nil to stop). Recording allocates nothing once Steps has grown;
// the chains' classifiers are not used while it is on, so that every
// rule a packet is tried against is in the path.
func (s *State) RecordPath(p *Path) { s.path = p }

func (p *Path) add(t *table, c *chain, r *rule, core bool, tried int, matched bool) {
	st := PathStep{Table: t.name, Chain: c.name, CoreFailed: core, Tried: tried, Matched: matched}
	if r != nil {
		st.Rule, st.Number = r.src0, r.number
		st.packets, st.bytes = &r.packets, &r.bytes
	} else {
		st.packets, st.bytes = &c.packets, &c.bytes
	}
	p.Steps = append(p.Steps, st)
}

// RecordPathOn returns the Path RecordPath set, or nil.
func (s *State) RecordPathOn() *Path { return s.path }
