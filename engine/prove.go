// The prover (this file) proves, from the compiled rules, when the later
// packets of a connection would all take the way one packet took: the
// live datapath then hands the connection to the kernel's conntrack
// (README, "Connection offload"), and the engine's flow cache
// (flowcache.go) runs the later packets on the proven path.
//
// The proof reads a packet's path (engine.Path: every rule it was tried
// against, how far each rule's matches ran, and which rules counted) and
// checks each step: every match that ran must have an outcome fixed for
// the connection in its current conntrack state and direction, and
// every rule that matched may only count and accept, return or jump.
// Then, by induction over the rules in the order the kernel tries them,
// any later packet of the connection in the same direction and state
// meets the same rules with the same outcomes: it raises the same
// counters and gets the same verdict, and the only change it can make
// is the connection's NAT binding, which the kernel applies itself.
//
// The packets the kernel carries are TCP segments with none of SYN, FIN
// and RST (the rest still cross to ipsift: they change the state), so a
// --tcp-flags test that only looks at those three flags, or asks for one
// of them to be set, is fixed too. A prover made with CarryClose proves
// for a kernel that also carries FIN and RST (the close): then only a
// test that looks at SYN alone, or asks for SYN, is.

package engine

import (
	"fmt"
	"strings"

	"github.com/ipsift/ipsift/rules"
)

// Prover proves paths for one ruleset.
type Prover struct {
	// connmarkFixed: no rule can change a connection's mark (no
	// CONNMARK target anywhere), so -m connmark is fixed.
	connmarkFixed bool
	// fixed caches MatchFixed for the ruleset's matches, so that a
	// proof allocates nothing.
	fixed map[*rules.MatchUse]string // "" when fixed
	// status caches statusVaries for Allow (a probe per SYN calls it
	// for every match it runs).
	status map[*rules.MatchUse]bool
	// carryClose: the kernel carries FIN and RST segments too.
	carryClose bool
}

// NewProver returns the prover for the rulesets (a family's each).
func NewProver(rss ...*rules.Ruleset) *Prover { return newProver(false, rss) }

// NewProverClose returns the prover for a kernel that carries a
// connection's FIN and RST segments too (every segment without SYN).
func NewProverClose(rss ...*rules.Ruleset) *Prover { return newProver(true, rss) }

func newProver(carryClose bool, rss []*rules.Ruleset) *Prover {
	p := &Prover{connmarkFixed: true, fixed: map[*rules.MatchUse]string{}, status: map[*rules.MatchUse]bool{}, carryClose: carryClose}
	var all []*rules.MatchUse
	for _, rs := range rss {
		if rs == nil {
			continue
		}
		for _, t := range rs.Tables {
			for _, c := range t.Chains {
				for _, r := range c.Rules {
					if r.Verdict == "CONNMARK" {
						p.connmarkFixed = false
					}
					all = append(all, r.Matches...)
				}
			}
		}
	}
	for _, m := range all {
		p.fixed[m] = ""
		p.status[m] = statusVaries(m) != ""
		if ok, why := matchFixed(m, p.connmarkFixed, carryClose); !ok {
			p.fixed[m] = "-m " + m.Type.Name + " " + why
		}
	}
	return p
}

// Failure says which step of a path is not fixed and why.
type Failure struct {
	Step *PathStep // nil when the path as a whole fails
	Why  string
}

// String says it in words for people (ctl trace).
func (f Failure) String() string {
	if f.Step == nil {
		return f.Why
	}
	return where(f.Step) + ": " + f.Why
}

// Prove reports whether the recorded path is fixed for the packet's
// connection; when it is not, the Failure names the first step that is
// not. Prove allocates nothing.
func (p *Prover) Prove(steps []PathStep) (ok bool, f Failure) {
	if len(steps) == 0 {
		return false, Failure{Why: "no rules were met (the ruleset tracks no connections)"}
	}
	for i := range steps {
		s := &steps[i]
		if s.Table == "nat" {
			return false, Failure{s, "the nat table is traversed"}
		}
		if s.Rule == nil || s.CoreFailed {
			continue // a policy, or a rule whose core matches failed: fixed
		}
		r := s.Rule
		if r.Nth != nil {
			return false, Failure{s, "-m nth counts packets"}
		}
		if s.Tried > len(r.Matches) {
			return false, Failure{s, "unknown matches"}
		}
		for _, m := range r.Matches[:s.Tried] {
			why, known := p.fixed[m]
			if !known {
				if ok, w := matchFixed(m, p.connmarkFixed, p.carryClose); !ok {
					why = "-m " + m.Type.Name + " " + w
				}
			}
			if why != "" {
				return false, Failure{s, why}
			}
		}
		if !s.Matched {
			continue
		}
		if ok, why := TargetFixed(r); !ok {
			return false, Failure{s, why}
		}
	}
	return true, Failure{}
}

// ProveSynAck is Prove for the path of a SYN-ACK, taken for the later
// segments of its direction (which have no SYN, and a status with
// ASSURED the SYN-ACK's lacks): besides Prove's conditions, no match
// that ran may read TCP flags or the connection's status.
func (p *Prover) ProveSynAck(steps []PathStep) (ok bool, f Failure) {
	if ok, f := p.Prove(steps); !ok {
		return ok, f
	}
	for i := range steps {
		s := &steps[i]
		if s.Rule == nil || s.CoreFailed {
			continue
		}
		for _, m := range s.Rule.Matches[:s.Tried] {
			if why := synAckVaries(m); why != "" {
				return false, Failure{s, why}
			}
		}
	}
	return true, Failure{}
}

// Allow reports whether a probe (engine.Probe) may run match mi of r: a
// match whose outcome is fixed for every packet the kernel would carry
// (see MatchFixed; with CarryClose, every segment without SYN) and that
// does not read the connection's status, which changes after the
// probe (SEEN_REPLY, ASSURED). Running such a match changes nothing.
func (p *Prover) Allow(r *rules.Rule, mi int) bool {
	if r.Nth != nil || mi < 0 || mi >= len(r.Matches) {
		return false
	}
	m := r.Matches[mi]
	why, known := p.fixed[m]
	if !known {
		if ok, _ := matchFixed(m, p.connmarkFixed, p.carryClose); !ok {
			return false
		}
	} else if why != "" {
		return false
	}
	if varies, known := p.status[m]; known {
		return !varies
	}
	return statusVaries(m) == ""
}

// statusVaries says why a match reads a connection status that changes
// in the handshake ("" when it does not).
func statusVaries(m *rules.MatchUse) string {
	if m.Type.Name != "conntrack" {
		return ""
	}
	var b strings.Builder
	m.M.Save(&b)
	if strings.Contains(b.String(), "--ctstatus") {
		return "-m conntrack --ctstatus: SEEN_REPLY and ASSURED come later"
	}
	return ""
}

// synAckVaries says why a match may have another outcome for a SYN-ACK
// than for its direction's later segments ("" when it cannot).
func synAckVaries(m *rules.MatchUse) string {
	switch m.Type.Name {
	case "tcp", "conntrack":
	default:
		return ""
	}
	var b strings.Builder
	m.M.Save(&b)
	opts := b.String()
	switch {
	case strings.Contains(opts, "--tcp-flags"):
		return "-m tcp --tcp-flags reads the SYN-ACK's SYN"
	}
	return statusVaries(m)
}

func where(s *PathStep) string {
	return fmt.Sprintf("%s %s rule %d", s.Table, s.Chain, s.Number)
}

// TargetFixed reports whether a matched rule only counts and moves on
// (no target, ACCEPT, RETURN, a jump or goto): anything else does
// something per packet (LOG, NFLOG, MARK, ...), ends the packet (DROP,
// QUEUE, REJECT) or changes the connection (CONNMARK, NAT).
func TargetFixed(r *rules.Rule) (bool, string) {
	switch {
	case r.Verdict == "" || r.Verdict == "ACCEPT" || r.Verdict == "RETURN":
		return true, ""
	case r.IsJump():
		return true, ""
	case r.Target != nil:
		return false, "the target acts on every packet"
	case r.Verdict == "DROP":
		return false, "-j DROP does not accept"
	}
	return false, "the target does not accept"
}

// fixedMatches are the matches whose outcome depends only on what is
// fixed for a connection in a given state and direction: its addresses,
// ports and protocol, its interfaces (and the routes and local
// addresses they imply: a host change takes every connection back), and
// its conntrack state, status and direction.
var fixedMatches = map[string]bool{
	"multiport": true, "iprange": true, "comment": true, "state": true,
	"addrtype": true, "rpfilter": true, "pkttype": true, "helper": true,
	"udp": true, "sctp": true, "dccp": false,
}

// MatchFixed reports whether one match's outcome is fixed for every
// packet the kernel would carry for a connection (TCP segments without
// SYN, FIN and RST, in one state and direction); why says what makes it
// vary otherwise. connmarkFixed says that no rule changes connection
// marks.
func MatchFixed(m *rules.MatchUse, connmarkFixed bool) (bool, string) {
	return matchFixed(m, connmarkFixed, false)
}

func matchFixed(m *rules.MatchUse, connmarkFixed, carryClose bool) (bool, string) {
	name := m.Type.Name
	var b strings.Builder
	m.M.Save(&b)
	opts := b.String()
	switch name {
	case "tcp":
		return tcpFixed(opts, carryClose)
	case "conntrack":
		if strings.Contains(opts, "--ctexpire") {
			return false, "--ctexpire changes with time"
		}
		return true, ""
	case "connmark":
		if !connmarkFixed {
			return false, "reads a mark a CONNMARK rule can change"
		}
		return true, ""
	}
	if fixedMatches[name] {
		return true, ""
	}
	return false, "reads the packet or history"
}

// tcpFixed: ports are fixed; --tcp-option reads the packet; --tcp-flags
// is fixed when its mask holds only SYN, FIN and RST (clear in every
// carried packet) or its comparison wants one of them set (never true);
// with carryClose, only SYN is clear in every carried packet.
func tcpFixed(opts string, carryClose bool) (bool, string) {
	clear := uint8(0x01 | 0x02 | 0x04)
	if carryClose {
		clear = 0x02
	}
	f := strings.Fields(opts)
	for i, w := range f {
		switch w {
		case "--tcp-option":
			return false, "--tcp-option reads the packet"
		case "--tcp-flags":
			if i+2 >= len(f) {
				return false, "--tcp-flags unreadable"
			}
			mask, cmp := tcpFlags(f[i+1]), tcpFlags(f[i+2])
			if mask&^clear == 0 || cmp&mask&clear != 0 {
				continue
			}
			return false, "--tcp-flags reads flags a carried packet may have either way"
		}
	}
	return true, ""
}

func tcpFlags(s string) uint8 {
	var v uint8
	for _, n := range strings.Split(s, ",") {
		switch n {
		case "FIN":
			v |= 0x01
		case "SYN":
			v |= 0x02
		case "RST":
			v |= 0x04
		case "PSH":
			v |= 0x08
		case "ACK":
			v |= 0x10
		case "URG":
			v |= 0x20
		case "ALL":
			v |= 0x3f
		}
	}
	return v
}
