package conntrack

import "time"

// What the live datapath needs to hand a connection to the kernel's
// conntrack and take it back (datapath, README "Connection offload").

// TCPInfo returns what ctnetlink's CTA_PROTOINFO_TCP carries for a TCP
// connection: its state, and each direction's flags (IP_CT_TCP_FLAG_*)
// and window scale. ok is false for other protocols.
func (c *conn) TCPInfo() (state TCPState, flags, scale [2]uint8, ok bool) {
	if c.tuple[0].Proto != protoTCP {
		return TCPNone, flags, scale, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for d := range 2 {
		flags[d], scale[d] = c.tcp.seen[d].flags, c.tcp.seen[d].scale
	}
	return TCPState(c.tcp.state), flags, scale, true
}

// ResyncTCP forgets both directions' windows (td_maxwin = 0), as the
// kernel's flowtable does for a flow it gives back to conntrack
// (flow_offload_fixup_tcp): the next packet in each direction starts
// its window again, as for a connection picked up in the middle. The
// state, flags and scales stay.
func (c *conn) ResyncTCP() {
	if c.tuple[0].Proto != protoTCP {
		return
	}
	c.mu.Lock()
	c.tcp.seen[0].maxwin, c.tcp.seen[1].maxwin = 0, 0
	c.mu.Unlock()
}

// AddCounters adds packets and bytes counted elsewhere (the kernel's
// accounting of an offloaded connection) to direction dir.
func (c *conn) AddCounters(dir int, packets, bytes uint64) {
	a := &c.acct[dir&1]
	a.packets.Add(packets)
	a.bytes.Add(bytes)
}

// Refresh gives a confirmed connection its current state's timeout again
// from now, as its packets would have (packets the kernel carried for
// it). Fixed timeouts stay.
func (t *Table) Refresh(e *Entry, now int64) {
	st := e.status.Load()
	if st&IPSConfirmed == 0 || st&IPSFixedTimeout != 0 {
		return
	}
	var to int64
	switch e.tuple[0].Proto {
	case protoTCP:
		e.mu.Lock()
		to = t.tcpTimeouts[e.tcp.state]
		e.mu.Unlock()
	default:
		return
	}
	e.timeout.Store(t.clock(now) + to)
}

// Remove deletes a connection from the table now (conntrack -D, or the
// kernel timing out a connection it carried). It reports false when the
// connection was gone already.
func (t *Table) Remove(e *Entry) bool { return t.kill(e) }

// SyncTCP takes over what the kernel's conntrack made of a TCP
// connection while it carried all of its segments, the close included
// (read back over ctnetlink): its state, each direction's flags (the
// bits in keep stay as ipsift has them: those ipsift added for the
// kernel, such as BE_LIBERAL) and its timeout, left from now. The
// windows restart as in ResyncTCP. What ctnetlink does not export stays
// as it was: the last segment's direction and kind (a RST's), the
// retransmission count.
func (t *Table) SyncTCP(e *Entry, state TCPState, flags [2]uint8, keep uint8, left time.Duration, now int64) {
	if e.tuple[0].Proto != protoTCP || state == TCPNone || state >= tcpMax {
		return
	}
	e.mu.Lock()
	e.tcp.state = uint8(state)
	for d := range 2 {
		s := &e.tcp.seen[d]
		s.flags = flags[d]&^keep | s.flags&keep
		s.maxwin = 0
	}
	e.mu.Unlock()
	if e.status.Load()&IPSFixedTimeout == 0 {
		e.timeout.Store(t.clock(now) + int64(left)*int64(t.hz)/int64(time.Second))
	}
}

// SyncSeen takes over what the kernel's conntrack learned of a
// connection it carried from its first packet on (read back over
// ctnetlink): a reply seen (IPS_SEEN_REPLY) and the handshake done
// (IPS_ASSURED, which also takes it off the early-drop list). Bits are
// only ever set, as in the kernel.
func (t *Table) SyncSeen(e *Entry, seenReply, assured bool) {
	if seenReply {
		e.setStatus(IPSSeenReply)
	}
	if assured {
		t.setAssured(e)
	}
}
