package engine

// What live datapaths (datapath/) read back after Process: a real kernel
// stack sits behind the firewall there, so they also set
// Config.NoHostStack.

// PacketData returns the packet as the last Process call
// left it: rewritten by NAT and TTL, and for the last fragment of a
// datagram the whole reassembled datagram. It is valid until the next
// call.
func (s *State) PacketData() []byte { return s.pkt.Data }

// Mark returns the packet mark as the rules left it (MARK).
func (s *State) Mark() uint32 { return s.ctx.Mark }
