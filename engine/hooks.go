package engine

// Entry points for live datapaths (datapath/), where a real kernel stack
// sits behind the firewall.

// ProcessLive is Process for a live datapath: the same hooks, conntrack
// and NAT, but the host's own stack is not simulated for packets
// delivered locally. On a live host the real stack answers them, and its
// answers come back through OUTPUT as packets of their own; simulating
// them too would feed conntrack invented answers (a SYN-ACK with a made-up
// sequence number, a RST that closes the connection) before the real one.
//
// REJECT answers are still built and left in s.Result.Out (HostReply
// false) for the datapath to send.
func (e *Engine) ProcessLive(s *State, in *Input) {
	p := e.prog.Load()
	s.legacy = p.legacy
	res := &s.Result
	res.Hits, res.ReplyHits, res.Out = res.Hits[:0], res.ReplyHits[:0], res.Out[:0]
	res.OutIface, res.QueueNum = "", 0
	s.nreply = 0
	if err := s.pkt.Decode(in.Data); err != nil {
		res.Verdict = Drop
		return
	}
	if p.conntrack && s.pkt.IsFragment() {
		whole := e.defrag.add(&s.pkt, in.Now)
		if whole == nil {
			res.Verdict = Drop
			return
		}
		if err := s.pkt.Decode(whole); err != nil {
			res.Verdict = Drop
			return
		}
	}
	e.resetCtx(s, in.Now, in.Mark)
	if in.Local {
		res.Verdict = e.output(p, s, &res.Hits)
	} else {
		res.Verdict = e.input(p, s, in)
	}
	if res.Verdict == Drop && s.nreply > 0 {
		res.Verdict = Reject
	}
	for i := 0; i < s.nreply; i++ {
		e.sendReply(p, s, s.replies[i], true)
	}
}

// PacketData returns the packet as the last Process or ProcessLive call
// left it: rewritten by NAT and TTL, and for the last fragment of a
// datagram the whole reassembled datagram. It is valid until the next
// call.
func (s *State) PacketData() []byte { return s.pkt.Data }

// Mark returns the packet mark as the rules left it (MARK).
func (s *State) Mark() uint32 { return s.ctx.Mark }
