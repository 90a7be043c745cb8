package replay

import (
	"fmt"
	"net/netip"
	"strconv"

	"github.com/ipsift/ipsift/conntrack"
	"github.com/ipsift/ipsift/packet"
)

// Change is a flow whose fate differs between two replays of the same
// capture (ipsift replay OLD NEW CAPTURE).
type Change struct {
	Flow *Flow  `json:"flow"`
	Old  string `json:"old"` // its fate under each ruleset
	New  string `json:"new"`
}

// Fate is what became of a flow in words: "accepted", or the verdict of
// its first packet that was not accepted and the rule that gave it.
func (f *Flow) Fate() string {
	if f == nil {
		return "not seen"
	}
	if f.Decided == nil {
		return "accepted"
	}
	return f.DecidedVerdict + " by " + f.Decided.String()
}

// Diff pairs the flows of two replays of one capture (by original tuple
// and order of appearance) and returns those whose fate differs, in the
// order of the old replay.
func Diff(old, new []*Flow) []Change {
	type key struct {
		t conntrack.Tuple
		n int
	}
	byKey := map[key]*Flow{}
	seen := map[conntrack.Tuple]int{}
	for _, f := range new {
		seen[f.Orig]++
		byKey[key{f.Orig, seen[f.Orig]}] = f
	}
	clear(seen)
	var out []Change
	matched := map[*Flow]bool{}
	for _, f := range old {
		seen[f.Orig]++
		g := byKey[key{f.Orig, seen[f.Orig]}]
		if g != nil {
			matched[g] = true
		}
		if f.Fate() != g.Fate() {
			out = append(out, Change{Flow: f, Old: f.Fate(), New: g.Fate()})
		}
	}
	for _, g := range new {
		if !matched[g] {
			out = append(out, Change{Flow: g, Old: (*Flow)(nil).Fate(), New: g.Fate()})
		}
	}
	return out
}

// String is the change as one line: the flow's original tuple, then its
// old and new fate.
func (c Change) String() string {
	t := c.Flow.Orig
	return fmt.Sprintf("%-4s %s > %s  %s -> %s", packet.Proto(t.Proto).String(), endpoint(t.SrcAddr(), t.SrcPort, t.Proto), endpoint(t.DstAddr(), t.DstPort, t.Proto), c.Old, c.New)
}

func endpoint(a netip.Addr, port uint16, proto uint8) string {
	if proto == packet.ProtoTCP || proto == packet.ProtoUDP {
		return a.String() + ":" + strconv.Itoa(int(port))
	}
	return a.String()
}
