package engine

import (
	"github.com/ipsift/ipsift/conntrack"
	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/rules"
)

// ProbeAllow says whether the probe may run match mi of rule r (its
// outcome is known to be fixed, and running it changes nothing).
type ProbeAllow func(r *rules.Rule, mi int) bool

// probe is the state of a Probe run.
type probe struct {
	ent    *conntrack.Entry
	reply  bool
	allow  ProbeAllow
	failed bool
}

// Probe runs in, a packet of connection ent in the given direction in
// conntrack state ESTABLISHED, through the hooks as Process would, and
// records its path into p, without changing anything: conntrack does
// not see it (the packet is given ent's state as it stands), no counter
// rises, no answer is made, and no match or target with an effect runs.
// The live datapath uses it to prove, at a connection's first packet,
// the way its later packets will take (Prover).
//
// Before each extension match the probe asks allow; a match it refuses,
// and any rule with a target that acts (r.Target set, such as LOG or
// MARK), ends the probe: Probe then reports false. It reports true when
// the packet went its whole way; p then holds every rule it was tried
// against, and s.Result its verdict.
func (e *Engine) Probe(s *State, in *Input, ent *conntrack.Entry, reply bool, allow ProbeAllow, p *Path) bool {
	s.probe = &probe{ent: ent, reply: reply, allow: allow}
	s.path = p
	tr := s.tracer
	s.tracer = nil
	defer func() { s.probe, s.path, s.tracer = nil, nil, tr }()
	if len(in.Data) < 20 || in.Data[0]>>4 != 4 {
		return false
	}
	e.Process(s, in)
	return !s.probe.failed
}

// probeTrack gives a probed packet its connection (track's work for
// Probe): ESTABLISHED, in the probe's direction, unchanged.
func (s *State) probeTrack() {
	pr := s.probe
	s.ctx.CT = ext.CTEstablished
	s.entry, s.reply, s.tracked = pr.ent, pr.reply, false
	s.ctx.Conn = pr.ent.Conn(pr.reply)
}

// probeRefuses reports whether the probe must stop before match mi of r
// (mi -1: before r's target), and marks it failed.
func (s *State) probeRefuses(r *rule, mi int) bool {
	pr := s.probe
	if mi < 0 || !pr.allow(r.src0, mi) {
		pr.failed = true
		return true
	}
	return false
}
