package analyze

// This file encodes conntrack states as the points of dimState, as the
// state and conntrack matches see them. Reading matches, describing
// packets, the fate and ICMPv6 checks all use this one encoding.

// Conntrack states as points of dimState. A packet is in exactly one of
// INVALID, UNTRACKED, NEW, ESTABLISHED, RELATED; the tracked three may
// also carry the SNAT and DNAT bits of their connection, which
// xt_conntrack adds to the state it tests. That makes 3*4+2 points.
const numCTValues = 14

// State bits as --ctstate names them (an encoding of ours, not the
// kernel's).
const (
	stInvalid uint8 = 1 << iota
	stNew
	stEstablished
	stRelated
	stUntracked
	stSNAT
	stDNAT
)

var stateNames = []struct {
	name string
	bit  uint8
}{
	{"INVALID", stInvalid}, {"NEW", stNew}, {"RELATED", stRelated},
	{"ESTABLISHED", stEstablished}, {"UNTRACKED", stUntracked},
	{"SNAT", stSNAT}, {"DNAT", stDNAT},
}

// ctBits returns the state bits the conntrack match sees for point v.
func ctBits(v uint32) uint8 {
	switch v {
	case 0:
		return stInvalid
	case 1:
		return stUntracked
	}
	v -= 2
	bits := []uint8{stNew, stEstablished, stRelated}[v/4]
	if v&1 != 0 {
		bits |= stSNAT
	}
	if v&2 != 0 {
		bits |= stDNAT
	}
	return bits
}

// stateSet is the set of points that --ctstate MASK matches: those whose
// bits meet the mask.
func stateSet(mask uint8) set {
	var spans []span
	for v := uint32(0); v < numCTValues; v++ {
		if ctBits(v)&mask != 0 {
			spans = append(spans, span{v, v})
		}
	}
	return setOf(spans...)
}
