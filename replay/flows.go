package replay

import (
	"encoding/json"
	"net/netip"
	"unsafe"

	"github.com/ipsift/ipsift/conntrack"
	"github.com/ipsift/ipsift/engine"
	"github.com/ipsift/ipsift/packet"
)

// Flow is one connection as the replay saw it.
//
// The fields every packet of the flow updates come first and fill one
// cache line (a Flow's size is a multiple of 64 bytes and the flows are
// allocated in page-aligned blocks): at 100,000 flows the flow record
// is a cache miss per packet, and one line is the least it can cost.
type Flow struct {
	entry *conntrack.Entry
	table *flowTable // the table that keeps the flow (see flowTable.see)
	// Packets and Bytes per direction (0 original, 1 reply), every
	// packet the replay ran, accepted or not.
	Packets, Bytes [2]uint64
	Last           int64 // nanoseconds since the epoch, as First
	// PreCapture: a TCP connection whose first packet in the capture
	// was not a SYN, so it began before the capture.
	PreCapture bool
	_          [7]byte

	Orig, Reply conntrack.Tuple
	NAT         bool // the reply tuple is not the original one inverted
	First       int64
	// State is the final state: the TCP state, or for other protocols
	// ASSURED, REPLIED or UNREPLIED; NOT_CONFIRMED when its first
	// packets never got through (dropped).
	State   string
	Expired bool // timed out (or closed) before the capture ended
	// Preloaded: the connection came from the table listed when the
	// capture began (--conntrack).
	Preloaded bool
	// Decided is the rule that decided the first packet of the flow that
	// was not accepted, and that packet's verdict.
	Decided        *RuleRef
	DecidedVerdict string
	_              [56]byte
}

type tupleJSON struct {
	Src   netip.Addr `json:"src"`
	Dst   netip.Addr `json:"dst"`
	Sport uint16     `json:"sport,omitempty"`
	Dport uint16     `json:"dport,omitempty"`
}

func tupleOf(t conntrack.Tuple) tupleJSON {
	j := tupleJSON{Src: t.SrcAddr(), Dst: t.DstAddr()}
	if t.Proto == packet.ProtoTCP || t.Proto == packet.ProtoUDP || t.Proto == 132 || t.Proto == 136 {
		j.Sport, j.Dport = t.SrcPort, t.DstPort
	}
	return j
}

// MarshalJSON writes the flow as one --flows line.
func (f *Flow) MarshalJSON() ([]byte, error) {
	type decided struct {
		RuleRef
		Verdict string `json:"verdict"`
	}
	var d *decided
	if f.Decided != nil {
		d = &decided{*f.Decided, f.DecidedVerdict}
	}
	return json.Marshal(struct {
		Proto      string    `json:"proto"`
		Orig       tupleJSON `json:"orig"`
		Reply      tupleJSON `json:"reply"`
		NAT        bool      `json:"nat"`
		First      int64     `json:"first_ns"`
		Last       int64     `json:"last_ns"`
		Packets    [2]uint64 `json:"packets"`
		Bytes      [2]uint64 `json:"bytes"`
		State      string    `json:"state"`
		Expired    bool      `json:"expired,omitempty"`
		PreCapture bool      `json:"pre_capture,omitempty"`
		Preloaded  bool      `json:"preloaded,omitempty"`
		Decided    *decided  `json:"decided,omitempty"`
	}{packet.Proto(f.Orig.Proto).String(), tupleOf(f.Orig), tupleOf(f.Reply), f.NAT, f.First, f.Last, f.Packets, f.Bytes, f.State, f.Expired, f.PreCapture, f.Preloaded, d})
}

// flowTable follows connections by their conntrack entry, where it
// keeps each one's Flow (Entry.SetNote: no map lookup per packet); the
// entries of connections whose first packet was dropped (never
// confirmed, a new entry for each retry) are merged by their original
// tuple.
type flowTable struct {
	preloaded map[*conntrack.Entry]bool // from Options.Preload
	refused   map[conntrack.Tuple]*Flow
	all       []*Flow
	// slab hands out Flows allocated 256 at a time: a new connection
	// costs the engine its conntrack entry, and replay next to nothing.
	slab []Flow
}

func (t *flowTable) alloc() *Flow {
	if len(t.slab) == 0 {
		t.slab = make([]Flow, 256)
	}
	f := &t.slab[0]
	t.slab = t.slab[1:]
	return f
}

func (t *flowTable) init() {
	t.preloaded = map[*conntrack.Entry]bool{}
	t.refused = map[conntrack.Tuple]*Flow{}
}

// see counts one packet of connection e (nil for an untracked or
// invalid packet) and returns its flow.
func (t *flowTable) see(e *conntrack.Entry, reply bool, proto, tcpFlags uint8, now int64, size int, res *engine.Result) *Flow {
	if e == nil {
		return nil
	}
	confirmed := e.Status()&conntrack.IPSConfirmed != 0
	f := (*Flow)(e.Note())
	if f != nil && f.table != t {
		f = nil // another replay's record (a second replay on the same engine)
	}
	if f == nil && !confirmed {
		f = t.refused[e.OrigTuple()]
	}
	if f == nil {
		f = t.alloc()
		f.Orig, f.First, f.table = e.OrigTuple(), now, t
		f.Preloaded = t.preloaded[e]
		f.PreCapture = !f.Preloaded && proto == packet.ProtoTCP && (reply || tcpFlags&packet.TCPSyn == 0)
		t.all = append(t.all, f)
	}
	if confirmed {
		if f.entry != e {
			if f.entry == nil || f.entry.Status()&conntrack.IPSConfirmed == 0 {
				delete(t.refused, f.Orig)
			}
			f.entry = e
			e.SetNote(unsafe.Pointer(f))
		}
	} else {
		f.entry = e
		t.refused[f.Orig] = f
	}
	d := 0
	if reply {
		d = 1
	}
	f.Packets[d]++
	f.Bytes[d] += uint64(size)
	f.Last = now
	if (res.Verdict == engine.Drop || res.Verdict == engine.Reject || res.Verdict == engine.Queue) && f.Decided == nil && len(res.Hits) > 0 {
		h := res.Hits[len(res.Hits)-1]
		f.Decided = &RuleRef{Table: h.Table, Chain: h.Chain, Rule: h.Rule}
		f.DecidedVerdict = res.Verdict.String()
	}
	return f
}

// finish sets every flow's final state at time now.
func (t *flowTable) finish(ct *conntrack.Table, now int64) []*Flow {
	for _, f := range t.all {
		e := f.entry
		// The last entry seen: a refused connection's last try, or
		// the confirmed one (whose reply tuple, NAT included, no
		// longer changes).
		f.Reply = e.ReplyTuple()
		inv, _ := f.Orig.Invert()
		f.NAT = f.Reply != inv
		st := e.Status()
		switch {
		case st&conntrack.IPSConfirmed == 0:
			f.State = "NOT_CONFIRMED"
		case f.Orig.Proto == packet.ProtoTCP:
			f.State = e.TCPState().String()
		case st&conntrack.IPSAssured != 0:
			f.State = "ASSURED"
		case st&conntrack.IPSSeenReply != 0:
			f.State = "REPLIED"
		default:
			f.State = "UNREPLIED"
		}
		if st&conntrack.IPSConfirmed != 0 {
			alive, _ := ct.Lookup(f.Orig, now)
			f.Expired = alive != e
		}
	}
	return t.all
}
