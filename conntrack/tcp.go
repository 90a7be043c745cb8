package conntrack

import (
	"encoding/binary"

	"github.com/ipsift/ipsift/packet"
)

// TCPState is a TCP connection's state as nf_conntrack_proto_tcp keeps
// it (enum tcp_conntrack).
type TCPState uint8

// The TCP states, in the kernel's numbering.
const (
	TCPNone TCPState = iota
	TCPSynSent
	TCPSynRecv
	TCPEstablished
	TCPFinWait
	TCPCloseWait
	TCPLastAck
	TCPTimeWait
	TCPClose
	TCPSynSent2
)

// Pseudo states of the transition table and timeout indexes.
const (
	tcpMax        = 10 // sIV: invalid
	tcpIgnore     = 11 // sIG: ignore
	tcpRetrans    = 12 // timeout index for max_retrans
	tcpUnack      = 13 // timeout index for unacknowledged data
	tcpTimeoutMax = 14
)

var tcpStateNames = [...]string{"NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT", "CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE", "SYN_SENT2"}

// String returns the state's name as conntrack -L prints it.
func (s TCPState) String() string {
	if int(s) < len(tcpStateNames) {
		return tcpStateNames[s]
	}
	return "?"
}

// Which flags a segment carries, for the transition table (enum
// tcp_bit_set).
const (
	tcpSynSet = iota
	tcpSynAckSet
	tcpFinSet
	tcpAckSet
	tcpRstSet
	tcpNoneSet
)

// Per-direction flags (IP_CT_TCP_FLAG_*) and the last_flags extras.
const (
	tcpFlagWindowScale  = 0x01
	tcpFlagSackPerm     = 0x02
	tcpFlagCloseInit    = 0x04
	tcpFlagBeLiberal    = 0x08
	tcpFlagDataUnack    = 0x10
	tcpFlagMaxAckSet    = 0x20
	tcpExpChallengeAck  = 0x40
	tcpSimultaneousOpen = 0x80
)

const (
	sNO = uint8(TCPNone)
	sSS = uint8(TCPSynSent)
	sSR = uint8(TCPSynRecv)
	sES = uint8(TCPEstablished)
	sFW = uint8(TCPFinWait)
	sCW = uint8(TCPCloseWait)
	sLA = uint8(TCPLastAck)
	sTW = uint8(TCPTimeWait)
	sCL = uint8(TCPClose)
	sS2 = uint8(TCPSynSent2)
	sIV = uint8(tcpMax)
	sIG = uint8(tcpIgnore)
)

// tcpConntracks is the kernel's tcp_conntracks[dir][flags][old state]
// table of this kernel (6.18), original direction first.
var tcpConntracks = [2][6][10]uint8{
	{
		/*	       sNO, sSS, sSR, sES, sFW, sCW, sLA, sTW, sCL, sS2 */
		/* syn */ {sSS, sSS, sIG, sIG, sIG, sIG, sIG, sSS, sSS, sS2},
		/* synack */ {sIV, sIV, sSR, sIV, sIV, sIV, sIV, sIV, sIV, sSR},
		/* fin */ {sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL, sIV},
		/* ack */ {sES, sIV, sES, sES, sCW, sCW, sTW, sTW, sCL, sIV},
		/* rst */ {sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL},
		/* none */ {sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV},
	},
	{
		/* syn */ {sIV, sS2, sIV, sIV, sIV, sIV, sIV, sSS, sIV, sS2},
		/* synack */ {sIV, sSR, sIG, sIG, sIG, sIG, sIG, sIG, sIG, sSR},
		/* fin */ {sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL, sIV},
		/* ack */ {sIV, sIG, sSR, sES, sCW, sCW, sTW, sTW, sCL, sIG},
		/* rst */ {sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL},
		/* none */ {sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV},
	},
}

// tcpValidFlags is the kernel's tcp_valid_flags: the combinations of
// FIN, SYN, RST, ACK and URG a segment may carry (PSH, ECE and CWR do
// not matter); conntrack calls any other combination INVALID.
var tcpValidFlags = func() (v [0x40]bool) {
	const fin, syn, rst, ack, urg = 0x01, 0x02, 0x04, 0x10, 0x20
	for _, f := range []int{syn, syn | urg, syn | ack, rst, rst | ack, fin | ack, fin | ack | urg, ack, ack | urg} {
		v[f] = true
	}
	return v
}()

// tcpSide is one direction's window data (struct ip_ct_tcp_state).
type tcpSide struct {
	end, maxend, maxwin, maxack uint32
	scale, flags                uint8
}

// tcpConn is a connection's TCP state (struct ip_ct_tcp).
type tcpConn struct {
	seen       [2]tcpSide
	state      uint8
	lastDir    uint8
	retrans    uint8
	lastIndex  uint8
	lastSeq    uint32
	lastAck    uint32
	lastEnd    uint32
	lastWin    uint16
	lastWscale uint8
	lastFlags  uint8
}

// tcpSeg is what the tracker reads from a segment.
type tcpSeg struct {
	seq, ack uint32
	win      uint16
	flags    uint8
	end      uint32 // seq + payload + SYN + FIN
	opts     []byte // options (between byte 20 and the data offset)
	index    uint8  // tcp_bit_set
}

func before(a, b uint32) bool { return int32(a-b) < 0 }
func after(a, b uint32) bool  { return int32(b-a) < 0 }

func tcpIndex(flags uint8) uint8 {
	switch {
	case flags&packet.TCPRst != 0:
		return tcpRstSet
	case flags&packet.TCPSyn != 0:
		if flags&packet.TCPAck != 0 {
			return tcpSynAckSet
		}
		return tcpSynSet
	case flags&packet.TCPFin != 0:
		return tcpFinSet
	case flags&packet.TCPAck != 0:
		return tcpAckSet
	}
	return tcpNoneSet
}

func readSeg(p *packet.Packet) tcpSeg {
	s := tcpSeg{seq: p.Seq, ack: p.Ack, win: p.Window, flags: p.TCPFlags, opts: p.TCPOptions()}
	s.end = p.Seq + uint32(len(p.L4)-p.TCPDoff)
	if p.TCPFlags&packet.TCPSyn != 0 {
		s.end++
	}
	if p.TCPFlags&packet.TCPFin != 0 {
		s.end++
	}
	s.index = tcpIndex(p.TCPFlags)
	return s
}

func (s *tcpSeg) has(f uint8) bool { return s.flags&f != 0 }

// tcpOptions reads the window scale and SACK-permitted options into st,
// as the kernel's tcp_options (which only starts over when there are
// options at all).
func tcpOptions(opts []byte, st *tcpSide) {
	if len(opts) == 0 {
		return
	}
	st.scale = 0
	st.flags &= tcpFlagBeLiberal
	for len(opts) > 0 {
		op := opts[0]
		switch op {
		case 0: // EOL
			return
		case 1: // NOP
			opts = opts[1:]
			continue
		}
		if len(opts) < 2 {
			return
		}
		size := int(opts[1])
		if size < 2 || size > len(opts) {
			return
		}
		if op == 4 && size == 2 {
			st.flags |= tcpFlagSackPerm
		} else if op == 3 && size == 3 {
			st.scale = opts[2]
			if st.scale > 14 {
				st.scale = 14
			}
			st.flags |= tcpFlagWindowScale
		}
		opts = opts[size:]
	}
}

// tcpSack raises *sack to the highest right edge of the first SACK
// option's blocks, as the kernel's tcp_sack.
func tcpSack(opts []byte, sack *uint32) {
	if len(opts) == 0 {
		return
	}
	if len(opts) == 12 && binary.BigEndian.Uint32(opts) == 0x0101080a {
		return // timestamp only
	}
	for len(opts) > 0 {
		op := opts[0]
		switch op {
		case 0:
			return
		case 1:
			opts = opts[1:]
			continue
		}
		if len(opts) < 2 {
			return
		}
		size := int(opts[1])
		if size < 2 || size > len(opts) {
			return
		}
		if op == 5 && size >= 2+8 && (size-2)%8 == 0 {
			for i := 2; i < size; i += 8 {
				if v := binary.BigEndian.Uint32(opts[i+4:]); after(v, *sack) {
					*sack = v
				}
			}
			return
		}
		opts = opts[size:]
	}
}

func maxAckWindow(s *tcpSide) uint32 {
	if s.maxwin > 66000 {
		return s.maxwin
	}
	return 66000
}

// Outcomes of tcp_in_window (enum nf_ct_tcp_action).
const (
	tcpActIgnore = iota
	tcpActInvalid
	tcpActAccept
)

func (t *Table) tcpInitSender(sender, receiver *tcpSide, s *tcpSeg, dir int) {
	sender.end = s.end
	sender.maxend = s.end
	sender.maxwin = uint32(s.win)
	if sender.maxwin == 0 {
		sender.maxwin = 1
	}
	tcpOptions(s.opts, sender)
	// RFC 1323: window scaling only when both sides offered it.
	if dir == 1 && !(sender.flags&tcpFlagWindowScale != 0 && receiver.flags&tcpFlagWindowScale != 0) {
		sender.scale = 0
		receiver.scale = 0
	}
}

// logInvalid is nf_tcp_log_invalid without the log: a liberal sender
// (or nf_conntrack_tcp_be_liberal) makes any window problem acceptable.
func (t *Table) logInvalid(sender *tcpSide, ret int) int {
	if sender.flags&tcpFlagBeLiberal != 0 || t.cfg.Liberal {
		return tcpActAccept
	}
	return ret
}

// tcpInWindow is the kernel's tcp_in_window. Caller holds c.mu.
func (t *Table) tcpInWindow(c *conn, dir int, s *tcpSeg) int {
	st := &c.tcp
	sender := &st.seen[dir]
	receiver := &st.seen[1-dir]
	seq, ack := s.seq, s.ack
	sack := ack
	win := uint32(s.win)
	end := s.end
	if receiver.flags&tcpFlagSackPerm != 0 {
		tcpSack(s.opts, &sack)
	}
	if sender.maxwin == 0 {
		// First packet in this direction.
		if s.has(packet.TCPSyn) {
			t.tcpInitSender(sender, receiver, s, dir)
			if !s.has(packet.TCPAck) {
				return tcpActAccept // simultaneous open
			}
		} else {
			// Mid-connection: use what the packet says.
			sender.end = end
			swin := win << sender.scale
			if swin == 0 {
				swin = 1
			}
			sender.maxwin = swin
			sender.maxend = end + sender.maxwin
			if receiver.maxwin == 0 {
				receiver.end = sack
				receiver.maxend = sack
			} else if sack == receiver.end+1 {
				receiver.end++ // reply to a keepalive
			}
		}
	} else if s.has(packet.TCPSyn) && after(end, sender.end) &&
		(st.state == sSS || st.state == sSR) {
		// A reinitialised connection (RFC 793).
		t.tcpInitSender(sender, receiver, s, dir)
		if dir == 1 && !s.has(packet.TCPAck) {
			return tcpActAccept
		}
	}

	if !s.has(packet.TCPAck) {
		ack = receiver.end
		sack = ack
	} else if s.flags&(packet.TCPAck|packet.TCPRst) == packet.TCPAck|packet.TCPRst && ack == 0 {
		ack = receiver.end // broken stacks: RST+ACK with ack 0
		sack = ack
	}

	if s.has(packet.TCPRst) && seq == 0 && st.state == sSS {
		// RST answering a SYN.
		seq = sender.end
		end = sender.end
	}

	if !before(seq, sender.maxend+1) {
		overshot := end - sender.maxend + 1
		ackOK := after(sack, receiver.end-maxAckWindow(sender)-1)
		inRecvWin := receiver.maxwin != 0 && after(end, sender.end-receiver.maxwin-1)
		if inRecvWin && ackOK && overshot <= receiver.maxwin && before(sack, receiver.end+1) {
			// Some stacks send more than the window allows: note the
			// data, so that its ACK does not look bogus later.
			sender.end = end
			sender.flags |= tcpFlagDataUnack
			return t.logInvalid(sender, tcpActIgnore) // "bytes more than expected"
		}
		return t.logInvalid(sender, tcpActInvalid) // "SEQ is over upper bound"
	}
	if !before(sack, receiver.end+1) {
		return t.logInvalid(sender, tcpActInvalid) // "ACK is over upper bound"
	}
	if receiver.maxwin != 0 && !after(end, sender.end-receiver.maxwin-1) {
		return t.logInvalid(sender, tcpActIgnore) // "SEQ is under lower bound"
	}
	if !after(sack, receiver.end-maxAckWindow(sender)-1) {
		return t.logInvalid(sender, tcpActIgnore) // "ignored ACK under lower bound"
	}

	if !s.has(packet.TCPSyn) {
		win <<= sender.scale
	}
	// Update the sender.
	swin := win + (sack - ack)
	if sender.maxwin < swin {
		sender.maxwin = swin
	}
	if after(end, sender.end) {
		sender.end = end
		sender.flags |= tcpFlagDataUnack
	}
	if s.has(packet.TCPAck) {
		if sender.flags&tcpFlagMaxAckSet == 0 {
			sender.maxack = ack
			sender.flags |= tcpFlagMaxAckSet
		} else if after(ack, sender.maxack) {
			sender.maxack = ack
		}
	}
	// Update the receiver.
	if receiver.maxwin != 0 && after(end, sender.maxend) {
		receiver.maxwin += end - sender.maxend
	}
	if after(sack+win, receiver.maxend-1) {
		receiver.maxend = sack + win
		if win == 0 {
			receiver.maxend++
		}
	}
	if ack == receiver.end {
		receiver.flags &^= tcpFlagDataUnack
	}
	// Retransmissions.
	if s.index == tcpAckSet {
		if st.lastDir == uint8(dir) && st.lastSeq == seq && st.lastAck == ack &&
			st.lastEnd == end && st.lastWin == s.win {
			st.retrans++
		} else {
			st.lastDir = uint8(dir)
			st.lastSeq = seq
			st.lastAck = ack
			st.lastEnd = end
			st.lastWin = s.win
			st.retrans = 0
		}
	}
	return tcpActAccept
}

// tcpHandleInvalid is nf_tcp_handle_invalid: an ASSURED connection that
// sees FIN or RST from both sides judged out of window gets the shorter
// "unacknowledged" timeout, so a dead connection goes away sooner.
func (t *Table) tcpHandleInvalid(c *conn, dir int, index uint8, nowJ int64) {
	st := c.status.Load()
	if st&IPSAssured == 0 || st&IPSFixedTimeout != 0 {
		return
	}
	if index != tcpRstSet && index != tcpFinSet {
		return
	}
	tc := &c.tcp
	if tc.lastDir != uint8(dir) && (tc.lastIndex == tcpFinSet || tc.lastIndex == tcpRstSet) {
		expires := c.timeout.Load() - nowJ
		if expires < 120*int64(t.hz) {
			return
		}
		timeout := t.tcpTimeouts[tcpUnack]
		if expires > timeout {
			c.timeout.Store(timeout + nowJ)
		}
	} else {
		tc.lastIndex = index
		tc.lastDir = uint8(dir)
	}
}

// tcpError is the kernel's tcp_error: truncated headers, bad checksums
// (on packets that come in) and impossible flag combinations make a
// segment INVALID before any lookup result is used.
func (t *Table) tcpError(p *packet.Packet, pre bool) bool {
	if !p.L4OK {
		return true // truncated packet
	}
	if t.checksums(p, pre) && !l4ChecksumOK(p) {
		return true
	}
	return !tcpValidFlags[p.TCPFlags&^(packet.TCPEce|packet.TCPCwr|packet.TCPPsh)]
}

// tcpNew is the kernel's tcp_new for the first packet of a connection:
// a SYN starts SYN_SENT; with loose pickup, an ACK (or FIN+ACK, RST...)
// in the middle of a stream starts a liberal connection; the rest makes
// no connection.
func (t *Table) tcpNew(c *conn, s *tcpSeg) bool {
	ns := tcpConntracks[0][s.index][sNO]
	if ns >= sIV {
		return false // invalid new
	}
	if ns == sSS {
		c.tcp = tcpConn{}
		c.tcp.seen[0].end = s.end
		c.tcp.seen[0].maxwin = uint32(s.win)
		if s.win == 0 {
			c.tcp.seen[0].maxwin = 1
		}
		c.tcp.seen[0].maxend = s.end
		tcpOptions(s.opts, &c.tcp.seen[0])
	} else if !t.cfg.Loose {
		return false
	} else {
		c.tcp = tcpConn{}
		c.tcp.seen[0].end = s.end
		c.tcp.seen[0].maxwin = uint32(s.win)
		if s.win == 0 {
			c.tcp.seen[0].maxwin = 1
		}
		c.tcp.seen[0].maxend = s.end + c.tcp.seen[0].maxwin
		// SACK and liberal window checks, since the window scale
		// is unknown.
		c.tcp.seen[0].flags = tcpFlagSackPerm | tcpFlagBeLiberal
		c.tcp.seen[1].flags = tcpFlagSackPerm | tcpFlagBeLiberal
	}
	c.tcp.lastIndex = tcpNoneSet
	return true
}

func tcpCanEarlyDrop(state uint8) bool {
	switch state {
	case sFW, sLA, sTW, sCL, sCW:
		return true
	}
	return false
}

func tcpStateReset(s *tcpSide) {
	s.end, s.maxend, s.maxwin, s.maxack, s.scale = 0, 0, 0, 0, 0
	s.flags &= tcpFlagBeLiberal
}

// Results of a protocol tracker, as the kernel's verdicts.
const (
	vAccept  = iota // NF_ACCEPT: the packet belongs to the connection
	vInvalid        // -NF_ACCEPT: INVALID, no connection
	vRepeat         // -NF_REPEAT: the old connection was killed, look up again
	vDrop           // NF_DROP
)

// tcpPacket is the kernel's nf_conntrack_tcp_packet.
func (t *Table) tcpPacket(e *Entry, p *packet.Packet, dir int, pre bool, nowJ int64) int {
	if !p.L4Fixed {
		return vInvalid
	}
	if t.tcpError(p, pre) {
		return vInvalid
	}
	c := &e.conn
	s := readSeg(p)
	if c.status.Load()&IPSConfirmed == 0 && !t.tcpNew(c, &s) {
		return vInvalid
	}

	c.mu.Lock()
	tc := &c.tcp
	oldState := tc.state
	index := s.index
	newState := tcpConntracks[dir][index][oldState]
	udir := uint8(dir)
	skipWindow := false

	switch newState {
	case sSS, sIG:
		if newState == sSS {
			if oldState < sTW {
				break
			}
			if (tc.seen[dir].flags|tc.seen[1-dir].flags)&tcpFlagCloseInit != 0 ||
				(tc.lastDir == udir && tc.lastIndex == tcpRstSet) {
				// Reopening a closed or aborted connection: delete it
				// and look up again.
				c.mu.Unlock()
				if t.kill(e) {
					return vRepeat
				}
				return vDrop
			}
		}
		// Ignored packets: our state may be out of sync with the real
		// connection; let them through and watch for the answer.
		if index == tcpSynAckSet && tc.lastIndex == tcpSynSet && tc.lastDir != udir && s.ack == tc.lastEnd {
			// This SYN/ACK answers a SYN we ignored: client and server
			// are in sync, we are not. Resynchronise from the SYN.
			oldState = sSS
			newState = sSR
			ld := tc.lastDir
			tc.seen[ld].end = tc.lastEnd
			tc.seen[ld].maxend = tc.lastEnd
			tc.seen[ld].maxwin = uint32(tc.lastWin)
			if tc.lastWin == 0 {
				tc.seen[ld].maxwin = 1
			}
			tc.seen[ld].scale = tc.lastWscale
			tc.lastFlags &^= tcpExpChallengeAck
			tc.seen[ld].flags = tc.lastFlags
			tcpStateReset(&tc.seen[dir])
			break
		}
		tc.lastIndex = index
		tc.lastDir = udir
		tc.lastSeq = s.seq
		tc.lastEnd = s.end
		tc.lastWin = s.win
		if index == tcpSynSet && dir == 0 {
			// A SYN in the original direction: remember its options
			// for the SYN/ACK that may answer it.
			var seen tcpSide
			tc.lastFlags = 0
			tc.lastWscale = 0
			tcpOptions(s.opts, &seen)
			if seen.flags&tcpFlagWindowScale != 0 {
				tc.lastFlags |= tcpFlagWindowScale
				tc.lastWscale = seen.scale
			}
			if seen.flags&tcpFlagSackPerm != 0 {
				tc.lastFlags |= tcpFlagSackPerm
			}
			if oldState == sLA {
				tc.lastFlags |= tcpExpChallengeAck
			}
		}
		if oldState == sSS && index == tcpAckSet && dir == 1 {
			tc.lastAck = s.ack // possible challenge ACK
		}
		c.mu.Unlock()
		return vAccept
	case sIV:
		c.mu.Unlock()
		return vInvalid
	case sTW:
		// An RFC 5961 challenge ACK must not be taken for the ACK of
		// the last FIN.
		if oldState == sLA && index == tcpAckSet && tc.lastDir != udir &&
			tc.lastIndex == tcpSynSet && tc.lastFlags&tcpExpChallengeAck != 0 {
			tc.lastFlags &^= tcpExpChallengeAck
			c.mu.Unlock()
			return vAccept
		}
	case sS2:
		tc.lastFlags |= tcpSimultaneousOpen
	case sSR:
		if dir == 1 && index == tcpAckSet && tc.lastFlags&tcpSimultaneousOpen != 0 {
			newState = sES
		}
	case sCL:
		if index != tcpRstSet {
			break
		}
		if tcpCanEarlyDrop(tc.state) {
			skipWindow = true
			break
		}
		if tc.seen[1-dir].flags&tcpFlagMaxAckSet != 0 && tc.lastIndex != tcpSynSet {
			seq := s.seq
			established := tc.state == sES && c.status.Load()&IPSAssured != 0
			if seq == 0 && !established {
				break
			}
			if before(seq, tc.seen[1-dir].maxack) {
				c.mu.Unlock()
				return vInvalid // invalid RST
			}
			if !established || seq == tc.seen[1-dir].maxack {
				break
			}
			if tc.lastIndex == tcpAckSet && tc.lastDir == udir && seq == tc.lastEnd {
				break // the RST ends a train of data
			}
			// Not exactly in sequence: keep the state, so a challenge
			// ACK can follow.
			newState = oldState
		}
		st := c.status.Load()
		if ((st&IPSSeenReply != 0 && tc.lastIndex == tcpSynSet) ||
			(st&IPSAssured == 0 && tc.lastIndex == tcpAckSet)) && s.ack == tc.lastEnd {
			// RST to a SYN or ACK we let through above: skip the
			// window check, the RST may ACK what we ignored.
			skipWindow = true
			break
		}
		if oldState == sSS && tc.lastIndex == tcpAckSet && tc.lastDir == 1 && s.seq == tc.lastAck {
			skipWindow = true // reset after a challenge ACK
		}
	}

	if !skipWindow {
		switch t.tcpInWindow(c, dir, &s) {
		case tcpActIgnore:
			c.mu.Unlock()
			return vAccept
		case tcpActInvalid:
			t.tcpHandleInvalid(c, dir, index, nowJ)
			c.mu.Unlock()
			return vInvalid
		}
	}

	// In window.
	tc.lastIndex = index
	tc.lastDir = udir
	tc.state = newState
	if oldState != newState && newState == sFW {
		tc.seen[dir].flags |= tcpFlagCloseInit
	}
	to := &t.tcpTimeouts
	var timeout int64
	switch {
	case int(tc.retrans) >= t.cfg.MaxRetrans && to[newState] > to[tcpRetrans]:
		timeout = to[tcpRetrans]
	case index == tcpRstSet:
		timeout = to[sCL]
	case (tc.seen[0].flags|tc.seen[1].flags)&tcpFlagDataUnack != 0 && to[newState] > to[tcpUnack]:
		timeout = to[tcpUnack]
	case tc.lastWin == 0 && to[newState] > to[tcpRetrans]:
		timeout = to[tcpRetrans]
	default:
		timeout = to[newState]
	}
	c.mu.Unlock()

	st := c.status.Load()
	if st&IPSSeenReply == 0 {
		if s.has(packet.TCPRst) {
			// The only answer is a RST: no connection, delete it now.
			c.count(dir, p.TotalLen)
			t.kill(e)
			return vAccept
		}
		if index == tcpSynSet && oldState == sSS {
			return vAccept // a retransmitted SYN does not renew the timeout
		}
		if newState == sES && timeout > to[tcpUnack] {
			timeout = to[tcpUnack] // picked up mid-stream, not replied
		}
	} else if st&IPSAssured == 0 && (oldState == sSR || oldState == sES) && newState == sES {
		t.setAssured(e)
	}
	c.refresh(dir, p.TotalLen, nowJ, timeout)
	return vAccept
}
