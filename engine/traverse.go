package engine

import (
	"unsafe"

	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/packet"
)

// hotdropper is implemented by matches (tcp, udp ...) that tell the
// engine to drop a packet at once when they could not read it, as the
// kernel's matches do by setting par->hotdrop.
type hotdropper interface {
	Hotdrop(c *ext.Ctx) bool
}

// matchCore is ip_packet_match: addresses, interfaces, protocol and the
// fragment flag.
func (r *rule) matchCore(c *ext.Ctx, src, dst uint32) bool {
	p := c.Pkt
	if (src&r.srcMask != r.src) != r.invSrc {
		return false
	}
	if (dst&r.dstMask != r.dst) != r.invDst {
		return false
	}
	if !r.in.match(c.In) || !r.out.match(c.Out) {
		return false
	}
	if r.proto != 0 && (p.Proto == r.proto) == r.invProto {
		return false
	}
	if r.frag && p.IsLaterFragment() == r.invFrag {
		return false
	}
	return true
}

// matchCore6 is ip6_packet_match: addresses, interfaces and, when the
// rule has -p, the upper-layer protocol. ip6tables-legacy finds it with
// ipv6_find_hdr, which walks through AH, and hotdrops the packet when
// the walk fails (its fragment offset is then 0); iptables-nft's meta
// l4proto stops at AH and, when the walk fails, just does not match.
func (r *rule) matchCore6(c *ext.Ctx, src, dst *addr128, legacy bool) (ok, hotdrop bool) {
	if !src.masked(r.srcMask6, r.src6) != r.invSrc {
		return false, false
	}
	if !dst.masked(r.dstMask6, r.dst6) != r.invDst {
		return false, false
	}
	if !r.in.match(c.In) || !r.out.match(c.Out) {
		return false, false
	}
	if !r.protoGiven {
		return true, false
	}
	proto, found := upperProto6(c.Pkt, legacy)
	if !found {
		return false, legacy
	}
	if proto == r.proto {
		return !r.invProto, false
	}
	return r.proto == 0 || r.invProto, false
}

// upperProto6 is the upper-layer protocol -p compares for an IPv6
// packet: ip6_tables' (Decode's walk) on legacy, nftables' otherwise.
// found is false when the walk failed.
func upperProto6(p *packet.Packet, legacy bool) (proto uint8, found bool) {
	if legacy || !packet.IsExtHdr(p.NextHdr) {
		return p.Proto, p.ExtErr == packet.ExtOK
	}
	w := p.NftProto()
	return w.Proto, w.Err == packet.ExtOK
}

// runTable is ipt_do_table: it walks chains from a hook's built-in
// chain, following jumps and gotos with a return stack, and returns the
// verdict. Counters rise when all of a rule's matches match, whatever
// its target, and a policy's when the policy decides.
// addHit appends a hit. Within capacity (the Result's slice is reused
// from packet to packet) it lengthens the slice in place, which stores
// the length only, and writes the fields one by one: append would store
// the whole slice header and build the Hit first.
func addHit(hits *[]Hit, table, chain string, rule int) {
	h := *hits
	n := len(h)
	if n < cap(h) {
		*hits = h[:n+1]
		x := &h[:n+1][n]
		x.Table, x.Chain, x.Rule = table, chain, rule
		return
	}
	*hits = append(h, Hit{Table: table, Chain: chain, Rule: rule})
}

func (e *Engine) runTable(s *State, t *table, start *chain, hits *[]Hit) ext.Verdict {
	c := &s.ctx
	length := uint64(s.pkt.TotalLen)
	// The addresses as numbers, once per table (a NAT target can change
	// them, but only as the verdict of its table; IPv6's SNPT and DNPT
	// go on, and the IPv6 ones are read again after them).
	var src, dst uint32
	v6 := s.pkt.Version == 6
	var src6, dst6 addr128
	if v6 {
		src6, dst6 = to128(s.pkt.Src), to128(s.pkt.Dst)
	} else {
		src, dst = s.pkt.Addrs4()
	}
	tr := s.tracer
	if tr != nil {
		tr.Event(Event{Kind: EvTable, Table: t.name, Chain: start.name, Hook: c.Hook})
	}
	if s.entered != nil {
		s.entered(v6, t.name, start.name)
	}
	if s.fcRec {
		s.flowNote(flowOp{kind: opEnter, hook: c.Hook, table: t.name, chain: start.name, id: uintptr(unsafe.Pointer(start))})
	}
	// Chains with a classifier jump from rule to rule the packet may
	// match; the key is read when first needed and again after a target
	// that lets the walk go on (MARK may have changed what it holds).
	rec := s.path
	probing := s.probe != nil // Probe: no counter, no refused match or target
	// fast: the classifier may be used; whether it can answer for this
	// packet (classifiable) is tested when a chain first has one.
	fast := tr == nil && rec == nil
	// The key lives in the State: a local one, its address taken, would
	// be cleared at every call whether a classifier reads it or not.
	key := &s.key
	keyed := false
	sp := 0
	cur, i := start, 0
	for {
		// found: the classifier found the rule at i, with a key read
		// since the last target that went on.
		found := false
		if cur.cls != nil && fast && i < len(cur.rules) {
			if !keyed {
				if fast = classifiable(&s.pkt); fast {
					fillKey(key, c, src, dst, &src6, &dst6)
					keyed = true
				}
			}
			if fast {
				i, found = cur.cls.Next(key, i), true
			}
		}
		if i >= len(cur.rules) {
			// End of chain: a user chain returns to its caller, a
			// built-in chain applies its policy.
			if cur.builtin {
				if !probing {
					cur.packets.Add(1)
					cur.bytes.Add(length)
				}
				addHit(hits, t.name, cur.name, 0)
				if rec != nil {
					rec.add(t, cur, nil, false, 0, true)
				}
				if tr != nil {
					tr.Event(Event{Kind: EvPolicy, Table: t.name, Chain: cur.name, Target: cur.policy})
				}
				return cur.policy
			}
			if sp == 0 {
				// A chain entered by -g from the built-in chain: its end
				// returns to the built-in chain's policy.
				cur, i = start, len(start.rules)
				continue
			}
			sp--
			cur, i = s.stack[sp].c, s.stack[sp].i
			if tr != nil {
				tr.Event(Event{Kind: EvReturn, Table: t.name, Chain: cur.name})
			}
			continue
		}
		r := &cur.rules[i]
		i++
		var ok bool
		if v6 {
			var hd bool
			if ok, hd = r.matchCore6(c, &src6, &dst6, s.legacy); hd {
				if tr != nil {
					tr.Event(Event{Kind: EvRule, Table: t.name, Chain: cur.name, Rule: r.number, Spec: r.src0, Why: r.whyCore(c) + " (ip6tables-legacy drops the packet at once: its -p cannot walk the extension headers)"})
				}
				return ext.Drop
			}
		} else {
			ok = r.matchCore(c, src, dst)
		}
		if !ok {
			if rec != nil {
				rec.add(t, cur, r, true, 0, false)
			}
			if tr != nil {
				tr.Event(Event{Kind: EvRule, Table: t.name, Chain: cur.name, Rule: r.number, Spec: r.src0, Why: r.whyCore(c)})
			}
			continue
		}
		matched, dropAfter := true, false
		skip := 0
		if found {
			// The classifier tested these: they hold.
			skip = int(r.exact)
		}
		for mi := skip; mi < len(r.matches); mi++ {
			m := r.matches[mi]
			if probing && s.probeRefuses(r, mi) {
				return ext.Drop
			}
			if s.legacy {
				// ipt_do_table: a match can match and ask for the drop;
				// the rule then counts and its target runs first.
				if mh, ok := m.(ext.MatchHotdropper); ok {
					ok2, hd := mh.MatchHotdrop(c)
					dropAfter = dropAfter || hd && ok2
					if ok2 {
						continue
					}
				}
			}
			if !m.Match(c) {
				if rec != nil {
					rec.add(t, cur, r, false, mi+1, false)
				}
				if hd, ok := m.(hotdropper); ok && hd.Hotdrop(c) {
					if tr != nil {
						tr.Event(Event{Kind: EvRule, Table: t.name, Chain: cur.name, Rule: r.number, Spec: r.src0, Hotdrop: true, Why: explain(m, c, false) + " (the packet is too short to read: dropped at once)"})
					}
					return ext.Drop
				}
				if tr != nil {
					tr.Event(Event{Kind: EvRule, Table: t.name, Chain: cur.name, Rule: r.number, Spec: r.src0, Why: explainAt(r, mi, m, c)})
				}
				matched = false
				break
			}
		}
		if !matched {
			continue
		}
		if probing {
			if r.action != nil && s.probeRefuses(r, -1) {
				return ext.Drop
			}
		} else {
			r.packets.Add(1)
			r.bytes.Add(length)
		}
		addHit(hits, t.name, cur.name, r.number)
		if rec != nil {
			rec.add(t, cur, r, false, len(r.matches), true)
		}
		if tr != nil {
			tr.Event(Event{Kind: EvRule, Table: t.name, Chain: cur.name, Rule: r.number, Spec: r.src0, Matched: true, Hotdrop: dropAfter, Why: r.whyMatched(c)})
		}
		if dropAfter {
			if r.action != nil {
				r.action.Do(c)
			}
			return ext.Drop
		}
		switch {
		case r.action != nil:
			v := r.action.Do(c)
			if tr != nil {
				why := ""
				if x, ok := r.action.(ext.Explainer); ok {
					why = x.Explain(c, true)
				}
				tr.Event(Event{Kind: EvTarget, Table: t.name, Chain: cur.name, Rule: r.number, Target: v, Why: why})
			}
			if v.Kind() == ext.Continue {
				keyed = false
				// The kernel counts skb->len as it is at each counter:
				// a target that goes on may have grown the packet
				// (TCPMSS adding its option).
				length = uint64(s.pkt.TotalLen)
				if v6 {
					// SNPT and DNPT rewrite an address and go on:
					// the rules after them see the new one.
					src6, dst6 = to128(s.pkt.Src), to128(s.pkt.Dst)
				}
				continue
			}
			return v
		case r.noTarget:
			continue
		case r.jump != nil:
			if !r.isGoto {
				if sp == len(s.stack) {
					// The kernel refuses tables deeper than this at load.
					return ext.Drop
				}
				s.stack[sp] = frame{c: cur, i: i}
				sp++
			}
			cur, i = r.jump, 0
			if tr != nil {
				tr.Event(Event{Kind: EvJump, Table: t.name, Chain: cur.name, Goto: r.isGoto})
			}
		case r.verdict == ext.Return:
			if sp == 0 {
				// RETURN in the built-in chain, or in a chain it went to
				// with -g: the policy decides.
				cur, i = start, len(start.rules)
				continue
			}
			sp--
			cur, i = s.stack[sp].c, s.stack[sp].i
			if tr != nil {
				tr.Event(Event{Kind: EvReturn, Table: t.name, Chain: cur.name})
			}
		default:
			return r.verdict
		}
	}
}
