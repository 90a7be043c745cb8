package fwtest

import (
	"github.com/ipsift/ipsift/engine"
	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/sim"
)

// decider follows a packet's trace events and names the rule that
// decided its fate, as ipsift diff names it: for a packet dropped,
// rejected or queued, the rule (or policy) that did it; for a packet let
// through, the filter table's rule or policy that accepted it last (the
// last accepting rule of any table when the filter table has none on the
// packet's way). A LOG, a MARK or a jump decides nothing; a DNAT accepts
// in the nat table, which the filter table's answer overrides.
//
// The answers a target or the host's stack sends for the packet (a
// REJECT's RST, an echo reply) pass OUTPUT after the packet's own walk,
// and the copy of a packet the host sends to itself comes back in
// through PREROUTING and INPUT: neither decides the packet's fate, so the
// decider listens only while the walk is the packet's own (sim.OwnWalk).
type decider struct {
	next      engine.Tracer
	decisions []decision
	own       sim.OwnWalk
}

type decision struct {
	ref  ruleRef
	kind ext.Verdict // Accept, Drop, Queue or Stolen
}

func (d *decider) reset() { d.decisions = d.decisions[:0]; d.own.Reset() }

// Event implements engine.Tracer, passing every event on to next.
func (d *decider) Event(e engine.Event) {
	if d.next != nil {
		d.next.Event(e)
	}
	d.own.Follow(e)
	if !d.own.Own() {
		return
	}
	if k, ok := sim.Decision(e); ok {
		ref := ruleRef{Table: e.Table, Chain: e.Chain, Rule: e.Rule}
		if e.Kind == engine.EvPolicy {
			ref.Rule = 0
		}
		d.add(ref, k)
	}
}

func (d *decider) add(r ruleRef, k ext.Verdict) {
	d.decisions = append(d.decisions, decision{ref: r, kind: k})
}

// decided is the deciding rule for the packet's verdict; ok is false
// when no rule or policy decided: no table on its way, or the host
// dropped a packet the rules let through (no route, a TTL run out).
func (d *decider) decided(verdict string) (ruleRef, bool) {
	switch verdict {
	case "accept-local", "forward", "sent":
		var any *decision
		for i := len(d.decisions) - 1; i >= 0; i-- {
			x := &d.decisions[i]
			if x.kind != ext.Accept {
				continue
			}
			if x.ref.Table == "filter" {
				return x.ref, true
			}
			if any == nil {
				any = x
			}
		}
		if any != nil {
			return any.ref, true
		}
		return ruleRef{}, false
	}
	if n := len(d.decisions); n > 0 && d.decisions[n-1].kind != ext.Accept {
		return d.decisions[n-1].ref, true
	}
	return ruleRef{}, false
}

// decidedText is what a "decided" expectation is compared with.
func (d *decider) decidedText(verdict string) string {
	if r, ok := d.decided(verdict); ok {
		return r.String()
	}
	return "none"
}
